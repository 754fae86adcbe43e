//! What each value may look like, so that a value the reader polluted or cut is sent to a
//! person instead of passed (DOMAIN.md, "Identifiers", "The resident identity card", "The
//! business licence").
//!
//! The checks in [`super::check`] compare fields with each other and with the law; these rules
//! look at one value's form: dates are real calendar dates in order, 注册资本 is an amount in
//! 大写 numerals (or digits) with its unit, an address begins with an administrative division
//! and holds no overprint or template text, a person's name is Chinese characters, a credit
//! code has the structure GB 32100 gives it. A value that breaks its rule is doubtful: the
//! verdict becomes `review` with the reason, never `pass` (see [`super::verdict::decide`]).
//! Reasons are for the clerk, in Chinese, and never quote the value.

use super::card::LONG_TERM;
use super::classify::DocumentType;
use super::field::Field;
use super::field_name::FieldName;
use chrono::NaiveDate;
use std::collections::BTreeMap;

/// Text printed over or beside the fields that is never part of a value: the specimen
/// overprint, the holder's 仅供办理XX使用，他用无效 on a copy, and pieces of the 2019 licence's
/// QR caption and footer (DOMAIN.md, "What else the 2019 template prints").
const FOREIGN_TEXT: [&str; 15] = [
    "样本",
    "SAMPLE",
    "仅供",
    "供办理",
    "用无效",
    "他用无",
    "复印无效",
    "二维码",
    "了解更多",
    "备案、许可",
    "监管信息",
    "公示系统",
    "gsxt",
    "监制",
    "年度报告",
];

/// Whether a value holds overprint or template text.
pub fn has_foreign_text(value: &str) -> bool {
    let t: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    FOREIGN_TEXT.iter().any(|f| t.contains(f))
}

/// Marks that end or divide a sentence, which an address never holds (a house number may
/// carry a hyphen, a note its brackets): one in a reading is the ，of an overprint's
/// 仅供…使用，他用无效 or a speck across the line.
const SENTENCE_MARKS: [char; 12] = [
    '，', ',', '。', '；', ';', '：', ':', '！', '!', '？', '?', '、',
];

/// What a border stroke or rule of the template reads as before a value: 一 (a horizontal
/// stroke), 丨 or a bar (a vertical one), dashes.
fn starts_with_stroke(value: &str) -> bool {
    value
        .chars()
        .next()
        .is_some_and(|c| matches!(c, '一' | '丨' | '|' | '｜' | '—' | '－' | '-' | '_'))
}

/// The last characters of administrative divisions (DOMAIN.md: addresses begin with one):
/// 省, 市, 区 (and 自治区), 县, 州 (自治州), 盟, 旗.
const DIVISION_ENDS: [char; 7] = ['省', '市', '区', '县', '州', '盟', '旗'];

/// An address begins with an administrative division: a run of Chinese characters (at most
/// ten: 克孜勒苏柯尔克孜自治州) ending in 省, 市, 区, 县, 州, 盟 or 旗, not led by a stroke.
pub fn begins_with_division(address: &str) -> bool {
    if starts_with_stroke(address) {
        return false;
    }
    let chars: Vec<char> = address.chars().collect();
    chars
        .iter()
        .take(11)
        .position(|c| DIVISION_ENDS.contains(c))
        .is_some_and(|p| p >= 1 && chars[..p].iter().all(|&c| super::field::is_cjk(c)))
}

/// A person's name as cards and licences print it: Chinese characters, two to six of them, or
/// a minority name in parts joined by the middle dot (up to 20 characters).
pub fn is_person_name(name: &str) -> bool {
    let n = name.chars().count();
    let parts: Vec<&str> = name.split('·').collect();
    let han = |p: &str| !p.is_empty() && p.chars().all(|c| c != '·' && super::field::is_cjk(c));
    if parts.len() == 1 {
        han(name) && (2..=6).contains(&n) && !starts_with_stroke(name)
    } else {
        parts.iter().all(|p| han(p)) && n <= 20
    }
}

const DAXIE_DIGITS: &str = "壹贰叁肆伍陆柒捌玖";

