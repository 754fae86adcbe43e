//! Official documents (公文) as cities publish them — web pages, Word files, PDFs — read into
//! knowledge-base documents. Each format's reader (`html`, `docx`, `pdf`) turns a file into
//! [`Extracted`]: paragraphs and tables in reading order plus what the file's own metadata
//! says. [`recognise`] then finds what the text prints: the title, 文号, 发文机关, 成文日期,
//! 施行日期, 有效期至/废止, the documents it repeals, and the body split at its own headings
//! (第X章, 第X条, 一、, （一）, 1.). `batch` writes the results as ordinary document files.

pub mod batch;
pub mod docx;
pub mod html;
pub mod pdf;
mod pdf_page;

use chrono::{Datelike, NaiveDate};
use regex::Regex;
use std::fmt;
use std::sync::LazyLock;

/// A piece of a document's body in reading order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Paragraph(String),
    /// Rows of cells, as printed (the first row usually the header).
    Table(Vec<Vec<String>>),
}

/// What a reader got out of a file before any recognition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// The title the file's metadata gives (HTML `<title>`, DOCX core title, PDF `/Title`).
    pub meta_title: Option<String>,
    /// Labelled metadata (HTML `<meta>` such as `ArticleTitle`, `PubDate`, `ContentSource`).
    pub meta: Vec<(String, String)>,
    pub blocks: Vec<Block>,
}

impl Extracted {
    /// Characters of text in the body (tables included).
    pub fn chars(&self) -> usize {
        self.blocks
            .iter()
            .map(|b| match b {
                Block::Paragraph(p) => p.chars().count(),
                Block::Table(rows) => rows.iter().flatten().map(|c| c.chars().count()).sum(),
            })
            .sum()
    }
}

/// Why a file could not be read as a document. Shown to the administrator as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    /// A PDF whose pages carry images but no text: a scan.
    Scanned {
        pages: usize,
    },
    Encrypted,
    Empty,
    Unsupported(String),
    Malformed(String),
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreadable::Scanned { pages } => write!(
                f,
                "扫描件：{pages} 页都只有图像，没有文字层。请先用 OCR 软件（如 PaddleOCR、ocrmypdf）生成带文字层的 PDF，或改用原始 Word/网页文件"
            ),
            Unreadable::Encrypted => {
                f.write_str("文件已加密（设有打开密码），无法读取：请导出未加密的副本")
            }
            Unreadable::Empty => f.write_str("文件没有正文文字"),
            Unreadable::Unsupported(why) => write!(f, "不支持：{why}"),
            Unreadable::Malformed(why) => write!(f, "文件已损坏或格式不对：{why}"),
        }
    }
}

impl std::error::Error for Unreadable {}

/// A body section: its heading as printed and its Markdown text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficialSection {
    pub heading: String,
    pub body: String,
}

/// Another document named by a repeal clause (“《…》（…〔…〕…号）同时废止”).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeal {
    pub title: Option<String>,
    pub doc_no: Option<String>,
}

/// A recognised official document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Official {
    pub title: String,
    pub doc_no: Option<String>,
    pub issuing_body: Option<String>,
    /// 成文日期.
    pub issued_on: Option<NaiveDate>,
    /// 施行日期 as printed (a date, or 自印发之日起 = the 成文日期).
    pub effective_from: Option<NaiveDate>,
    /// 有效期至, or the day before a printed 废止日期.
    pub effective_to: Option<NaiveDate>,
    pub repeals: Vec<Repeal>,
    /// Text before the first heading (addressee, purpose).
    pub preamble: String,
    pub sections: Vec<OfficialSection>,
}

impl Official {
    /// The recognised fields, for the import report.
    pub fn fields_found(&self) -> Vec<&'static str> {
        let mut f = vec!["标题"];
        for (present, name) in [
            (self.doc_no.is_some(), "文号"),
            (self.issuing_body.is_some(), "发文机关"),
            (self.issued_on.is_some(), "成文日期"),
            (self.effective_from.is_some(), "施行日期"),
            (self.effective_to.is_some(), "有效期至"),
            (!self.repeals.is_empty(), "废止条款"),
        ] {
            if present {
                f.push(name);
            }
        }
        f
    }
}

