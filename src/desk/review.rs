//! What a clerk does with a finished job beyond reading it: list their recent jobs, correct a
//! field the OCR misread, and export one form's pre-fill record. A correction rewrites the
//! sealed report (the value stays encrypted): the checks and the verdict run again on the
//! corrected fields (`verify::recheck`: a human correction is `review` at best, a broken rule
//! `fail`), the pre-fill records follow, and the edit is recorded as who changed which field
//! when. A supervisor who made none of the corrections may confirm them (four eyes), which
//! lets a document whose only doubt was the corrections pass. Reveals, exports, corrections
//! and confirmations are logged in the access log.

use super::{Desk, DeskError, JobView, aad};
use crate::account::{Principal, Role};
use crate::store::access_log::Access;
use crate::store::edits::{FieldEdit, ReportSwap};
use crate::store::jobs::JobRecord;
use crate::verify::recheck::{Corrected, recheck};
use crate::verify::{CheckResult, DocumentType, Field, FieldValue, Forms, Verdict, Warning};
use anyhow::Context;
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The longest corrected value accepted (a business scope is the longest field).
pub const MAX_FIELD_CHARS: usize = 2000;

/// One form's pre-fill record: form field → value.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PrefillRecord {
    pub job_id: String,
    /// The mapping file's name (`forms/NAME.toml`).
    pub form: String,
    /// The form's title, when its mapping is still installed.
    pub title: Option<String>,
    pub fields: BTreeMap<String, String>,
}

/// What a reveal shows in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reveal<'a> {
    /// Every field, the pre-fill records (and, on the page, the scans).
    All,
    /// One field, by name; the others stay masked.
    Field(&'a str),
}

/// A job's opened report.
struct Opened {
    job: JobRecord,
    /// The sealed bytes the report came from (for compare-and-swap).
    sealed: Vec<u8>,
    report: Value,
    has_back: bool,
}

/// How many attempts a correction makes when others change the report meanwhile.
const SWAP_ATTEMPTS: usize = 5;

impl Desk {
    /// The newest jobs this user may see: a clerk's own, every job for a supervisor, none for
    /// other roles. Masked.
    pub async fn recent_jobs(
        &self,
        who: &Principal,
        limit: i64,
    ) -> Result<Vec<JobView>, DeskError> {
        let owner = match who.role {
            Role::Clerk => Some(who.user.as_str()),
            Role::Supervisor => None,
            Role::Admin | Role::Auditor | Role::Agent => return Ok(Vec::new()),
        };
        let jobs = self.store.recent_jobs(owner, limit).await?;
        Ok(jobs
            .iter()
            .map(|j| {
                let masked = j
                    .outcome
                    .as_deref()
                    .and_then(|o| serde_json::from_str(o).ok());
                self.view(j, masked, true, false)
            })
            .collect())
    }

    /// A finished job's full report, opened, and the sealed bytes it came from.
    async fn open_report(&self, who: &Principal, id: &str) -> Result<Opened, DeskError> {
        let job = self.visible_job(who, id).await?;
        let sealed = self
            .store
            .job_sealed(id)
            .await?
            .ok_or(DeskError::NotFound)?;
        let Some(blob) = sealed.report else {
            return Err(if job.purged_at.is_some() {
                DeskError::Purged
            } else {
                DeskError::NoReport
            });
        };
        let plain = self.sealer.open(&aad(id, "report"), &blob)?;
        let report = serde_json::from_slice(&plain).context("sealed report")?;
        Ok(Opened {
            job,
            sealed: blob,
            report,
            has_back: sealed.scan_back.is_some(),
        })
    }