/// One group of up to four 大写 places (仟佰拾 and units): digits each followed by a smaller
/// place than the one before, a single 零 where places are skipped (not at the end). A group
/// after a higher one (below 万 or 亿) may begin with 零; a first group may begin with 拾 (拾伍).
fn daxie_group(s: &[char], after_higher: bool) -> bool {
    let rank = |c: char| match c {
        '仟' => Some(3),
        '佰' => Some(2),
        '拾' => Some(1),
        _ => None,
    };
    let (mut i, mut prev, mut zero, mut any) = (0, 4, false, false);
    while i < s.len() {
        let c = s[i];
        if c == '零' {
            if zero || (!any && !after_higher) {
                return false;
            }
            zero = true;
            i += 1;
        } else if DAXIE_DIGITS.contains(c) {
            let r = s.get(i + 1).and_then(|&u| rank(u)).unwrap_or(0);
            if r >= prev {
                return false;
            }
            prev = r;
            (zero, any) = (false, true);
            i += if r > 0 { 2 } else { 1 };
        } else if c == '拾' && i == 0 && !after_higher {
            (prev, any) = (1, true);
            i += 1;
        } else {
            return false;
        }
    }
    any && !zero
}

/// A number in 大写 numerals below a trillion: [group 亿][group 万][group], each part optional
/// but one, a lower group after a higher part may begin with 零.
pub fn is_daxie_number(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    let mut parts: Vec<&[char]> = Vec::new();
    let mut rest: &[char] = &chars;
    for big in ['亿', '万'] {
        match rest.iter().position(|&c| c == big) {
            Some(p) => {
                parts.push(&rest[..p]);
                rest = &rest[p + 1..];
            }
            None => parts.push(&[]),
        }
    }
    parts.push(rest);
    if parts.iter().all(|p| p.is_empty()) {
        return false;
    }
    let mut higher = false;
    for (i, p) in parts.iter().enumerate() {
        // A 亿 or 万 must have a group before it (壹亿, not 亿).
        let needs_group = i < 2 && chars.contains(&['亿', '万'][i]);
        if p.is_empty() {
            if needs_group {
                return false;
            }
            continue;
        }
        if !daxie_group(p, higher) {
            return false;
        }
        higher = true;
    }
    true
}

/// 注册资本 as licences print it (DOMAIN.md, "The business licence"): an amount in 大写
/// numerals (壹佰万元整) or in digits (100万元), in 元 or 万元, optionally 人民币 before or after
/// it, a foreign currency (美元, 港元, 欧元) or 整 at its end.
pub fn is_capital(value: &str) -> bool {
    let mut v: &str = value;
    v = v.strip_prefix("人民币").unwrap_or(v);
    v = v.strip_suffix("人民币").unwrap_or(v);
    v = v.strip_suffix('整').unwrap_or(v);
    let Some(mut n) = v.strip_suffix('元') else {
        return false;
    };
    for currency in ['美', '港', '欧'] {
        n = n.strip_suffix(currency).unwrap_or(n);
    }
    let digits = n.strip_suffix('万').unwrap_or(n);
    let arabic = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().next().is_some_and(|c| c.is_ascii_digit())
        && digits.matches('.').count() <= 1
        && !digits.ends_with('.');
    arabic || is_daxie_number(n)
}

fn date(v: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()
}

/// GB 32100 structure of a credit code on a business licence: registering authority 9 (market
/// regulation issues licences), organisation type 1, 2 or 3 (enterprise, individual business,
/// farmers' cooperative), six digits of region beginning with a province code (GB/T 2260).
/// The two check characters are [`super::check`]'s; a code of the wrong length or alphabet is
/// its `gb32100.format` rule's. `None` when the structure holds, else what breaks it.
pub fn credit_code_structure(code: &str) -> Option<&'static str> {
    let c: Vec<char> = code.chars().collect();
    if c.len() != 18 {
        return None;
    }
    if c[0] != '9' {
        return Some("第1位登记管理部门代码应为9（市场监督管理部门）");
    }
    if !matches!(c[1], '1' | '2' | '3') {
        return Some("第2位机构类别代码应为1、2或3（企业、个体工商户、农民专业合作社）");
    }
    let region: String = c[2..8].iter().collect();
    if !region.chars().all(|d| d.is_ascii_digit()) || !crate::ident::is_province_code(&region[..2])
    {
        return Some("第3–8位应为行政区划代码（6位数字，前两位为省级代码）");
    }
    None
}