static DOC_NO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"([\p{Han}A-Za-z]{1,24}?)\s*[〔\[【［(（]\s*(\d{4})\s*[〕\]】］)）]\s*第?\s*(\d{1,5})\s*号",
    )
    .expect("doc no regex")
});
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日").expect("date regex")
});
static HAN_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([〇○零一二三四五六七八九]{4})年([一二三四五六七八九十]{1,3})月([一二三四五六七八九十]{1,3})日")
        .expect("han date regex")
});
static ISO_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\d{4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})").expect("iso date regex")
});
static IN_FORCE_FROM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"自\s*(\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|[〇○零一二三四五六七八九]{4}年[一二三四五六七八九十]{1,3}月[一二三四五六七八九十]{1,3}日|印发之日|发布之日|公布之日|下发之日|颁布之日)\s*起\s*(?:施行|实施|执行|生效|开始施行)")
        .expect("in force regex")
});
static VALID_UNTIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"有效期至\s*(\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日)").expect("valid until")
});
static VALID_YEARS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"有效期\s*(?:为)?\s*([1-9]|[一二三四五])\s*年").expect("valid years")
});
static HEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:(?P<chapter>第[一二三四五六七八九十百零〇]+章)",
        r"|(?P<article>第[一二三四五六七八九十百零〇]+条)",
        r"|(?P<cn>[一二三四五六七八九十]{1,3}、)",
        r"|(?P<paren>[（(][一二三四五六七八九十]{1,3}[）)])",
        r"|(?P<num>\d{1,2}[.．、])(?:[^\d]|$))"
    ))
    .expect("heading regex")
});
static BOOK_TITLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"《([^《》]{2,80})》").expect("book title"));
/// An issuing body printed alone, as a signature or red header.
static ORG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[\p{Han}（）()、\s]{2,40}(?:政府|办公室|办公厅|局|委员会|委|厅|部|院|署|中心|办|会|室|所|处|总署|银行|集团)$")
        .expect("org regex")
});

/// Full-width digits and letters as ASCII, for reading fields (never for the body text).
fn ascii_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '０'..='９' | 'Ａ'..='Ｚ' | 'ａ'..='ｚ' => {
                char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
            }
            '　' => ' ',
            _ => c,
        })
        .collect()
}

fn han_digit(c: char) -> Option<u32> {
    Some(match c {
        '〇' | '○' | '零' => 0,
        '一' => 1,
        '二' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        _ => return None,
    })
}

/// 一 … 三十一 as a number.
fn han_number(s: &str) -> Option<u32> {
    let chars: Vec<char> = s.chars().collect();
    match chars.as_slice() {
        ['十'] => Some(10),
        ['十', u] => Some(10 + han_digit(*u)?),
        [t, '十'] => Some(han_digit(*t)? * 10),
        [t, '十', u] => Some(han_digit(*t)? * 10 + han_digit(*u)?),
        [u] => han_digit(*u),
        _ => None,
    }
}

/// The first date printed in `s`: `2024年1月15日`, `二〇二四年一月十五日` or `2024-01-15`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = ascii_digits(s);
    let num = |x: &str| x.parse::<u32>().ok();
    let found = [&*DATE, &*ISO_DATE]
        .iter()
        .filter_map(|re| {
            let c = re.captures(&s)?;
            Some((c.get(0)?.start(), num(&c[1])?, num(&c[2])?, num(&c[3])?))
        })
        .chain(HAN_DATE.captures(&s).and_then(|c| {
            let y = c[1]
                .chars()
                .try_fold(0u32, |acc, ch| Some(acc * 10 + han_digit(ch)?))?;
            Some((c.get(0)?.start(), y, han_number(&c[2])?, han_number(&c[3])?))
        }))
        .min_by_key(|(at, ..)| *at)?;
    let (_, y, m, d) = found;
    NaiveDate::from_ymd_opt(y as i32, m, d)
}

