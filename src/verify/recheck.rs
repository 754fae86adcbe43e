//! Checks and verdict again after a person corrected fields on the clerk page.
//!
//! The rules are those of the reading ([`check::id_card`], [`check::licence`],
//! [`verdict::decide`]), run on the corrected fields as of the day of the correction; the image
//! warnings stay those of the reading (a correction does not change the photo). Three things
//! differ from a reading, and why:
//!
//! 1. **A human correction is at best `review`.** `pass` says that what the machine read from
//!    the image obeys every rule and was read confidently. A value typed by a person was not
//!    read from the image: nothing but that person vouches that it is what the document
//!    shows (and a check character is no proof: one number in eleven has a valid one by
//!    chance). So a corrected document whose checks all pass is `review`, with a reason naming
//!    the corrected fields, until a second person vouches for them: a supervisor who made
//!    none of the corrections confirms them (four eyes; `desk::review`'s `confirm`), and only
//!    then can it be `pass`. A new correction needs a new confirmation. A corrected value that
//!    breaks a rule is `fail` with the rule's reason, as on a reading, and cannot be confirmed.
//! 2. **A corrected field's recognition confidence no longer counts**: the person replaced the
//!    recogniser's doubt with their reading (the doubt is now the reason of point 1).
//! 3. **A check failure the recogniser could explain stays a human's business.** A number the
//!    reading corrected by its check character ([`super::correct`]), or one a single look-alike
//!    slip from valid, was reported as "a person must look" (`misread_possible`). As long as no
//!    person corrected that number, that result is kept, even though the number's check
//!    character now holds (it was used up choosing the reading). Once a person typed the
//!    number, a recognition slip no longer explains a failure: it fails.

use super::check::{self, CheckResult};
use super::classify::DocumentType;
use super::correct::Correction;
use super::field::Field;
use super::verdict::{self, Verdict, field_label};
use super::warning::Warning;
use chrono::NaiveDate;
use std::collections::{BTreeMap, BTreeSet};

/// A report's fields after corrections, with what the reading found beside them.
pub struct Corrected<'a> {
    pub document_type: DocumentType,
    /// Every field, corrected or as read.
    pub fields: &'a BTreeMap<String, Field>,
    /// The fields a person corrected (ever, not only the latest).
    pub edited: &'a BTreeSet<String>,
    /// Whether a card's back was read with its front (its fields are then expected).
    pub with_back: bool,
    /// The checks before this correction.
    pub checks: &'a [CheckResult],
    /// The reading's image warnings.
    pub warnings: &'a [Warning],
    /// A supervisor who made none of the corrections confirmed them since the last one.
    pub confirmed: bool,
}

/// The checks, verdict and reasons of corrected fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Rechecked {
    pub checks: Vec<CheckResult>,
    pub verdict: Verdict,
    pub reasons: Vec<String>,
}

/// The fields whose reading can be corrected by a check character, and so explained as a
/// recognition slip.
const CORRECTABLE: [&str; 2] = ["id_number", "credit_code"];