/// Why one value breaks the form of its field, for the clerk; `None` when it holds. Fields
/// without a rule of form (sex, ethnicity and numbers, which [`super::check`] covers) pass.
pub fn doubt(document: DocumentType, name: &str, value: &str) -> Option<String> {
    let field = FieldName::parse(name)?;
    let label = field.label_on(document);
    let foreign = || {
        format!(
            "“{label}”识别结果含有证件上的其他文字（样本、仅供…使用、二维码说明等），请核对原件"
        )
    };
    match field {
        FieldName::Address => {
            if has_foreign_text(value) || value.contains(SENTENCE_MARKS) {
                return Some(format!("“{label}”识别结果含有非地址文字，请核对原件"));
            }
            if !begins_with_division(value) {
                return Some(format!(
                    "“{label}”识别结果不是以省、市、县（区）等行政区划开头，可能缺字或混入其他文字，请核对原件"
                ));
            }
        }
        // A person: the licence's legal representative or operator, the card's holder (a
        // licence's 名称 is an organisation's).
        FieldName::LegalRepresentative | FieldName::Name
            if (field == FieldName::LegalRepresentative
                || document != DocumentType::BusinessLicense)
                && !is_person_name(value) =>
        {
            return Some(format!(
                "“{label}”应为2至6个汉字的姓名（少数民族姓名可含“·”），识别结果不符，请核对原件"
            ));
        }
        FieldName::Name | FieldName::Type | FieldName::RegistrationAuthority => {
            if has_foreign_text(value) {
                return Some(foreign());
            }
            if starts_with_stroke(value) {
                return Some(format!(
                    "“{label}”开头有多余的笔画（可能是边框线条），请核对原件"
                ));
            }
        }
        FieldName::IssuingAuthority => {
            if has_foreign_text(value) {
                return Some(foreign());
            }
            if !value.ends_with('局') || starts_with_stroke(value) {
                return Some(format!(
                    "“{label}”应为公安机关的名称（以“局”结尾），识别结果可能不完整，请核对原件"
                ));
            }
        }
        FieldName::BusinessScope => {
            if has_foreign_text(value) {
                return Some(foreign());
            }
            // Scopes in the registration catalogue's wording begin 一般项目：… (then 许可项目：…).
            if starts_with_stroke(value) && !value.starts_with("一般项目") {
                return Some(format!(
                    "“{label}”开头有多余的笔画（可能是边框线条），请核对原件"
                ));
            }
            // A scope is written as sentences: it ends with 。 or the closing bracket of its
            // last clause (（依法须经批准的项目…）). Anything else was cut or ran on.
            if !value.ends_with(['。', '）', ')']) {
                return Some(format!(
                    "“{label}”识别结果不完整或混入其他文字（未以句号结束），请核对原件"
                ));
            }
            // The catalogue names what is sold or served (食品销售, 餐饮服务): a scope of fewer
            // than four characters is the end of one whose first lines were lost, under
            // handwriting across them most often (零售。 left of 烟草制品零售。).
            if value.chars().filter(|c| super::field::is_cjk(*c)).count() < 4 {
                return Some(format!(
                    "“{label}”识别结果过短，可能只识别出末尾部分，请核对原件"
                ));
            }
        }
        FieldName::RegisteredCapital if !is_capital(value) => {
            return Some(format!(
                "“{label}”不是规范的金额写法（如“壹佰万元整”），可能混入其他文字或缺字，请核对原件"
            ));
        }
        FieldName::ValidTo if value == LONG_TERM => {}
        f if f.is_date() && date(value).is_none() => {
            return Some(format!("“{label}”不是有效的公历日期，请核对原件"));
        }
        FieldName::BusinessTerm => {
            let ok = value == LONG_TERM
                || value.split_once('至').is_some_and(|(from, to)| {
                    date(from).is_some() && (to == LONG_TERM || date(to).is_some())
                });
            if !ok {
                return Some(format!(
                    "“{label}”应为“起始日期至截止日期”或“长期”，识别结果不完整，请核对原件"
                ));
            }
        }
        FieldName::CreditCode => {
            if document == DocumentType::BusinessLicense
                && let Some(why) = credit_code_structure(value)
            {
                return Some(format!("“{label}”{why}，请核对原件"));
            }
        }
        _ => {}
    }
    None
}