/// A 文号 in its standard form `机关代字〔年份〕序号号`, if `s` contains one.
pub fn parse_doc_no(s: &str) -> Option<String> {
    let s = ascii_digits(s);
    let c = DOC_NO.captures(&s)?;
    Some(format!(
        "{}〔{}〕{}号",
        &c[1],
        &c[2],
        c[3].trim_start_matches('0')
    ))
}

/// A paragraph that is nothing but a 文号 (allowing a leading 文号 label).
fn standalone_doc_no(p: &str) -> Option<String> {
    let t = ascii_digits(p);
    let t = t.trim();
    let m = DOC_NO.find(t)?;
    let rest = t[m.end()..].trim();
    (m.start() == 0 && rest.is_empty())
        .then(|| parse_doc_no(t))
        .flatten()
}

/// A paragraph that is nothing but a date (the 成文日期 under the signature).
fn standalone_date(p: &str) -> Option<NaiveDate> {
    let t: String = ascii_digits(p).split_whitespace().collect();
    let t = t.trim_matches(|c| c == '（' || c == '）' || c == '(' || c == ')');
    let whole = [&*DATE, &*HAN_DATE, &*ISO_DATE].iter().any(|re| {
        re.find(t)
            .is_some_and(|m| m.start() == 0 && m.end() == t.len())
    });
    whole.then(|| parse_date(t)).flatten()
}

/// Metadata labels and the field each one gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Title,
    DocNo,
    IssuingBody,
    IssuedOn,
    EffectiveFrom,
    ValidUntil,
    RepealedOn,
    Other,
}

fn label_of(name: &str) -> Option<Label> {
    let n: String = name
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '：' && *c != ':')
        .collect();
    Some(match n.as_str() {
        "标题" | "名称" | "文件名称" | "articletitle" | "ArticleTitle" => Label::Title,
        "文号" | "发文字号" | "发文文号" | "文件编号" => Label::DocNo,
        "发文机关" | "发布机构" | "发文单位" | "发布机关" | "制发机关" | "发文机构"
        | "contentsource" | "ContentSource" => Label::IssuingBody,
        "成文日期" | "印发日期" | "发文日期" | "发布日期" | "PubDate" | "pubdate" => {
            Label::IssuedOn
        }
        "施行日期" | "生效日期" | "实施日期" => Label::EffectiveFrom,
        "有效期至" | "失效日期" | "有效期" => Label::ValidUntil,
        "废止日期" => Label::RepealedOn,
        "索引号" | "主题分类" | "公文种类" | "主题词" | "体裁分类" | "效力状态" | "时效性"
        | "有效性" | "信息来源" | "来源" | "所属主题" | "组配分类" => Label::Other,
        _ => return None,
    })
}

/// `标签：值` pairs in a metadata line (`索引号：… 发文机关：…`), if the whole line is such pairs.
/// A label is the known name that ends right before a colon (the text before it may run on
/// without a space: `2023年6月1日发文字号：`).
fn label_pairs(p: &str) -> Option<Vec<(Label, String)>> {
    let mut starts: Vec<(usize, usize, Label)> = Vec::new();
    for (colon, c) in p.char_indices().filter(|(_, c)| *c == '：' || *c == ':') {
        let before = p[..colon].trim_end();
        let run: Vec<(usize, char)> = before
            .char_indices()
            .rev()
            .take_while(|(_, ch)| ch.is_alphabetic())
            .take(8)
            .collect();
        let found = (2..=run.len()).rev().find_map(|n| {
            let at = run[n - 1].0;
            label_of(&before[at..]).map(|l| (at, l))
        });
        if let Some((at, label)) = found {
            starts.push((at, colon + c.len_utf8(), label));
        }
    }
    if starts.first()?.0 != 0 {
        return None;
    }
    let mut out = Vec::new();
    for (i, (_, end, label)) in starts.iter().enumerate() {
        let stop = starts.get(i + 1).map_or(p.len(), |n| n.0);
        out.push((*label, p[*end..stop].trim().to_string()));
    }
    Some(out)
}

#[derive(Default)]
struct Fields {
    title: Option<String>,
    doc_no: Option<String>,
    issuing_body: Option<String>,
    issued_on: Option<NaiveDate>,
    effective_from: Option<NaiveDate>,
    effective_to: Option<NaiveDate>,
}

