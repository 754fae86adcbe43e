//! Storage of conversations, replies and feedback: SQLite by default, PostgreSQL by URL, the
//! same SQL on both through sqlx's Any driver. Only redacted text is ever written here.

use crate::answer::{Citation, Conversation, Reply};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use std::fmt;

pub mod access_log;
pub mod edits;
pub mod handoffs;
pub mod jobs;
pub mod rekey;
pub mod seal;
pub mod suggestions;
pub mod throttle;
pub mod users;

/// Schema steps, applied in order once each. Types are kept to what both databases share.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS conversations (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        turns BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS messages (
        id TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        question TEXT NOT NULL,
        answer TEXT NOT NULL,
        outcome TEXT NOT NULL,
        reason TEXT,
        mode TEXT NOT NULL,
        citations TEXT NOT NULL,
        created_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages (conversation_id, seq)",
    "CREATE INDEX IF NOT EXISTS messages_by_outcome ON messages (outcome, reason)",
    "CREATE TABLE IF NOT EXISTS feedback (
        id TEXT PRIMARY KEY,
        message_id TEXT NOT NULL,
        helpful BIGINT NOT NULL,
        comment TEXT,
        created_at BIGINT NOT NULL)",
];

/// A conversation id as handed to clients: 32 lowercase hex digits.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionId(String);

impl SessionId {
    /// A fresh random id.
    pub fn random() -> SessionId {
        SessionId(uuid::Uuid::new_v4().simple().to_string())
    }
    pub fn parse(s: &str) -> Option<SessionId> {
        (s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| SessionId(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({}…)", &self.0[..8])
    }
}

/// One question and its reply, as stored (the question already redacted).
#[derive(Debug, Clone, Serialize)]
pub struct Turn {
    pub reply_id: String,
    pub question: String,
    pub answer: String,
    pub outcome: String,
    pub mode: String,
    pub citations: Vec<Citation>,
    pub created_at: i64,
}

/// A question that got no answer, grouped by its text.
#[derive(Debug, Clone, Serialize)]
pub struct Unanswered {
    pub question: String,
    pub times: i64,
    pub last_asked: i64,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Store {
    /// Connects (creating the SQLite file if needed) and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Store> {
        install_default_drivers();
        if let Some(path) = url.strip_prefix("sqlite://") {
            let file = path.split('?').next().unwrap_or(path);
            if let Some(dir) = std::path::Path::new(file).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("创建数据目录 {}", dir.display()))?;
            }
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if url.starts_with("sqlite") { 4 } else { 10 })
            .connect(url)
            .await
            .with_context(|| format!("无法连接数据库（{}）", redact_url(url)))?;
        if url.starts_with("sqlite") {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
            sqlx::query("PRAGMA busy_timeout = 5000")
                .execute(&pool)
                .await?;
        }
        // One connection brings the schema up to date at a time (PostgreSQL's concurrent
        // `CREATE … IF NOT EXISTS` can otherwise collide).
        let blob = if url.starts_with("sqlite") {
            "BLOB"
        } else {
            "BYTEA"
        };
        let steps: Vec<String> = SCHEMA
            .iter()
            .chain(users::SCHEMA)
            .chain(jobs::SCHEMA)
            .chain(access_log::SCHEMA)
            .chain(edits::SCHEMA)
            .chain(suggestions::SCHEMA)
            .chain(handoffs::SCHEMA)
            .chain(throttle::SCHEMA)
            .map(|step| step.replace("{blob}", blob))
            .collect();
        if url.starts_with("sqlite") {
            let mut tx = pool.begin().await?;
            for sql in steps {
                // Built from the constant steps above; nothing from outside.
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        } else {
            // On PostgreSQL each step commits by itself under a session advisory lock: one
            // transaction for all of them held every indexed table's lock until the end, and
            // deadlocked with other nodes' transactions touching two of those tables.
            let mut conn = pool.acquire().await?;
            sqlx::query("SELECT 1 AS locked FROM (SELECT pg_advisory_lock(7418321)) AS l")
                .execute(&mut *conn)
                .await?;
            let mut result = Ok(());
            for sql in steps {
                // Built from the constant steps above; nothing from outside.
                if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut *conn)
                    .await
                {
                    result = Err(e);
                    break;
                }
            }
            sqlx::query("SELECT 1 AS unlocked FROM (SELECT pg_advisory_unlock(7418321)) AS l")
                .execute(&mut *conn)
                .await?;
            result?;
        }
        Ok(Store { pool })
    }

