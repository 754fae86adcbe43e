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
use crate::verify::{Confirmed, DocumentType, FieldName, Forms, Report, Verdict};
use anyhow::Context;
use chrono::NaiveDate;
use serde::Serialize;
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
    report: Report,
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
                    .and_then(|o| super::parse_report(o.as_bytes()).ok());
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
        let report = super::parse_report(&plain)?;
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
        report: &Report,
        verdict: Verdict,
    ) -> Result<bool, DeskError> {
        let masked = self.outcome_of(report)?;
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
        let Some(field) = opened.report.fields.get(name).cloned() else {
            return Err(DeskError::UnknownField);
        };
        let mut shown = super::mask::masked_report(&opened.report, &self.forms());
        shown.fields.insert(name.to_string(), field);
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
        // As sent, as the OpenAPI document states them: a line break is refused even at the
        // end, where trimming would have hidden it.
        if value.chars().count() > MAX_FIELD_CHARS || value.chars().any(char::is_control) {
            return Err(DeskError::BadValue(MAX_FIELD_CHARS));
        }
        let value = value.trim();
        check_date(field, value)?;
        let forms = Forms::load(&self.config.forms_dir)
            .map_err(|e| DeskError::Internal(anyhow::anyhow!("form mappings: {e}")))?;
        for _ in 0..SWAP_ATTEMPTS {
            let Opened {
                sealed: old,
                mut report,
                ..
            } = self.open_report(who, id).await?;
            let Some(f) = report.fields.get_mut(field) else {
                return Err(DeskError::UnknownField);
            };
            f.value = f.value.corrected(value);
            // A new correction needs a new confirmation.
            report.confirmed = None;
            let verdict = recheck_report(&mut report, super::today());
            report.prefill = refill(&forms, &report);
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
            report.confirmed = Some(Confirmed {
                by: who.user.clone(),
                at: chrono::Utc::now().timestamp(),
            });
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
            .prefill
            .into_iter()
            .filter(|(name, _)| form.is_none_or(|f| f == name.as_str()))
            .map(|(name, fields)| PrefillRecord {
                job_id: id.to_string(),
                title: titles.get(&name).cloned(),
                form: name,
                fields,
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

/// A corrected date must be a date, as the reading writes them (YYYY-MM-DD); `valid_to` may
/// also be 长期. A date typed another way would silently skip the checks that need it and
/// the forms' date formats, so it is refused.
fn check_date(field: &str, value: &str) -> Result<(), DeskError> {
    let Some(name) = FieldName::parse(field).filter(|f| f.is_date()) else {
        return Ok(());
    };
    let long_term = crate::verify::card::LONG_TERM;
    if NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok()
        || (name == FieldName::ValidTo && value == long_term)
    {
        return Ok(());
    }
    let hint = if name == FieldName::ValidTo {
        "，长期有效的填“长期”"
    } else {
        ""
    };
    Err(DeskError::BadDate(name.label(), hint))
}

/// Whether a card's back was read with its front: its fields are in the same report, or a
/// frame says so.
fn with_back(report: &Report) -> bool {
    report.document_type == DocumentType::IdCardFront
        && (report
            .fields
            .keys()
            .any(|f| FieldName::parse(f).is_some_and(FieldName::on_card_back))
            || report
                .frames
                .iter()
                .any(|f| f.document_type == DocumentType::IdCardBack))
}

/// Runs the checks again on a report's (corrected) fields as of `today`
/// (`verify::recheck`): `checks`, `verdict` and `reasons` are replaced, the reading's verdict
/// is kept once as `verdict_as_read`. Image warnings stay the reading's.
fn recheck_report(report: &mut Report, today: NaiveDate) -> Verdict {
    let edited: BTreeSet<String> = report
        .fields
        .iter()
        .filter(|(_, f)| f.value.is_edited())
        .map(|(k, _)| k.clone())
        .collect();
    let r = recheck(
        &Corrected {
            document_type: report.document_type,
            fields: &report.fields,
            edited: &edited,
            with_back: with_back(report),
            checks: &report.checks,
            warnings: &report.warnings,
            confirmed: report.confirmed.is_some(),
        },
        today,
        crate::verify::verdict::MIN_CONFIDENCE,
    );
    report.verdict_as_read.get_or_insert(report.verdict);
    report.checks = r.checks;
    report.verdict = r.verdict;
    report.reasons = r.reasons;
    r.verdict
}

/// The pre-fill records of a report's (corrected) fields.
fn refill(forms: &Forms, report: &Report) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut present = vec![report.document_type];
    if with_back(report) {
        present.push(DocumentType::IdCardBack);
    }
    forms.fill(&present, &report.fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    #[test]
    fn corrected_fields_fill_the_forms_again() {
        let forms = Forms::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("forms")).unwrap();
        let report: Report = serde_json::from_value(json!({
            "document_type": "id_card_front",
            "fields": {
                "name": {"value": "李四", "confidence": 0.9},
                "birth_date": {"value": "1990-03-07", "confidence": 0.9},
                "valid_to": {"value": "2036-05-01", "confidence": 0.9}
            }
        }))
        .unwrap();
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
        let mut report: Report = serde_json::from_value(json!({
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
        }))
        .unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        assert_eq!(recheck_report(&mut report, today), Verdict::Review);
        assert_eq!(report.verdict, Verdict::Review);
        assert_eq!(report.verdict_as_read, Some(Verdict::Fail));
        assert!(report.checks.len() >= 5 && report.checks.iter().all(|c| c.passed));
        let reasons = report.reasons.join("\n");
        assert!(reasons.contains("反光遮挡文字") && reasons.contains("经人工更正"));
        // A second correction: the reading's verdict stays the one kept first.
        let sex = report.fields.get_mut("sex").unwrap();
        sex.value = sex.value.corrected("女");
        assert_eq!(recheck_report(&mut report, today), Verdict::Fail);
        assert_eq!(report.verdict_as_read, Some(Verdict::Fail));
        assert!(report.reasons[0].contains("性别"));
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
}