impl Fields {
    fn take(&mut self, label: Label, value: &str) {
        let value = value.trim();
        if value.is_empty() {
            return;
        }
        match label {
            Label::Title => {
                self.title.get_or_insert_with(|| value.to_string());
            }
            Label::DocNo => {
                if let Some(n) = parse_doc_no(value) {
                    self.doc_no.get_or_insert(n);
                }
            }
            Label::IssuingBody => {
                self.issuing_body.get_or_insert_with(|| value.to_string());
            }
            Label::IssuedOn => {
                if let Some(d) = parse_date(value) {
                    self.issued_on.get_or_insert(d);
                }
            }
            Label::EffectiveFrom => {
                if let Some(d) = parse_date(value) {
                    self.effective_from.get_or_insert(d);
                }
            }
            Label::ValidUntil => {
                if let Some(d) = parse_date(value) {
                    self.effective_to.get_or_insert(d);
                }
            }
            Label::RepealedOn => {
                if let Some(d) = parse_date(value).and_then(|d| d.pred_opt()) {
                    self.effective_to.get_or_insert(d);
                }
            }
            Label::Other => {}
        }
    }
}

/// A table that is a metadata box (索引号 | … | 发文机关 | …): its label/value pairs.
fn metadata_table(rows: &[Vec<String>]) -> Option<Vec<(Label, String)>> {
    let mut pairs = Vec::new();
    let mut cells = 0;
    for row in rows {
        for pair in row.chunks(2) {
            cells += pair.len();
            if let [k, v] = pair
                && let Some(l) = label_of(k)
            {
                pairs.push((l, v.clone()));
            } else if let [k] = pair
                && let Some(found) = label_pairs(k)
            {
                pairs.extend(found);
            }
        }
    }
    // Most cells are labels or their values.
    (pairs.len() >= 2 && pairs.len() * 2 * 10 >= cells * 7).then_some(pairs)
}

/// Whitespace runs as one space; none where a line break fell between two Chinese characters
/// (a line wrapped in the source, not a space in the text).
fn normalise_space(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    let mut newline = false;
    for c in s.trim().chars() {
        if c.is_whitespace() {
            space = true;
            newline |= c == '\n' || c == '\r';
            continue;
        }
        if space && !out.is_empty() {
            let prev = out.chars().last().unwrap_or(' ');
            if !(newline && is_cjk(prev) && is_cjk(c)) {
                out.push(' ');
            }
        }
        space = false;
        newline = false;
        out.push(c);
    }
    out
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3000..=0x303F | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF)
}

/// The title from metadata, without a site name after a separator (`… - 示例市人民政府`).
fn clean_meta_title(t: &str) -> Option<String> {
    let t = normalise_space(t);
    let t = ["_", " - ", "－", "—", "|", "｜"]
        .iter()
        .fold(t.as_str(), |t, sep| t.split(sep).next().unwrap_or(t))
        .trim();
    // A Chinese document's title has Chinese characters (not `Document1`, `untitled`).
    let generic = t.chars().filter(|c| is_cjk(*c)).count() < 2
        || t.starts_with("Microsoft Word")
        || t.ends_with(".docx")
        || t.ends_with(".doc")
        || t.ends_with(".pdf")
        || t.chars().count() > 120;
    (!generic).then(|| t.to_string())
}

fn looks_like_title(p: &str) -> bool {
    let n = p.chars().count();
    (4..=100).contains(&n)
        && !p.ends_with('：')
        && !p.ends_with(':')
        && !p.ends_with('。')
        && !HEADING.is_match(p)
        && standalone_date(p).is_none()
}

