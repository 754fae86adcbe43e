//! The resident identity card (第二代居民身份证): fields of the front (人像面) and the back
//! (国徽面), cut from the OCR text at their printed labels (DOMAIN.md, "The resident identity
//! card").
//!
//! Front: `name`, `sex`, `ethnicity`, `birth_date` (YYYY-MM-DD), `address` (joined across its
//! lines), `id_number`. Back: `issuing_authority`, `valid_from` (YYYY-MM-DD), `valid_to`
//! (YYYY-MM-DD or 长期).

use super::field::{
    Field, FieldValue, Stream, clean_text, cut, find_date, find_id_number, is_boilerplate, is_cjk,
    reading_order,
};
use super::page::{OcrLine, OcrPage};
use std::collections::BTreeMap;

/// The 56 ethnic groups recognised by the State, as the card prints them (without 族).
pub const ETHNIC_GROUPS: [&str; 56] = [
    "汉",
    "蒙古",
    "回",
    "藏",
    "维吾尔",
    "苗",
    "彝",
    "壮",
    "布依",
    "朝鲜",
    "满",
    "侗",
    "瑶",
    "白",
    "土家",
    "哈尼",
    "哈萨克",
    "傣",
    "黎",
    "傈僳",
    "佤",
    "畲",
    "高山",
    "拉祜",
    "水",
    "东乡",
    "纳西",
    "景颇",
    "柯尔克孜",
    "土",
    "达斡尔",
    "仫佬",
    "羌",
    "布朗",
    "撒拉",
    "毛南",
    "仡佬",
    "锡伯",
    "阿昌",
    "普米",
    "塔吉克",
    "怒",
    "乌孜别克",
    "俄罗斯",
    "鄂温克",
    "德昂",
    "保安",
    "裕固",
    "京",
    "塔塔尔",
    "独龙",
    "鄂伦春",
    "赫哲",
    "门巴",
    "珞巴",
    "基诺",
];

/// Field names of the front, in printed order.
pub const FRONT_FIELDS: [&str; 6] = [
    "name",
    "sex",
    "ethnicity",
    "birth_date",
    "address",
    "id_number",
];

/// Field names of the back.
pub const BACK_FIELDS: [&str; 3] = ["issuing_authority", "valid_from", "valid_to"];

/// The value a card prints for an open-ended validity.
pub const LONG_TERM: &str = "长期";

/// The text of a card side, in reading order, without its printed boilerplate.
pub(super) fn stream_of(page: &OcrPage) -> Stream {
    let lines: Vec<&OcrLine> = page
        .lines
        .iter()
        .filter(|l| !is_boilerplate(&l.text))
        .collect();
    Stream::new(&reading_order(&lines))
}

/// Field from `len` chars at `at` inside the value range starting at `base`.
fn part(s: &Stream, base: usize, at: usize, len: usize, value: FieldValue) -> Option<Field> {
    s.field(base + at..base + at + len, value)
}