    /// Seals `report` and stores it, with its masked outcome and `verdict`, in place of the
    /// sealed bytes `old` — unless another change replaced them meanwhile (then `false`).
    async fn swap_report(
        &self,
        id: &str,
        old: &[u8],
        report: &Value,
        verdict: Verdict,
    ) -> Result<bool, DeskError> {
        let masked = super::mask::masked_report(report).to_string();
        let sealed = self.sealer.seal(
            &aad(id, "report"),
            &serde_json::to_vec(report).context("report")?,
        );
        let swap = ReportSwap {
            old,
            report: sealed,
            outcome: &masked,
            verdict: verdict.as_str(),
        };
        Ok(self.store.swap_report(id, swap).await?)
    }

    /// A job with one field or everything shown in full, logged as `reveal_field` with the
    /// field's name (none for everything) — never its value. Revealing one field leaves the
    /// others masked in the view; a name the report does not have is refused, so only field
    /// names reach the log.
    pub async fn reveal(
        &self,
        who: &Principal,
        id: &str,
        what: Reveal<'_>,
    ) -> Result<JobView, DeskError> {
        let name = match what {
            Reveal::All => return self.job(who, id, true).await,
            Reveal::Field(name) => name,
        };
        let opened = self.open_report(who, id).await?;
        let Some(field) = opened
            .report
            .pointer(&format!("/fields/{}", pointer_escape(name)))
            .cloned()
        else {
            return Err(DeskError::UnknownField);
        };
        let mut shown = super::mask::masked_report(&opened.report);
        if let Some(Value::Object(fields)) = shown.get_mut("fields") {
            fields.insert(name.to_string(), field);
        }
        self.store
            .log_field_access(
                &who.user,
                who.role.as_str(),
                id,
                Access::RevealField,
                Some(name),
            )
            .await?;
        Ok(self.view(&opened.job, Some(shown), false, opened.has_back))
    }

    /// Corrects one read field: the sealed report gets the new value (marked `edited`), the
    /// checks, verdict and reasons run again on the corrected fields as of today (the
    /// reading's verdict kept as `verdict_as_read`), the pre-fill records are filled again,
    /// the masked outcome and the job's verdict follow; the edit is recorded (who, when,
    /// which field) and logged as `edit_field`.
    pub async fn edit_field(
        &self,
        who: &Principal,
        id: &str,
        field: &str,
        value: &str,
    ) -> Result<(), DeskError> {
        let value = value.trim();
        if value.chars().count() > MAX_FIELD_CHARS || value.chars().any(char::is_control) {
            return Err(DeskError::BadValue(MAX_FIELD_CHARS));
        }
        check_date(field, value)?;
        let forms = Forms::load(&self.config.forms_dir)
            .map_err(|e| DeskError::Internal(anyhow::anyhow!("form mappings: {e}")))?;
        for _ in 0..SWAP_ATTEMPTS {
            let Opened {
                sealed: old,
                mut report,
                ..
            } = self.open_report(who, id).await?;
            let Some(Value::Object(f)) =
                report.pointer_mut(&format!("/fields/{}", pointer_escape(field)))
            else {
                return Err(DeskError::UnknownField);
            };
            f.insert("value".into(), Value::String(value.to_string()));
            f.insert("edited".into(), Value::Bool(true));
            // A new correction needs a new confirmation.
            if let Value::Object(r) = &mut report {
                r.remove("confirmed");
            }
            let verdict = recheck_report(&mut report, super::today());
            let prefill = refill(&forms, &report);
            if let Value::Object(r) = &mut report {
                r.insert(
                    "prefill".into(),
                    serde_json::to_value(prefill).context("prefill")?,
                );
            }
            if self.swap_report(id, &old, &report, verdict).await? {
                let role = who.role.as_str();
                self.store.record_edit(id, &who.user, role, field).await?;
                self.store
                    .log_field_access(&who.user, role, id, Access::EditField, Some(field))
                    .await?;
                tracing::info!(
                    job = id,
                    field,
                    verdict = verdict.as_str(),
                    "field corrected"
                );
                return Ok(());
            }
        }
        Err(DeskError::Internal(anyhow::anyhow!(
            "the report kept changing during a correction"
        )))
    }