/// Recognises an official document in what a reader extracted. `None` when no body is left.
pub fn recognise(ex: &Extracted) -> Option<Official> {
    let mut fields = Fields::default();
    for (k, v) in &ex.meta {
        if let Some(l) = label_of(k) {
            fields.take(l, v);
        }
    }
    // Paragraphs and tables, metadata boxes and label lines read and removed.
    let mut blocks: Vec<Block> = Vec::new();
    for b in &ex.blocks {
        match b {
            Block::Paragraph(p) => {
                let p = normalise_space(p);
                if p.is_empty() {
                    continue;
                }
                if blocks.len() < 12
                    && let Some(pairs) = label_pairs(&p)
                    && pairs.iter().all(|(_, v)| v.chars().count() <= 120)
                {
                    for (l, v) in pairs {
                        fields.take(l, &v);
                    }
                    continue;
                }
                blocks.push(Block::Paragraph(p));
            }
            Block::Table(rows) => {
                let rows: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| r.iter().map(|c| normalise_space(c)).collect())
                    .filter(|r: &Vec<String>| r.iter().any(|c| !c.is_empty()))
                    .collect();
                if rows.is_empty() {
                    continue;
                }
                if let Some(pairs) = metadata_table(&rows) {
                    for (l, v) in pairs {
                        fields.take(l, &v);
                    }
                    continue;
                }
                blocks.push(Block::Table(rows));
            }
        }
    }
    let para = |b: &Block| match b {
        Block::Paragraph(p) => Some(p.clone()),
        Block::Table(_) => None,
    };

    // The head: red header (机关 + 文件), 文号, title, in the first few paragraphs.
    let meta_title = fields
        .title
        .clone()
        .or_else(|| ex.meta_title.clone())
        .and_then(|t| clean_meta_title(&t));
    let mut start = 0;
    let mut title: Option<String> = None;
    let mut i = 0;
    while i < blocks.len().min(8) {
        let Some(p) = para(&blocks[i]) else { break };
        if let Some(n) = standalone_doc_no(&p) {
            fields.doc_no.get_or_insert(n);
            start = i + 1;
        } else if let Some(org) = p.strip_suffix("文件").filter(|o| ORG.is_match(o)) {
            fields.issuing_body.get_or_insert_with(|| org.to_string());
            start = i + 1;
        } else if title.is_none() {
            // The printed title, possibly over two lines; the metadata's title when it matches.
            if let Some(mt) = &meta_title {
                let two = para_at(&blocks, i + 1).map(|n| format!("{p}{n}"));
                if compact(&p) == compact(mt) {
                    title = Some(p.clone());
                    start = i + 1;
                } else if two.as_deref().map(compact) == Some(compact(mt)) {
                    title = two;
                    start = i + 2;
                    i += 1;
                } else if i + 1 >= blocks.len().min(8) || HEADING.is_match(&p) {
                    break;
                }
            } else if looks_like_title(&p) {
                // A title broken over two short lines: join while the next is not a body line.
                let mut t = p.clone();
                let mut end = i + 1;
                while let Some(n) = para_at(&blocks, end) {
                    let joined = format!("{t}{n}");
                    if looks_like_title(&n)
                        && standalone_doc_no(&n).is_none()
                        && !n.ends_with('：')
                        && (t.ends_with("关于") || n.starts_with("的") || title_tail(&joined))
                        && !title_tail(&t)
                    {
                        t = joined;
                        end += 1;
                    } else {
                        break;
                    }
                }
                title = Some(t);
                start = end;
                i = end - 1;
            } else {
                break;
            }
        } else {
            break;
        }
        i += 1;
    }
    let title = title.or(meta_title)?;
    if fields.doc_no.is_none() {
        // A 文号 printed in brackets under the title: （示例府办发〔2024〕12号）.
        if let Some(p) = para_at(&blocks, start)
            && let Some(n) = standalone_doc_no(p.trim_matches(['（', '）', '(', ')']))
        {
            fields.doc_no = Some(n);
            start += 1;
        }
    }
    let mut body: Vec<Block> = blocks.split_off(start);

    // The tail: signature(s) and 成文日期, possibly on one line, possibly followed by notes
    // such as （此件公开发布）.
    let mut cut = None;
    let last = body.len().saturating_sub(4);
    for j in (last..body.len()).rev() {
        let Some(p) = para(&body[j]) else { continue };
        let (sig, date) = split_signature(&p);
        if let Some(date) = date {
            fields.issued_on = fields.issued_on.or(Some(date));
            let mut from = j;
            if let Some(sig) = sig {
                fields.issuing_body.get_or_insert(sig);
            } else {
                // Signatures above the date, one body per line (joint documents).
                let mut orgs = Vec::new();
                while from > 0
                    && let Some(prev) = para(&body[from - 1])
                    && ORG.is_match(&prev)
                {
                    orgs.insert(0, prev);
                    from -= 1;
                }
                if !orgs.is_empty() {
                    fields.issuing_body.get_or_insert(orgs.join("、"));
                }
            }
            cut = Some((from, j));
            break;
        }
    }
    if let Some((from, date_at)) = cut {
        // Notes after the date stay (they are part of what was published).
        let tail: Vec<Block> = body.split_off(date_at + 1);
        body.truncate(from);
        body.extend(tail);
    }
    if body.is_empty() {
        return None;
    }

    // Dates printed in the text.
    let text: String = body.iter().filter_map(para).collect::<Vec<_>>().join("\n");
    let text_ascii = ascii_digits(&text);
    if fields.effective_from.is_none()
        && let Some(c) = IN_FORCE_FROM.captures(&text_ascii)
    {
        fields.effective_from = parse_date(&c[1]).or(fields.issued_on);
    }
    if fields.effective_to.is_none() {
        if let Some(c) = VALID_UNTIL.captures(&text_ascii) {
            fields.effective_to = parse_date(&c[1]);
        } else if let Some(c) = VALID_YEARS.captures(&text_ascii)
            && let Some(from) = fields.effective_from.or(fields.issued_on)
        {
            let years = c[1]
                .parse::<i32>()
                .ok()
                .or_else(|| c[1].chars().next().and_then(han_digit).map(|d| d as i32))
                .unwrap_or(0);
            fields.effective_to = from
                .with_year(from.year() + years)
                .and_then(|d| d.pred_opt());
        }
    }
    let repeals = repeals_in(&text, &title, fields.doc_no.as_deref());
    let (preamble, sections) = split_at_headings(&join_bare_numbers(body));
    Some(Official {
        title,
        doc_no: fields.doc_no,
        issuing_body: fields.issuing_body,
        issued_on: fields.issued_on,
        effective_from: fields.effective_from,
        effective_to: fields.effective_to,
        repeals,
        preamble,
        sections,
    })
}