/// The fields of a card's front. Fields whose label or value is not found are absent.
pub fn extract_front(page: &OcrPage) -> BTreeMap<String, Field> {
    let s = stream_of(page);
    let labels: [(&str, &[&str]); 6] = [
        ("name", &["姓名"]),
        ("sex", &["性别"]),
        ("ethnicity", &["民族"]),
        ("birth_date", &["出生"]),
        ("address", &["住址"]),
        ("id_number", &["公民身份号码", "公民身份", "身份号码"]),
    ];
    let stops = [
        "姓名",
        "性别",
        "民族",
        "出生",
        "住址",
        "公民身份号码",
        "公民身份",
        "身份号码",
        "号码",
    ];
    let mut out = BTreeMap::new();
    // The number, wherever it is: a value before it ends there even when its label was not
    // read (an address running into an unlabelled number).
    let number_at = find_id_number(&s.text(0..s.len())).map(|(at, _)| at);
    for (name, mut r) in cut(&s, &labels, &stops) {
        if let Some(at) = number_at
            && name != "id_number"
            && r.contains(&at)
        {
            r.end = at;
        }
        let text = s.text(r.clone());
        let field = match name.as_str() {
            "name" => s.field(r, FieldValue::personal(name_value(&text))),
            "sex" => text
                .chars()
                .position(|c| c == '男' || c == '女')
                .and_then(|i| {
                    let v = text.chars().nth(i).unwrap_or('男').to_string();
                    part(&s, r.start, i, 1, FieldValue::personal(v))
                }),
            "ethnicity" => {
                let mut v: String = text.chars().filter(|&c| is_cjk(c)).collect();
                if v.ends_with('族') && ETHNIC_GROUPS.contains(&v.trim_end_matches('族')) {
                    v.pop();
                }
                // A stray character before the value (the label's 族 read again as 疾:
                // "疾朝鲜" on a clean specimen): the longest group the value ends with.
                if !ETHNIC_GROUPS.contains(&v.as_str())
                    && let Some(g) = ETHNIC_GROUPS
                        .iter()
                        .filter(|g| v.ends_with(**g))
                        .max_by_key(|g| g.chars().count())
                {
                    v = (*g).to_owned();
                }
                s.field(r, FieldValue::personal(v))
            }
            "birth_date" => find_date(&text).and_then(|(d, len)| {
                let start = text.chars().take(len).position(|c| c.is_ascii_digit());
                let at = start.unwrap_or(0);
                let v = d.format("%Y-%m-%d").to_string();
                part(&s, r.start, at, len - at, FieldValue::personal(v))
            }),
            "address" => s.field(r, FieldValue::personal(clean_text(&text))),
            "id_number" => find_id_number(&text)
                .and_then(|(at, v)| part(&s, r.start, at, 18, FieldValue::personal(v))),
            _ => None,
        };
        if let Some(f) = field {
            out.insert(name, f);
        }
    }
    // The number is recognisable without its label (a label misread beyond repair, or "号码"
    // wrapped onto a line of its own).
    if !out.contains_key("id_number") {
        let all = s.text(0..s.len());
        if let Some((at, v)) = find_id_number(&all)
            && let Some(f) = s.field(at..at + 18, FieldValue::personal(v))
        {
            out.insert("id_number".into(), f);
        }
    }
    out
}

/// A name as printed: its Chinese characters. The recogniser reads a name's 一 (a single
/// stroke) as a dash — "曾—", "蔡静—" on 6 of 200 clean specimen fronts — and a card's name
/// holds no dash (a separator is the middle dot ·, dropped too), so a dash after a Chinese
/// character is taken as 一; a run of dashes is one 一 ("吴——" for 吴一 on a specimen).
fn name_value(text: &str) -> String {
    let mut v = String::new();
    let mut dash = false;
    for c in text.chars() {
        let is_dash = matches!(c, '—' | '―' | '–' | '－' | '-' | '_');
        if is_cjk(c) {
            v.push(c);
        } else if is_dash && !dash && !v.is_empty() {
            v.push('一');
        }
        dash = is_dash;
    }
    v
}

/// The fields of a card's back. Fields whose label or value is not found are absent.
pub fn extract_back(page: &OcrPage) -> BTreeMap<String, Field> {
    let s = stream_of(page);
    let labels: [(&str, &[&str]); 2] = [
        ("issuing_authority", &["签发机关"]),
        ("validity", &["有效期限"]),
    ];
    let stops = ["签发机关", "有效期限", "中华人民共和国", "居民身份证"];
    let cuts = cut(&s, &labels, &stops);
    let labelled_validity = cuts.iter().any(|(n, _)| n == "validity");
    let mut out = BTreeMap::new();
    for (name, r) in cuts {
        let text = s.text(r.clone());
        if name == "issuing_authority" {
            // Without its label, the validity runs on after the authority: split at its date.
            let split = (!labelled_validity)
                .then(|| {
                    find_date(&text).and_then(|_| text.chars().position(|c| c.is_ascii_digit()))
                })
                .flatten();
            let end = split.map_or(r.end, |at| r.start + at);
            let authority = s.text(r.start..end);
            if let Some(f) = s.field(r.start..end, FieldValue::public(clean_text(&authority))) {
                out.insert(name, f);
            }
            if let Some(at) = split {
                validity(&s, r.start + at..r.end, &mut out);
            }
            continue;
        }
        validity(&s, r, &mut out);
    }
    out
}

