//! Web pages (政府信息公开 pages, 办事指南 on a portal): paragraphs and tables from the HTML,
//! the page title and `<meta>` labels (ArticleTitle, PubDate, ContentSource). Navigation,
//! headers, footers, scripts and forms are left out. Pages in GBK/GB2312 are decoded by their
//! declared charset (or as GB18030 when they are not UTF-8 and declare none).

use super::{Block, Extracted, Unreadable};
use html5gum::{DefaultEmitter, Token, Tokenizer};

/// Elements whose whole content is not part of the document.
const SKIP: &[&str] = &[
    "script", "style", "noscript", "nav", "header", "footer", "aside", "form", "select", "button",
    "iframe", "svg", "template", "object", "textarea",
];
/// Elements that end a paragraph when they open or close.
const BLOCK: &[&str] = &[
    "p",
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "ul",
    "ol",
    "section",
    "article",
    "blockquote",
    "pre",
    "dd",
    "dt",
    "dl",
    "center",
    "main",
    "hr",
    "address",
    "figure",
    "figcaption",
    "caption",
];

/// Text decoded from the page's bytes.
pub fn decode(bytes: &[u8]) -> String {
    if let Some((enc, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        return enc
            .decode_without_bom_handling(&bytes[bom..])
            .0
            .into_owned();
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_string();
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).to_lowercase();
    let declared = head.find("charset").and_then(|at| {
        let rest = head[at + 7..].trim_start_matches([' ', '=', '"', '\'']);
        let label: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        encoding_rs::Encoding::for_label(label.as_bytes())
    });
    declared
        .unwrap_or(encoding_rs::GB18030)
        .decode_without_bom_handling(bytes)
        .0
        .into_owned()
}

#[derive(Default)]
struct Table {
    rows: Vec<Vec<Vec<String>>>,
    /// Nested tables inside a cell only add their text to it.
    nested: usize,
}

#[derive(Default)]
struct Reader {
    blocks: Vec<Block>,
    current: String,
    tables: Vec<Table>,
    skip: Vec<String>,
    in_title: bool,
    title: String,
    meta: Vec<(String, String)>,
}

impl Reader {
    fn text(&mut self, s: &str) {
        if self.in_title {
            self.title.push_str(s);
        } else if self.skip.is_empty() {
            self.current.push_str(s);
        }
    }

    /// Ends the paragraph being collected: into the current table cell, or as a block.
    fn flush(&mut self) {
        let t = self
            .current
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        self.current.clear();
        if t.is_empty() {
            return;
        }
        match self.tables.last_mut() {
            Some(table) => {
                if let Some(cell) = table.rows.last_mut().and_then(|r| r.last_mut()) {
                    cell.push(t);
                } else {
                    // Text in a table outside any cell: a paragraph of its own.
                    self.blocks.push(Block::Paragraph(t));
                }
            }
            None => self.blocks.push(Block::Paragraph(t)),
        }
    }

    fn start(&mut self, name: &str, attr: impl Fn(&str) -> Option<String>, self_closing: bool) {
        if !self.skip.is_empty() {
            if self.skip.last().is_some_and(|s| s == name) && !self_closing {
                self.skip.push(name.to_string());
            }
            return;
        }
        match name {
            "title" => self.in_title = true,
            "meta" => {
                if let (Some(n), Some(c)) = (attr("name"), attr("content")) {
                    self.meta.push((n, c));
                }
            }
            "br" => self.flush(),
            "table" => {
                self.flush();
                match self.tables.last_mut() {
                    Some(t) if t.rows.last().is_some_and(|r| !r.is_empty()) => t.nested += 1,
                    _ => self.tables.push(Table::default()),
                }
            }
            "tr" => {
                self.flush();
                if let Some(t) = self.tables.last_mut()
                    && t.nested == 0
                {
                    t.rows.push(Vec::new());
                }
            }
            "td" | "th" => {
                self.flush();
                if let Some(t) = self.tables.last_mut()
                    && t.nested == 0
                {
                    if t.rows.is_empty() {
                        t.rows.push(Vec::new());
                    }
                    if let Some(r) = t.rows.last_mut() {
                        r.push(Vec::new());
                    }
                }
            }
            n if SKIP.contains(&n) && !self_closing => {
                self.flush();
                self.skip.push(n.to_string());
            }
            n if BLOCK.contains(&n) => self.flush(),
            _ => {}
        }
    }

    fn end(&mut self, name: &str) {
        if let Some(top) = self.skip.last() {
            if top == name {
                self.skip.pop();
            }
            return;
        }
        match name {
            "title" => self.in_title = false,
            "table" => {
                self.flush();
                match self.tables.last_mut() {
                    Some(t) if t.nested > 0 => t.nested -= 1,
                    Some(_) => {
                        let t = self.tables.pop().unwrap_or_default();
                        self.close_table(t);
                    }
                    None => {}
                }
            }
            "td" | "th" | "tr" => self.flush(),
            n if BLOCK.contains(&n) => self.flush(),
            _ => {}
        }
    }

    /// A data table becomes a Markdown table; a layout table (one column, or cells holding
    /// whole paragraphs) gives its paragraphs back in reading order.
    fn close_table(&mut self, t: Table) {
        let rows: Vec<Vec<Vec<String>>> = t.rows.into_iter().filter(|r| !r.is_empty()).collect();
        let width = rows.iter().map(Vec::len).max().unwrap_or(0);
        let layout = width <= 1
            || rows.len() <= 1 && width <= 2
            || rows
                .iter()
                .flatten()
                .any(|c| c.len() > 2 || c.iter().map(|p| p.chars().count()).sum::<usize>() > 300);
        let mut mine = Vec::new();
        if layout {
            mine.extend(rows.into_iter().flatten().flatten().map(Block::Paragraph));
        } else if !rows.is_empty() {
            mine.push(Block::Table(
                rows.into_iter()
                    .map(|r| r.into_iter().map(|c| c.join(" ")).collect())
                    .collect(),
            ));
        }
        // A table inside an outer table's cell: its text belongs to that cell.
        match self
            .tables
            .last_mut()
            .and_then(|outer| outer.rows.last_mut())
            .and_then(|r| r.last_mut())
        {
            Some(cell) => {
                for b in mine {
                    match b {
                        Block::Paragraph(p) => cell.push(p),
                        Block::Table(rows) => cell.extend(rows.into_iter().map(|r| r.join(" "))),
                    }
                }
            }
            None => self.blocks.extend(mine),
        }
    }
}

/// Reads an HTML page.
pub fn read(bytes: &[u8]) -> Result<Extracted, Unreadable> {
    let text = decode(bytes);
    if !text.contains('<') {
        return Err(Unreadable::Malformed(
            "不是 HTML 网页（没有任何标记）".into(),
        ));
    }
    let mut emitter = DefaultEmitter::default();
    emitter.naively_switch_states(true);
    let mut r = Reader::default();
    let s = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    for token in Tokenizer::new_with_emitter(text.as_str(), emitter) {
        let Ok(token) = token;
        match token {
            Token::StartTag(tag) => {
                let name = s(&tag.name).to_ascii_lowercase();
                let attr = |k: &str| tag.attributes.get(k.as_bytes()).map(|v| s(&v.value));
                r.start(&name, attr, tag.self_closing);
            }
            Token::EndTag(tag) => r.end(&s(&tag.name).to_ascii_lowercase()),
            Token::String(t) => r.text(&s(&t.value)),
            Token::Comment(_) | Token::Doctype(_) | Token::Error(_) => {}
        }
    }
    r.flush();
    // Unclosed tables at the end of a broken page.
    while let Some(t) = r.tables.pop() {
        r.close_table(t);
    }
    let ex = Extracted {
        meta_title: Some(r.title.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|t| !t.is_empty()),
        meta: r.meta,
        blocks: r.blocks,
    };
    if ex.blocks.is_empty() {
        return Err(Unreadable::Empty);
    }
    Ok(ex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_tables_and_metadata() {
        let page = "<html><head><title>关于印发示例办法的通知_示例市人民政府</title>\
            <meta name=\"PubDate\" content=\"2024-01-15\"><script>var a = '<p>no</p>';</script></head>\
            <body><nav><a>首页</a></nav><div class=\"content\"><h1>关于印发示例办法的通知</h1>\
            <p>各区人民政府：</p><p>一、总体要求&nbsp;&amp;原则</p><br>\
            <table><tr><th>项目</th><th>标准</th></tr><tr><td>补贴</td><td>500元/月</td></tr></table>\
            </div><footer>版权所有</footer></body></html>";
        let ex = read(page.as_bytes()).unwrap();
        assert_eq!(
            ex.meta_title.as_deref(),
            Some("关于印发示例办法的通知_示例市人民政府")
        );
        assert_eq!(ex.meta, vec![("PubDate".into(), "2024-01-15".into())]);
        assert_eq!(
            ex.blocks,
            vec![
                Block::Paragraph("关于印发示例办法的通知".into()),
                Block::Paragraph("各区人民政府：".into()),
                Block::Paragraph("一、总体要求 &原则".into()),
                Block::Table(vec![
                    vec!["项目".into(), "标准".into()],
                    vec!["补贴".into(), "500元/月".into()]
                ]),
            ]
        );
    }

    #[test]
    fn layout_tables_give_back_their_paragraphs_and_gbk_is_decoded() {
        let (gbk, _, _) = encoding_rs::GBK.encode(
            "<html><head><meta charset=\"gb2312\"></head><body><table><tr><td>\
             <p>第一段。</p><p>第二段。</p></td></tr></table></body></html>",
        );
        let ex = read(&gbk).unwrap();
        assert_eq!(
            ex.blocks,
            vec![
                Block::Paragraph("第一段。".into()),
                Block::Paragraph("第二段。".into())
            ]
        );
        assert!(matches!(read(b"plain text"), Err(Unreadable::Malformed(_))));
        assert_eq!(read(b"<html><body></body></html>"), Err(Unreadable::Empty));
    }
}
