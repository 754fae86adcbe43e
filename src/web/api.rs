//! The JSON API: chat, streamed chat, feedback, health and metrics.

use super::AppState;
use super::limits::{ClientAddress, Limit};
use super::problem::Problem;
use crate::answer::{Citation, Mode, Outcome};
use crate::assistant::{Answered, AskError, Progress};
use crate::llm::engine::Availability;
use crate::metrics::{FeedbackLabels, ProblemLabels};
use crate::store::SessionId;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::Arc;
use utoipa::ToSchema;

/// A JSON body whose rejections are problem reports.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = Problem;
    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| ApiJson(v))
            .map_err(|e| {
                let detail = match &e {
                    JsonRejection::MissingJsonContentType(_) => {
                        "请求体必须是 JSON，并带有 Content-Type: application/json。".to_string()
                    }
                    JsonRejection::JsonSyntaxError(_) => "请求体不是有效的 JSON。".to_string(),
                    JsonRejection::JsonDataError(err) => {
                        format!("请求字段有误：{}", err.body_text())
                    }
                    _ if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                        return Problem::new(
                            e.status(),
                            "body-too-large",
                            "Request body too large",
                            "请求体超过了这个接口允许的大小（64 KB）。",
                        );
                    }
                    _ => "请求体无法读取。".to_string(),
                };
                Problem::new(e.status(), "invalid-body", "Invalid request body", detail)
            })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatRequest {
    #[schema(schema_with = question_schema)]
    pub question: String,
    /// The conversation to continue; omit to start a new one.
    pub session_id: Option<String>,
}

fn question_schema() -> utoipa::openapi::Object {
    super::documented::not_blank(
        crate::answer::MAX_QUESTION_CHARS,
        "The question: at most 500 characters as sent, not white space alone.",
    )
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatResponse {
    pub session_id: String,
    /// Id of this reply, for feedback.
    pub reply_id: String,
    pub answer: String,
    pub outcome: Outcome,
    pub mode: Mode,
    pub citations: Vec<Citation>,
    /// For `clarify`: the choices offered.
    pub choices: Vec<String>,
    /// For `handoff`: the place in the agents' queue (`waiting`, with `position` and
    /// `estimated_wait_s`), the agent who has the conversation (`active`), or a callback
    /// offer (`callback`: POST the phone number to `/api/v1/chat/{session_id}/callback`).
    /// While an agent has the conversation, a question goes to the agent and the reply is
    /// only this acknowledgement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff: Option<crate::handoff::HandoffStatus>,
}

impl From<Answered> for ChatResponse {
    fn from(a: Answered) -> Self {
        ChatResponse {
            session_id: a.session_id.as_str().to_string(),
            reply_id: a.reply_id,
            answer: a.reply.answer,
            outcome: a.reply.outcome,
            mode: a.reply.mode,
            citations: a.reply.citations,
            choices: a.reply.choices,
            handoff: a.handoff,
        }
    }
}

pub(super) fn ask_problem(state: &AppState, e: AskError) -> Problem {
    let p = match e {
        AskError::Question(q) => {
            let kind = match q {
                crate::answer::QuestionError::Empty => "empty-question",
                crate::answer::QuestionError::TooLong(_) => {
                    state.limits.note(Limit::QuestionLength);
                    "question-too-long"
                }
            };
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                kind,
                "Invalid question",
                q.to_string(),
            )
        }
        AskError::Busy(secs) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "Too many questions at once",
            AskError::Busy(secs).to_string(),
        )
        .retry_after(secs),
        AskError::UnknownSession => Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-session",
            "Unknown session",
            AskError::UnknownSession.to_string(),
        ),
        AskError::Internal(err) => {
            tracing::error!(error = %err, "ask failed");
            Problem::internal()
        }
    };
    state.note_problem(&p);
    p
}

/// The abuse limits a question passes before it is answered: the rates per address and per
/// conversation, then the size of the conversation.
pub(super) async fn admit_question(
    state: &AppState,
    address: std::net::IpAddr,
    session: Option<&str>,
) -> Result<(), Problem> {
    let session = session.and_then(SessionId::parse);
    let admitted = match state.limits.admit_question(address, session.as_ref()) {
        Ok(()) => match &session {
            Some(s) => state.limits.check_conversation(state, s).await,
            None => Ok(()),
        },
        Err(p) => Err(p),
    };
    if let Err(p) = &admitted {
        state.note_problem(p);
    }
    admitted
}

