//! Verification jobs: one upload (front, optional back) read by the document reader. The scans
//! and the full report are stored sealed (see [`super::seal`]); what stays readable is the
//! masked outcome (document type, verdict, masked fields, checks, warnings). After the
//! retention period the sealed parts are deleted and only the masked outcome remains.

use super::{Store, now};
use anyhow::Result;
use sqlx::Row;

/// `{blob}` is `BLOB` on SQLite and `BYTEA` on PostgreSQL.
pub(super) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS verify_batches (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        total BIGINT NOT NULL,
        created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS verify_jobs (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        batch_id TEXT,
        seq BIGINT NOT NULL,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        finished_at BIGINT,
        document_type TEXT,
        verdict TEXT,
        outcome TEXT,
        error TEXT,
        report {blob},
        scan_front {blob},
        scan_back {blob},
        purged_at BIGINT)",
    "CREATE INDEX IF NOT EXISTS verify_jobs_by_batch ON verify_jobs (batch_id, seq)",
    "CREATE INDEX IF NOT EXISTS verify_jobs_by_age ON verify_jobs (purged_at, created_at)",
];

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting in a batch.
    Pending,
    Done,
    /// The image could not be read as a document; `error` says why.
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }
    fn parse(s: &str) -> JobStatus {
        match s {
            "done" => JobStatus::Done,
            "failed" => JobStatus::Failed,
            _ => JobStatus::Pending,
        }
    }
}

/// A job without its sealed parts.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub id: String,
    pub owner: String,
    pub batch_id: Option<String>,
    pub status: JobStatus,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub document_type: Option<String>,
    pub verdict: Option<String>,
    /// The masked outcome as JSON text.
    pub outcome: Option<String>,
    /// Why the job failed (already free of personal data).
    pub error: Option<String>,
    /// When the scans and the full report were deleted.
    pub purged_at: Option<i64>,
}

/// A job's sealed parts; all `None` once purged.
pub struct SealedParts {
    pub report: Option<Vec<u8>>,
    pub scan_front: Option<Vec<u8>>,
    pub scan_back: Option<Vec<u8>>,
}

/// What a finished job records.
pub struct Finished<'a> {
    pub status: JobStatus,
    pub document_type: Option<&'a str>,
    pub verdict: Option<&'a str>,
    pub outcome: Option<&'a str>,
    pub error: Option<&'a str>,
    pub report: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct BatchRecord {
    pub id: String,
    pub owner: String,
    pub total: i64,
    pub created_at: i64,
}

macro_rules! select_jobs {
    ($rest:literal) => {
        concat!(
            "SELECT id, owner, batch_id, status, created_at, finished_at, document_type, verdict, outcome, error, purged_at FROM verify_jobs ",
            $rest
        )
    };
}

fn job_from_row(r: &sqlx::any::AnyRow) -> Result<JobRecord> {
    Ok(JobRecord {
        id: r.try_get("id")?,
        owner: r.try_get("owner")?,
        batch_id: r.try_get("batch_id")?,
        status: JobStatus::parse(&r.try_get::<String, _>("status")?),
        created_at: r.try_get("created_at")?,
        finished_at: r.try_get("finished_at")?,
        document_type: r.try_get("document_type")?,
        verdict: r.try_get("verdict")?,
        outcome: r.try_get("outcome")?,
        error: r.try_get("error")?,
        purged_at: r.try_get("purged_at")?,
    })
}

impl Store {
    /// Stores a new job with its sealed scans.
    pub async fn insert_job(
        &self,
        id: &str,
        owner: &str,
        batch: Option<(&str, i64)>,
        scan_front: Vec<u8>,
        scan_back: Option<Vec<u8>>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO verify_jobs (id, owner, batch_id, seq, status, created_at, scan_front, scan_back)
             VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7)",
        )
        .bind(id)
        .bind(owner)
        .bind(batch.map(|b| b.0.to_string()))
        .bind(batch.map_or(0, |b| b.1))
        .bind(now())
        .bind(scan_front)
        .bind(scan_back)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a job's result.
    pub async fn finish_job(&self, id: &str, f: Finished<'_>) -> Result<()> {
        sqlx::query(
            "UPDATE verify_jobs SET status = $1, finished_at = $2, document_type = $3, verdict = $4,
             outcome = $5, error = $6, report = $7 WHERE id = $8",
        )
        .bind(f.status.as_str())
        .bind(now())
        .bind(f.document_type.map(str::to_string))
        .bind(f.verdict.map(str::to_string))
        .bind(f.outcome.map(str::to_string))
        .bind(f.error.map(str::to_string))
        .bind(f.report)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn job(&self, id: &str) -> Result<Option<JobRecord>> {
        let row = sqlx::query(select_jobs!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    pub async fn job_sealed(&self, id: &str) -> Result<Option<SealedParts>> {
        let row =
            sqlx::query("SELECT report, scan_front, scan_back FROM verify_jobs WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok(SealedParts {
                report: r.try_get("report")?,
                scan_front: r.try_get("scan_front")?,
                scan_back: r.try_get("scan_back")?,
            })
        })
        .transpose()
    }

    pub async fn insert_batch(&self, id: &str, owner: &str, total: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO verify_batches (id, owner, total, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(owner)
        .bind(total)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn batch(&self, id: &str) -> Result<Option<BatchRecord>> {
        let row =
            sqlx::query("SELECT id, owner, total, created_at FROM verify_batches WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok(BatchRecord {
                id: r.try_get("id")?,
                owner: r.try_get("owner")?,
                total: r.try_get("total")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .transpose()
    }

    pub async fn batch_jobs(&self, batch_id: &str) -> Result<Vec<JobRecord>> {
        let rows = sqlx::query(select_jobs!("WHERE batch_id = $1 ORDER BY seq"))
            .bind(batch_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Jobs still waiting to be read (a batch cut short by a restart), oldest first.
    pub async fn pending_jobs(&self) -> Result<Vec<JobRecord>> {
        let rows = sqlx::query(select_jobs!(
            "WHERE status = 'pending' AND purged_at IS NULL ORDER BY created_at, seq"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Deletes the scans and full reports of jobs uploaded before `cutoff` (Unix seconds),
    /// keeping their masked outcome; returns how many jobs were purged.
    pub async fn purge_scans_before(&self, cutoff: i64) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE verify_jobs SET scan_front = NULL, scan_back = NULL, report = NULL, purged_at = $1
             WHERE purged_at IS NULL AND created_at < $2",
        )
        .bind(now())
        .bind(cutoff)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Moves a job's upload time back by `secs` (tests of the retention period).
    #[doc(hidden)]
    pub async fn backdate_job(&self, id: &str, secs: i64) -> Result<()> {
        sqlx::query("UPDATE verify_jobs SET created_at = created_at - $1 WHERE id = $2")
            .bind(secs)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