fn para_at(blocks: &[Block], i: usize) -> Option<String> {
    match blocks.get(i)? {
        Block::Paragraph(p) => Some(p.clone()),
        Block::Table(_) => None,
    }
}

fn compact(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Ends the way document titles end (…的通知, …办法).
fn title_tail(t: &str) -> bool {
    [
        "通知",
        "办法",
        "规定",
        "意见",
        "方案",
        "决定",
        "公告",
        "通告",
        "细则",
        "规则",
        "条例",
        "指南",
        "措施",
        "批复",
        "函",
        "规划",
        "纲要",
        "标准",
        "目录",
        "清单",
        "若干政策",
    ]
    .iter()
    .any(|e| t.ends_with(e))
}

/// A signature line: `机关 2024年1月15日`, or a date alone.
fn split_signature(p: &str) -> (Option<String>, Option<NaiveDate>) {
    if let Some(d) = standalone_date(p) {
        return (None, Some(d));
    }
    let t = ascii_digits(p);
    for re in [&*DATE, &*HAN_DATE] {
        if let Some(m) = re.find(&t)
            && m.end() == t.trim_end().len()
        {
            let org = t[..m.start()].trim();
            if ORG.is_match(org) {
                return (Some(org.to_string()), parse_date(m.as_str()));
            }
        }
    }
    (None, None)
}

/// Documents a repeal clause names: each 《title》 and 文号 in a sentence that says 废止.
fn repeals_in(text: &str, own_title: &str, own_no: Option<&str>) -> Vec<Repeal> {
    let mut out: Vec<Repeal> = Vec::new();
    for sentence in text.split(['。', '\n', '；']) {
        let Some(at) = sentence.find("废止") else {
            continue;
        };
        let before = &sentence[..at];
        // “…不得废止”, “废止后” and the like are not repeals of named documents.
        if before.ends_with('不') || before.ends_with("未") {
            continue;
        }
        let titles: Vec<(usize, usize, String)> = BOOK_TITLE
            .captures_iter(before)
            .filter_map(|c| {
                let m = c.get(0)?;
                Some((m.start(), m.end(), c[1].to_string()))
            })
            .collect();
        let numbers: Vec<(usize, String)> = DOC_NO
            .find_iter(before)
            .filter_map(|m| Some((m.start(), parse_doc_no(m.as_str())?)))
            .collect();
        let mut used = vec![false; numbers.len()];
        for (k, (_, end, t)) in titles.iter().enumerate() {
            // The 文号 in brackets right after the title, before the next title.
            let next = titles.get(k + 1).map_or(before.len(), |n| n.0);
            let no = numbers
                .iter()
                .enumerate()
                .find(|(_, (pos, _))| *pos >= *end && *pos < next)
                .map(|(n, (_, no))| {
                    used[n] = true;
                    no.clone()
                });
            out.push(Repeal {
                title: Some(t.clone()),
                doc_no: no,
            });
        }
        for (n, (_, no)) in numbers.into_iter().enumerate() {
            if !used[n] {
                out.push(Repeal {
                    title: None,
                    doc_no: Some(no),
                });
            }
        }
    }
    out.retain(|r| {
        r.title.as_deref() != Some(own_title)
            && (r.doc_no.is_none() || r.doc_no.as_deref() != own_no)
    });
    out.dedup();
    out
}

/// A number printed alone (`1、` on its own line) belongs to the paragraph after it.
fn join_bare_numbers(body: Vec<Block>) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::with_capacity(body.len());
    let mut carry: Option<String> = None;
    for b in body {
        match b {
            Block::Paragraph(p) => {
                let p = match carry.take() {
                    Some(n) => format!("{n}{p}"),
                    None => p,
                };
                if heading_of(&p).is_some_and(|(_, end)| p[end..].trim().is_empty()) {
                    carry = Some(p.trim().to_string());
                } else {
                    out.push(Block::Paragraph(p));
                }
            }
            table => {
                if let Some(n) = carry.take() {
                    out.push(Block::Paragraph(n));
                }
                out.push(table);
            }
        }
    }
    if let Some(n) = carry {
        out.push(Block::Paragraph(n));
    }
    out
}

