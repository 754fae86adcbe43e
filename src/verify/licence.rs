//! The business licence (营业执照, DOMAIN.md "The business licence"): fields cut from the OCR
//! text at their printed labels.
//!
//! Licences print their fields in two columns (名称/类型/法定代表人/经营范围 on the left,
//! 注册资本/成立日期/营业期限/住所 on the right). Read row by row, the columns interleave and a
//! wrapped 经营范围 would swallow the right column's lines, so when labels start lines in the
//! right part of the page the page is read column by column: the left column top to bottom,
//! then the right.
//!
//! Fields: `credit_code`, `name`, `type`, `legal_representative` (法定代表人, 经营者 or 负责人 as
//! labelled), `registered_capital`, `established_date` (YYYY-MM-DD), `business_term`
//! (`YYYY-MM-DD至YYYY-MM-DD`, `YYYY-MM-DD至长期` or `长期`), `address`, `business_scope`,
//! `registration_authority`, `issue_date` (YYYY-MM-DD, the date under the authority's seal).

use super::card::LONG_TERM;
use super::field::{
    Field, FieldValue, Stream, bounds, clean_text, cut, find_credit_code, find_date,
    is_boilerplate, is_cjk, reading_order, template_tail,
};
use super::page::{OcrLine, OcrPage};
use std::collections::BTreeMap;

/// Field names of a licence.
pub const LICENCE_FIELDS: [&str; 11] = [
    "credit_code",
    "name",
    "type",
    "legal_representative",
    "registered_capital",
    "established_date",
    "business_term",
    "address",
    "business_scope",
    "registration_authority",
    "issue_date",
];

/// Field names an individual business's licence (个体工商户) does not print: no 注册资本
/// (DOMAIN.md) and no 营业期限.
pub const NOT_FOR_INDIVIDUAL_BUSINESS: [&str; 2] = ["registered_capital", "business_term"];

const LABELS: [(&str, &[&str]); 10] = [
    ("credit_code", &["统一社会信用代码"]),
    ("name", &["名称"]),
    ("type", &["类型"]),
    (
        "legal_representative",
        &["法定代表人", "经营者", "负责人", "执行事务合伙人"],
    ),
    ("registered_capital", &["注册资本", "出资额"]),
    ("established_date", &["成立日期", "注册日期"]),
    ("business_term", &["营业期限", "合伙期限"]),
    ("address", &["主要经营场所", "经营场所", "住所"]),
    ("business_scope", &["经营范围"]),
    ("registration_authority", &["登记机关"]),
];

// Not 营业执照: the scope's own text says 凭营业执照依法自主开展经营活动; the title is a line of
// its own and is set aside below.
/// Fields whose values wrap onto further lines.
const WRAPPING: [&str; 4] = ["name", "type", "address", "business_scope"];

const OTHER_STOPS: [&str; 1] = ["组成形式"];

fn stops() -> Vec<&'static str> {
    LABELS
        .iter()
        .flat_map(|(_, alts)| alts.iter().copied())
        .chain(OTHER_STOPS)
        .collect()
}

/// The title 营业执照 (with its letter spacing, and (副本) or (正本) when read on the same line).
fn is_title(text: &str) -> bool {
    let t: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && !"（）()副正本".contains(*c))
        .collect();
    t == "营业执照"
}

/// Lines in reading order, column by column when labels start lines right of 40 % of the
/// page width.
fn ordered(page: &OcrPage) -> Vec<OcrLine> {
    let lines: Vec<OcrLine> = page
        .lines
        .iter()
        .flat_map(without_template_text)
        .filter(|l| !is_boilerplate(&l.text) && !is_title(&l.text))
        .collect();
    let lines: Vec<&OcrLine> = lines.iter().collect();
    let stops = stops();
    let width = page.width as f32;
    let split = lines
        .iter()
        .filter(|l| {
            let t: String = l.text.chars().filter(|c| !c.is_whitespace()).collect();
            stops.iter().any(|s| t.starts_with(s))
        })
        .map(|l| bounds(&l.quad).0)
        .filter(|&x| x > 0.4 * width)
        .fold(f32::INFINITY, f32::min);
    if !split.is_finite() {
        return reading_order(&lines).into_iter().cloned().collect();
    }
    let margin = 0.02 * width;
    let (right, left): (Vec<&OcrLine>, Vec<&OcrLine>) = lines
        .into_iter()
        .partition(|l| bounds(&l.quad).0 >= split - margin);
    let mut out = reading_order(&left);
    out.extend(reading_order(&right));
    out.into_iter().cloned().collect()
}

