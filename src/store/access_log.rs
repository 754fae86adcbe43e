//! Who looked at what (Data Security Law: log access to sensitive personal information). One
//! row per view of a scan, reveal of unmasked fields, upload, export or correction, and per
//! view of or action on a handoff or a callback ticket (`job_id` holds its id); never
//! deleted with the scans. A reveal of one field and a correction also record which field —
//! its name, never its value — in `access_log_fields` (a table of its own, so databases made
//! before it need no column added).

use super::{Store, now};
use anyhow::Result;
use serde::Serialize;
use sqlx::Row;

pub(super) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS access_log (
        id TEXT PRIMARY KEY,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        job_id TEXT NOT NULL,
        action TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS access_log_by_time ON access_log (at)",
    "CREATE INDEX IF NOT EXISTS access_log_by_job ON access_log (job_id, at)",
    "CREATE TABLE IF NOT EXISTS access_log_fields (
        entry_id TEXT PRIMARY KEY,
        field TEXT NOT NULL)",
];

/// What was done with a job's personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// The decrypted scan was shown.
    ViewScan,
    /// Unmasked field values were shown.
    RevealField,
    /// The job was created (the uploader saw the full result).
    Create,
    /// The result was exported.
    Export,
    /// A read field was corrected (which field: `field_edits`).
    EditField,
    /// A supervisor confirmed the job's corrections (four eyes).
    ConfirmEdits,
    /// A list of handoffs was shown (subject `handoffs:STATE`).
    HandoffList,
    /// A handoff and its conversation were shown.
    HandoffView,
    /// An agent took a waiting handoff.
    HandoffClaim,
    /// An agent wrote to the citizen.
    HandoffMessage,
    /// A handoff was passed to another agent.
    HandoffTransfer,
    /// A handoff was closed with a resolution.
    HandoffClose,
    /// A list of callback tickets was shown (masked numbers; subject `callbacks:STATUS`).
    CallbackList,
    /// A callback ticket's full phone number was shown.
    CallbackReveal,
    /// A callback ticket's status was changed.
    CallbackUpdate,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::ViewScan => "view_scan",
            Access::RevealField => "reveal_field",
            Access::Create => "create",
            Access::Export => "export",
            Access::EditField => "edit_field",
            Access::ConfirmEdits => "confirm_edits",
            Access::HandoffList => "handoff_list",
            Access::HandoffView => "handoff_view",
            Access::HandoffClaim => "handoff_claim",
            Access::HandoffMessage => "handoff_message",
            Access::HandoffTransfer => "handoff_transfer",
            Access::HandoffClose => "handoff_close",
            Access::CallbackList => "callback_list",
            Access::CallbackReveal => "callback_reveal",
            Access::CallbackUpdate => "callback_update",
        }
    }
}

/// One access, as read back.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccessEntry {
    /// Unix seconds.
    pub at: i64,
    /// The user's name.
    pub actor: String,
    pub role: String,
    pub job_id: String,
    pub action: String,
    /// The field revealed or corrected: its name (`id_number`, …), never its value. None for
    /// a reveal of every field (and the scans) and for the other actions.
    pub field: Option<String>,
}

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct AccessQuery {
    pub job_id: Option<String>,
    pub actor: Option<String>,
    /// Only entries at or after this time (Unix seconds).
    pub since: Option<i64>,
    pub limit: i64,
}

impl Store {
    pub async fn log_access(
        &self,
        actor: &str,
        role: &str,
        job_id: &str,
        action: Access,
    ) -> Result<()> {
        self.log_field_access(actor, role, job_id, action, None)
            .await
    }

    /// Logs an access to one field (`field`: its name, never its value), or to the job as a
    /// whole (`None`).
    pub async fn log_field_access(
        &self,
        actor: &str,
        role: &str,
        job_id: &str,
        action: Access,
        field: Option<&str>,
    ) -> Result<()> {
        let id = super::edits::time_ordered_id();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO access_log (id, at, actor, role, job_id, action) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(now())
        .bind(actor)
        .bind(role)
        .bind(job_id)
        .bind(action.as_str())
        .execute(&mut *tx)
        .await?;
        if let Some(field) = field {
            sqlx::query("INSERT INTO access_log_fields (entry_id, field) VALUES ($1, $2)")
                .bind(&id)
                .bind(field)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Entries matching `q`, newest first (also within a second, for entries logged since
    /// ids are time-ordered).
    pub async fn access_log(&self, q: &AccessQuery) -> Result<Vec<AccessEntry>> {
        let rows = sqlx::query(
            "SELECT a.at, a.actor, a.role, a.job_id, a.action, f.field
             FROM access_log a LEFT JOIN access_log_fields f ON f.entry_id = a.id
             WHERE ($1 = '' OR a.job_id = $1) AND ($2 = '' OR a.actor = $2) AND a.at >= $3
             ORDER BY a.at DESC, a.id DESC LIMIT $4",
        )
        .bind(q.job_id.clone().unwrap_or_default())
        .bind(q.actor.clone().unwrap_or_default())
        .bind(q.since.unwrap_or(0))
        .bind(q.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AccessEntry {
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    role: r.try_get("role")?,
                    job_id: r.try_get("job_id")?,
                    action: r.try_get("action")?,
                    field: r.try_get("field")?,
                })
            })
            .collect()
    }
}
