//! The assistant as the API, the widget and `xiaoban ask` use it: one question in a
//! conversation → a stored, redacted turn and its reply.
//!
//! Asking has two steps so that HTTP can refuse before a response starts: [`Assistant::begin`]
//! answers extractively and, when a language model is configured and the reply rests on
//! passages, takes a place in the generation queue (or fails with `Busy`);
//! [`Assistant::finish`] waits for the model, streams its text, checks it against the passages
//! (`answer::grounded`) and keeps it or falls back to the extractive answer, then stores the turn.

use crate::answer::grounded::{self, Rejection};
use crate::answer::{
    self, Citation, Conversation, Mode, Outcome, Question, QuestionError, Reply, Tuning,
};
use crate::handoff::hours::WorkingDays;
use crate::handoff::{HandoffStatus, Handoffs};
use crate::llm::Generation;
use crate::llm::engine::Engine;
use crate::llm::queue::Ticket;
use crate::metrics::{FallbackLabels, Metrics, ReplyLabels};
use crate::privacy::redact;
use crate::search::{IndexHandle, KnowledgeIndex};
use crate::store::{SessionId, Store};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;

pub struct Assistant {
    pub index: IndexHandle,
    pub store: Store,
    pub tuning: Tuning,
    pub metrics: Arc<Metrics>,
    /// The language model that writes answers; `None` answers extractively.
    pub engine: Option<Engine>,
    /// Live handoff to agents: a handoff outcome opens one (or offers a callback), and while
    /// an agent has the conversation the citizen's messages go to the agent. `None` (the
    /// command line): handoff replies only say how to reach a person.
    pub handoffs: Option<Arc<Handoffs>>,
    /// The working-day calendar: an answer stating a time limit in 工作日 gets the date it is
    /// due if submitted today. `None`: no such line.
    pub working_days: Option<Arc<WorkingDays>>,
}

#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error(transparent)]
    Question(#[from] QuestionError),
    #[error("会话不存在或已过期，请重新开始对话。")]
    UnknownSession,
    #[error("当前咨询人数较多，请{0}秒后再试，或拨打12345政务服务便民热线。")]
    Busy(u64),
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
    /// For a handoff outcome, and for a message passed to the agent: where the handoff stands.
    pub handoff: Option<HandoffStatus>,
}

/// What a client is told while a reply is being written.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Requests ahead in the generation queue (0 = next).
    Queue(usize),
    /// More text of the answer.
    Delta(String),
    /// The text sent so far is withdrawn: the whole answer is this instead.
    Replace(String),
}

/// A question answered extractively, waiting for `finish`.
pub struct Begun {
    session_id: SessionId,
    conv: Conversation,
    question: Question,
    reply: Reply,
    index: Arc<KnowledgeIndex>,
    ticket: Option<Ticket>,
    started: Instant,
    redactions: usize,
    /// An agent has (or will take) this conversation: the message went to them, and the
    /// assistant does not answer.
    relayed: Option<HandoffStatus>,
}

/// Seconds a refused client is asked to wait.
const RETRY_AFTER_SECS: u64 = 10;

impl Assistant {
    /// Answers `question` in the conversation `session` (a new one when `None`).
    pub async fn ask(&self, session: Option<&str>, question: &str) -> Result<Answered, AskError> {
        let begun = self.begin(session, question).await?;
        self.finish(begun, None).await
    }

    /// Parses, answers extractively and, if a model will write the answer, joins its queue.
    pub async fn begin(&self, session: Option<&str>, question: &str) -> Result<Begun, AskError> {
        let started = Instant::now();
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
        if let (Some(handoffs), Some(_)) = (&self.handoffs, session)
            && let Some(live) = handoffs.live(session_id.as_str()).await?
        {
            return self
                .relay(handoffs, live, session_id, conv, question, started)
                .await;
        }
        let index = self.index.get();
        let today = chrono::Local::now().date_naive();
        let (reply, next) = answer::answer(&index, &self.tuning, &question, &conv, today)?;
        // The model is called only for an answer that rests on passages; clarifying
        // questions, refusals and handoffs are never generated.
        let ticket = match &self.engine {
            Some(engine) if reply.outcome == Outcome::Answered && !reply.sources.is_empty() => {
                match engine.queue.join() {
                    Ok(t) => Some(t),
                    Err(_) => {
                        self.metrics.generation_refused.inc();
                        return Err(AskError::Busy(RETRY_AFTER_SECS));
                    }
                }
            }
            _ => None,
        };
        Ok(Begun {
            session_id,
            conv: next,
            question,
            reply,
            index,
            ticket,
            started,
            redactions: redacted.found.len(),
            relayed: None,
        })
    }

