//! Handoffs to service-centre agents, the lines of each conversation (citizen, assistant,
//! agent) with per-conversation sequence numbers, callback tickets (the phone number sealed,
//! a masked copy beside it) and agents' away marks. Times are Unix milliseconds. All text
//! arrives here redacted.

use super::{Store, now};
use anyhow::{Context, Result};
use sqlx::Row;
use sqlx::any::AnyRow;

pub(super) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS handoffs (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT NOT NULL,
        agent TEXT,
        queued_at BIGINT NOT NULL,
        claimed_at BIGINT,
        first_response_at BIGINT,
        closed_at BIGINT,
        resolution TEXT,
        citizen_seen_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS handoffs_by_state ON handoffs (state, queued_at)",
    "CREATE INDEX IF NOT EXISTS handoffs_by_session ON handoffs (session_id, queued_at)",
    "CREATE TABLE IF NOT EXISTS chat_lines (
        session_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        sender TEXT NOT NULL,
        author TEXT,
        body TEXT NOT NULL,
        citations TEXT,
        handoff_id TEXT,
        at BIGINT NOT NULL,
        PRIMARY KEY (session_id, seq))",
    "CREATE INDEX IF NOT EXISTS chat_lines_by_time ON chat_lines (at)",
    "CREATE INDEX IF NOT EXISTS handoffs_by_update ON handoffs (updated_at)",
    "CREATE TABLE IF NOT EXISTS callbacks (
        id TEXT PRIMARY KEY,
        handoff_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        status TEXT NOT NULL,
        phone {blob} NOT NULL,
        phone_masked TEXT NOT NULL,
        note TEXT NOT NULL,
        handled_by TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS callbacks_by_status ON callbacks (status, created_at)",
    "CREATE TABLE IF NOT EXISTS agent_status (
        user_name TEXT PRIMARY KEY,
        away BIGINT NOT NULL,
        updated_at BIGINT NOT NULL)",
];

/// Unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A handoff as stored.
#[derive(Debug, Clone)]
pub struct HandoffRow {
    pub id: String,
    pub session_id: String,
    pub state: String,
    pub reason: String,
    pub agent: Option<String>,
    pub queued_at: i64,
    pub claimed_at: Option<i64>,
    pub first_response_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub resolution: Option<String>,
}

/// One line of a conversation.
#[derive(Debug, Clone)]
pub struct LineRow {
    pub seq: i64,
    pub sender: String,
    pub author: Option<String>,
    pub body: String,
    pub citations: Option<String>,
    pub at: i64,
    /// Set on lines written while a handoff was live (to or from the agent).
    pub handoff_id: Option<String>,
}