/// Runs the rules again on corrected fields as of `today` (see the module's text).
pub fn recheck(c: &Corrected<'_>, today: NaiveDate, min_confidence: f32) -> Rechecked {
    let back: Option<BTreeMap<String, Field>> =
        (c.document_type == DocumentType::IdCardFront && c.with_back).then(|| {
            c.fields
                .iter()
                .filter(|(k, _)| super::card::BACK_FIELDS.contains(&k.as_str()))
                .map(|(k, f)| (k.clone(), f.clone()))
                .collect()
        });
    let mut checks = match c.document_type {
        DocumentType::IdCardFront => check::id_card(Some(c.fields), back.as_ref(), today),
        DocumentType::IdCardBack => check::id_card(None, Some(c.fields), today),
        DocumentType::BusinessLicense => check::licence(c.fields, today),
        DocumentType::Unknown => Vec::new(),
    };
    for field in CORRECTABLE {
        let rule = Correction { field, changed: 0 }.rule();
        let Some(now) = checks.iter_mut().find(|k| k.rule == rule) else {
            continue;
        };
        if c.edited.contains(field) {
            if !now.passed && now.misread_possible {
                now.misread_possible = false;
                now.detail = format!(
                    "人工更正后的号码校验码仍不符，请对照原件重新核对{}",
                    basis(&now.detail)
                );
            }
        } else if let Some(before) = c
            .checks
            .iter()
            .find(|k| k.rule == rule && !k.passed && k.misread_possible)
        {
            *now = before.clone();
        }
    }

    let mut expected = super::expected_fields(c.document_type, c.fields);
    if back.is_some() {
        expected.extend(super::card::BACK_FIELDS);
    }
    let mut fields = c.fields.clone();
    for name in c.edited {
        if let Some(f) = fields.get_mut(name) {
            f.confidence = 1.0;
        }
    }
    let (mut verdict, mut reasons) = verdict::decide(
        c.document_type,
        &fields,
        &expected,
        &checks,
        c.warnings,
        min_confidence,
    );
    let corrected: Vec<String> = c
        .edited
        .iter()
        .filter(|n| c.fields.contains_key(*n))
        .map(|n| format!("“{}”", field_label(n)))
        .collect();
    if !corrected.is_empty() && c.confirmed {
        let reason = format!(
            "{}经人工更正，核对规则已按更正后的值重新运行；更正已经主管对照原件复核确认",
            corrected.join("、")
        );
        if verdict == Verdict::Pass {
            reasons = vec![reason];
        } else {
            reasons.push(reason);
        }
    } else if !corrected.is_empty() {
        let reason = format!(
            "{}经人工更正，核对规则已按更正后的值重新运行；更正的值不是从图像识别的，需人工对照原件复核",
            corrected.join("、")
        );
        if verdict == Verdict::Pass {
            verdict = Verdict::Review;
            reasons = vec![reason];
        } else {
            reasons.push(reason);
        }
    }
    Rechecked {
        checks,
        verdict,
        reasons,
    }
}

/// The `（依据：…）` ending of a check's detail.
fn basis(detail: &str) -> &str {
    detail.rfind("（依据：").map_or("", |i| &detail[i..])
}