/// `valid_from` and `valid_to` from the characters in `r` (start–end, or start–长期).
fn validity(s: &Stream, r: std::ops::Range<usize>, out: &mut BTreeMap<String, Field>) {
    let text = s.text(r.clone());
    let Some((from, len)) = find_date(&text) else {
        return;
    };
    let at = text
        .chars()
        .position(|c| c.is_ascii_digit() || c == 'O' || c == 'I')
        .unwrap_or(0);
    if let Some(f) = part(
        s,
        r.start,
        at,
        len.saturating_sub(at),
        FieldValue::personal(from.format("%Y-%m-%d").to_string()),
    ) {
        out.insert("valid_from".into(), f);
    }
    let rest: String = text.chars().skip(len).collect();
    let to = if let Some(i) = rest.find(LONG_TERM) {
        let at = len + rest[..i].chars().count();
        part(s, r.start, at, 2, FieldValue::personal(LONG_TERM))
    } else if let Some((to, n)) = find_date(&rest) {
        let lead = rest.chars().position(|c| c.is_ascii_digit()).unwrap_or(0);
        part(
            s,
            r.start,
            len + lead,
            n.saturating_sub(lead),
            FieldValue::personal(to.format("%Y-%m-%d").to_string()),
        )
    } else {
        None
    };
    if let Some(f) = to {
        out.insert("valid_to".into(), f);
    }
}

#[cfg(test)]
mod tests {
    use super::super::page::{line_at, page_of};
    use super::*;