/// A callback ticket without its sealed number.
#[derive(Debug, Clone)]
pub struct CallbackRow {
    pub id: String,
    pub handoff_id: String,
    pub session_id: String,
    pub status: String,
    pub phone_masked: String,
    pub note: String,
    pub handled_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const HANDOFF_COLUMNS: &str = "id, session_id, state, reason, agent, queued_at, claimed_at, first_response_at, closed_at, resolution";
const CALLBACK_COLUMNS: &str =
    "id, handoff_id, session_id, status, phone_masked, note, handled_by, created_at, updated_at";

fn handoff_row(r: &AnyRow) -> Result<HandoffRow> {
    Ok(HandoffRow {
        id: r.try_get("id")?,
        session_id: r.try_get("session_id")?,
        state: r.try_get("state")?,
        reason: r.try_get("reason")?,
        agent: r.try_get("agent")?,
        queued_at: r.try_get("queued_at")?,
        claimed_at: r.try_get("claimed_at")?,
        first_response_at: r.try_get("first_response_at")?,
        closed_at: r.try_get("closed_at")?,
        resolution: r.try_get("resolution")?,
    })
}

fn callback_row(r: &AnyRow) -> Result<CallbackRow> {
    Ok(CallbackRow {
        id: r.try_get("id")?,
        handoff_id: r.try_get("handoff_id")?,
        session_id: r.try_get("session_id")?,
        status: r.try_get("status")?,
        phone_masked: r.try_get("phone_masked")?,
        note: r.try_get("note")?,
        handled_by: r.try_get("handled_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// A new line of a conversation.
pub struct NewLine<'a> {
    pub sender: &'a str,
    pub author: Option<&'a str>,
    pub body: &'a str,
    pub citations: Option<String>,
    pub handoff_id: Option<&'a str>,
}

impl Store {
    pub async fn insert_handoff(
        &self,
        id: &str,
        session_id: &str,
        state: &str,
        reason: &str,
    ) -> Result<()> {
        let t = now_ms();
        sqlx::query(
            "INSERT INTO handoffs (id, session_id, state, reason, queued_at, citizen_seen_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5, $5)",
        )
        .bind(id)
        .bind(session_id)
        .bind(state)
        .bind(reason)
        .bind(t)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn handoff(&self, id: &str) -> Result<Option<HandoffRow>> {
        let sql = format!("SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(handoff_row).transpose()
    }

    /// The conversation's latest handoff.
    pub async fn latest_handoff(&self, session_id: &str) -> Result<Option<HandoffRow>> {
        let sql = format!(
            "SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE session_id = $1 ORDER BY queued_at DESC, id DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(handoff_row).transpose()
    }

    /// Handoffs in `state`, oldest first (closed: newest first), at most `limit`.
    pub async fn handoffs_in(&self, state: &str, limit: i64) -> Result<Vec<HandoffRow>> {
        let order = if state == "closed" {
            "COALESCE(closed_at, queued_at) DESC"
        } else {
            "queued_at ASC, id ASC"
        };
        let sql = format!(
            "SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE state = $1 ORDER BY {order} LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(state)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(handoff_row).collect()
    }

    /// 1 for the first in the queue; 0 if the handoff is not waiting.
    pub async fn queue_position(&self, h: &HandoffRow) -> Result<i64> {
        if h.state != "waiting" {
            return Ok(0);
        }
        let row = sqlx::query(
            "SELECT COUNT(*) AS ahead FROM handoffs WHERE state = 'waiting' AND (queued_at < $1 OR (queued_at = $1 AND id <= $2))",
        )
        .bind(h.queued_at)
        .bind(&h.id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("ahead")?)
    }

    pub async fn count_handoffs(&self, state: &str) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM handoffs WHERE state = $1")
            .bind(state)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Mean milliseconds from queueing to claim over the last 20 claimed handoffs.
    pub async fn mean_claim_wait_ms(&self) -> Result<Option<i64>> {
        let rows = sqlx::query(
            "SELECT claimed_at - queued_at AS waited FROM handoffs WHERE claimed_at IS NOT NULL ORDER BY claimed_at DESC LIMIT 20",
        )
        .fetch_all(&self.pool)
        .await?;
        let waits: Vec<i64> = rows
            .iter()
            .map(|r| r.try_get::<i64, _>("waited"))
            .collect::<Result<_, _>>()?;
        Ok((!waits.is_empty()).then(|| waits.iter().sum::<i64>() / waits.len() as i64))
    }

    /// Takes a waiting handoff for `agent`; `false` if it was not waiting (already taken).
    pub async fn claim_handoff(&self, id: &str, agent: &str) -> Result<bool> {
        let t = now_ms();
        let done = sqlx::query(
            "UPDATE handoffs SET state = 'active', agent = $1, claimed_at = $2, updated_at = $2 WHERE id = $3 AND state = 'waiting'",
        )
        .bind(agent)
        .bind(t)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Hands an active handoff from `from` (any agent when `None`) to `to`.
    pub async fn transfer_handoff(&self, id: &str, from: Option<&str>, to: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE handoffs SET agent = $1, updated_at = $2 WHERE id = $3 AND state = 'active' AND ($4 = '' OR agent = $4)",
        )
        .bind(to)
        .bind(now_ms())
        .bind(id)
        .bind(from.unwrap_or(""))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Closes a waiting, active or callback handoff; `false` if it was closed already.
    pub async fn close_handoff(&self, id: &str, resolution: &str) -> Result<bool> {
        let t = now_ms();
        let done = sqlx::query(
            "UPDATE handoffs SET state = 'closed', resolution = $1, closed_at = $2, updated_at = $2 WHERE id = $3 AND state <> 'closed'",
        )
        .bind(resolution)
        .bind(t)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Notes the citizen's presence (at most one write every 10 s per handoff).
    pub async fn citizen_seen(&self, id: &str) -> Result<()> {
        let t = now_ms();
        sqlx::query(
            "UPDATE handoffs SET citizen_seen_at = $1 WHERE id = $2 AND citizen_seen_at < $3",
        )
        .bind(t)
        .bind(id)
        .bind(t - 10_000)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Closes as `abandoned` the waiting handoffs whose citizen has not been seen since
    /// `before` (ms); returns how many.
    pub async fn abandon_unseen(&self, before: i64) -> Result<u64> {
        let t = now_ms();
        Ok(sqlx::query(
            "UPDATE handoffs SET state = 'closed', resolution = 'abandoned', closed_at = $1, updated_at = $1 WHERE state = 'waiting' AND citizen_seen_at < $2",
        )
        .bind(t)
        .bind(before)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Records the agent's first message; returns the milliseconds since queueing when this
    /// was the first.
    pub async fn note_first_response(&self, id: &str) -> Result<Option<i64>> {
        let t = now_ms();
        let row = sqlx::query(
            "UPDATE handoffs SET first_response_at = $1, updated_at = $1 WHERE id = $2 AND first_response_at IS NULL RETURNING queued_at",
        )
        .bind(t)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok(t - r.try_get::<i64, _>("queued_at")?))
            .transpose()
    }

    /// Appends a line to a conversation; returns its number (1, 2, …). Two nodes appending
    /// at once: the loser of the key retries with the next number.
    pub async fn append_line(&self, session_id: &str, line: &NewLine<'_>) -> Result<i64> {
        let mut last = None;
        for _ in 0..8 {
            let done = sqlx::query(
                "INSERT INTO chat_lines (session_id, seq, sender, author, body, citations, handoff_id, at)
                 SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6, $7 FROM chat_lines WHERE session_id = $1
                 RETURNING seq",
            )
            .bind(session_id)
            .bind(line.sender)
            .bind(line.author)
            .bind(line.body)
            .bind(line.citations.clone())
            .bind(line.handoff_id)
            .bind(now_ms())
            .fetch_one(&self.pool)
            .await;
            match done {
                Ok(r) => return Ok(r.try_get("seq")?),
                Err(e) => last = Some(e),
            }
        }
        Err(last.context("no attempt")?.into())
    }

    /// Conversations with a line written after `since` (ms), and conversations whose handoff
    /// changed after it (queued, claimed, passed on, answered first, closed).
    pub async fn changed_since(&self, since: i64) -> Result<(Vec<String>, Vec<String>)> {
        let lines = sqlx::query("SELECT DISTINCT session_id FROM chat_lines WHERE at > $1")
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        let handoffs =
            sqlx::query("SELECT DISTINCT session_id FROM handoffs WHERE updated_at > $1")
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
        let ids = |rows: Vec<AnyRow>| -> Result<Vec<String>> {
            rows.iter()
                .map(|r| Ok(r.try_get::<String, _>("session_id")?))
                .collect()
        };
        Ok((ids(lines)?, ids(handoffs)?))
    }

    /// What the citizen wrote last in the conversation.
    pub async fn last_citizen_line(&self, session_id: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT body FROM chat_lines WHERE session_id = $1 AND sender = 'citizen' ORDER BY seq DESC LIMIT 1",
        )
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok(r.try_get::<String, _>("body")?)).transpose()
    }

    /// The number of the conversation's last line (0 without any).
    pub async fn last_line(&self, session_id: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) AS last FROM chat_lines WHERE session_id = $1",
        )
        .bind(session_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("last")?)
    }

    /// What the agent console shows of the live handoffs (or of handoff `id`, in any state),
    /// reduced to what changes it: id, state, agent, resolution and the conversation's last
    /// line number, in queue order. One query, however long the queue.
    pub async fn console_fingerprint(&self, id: Option<&str>) -> Result<String> {
        let which = if id.is_some() {
            "h.id = $1"
        } else {
            "(h.state = 'waiting' OR h.state = 'active') AND $1 = ''"
        };
        let sql = format!(
            "SELECT h.id, h.state, COALESCE(h.agent, '') AS agent, COALESCE(h.resolution, '') AS resolution,
                    CAST(COALESCE((SELECT MAX(c.seq) FROM chat_lines c WHERE c.session_id = h.session_id), 0) AS BIGINT) AS last
             FROM handoffs h WHERE {which} ORDER BY h.queued_at, h.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.unwrap_or(""))
            .fetch_all(&self.pool)
            .await?;
        let mut out = String::new();
        for r in &rows {
            out.push_str(&format!(
                "{}:{}:{}:{}:{};",
                r.try_get::<String, _>("id")?,
                r.try_get::<String, _>("state")?,
                r.try_get::<String, _>("agent")?,
                r.try_get::<String, _>("resolution")?,
                r.try_get::<i64, _>("last")?
            ));
        }
        Ok(out)
    }

    /// Lines of a conversation after number `after`, in order, at most `limit`.
    pub async fn lines(&self, session_id: &str, after: i64, limit: i64) -> Result<Vec<LineRow>> {
        let rows = sqlx::query(
            "SELECT seq, sender, author, body, citations, at, handoff_id FROM chat_lines WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(session_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LineRow {
                    seq: r.try_get("seq")?,
                    sender: r.try_get("sender")?,
                    author: r.try_get("author")?,
                    body: r.try_get("body")?,
                    citations: r.try_get("citations")?,
                    at: r.try_get("at")?,
                    handoff_id: r.try_get("handoff_id")?,
                })
            })
            .collect()
    }

    /// Agents and supervisors on duty: signed in (a live session) and not marked away.
    /// Agents are on duty unless marked away; supervisors only when they said they are.
    pub async fn agents_on_duty(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT u.name FROM users u JOIN sessions s ON s.user_id = u.id
             LEFT JOIN agent_status a ON a.user_name = u.name
             WHERE s.expires_at > $1 AND u.disabled = 0
               AND ((u.role = 'agent' AND COALESCE(a.away, 0) = 0)
                 OR (u.role = 'supervisor' AND COALESCE(a.away, 1) = 0))
             ORDER BY u.name",
        )
        .bind(now())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("name")?))
            .collect()
    }

    /// Enabled agents and supervisors, by name (whom a conversation may be passed to).
    pub async fn conversation_staff(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT name FROM users WHERE disabled = 0 AND (role = 'agent' OR role = 'supervisor') ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("name")?))
            .collect()
    }

