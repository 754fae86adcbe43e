//! Consistency checks on extracted fields, each a named rule resting on a law or a standard
//! (DOMAIN.md, "Identifiers", "The resident identity card", "The business licence").
//!
//! A check runs only when the fields it needs were read; a missing field is the verdict's
//! business (it asks for review), not a failed check. Details are in Chinese for the clerk and
//! never quote personal values (names, numbers, dates of birth).

use super::card::{ETHNIC_GROUPS, LONG_TERM};
use super::field::Field;
use crate::ident::{CreditCode, CreditCodeError, IdNumber, IdNumberError, id_check_character};
use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub type Fields = BTreeMap<String, Field>;

/// The outcome of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckResult {
    /// Stable rule name, e.g. `gb11643.check_character`.
    pub rule: String,
    pub passed: bool,
    /// What was found, in Chinese, ending with the rule's basis.
    pub detail: String,
    /// The check failed, but one common recognition slip (OCR-B `1` read as `7`, …) would
    /// explain it: a person must look, and the document is not rejected on this alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub misread_possible: bool,
}

fn result(rule: &str, passed: bool, finding: impl AsRef<str>, basis: &str) -> CheckResult {
    CheckResult {
        misread_possible: false,
        rule: rule.to_owned(),
        passed,
        detail: format!("{}（依据：{basis}）", finding.as_ref()),
    }
}

const GB11643: &str = "GB 11643-1999《公民身份号码》";
const GB32100: &str = "GB 32100-2015《法人和其他组织统一社会信用代码编码规则》";
const GB11714: &str = "GB 11714-1997《全国组织机构代码编制规则》";
const ID_CARD_LAW_5: &str = "《中华人民共和国居民身份证法》第五条";

fn value<'a>(f: &'a Fields, k: &str) -> Option<&'a str> {
    f.get(k).map(|f| f.value.expose())
}

fn date(f: &Fields, k: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(value(f, k)?, "%Y-%m-%d").ok()
}

