//! The resident identity card (第二代居民身份证): fields of the front (人像面) and the back
//! (国徽面), cut from the OCR text at their printed labels (DOMAIN.md, "The resident identity
//! card").
//!
//! Front: `name`, `sex`, `ethnicity`, `birth_date` (YYYY-MM-DD), `address` (joined across its
//! lines), `id_number`. Back: `issuing_authority`, `valid_from` (YYYY-MM-DD), `valid_to`
//! (YYYY-MM-DD or 长期).

use super::field::{
    Field, FieldValue, Stream, bounds, clean_text, cut, find_date, find_id_number, is_boilerplate,
    is_cjk, line_height, reading_order,
};
use super::page::{OcrLine, OcrPage, Quad};
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
            "address" => {
                let kept = s.without_apart(r);
                let text = kept.text(0..kept.len());
                kept.field(0..kept.len(), FieldValue::personal(clean_text(&text)))
            }
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

/// Where a card front's address lines stand by the printed layout (GA 450), for reading them
/// again band by band when what the detector gave does not read as an address: a stamp or a
/// handwritten 仅供办理XX使用，他用无效 across the address is taken into one box with the
/// address's first lines, and that box reads as neither ("亭新夜角，他用无效" for a first line
/// on a tuning specimen). The bands follow the layout, not the detector: the first line on the
/// row of the 住址 label, the next ones a line spacing below (two thirds of the spacing of the
/// label rows 出生 → 住址, or 1.47 label heights when 出生 was not read), starting right of the
/// label column and reaching to the portrait box (fourteen and a half label heights: a
/// narrower band cut a long line's last character on a tuning specimen).
#[derive(Debug, Clone, PartialEq)]
pub struct AddressBands {
    /// The 住址 label alone (it may have been read glued to its value).
    pub label: Quad,
    /// One band per address line that the page shows print on, top to bottom.
    pub rows: Vec<Quad>,
    /// The region the bands replace, from the label's middle to the page's right edge: lines
    /// centred here are the address's or an overprint's across it, `(x0, y0, x1, y1)`.
    pub area: (f32, f32, f32, f32),
}

/// Whether a line begins with `label` (alone or glued to its value).
fn starts_with_label(l: &OcrLine, label: &str) -> bool {
    l.text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .starts_with(label)
}

/// The first line beginning with `label`.
fn label_line<'a>(page: &'a OcrPage, label: &str) -> Option<&'a OcrLine> {
    page.lines.iter().find(|l| starts_with_label(l, label))
}

/// The bands of the address lines ([`AddressBands`]), when the 住址 label was read.
pub fn address_bands(page: &OcrPage) -> Option<AddressBands> {
    let label = label_line(page, "住址")?;
    let (lx, ly0, _, ly1) = bounds(&label.quad);
    let h = line_height(&label.quad);
    let cy = (ly0 + ly1) / 2.0;
    // The label's width: a two-character label read alone on the page (姓名, 性别, 出生, 住址
    // are printed alike), else two and a half heights.
    let width = ["住址", "姓名", "性别", "出生"]
        .iter()
        .filter_map(|t| page.lines.iter().find(|l| l.text.trim() == *t))
        .map(|l| {
            let (a, _, b, _) = bounds(&l.quad);
            b - a
        })
        .next()
        .unwrap_or(2.5 * h);
    let label_right = lx + width;
    let pitch = label_line(page, "出生")
        .map(|l| {
            let (_, a, _, b) = bounds(&l.quad);
            cy - (a + b) / 2.0
        })
        .filter(|d| *d > 1.5 * h && *d < 3.0 * h)
        .map_or(1.47 * h, |d| d * 2.0 / 3.0);
    let bottom = page
        .lines
        .iter()
        .filter(|l| l.text.contains("公民身份") || l.text.contains("号码"))
        .map(|l| bounds(&l.quad).1)
        .filter(|&top| top > cy + pitch / 2.0)
        .fold(cy + 3.5 * pitch, f32::min);
    let (x0, x1) = (
        label_right + 0.25 * h,
        (label_right + 14.5 * h).min(page.width as f32),
    );
    let band = |k: usize| {
        let c = cy + k as f32 * pitch;
        (c - pitch / 2.0, c + pitch / 2.0)
    };
    // A row is read when some line other than the label stands in it, right of the label.
    let shows_print = |(top, bot): (f32, f32)| {
        page.lines.iter().any(|l| {
            let (a, b, c, d) = bounds(&l.quad);
            let (mx, my) = ((a + c) / 2.0, (b + d) / 2.0);
            !std::ptr::eq(l, label) && mx > label_right && mx < x1 && my > top && my < bot
        })
    };
    let mut rows = Vec::new();
    for k in 0.. {
        let (top, bot) = band(k);
        if bot > bottom || (k > 0 && !shows_print((top, bot))) {
            break;
        }
        rows.push([[x0, top], [x1, top], [x1, bot], [x0, bot]]);
    }
    let last = rows.last().map_or(ly1, |r| r[2][1]);
    Some(AddressBands {
        label: [[lx, ly0], [label_right, ly0], [label_right, ly1], [lx, ly1]],
        rows,
        area: (lx + width / 2.0, band(0).0, page.width as f32, last),
    })
}

