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

/// A row id that sorts in the order rows were written (to the millisecond; 13 hex digits of
/// Unix milliseconds, then 19 random ones): rows of the same second — `at` is in seconds —
/// read back in the order they happened, not at random.
pub(super) fn time_ordered_id() -> String {
    let millis = chrono::Utc::now().timestamp_millis().max(0);
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{millis:013x}{}", &random[..19])
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
        .bind(time_ordered_id())
        .bind(job_id)
        .bind(now())
        .bind(actor)
        .bind(role)
        .bind(field)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A job's corrections, oldest first (in the order made, also within a second).
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

#[cfg(test)]
mod tests {
    use super::time_ordered_id;

    #[test]
    fn row_ids_sort_in_the_order_they_were_made() {
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(time_ordered_id());
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert!(ids.iter().all(|i| i.len() == 32));
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }
}