/// Full years from `from` to `to`.
pub fn age_at(birth: NaiveDate, on: NaiveDate) -> i32 {
    let mut age = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

/// The validity term the law gives a card issued at `age` (居民身份证法 第五条): under 16 → 5
/// years; 16–25 → 10; 26–45 → 20; 46 and over → long-term (`None`).
pub fn legal_term_years(age: i32) -> Option<u32> {
    match age {
        ..16 => Some(5),
        16..=25 => Some(10),
        26..=45 => Some(20),
        _ => None,
    }
}

/// The term a card states: `Some(None)` for 长期, `Some(Some(n))` when the end date is the
/// start date plus n years (5, 10 or 20; a start on 29 February ends on 28 February), `None`
/// for any other length.
fn stated_term(from: NaiveDate, to: &str) -> Option<Option<u32>> {
    if to == LONG_TERM {
        return Some(None);
    }
    let to = NaiveDate::parse_from_str(to, "%Y-%m-%d").ok()?;
    [5u32, 10, 20]
        .into_iter()
        .find(|&n| from.checked_add_months(Months::new(12 * n)) == Some(to))
        .map(Some)
}

fn term_label(t: Option<u32>) -> String {
    match t {
        Some(n) => format!("{n}年"),
        None => LONG_TERM.to_owned(),
    }
}

/// Checks on an identity card: the number (GB 11643), the front against the number, the back's
/// validity (居民身份证法 第五条), and the two sides against each other when both are given.
pub fn id_card(
    front: Option<&Fields>,
    back: Option<&Fields>,
    today: NaiveDate,
) -> Vec<CheckResult> {
    let mut out = Vec::new();
    let mut birth = None;
    if let Some(f) = front {
        birth = date(f, "birth_date");
        if let Some(n) = value(f, "id_number") {
            out.extend(id_number(f, n, today));
        }
        if let Some(e) = value(f, "ethnicity") {
            let ok = ETHNIC_GROUPS.contains(&e);
            out.push(result(
                "id_card.ethnicity",
                ok,
                if ok {
                    "民族是国家认定的56个民族之一"
                } else {
                    "民族不在国家认定的56个民族之中"
                },
                "国家民族事务委员会认定的56个民族；DOMAIN.md“居民身份证”",
            ));
        }
        // The number's birth date stands in when the printed one was not read.
        if birth.is_none() {
            birth = value(f, "id_number")
                .and_then(|n| IdNumber::parse_at(n, today).ok())
                .map(|n| n.birth_date());
        }
    }
    if let Some(b) = back {
        let from = date(b, "valid_from");
        let to = value(b, "valid_to");
        if let Some(from) = from {
            out.push(result(
                "id_card.issue_date_not_future",
                from <= today,
                if from <= today {
                    "有效期起始日不晚于今天"
                } else {
                    "有效期起始日晚于今天"
                },
                ID_CARD_LAW_5,
            ));
        }
        if let Some(to) = to {
            let ended = match NaiveDate::parse_from_str(to, "%Y-%m-%d") {
                Ok(end) => end < today,
                Err(_) => to != LONG_TERM,
            };
            out.push(result(
                "id_card.not_expired",
                !ended,
                if to == LONG_TERM {
                    "有效期限为长期".to_owned()
                } else if ended {
                    "证件已过有效期，需换领".to_owned()
                } else {
                    "证件在有效期内".to_owned()
                },
                ID_CARD_LAW_5,
            ));
        }
        if let (Some(from), Some(to)) = (from, to) {
            let stated = stated_term(from, to);
            match (birth, stated) {
                (_, None) => out.push(result(
                    "id_card.validity_term",
                    false,
                    "有效期长度不是法定的5年、10年、20年或长期",
                    ID_CARD_LAW_5,
                )),
                // A legal length, but whether it is the holder's depends on the age at issue,
                // printed on the front: the check did not run, and saying it passed would
                // overclaim (the analysis sends such a back to review, see `FRONT_MISSING`).
                (None, Some(_)) => {}
                (Some(birth), Some(t)) => {
                    let age = age_at(birth, from);
                    let legal = legal_term_years(age);
                    out.push(result(
                        "id_card.validity_term",
                        legal == t,
                        if legal == t {
                            format!("有效期长度{}与签发时年龄（{}岁）相符", term_label(t), age)
                        } else {
                            format!(
                                "签发时年龄为{}岁，法定有效期应为{}，证件为{}；人像面与国徽面可能不是同一张证件",
                                age,
                                term_label(legal),
                                term_label(t)
                            )
                        },
                        ID_CARD_LAW_5,
                    ));
                }
            }
        }
        if let (Some(birth), Some(from), true) = (birth, from, front.is_some()) {
            out.push(result(
                "id_card.sides_match",
                from > birth,
                if from > birth {
                    "签发日期在出生日期之后"
                } else {
                    "签发日期不在出生日期之后：人像面与国徽面不是同一张证件"
                },
                "DOMAIN.md“居民身份证”：正反面一致",
            ));
        }
    }
    out
}

/// Characters the recogniser confuses in the OCR-B digits cards print, taken for the digits of
/// a licence's credit code too.
const CONFUSABLE: &[(char, char)] = &[('1', '7'), ('0', '8'), ('3', '8'), ('5', '6'), ('6', '8')];

/// The fields a consistency rule reads. The number rules (`gb11643.*`, `gb32100.*`) are left
/// out: their own look-alike reading ([`one_slip_from_valid`]) decides whether a misread
/// explains them.
fn fields_read(rule: &str) -> &'static [&'static str] {
    match rule {
        "id_card.ethnicity" => &["ethnicity"],
        "id_card.issue_date_not_future" => &["valid_from"],
        "id_card.not_expired" => &["valid_to"],
        "id_card.validity_term" => &["birth_date", "valid_from", "valid_to"],
        "id_card.sides_match" => &["birth_date", "valid_from"],
        "id_card.birth_date_matches_number" => &["birth_date"],
        "id_card.sex_matches_number" => &["sex"],
        "licence.type_matches_code" => &["type"],
        "licence.dates_not_future" => &["established_date", "issue_date", "business_term"],
        "licence.term_not_ended" => &["business_term"],
        _ => &[],
    }
}

/// Whether a read value is doubtful: below the confidence floor, or breaking the form of its
/// field.
fn doubtful(document: super::DocumentType, name: &str, f: &Field, min_confidence: f32) -> bool {
    f.confidence < min_confidence
        || super::grammar::doubt(document, name, f.value.expose()).is_some()
}