/// Dates that must come in order: a card's validity starts before it ends, a licence's term
/// starts before it ends.
fn order_doubts(fields: &BTreeMap<String, Field>) -> Vec<String> {
    let get = |k: &str| fields.get(k).map(|f| f.value.expose());
    let mut out = Vec::new();
    if let (Some(from), Some(to)) = (
        get("valid_from").and_then(date),
        get("valid_to").and_then(date),
    ) && from >= to
    {
        out.push("有效期限的起始日不早于截止日，日期可能识别有误，请核对原件".to_owned());
    }
    if let Some((from, to)) = get("business_term").and_then(|t| t.split_once('至'))
        && let (Some(from), Some(to)) = (date(from), date(to))
        && from >= to
    {
        out.push("营业期限的起始日不早于截止日，日期可能识别有误，请核对原件".to_owned());
    }
    out
}

/// Every doubt about the fields' form, field by field, then their order.
pub fn doubts(document: DocumentType, fields: &BTreeMap<String, Field>) -> Vec<String> {
    let mut out: Vec<String> = fields
        .iter()
        .filter_map(|(name, f)| doubt(document, name, f.value.expose()))
        .collect();
    out.extend(order_doubts(fields));
    out
}

#[cfg(test)]
mod tests {
    use super::super::field::FieldValue;
    use super::*;

    const LICENCE: DocumentType = DocumentType::BusinessLicense;
    const FRONT: DocumentType = DocumentType::IdCardFront;

    // DOMAIN.md "The business licence": 注册资本 in 大写 with 万元/元; a border stroke read as 一
    // before it (issue 13: 一捌佰万元整) is no numeral.
    #[test]
    fn capital_amounts() {
        for ok in [
            "壹佰万元整",
            "人民币伍拾万元整",
            "壹仟贰佰叁拾肆万伍仟元整",
            "壹佰万零伍仟元",
            "拾万元整",
            "壹亿零伍佰万元整",
            "壹佰万美元",
            "100万元人民币",
            "50.5万元",
        ] {
            assert!(is_capital(ok), "{ok}");
        }
        for bad in [
            "一捌佰万元整",
            "捌佰万",
            "捌佰万元整样本",
            "佰万元",
            "壹壹万元",
            "壹佰零零万元",
            "壹佰零万元",
            "万元整",
            "壹佰万元整仅供",
            "",
        ] {
            assert!(!is_capital(bad), "{bad}");
        }
    }

    // DOMAIN.md: addresses begin with an administrative division; the overprint (样本, 仅供…
    // 使用，他用无效) and the QR caption are not address text (issue 13: 示例市临江区样本), nor
    // is a sentence's punctuation (the ，of 使用，他用无效 read into the line).
    #[test]
    fn addresses() {
        for ok in [
            "示例市临江区解放路88号一层",
            "新疆维吾尔自治区乌鲁木齐市天山区",
            "示例省示例县城关镇",
            "内蒙古自治区锡林郭勒盟",
            "示例市临江区解放路88号3-2-101室（集中办公区）",
        ] {
            assert_eq!(doubt(LICENCE, "address", ok), None, "{ok}");
        }
        for bad in [
            "示例市临江区样本",
            "示例市临江区新华街38仅供办理",
            "一示例市临江区解放路",
            "解放路88号",
            "88号示例市",
            "示例市临江区扫描二维码登录",
            "示例省示例市新华区河滨用，降旁建栋3单元1903室",
            "示例省示例县石桥村10组]，",
        ] {
            assert!(doubt(LICENCE, "address", bad).is_some(), "{bad}");
        }
        let why = doubt(LICENCE, "address", "示例市临江区样本").unwrap();
        assert_eq!(why, "“住所”识别结果含有非地址文字，请核对原件");
        assert!(
            doubt(FRONT, "address", "解放路")
                .unwrap()
                .starts_with("“住址”")
        );
    }

    // DOMAIN.md "The resident identity card" (姓名), "The business licence" (法定代表人/经营者).
    #[test]
    fn person_names() {
        for ok in ["王大明", "欧阳小燕", "阿卜杜热合曼·买买提明"] {
            assert!(is_person_name(ok), "{ok}");
        }
        for bad in [
            "王",
            "王大明注册资本壹佰",
            "一王大明",
            "·王",
            "王··明",
            "Wang",
            "",
        ] {
            assert!(!is_person_name(bad), "{bad}");
        }
        assert!(doubt(FRONT, "name", "王").is_some());
        // A licence's 名称 is an organisation's, not a person's.
        assert_eq!(doubt(LICENCE, "name", "示例市小石头餐饮有限公司"), None);
        assert!(doubt(LICENCE, "name", "示例市小石头餐饮有限公司样本").is_some());
    }