/// A line without the caption or footer text ([`template_tail`]) or the holder's 仅供…使用，他用无效
/// overprint the detector ran into it, as the pieces left before and after them, each box cut
/// alike (characters taken as equally wide).
fn without_template_text(l: &OcrLine) -> Vec<OcrLine> {
    let n = l.text.chars().count();
    let keep = n - template_tail(&l.text);
    let Some((a, b)) = purpose_span(&l.text) else {
        return piece(l, 0, keep).into_iter().collect();
    };
    [piece(l, 0, a.min(keep)), piece(l, b, keep)]
        .into_iter()
        .flatten()
        .collect()
}

/// Where the holder's 仅供办理XX使用，他用无效 stands in a line's text (char range), from 仅供
/// through 使用 and what follows of ，他用无效 (to the line's end when 使用 is not read).
fn purpose_span(text: &str) -> Option<(usize, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let start = chars.windows(2).position(|w| w == ['仅', '供'])?;
    let Some(used) = chars[start..].windows(2).position(|w| w == ['使', '用']) else {
        return Some((start, chars.len()));
    };
    let mut end = start + used + 2;
    while end < chars.len() && "，,他用无效".contains(chars[end]) {
        end += 1;
    }
    Some((start, end))
}

/// The characters `a..b` of a line as a line of their own; `None` when empty.
fn piece(l: &OcrLine, a: usize, b: usize) -> Option<OcrLine> {
    let n = l.text.chars().count();
    if a >= b {
        return None;
    }
    if a == 0 && b == n {
        return Some(l.clone());
    }
    let at = |p: [f32; 2], q: [f32; 2], k: usize| {
        let t = k as f32 / n as f32;
        [p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t]
    };
    let [tl, tr, br, bl] = l.quad;
    let char_confidences: Vec<f32> = l
        .char_confidences
        .iter()
        .skip(a)
        .take(b - a)
        .copied()
        .collect();
    let confidence = if char_confidences.is_empty() {
        l.confidence
    } else {
        char_confidences.iter().sum::<f32>() / char_confidences.len() as f32
    };
    Some(OcrLine {
        text: l.text.chars().skip(a).take(b - a).collect(),
        confidence,
        char_confidences,
        alternatives: l.alternatives.iter().skip(a).take(b - a).cloned().collect(),
        quad: [at(tl, tr, a), at(tl, tr, b), at(bl, br, b), at(bl, br, a)],
    })
}

/// The headings of a scope in the registration catalogue's wording, each followed by ：.
const SCOPE_HEADINGS: [&str; 2] = ["一般项目", "许可项目"];