    pub async fn create_conversation(&self) -> Result<SessionId> {
        let id = SessionId::random();
        let t = now();
        sqlx::query(
            "INSERT INTO conversations (id, state, turns, created_at, updated_at) VALUES ($1, $2, 0, $3, $3)",
        )
        .bind(id.as_str())
        .bind(serde_json::to_string(&Conversation::default())?)
        .bind(t)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// The state of a conversation, or `None` if it does not exist (or has expired).
    pub async fn conversation(&self, id: &SessionId) -> Result<Option<Conversation>> {
        let row = sqlx::query("SELECT state FROM conversations WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(serde_json::from_str(&r.try_get::<String, _>("state")?)?))
            .transpose()
    }

    /// Stores one turn and the conversation state after it; returns the reply id.
    /// `question` must already be redacted.
    pub async fn record_turn(
        &self,
        id: &SessionId,
        state: &Conversation,
        question: &str,
        reply: &Reply,
    ) -> Result<String> {
        let reply_id = uuid::Uuid::new_v4().simple().to_string();
        let t = now();
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE conversations SET state = $1, turns = turns + 1, updated_at = $2 WHERE id = $3 RETURNING turns",
        )
        .bind(serde_json::to_string(state)?)
        .bind(t)
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .context("会话不存在")?;
        let seq: i64 = row.try_get("turns")?;
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, seq, question, answer, outcome, reason, mode, citations, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&reply_id)
        .bind(id.as_str())
        .bind(seq)
        .bind(question)
        .bind(&reply.answer)
        .bind(reply.outcome.as_str())
        .bind(reply.reason.clone())
        .bind(serde_json::to_value(reply.mode)?.as_str().unwrap_or("extractive").to_string())
        .bind(serde_json::to_string(&reply.citations)?)
        .bind(t)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(reply_id)
    }

    pub async fn transcript(&self, id: &SessionId) -> Result<Vec<Turn>> {
        let rows = sqlx::query(
            "SELECT id, question, answer, outcome, mode, citations, created_at FROM messages WHERE conversation_id = $1 ORDER BY seq",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Turn {
                    reply_id: r.try_get("id")?,
                    question: r.try_get("question")?,
                    answer: r.try_get("answer")?,
                    outcome: r.try_get("outcome")?,
                    mode: r.try_get("mode")?,
                    citations: serde_json::from_str(&r.try_get::<String, _>("citations")?)?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Turns stored in a conversation and the characters of their questions and answers.
    pub async fn conversation_size(&self, id: &SessionId) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS turns, CAST(COALESCE(SUM(LENGTH(question) + LENGTH(answer)), 0) AS BIGINT) AS chars
             FROM messages WHERE conversation_id = $1",
        )
        .bind(id.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("turns")?, row.try_get("chars")?))
    }

    /// Records feedback on a reply; `false` if the reply does not exist.
    pub async fn add_feedback(
        &self,
        reply_id: &str,
        helpful: bool,
        comment: Option<&str>,
    ) -> Result<bool> {
        let exists = sqlx::query("SELECT id FROM messages WHERE id = $1")
            .bind(reply_id)
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        if !exists {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO feedback (id, message_id, helpful, comment, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        // In the order written, so the latest feedback on a reply is known within a second.
        .bind(edits::time_ordered_id())
        .bind(reply_id)
        .bind(i64::from(helpful))
        .bind(comment.map(str::to_string))
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(true)
    }

    /// Questions answered with "nothing relevant found", most frequent first.
    pub async fn unanswered(&self, limit: i64) -> Result<Vec<Unanswered>> {
        let rows = sqlx::query(
            "SELECT question, COUNT(*) AS times, MAX(created_at) AS last_asked FROM messages
             WHERE outcome = 'out_of_scope' AND reason = 'no_match'
             GROUP BY question ORDER BY times DESC, last_asked DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Unanswered {
                    question: r.try_get("question")?,
                    times: r.try_get("times")?,
                    last_asked: r.try_get("last_asked")?,
                })
            })
            .collect()
    }

    /// Deletes conversations (and their messages, lines, closed handoffs and feedback) idle for longer than `days`.
    pub async fn purge_conversations(&self, days: u32) -> Result<u64> {
        let cutoff = now() - i64::from(days) * 86_400;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM feedback WHERE message_id IN (SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.updated_at < $1)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE updated_at < $1)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM chat_lines WHERE session_id IN (SELECT id FROM conversations WHERE updated_at < $1)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM handoffs WHERE state = 'closed' AND session_id IN (SELECT id FROM conversations WHERE updated_at < $1)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        let n = sqlx::query("DELETE FROM conversations WHERE updated_at < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }
}

/// A database URL without its password, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

impl Store {
    /// A round trip to the database, for health checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
