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
    // Who is reading a pending job, until when, and how many times it was taken up. One row
    // per job ever claimed; times in Unix milliseconds.
    "CREATE TABLE IF NOT EXISTS verify_claims (
        job_id TEXT PRIMARY KEY,
        node TEXT NOT NULL,
        claim TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        claimed_at BIGINT NOT NULL,
        lease_until BIGINT NOT NULL,
        finished_at BIGINT)",
    "CREATE INDEX IF NOT EXISTS verify_jobs_by_status ON verify_jobs (status, created_at)",
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

/// A job held by one reader: only the holder of `token` may record its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub job_id: String,
    pub token: String,
    /// How many times the job has been taken up, this time included.
    pub attempts: i64,
}

/// A job's claim as stored.
#[derive(Debug, Clone)]
pub struct ClaimRecord {
    pub node: String,
    pub attempts: i64,
    /// Unix milliseconds.
    pub lease_until: i64,
    pub finished_at: Option<i64>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
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
pub(super) use select_jobs;

pub(super) fn job_from_row(r: &sqlx::any::AnyRow) -> Result<JobRecord> {
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

    /// Records the result of a job read under `claim`. `false` (nothing written) when the
    /// claim was lost: its lease ran out and another reader took the job up, or the job was
    /// already settled.
    pub async fn finish_job(&self, claim: &Claim, f: Finished<'_>) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE verify_jobs SET status = $1, finished_at = $2, document_type = $3, verdict = $4,
             outcome = $5, error = $6, report = $7
             WHERE id = $8 AND status = 'pending'
               AND EXISTS (SELECT 1 FROM verify_claims WHERE job_id = $8 AND claim = $9)",
        )
        .bind(f.status.as_str())
        .bind(now())
        .bind(f.document_type.map(str::to_string))
        .bind(f.verdict.map(str::to_string))
        .bind(f.outcome.map(str::to_string))
        .bind(f.error.map(str::to_string))
        .bind(f.report)
        .bind(&claim.job_id)
        .bind(&claim.token)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if done {
            sqlx::query("UPDATE verify_claims SET finished_at = $1 WHERE job_id = $2")
                .bind(now_ms())
                .bind(&claim.job_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(done)
    }

    /// Claims the oldest pending job that nobody holds (never claimed, or its lease ran out)
    /// for `lease_ms`. Atomic on both databases: of two nodes racing for one job, one gets
    /// it and the other's statement claims nothing (PostgreSQL re-checks the conflict
    /// condition on the row the winner wrote; SQLite runs one writer at a time).
    /// Jobs in `skip` (ones this node cannot open) are passed over.
    pub async fn claim_next_job(
        &self,
        node: &str,
        lease_ms: i64,
        skip: &[String],
    ) -> Result<Option<Claim>> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let t = now_ms();
        let passed_over = if skip.is_empty() {
            String::new()
        } else {
            let marks: Vec<String> = (0..skip.len()).map(|i| format!("${}", i + 5)).collect();
            format!("AND j.id NOT IN ({})", marks.join(", "))
        };
        let sql = format!(
            "INSERT INTO verify_claims (job_id, node, claim, attempts, claimed_at, lease_until)
             SELECT j.id, $1, $2, 1, $3, $4 FROM verify_jobs j
             LEFT JOIN verify_claims c ON c.job_id = j.id
             WHERE j.status = 'pending' AND j.purged_at IS NULL
               AND (c.job_id IS NULL OR c.lease_until < $3) {passed_over}
             ORDER BY j.created_at, j.seq LIMIT 1
             ON CONFLICT (job_id) DO UPDATE SET node = excluded.node, claim = excluded.claim,
               attempts = verify_claims.attempts + 1, claimed_at = excluded.claimed_at,
               lease_until = excluded.lease_until
             WHERE verify_claims.lease_until < excluded.claimed_at
             RETURNING job_id, attempts"
        );
        // Only placeholders are added to the constant text; the ids are bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(node)
            .bind(token.clone())
            .bind(t)
            .bind(t + lease_ms);
        for id in skip {
            query = query.bind(id.clone());
        }
        let row = query.fetch_optional(&self.pool).await?;
        row.map(|r| {
            Ok(Claim {
                job_id: r.try_get("job_id")?,
                token,
                attempts: r.try_get("attempts")?,
            })
        })
        .transpose()
    }

    /// Stores a new job already claimed by `node`, for the request that reads it at once: in
    /// one transaction, so that no worker sees it unclaimed.
    pub async fn insert_claimed_job(
        &self,
        id: &str,
        owner: &str,
        node: &str,
        lease_ms: i64,
        scan_front: Vec<u8>,
        scan_back: Option<Vec<u8>>,
    ) -> Result<Claim> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let t = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO verify_jobs (id, owner, batch_id, seq, status, created_at, scan_front, scan_back)
             VALUES ($1, $2, NULL, 0, 'pending', $3, $4, $5)",
        )
        .bind(id)
        .bind(owner)
        .bind(now())
        .bind(scan_front)
        .bind(scan_back)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO verify_claims (job_id, node, claim, attempts, claimed_at, lease_until)
             VALUES ($1, $2, $3, 1, $4, $5)",
        )
        .bind(id)
        .bind(node)
        .bind(&token)
        .bind(t)
        .bind(t + lease_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Claim {
            job_id: id.to_string(),
            token,
            attempts: 1,
        })
    }

    /// How many pending jobs could be claimed now (including ones a node passes over).
    pub async fn claimable_jobs(&self) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM verify_jobs j LEFT JOIN verify_claims c ON c.job_id = j.id
             WHERE j.status = 'pending' AND j.purged_at IS NULL
               AND (c.job_id IS NULL OR c.lease_until < $1)",
        )
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Extends a claim's lease; `false` when the claim is no longer held.
    pub async fn renew_claim(&self, claim: &Claim, lease_ms: i64) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE verify_claims SET lease_until = $1 WHERE job_id = $2 AND claim = $3",
        )
        .bind(now_ms() + lease_ms)
        .bind(&claim.job_id)
        .bind(&claim.token)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Gives a claimed job back at once (a shutdown that could not wait for it): the next
    /// node or start takes it up, and this attempt does not count against it.
    pub async fn release_claim(&self, claim: &Claim) -> Result<()> {
        sqlx::query(
            "UPDATE verify_claims SET lease_until = 0, attempts = attempts - 1
             WHERE job_id = $1 AND claim = $2 AND finished_at IS NULL",
        )
        .bind(&claim.job_id)
        .bind(&claim.token)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How a job was taken up: the node that holds or held it and how many times it was
    /// claimed (operators, and the tests proving a job is read once).
    pub async fn job_claim(&self, id: &str) -> Result<Option<ClaimRecord>> {
        let row = sqlx::query(
            "SELECT node, attempts, lease_until, finished_at FROM verify_claims WHERE job_id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ClaimRecord {
                node: r.try_get("node")?,
                attempts: r.try_get("attempts")?,
                lease_until: r.try_get("lease_until")?,
                finished_at: r.try_get("finished_at")?,
            })
        })
        .transpose()
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

    /// Runs `task` unless another node sharing the database runs the same task now (a
    /// PostgreSQL advisory lock held by one connection for the task's length; released if
    /// the node dies). SQLite serves one node, which always runs it. `None` when skipped.
    pub async fn exclusively<T, F, Fut>(&self, name: &str, task: F) -> Result<Option<T>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut conn = self.pool.acquire().await?;
        if conn.backend_name() != "PostgreSQL" {
            drop(conn);
            return task().await.map(Some);
        }
        // A stable key per task name (FNV-1a), in the range PostgreSQL's bigint takes.
        let key = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        }) as i64;
        let got: i64 = sqlx::query(
            "SELECT CAST(CASE WHEN pg_try_advisory_lock($1) THEN 1 ELSE 0 END AS BIGINT) AS got",
        )
        .bind(key)
        .fetch_one(&mut *conn)
        .await?
        .try_get("got")?;
        if got != 1 {
            return Ok(None);
        }
        let result = task().await;
        let unlocked = sqlx::query(
            "SELECT CAST(CASE WHEN pg_advisory_unlock($1) THEN 1 ELSE 0 END AS BIGINT) AS released",
        )
        .bind(key)
        .fetch_one(&mut *conn)
        .await;
        if unlocked.is_err() {
            // Never hand a connection that may still hold the lock back to the pool.
            let _ = conn.close().await;
        }
        result.map(Some)
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
