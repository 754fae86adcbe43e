//! What the administrators' learning loop reads and keeps: the questions that got no answer or
//! a reply marked unhelpful, and the decisions taken on them (accepted as an alias of a
//! document, or rejected). A decision is kept under a hash of the question, never its text, so
//! it outlives the conversation's retention without keeping what a citizen typed.

use super::{Store, now};
use crate::answer::Citation;
use crate::kb::DocId;
use anyhow::Result;
use sqlx::Row;
use std::collections::HashMap;

pub(super) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS suggestion_decisions (
        question_hash TEXT PRIMARY KEY,
        group_id TEXT NOT NULL,
        decision TEXT NOT NULL,
        doc_id TEXT,
        decided_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS feedback_by_message ON feedback (message_id, created_at)",
];

/// Why a stored question is worth an administrator's look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortfall {
    /// Answered with "nothing relevant found" (`out_of_scope`, reason `no_match`).
    NoAnswer,
    /// The citizen marked the reply unhelpful (and did not change their mind).
    Unhelpful,
}

/// One stored question (already redacted when it was stored) that fell short.
#[derive(Debug, Clone)]
pub struct ShortQuestion {
    pub question: String,
    pub shortfall: Shortfall,
    /// The outcome and reason the reply had.
    pub outcome: String,
    pub reason: Option<String>,
    /// The documents the reply cited, in order.
    pub cited: Vec<DocId>,
    pub asked_at: i64,
}

/// A decision on a group of questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Accepted,
    Rejected,
}

impl Decision {
    fn as_str(self) -> &'static str {
        match self {
            Decision::Accepted => "accepted",
            Decision::Rejected => "rejected",
        }
    }
}

impl Store {
    /// Every stored question answered with `no_match`, and every one whose reply was last
    /// marked unhelpful, oldest first. A question both unanswered and marked unhelpful comes
    /// once, as unhelpful.
    pub async fn short_questions(&self) -> Result<Vec<ShortQuestion>> {
        // The latest feedback on each message decides (feedback ids sort in the order they
        // were written): a citizen who first clicked "not helpful" and then "helpful" is
        // content.
        let rows = sqlx::query(
            "SELECT m.question, m.outcome, m.reason, m.citations, m.created_at,
                    CAST(CASE WHEN EXISTS (
                        SELECT 1 FROM feedback f WHERE f.message_id = m.id AND f.helpful = 0
                          AND NOT EXISTS (SELECT 1 FROM feedback g WHERE g.message_id = m.id
                                            AND g.helpful <> 0
                                            AND (g.created_at > f.created_at
                                                 OR (g.created_at = f.created_at AND g.id > f.id))))
                    THEN 1 ELSE 0 END AS BIGINT) AS unhelpful
             FROM messages m
             WHERE (m.outcome = 'out_of_scope' AND m.reason = 'no_match')
                OR EXISTS (SELECT 1 FROM feedback f WHERE f.message_id = m.id AND f.helpful = 0)
             ORDER BY m.created_at, m.id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let unhelpful: i64 = r.try_get("unhelpful")?;
            let outcome: String = r.try_get("outcome")?;
            let reason: Option<String> = r.try_get("reason")?;
            let no_answer = outcome == "out_of_scope" && reason.as_deref() == Some("no_match");
            let shortfall = match (unhelpful != 0, no_answer) {
                (true, _) => Shortfall::Unhelpful,
                (false, true) => Shortfall::NoAnswer,
                // Marked unhelpful once, then helpful: nothing to learn.
                (false, false) => continue,
            };
            let citations: Vec<Citation> =
                serde_json::from_str(&r.try_get::<String, _>("citations")?)?;
            let cited = citations.into_iter().map(|c| c.doc_id).collect();
            out.push(ShortQuestion {
                question: r.try_get("question")?,
                shortfall,
                outcome,
                reason,
                cited,
                asked_at: r.try_get("created_at")?,
            });
        }
        Ok(out)
    }

    /// The decisions taken, by question hash: which, and when (Unix seconds).
    pub async fn decided_questions(&self) -> Result<HashMap<String, (Decision, i64)>> {
        let rows =
            sqlx::query("SELECT question_hash, decision, decided_at FROM suggestion_decisions")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                let decision = match r.try_get::<String, _>("decision")?.as_str() {
                    "accepted" => Decision::Accepted,
                    _ => Decision::Rejected,
                };
                Ok((
                    r.try_get("question_hash")?,
                    (decision, r.try_get("decided_at")?),
                ))
            })
            .collect()
    }

    /// Records a decision on the questions (by hash) of group `group_id`, in one transaction;
    /// a question decided before takes the new decision.
    pub async fn decide(
        &self,
        group_id: &str,
        question_hashes: &[String],
        decision: Decision,
        doc_id: Option<&str>,
    ) -> Result<()> {
        let t = now();
        let mut tx = self.pool.begin().await?;
        for h in question_hashes {
            sqlx::query(
                "INSERT INTO suggestion_decisions (question_hash, group_id, decision, doc_id, decided_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (question_hash) DO UPDATE SET group_id = excluded.group_id,
                    decision = excluded.decision, doc_id = excluded.doc_id,
                    decided_at = excluded.decided_at",
            )
            .bind(h)
            .bind(group_id)
            .bind(decision.as_str())
            .bind(doc_id.map(str::to_string))
            .bind(t)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