#[cfg(test)]
mod tests {
    use super::super::field::FieldValue;
    use super::*;
    use crate::ident::id_check_character;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
    }

    fn number(body: &str) -> String {
        format!("{body}{}", id_check_character(body).unwrap())
    }

    fn card(id: &str, sex: &str) -> BTreeMap<String, Field> {
        [
            ("name", "张三丰"),
            ("sex", sex),
            ("ethnicity", "汉"),
            ("birth_date", "1990-03-07"),
            ("address", "示例市和平区解放路88号"),
            ("id_number", id),
            ("issuing_authority", "示例市公安局"),
            ("valid_from", "2016-05-01"),
            ("valid_to", "2036-05-01"),
        ]
        .into_iter()
        .map(|(k, v)| {
            (
                k.to_owned(),
                Field {
                    value: FieldValue::personal(v),
                    confidence: 0.95,
                    quad: [[0.0; 2]; 4],
                },
            )
        })
        .collect()
    }

    fn run(fields: &BTreeMap<String, Field>, edited: &[&str], before: &[CheckResult]) -> Rechecked {
        run_confirmed(fields, edited, before, false)
    }

    fn run_confirmed(
        fields: &BTreeMap<String, Field>,
        edited: &[&str],
        before: &[CheckResult],
        confirmed: bool,
    ) -> Rechecked {
        let edited: BTreeSet<String> = edited.iter().map(|s| s.to_string()).collect();
        recheck(
            &Corrected {
                document_type: DocumentType::IdCardFront,
                fields,
                edited: &edited,
                with_back: true,
                checks: before,
                warnings: &[],
                confirmed,
            },
            today(),
            verdict::MIN_CONFIDENCE,
        )
    }

    fn rule<'a>(r: &'a Rechecked, name: &str) -> &'a CheckResult {
        r.checks.iter().find(|c| c.rule == name).unwrap()
    }

    // GB 11643 check character, birth date and sex parity on the corrected number.
    #[test]
    fn a_corrected_number_is_checked_again_and_passes_only_to_review() {
        let good = number("11010519900307003");
        let unedited = run(&card(&good, "男"), &[], &[]);
        assert_eq!(unedited.verdict, Verdict::Pass, "{unedited:?}");

        let r = run(&card(&good, "男"), &["id_number"], &[]);
        assert!(r.checks.iter().all(|c| c.passed), "{r:?}");
        assert_eq!(r.verdict, Verdict::Review);
        assert_eq!(r.reasons.len(), 1);
        assert!(
            r.reasons[0].starts_with("“公民身份号码”经人工更正"),
            "{r:?}"
        );
        assert!(!r.reasons[0].contains(&good));
    }

    // Four eyes: a supervisor's confirmation lifts review, never a failed rule.
    #[test]
    fn a_confirmed_correction_passes_only_when_every_check_does() {
        let good = number("11010519900307003");
        let r = run_confirmed(&card(&good, "男"), &["id_number"], &[], true);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert_eq!(r.reasons.len(), 1);
        assert!(r.reasons[0].contains("更正已经主管对照原件复核确认"));
        let female = number("11010519900307004");
        let r = run_confirmed(&card(&female, "男"), &["id_number"], &[], true);
        assert_eq!(r.verdict, Verdict::Fail);
        let mut fields = card(&good, "男");
        fields.get_mut("name").unwrap().confidence = 0.3;
        let r = run_confirmed(&fields, &["id_number"], &[], true);
        assert_eq!(r.verdict, Verdict::Review, "the unconfirmed doubt stays");
    }

    #[test]
    fn a_correction_that_breaks_a_rule_fails_with_its_reason() {
        // Sequence 004 is even: a woman's number on a card printed 男.
        let female = number("11010519900307004");
        let r = run(&card(&female, "男"), &["id_number"], &[]);
        assert_eq!(r.verdict, Verdict::Fail);
        assert!(!rule(&r, "id_card.sex_matches_number").passed);
        assert!(r.reasons[0].starts_with("未通过核对：印刷的性别"), "{r:?}");
        assert!(r.reasons.last().unwrap().contains("经人工更正"));
        // Fixing the sex too: the rule holds again, review for the two corrections.
        let r = run(&card(&female, "女"), &["id_number", "sex"], &[]);
        assert_eq!(r.verdict, Verdict::Review, "{r:?}");
        assert!(r.reasons[0].contains("“公民身份号码”、“性别”"));
        // A birth date the number does not carry.
        let other_birth = number("11010519900308003");
        let r = run(&card(&other_birth, "男"), &["id_number"], &[]);
        assert!(!rule(&r, "id_card.birth_date_matches_number").passed);
        assert_eq!(r.verdict, Verdict::Fail);
    }

    // A typed number one look-alike from valid is a typing error, not a recognition slip.
    #[test]
    fn a_typed_number_with_a_wrong_check_character_fails() {
        let good = number("11010519900307003");
        let slipped: String = good
            .char_indices()
            .map(|(i, ch)| if i == 5 { '6' } else { ch })
            .collect();
        let as_read = run(&card(&slipped, "男"), &[], &[]);
        assert_eq!(as_read.verdict, Verdict::Review, "one slip from valid");
        let typed = run(&card(&slipped, "男"), &["id_number"], &as_read.checks);
        assert_eq!(typed.verdict, Verdict::Fail);
        let c = rule(&typed, "gb11643.check_character");
        assert!(!c.misread_possible && c.detail.starts_with("人工更正后的号码校验码仍不符"));
        assert!(c.detail.ends_with("ISO 7064 MOD 11-2）"), "{}", c.detail);
    }

    // correct.rs: a number corrected by its check character needs a person until one types it.
    #[test]
    fn a_number_the_reading_corrected_stays_doubtful_until_a_person_types_it() {
        let good = number("11010519900307003");
        let fields = card(&good, "男");
        let corrected = CheckResult {
            rule: "gb11643.check_character".into(),
            passed: false,
            detail: Correction {
                field: "id_number",
                changed: 1,
            }
            .detail(),
            misread_possible: true,
        };
        let r = run(&fields, &["name"], std::slice::from_ref(&corrected));
        assert_eq!(rule(&r, "gb11643.check_character"), &corrected);
        assert_eq!(r.verdict, Verdict::Review);
        assert!(r.reasons[0].starts_with("需人工核对：识别结果的校验码不符"));
        let r = run(&fields, &["name", "id_number"], &[corrected]);
        assert!(rule(&r, "gb11643.check_character").passed);
        assert_eq!(r.verdict, Verdict::Review);
    }

    #[test]
    fn a_corrected_field_no_longer_counts_as_doubtful() {
        let good = number("11010519900307003");
        let mut fields = card(&good, "男");
        fields.get_mut("address").unwrap().confidence = 0.3;
        let r = run(&fields, &[], &[]);
        assert!(r.reasons[0].contains("住址") && r.reasons[0].contains("0.30"));
        let r = run(&fields, &["address"], &[]);
        assert_eq!(r.reasons.len(), 1);
        assert!(r.reasons[0].starts_with("“住址/住所”经人工更正"));
    }
}