/// A failed consistency check that rests on a doubtful read proves nothing about the document:
/// the misread is the likelier cause (a 营业期限 cut to its end date looks like a start in the
/// future, 回 read as 口 like an ethnicity outside the 56). Such a check is marked
/// `misread_possible`, so the verdict is `review` with the reason, never `fail` on a reading
/// slip and never `pass` (DOMAIN.md: doubtful cases go to a person).
pub fn doubt_unsure_reads(
    document: super::DocumentType,
    checks: &mut [CheckResult],
    fields: &Fields,
    min_confidence: f32,
) {
    for c in checks
        .iter_mut()
        .filter(|c| !c.passed && !c.misread_possible)
    {
        let unsure: Vec<&str> = fields_read(&c.rule)
            .iter()
            .filter(|n| {
                fields
                    .get(**n)
                    .is_some_and(|f| doubtful(document, n, f, min_confidence))
            })
            .map(|n| super::verdict::field_label(n))
            .collect();
        // A single ideograph outside the 56 ethnic groups, or a type one character from
        // 个体工商户: what one recognition slip gives, however confident.
        let slip = match c.rule.as_str() {
            "id_card.ethnicity" => {
                value(fields, "ethnicity").is_some_and(|e| e.chars().count() == 1)
            }
            "licence.type_matches_code" => value(fields, "type").is_some_and(|t| {
                t.chars().count() == 5
                    && t.chars()
                        .zip("个体工商户".chars())
                        .filter(|(a, b)| a != b)
                        .count()
                        == 1
            }),
            _ => false,
        };
        if !unsure.is_empty() {
            c.misread_possible = true;
            c.detail = format!(
                "{}；所依据的“{}”识别把握不足，可能是识别错误",
                c.detail,
                unsure.join("”“")
            );
        } else if slip {
            c.misread_possible = true;
            c.detail = format!("{}；与规定值只差一个字，可能是识别错误", c.detail);
        }
    }
}

/// Whether replacing one character by its look-alike ([`CONFUSABLE`]) makes `n` pass `valid`.
fn one_slip_from_valid(n: &str, valid: impl Fn(&str) -> bool) -> bool {
    let chars: Vec<char> = n.chars().collect();
    (0..chars.len()).any(|i| {
        CONFUSABLE.iter().any(|&(a, b)| {
            let other = if chars[i] == a {
                b
            } else if chars[i] == b {
                a
            } else {
                return false;
            };
            let mut c = chars.clone();
            c[i] = other;
            valid(&c.iter().collect::<String>())
        })
    })
}

/// GB 11643 rules on the number, then the printed birth date and sex against it.
fn id_number(f: &Fields, n: &str, today: NaiveDate) -> Vec<CheckResult> {
    let mut out = Vec::new();
    let parsed = IdNumber::parse_at(n, today);
    if let Err(IdNumberError::Length(_) | IdNumberError::Alphabet) = parsed {
        out.push(result(
            "gb11643.format",
            false,
            "公民身份号码应为17位数字加1位数字或X",
            GB11643,
        ));
        return out;
    }
    out.push(result("gb11643.format", true, "号码为18位", GB11643));
    let valid = |n: &str| id_check_character(&n[..17]) == n[17..].chars().next();
    let ok = valid(n);
    let misread = !ok && one_slip_from_valid(n, valid);
    let mut check = result(
        "gb11643.check_character",
        ok,
        if ok {
            "校验码正确"
        } else if misread {
            "校验码不符，但改正一个易混字符（如 1 与 7）即可相符，可能是识别有误，请人工核对原件"
        } else {
            "校验码错误，号码可能识别有误或不真实"
        },
        &format!("{GB11643} ISO 7064 MOD 11-2"),
    );
    check.misread_possible = misread;
    out.push(check);
    let province_ok = !matches!(parsed, Err(IdNumberError::Province(_)));
    out.push(result(
        "gb11643.region_code",
        province_ok,
        if province_ok {
            "行政区划代码的省级部分存在"
        } else {
            "行政区划代码的省级部分不存在"
        },
        &format!("{GB11643}、GB/T 2260"),
    ));
    let number_birth = NaiveDate::parse_from_str(&n[6..14], "%Y%m%d")
        .ok()
        .filter(|d| d.year() >= 1900);
    let birth_ok = number_birth.is_some_and(|d| d <= today);
    out.push(result(
        "gb11643.birth_date",
        birth_ok,
        if birth_ok {
            "号码中的出生日期有效"
        } else {
            "号码中的出生日期无效或晚于今天"
        },
        GB11643,
    ));
    if let (Some(printed), Some(nb)) = (date(f, "birth_date"), number_birth) {
        let ok = printed == nb;
        out.push(result(
            "id_card.birth_date_matches_number",
            ok,
            if ok {
                "印刷的出生日期与号码第7–14位一致"
            } else {
                "印刷的出生日期与号码第7–14位不一致"
            },
            &format!("{GB11643}；DOMAIN.md“居民身份证”"),
        ));
    }
    if let Some(sex) = value(f, "sex") {
        let odd = (n.as_bytes()[16] - b'0') % 2 == 1;
        let number_sex = if odd { "男" } else { "女" };
        let ok = sex == number_sex;
        out.push(result(
            "id_card.sex_matches_number",
            ok,
            if ok {
                "印刷的性别与号码第17位的奇偶一致"
            } else {
                "印刷的性别与号码第17位的奇偶（奇数为男，偶数为女）不一致"
            },
            &format!("{GB11643} 顺序码"),
        ));
    }
    out
}