/// Ask a question; the reply is answered, a clarifying question, out of scope or a handoff.
#[utoipa::path(post, path = "/api/v1/chat", request_body = ChatRequest,
    responses(
        (status = 200, description = "The reply", body = ChatResponse),
        (status = 404, description = "Unknown or expired session", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The conversation is full; start a new one", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty or too long question", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many questions from this address or in this conversation; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The generation queue is full; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn chat(
    State(state): State<Arc<AppState>>,
    ClientAddress(address): ClientAddress,
    ApiJson(req): ApiJson<ChatRequest>,
) -> Result<Json<ChatResponse>, Problem> {
    admit_question(&state, address, req.session_id.as_deref()).await?;
    state
        .assistant
        .ask(req.session_id.as_deref(), &req.question)
        .await
        .map(|a| Json(a.into()))
        .map_err(|e| ask_problem(&state, e))
}

/// One server-sent event of `/api/v1/chat/stream`, as the OpenAPI document describes the
/// stream (the handler writes the events with axum's `Event`).
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamEvent {
    /// `queue`, `delta`, `replace`, `done` or `error`.
    pub event: Option<String>,
    /// The event's JSON: `StreamQueue`, `StreamDelta`, `ChatResponse` or `Problem`.
    pub data: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StreamDelta {
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StreamQueue {
    /// Questions ahead of this one (0 = next).
    pub position: usize,
}

/// The same as `/api/v1/chat`, as server-sent events: `queue` events (`{"position"}`) while
/// waiting for the language model, `delta` events with more text (`{"text"}`), a `replace`
/// event (`{"text"}`) when the generated text failed the checks against the passages and the
/// extractive answer takes its place, then one `done` event with the whole `ChatResponse`.
/// A failure after the stream began ends it with an `error` event holding a `Problem`
/// instead: also when the server, shutting down, cuts the stream at its deadline
/// (`/problems/shutting-down`: ask again in a moment). A client that disconnects cancels its
/// generation.
#[utoipa::path(post, path = "/api/v1/chat/stream", request_body = ChatRequest,
    responses(
        (status = 200, description = "`queue`, `delta`, `replace`, then `done` with a ChatResponse, or `error` with a Problem (also when a shutdown cuts the stream)", content_type = "text/event-stream", body = StreamEvent),
        (status = 404, description = "Unknown or expired session", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The conversation is full; start a new one", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty or too long question", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many questions from this address or in this conversation; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The generation queue is full, or too many answers are being streamed; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn chat_stream(
    State(state): State<Arc<AppState>>,
    ClientAddress(address): ClientAddress,
    ApiJson(req): ApiJson<ChatRequest>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    admit_question(&state, address, req.session_id.as_deref()).await?;
    // Held until the stream ends or the client goes away.
    let slot = state
        .limits
        .open_stream(address)
        .inspect_err(|p| state.note_problem(p))?;
    let begun = state
        .assistant
        .begin(req.session_id.as_deref(), &req.question)
        .await
        .map_err(|e| ask_problem(&state, e))?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let worker = state.clone();
    // The answer is finished and stored even if the client goes away meanwhile; its log
    // lines keep the request's id.
    let work = async move {
        let result = worker.assistant.finish(begun, Some(tx)).await;
        let _ = done_tx.send(result.map_err(|e| ask_problem(&worker, e)));
    };
    tokio::spawn(tracing::Instrument::instrument(
        work,
        tracing::Span::current(),
    ));
    let progress = tokio_stream::wrappers::UnboundedReceiverStream::new(rx).map(|p| {
        let event = match p {
            Progress::Queue(position) => Event::default()
                .event("queue")
                .json_data(StreamQueue { position }),
            Progress::Delta(text) => Event::default()
                .event("delta")
                .json_data(StreamDelta { text }),
            Progress::Replace(text) => Event::default()
                .event("replace")
                .json_data(StreamDelta { text }),
        };
        Ok(event.expect("serialisable"))
    });
    let done = stream::once(async move {
        let _slot = slot;
        let event = match done_rx.await {
            Ok(Ok(answered)) => Event::default()
                .event("done")
                .json_data(ChatResponse::from(answered)),
            Ok(Err(problem)) => Event::default().event("error").json_data(problem),
            Err(_) => Event::default()
                .event("error")
                .json_data(Problem::internal()),
        };
        Ok(event.expect("serialisable"))
    });
    Ok(
        Sse::new(until_cut(progress.chain(done), state.cut_streams.clone()))
            .keep_alive(KeepAlive::default()),
    )
}

/// What a stream cut by a shutdown ends with.
pub fn shutting_down() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "shutting-down",
        "Server restarting",
        "服务正在重启，这个回答没有写完。请稍后重新提问。",
    )
}

/// `events` until `cut` turns true (a shutdown's deadline passed), then one last `error`
/// event saying so, instead of a connection closed without a word. Dropping `events` drops
/// the stream's slot and its receiver, which cancels the generation.
pub(super) fn until_cut(
    events: impl Stream<Item = Result<Event, Infallible>> + Send + 'static,
    cut: tokio::sync::watch::Receiver<bool>,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let events = Box::pin(events);
    stream::unfold(Some((events, cut)), |open| async move {
        let (mut events, mut cut) = open?;
        tokio::select! {
            biased;
            // `false`: the server is gone without cutting (tests); the events decide.
            true = async { cut.wait_for(|c| *c).await.is_ok() } => {
                let last = Event::default().event("error").json_data(shutting_down());
                Some((Ok(last.expect("serialisable")), None))
            }
            next = events.next() => next.map(|e| (e, Some((events, cut)))),
        }
    })
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct FeedbackRequest {
    /// The `reply_id` of the reply.
    pub reply_id: String,
    pub helpful: bool,
    #[schema(schema_with = comment_schema)]
    pub comment: Option<String>,
}

/// The longest feedback comment, in characters as sent.
pub const MAX_COMMENT_CHARS: usize = 1000;

fn comment_schema() -> utoipa::openapi::Object {
    use super::documented::{at_most, or_null};
    or_null(at_most(
        MAX_COMMENT_CHARS,
        "Optional comment, at most 1000 characters as sent.",
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackResponse {
    pub recorded: bool,
}

/// Mark a reply helpful or not, with an optional comment.
#[utoipa::path(post, path = "/api/v1/feedback", request_body = FeedbackRequest,
    responses(
        (status = 200, description = "Recorded", body = FeedbackResponse),
        (status = 404, description = "Unknown reply", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Comment too long", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too much feedback from this address; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn feedback(
    State(state): State<Arc<AppState>>,
    ClientAddress(address): ClientAddress,
    ApiJson(req): ApiJson<FeedbackRequest>,
) -> Result<Json<FeedbackResponse>, Problem> {
    record_feedback(
        &state,
        address,
        &req.reply_id,
        req.helpful,
        req.comment.as_deref(),
    )
    .await?;
    Ok(Json(FeedbackResponse { recorded: true }))
}

/// Records feedback from `address`, within the feedback rate limit.
pub(super) async fn record_feedback(
    state: &AppState,
    address: std::net::IpAddr,
    reply_id: &str,
    helpful: bool,
    comment: Option<&str>,
) -> Result<(), Problem> {
    state
        .limits
        .admit_feedback(address)
        .inspect_err(|p| state.note_problem(p))?;
    if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS) {
        let p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "comment-too-long",
            "Comment too long",
            "意见太长了，请控制在1000字以内。",
        );
        state.note_problem(&p);
        return Err(p);
    }
    let comment = comment
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| crate::privacy::redact(c).text);
    match state
        .assistant
        .store
        .add_feedback(reply_id, helpful, comment.as_deref())
        .await
    {
        Ok(true) => {
            state
                .metrics
                .feedback
                .get_or_create(&FeedbackLabels {
                    helpful: helpful.to_string(),
                })
                .inc();
            Ok(())
        }
        Ok(false) => {
            let p = Problem::new(
                StatusCode::NOT_FOUND,
                "unknown-reply",
                "Unknown reply",
                "找不到这条回复，可能已过期。",
            );
            state.note_problem(&p);
            Err(p)
        }
        Err(e) => {
            tracing::error!(error = %e, "feedback failed");
            Err(Problem::internal())
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the index is loaded and the database answers.
    pub status: String,
    pub index_generation: String,
    pub documents: usize,
    pub passages: usize,
    pub database: String,
    /// `generative` when a language model writes answers, else `extractive`.
    pub answer_mode: Mode,
    pub generation: Availability,
    /// Questions waiting for the language model now.
    pub generation_queue: usize,
    /// Whether document verification works, and if not, how to make it work.
    pub verification: crate::desk::Availability,
    /// Live handoff: service hours, agents on duty, citizens waiting.
    pub handoff: HandoffHealth,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HandoffHealth {
    /// `handoff.hours`.
    pub hours: String,
    /// Whether the service hours are on now.
    pub open_now: bool,
    /// Agents and supervisors signed in and not away.
    pub agents_on_duty: usize,
    pub waiting: i64,
    /// Whether the working-day calendar has this year's holiday notice.
    pub calendar_covers_today: bool,
}

/// Liveness and readiness, with the index in use.
#[utoipa::path(get, path = "/healthz", responses(
    (status = 200, description = "Healthy", body = Health),
    (status = 503, description = "Database unavailable", body = Health)))]
pub async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let index = state.assistant.index.get();
    let db_ok = state.assistant.store.ping().await.is_ok();
    let h = &state.handoffs;
    let handoff = HandoffHealth {
        hours: h.hours().to_string(),
        open_now: h.open_now(),
        agents_on_duty: h.agents_on_duty().await.map_or(0, |a| a.len()),
        waiting: h.waiting().await.unwrap_or(0),
        calendar_covers_today: h.calendar_covers_today(),
    };
    let health = Health {
        status: if db_ok { "ok" } else { "degraded" }.into(),
        index_generation: index.generation.clone(),
        documents: index.catalog.documents.len(),
        passages: index.catalog.passages.len(),
        database: if db_ok { "ok" } else { "unavailable" }.into(),
        answer_mode: if state.generation.available {
            Mode::Generative
        } else {
            Mode::Extractive
        },
        generation: state.generation.clone(),
        generation_queue: state.assistant.queued(),
        verification: state.desk.availability.clone(),
        handoff,
    };
    let status = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health)).into_response()
}

/// Prometheus metrics in the text exposition format. Not public: on the main address only
/// with the configured `metrics.token` as a bearer token (refused when none is configured);
/// `metrics.listen` serves them on an address of their own instead.
#[utoipa::path(get, path = "/metrics", security(("bearer" = [])), responses(
    (status = 200, description = "Metrics", content_type = "application/openmetrics-text", body = String),
    (status = 401, description = "No or wrong metrics token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "No metrics token is configured: metrics are served on `metrics.listen` only, or not at all", body = Problem, content_type = "application/problem+json")))]
pub async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(expected) = state.metrics_token.as_deref() else {
        let p = Problem::new(
            StatusCode::FORBIDDEN,
            "metrics-not-public",
            "Metrics are not served here",
            "此地址不提供监控指标：请在配置中设置 metrics.token（抓取时带 Authorization: Bearer 令牌）或 metrics.listen（单独的监听地址）。",
        );
        state.note_problem(&p);
        return p.into_response();
    };
    let sent = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    if !sent.is_some_and(|t| same_secret(t, expected)) {
        let p = Problem::new(
            StatusCode::UNAUTHORIZED,
            "metrics-token",
            "Metrics token required",
            "读取监控指标需带 Authorization: Bearer 令牌（配置项 metrics.token）。",
        );
        state.note_problem(&p);
        let mut resp = p.into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        );
        return resp;
    }
    metrics_unguarded(State(state)).await
}

/// Whether `a` is `b`, in time independent of where they differ (by their hashes, so also
/// of their lengths).
fn same_secret(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

/// The metrics, to whoever reached the address that serves them (`metrics.listen`).
pub async fn metrics_unguarded(State(state): State<Arc<AppState>>) -> Response {
    // The queue is shared by every node: the gauge is read from the database.
    if let Err(e) = state.handoffs.waiting().await {
        tracing::error!(error = %e, "counting waiting handoffs failed");
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

impl AppState {
    pub(super) fn note_problem(&self, p: &Problem) {
        self.metrics
            .problems
            .get_or_create(&ProblemLabels {
                status: p.status.to_string(),
                kind: p.kind.trim_start_matches("/problems/").to_string(),
            })
            .inc();
    }
}