/// A scope with its items' separators as the 2019 licence prints them (the registration
/// catalogue's wording: 一般项目：item；item（note, with commas）。许可项目：…): outside brackets,
/// items are separated by ；, which the recogniser reads as ， or ： — so those become ；, except
/// the ： after a heading. Commas inside a bracketed note stay. The scope's sentences end with
/// 。, which on a tight box the recogniser reads as a Latin full stop (. or ．).
fn scope_separators(scope: &str) -> String {
    let mut out = String::with_capacity(scope.len());
    let mut depth = 0usize;
    for c in scope.chars() {
        match c {
            '（' => depth += 1,
            '）' => depth = depth.saturating_sub(1),
            '，' | '：' if depth == 0 => {
                let heading = c == '：' && SCOPE_HEADINGS.iter().any(|h| out.ends_with(h));
                out.push(if heading { c } else { '；' });
                continue;
            }
            '.' | '．' if depth == 0 => {
                out.push('。');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// The business term as `FROM至TO`, `FROM至长期` or `长期`.
fn term(text: &str) -> Option<(String, usize, usize)> {
    let first_digit = text.chars().position(|c| c.is_ascii_digit());
    let Some((from, len)) = find_date(text) else {
        let i = text.find(LONG_TERM)?;
        let at = text[..i].chars().count();
        return Some((LONG_TERM.to_owned(), at, at + 2));
    };
    let rest: String = text.chars().skip(len).collect();
    let from = from.format("%Y-%m-%d");
    if let Some(i) = rest.find(LONG_TERM) {
        let end = len + rest[..i].chars().count() + 2;
        return Some((
            format!("{from}至{LONG_TERM}"),
            first_digit.unwrap_or(0),
            end,
        ));
    }
    match find_date(&rest) {
        Some((to, n)) => Some((
            format!("{from}至{}", to.format("%Y-%m-%d")),
            first_digit.unwrap_or(0),
            len + n,
        )),
        None => Some((from.to_string(), first_digit.unwrap_or(0), len)),
    }
}

/// The text of a licence in reading order.
pub(super) fn stream_of(page: &OcrPage) -> Stream {
    let lines = ordered(page);
    Stream::new(&lines.iter().collect::<Vec<_>>())
}

/// The fields of a business licence. Fields whose label or value is not found are absent.
pub fn extract(page: &OcrPage) -> BTreeMap<String, Field> {
    let s = stream_of(page);
    let stops = stops();
    let mut out = BTreeMap::new();
    let mut put = |name: &str, f: Option<Field>| {
        if let Some(f) = f {
            out.insert(name.to_owned(), f);
        }
    };
    for (name, r) in cut(&s, &LABELS, &stops) {
        // Values that wrap are read by where their lines stand (`Stream::wrapped`).
        if WRAPPING.contains(&name.as_str()) {
            let w = s.wrapped(r);
            // An address begins with an administrative division, a Chinese character: what
            // precedes it (a border stroke's dot or dash, a comma, letters of the seal's
            // rim) is not part of it.
            let from = match name.as_str() {
                "address" => (0..w.len())
                    .find(|&i| w.text(i..i + 1).chars().all(|c| is_cjk(c) && c != '·'))
                    .unwrap_or(w.len()),
                _ => 0,
            };
            let text = w.text(from..w.len());
            let mut v = clean_text(&text);
            match name.as_str() {
                // A closing bracket the OCR dropped at the end of a type or name.
                "type" | "name" if v.matches('（').count() == v.matches('）').count() + 1 => {
                    v.push('）')
                }
                "business_scope" => {
                    // OCR often reads the closing 。 as a full stop.
                    if v.ends_with('.') {
                        v.pop();
                        v.push('。');
                    }
                    v = scope_separators(&v);
                }
                _ => {}
            }
            put(&name, w.field(from..w.len(), FieldValue::public(v)));
            continue;
        }
        let text = s.text(r.clone());
        let base = r.start;
        match name.as_str() {
            "credit_code" => {
                let found = find_credit_code(&text).map(|(r, c)| (base + r.start..base + r.end, c));
                let found = found.or_else(|| find_credit_code(&s.text(0..s.len())));
                if let Some((r, code)) = found {
                    put("credit_code", s.field(r, FieldValue::public(code)));
                }
            }
            "established_date" => {
                if let Some((d, len)) = find_date(&text) {
                    let at = text.chars().position(|c| c.is_ascii_digit()).unwrap_or(0);
                    let v = FieldValue::public(d.format("%Y-%m-%d").to_string());
                    put(&name, s.field(base + at..base + len.max(at + 1), v));
                }
            }
            "business_term" => {
                if let Some((v, a, b)) = term(&text) {
                    put(
                        &name,
                        s.field(base + a..base + b.max(a + 1), FieldValue::public(v)),
                    );
                }
            }
            "registration_authority" => {
                // The authority's name, then the issue date under its seal.
                match find_date(&text) {
                    Some((d, len)) => {
                        let at = text.chars().position(|c| c.is_ascii_digit()).unwrap_or(0);
                        let authority: String = text.chars().take(at).collect();
                        put(
                            "registration_authority",
                            s.field(base..base + at, FieldValue::public(clean_text(&authority))),
                        );
                        let v = FieldValue::public(d.format("%Y-%m-%d").to_string());
                        put("issue_date", s.field(base + at..base + len.max(at + 1), v));
                    }
                    None => put(&name, s.field(r, FieldValue::public(clean_text(&text)))),
                }
            }
            // A licence's legal representative or operator is a person.
            // A person's name: ideographs (and the middle dot of minority names) only, so a
            // stray mark the OCR saw before it (！韩霞桐) is not part of it.
            // It is printed as one run in one size, so a piece read apart from it on its row
            // or standing taller is a pen's or stamp's 仅供…使用 across the page (余梅勇 and
            // 记使 far right of it), not more of the name (`Stream::one_line_value`).
            "legal_representative" => {
                let r = s.one_line_value(r);
                let v: String = s.text(r.clone()).chars().filter(|&c| is_cjk(c)).collect();
                put(&name, s.field(r, FieldValue::personal(v)))
            }
            _ => put(&name, s.field(r, FieldValue::public(clean_text(&text)))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::page::{line_at, page_of};
    use super::*;

    fn value<'a>(m: &'a BTreeMap<String, Field>, k: &str) -> &'a str {
        m.get(k).map(|f| f.value.expose()).unwrap_or("<missing>")
    }

    /// A two-column licence as the specimens lay it out (1400 × 990).
    fn licence(code: &str, kind: &str, boss_label: &str, term: &str) -> OcrPage {
        let l =
            |t: &str, x: f32, y: f32| line_at(t, 0.97, x, y, 24.0 * t.chars().count() as f32, 26.0);
        page_of(
            1400,
            990,
            vec![
                l("营业执照", 560.0, 60.0),
                l("（副本）", 640.0, 140.0),
                l(&format!("统一社会信用代码{code}"), 120.0, 200.0),
                l("名称", 120.0, 290.0),
                l("示例市小石头餐饮有限公司", 260.0, 290.0),
                l("注册资本", 760.0, 292.0),
                l("壹佰万元整", 900.0, 292.0),
                l(&format!("类型{kind}"), 120.0, 350.0),
                l("成立日期2015年03月01日", 760.0, 350.0),
                l(&format!("{boss_label}王大明仅供办理登记"), 120.0, 410.0),
                l(&format!("营业期限{term}"), 760.0, 410.0),
                l("经营范围餐饮服务；食品销售；", 120.0, 470.0),
                l("住所示例市和平区解放路", 760.0, 470.0),
                l("预包装食品零售；外卖递送服", 220.0, 505.0),
                l("88号一层", 860.0, 505.0),
                l("务。", 220.0, 540.0),
                l("登记机关示例市市场监督管理局", 760.0, 760.0),
                l("2020年05月06日", 900.0, 800.0),
                l(
                    "国家企业信用信息公示系统网址：http://www.gsxt.gov.cn",
                    150.0,
                    900.0,
                ),
                l("样本", 1000.0, 600.0),
                l("扫描二维码登录“国家企", 1140.0, 260.0),
                l("业信用优息公示系统”了", 1140.0, 282.0),
            ],
        )
    }

    /// The company licence with its line `i` read as `text` from `x` on (same row, 24 px a
    /// character).
    fn with_line(i: usize, text: &str, x: f32) -> OcrPage {
        let mut page = licence("91350100MA000100Y4", "有限责任公司", "法定代表人", "长期");
        let y = page.lines[i].quad[0][1];
        let w = 24.0 * text.chars().count() as f32;
        page.lines[i] = line_at(text, 0.97, x, y, w, 26.0);
        page
    }

    // DOMAIN.md "The business licence": fields, two-column layout, 经营范围 wraps.
    #[test]
    fn two_column_licence() {
        let f = extract(&licence(
            "91350100MA000100Y4",
            "有限责任公司(自然人投资或控股)",
            "法定代表人",
            "2015年03月01日至长期",
        ));
        assert_eq!(value(&f, "credit_code"), "91350100MA000100Y4");
        assert_eq!(value(&f, "name"), "示例市小石头餐饮有限公司");
        assert_eq!(value(&f, "type"), "有限责任公司（自然人投资或控股）");
        assert_eq!(value(&f, "legal_representative"), "王大明");
        assert_eq!(value(&f, "registered_capital"), "壹佰万元整");
        assert_eq!(value(&f, "established_date"), "2015-03-01");
        assert_eq!(value(&f, "business_term"), "2015-03-01至长期");
        assert_eq!(value(&f, "address"), "示例市和平区解放路88号一层");
        assert_eq!(
            value(&f, "business_scope"),
            "餐饮服务；食品销售；预包装食品零售；外卖递送服务。"
        );
        assert_eq!(value(&f, "registration_authority"), "示例市市场监督管理局");
        assert_eq!(value(&f, "issue_date"), "2020-05-06");
        assert!(!format!("{:?}", f["legal_representative"]).contains("王大明"));
    }

    // DOMAIN.md: 经营者 for individual businesses; 营业期限 may end on a date; O/0 slips in the code.
    #[test]
    fn individual_business_with_slips() {
        let f = extract(&licence(
            "92350100MAOOO1OOY4",
            "个体工商户",
            "经营者",
            "2015年03月01日至2025年02月28日",
        ));
        assert_eq!(value(&f, "credit_code"), "92350100MA000100Y4");
        assert_eq!(value(&f, "legal_representative"), "王大明");
        assert_eq!(value(&f, "type"), "个体工商户");
        assert_eq!(value(&f, "business_term"), "2015-03-01至2025-02-28");
        // A closing bracket the OCR dropped.
        let f = extract(&licence(
            "91350100MA000100Y4",
            "有限责任公司（自然人独资",
            "法定代表人",
            "长期",
        ));
        assert_eq!(value(&f, "type"), "有限责任公司（自然人独资）");
        assert_eq!(value(&f, "business_term"), "长期");
    }

    // Issue 13: the end of a pen's 仅供…使用 read as a line of its own far right of the legal
    // representative on its row (记使) was appended to the name; a name the detector split in
    // two boxes side by side stays whole.
    #[test]
    fn a_piece_apart_on_the_representative_s_row_is_not_the_name() {
        let mut page = with_line(9, "法定代表人余梅勇", 120.0);
        page.lines
            .push(line_at("记使", 0.97, 640.0, 418.0, 48.0, 34.0));
        assert_eq!(value(&extract(&page), "legal_representative"), "余梅勇");
        let mut page = with_line(9, "法定代表人余梅", 120.0);
        page.lines
            .push(line_at("勇", 0.97, 290.0, 410.0, 24.0, 26.0));
        assert_eq!(value(&extract(&page), "legal_representative"), "余梅勇");
    }

    // Issue 13: a label misread by one character still ends the value before it, found by
    // where it stands (the label column), not by a list of misreadings: 名称 spread and read
    // as 名 alone, 类型 read 类雨, 经营者 read 经者.
    #[test]
    fn misread_labels_found_by_their_column() {
        let mut page = licence("92350100MA000100Y4", "个体工商户", "经者", "长期");
        page.lines[3].text = "名".into();
        page.lines[3].char_confidences.truncate(1);
        page.lines[7] = line_at("类雨个体工商户", 0.97, 120.0, 350.0, 168.0, 26.0);
        let f = extract(&page);
        assert_eq!(value(&f, "name"), "示例市小石头餐饮有限公司");
        assert_eq!(value(&f, "type"), "个体工商户");
        assert_eq!(value(&f, "legal_representative"), "王大明");
        // Only the second half of the spread label read, inside the labels' area.
        let mut page = licence("92350100MA000100Y4", "个体工商户", "经营者", "长期");
        page.lines[3] = line_at("称", 0.97, 196.0, 290.0, 24.0, 26.0);
        // (Where values start is seen where one is read apart from its label.)
        page.lines[9] = line_at("经营者", 0.97, 120.0, 410.0, 72.0, 26.0);
        page.lines
            .push(line_at("王大明", 0.97, 260.0, 410.0, 72.0, 26.0));
        assert_eq!(value(&extract(&page), "name"), "示例市小石头餐饮有限公司");
        // Every label read glued to its value, and 名 of the spread 名称 not read at all: 称
        // glued to the name still starts inside the labels' area (left of where the longest
        // label's characters reach), so it is a label.
        let mut page = licence("92350100MA000100Y4", "个体工商户", "经营者", "长期");
        page.lines[3] = line_at(
            "称示例市小石头餐饮有限公司",
            0.97,
            196.0,
            290.0,
            312.0,
            26.0,
        );
        page.lines.remove(4);
        assert_eq!(value(&extract(&page), "name"), "示例市小石头餐饮有限公司");
        // A value's line in the value column is not taken for a label, even when its start
        // looks like one (类别… under 类型's value).
        let mut page = licence("91350100MA000100Y4", "有限责任公司", "法定代表人", "长期");
        page.lines
            .push(line_at("类别齐全", 0.97, 260.0, 385.0, 96.0, 26.0));
        let f = extract(&page);
        assert_eq!(value(&f, "type"), "有限责任公司类别齐全");
    }

    // Issue 13: 经营范围 continues on the lines below left-aligned with its first line, up to the
    // next label or a wider gap; an overprint taller than its lines (样本 read as 羊本 beside a
    // row), a misread stamp between its rows and the border ornament below are not part of it.
    #[test]
    fn scope_continues_by_geometry() {
        let mut page = licence("91350100MA000100Y4", "有限责任公司", "法定代表人", "长期");
        page.lines.extend([
            line_at("羊本", 0.9, 560.0, 500.0, 180.0, 100.0),
            line_at("假供办理不动产壹记使用", 0.8, 150.0, 520.0, 500.0, 60.0),
            line_at("0000000000000000000000", 0.8, 70.0, 950.0, 1260.0, 20.0),
        ]);
        let f = extract(&page);
        assert_eq!(
            value(&f, "business_scope"),
            "餐饮服务；食品销售；预包装食品零售；外卖递送服务。"
        );
        // A line starting left of the value (a label misread beyond recognition) ends it.
        let mut page = licence("91350100MA000100Y4", "有限责任公司", "法定代表人", "长期");
        page.lines[15] = line_at("登i机关务。", 0.9, 120.0, 540.0, 120.0, 26.0);
        let f = extract(&page);
        assert_eq!(
            value(&f, "business_scope"),
            "餐饮服务；食品销售；预包装食品零售；外卖递送服"
        );
    }

    // Issue 13: the scope's items are separated by ； (the registration catalogue's wording),
    // which the recogniser reads as ， or ：; the heading's ： and a bracketed note's ， stay;
    // its sentences end with 。, read as . on a tight box.
    #[test]
    fn scope_separators_follow_the_catalogue_wording() {
        assert_eq!(
            scope_separators("餐饮服务，食品销售：预包装食品零售。"),
            "餐饮服务；食品销售；预包装食品零售。"
        );
        assert_eq!(scope_separators("会议及展览服务."), "会议及展览服务。");
        assert_eq!(scope_separators("会议及展览服务．"), "会议及展览服务。");
        let v = "一般项目：软件开发，技术服务（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）。";
        assert_eq!(
            scope_separators(v),
            "一般项目：软件开发；技术服务（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）。"
        );
        let page = with_line(11, "经营范围餐饮服务，食品销售：", 120.0);
        assert_eq!(
            value(&extract(&page), "business_scope"),
            "餐饮服务；食品销售；预包装食品零售；外卖递送服务。"
        );
    }

    // DOMAIN.md: an address begins with an administrative division (a Chinese character); a
    // dot, dash or comma the border or seal left before it is not part of it.
    #[test]
    fn address_starts_at_its_first_ideograph() {
        for lead in ["·", "-", "，", "FA", "。。"] {
            let page = with_line(12, &format!("住所{lead}示例市和平区解放路"), 760.0);
            let f = extract(&page);
            assert_eq!(value(&f, "address"), "示例市和平区解放路88号一层", "{lead}");
        }
    }

    // Issue 13: the holder's 仅供…使用，他用无效 run into a value's line is cut out of it, and
    // what follows it on the line (here the 住所 label and its value) is kept, not dropped
    // with the overprint.
    #[test]
    fn purpose_overprint_inside_a_line_is_cut_out() {
        // 20 characters from x = 544: 住所 starts at 760, where the right column's labels do.
        let f = extract(&with_line(
            12,
            "仅供办理登记使用，住所示例市和平区解放路",
            544.0,
        ));
        assert_eq!(value(&f, "address"), "示例市和平区解放路88号一层");
        assert_eq!(purpose_span("王大明仅供办理登记"), Some((3, 9)));
        assert_eq!(
            purpose_span("仅供办理登记使用，他用无效住所"),
            Some((0, 13))
        );
        assert_eq!(purpose_span("住所示例市"), None);
    }

    #[test]
    fn term_forms() {
        assert_eq!(term("长期").unwrap().0, "长期");
        assert_eq!(term("2015年03月01日至长期").unwrap().0, "2015-03-01至长期");
        assert_eq!(
            term("2015-03-01至2035-02-28").unwrap().0,
            "2015-03-01至2035-02-28"
        );
        assert!(term("无").is_none());
    }
}