    /// A supervisor confirms a job's corrections after comparing them with the original (four
    /// eyes): the checks run again with the corrections vouched for, so a job whose only
    /// doubt was the corrections passes (`verify::recheck`). Refused to anyone but a
    /// supervisor, to one who made any of the corrections, for a job without corrections and
    /// for one whose checks fail, and when the corrections are no longer the `seen` ones (the
    /// count of corrections the supervisor was shown: one made meanwhile was not looked at).
    /// Recorded in the report (`confirmed`: by whom, when) and logged as `confirm_edits`; the
    /// next correction undoes it.
    pub async fn confirm(
        &self,
        who: &Principal,
        id: &str,
        seen: usize,
    ) -> Result<Verdict, DeskError> {
        if who.role != Role::Supervisor {
            return Err(DeskError::SupervisorOnly);
        }
        for _ in 0..SWAP_ATTEMPTS {
            let Opened {
                sealed: old,
                mut report,
                ..
            } = self.open_report(who, id).await?;
            let edits = self.store.field_edits(id).await?;
            if edits.is_empty() {
                return Err(DeskError::NothingToConfirm);
            }
            if edits.iter().any(|e| e.actor == who.user) {
                return Err(DeskError::OwnCorrection);
            }
            if edits.len() != seen {
                return Err(DeskError::ConfirmStale);
            }
            if let Value::Object(r) = &mut report {
                r.insert(
                    "confirmed".into(),
                    serde_json::json!({"by": who.user, "at": chrono::Utc::now().timestamp()}),
                );
            }
            let verdict = recheck_report(&mut report, super::today());
            if verdict == Verdict::Fail {
                return Err(DeskError::ConfirmFailed);
            }
            if self.swap_report(id, &old, &report, verdict).await? {
                self.store
                    .log_access(&who.user, who.role.as_str(), id, Access::ConfirmEdits)
                    .await?;
                tracing::info!(
                    job = id,
                    verdict = verdict.as_str(),
                    "corrections confirmed"
                );
                return Ok(verdict);
            }
        }
        Err(DeskError::Internal(anyhow::anyhow!(
            "the report kept changing during a confirmation"
        )))
    }

    /// Who corrected which field of a job, and when.
    pub async fn edits(&self, who: &Principal, id: &str) -> Result<Vec<FieldEdit>, DeskError> {
        self.visible_job(who, id).await?;
        Ok(self.store.field_edits(id).await?)
    }

    /// The pre-fill records of one form, or of every form (`None`), in full (logged as
    /// `export`).
    pub async fn prefill(
        &self,
        who: &Principal,
        id: &str,
        form: Option<&str>,
    ) -> Result<Vec<PrefillRecord>, DeskError> {
        let report = self.open_report(who, id).await?.report;
        let titles: BTreeMap<String, String> = Forms::load(&self.config.forms_dir)
            .map(|fs| fs.forms.into_iter().map(|f| (f.name, f.title)).collect())
            .unwrap_or_default();
        let records: Vec<PrefillRecord> = report
            .get("prefill")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(name, _)| form.is_none_or(|f| f == name.as_str()))
            .filter_map(|(name, fields)| {
                let fields = fields
                    .as_object()?
                    .iter()
                    .map(|(k, v)| {
                        let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                        (k.clone(), v)
                    })
                    .collect();
                Some(PrefillRecord {
                    job_id: id.to_string(),
                    form: name.clone(),
                    title: titles.get(name).cloned(),
                    fields,
                })
            })
            .collect();
        if form.is_some() && records.is_empty() {
            return Err(DeskError::UnknownForm);
        }
        self.store
            .log_access(&who.user, who.role.as_str(), id, Access::Export)
            .await?;
        Ok(records)
    }
}

/// Fields holding one date, as the reading writes them (YYYY-MM-DD); `valid_to` may also be
/// 长期. A date typed another way would silently skip the checks that need it and the
/// forms' date formats, so it is refused.
const DATE_FIELDS: &[&str] = &[
    "birth_date",
    "valid_from",
    "valid_to",
    "established_date",
    "issue_date",
];