/// Checks on a business licence: the credit code's two check characters (GB 32100, GB 11714),
/// type against the code's organisation type, dates not in the future, term not ended.
pub fn licence(f: &Fields, today: NaiveDate) -> Vec<CheckResult> {
    let mut out = Vec::new();
    if let Some(code) = value(f, "credit_code") {
        let parsed = CreditCode::parse(code);
        match &parsed {
            Err(CreditCodeError::Length(_) | CreditCodeError::Alphabet(_)) => out.push(result(
                "gb32100.format",
                false,
                "统一社会信用代码应为18位数字或大写字母（不含I、O、Z、S、V）",
                GB32100,
            )),
            _ => {
                out.push(result(
                    "gb32100.format",
                    true,
                    "代码为18位且字符合法",
                    GB32100,
                ));
                // As for an identity number: a wrong check character that one look-alike
                // slip explains may be the reader's, not the print's.
                let misread =
                    parsed.is_err() && one_slip_from_valid(code, |c| CreditCode::parse(c).is_ok());
                let slip =
                    "，但改正一个易混字符（如 1 与 7）即可相符，可能是识别有误，请人工核对原件";
                let org_ok = !matches!(parsed, Err(CreditCodeError::OrganisationCheck { .. }));
                let mut org = result(
                    "gb32100.organisation_check",
                    org_ok,
                    &if org_ok {
                        "组织机构代码（第9–17位）校验码正确".to_string()
                    } else if misread {
                        format!("组织机构代码（第9–17位）校验码不符{slip}")
                    } else {
                        "组织机构代码（第9–17位）校验码错误".to_string()
                    },
                    GB11714,
                );
                org.misread_possible = !org_ok && misread;
                out.push(org);
                let ok = CreditCode::check_characters(&code[..17]) == code[17..].chars().next();
                let mut check = result(
                    "gb32100.check_character",
                    ok,
                    &if ok {
                        "第18位校验码正确".to_string()
                    } else if misread {
                        format!("第18位校验码不符{slip}")
                    } else {
                        "第18位校验码错误，代码可能识别有误或不真实".to_string()
                    },
                    GB32100,
                );
                check.misread_possible = !ok && misread;
                out.push(check);
            }
        }
        if let Some(kind) = value(f, "type") {
            let individual_code = code.starts_with("92");
            let individual_type = kind.contains("个体工商户");
            let ok = individual_code == individual_type;
            out.push(result(
                "licence.type_matches_code",
                ok,
                match (ok, individual_code) {
                    (true, _) => "类型与代码第1–2位（登记管理部门与机构类别）相符",
                    (false, true) => "代码第1–2位为92（个体工商户），但类型不是个体工商户",
                    (false, false) => "类型为个体工商户，但代码第1–2位不是92",
                },
                &format!("{GB32100} 附录（登记管理部门码9，机构类别码2 = 个体工商户）"),
            ));
        }
    }
    let mut dated = Vec::new();
    for (k, label) in [("established_date", "成立日期"), ("issue_date", "发照日期")] {
        if let Some(d) = date(f, k) {
            dated.push((label, d));
        }
    }
    let term = value(f, "business_term");
    if let Some(from) = term
        .and_then(|t| t.get(..10))
        .and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())
    {
        dated.push(("营业期限起始日", from));
    }
    if !dated.is_empty() {
        let future: Vec<&str> = dated
            .iter()
            .filter(|(_, d)| *d > today)
            .map(|(l, _)| *l)
            .collect();
        out.push(result(
            "licence.dates_not_future",
            future.is_empty(),
            if future.is_empty() {
                "日期均不晚于今天".to_owned()
            } else {
                format!("{}晚于今天", future.join("、"))
            },
            "DOMAIN.md“营业执照”：日期不得晚于当前日期",
        ));
    }
    if let Some(t) = term {
        let end = t
            .split('至')
            .nth(1)
            .unwrap_or(if t == LONG_TERM { LONG_TERM } else { "" });
        let ended = match NaiveDate::parse_from_str(end, "%Y-%m-%d") {
            Ok(e) => Some(e < today),
            Err(_) => (end == LONG_TERM).then_some(false),
        };
        if let Some(ended) = ended {
            out.push(result(
                "licence.term_not_ended",
                !ended,
                if end == LONG_TERM {
                    "营业期限为长期"
                } else if ended {
                    "营业期限已届满"
                } else {
                    "在营业期限内"
                },
                "《中华人民共和国市场主体登记管理条例》；DOMAIN.md“营业执照”",
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::field::FieldValue;
    use super::*;

    fn d(y: i32, m: u32, dd: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, dd).unwrap()
    }

    fn today() -> NaiveDate {
        d(2026, 6, 1)
    }

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_owned(),
                    Field {
                        value: FieldValue::personal(*v),
                        confidence: 0.99,
                        quad: [[0.0; 2]; 4],
                    },
                )
            })
            .collect()
    }

    /// The checks on `f` after [`doubt_unsure_reads`], as (rule, passed, misread_possible).
    fn doubted(document: super::super::DocumentType, f: &Fields) -> Vec<(String, bool, bool)> {
        let mut checks = match document {
            super::super::DocumentType::BusinessLicense => licence(f, today()),
            _ => id_card(Some(f), None, today()),
        };
        doubt_unsure_reads(document, &mut checks, f, 0.7);
        checks
            .into_iter()
            .map(|c| (c.rule, c.passed, c.misread_possible))
            .collect()
    }

    fn failed<'a>(
        checks: &'a [(String, bool, bool)],
        rule: &str,
    ) -> Option<&'a (String, bool, bool)> {
        checks.iter().find(|c| c.0 == rule && !c.1)
    }

    // The verdict rule "doubtful cases go to a person" (DOMAIN.md, and issue 13's "verdicts that
    // never overclaim"): a check that fails on a doubtful read is a reading question, not a
    // finding about the document.
    #[test]
    fn a_check_failing_on_a_doubtful_read_asks_a_person_instead_of_failing() {
        use super::super::DocumentType::{BusinessLicense, IdCardFront};
        // A 营业期限 cut to its end date, read at 0.52: its "start" lies in the future.
        let mut cut = fields(&[("business_term", "2048-11-14")]);
        cut.get_mut("business_term").unwrap().confidence = 0.52;
        let c = doubted(BusinessLicense, &cut);
        assert_eq!(
            failed(&c, "licence.dates_not_future").map(|c| c.2),
            Some(true)
        );
        // The same term read well-formed and sure, but ended: the document fails.
        let ended = fields(&[("business_term", "2000-01-01至2020-12-31")]);
        let c = doubted(BusinessLicense, &ended);
        assert_eq!(
            failed(&c, "licence.term_not_ended").map(|c| c.2),
            Some(false)
        );

        // 回 read as 口: one ideograph outside the 56 is a slip; a longer unknown name is not.
        let c = doubted(IdCardFront, &fields(&[("ethnicity", "口")]));
        assert_eq!(failed(&c, "id_card.ethnicity").map(|c| c.2), Some(true));
        let c = doubted(IdCardFront, &fields(&[("ethnicity", "火星人")]));
        assert_eq!(failed(&c, "id_card.ethnicity").map(|c| c.2), Some(false));

        // A 92 code with 个体江商户 (one character from 个体工商户) or with a company's type.
        let code = "92110105MA00000000";
        let slip = fields(&[("credit_code", code), ("type", "个体江商户")]);
        let c = doubted(BusinessLicense, &slip);
        assert_eq!(
            failed(&c, "licence.type_matches_code").map(|c| c.2),
            Some(true)
        );
        let company = fields(&[("credit_code", code), ("type", "有限责任公司")]);
        let c = doubted(BusinessLicense, &company);
        assert_eq!(
            failed(&c, "licence.type_matches_code").map(|c| c.2),
            Some(false)
        );
    }

    fn outcome(checks: &[CheckResult], rule: &str) -> Option<bool> {
        checks.iter().find(|c| c.rule == rule).map(|c| c.passed)
    }

    /// A valid number: region 110105, born 1990-03-07, sequence 003 (odd: male).
    fn number(body17: &str) -> String {
        format!("{body17}{}", id_check_character(body17).unwrap())
    }

    fn front(n: &str, sex: &str, birth: &str) -> Fields {
        fields(&[
            ("id_number", n),
            ("sex", sex),
            ("birth_date", birth),
            ("ethnicity", "汉"),
            ("name", "张三"),
        ])
    }

    // DOMAIN.md "Identifiers" / GB 11643: ISO 7064 MOD 11-2 check character; region; birth date.
    #[test]
    fn gb11643_number_rules() {
        let n = number("11010519900307003");
        let c = id_card(Some(&front(&n, "男", "1990-03-07")), None, today());
        for rule in [
            "gb11643.format",
            "gb11643.check_character",
            "gb11643.region_code",
            "gb11643.birth_date",
        ] {
            assert_eq!(outcome(&c, rule), Some(true), "{rule}: {c:?}");
        }
        let last = if n.ends_with('0') { "1" } else { "0" };
        let bad = format!("{}{last}", &n[..17]);
        let c = id_card(Some(&front(&bad, "男", "1990-03-07")), None, today());
        assert_eq!(outcome(&c, "gb11643.check_character"), Some(false));
        assert_eq!(outcome(&c, "gb11643.region_code"), Some(true));
        // The recogniser reads the OCR-B "1" as "7": one look-alike away from a valid number,
        // so a person must look rather than the citizen being turned away.
        let valid = number("11010519900307003");
        let slipped = valid.replacen('1', "7", 1);
        let c = id_card(Some(&front(&slipped, "男", "1990-03-07")), None, today());
        let check = c
            .iter()
            .find(|c| c.rule == "gb11643.check_character")
            .unwrap();
        assert!(!check.passed && check.misread_possible, "{check:?}");
        // Province 99 does not exist (GB/T 2260), even with a correct check character.
        let c = id_card(
            Some(&front(&number("99010519900307003"), "男", "1990-03-07")),
            None,
            today(),
        );
        assert_eq!(outcome(&c, "gb11643.region_code"), Some(false));
        assert_eq!(outcome(&c, "gb11643.check_character"), Some(true));
        // A birth date after today.
        let c = id_card(
            Some(&front(&number("11010520300307003"), "男", "2030-03-07")),
            None,
            today(),
        );
        assert_eq!(outcome(&c, "gb11643.birth_date"), Some(false));
        let c = id_card(
            Some(&front("1101051990030700", "男", "1990-03-07")),
            None,
            today(),
        );
        assert_eq!(outcome(&c, "gb11643.format"), Some(false));
        assert_eq!(c.len(), 2, "only the format and ethnicity: {c:?}");
        // Details never quote the number.
        assert!(c.iter().all(|c| !c.detail.contains("1101051990")));
    }

    // DOMAIN.md "The resident identity card": printed birth date = digits 7–14; printed sex =
    // parity of digit 17 (odd male, even female); 民族 one of the 56.
    #[test]
    fn front_against_number() {
        let n = number("11010519900307003");
        let c = id_card(Some(&front(&n, "男", "1990-03-07")), None, today());
        assert_eq!(outcome(&c, "id_card.birth_date_matches_number"), Some(true));
        assert_eq!(outcome(&c, "id_card.sex_matches_number"), Some(true));
        assert_eq!(outcome(&c, "id_card.ethnicity"), Some(true));
        let c = id_card(Some(&front(&n, "女", "1990-03-08")), None, today());
        assert_eq!(
            outcome(&c, "id_card.birth_date_matches_number"),
            Some(false)
        );
        assert_eq!(outcome(&c, "id_card.sex_matches_number"), Some(false));
        let mut f = front(&number("11010519900307004"), "女", "1990-03-07");
        assert_eq!(
            outcome(
                &id_card(Some(&f), None, today()),
                "id_card.sex_matches_number"
            ),
            Some(true)
        );
        f.insert(
            "ethnicity".into(),
            fields(&[("e", "火星")]).remove("e").unwrap(),
        );
        assert_eq!(
            outcome(&id_card(Some(&f), None, today()), "id_card.ethnicity"),
            Some(false)
        );
    }

    // 居民身份证法 第五条: under 16 → 5 years; 16–25 → 10; 26–45 → 20; 46 and over → 长期.
    #[test]
    fn validity_term_by_age_at_issue() {
        assert_eq!(legal_term_years(15), Some(5));
        assert_eq!(legal_term_years(16), Some(10));
        assert_eq!(legal_term_years(25), Some(10));
        assert_eq!(legal_term_years(26), Some(20));
        assert_eq!(legal_term_years(45), Some(20));
        assert_eq!(legal_term_years(46), None);
        assert_eq!(age_at(d(1990, 3, 7), d(2016, 3, 6)), 25);
        assert_eq!(age_at(d(1990, 3, 7), d(2016, 3, 7)), 26);
        let n = number("11010519900307003");
        let f = front(&n, "男", "1990-03-07");
        let case = |from: &str, to: &str| {
            let b = fields(&[
                ("valid_from", from),
                ("valid_to", to),
                ("issuing_authority", "示例市公安局"),
            ]);
            id_card(Some(&f), Some(&b), today())
        };
        // Issued at 26: 20 years.
        let c = case("2016-05-01", "2036-05-01");
        assert_eq!(outcome(&c, "id_card.validity_term"), Some(true), "{c:?}");
        assert_eq!(outcome(&c, "id_card.not_expired"), Some(true));
        assert_eq!(outcome(&c, "id_card.sides_match"), Some(true));
        // Issued at 26 with a 10-year term: the sides do not belong together.
        let c = case("2016-05-01", "2026-05-01");
        assert_eq!(outcome(&c, "id_card.validity_term"), Some(false));
        assert!(c.iter().any(|c| c.detail.contains("法定有效期应为20年")));
        // Issued at 20, 10 years, ended 2020: expired.
        let c = case("2010-05-01", "2020-05-01");
        assert_eq!(outcome(&c, "id_card.validity_term"), Some(true));
        assert_eq!(outcome(&c, "id_card.not_expired"), Some(false));
        // A length the law does not know.
        assert_eq!(
            outcome(&case("2016-05-01", "2031-05-01"), "id_card.validity_term"),
            Some(false)
        );
        // Issued before birth.
        assert_eq!(
            outcome(&case("1980-05-01", "2000-05-01"), "id_card.sides_match"),
            Some(false)
        );
        // 长期 at 46 and over.
        let old = front(&number("11010519600307003"), "男", "1960-03-07");
        let b = fields(&[("valid_from", "2010-05-01"), ("valid_to", "长期")]);
        let c = id_card(Some(&old), Some(&b), today());
        assert_eq!(outcome(&c, "id_card.validity_term"), Some(true), "{c:?}");
        assert_eq!(outcome(&c, "id_card.not_expired"), Some(true));
        // Back alone: a legal length is not claimed as checked (the age is on the front); an
        // illegal length still fails; a start in the future fails.
        let b = fields(&[("valid_from", "2027-01-01"), ("valid_to", "2037-01-01")]);
        let c = id_card(None, Some(&b), today());
        assert_eq!(outcome(&c, "id_card.validity_term"), None);
        let bad = fields(&[("valid_from", "2016-05-01"), ("valid_to", "2031-05-01")]);
        assert_eq!(
            outcome(&id_card(None, Some(&bad), today()), "id_card.validity_term"),
            Some(false)
        );
        assert_eq!(outcome(&c, "id_card.issue_date_not_future"), Some(false));
        assert_eq!(outcome(&c, "id_card.sides_match"), None);
        // 29 February plus 10 years ends on 28 February.
        assert_eq!(stated_term(d(2016, 2, 29), "2026-02-28"), Some(Some(10)));
    }

    fn code(first17: &str) -> String {
        format!(
            "{first17}{}",
            CreditCode::check_characters(first17).unwrap()
        )
    }

    // GB 32100-2015 final check character and GB 11714-1997 organisation check; type digit 2 ↔
    // 个体工商户; dates not in the future; 营业期限 not ended (DOMAIN.md "The business licence").
    #[test]
    fn licence_rules() {
        let good = code("91350100MA000100Y"); // organisation code MA000100-Y
        let org_ok = CreditCode::parse(&good).is_ok();
        let f = |code: &str, kind: &str, est: &str, term: &str| {
            let mut f = fields(&[
                ("credit_code", code),
                ("type", kind),
                ("established_date", est),
                ("business_term", term),
                ("issue_date", "2020-05-06"),
            ]);
            f.retain(|_, v| !v.value.expose().is_empty());
            licence(&f, today())
        };
        let c = f(
            &good,
            "有限责任公司（自然人投资或控股）",
            "2015-03-01",
            "2015-03-01至长期",
        );
        assert_eq!(outcome(&c, "gb32100.check_character"), Some(true));
        assert_eq!(outcome(&c, "gb32100.organisation_check"), Some(org_ok));
        assert_eq!(outcome(&c, "licence.type_matches_code"), Some(true));
        assert_eq!(outcome(&c, "licence.dates_not_future"), Some(true));
        assert_eq!(outcome(&c, "licence.term_not_ended"), Some(true));
        let last = if good.ends_with('0') { '1' } else { '0' };
        let bad = format!("{}{last}", &good[..17]);
        assert_eq!(
            outcome(
                &f(&bad, "个体工商户", "2015-03-01", "长期"),
                "gb32100.check_character"
            ),
            Some(false)
        );
        assert_eq!(
            outcome(
                &f(&bad, "个体工商户", "2015-03-01", "长期"),
                "licence.type_matches_code"
            ),
            Some(false)
        );
        let ind = code("92350100MA000100Y");
        assert_eq!(
            outcome(
                &f(&ind, "个体工商户", "2015-03-01", "长期"),
                "licence.type_matches_code"
            ),
            Some(true)
        );
        assert_eq!(
            outcome(
                &f(&ind, "有限责任公司", "2015-03-01", "长期"),
                "licence.type_matches_code"
            ),
            Some(false)
        );
        let c = f(
            &good,
            "股份有限公司",
            "2027-01-01",
            "2015-03-01至2025-02-28",
        );
        assert_eq!(outcome(&c, "licence.dates_not_future"), Some(false));
        assert!(c.iter().any(|c| c.detail.contains("成立日期晚于今天")));
        assert_eq!(outcome(&c, "licence.term_not_ended"), Some(false));
        assert_eq!(
            outcome(&f("9135O1", "个体工商户", "", ""), "gb32100.format"),
            Some(false)
        );
        // Real code, lettered organisation code (ident.rs tests): both checks pass.
        let c = f("91110108MA01G0FB09", "有限责任公司", "", "");
        assert_eq!(outcome(&c, "gb32100.organisation_check"), Some(true));
        assert_eq!(outcome(&c, "gb32100.check_character"), Some(true));
        // A wrong organisation check character with a recomputed final check.
        let c = f(&code("91110108MA01G0FB1"), "有限责任公司", "", "");
        assert_eq!(outcome(&c, "gb32100.organisation_check"), Some(false));
        assert_eq!(outcome(&c, "gb32100.check_character"), Some(true));
    }

    /// The checks' (rule, passed, misread_possible) for a licence with only `code`.
    fn code_checks(code: &str) -> Vec<(String, bool, bool)> {
        licence(&fields(&[("credit_code", code)]), today())
            .into_iter()
            .filter(|c| c.rule.starts_with("gb32100."))
            .map(|c| (c.rule, c.passed, c.misread_possible))
            .collect()
    }

    // Issue 13: a wrong check character that one look-alike slip explains may be the reader's
    // misreading, for a credit code (GB 32100-2015) as for an identity number: review, not
    // fail. A wrong character no slip explains still fails.
    #[test]
    fn a_credit_code_one_look_alike_from_valid_is_a_possible_misread() {
        let good = "91110108MA01G0FB09";
        assert!(code_checks(good).iter().all(|(_, passed, _)| *passed));
        // 1 read as 7 in the region code: only the final check fails.
        let slipped = code_checks("97110108MA01G0FB09");
        assert!(slipped.contains(&("gb32100.check_character".into(), false, true)));
        // The same slip inside the organisation code fails both checks, both a possible misread.
        let slipped = code_checks("91110108MA07G0FB09");
        let failed: Vec<_> = slipped.iter().filter(|(_, passed, _)| !passed).collect();
        assert_eq!(failed.len(), 2, "{slipped:?}");
        assert!(failed.iter().all(|(_, _, misread)| *misread), "{slipped:?}");
        // A final character no look-alike slip of any character repairs.
        let wrong = code_checks("91110108MA01G0FB0Q");
        assert!(wrong.contains(&("gb32100.check_character".into(), false, false)));
    }
}