    /// Whether `name` marked themself away (`None`: never said).
    pub async fn agent_away(&self, name: &str) -> Result<Option<bool>> {
        let row = sqlx::query("SELECT away FROM agent_status WHERE user_name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(r.try_get::<i64, _>("away")? != 0))
            .transpose()
    }

    pub async fn set_agent_away(&self, name: &str, away: bool) -> Result<()> {
        sqlx::query(
            "INSERT INTO agent_status (user_name, away, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_name) DO UPDATE SET away = $2, updated_at = $3",
        )
        .bind(name)
        .bind(i64::from(away))
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_callback(
        &self,
        id: &str,
        handoff_id: &str,
        session_id: &str,
        phone_sealed: &[u8],
        phone_masked: &str,
        note: &str,
    ) -> Result<()> {
        let t = now_ms();
        sqlx::query(
            "INSERT INTO callbacks (id, handoff_id, session_id, status, phone, phone_masked, note, created_at, updated_at)
             VALUES ($1, $2, $3, 'new', $4, $5, $6, $7, $7)",
        )
        .bind(id)
        .bind(handoff_id)
        .bind(session_id)
        .bind(phone_sealed.to_vec())
        .bind(phone_masked)
        .bind(note)
        .bind(t)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn callback(&self, id: &str) -> Result<Option<CallbackRow>> {
        let sql = format!("SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(callback_row).transpose()
    }

    pub async fn callback_of_handoff(&self, handoff_id: &str) -> Result<Option<CallbackRow>> {
        let sql = format!(
            "SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE handoff_id = $1 ORDER BY created_at DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(handoff_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(callback_row).transpose()
    }

    /// Tickets with one of `statuses` created at or after `since` (ms), oldest first.
    pub async fn callbacks(
        &self,
        statuses: &[&str],
        since: i64,
        limit: i64,
    ) -> Result<Vec<CallbackRow>> {
        let sql = format!(
            "SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE (status = $1 OR status = $2 OR status = $3) AND created_at >= $4 ORDER BY created_at ASC, id ASC LIMIT $5"
        );
        let s = |i: usize| statuses.get(i).copied().unwrap_or("");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(s(0))
            .bind(s(1))
            .bind(s(2))
            .bind(since)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(callback_row).collect()
    }

    /// The sealed phone number of a ticket.
    pub async fn callback_phone(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT phone FROM callbacks WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(r.try_get::<Vec<u8>, _>("phone")?))
            .transpose()
    }

    pub async fn set_callback_status(&self, id: &str, status: &str, by: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE callbacks SET status = $1, handled_by = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(status)
        .bind(by)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every ticket's sealed number (for a key rotation).
    pub async fn callback_phones(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let rows = sqlx::query("SELECT id, phone FROM callbacks ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("phone")?)))
            .collect()
    }

    /// Replaces a ticket's sealed number if it is still `old`.
    pub async fn swap_callback_phone(&self, id: &str, old: &[u8], new: &[u8]) -> Result<bool> {
        let done = sqlx::query("UPDATE callbacks SET phone = $1 WHERE id = $2 AND phone = $3")
            .bind(new.to_vec())
            .bind(id)
            .bind(old.to_vec())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes closed tickets (their sealed numbers with them) closed before `before` (ms).
    pub async fn purge_callbacks(&self, before: i64) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM callbacks WHERE status = 'closed' AND updated_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}
