//! The verdict a clerk acts on, with its reasons in Chinese.
//!
//! - `fail`: a check failed (the document or what was read from it breaks a rule).
//! - `review`: nothing failed, but a person must look: an image warning, a field not read, a
//!   field read with low confidence, a value that breaks its field's form
//!   ([`super::grammar`]), or a document of unknown kind.
//! - `pass`: every check passed, no warning, every expected field read above the confidence
//!   floor and every value in its field's form.
//!
//! `not_checked` entries (recapture, editing) do not stop a pass: they are standing
//! limitations, stated on every report, not findings.

use super::check::CheckResult;
use super::classify::DocumentType;
use super::field::Field;
use super::warning::Warning;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `pass`, `review` or `fail`; a report that does not say is for a person to look at.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    #[default]
    Review,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Review => "review",
            Verdict::Fail => "fail",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        [Verdict::Pass, Verdict::Review, Verdict::Fail]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// The lowest field confidence that passes without review (the field's lowest letter, digit
/// or ideograph confidence). Measured with `xiaoban eval-docs` on 32 specimen cases read by
/// PP-OCRv4: at 0.80, two correctly read licences photographed clean or at an angle went to
/// review (类型 at 0.57, low on a bracket; 营业期限 at 0.77). Brackets no longer count and the
/// floor is 0.70. How low misread characters score was not measured separately: a small
/// sample, to re-measure on real scans.
pub const MIN_CONFIDENCE: f32 = 0.70;

/// The Chinese name of a field, for reasons and pages ([`super::FieldName::label`]).
pub fn field_label(name: &str) -> &str {
    super::field_name::label_of(name)
}

/// Decides the verdict from everything the analysis found. `expected` lists the fields the
/// document should have.
pub fn decide(
    document_type: DocumentType,
    fields: &BTreeMap<String, Field>,
    expected: &[&str],
    checks: &[CheckResult],
    warnings: &[Warning],
    min_confidence: f32,
) -> (Verdict, Vec<String>) {
    let mut fail = Vec::new();
    let mut review = Vec::new();
    if document_type == DocumentType::Unknown {
        review.push("无法判断是哪种证件（身份证人像面、国徽面或营业执照），请人工核对".to_owned());
    }
    for c in checks.iter().filter(|c| !c.passed) {
        if c.misread_possible {
            review.push(format!("需人工核对：{}", c.detail));
        } else {
            fail.push(format!("未通过核对：{}", c.detail));
        }
    }
    for w in warnings.iter().filter(|w| w.is_finding()) {
        review.push(w.detail.clone());
    }
    for name in expected {
        match fields.get(*name) {
            None => review.push(format!("未识别出“{}”，请人工核对", field_label(name))),
            Some(f) if f.confidence < min_confidence => review.push(format!(
                "“{}”识别把握不足（置信度 {:.2}），请人工核对",
                field_label(name),
                f.confidence
            )),
            Some(_) => {}
        }
    }
    // A value that breaks its field's form (a polluted address, a cut term, a stray stroke
    // before an amount) is doubtful whatever its confidence: never a pass.
    review.extend(super::grammar::doubts(document_type, fields));
    let verdict = if !fail.is_empty() {
        Verdict::Fail
    } else if !review.is_empty() {
        Verdict::Review
    } else {
        Verdict::Pass
    };
    let mut reasons = fail;
    reasons.extend(review);
    if reasons.is_empty() {
        reasons.push("全部核对通过，图像无异常".to_owned());
    }
    (verdict, reasons)
}

#[cfg(test)]
mod tests {
    use super::super::field::FieldValue;
    use super::*;

    fn field(conf: f32) -> Field {
        Field {
            value: FieldValue::personal("王大明"),
            confidence: conf,
            quad: [[0.0; 2]; 4],
        }
    }

    fn check(passed: bool) -> CheckResult {
        CheckResult {
            rule: "gb11643.check_character".into(),
            passed,
            detail: "校验码错误".into(),
            misread_possible: false,
        }
    }

    fn warning(code: &str) -> Warning {
        Warning {
            code: code.into(),
            detail: format!("{code} 详情"),
        }
    }

    #[test]
    fn pass_review_fail() {
        let fields: BTreeMap<String, Field> = [
            ("name".to_owned(), field(0.95)),
            ("sex".to_owned(), field(0.99)),
        ]
        .into();
        let t = DocumentType::IdCardFront;
        let nc = warning("not_checked");
        let (v, r) = decide(
            t,
            &fields,
            &["name", "sex"],
            &[check(true)],
            std::slice::from_ref(&nc),
            MIN_CONFIDENCE,
        );
        assert_eq!(
            (v, r.as_slice()),
            (Verdict::Pass, &["全部核对通过，图像无异常".to_owned()][..])
        );
        // A warning: review, with the warning's detail as the reason.
        let (v, r) = decide(
            t,
            &fields,
            &["name"],
            &[check(true)],
            &[warning("blur"), nc.clone()],
            MIN_CONFIDENCE,
        );
        assert_eq!(v, Verdict::Review);
        assert_eq!(r, ["blur 详情"]);
        // A field missing or doubtful: review.
        let (v, r) = decide(t, &fields, &["name", "address"], &[], &[], MIN_CONFIDENCE);
        assert_eq!(v, Verdict::Review);
        assert!(r[0].contains("住址"));
        let (v, r) = decide(
            t,
            &[("name".to_owned(), field(0.5))].into(),
            &["name"],
            &[],
            &[],
            MIN_CONFIDENCE,
        );
        assert_eq!(v, Verdict::Review);
        assert!(r[0].contains("0.50"));
        // A failed check beats everything, and its reason comes first.
        let (v, r) = decide(
            t,
            &fields,
            &["name", "address"],
            &[check(false)],
            &[warning("glare")],
            MIN_CONFIDENCE,
        );
        assert_eq!(v, Verdict::Fail);
        assert!(r[0].starts_with("未通过核对：校验码错误"));
        assert_eq!(r.len(), 3);
        // A failure one recognition slip explains goes to a person, not to rejection.
        let slip = CheckResult {
            misread_possible: true,
            ..check(false)
        };
        let (v, r) = decide(t, &fields, &["name"], &[slip], &[], MIN_CONFIDENCE);
        assert_eq!(v, Verdict::Review);
        assert!(r[0].starts_with("需人工核对"));
        // A value breaking its field's form is doubtful however sure the reader was: the
        // address a photographed licence gave as 示例市临江区样本 (issue 13) is no pass.
        let licence = DocumentType::BusinessLicense;
        let mut polluted = fields.clone();
        polluted.insert(
            "address".to_owned(),
            Field {
                value: FieldValue::public("示例市临江区样本"),
                ..field(0.99)
            },
        );
        let (v, r) = decide(
            licence,
            &polluted,
            &["name", "address"],
            &[check(true)],
            &[],
            MIN_CONFIDENCE,
        );
        assert_eq!(v, Verdict::Review);
        assert_eq!(r, ["“住所”识别结果含有非地址文字，请核对原件"]);
        // Unknown documents are for a person to look at.
        let (v, _) = decide(
            DocumentType::Unknown,
            &BTreeMap::new(),
            &[],
            &[],
            &[],
            MIN_CONFIDENCE,
        );
        assert_eq!(v, Verdict::Review);
        assert_eq!(
            serde_json::to_string(&Verdict::Review).unwrap(),
            "\"review\""
        );
    }
}