    fn value<'a>(m: &'a BTreeMap<String, Field>, k: &str) -> &'a str {
        m.get(k).map(|f| f.value.expose()).unwrap_or("<missing>")
    }

    fn front(lines: Vec<OcrLine>) -> BTreeMap<String, Field> {
        extract_front(&page_of(856, 540, lines))
    }

    // DOMAIN.md "The resident identity card": front fields 姓名, 性别, 民族, 出生 (年 月 日), 住址
    // (may wrap to several lines), 公民身份号码.
    #[test]
    fn front_with_labels_and_values_in_separate_boxes() {
        let f = front(vec![
            line_at("姓名", 0.99, 60.0, 50.0, 50.0, 24.0),
            line_at("张三丰", 0.98, 140.0, 50.0, 75.0, 24.0),
            line_at("性别", 0.99, 60.0, 110.0, 50.0, 24.0),
            line_at("男", 0.97, 140.0, 110.0, 25.0, 24.0),
            line_at("民族", 0.99, 260.0, 110.0, 50.0, 24.0),
            line_at("汉", 0.99, 340.0, 110.0, 25.0, 24.0),
            line_at("出生", 0.99, 60.0, 170.0, 50.0, 24.0),
            line_at("1990年3月7日", 0.99, 140.0, 170.0, 200.0, 24.0),
            line_at("住址", 0.99, 60.0, 230.0, 50.0, 24.0),
            line_at("示例省示例市和平区解放路", 0.95, 140.0, 230.0, 300.0, 24.0),
            line_at("88号3单元201室", 0.93, 140.0, 262.0, 200.0, 24.0),
            line_at("公民身份号码", 0.99, 60.0, 420.0, 150.0, 24.0),
            line_at("110105199003070035", 0.99, 260.0, 418.0, 400.0, 30.0),
            line_at("样本", 0.99, 600.0, 200.0, 100.0, 60.0),
        ]);
        assert_eq!(value(&f, "name"), "张三丰");
        assert_eq!(value(&f, "sex"), "男");
        assert_eq!(value(&f, "ethnicity"), "汉");
        assert_eq!(value(&f, "birth_date"), "1990-03-07");
        assert_eq!(
            value(&f, "address"),
            "示例省示例市和平区解放路88号3单元201室"
        );
        assert_eq!(value(&f, "id_number"), "110105199003070035");
        assert_eq!(f.len(), 6);
        // The address box spans both of its lines.
        let q = f["address"].quad;
        assert_eq!((q[0], q[2]), ([140.0, 230.0], [440.0, 286.0]));
        // The sex box is its one character; confidences are the lowest of the value's.
        assert_eq!(f["sex"].quad[0], [140.0, 110.0]);
        assert!((f["address"].confidence - 0.93).abs() < 1e-6);
        assert_eq!(f["id_number"].quad[0], [260.0, 418.0]);
    }

    // PP-OCR rarely emits spaces: labels come glued to their values; "号码" may be split off,
    // and O/0, I/1, Z/2 slip in the number (STACK-NOTES.md).
    #[test]
    fn front_with_glued_labels_and_ocr_slips() {
        let f = front(vec![
            line_at("姓名李小红", 0.98, 60.0, 50.0, 125.0, 24.0),
            line_at("性别女民族蒙古族", 0.97, 60.0, 110.0, 200.0, 24.0),
            line_at("出生2001年11月O9日", 0.96, 60.0, 170.0, 250.0, 24.0),
            line_at("住址示例市新区", 0.95, 60.0, 230.0, 200.0, 24.0),
            line_at("公民身份", 0.99, 60.0, 420.0, 100.0, 24.0),
            line_at("号码", 0.99, 165.0, 420.0, 50.0, 24.0),
            line_at("I5OIZ32OOIIIO9OO4x", 0.80, 260.0, 418.0, 400.0, 30.0),
        ]);
        assert_eq!(value(&f, "name"), "李小红");
        assert_eq!(value(&f, "sex"), "女");
        assert_eq!(value(&f, "ethnicity"), "蒙古");
        assert_eq!(value(&f, "birth_date"), "2001-11-09");
        assert_eq!(value(&f, "address"), "示例市新区");
        assert_eq!(value(&f, "id_number"), "15012320011109004X");
        assert!((f["id_number"].confidence - 0.80).abs() < 1e-6);
    }

    // An unlabelled number ends the address before it (low resolution: 公民身份号码 unread).
    #[test]
    fn address_stops_at_an_unlabelled_number() {
        let f = front(vec![
            line_at("住址示例市长安区河滨路206号", 0.9, 60.0, 230.0, 300.0, 24.0),
            line_at("44030319750611430X", 0.9, 260.0, 418.0, 400.0, 30.0),
        ]);
        assert_eq!(value(&f, "address"), "示例市长安区河滨路206号");
        assert_eq!(value(&f, "id_number"), "44030319750611430X");
    }

    // The number is found even when its label is unreadable.
    // The recogniser's dash for a name's 一 (seen on specimen fronts: "姓名曾—", "蔡静—").
    #[test]
    fn a_dash_in_a_name_is_its_yi() {
        assert_eq!(name_value("曾—"), "曾一");
        assert_eq!(name_value("张-鸣"), "张一鸣");
        assert_eq!(name_value(":蔡静―"), "蔡静一");
        assert_eq!(name_value("—王五"), "王五");
        assert_eq!(name_value("吴——"), "吴一");
        assert_eq!(name_value("一一"), "一一");
        let f = front(vec![
            line_at("姓名吴—", 0.87, 60.0, 50.0, 120.0, 24.0),
            line_at("性别男民族蒙古", 0.99, 60.0, 110.0, 250.0, 24.0),
        ]);
        assert_eq!(value(&f, "name"), "吴一");
        assert_eq!(value(&f, "ethnicity"), "蒙古");
    }

    // A stray character before the ethnicity (seen: "民族" then "疾朝鲜"): the group it ends
    // with; a value that ends with none stays as read, for the ethnicity check to refuse.
    #[test]
    fn a_stray_character_before_the_ethnicity() {
        let f = front(vec![
            line_at("姓名张三", 0.99, 60.0, 50.0, 120.0, 24.0),
            line_at("性别男民族疾朝鲜", 0.99, 60.0, 110.0, 250.0, 24.0),
        ]);
        assert_eq!(value(&f, "ethnicity"), "朝鲜");
        let f = front(vec![
            line_at("姓名张三", 0.99, 60.0, 50.0, 120.0, 24.0),
            line_at("性别男民族火星", 0.99, 60.0, 110.0, 250.0, 24.0),
        ]);
        assert_eq!(value(&f, "ethnicity"), "火星");
    }

    #[test]
    fn number_without_its_label() {
        let f = front(vec![
            line_at("姓名王五", 0.98, 60.0, 50.0, 125.0, 24.0),
            line_at("公民身伤号吗", 0.5, 60.0, 420.0, 150.0, 24.0),
            line_at("110105199003070035", 0.99, 260.0, 418.0, 400.0, 30.0),
        ]);
        assert_eq!(value(&f, "id_number"), "110105199003070035");
        assert_eq!(value(&f, "name"), "王五");
    }

    // DOMAIN.md: back carries 签发机关 and 有效期限 (start–end, or start–长期).
    #[test]
    fn back_with_end_date_or_long_term() {
        let back = |v: &str| {
            extract_back(&page_of(
                856,
                540,
                vec![
                    line_at("中华人民共和国", 0.99, 250.0, 60.0, 400.0, 40.0),
                    line_at("居民身份证", 0.99, 250.0, 120.0, 400.0, 50.0),
                    line_at("签发机关", 0.99, 150.0, 380.0, 100.0, 24.0),
                    line_at("示例市公安局和平分局", 0.97, 280.0, 380.0, 250.0, 24.0),
                    line_at("有效期限", 0.99, 150.0, 440.0, 100.0, 24.0),
                    line_at(v, 0.96, 280.0, 440.0, 300.0, 24.0),
                ],
            ))
        };
        let b = back("2015.03.01-2035.03.01");
        assert_eq!(value(&b, "issuing_authority"), "示例市公安局和平分局");
        assert_eq!(value(&b, "valid_from"), "2015-03-01");
        assert_eq!(value(&b, "valid_to"), "2035-03-01");
        assert!(b["valid_to"].quad[0][0] > b["valid_from"].quad[1][0] - 1.0);
        let b = back("2019.O7.12-长期");
        assert_eq!(value(&b, "valid_from"), "2019-07-12");
        assert_eq!(value(&b, "valid_to"), "长期");
        let b = back("有效期限不清");
        assert!(!b.contains_key("valid_from"));
        // The validity label unread (blur): the dates after the authority are still the
        // validity, not part of the authority.
        let b = extract_back(&page_of(
            856,
            540,
            vec![
                line_at("中华人民共和国", 0.99, 250.0, 60.0, 400.0, 40.0),
                line_at("居民身份证", 0.99, 250.0, 120.0, 400.0, 50.0),
                line_at(
                    "签发机关示例市公安局滨江分局",
                    0.97,
                    150.0,
                    380.0,
                    350.0,
                    24.0,
                ),
                line_at("有欢", 0.4, 150.0, 440.0, 100.0, 24.0),
                line_at("2011.10.20-2031.10.20", 0.9, 280.0, 440.0, 300.0, 24.0),
            ],
        ));
        assert_eq!(value(&b, "issuing_authority"), "示例市公安局滨江分局有欢");
        assert_eq!(value(&b, "valid_from"), "2011-10-20");
        assert_eq!(value(&b, "valid_to"), "2031-10-20");
    }

    #[test]
    fn fifty_six_ethnic_groups() {
        let set: std::collections::HashSet<_> = ETHNIC_GROUPS.iter().collect();
        assert_eq!(set.len(), 56);
    }
}
