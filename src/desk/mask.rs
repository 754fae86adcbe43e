//! The masked outcome of a verification: what may be shown and kept without a reason to see
//! the person's data (DOMAIN.md: ID 1101**********123X, phone 138****5678, name 张*).
//!
//! A field is masked when its value is personal (`FieldValue::is_personal`: the extractor's
//! word, or for a stored report its name and document's, `FieldName::personal_on`); how is
//! the name's [`MaskKind`]. A pre-filled form's value is masked as the field its mapping takes
//! it from; a value whose mapping is gone is masked too. Every free text (check details,
//! warnings, reasons) has its numbers redacted.

use crate::privacy::redact;
use crate::verify::field_name::MaskKind;
use crate::verify::{FieldName, Forms, Report};

fn stars(n: usize) -> String {
    "*".repeat(n)
}

/// `value`, masked as a personal value of the kind `kind`. Numbers redaction knows (an
/// identity, mobile or bank card number) are masked as such wherever they appear.
pub fn mask_value(kind: MaskKind, value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    if n == 0 {
        return String::new();
    }
    let redacted = redact(value);
    if !redacted.found.is_empty() {
        return redacted.text;
    }
    match kind {
        // 张三 → 张*, 欧阳娜娜 → 欧***.
        MaskKind::PersonName => chars[..1].iter().collect::<String>() + &stars(n - 1),
        MaskKind::Address => {
            let keep = n.min(6).min(n.saturating_sub(1));
            chars[..keep].iter().collect::<String>() + "****"
        }
        // Dates of birth, numbers redaction does not know, anything else: the first third
        // kept, the rest starred.
        MaskKind::Other => {
            let keep = n / 3;
            chars[..keep].iter().collect::<String>() + &stars(n - keep)
        }
    }
}

/// How a field named `name` is masked (a name no document has: as anything else).
fn kind_of(name: &str) -> MaskKind {
    FieldName::parse(name).map_or(MaskKind::Other, FieldName::mask_kind)
}

/// A pre-filled value of `form`'s `form_field`, masked as the report's field it comes from:
/// shown when that field is not personal, masked by its kind when it is, masked when the
/// mapping or the field is gone.
pub fn mask_prefill_value(
    report: &Report,
    forms: &Forms,
    form: &str,
    form_field: &str,
    value: &str,
) -> String {
    let source = forms
        .forms
        .iter()
        .find(|f| f.name == form)
        .and_then(|f| f.fields.get(form_field))
        .map(|rule| rule.from.as_str());
    match source.and_then(|s| report.fields.get(s).map(|f| (s, f))) {
        Some((_, f)) if !f.value.is_personal() => value.to_string(),
        Some((name, _)) => mask_value(kind_of(name), value),
        None => mask_value(MaskKind::Other, value),
    }
}