/// A heading's level (smaller is higher) and where its own text ends in the paragraph.
fn heading_of(p: &str) -> Option<(u8, usize)> {
    let c = HEADING.captures(p)?;
    let (level, m) = [
        ("chapter", 0),
        ("article", 1),
        ("cn", 2),
        ("paren", 3),
        ("num", 4),
    ]
    .iter()
    .find_map(|(name, level)| c.name(name).map(|m| (*level, m)))?;
    Some((level, m.end()))
}

/// Splits a paragraph that starts with a heading into (heading, body). Short paragraphs are
/// all heading; `第X条` keeps only the number as heading; otherwise the first sentence when
/// short (`（一）加强组织领导。各区要……`).
fn heading_split(p: &str, level: u8, marker_end: usize) -> (String, String) {
    let chars = p.chars().count();
    if level == 1 {
        return (
            p[..marker_end].to_string(),
            p[marker_end..].trim().to_string(),
        );
    }
    if chars <= 40 && !p[..p.len() - p.chars().last().map_or(0, char::len_utf8)].contains('。') {
        return (p.trim_end_matches('。').to_string(), String::new());
    }
    if let Some(stop) = p[marker_end..].find(['。', '：']).map(|x| x + marker_end)
        && p[..stop].chars().count() <= 40
    {
        let end = stop + '。'.len_utf8();
        return (p[..stop].to_string(), p[end..].trim().to_string());
    }
    (
        p[..marker_end].trim().to_string(),
        p[marker_end..].trim().to_string(),
    )
}

/// A table as Markdown (`| a | b |`), cells on one line with `|` escaped.
pub fn markdown_table(rows: &[Vec<String>]) -> String {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let cell = |c: &str| {
        let c = c.replace('|', "\\|").replace('\n', " ");
        if c.is_empty() { " ".to_string() } else { c }
    };
    let line = |r: &[String]| {
        let mut cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
        cells.resize(width, " ".to_string());
        format!("| {} |", cells.join(" | "))
    };
    let mut out = vec![line(&rows[0])];
    out.push(format!("|{}", "---|".repeat(width)));
    out.extend(rows[1..].iter().map(|r| line(r)));
    out.join("\n")
}