    /// The citizen's message for the agent who has (or will take) the conversation.
    async fn relay(
        &self,
        handoffs: &Handoffs,
        live: crate::store::handoffs::HandoffRow,
        session_id: SessionId,
        conv: Conversation,
        question: Question,
        started: Instant,
    ) -> Result<Begun, AskError> {
        handoffs
            .citizen_says(&live, question.as_str())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let status = handoffs.status(&live).await?;
        let reply = Reply {
            answer: match status.state {
                crate::handoff::HandoffState::Active => "已转给正在接待您的客服人员。".to_string(),
                _ => crate::handoff::waiting_text(&status),
            },
            outcome: Outcome::Handoff,
            mode: Mode::Extractive,
            citations: Vec::new(),
            choices: Vec::new(),
            reason: Some("relayed".into()),
            ranked: Vec::new(),
            sources: Vec::new(),
        };
        let index = self.index.get();
        Ok(Begun {
            session_id,
            conv,
            question,
            reply,
            index,
            ticket: None,
            started,
            redactions: 0,
            relayed: Some(status),
        })
    }

    /// Writes the answer (streaming `Progress` to `events` when given), stores the turn and
    /// returns the reply. A client that goes away (its receiver dropped) cancels generation;
    /// the extractive reply is stored then.
    pub async fn finish(
        &self,
        begun: Begun,
        events: Option<UnboundedSender<Progress>>,
    ) -> Result<Answered, AskError> {
        let Begun {
            session_id,
            conv,
            question,
            mut reply,
            index,
            ticket,
            started,
            redactions,
            relayed,
        } = begun;
        if let Some(status) = relayed {
            if let Some(tx) = &events {
                let _ = tx.send(Progress::Delta(reply.answer.clone()));
            }
            tracing::info!(
                outcome = "relayed",
                state = status.state.as_str(),
                "message passed to the agent"
            );
            return Ok(Answered {
                session_id,
                reply_id: String::new(),
                reply,
                question: question.as_str().to_string(),
                handoff: Some(status),
            });
        }
        // A handoff outcome is made true here: a place in the agents' queue, or a callback
        // offer; the reply says which.
        let mut handoff = None;
        if reply.outcome == Outcome::Handoff
            && let Some(handoffs) = &self.handoffs
        {
            let offer = handoffs
                .offer(
                    session_id.as_str(),
                    reply.reason.as_deref().unwrap_or("human"),
                )
                .await?;
            reply.answer = match reply.reason.as_deref() {
                Some("human") | None => offer.text,
                Some("unclear") => format!("{}{}", answer::compose::UNCLEAR, offer.text),
                Some(_) => format!("{}\n{}", reply.answer, offer.text),
            };
            handoff = Some(offer.status);
        }
        let mut streamed = false;
        // Generated text already sent that the checks refused: withdrawn below.
        let mut withdrawn = false;
        if let (Some(ticket), Some(engine)) = (ticket, &self.engine) {
            let result = self
                .generate(engine, ticket, &index, &question, &reply, events.clone())
                .await;
            streamed = result.streamed;
            match result.outcome {
                Ok((text, citations)) => {
                    reply.answer = text;
                    reply.citations = citations;
                    reply.mode = Mode::Generative;
                }
                Err(why) => {
                    self.metrics
                        .generation_fallbacks
                        .get_or_create(&FallbackLabels {
                            reason: why.label().into(),
                        })
                        .inc();
                    tracing::info!(
                        reason = why.label(),
                        "generated answer replaced by the extractive one"
                    );
                    withdrawn = streamed;
                }
            }
        }
        // A time limit in 工作日 gets the date it comes to if submitted today, counted on
        // the service's working-day calendar.
        if reply.outcome == Outcome::Answered
            && let Some(days) = &self.working_days
            && let Some(note) = days.due_note(&reply.answer)
        {
            reply.answer.push('\n');
            reply.answer.push_str(&note);
            if streamed
                && !withdrawn
                && let Some(tx) = &events
            {
                let _ = tx.send(Progress::Delta(format!("\n{note}")));
            }
        }
        if withdrawn && let Some(tx) = &events {
            let _ = tx.send(Progress::Replace(reply.answer.clone()));
        }
        if !streamed && let Some(tx) = &events {
            // An extractive reply is complete at once; it is sent line by line so that
            // clients render it the same way as a generated one.
            for line in reply.answer.split_inclusive('\n') {
                let _ = tx.send(Progress::Delta(line.to_string()));
            }
        }
        drop(events);
        let reply_id = self
            .store
            .record_turn(&session_id, &conv, question.as_str(), &reply)
            .await?;
        if let Some(handoffs) = &self.handoffs {
            handoffs
                .record_turn(session_id.as_str(), question.as_str(), &reply)
                .await?;
        }
        self.metrics
            .replies
            .get_or_create(&ReplyLabels {
                outcome: reply.outcome.as_str().into(),
                mode: reply.mode.as_str().into(),
            })
            .inc();
        self.metrics
            .answer_seconds
            .observe(started.elapsed().as_secs_f64());
        tracing::info!(
            outcome = reply.outcome.as_str(),
            mode = reply.mode.as_str(),
            reason = reply.reason.as_deref().unwrap_or(""),
            citations = reply.citations.len(),
            redacted = redactions,
            ms = started.elapsed().as_millis() as u64,
            "reply"
        );
        Ok(Answered {
            session_id,
            reply_id,
            reply,
            question: question.as_str().to_string(),
            handoff,
        })
    }