/// The report with every personal field and pre-fill value masked and every free text
/// redacted: what is kept after the scans are deleted and what is shown by default.
pub fn masked_report(report: &Report, forms: &Forms) -> Report {
    let fields = report
        .fields
        .iter()
        .map(|(name, f)| {
            let mut f = f.clone();
            if f.value.is_personal() {
                f.value = f
                    .value
                    .with_text(mask_value(kind_of(name), f.value.expose()));
            }
            (name.clone(), f)
        })
        .collect();
    let prefill = report
        .prefill
        .iter()
        .map(|(form, values)| {
            let values = values
                .iter()
                .map(|(k, v)| (k.clone(), mask_prefill_value(report, forms, form, k, v)))
                .collect();
            (form.clone(), values)
        })
        .collect();
    let text = |s: &String| redact(s).text;
    let mut masked = report.clone();
    masked.fields = fields;
    masked.prefill = prefill;
    masked.reasons = report.reasons.iter().map(text).collect();
    for c in &mut masked.checks {
        c.detail = text(&c.detail);
    }
    for w in &mut masked.warnings {
        w.detail = text(&w.detail);
    }
    masked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{CheckResult, DocumentType, Field, FieldValue, Warning};
    use std::path::Path;

    const ID: &str = "11010519491231002X";

    fn forms() -> Forms {
        Forms::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("forms")).unwrap()
    }

    /// A report with nothing but its document type, read as an older stored one would be.
    fn empty(document_type: DocumentType) -> Report {
        serde_json::from_value(serde_json::json!({ "document_type": document_type })).unwrap()
    }

    fn field(value: FieldValue) -> Field {
        Field {
            value,
            confidence: 0.98,
            quad: [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
        }
    }

    #[test]
    fn personal_values_are_masked_by_their_kind() {
        assert_eq!(mask_value(MaskKind::PersonName, "张三"), "张*");
        assert_eq!(mask_value(MaskKind::PersonName, "欧阳娜娜"), "欧***");
        assert_eq!(mask_value(MaskKind::Other, ID), "1101**********002X");
        assert_eq!(mask_value(MaskKind::Other, "13812345678"), "138****5678");
        assert_eq!(
            mask_value(MaskKind::Address, "北京市东城区景山前街4号"),
            "北京市东城区****"
        );
        assert_eq!(mask_value(MaskKind::Other, "1949-12-31"), "194*******");
        assert_eq!(mask_value(MaskKind::Other, "男"), "*");
    }

    // DOMAIN.md "Personal information and security": masked display by default; each field
    // by its own flag, so a licence's public name is shown and its representative is not.
    #[test]
    fn the_masked_report_follows_each_field_s_flag_and_hides_the_person() {
        let mut card = empty(DocumentType::IdCardFront);
        card.fields = [
            ("name", field(FieldValue::personal("张三"))),
            ("id_number", field(FieldValue::personal(ID))),
            (
                "address",
                field(FieldValue::personal("北京市东城区景山前街4号")),
            ),
            (
                "issuing_authority",
                field(FieldValue::public("示例市公安局")),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        card.checks = vec![CheckResult {
            rule: "gb11643.check_character".into(),
            passed: true,
            detail: format!("{ID} 的出生日期一致"),
            misread_possible: false,
        }];
        card.warnings = vec![Warning {
            code: "glare".into(),
            detail: "反光".into(),
        }];
        card.reasons = vec![format!("号码 {ID} 校验通过")];
        card.prefill = [(
            "social-security-card".to_string(),
            [
                ("姓名", "张三"),
                ("公民身份号码", ID),
                ("户籍地址", "北京市东城区景山前街4号"),
                ("出生日期", "19491231"),
                ("证件签发机关", "示例市公安局"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        )]
        .into();
        let masked = masked_report(&card, &forms());
        let text = serde_json::to_string(&masked).unwrap();
        assert!(!text.contains(ID) && !text.contains("张三"), "{text}");
        assert_eq!(masked.fields["name"].value.expose(), "张*");
        assert_eq!(masked.fields["name"].confidence, 0.98);
        assert_eq!(
            masked.fields["issuing_authority"].value.expose(),
            "示例市公安局"
        );
        assert_eq!(masked.verdict, card.verdict);
        let form = &masked.prefill["social-security-card"];
        assert_eq!(form["姓名"], "张*");
        assert_eq!(form["公民身份号码"], "1101**********002X");
        assert_eq!(form["户籍地址"], "北京市东城区****");
        assert_eq!(masked.fields["address"].value.expose(), "北京市东城区****");
        assert_eq!(form["证件签发机关"], "示例市公安局");
        assert!(masked.checks[0].passed);
        // A value whose mapping is gone is masked too.
        let masked = masked_report(&card, &Forms::default());
        assert_eq!(
            masked.prefill["social-security-card"]["证件签发机关"],
            "示例****"
        );

        let mut licence = empty(DocumentType::BusinessLicense);
        licence.fields = [
            ("name", field(FieldValue::public("示例市小办餐饮有限公司"))),
            ("legal_representative", field(FieldValue::personal("李四"))),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let masked = masked_report(&licence, &forms());
        assert_eq!(
            masked.fields["name"].value.expose(),
            "示例市小办餐饮有限公司"
        );
        assert_eq!(masked.fields["legal_representative"].value.expose(), "李*");
    }
}