/// A paragraph as Markdown that cannot open a section, a heading or a code block.
fn markdown_paragraph(p: &str) -> String {
    if p.starts_with('#') || p.starts_with("```") || p.starts_with("+++") || p.starts_with('>') {
        format!("\\{p}")
    } else {
        p.to_string()
    }
}

/// The preamble and the sections, split at the document's own headings. A heading with no
/// text of its own before the next one (一、总体要求 then （一）…) is carried into the next
/// heading; a run of short numbered lines (1. 2. 3.) with nothing between is a list, not headings.
fn split_at_headings(body: &[Block]) -> (String, Vec<OfficialSection>) {
    let mut preamble: Vec<String> = Vec::new();
    let mut sections: Vec<OfficialSection> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    let finish = |cur: &mut Option<(String, Vec<String>)>, out: &mut Vec<OfficialSection>| {
        if let Some((heading, parts)) = cur.take() {
            out.push(OfficialSection {
                heading,
                body: parts.join("\n\n"),
            });
        }
    };
    for (i, b) in body.iter().enumerate() {
        let text = match b {
            Block::Paragraph(p) => p,
            Block::Table(rows) => {
                let t = markdown_table(rows);
                match &mut current {
                    Some((_, parts)) if pending.is_empty() => parts.push(t),
                    None if pending.is_empty() => preamble.push(t),
                    _ => {
                        finish(&mut current, &mut sections);
                        current = Some((pending.join(" "), vec![t]));
                        pending.clear();
                    }
                }
                continue;
            }
        };
        let heading = heading_of(text).filter(|(level, _)| {
            // A short numbered line next to another one is a list item.
            *level < 4 || {
                let own_body = heading_split(text, *level, 0).1;
                let next_is_item = body
                    .get(i + 1)
                    .and_then(|b| match b {
                        Block::Paragraph(n) => heading_of(n),
                        Block::Table(_) => None,
                    })
                    .is_some_and(|(l, _)| l == 4);
                let prev_is_item = i > 0
                    && matches!(&body[i - 1], Block::Paragraph(n)
                        if heading_of(n).is_some_and(|(l, _)| l == 4)
                            && n.chars().count() <= 40
                            && heading_split(n, 4, 0).1.is_empty());
                !(own_body.is_empty()
                    && text.chars().count() <= 40
                    && (next_is_item || prev_is_item))
            }
        });
        match heading {
            Some((level, marker_end)) => {
                let (h, rest) = heading_split(text, level, marker_end);
                if rest.is_empty() {
                    // Wait for text before opening the section.
                    if current.as_ref().is_some_and(|(_, p)| !p.is_empty()) {
                        finish(&mut current, &mut sections);
                    } else if let Some((h, _)) = current.take() {
                        pending.push(h);
                    }
                    pending.push(h);
                } else {
                    finish(&mut current, &mut sections);
                    pending.push(h);
                    current = Some((pending.join(" "), vec![markdown_paragraph(&rest)]));
                    pending.clear();
                }
            }
            None => {
                let p = markdown_paragraph(text);
                match &mut current {
                    Some((_, parts)) if pending.is_empty() => parts.push(p),
                    None if pending.is_empty() => preamble.push(p),
                    _ => {
                        finish(&mut current, &mut sections);
                        current = Some((pending.join(" "), vec![p]));
                        pending.clear();
                    }
                }
            }
        }
    }
    if !pending.is_empty() {
        // Headings with nothing after them: kept as text of the last section.
        let t = pending.join(" ");
        match &mut current {
            Some((_, parts)) => parts.push(t),
            None => match sections.last_mut() {
                Some(s) => {
                    s.body.push_str("\n\n");
                    s.body.push_str(&t);
                }
                None => preamble.push(t),
            },
        }
    }
    finish(&mut current, &mut sections);
    (preamble.join("\n\n"), sections)
}

#[cfg(test)]
mod tests;