fn check_date(field: &str, value: &str) -> Result<(), DeskError> {
    let Some(&name) = DATE_FIELDS.iter().find(|f| **f == field) else {
        return Ok(());
    };
    let long_term = crate::verify::card::LONG_TERM;
    if NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok()
        || (name == "valid_to" && value == long_term)
    {
        return Ok(());
    }
    let label = crate::verify::verdict::field_label(name);
    let hint = if name == "valid_to" {
        "，长期有效的填“长期”"
    } else {
        ""
    };
    Err(DeskError::BadDate(label, hint))
}

/// A JSON pointer token for a field name (RFC 6901).
fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn document_type(report: &Value) -> DocumentType {
    report
        .get("document_type")
        .and_then(Value::as_str)
        .and_then(DocumentType::parse)
        .unwrap_or(DocumentType::Unknown)
}

/// A report's fields (boxes left out: nothing below needs them) and the names of those a
/// person corrected.
fn fields_of(report: &Value) -> (BTreeMap<String, Field>, BTreeSet<String>) {
    let mut edited = BTreeSet::new();
    let fields = report
        .get("fields")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, f)| {
            let value = f.get("value")?.as_str()?;
            let confidence = f.get("confidence").and_then(Value::as_f64).unwrap_or(1.0) as f32;
            if f.get("edited").and_then(Value::as_bool) == Some(true) {
                edited.insert(k.clone());
            }
            Some((
                k.clone(),
                Field {
                    value: FieldValue::personal(value),
                    confidence,
                    quad: [[0.0; 2]; 4],
                },
            ))
        })
        .collect();
    (fields, edited)
}

/// Whether a card's back was read with its front: its fields are in the same report, or a
/// frame says so.
fn with_back(report: &Value, fields: &BTreeMap<String, Field>) -> bool {
    document_type(report) == DocumentType::IdCardFront
        && (crate::verify::card::BACK_FIELDS
            .iter()
            .any(|f| fields.contains_key(*f))
            || report
                .get("frames")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|f| f.get("document_type").and_then(Value::as_str) == Some("id_card_back")))
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Runs the checks again on a report's (corrected) fields as of `today`
/// (`verify::recheck`): `checks`, `verdict` and `reasons` are replaced, the reading's verdict
/// is kept once as `verdict_as_read`. Image warnings stay the reading's.
fn recheck_report(report: &mut Value, today: NaiveDate) -> Verdict {
    let (fields, edited) = fields_of(report);
    let checks: Vec<CheckResult> = report
        .get("checks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| CheckResult {
            rule: text(c, "rule"),
            passed: c.get("passed").and_then(Value::as_bool).unwrap_or(false),
            detail: text(c, "detail"),
            misread_possible: c
                .get("misread_possible")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
        .collect();
    let warnings: Vec<Warning> = report
        .get("warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|w| Warning {
            code: text(w, "code"),
            detail: text(w, "detail"),
        })
        .collect();
    let r = recheck(
        &Corrected {
            document_type: document_type(report),
            fields: &fields,
            edited: &edited,
            with_back: with_back(report, &fields),
            checks: &checks,
            warnings: &warnings,
            confirmed: report.get("confirmed").is_some(),
        },
        today,
        crate::verify::verdict::MIN_CONFIDENCE,
    );
    if let Value::Object(o) = report {
        if !o.contains_key("verdict_as_read")
            && let Some(v) = o.get("verdict").cloned()
        {
            o.insert("verdict_as_read".into(), v);
        }
        o.insert("checks".into(), serde_json::json!(r.checks));
        o.insert("verdict".into(), r.verdict.as_str().into());
        o.insert("reasons".into(), serde_json::json!(r.reasons));
    }
    r.verdict
}