    /// Waits in the queue, generates from the reply's passages and checks the text.
    async fn generate(
        &self,
        engine: &Engine,
        ticket: Ticket,
        index: &KnowledgeIndex,
        question: &Question,
        reply: &Reply,
        events: Option<UnboundedSender<Progress>>,
    ) -> Generated {
        let queued = Instant::now();
        let positions = events.clone();
        let wait = ticket.wait(move |n| {
            if let Some(tx) = &positions {
                let _ = tx.send(Progress::Queue(n));
            }
        });
        let slot = match &events {
            Some(tx) => tokio::select! {
                slot = wait => slot,
                _ = tx.closed() => return Generated::not_streamed(Rejection::Cancelled),
            },
            None => wait.await,
        };
        self.metrics
            .generation_queue_seconds
            .observe(queued.elapsed().as_secs_f64());
        let messages =
            grounded::prompt(question.as_str(), &grounded::sources(index, &reply.sources));
        let params = engine.params();
        let generator = engine.generator.clone();
        let tx = events.clone();
        let started = Instant::now();
        let run = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let mut sent = false;
            let result = generator.generate(&messages, &params, &mut |text| match &tx {
                Some(tx) => {
                    sent = true;
                    tx.send(Progress::Delta(text.to_string())).is_ok()
                }
                None => true,
            });
            (result, sent)
        })
        .await;
        let (result, streamed) = match run {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "generation task failed");
                return Generated::not_streamed(Rejection::Error);
            }
        };
        let generation = match result {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "generation failed");
                return Generated {
                    streamed,
                    outcome: Err(Rejection::Error),
                };
            }
        };
        self.observe(&generation, started);
        let outcome = grounded::judge(index, &reply.sources, &generation);
        Generated { streamed, outcome }
    }

    fn observe(&self, g: &Generation, started: Instant) {
        if let Some(first) = g.first_token {
            self.metrics
                .generation_first_token_seconds
                .observe(first.as_secs_f64());
            let decoding = started.elapsed().saturating_sub(first).as_secs_f64();
            if g.generated_tokens > 1 && decoding > 0.0 {
                self.metrics
                    .generation_tokens_per_second
                    .observe((g.generated_tokens - 1) as f64 / decoding);
            }
        }
        self.metrics
            .generation_tokens
            .inc_by(g.generated_tokens as u64);
    }

    /// Requests waiting for a generation now.
    pub fn queued(&self) -> usize {
        self.engine.as_ref().map_or(0, |e| e.queue.waiting())
    }
}

struct Generated {
    /// Whether any generated text reached the client.
    streamed: bool,
    /// The checked text and its citations, or why it was not kept.
    outcome: Result<(String, Vec<Citation>), Rejection>,
}

impl Generated {
    fn not_streamed(why: Rejection) -> Generated {
        Generated {
            streamed: false,
            outcome: Err(why),
        }
    }
}