    // Dates are real calendar dates; 营业期限 is FROM至TO, FROM至长期 or 长期, in order.
    #[test]
    fn dates_and_terms() {
        assert_eq!(doubt(LICENCE, "established_date", "2015-03-01"), None);
        assert!(doubt(LICENCE, "established_date", "2015-02-30").is_some());
        assert!(doubt(LICENCE, "issue_date", "2015年3月1日").is_some());
        assert_eq!(doubt(DocumentType::IdCardBack, "valid_to", "长期"), None);
        assert!(doubt(DocumentType::IdCardBack, "valid_to", "长").is_some());
        for ok in ["长期", "2015-03-01至长期", "2015-03-01至2035-02-28"] {
            assert_eq!(doubt(LICENCE, "business_term", ok), None, "{ok}");
        }
        assert!(doubt(LICENCE, "business_term", "2015-03-01").is_some());
        let field = |v: &str| Field {
            value: FieldValue::public(v),
            confidence: 1.0,
            quad: [[0.0; 2]; 4],
        };
        let fields: BTreeMap<String, Field> = [
            ("valid_from".to_owned(), field("2020-05-06")),
            ("valid_to".to_owned(), field("2010-05-06")),
            ("business_term".to_owned(), field("2015-03-01至2015-03-01")),
        ]
        .into();
        let d = doubts(DocumentType::IdCardBack, &fields);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("有效期限") && d[1].starts_with("营业期限"));
    }

    // DOMAIN.md "Identifiers" (GB 32100): authority 9 issues licences, type 1/2/3, region digits
    // beginning with a province code.
    #[test]
    fn credit_code_positions() {
        assert_eq!(credit_code_structure("91350100MA000100Y4"), None);
        assert_eq!(credit_code_structure("92350100MA000100Y4"), None);
        assert!(
            credit_code_structure("51350100MA000100Y4")
                .unwrap()
                .contains("第1位")
        );
        assert!(
            credit_code_structure("94350100MA000100Y4")
                .unwrap()
                .contains("第2位")
        );
        assert!(
            credit_code_structure("9199A100MA000100Y4")
                .unwrap()
                .contains("第3–8位")
        );
        assert!(
            credit_code_structure("91990100MA000100Y4")
                .unwrap()
                .contains("第3–8位")
        );
        assert!(doubt(LICENCE, "credit_code", "51350100MA000100Y4").is_some());
        // The card has no credit code; other documents' codes are not a licence's.
        assert_eq!(doubt(FRONT, "credit_code", "51350100MA000100Y4"), None);
    }

    #[test]
    fn authorities_and_scopes() {
        let back = DocumentType::IdCardBack;
        assert_eq!(
            doubt(back, "issuing_authority", "示例市公安局临江分局"),
            None
        );
        assert!(doubt(back, "issuing_authority", "示例市公安局临江分").is_some());
        assert!(doubt(LICENCE, "business_scope", "一餐饮服务。").is_some());
        assert!(doubt(LICENCE, "business_scope", "餐饮服务。了解更多登记").is_some());
        assert_eq!(
            doubt(LICENCE, "business_scope", "餐饮服务；食品销售。"),
            None
        );
        assert_eq!(
            doubt(LICENCE, "business_scope", "一般项目：餐饮服务。"),
            None
        );
        assert_eq!(
            doubt(
                LICENCE,
                "business_scope",
                "餐饮服务（依法须经批准的项目除外）"
            ),
            None
        );
        // Cut (售 alone, issue 13's 经营范围 cut) or run into the border's ornament; only
        // its end read, its first lines lost under handwriting (a turned scan of seed 7160 gave
        // 售。 for 餐饮服务；食品销售；预包装食品零售。 and passed).
        for bad in [
            "售",
            "售。",
            "零售。",
            "服务。",
            "餐饮服务；食品销售；预包装食品",
            "家用电器销售。000000",
        ] {
            assert!(doubt(LICENCE, "business_scope", bad).is_some(), "{bad}");
        }
        assert!(doubt(LICENCE, "address", "示例市假供办理不动产登记使用").is_some());
    }
}