/// `page` with its address region read again: the lines centred in `bands.area` (and the 住址
/// label's line) replaced by the label alone and `rows`, the text read in each band (a band
/// read as nothing, or at a mean confidence under one half, ends the address).
pub fn with_address_rows(page: &OcrPage, bands: &AddressBands, rows: Vec<OcrLine>) -> OcrPage {
    let (x0, y0, x1, y1) = bands.area;
    let inside = |l: &OcrLine| {
        let (a, b, c, d) = bounds(&l.quad);
        let (mx, my) = ((a + c) / 2.0, (b + d) / 2.0);
        mx > x0 && mx < x1 && my > y0 && my < y1
    };
    let mut lines: Vec<OcrLine> = page
        .lines
        .iter()
        .filter(|l| !inside(l) && !starts_with_label(l, "住址"))
        .cloned()
        .collect();
    lines.push(OcrLine {
        text: "住址".into(),
        confidence: 1.0,
        char_confidences: vec![1.0; 2],
        alternatives: Vec::new(),
        quad: bands.label,
    });
    lines.extend(
        rows.into_iter()
            .take_while(|r| !r.text.trim().is_empty() && r.confidence >= 0.5),
    );
    OcrPage {
        lines,
        ..page.clone()
    }
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
            let end = s.one_line_value(r.start..end).end;
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

    // Issue 13: a stamped 仅供办理XX使用，他用无效 runs on over the portrait, where its end is
    // read as a line of its own beside the address (a clean scan of seed 7160 gave
    // "示例省示例市东城区光明用无效巷8号4栋3单元803室"); that piece is the stamp's, not the
    // address's.
    #[test]
    fn the_end_of_a_stamp_beside_the_address_is_not_address() {
        for piece in ["用无效", "地用无效！", "无效"] {
            let f = extract_front(&page_of(
                992,
                676,
                vec![
                    line_at("姓名", 1.0, 135.0, 142.0, 65.0, 33.0),
                    line_at("卢军", 1.0, 229.0, 139.0, 71.0, 37.0),
                    line_at("性别", 1.0, 135.0, 209.0, 61.0, 32.0),
                    line_at("男", 1.0, 235.0, 208.0, 34.0, 32.0),
                    line_at("民族汉", 1.0, 320.0, 204.0, 132.0, 40.0),
                    line_at("出生", 1.0, 137.0, 275.0, 56.0, 30.0),
                    line_at("1977年10月26日", 1.0, 237.0, 276.0, 273.0, 28.0),
                    OcrLine {
                        // The stamp is printed aslant.
                        quad: [
                            [663.0, 317.0],
                            [772.0, 301.0],
                            [779.0, 351.0],
                            [670.0, 367.0],
                        ],
                        ..line_at(piece, 0.89, 663.0, 317.0, 116.0, 34.0)
                    },
                    line_at("住址", 1.0, 136.0, 340.0, 60.0, 32.0),
                    line_at("示例省示例市东城区光明", 1.0, 238.0, 340.0, 329.0, 32.0),
                    line_at("巷8号4栋3单元803室", 1.0, 237.0, 383.0, 279.0, 32.0),
                    line_at("公民身份号码", 1.0, 138.0, 534.0, 146.0, 29.0),
                    line_at("350102197710261433", 0.97, 359.0, 525.0, 490.0, 31.0),
                ],
            ));
            assert_eq!(
                value(&f, "address"),
                "示例省示例市东城区光明巷8号4栋3单元803室",
                "{piece}"
            );
        }
        // Text of an address that merely holds 无 stays.
        assert!(!is_boilerplate("无锡路"));
    }

    // DOMAIN.md, the card's front: the address is printed as one run wrapping onto further
    // lines. A piece read apart on its last row (a pen's 他用 beside 号 on a tuning specimen,
    // read 他印) is not part of it; a piece of the row's print the detector cut off is.
    #[test]
    fn a_piece_apart_on_the_address_row_is_not_address() {
        let front = |second: Vec<OcrLine>| {
            let mut lines = vec![
                line_at("姓名", 1.0, 136.0, 129.0, 60.0, 36.0),
                line_at("袁平桂", 1.0, 236.0, 128.0, 95.0, 37.0),
                line_at("性别", 1.0, 137.0, 197.0, 60.0, 32.0),
                line_at("男", 1.0, 235.0, 196.0, 37.0, 33.0),
                line_at("民族朝鲜", 1.0, 323.0, 194.0, 160.0, 38.0),
                line_at("出生", 1.0, 137.0, 263.0, 59.0, 32.0),
                line_at("1963年10月4日", 1.0, 239.0, 264.0, 257.0, 30.0),
                line_at("住址", 1.0, 139.0, 331.0, 57.0, 30.0),
                line_at("示例省示例县东风村5组14", 1.0, 240.0, 330.0, 349.0, 30.0),
                line_at("公民身份号码", 1.0, 141.0, 523.0, 145.0, 29.0),
                line_at("230102196310043117", 0.96, 362.0, 514.0, 488.0, 31.0),
            ];
            lines.extend(second);
            value(&extract_front(&page_of(992, 676, lines)), "address").to_string()
        };
        let apart = vec![
            line_at("号", 1.0, 241.0, 369.0, 27.0, 39.0),
            line_at("他印", 0.56, 542.0, 357.0, 119.0, 47.0),
        ];
        assert_eq!(front(apart), "示例省示例县东风村5组14号");
        let cut = vec![
            line_at("号", 1.0, 241.0, 369.0, 27.0, 39.0),
            line_at("1栋", 1.0, 272.0, 369.0, 56.0, 39.0),
        ];
        assert_eq!(front(cut), "示例省示例县东风村5组14号1栋");
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
    fn an_overprint_beside_the_authority_is_not_the_authority() {
        // DOMAIN.md, the card's back: 签发机关 names a public security bureau, printed on one
        // line in one size. The 样本 overprint beside it, read as a line of its own (羊本, 羊木
        // on tuning specimens), is not part of it: taller than the row, or after a gap.
        let back = |lines: Vec<OcrLine>| {
            let mut all = vec![
                line_at("中华人民共和国", 0.99, 326.0, 130.0, 336.0, 43.0),
                line_at("居民身份证", 0.99, 340.0, 206.0, 355.0, 55.0),
                line_at("签发机关", 0.99, 211.0, 464.0, 102.0, 30.0),
                line_at("有效期限", 0.99, 211.0, 525.0, 101.0, 30.0),
                line_at("2019.02.05-2039.02.05", 0.99, 364.0, 525.0, 291.0, 27.0),
            ];
            all.extend(lines);
            value(&extract_back(&page_of(992, 676, all)), "issuing_authority").to_string()
        };
        let authority = || line_at("示例市公安局长安分局", 0.99, 365.0, 464.0, 277.0, 29.0);
        // Twice the row's height, beside it.
        let tall = line_at("羊本", 0.92, 694.0, 440.0, 120.0, 58.0);
        assert_eq!(back(vec![authority(), tall]), "示例市公安局长安分局");
        // Twice its height and reaching down to the row's foot: the row below its centre is
        // still a row of its own, with its label before its value.
        let reaching = line_at("羊本", 0.82, 706.0, 417.0, 127.0, 62.0);
        assert_eq!(back(vec![authority(), reaching]), "示例市公安局长安分局");
        // The row's height, two characters' width to the right.
        let apart = line_at("羊木", 0.7, 705.0, 460.0, 109.0, 36.0);
        assert_eq!(back(vec![authority(), apart]), "示例市公安局长安分局");
        // The authority cut by the detector into two boxes side by side is one value.
        let split = vec![
            line_at("示例市公安局", 0.99, 365.0, 464.0, 166.0, 29.0),
            line_at("长安分局", 0.99, 534.0, 464.0, 108.0, 29.0),
        ];
        assert_eq!(back(split), "示例市公安局长安分局");
    }

    // A stamp across the address taken into one box with its first line (a tuning specimen
    // read "亭新夜角，他用无效" there, and the second line from its middle): the bands stand where
    // the layout puts the address lines — on the 住址 row, then two thirds of the label rows'
    // spacing below, right of the label column — and only rows showing print are read.
    #[test]
    fn address_bands_follow_the_layout_not_the_detector() {
        let page = page_of(
            856,
            540,
            vec![
                line_at("姓名", 1.0, 67.0, 59.0, 56.0, 30.0),
                line_at("袁洋桐", 1.0, 163.0, 56.0, 93.0, 35.0),
                line_at("出生", 1.0, 67.0, 184.0, 56.0, 30.0),
                line_at("1998年12月18日", 1.0, 166.0, 185.0, 263.0, 27.0),
                line_at("住址", 1.0, 67.0, 246.0, 56.0, 30.0),
                line_at("亭新夜角，他用无效", 0.83, 277.0, 243.0, 391.0, 43.0),
                line_at("13栋5单元2601室", 1.0, 261.0, 289.0, 241.0, 29.0),
                line_at("公民身份号码", 1.0, 69.0, 428.0, 142.0, 27.0),
                line_at("440303199812180080", 1.0, 285.0, 419.0, 473.0, 28.0),
            ],
        );
        let b = address_bands(&page).expect("the 住址 label was read");
        assert_eq!(
            b.label,
            [[67.0, 246.0], [123.0, 246.0], [123.0, 276.0], [67.0, 276.0]]
        );
        // 出生 → 住址 is 62 px: lines 41⅓ px apart, the first centred on the label's row.
        assert_eq!(b.rows.len(), 2, "{:?}", b.rows);
        let centre = |q: &Quad| (q[0][1] + q[2][1]) / 2.0;
        assert!((centre(&b.rows[0]) - 261.0).abs() < 0.01);
        assert!((centre(&b.rows[1]) - 261.0 - 62.0 * 2.0 / 3.0).abs() < 0.01);
        assert!((b.rows[0][0][0] - (123.0 + 7.5)).abs() < 0.01);
        assert!((b.rows[0][1][0] - (123.0 + 14.5 * 30.0)).abs() < 0.01);
        // Read band by band: the overprint's box and the cut second line give way to the rows;
        // a band read as nothing (or hardly anything) ends the address.
        let row = |text: &str, conf: f32, q: &Quad| OcrLine {
            text: text.into(),
            confidence: conf,
            char_confidences: vec![conf; text.chars().count()],
            alternatives: Vec::new(),
            quad: *q,
        };
        let again = with_address_rows(
            &page,
            &b,
            vec![
                row("示例省示例市高新区文化路", 0.95, &b.rows[0]),
                row("226号13栋5单元2601室", 0.97, &b.rows[1]),
            ],
        );
        let f = extract_front(&again);
        assert_eq!(
            value(&f, "address"),
            "示例省示例市高新区文化路226号13栋5单元2601室"
        );
        assert_eq!(value(&f, "id_number"), "440303199812180080");
        assert_eq!(value(&f, "birth_date"), "1998-12-18");
        assert_eq!(value(&extract_front(&page), "address"), "13栋5单元2601室");
        let cut_short = with_address_rows(
            &page,
            &b,
            vec![
                row("示例省示例市高新区文化路", 0.95, &b.rows[0]),
                row("仅", 0.3, &b.rows[1]),
            ],
        );
        assert_eq!(
            value(&extract_front(&cut_short), "address"),
            "示例省示例市高新区文化路"
        );
    }

    // Without 出生 the spacing comes from the label's height; a label read glued to its value
    // is replaced by the label alone.
    #[test]
    fn address_bands_without_the_birth_row() {
        let page = page_of(
            856,
            540,
            vec![
                line_at("住址示例省示例县东风村", 0.6, 67.0, 246.0, 420.0, 30.0),
                line_at("公民身份号码", 1.0, 69.0, 428.0, 142.0, 27.0),
            ],
        );
        let b = address_bands(&page).expect("the 住址 label was read");
        assert_eq!(b.rows.len(), 1);
        assert!((b.label[1][0] - (67.0 + 75.0)).abs() < 0.01);
        assert!((b.rows[0][2][1] - b.rows[0][0][1] - 1.47 * 30.0).abs() < 0.01);
        let mut row = line_at("示例省示例县东风村4组86号", 0.9, 0.0, 0.0, 1.0, 1.0);
        row.quad = b.rows[0];
        let f = extract_front(&with_address_rows(&page, &b, vec![row]));
        assert_eq!(value(&f, "address"), "示例省示例县东风村4组86号");
    }

    #[test]
    fn fifty_six_ethnic_groups() {
        let set: std::collections::HashSet<_> = ETHNIC_GROUPS.iter().collect();
        assert_eq!(set.len(), 56);
    }
}