/// The pre-fill records of a report's (corrected) fields.
fn refill(forms: &Forms, report: &Value) -> BTreeMap<String, BTreeMap<String, String>> {
    let (fields, _) = fields_of(report);
    let document = document_type(report);
    let mut present = vec![document];
    if with_back(report, &fields) {
        present.push(DocumentType::IdCardBack);
    }
    forms.fill(&present, &fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    #[test]
    fn corrected_fields_fill_the_forms_again() {
        let forms = Forms::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("forms")).unwrap();
        let report = json!({
            "document_type": "id_card_front",
            "fields": {
                "name": {"value": "李四", "confidence": 0.9},
                "birth_date": {"value": "1990-03-07", "confidence": 0.9},
                "valid_to": {"value": "2036-05-01", "confidence": 0.9}
            }
        });
        let p = refill(&forms, &report);
        assert_eq!(p["social-security-card"]["姓名"], "李四");
        assert_eq!(p["social-security-card"]["出生日期"], "19900307");
        // The back's fields count only because the back was read with the front.
        assert_eq!(p["social-security-card"]["证件有效期截止"], "20360501");
        assert_eq!(p["individual-business-registration"]["经营者姓名"], "李四");
    }

    // GB 11643 on the corrected number; the reading's warning still asks for a look.
    #[test]
    fn a_corrected_report_is_checked_again_and_keeps_the_reading_verdict() {
        let body = "11010519900307003";
        let good = format!("{body}{}", crate::ident::id_check_character(body).unwrap());
        let field = |v: &str| json!({"value": v, "confidence": 0.9});
        let mut report = json!({
            "document_type": "id_card_front",
            "fields": {
                "name": field("李四"),
                "sex": field("男"),
                "ethnicity": field("汉"),
                "birth_date": field("1990-03-07"),
                "address": field("示例市和平区解放路88号"),
                "id_number": {"value": good, "confidence": 0.9, "edited": true}
            },
            "checks": [{"rule": "gb11643.check_character", "passed": false, "detail": "校验码错误"}],
            "warnings": [{"code": "glare", "detail": "反光遮挡文字"}],
            "verdict": "fail",
            "reasons": ["未通过核对：校验码错误"]
        });
        let today = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        assert_eq!(recheck_report(&mut report, today), Verdict::Review);
        assert_eq!(report["verdict"], "review");
        assert_eq!(report["verdict_as_read"], "fail");
        let checks = report["checks"].as_array().unwrap();
        assert!(checks.len() >= 5 && checks.iter().all(|c| c["passed"] == true));
        let reasons = report["reasons"].to_string();
        assert!(reasons.contains("反光遮挡文字") && reasons.contains("经人工更正"));
        // A second correction: the reading's verdict stays the one kept first.
        report["fields"]["sex"] = json!({"value": "女", "confidence": 0.9, "edited": true});
        assert_eq!(recheck_report(&mut report, today), Verdict::Fail);
        assert_eq!(report["verdict_as_read"], "fail");
        assert!(report["reasons"][0].as_str().unwrap().contains("性别"));
    }

    #[test]
    fn corrected_dates_must_be_dates() {
        assert!(check_date("birth_date", "1990-03-07").is_ok());
        assert!(check_date("valid_to", "长期").is_ok());
        assert!(
            check_date("name", "1990年3月7日").is_ok(),
            "not a date field"
        );
        let e = check_date("birth_date", "1990年3月7日").unwrap_err();
        assert_eq!(
            e.to_string(),
            "“出生日期”请按 YYYY-MM-DD 填写（例如 1990-03-07）。"
        );
        assert!(check_date("birth_date", "长期").is_err());
        assert!(check_date("issue_date", "2026-02-30").is_err());
        let e = check_date("valid_to", "2036.05.01").unwrap_err();
        assert!(e.to_string().contains("长期有效的填“长期”"));
    }

    #[test]
    fn field_names_are_escaped_for_json_pointers() {
        assert_eq!(pointer_escape("a/b~c"), "a~1b~0c");
    }
}
