//! The assistant as the API, the widget and `xiaoban ask` use it: one question in a
//! conversation → a stored, redacted turn and its reply.

use crate::answer::{self, Conversation, Question, QuestionError, Reply, Tuning};
use crate::metrics::{Metrics, ReplyLabels};
use crate::privacy::redact;
use crate::search::IndexHandle;
use crate::store::{SessionId, Store};
use std::sync::Arc;

pub struct Assistant {
    pub index: IndexHandle,
    pub store: Store,
    pub tuning: Tuning,
    pub metrics: Arc<Metrics>,
}

#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error(transparent)]
    Question(#[from] QuestionError),
    #[error("会话不存在或已过期，请重新开始对话。")]
    UnknownSession,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A reply as handed out: with the conversation and the id feedback refers to.
#[derive(Debug, Clone)]
pub struct Answered {
    pub session_id: SessionId,
    pub reply_id: String,
    pub reply: Reply,
    /// The question as stored (personal numbers masked).
    pub question: String,
}

impl Assistant {
    /// Answers `question` in the conversation `session` (a new one when `None`).
    pub async fn ask(&self, session: Option<&str>, question: &str) -> Result<Answered, AskError> {
        let started = std::time::Instant::now();
        let redacted = redact(question);
        let question = Question::parse(&redacted.text)?;
        let (session_id, conv) = match session {
            Some(s) => {
                let id = SessionId::parse(s).ok_or(AskError::UnknownSession)?;
                let conv = self
                    .store
                    .conversation(&id)
                    .await?
                    .ok_or(AskError::UnknownSession)?;
                (id, conv)
            }
            None => (
                self.store.create_conversation().await?,
                Conversation::default(),
            ),
        };
        let index = self.index.get();
        let today = chrono::Local::now().date_naive();
        let (reply, next) = answer::answer(&index, &self.tuning, &question, &conv, today)?;
        let reply_id = self
            .store
            .record_turn(&session_id, &next, question.as_str(), &reply)
            .await?;
        self.metrics
            .replies
            .get_or_create(&ReplyLabels {
                outcome: reply.outcome.as_str().into(),
                mode: format!("{:?}", reply.mode).to_lowercase(),
            })
            .inc();
        self.metrics
            .answer_seconds
            .observe(started.elapsed().as_secs_f64());
        tracing::info!(
            outcome = reply.outcome.as_str(),
            reason = reply.reason.as_deref().unwrap_or(""),
            citations = reply.citations.len(),
            redacted = redacted.found.len(),
            ms = started.elapsed().as_millis() as u64,
            "reply"
        );
        Ok(Answered {
            session_id,
            reply_id,
            reply,
            question: question.as_str().to_string(),
        })
    }
}
