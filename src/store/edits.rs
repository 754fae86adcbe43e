//! A clerk's corrections of read fields, and the job lists of the clerk page. An edit rewrites
//! the job's sealed report (compare-and-swap, so a concurrent edit or key rotation is never
//! lost), its masked outcome and its verdict (the checks run again), and is recorded as who
//! changed which field when — never the value, which exists only inside the sealed report.

use super::jobs::{JobRecord, job_from_row, select_jobs};
use super::{Store, now};
use anyhow::Result;
use serde::Serialize;
use sqlx::Row;

pub(super) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS field_edits (
        id TEXT PRIMARY KEY,
        job_id TEXT NOT NULL,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        field TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS field_edits_by_job ON field_edits (job_id, at)",
    "CREATE INDEX IF NOT EXISTS verify_jobs_by_owner ON verify_jobs (owner, created_at)",
];

/// One correction, as read back: who changed which field when.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldEdit {
    /// Unix seconds.
    pub at: i64,
    pub actor: String,
    pub role: String,
    pub field: String,
}

/// A new sealed report, masked outcome and verdict replacing `old` (the sealed report read
/// before).
pub struct ReportSwap<'a> {
    pub old: &'a [u8],
    pub report: Vec<u8>,
    pub outcome: &'a str,
    /// The verdict after the checks ran again on the corrected fields.
    pub verdict: &'a str,
}

impl Store {
    /// Replaces a job's sealed report, masked outcome and verdict if the report is still
    /// `old`; `false` when someone else changed it meanwhile (read again and retry).
    pub async fn swap_report(&self, id: &str, swap: ReportSwap<'_>) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE verify_jobs SET report = $1, outcome = $2, verdict = $3 WHERE id = $4 AND report = $5",
        )
        .bind(swap.report)
        .bind(swap.outcome)
        .bind(swap.verdict)
        .bind(id)
        .bind(swap.old)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    pub async fn record_edit(
        &self,
        job_id: &str,
        actor: &str,
        role: &str,
        field: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO field_edits (id, job_id, at, actor, role, field) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(uuid::Uuid::new_v4().simple().to_string())
        .bind(job_id)
        .bind(now())
        .bind(actor)
        .bind(role)
        .bind(field)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A job's corrections, oldest first.
    pub async fn field_edits(&self, job_id: &str) -> Result<Vec<FieldEdit>> {
        let rows = sqlx::query(
            "SELECT at, actor, role, field FROM field_edits WHERE job_id = $1 ORDER BY at, id",
        )
        .bind(job_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(FieldEdit {
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    role: r.try_get("role")?,
                    field: r.try_get("field")?,
                })
            })
            .collect()
    }

    /// The newest jobs, of one owner or (`None`) of everyone.
    pub async fn recent_jobs(&self, owner: Option<&str>, limit: i64) -> Result<Vec<JobRecord>> {
        let rows = sqlx::query(select_jobs!(
            "WHERE ($1 = '' OR owner = $1) ORDER BY created_at DESC, id LIMIT $2"
        ))
        .bind(owner.unwrap_or_default())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }
}
