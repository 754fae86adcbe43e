//! The masked outcome of a verification: what may be shown and kept without a reason to see
//! the person's data (DOMAIN.md: ID 1101**********123X, phone 138****5678, name 张*).
//!
//! Fields are masked by what their name says they hold; a field whose name is not known to be
//! public is masked too, so a new field is never shown in full by accident.

use crate::privacy::redact;
use serde_json::{Map, Value};

/// Field names (lowercase, English or the card's Chinese label) whose values are not personal.
const PUBLIC: &[&str] = &[
    "sex",
    "gender",
    "ethnicity",
    "nation",
    "nationality",
    "authority",
    "issuer",
    "issuing_authority",
    "registration_authority",
    "valid",
    "validity",
    "valid_from",
    "valid_until",
    "valid_to",
    "expiry",
    "company_type",
    "type",
    "entity_type",
    "business_term",
    "operating_period",
    "valid_from",
    "valid_to",
    "credit_code",
    "business_scope",
    "registered_capital",
    "established_date",
    "性别",
    "民族",
    "签发机关",
    "有效期限",
    "类型",
    "登记机关",
    "营业期限",
];

fn is_name(key: &str) -> bool {
    [
        "name",
        "姓名",
        "法定代表人",
        "经营者",
        "负责人",
        "representative",
        "operator",
        "legal",
    ]
    .iter()
    .any(|k| key.contains(k))
}

fn is_address(key: &str) -> bool {
    [
        "address",
        "住址",
        "地址",
        "住所",
        "经营场所",
        "domicile",
        "premises",
    ]
    .iter()
    .any(|k| key.contains(k))
}

fn stars(n: usize) -> String {
    "*".repeat(n)
}

/// `value` of the field `key`, masked.
pub fn mask_field(key: &str, value: &str) -> String {
    let key = key.to_lowercase();
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    if n == 0 {
        return String::new();
    }
    // Numbers first: an identity number is masked wherever it appears.
    let redacted = redact(value);
    if !redacted.found.is_empty() {
        return redacted.text;
    }
    if PUBLIC.contains(&key.as_str()) {
        return value.to_string();
    }
    if is_name(&key) {
        // 张三 → 张*, 欧阳娜娜 → 欧***.
        return chars[..1].iter().collect::<String>() + &stars(n - 1);
    }
    if is_address(&key) {
        let keep = n.min(6).min(n.saturating_sub(1));
        return chars[..keep].iter().collect::<String>() + "****";
    }
    // Anything else (numbers that redaction does not know, dates of birth, unknown fields):
    // the first third kept, the rest starred.
    let keep = n / 3;
    chars[..keep].iter().collect::<String>() + &stars(n - keep)
}

fn redact_strings(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(redact(s).text),
        Value::Array(a) => Value::Array(a.iter().map(redact_strings).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), redact_strings(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A map of field name → field (an object with `value`, or a bare string), masked.
fn mask_fields(fields: &Value) -> Value {
    let Value::Object(fields) = fields else {
        return redact_strings(fields);
    };
    let mut out = Map::new();
    for (name, field) in fields {
        let masked = match field {
            Value::String(s) => Value::String(mask_field(name, s)),
            Value::Object(f) => {
                let mut f = f.clone();
                if let Some(Value::String(s)) = f.get("value") {
                    let m = mask_field(name, s);
                    f.insert("value".into(), Value::String(m));
                }
                Value::Object(f)
            }
            other => redact_strings(other),
        };
        out.insert(name.clone(), masked);
    }
    Value::Object(out)
}

/// Pre-filled forms (`{FORM: {FIELD: VALUE}}`, or a flat `{FIELD: VALUE}`), masked by each
/// value's own field name.
fn mask_prefill(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let m = match v {
                        Value::String(s) => Value::String(mask_field(k, s)),
                        Value::Object(_) => mask_prefill(v),
                        other => redact_strings(other),
                    };
                    (k.clone(), m)
                })
                .collect(),
        ),
        other => redact_strings(other),
    }
}

/// The report with every field and pre-fill value masked and every free text redacted: what
/// is kept after the scans are deleted and what is shown by default.
pub fn masked_report(report: &Value) -> Value {
    let Value::Object(report) = report else {
        return Value::Object(Map::new());
    };
    let mut out = Map::new();
    for (key, value) in report {
        let v = match key.as_str() {
            "fields" => mask_fields(value),
            "prefill" => mask_prefill(value),
            "document_type" | "verdict" => value.clone(),
            _ => redact_strings(value),
        };
        out.insert(key.clone(), v);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "11010519491231002X";

    #[test]
    fn fields_are_masked_by_what_they_hold() {
        assert_eq!(mask_field("name", "张三"), "张*");
        assert_eq!(mask_field("姓名", "欧阳娜娜"), "欧***");
        assert_eq!(
            mask_field("id_number", "11010519491231002X"),
            "1101**********002X"
        );
        assert_eq!(mask_field("phone", "13812345678"), "138****5678");
        assert_eq!(
            mask_field("address", "北京市东城区景山前街4号"),
            "北京市东城区****"
        );
        assert_eq!(mask_field("sex", "男"), "男");
        assert_eq!(mask_field("签发机关", "示例市公安局"), "示例市公安局");
        assert_eq!(mask_field("birth_date", "1949-12-31"), "194*******");
        assert_eq!(mask_field("something_new", "abcdef"), "ab****");
    }

    #[test]
    fn the_masked_report_keeps_the_outcome_and_hides_the_person() {
        let report = json!({
            "document_type": "id_card_front",
            "fields": {
                "name": {"value": "张三", "confidence": 0.98, "box": [[0,0],[1,0],[1,1],[0,1]]},
                "id_number": {"value": "11010519491231002X", "confidence": 0.99, "box": []}
            },
            "checks": [{"rule": "birth_date_matches", "passed": true, "detail": "11010519491231002X 的出生日期一致"}],
            "warnings": [{"code": "glare", "detail": "反光"}],
            "verdict": "pass",
            "reasons": ["号码 11010519491231002X 校验通过"],
            "prefill": {"name": "张三", "id_number": "11010519491231002X"}
        });
        let masked = masked_report(&report);
        let text = masked.to_string();
        assert!(!text.contains("11010519491231002X"), "{text}");
        assert!(!text.contains("张三"), "{text}");
        assert_eq!(masked["fields"]["name"]["value"], "张*");
        assert_eq!(masked["fields"]["name"]["confidence"], 0.98);
        assert_eq!(masked["prefill"]["id_number"], "1101**********002X");
        assert_eq!(masked["verdict"], "pass");
        // Forms nest one level deeper and are masked by their own field names.
        let forms = json!({"prefill": {"社会保障卡申领登记表": {"姓名": "张三", "公民身份号码": ID, "户籍地址": "北京市东城区景山前街4号", "出生日期": "19491231", "性别": "1-男"}}});
        let m = masked_report(&forms);
        let form = &m["prefill"]["社会保障卡申领登记表"];
        assert_eq!(form["姓名"], "张*");
        assert_eq!(form["公民身份号码"], "1101**********002X");
        assert_eq!(form["户籍地址"], "北京市东城区****");
        assert_eq!(form["出生日期"], "19******");
        assert!(!m.to_string().contains("张三"));
        assert_eq!(masked["checks"][0]["passed"], true);
    }
}
