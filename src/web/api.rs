//! The JSON API: chat, streamed chat, feedback, health and metrics.

use super::AppState;
use super::problem::Problem;
use crate::answer::{Citation, Mode, Outcome};
use crate::assistant::{Answered, AskError};
use crate::metrics::{FeedbackLabels, ProblemLabels};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream};
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
                    _ => "请求体无法读取。".to_string(),
                };
                Problem::new(e.status(), "invalid-body", "Invalid request body", detail)
            })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatRequest {
    /// The question, 1–500 characters.
    pub question: String,
    /// The conversation to continue; omit to start a new one.
    pub session_id: Option<String>,
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
        }
    }
}

pub(super) fn ask_problem(state: &AppState, e: AskError) -> Problem {
    let p = match e {
        AskError::Question(q) => {
            let kind = match q {
                crate::answer::QuestionError::Empty => "empty-question",
                crate::answer::QuestionError::TooLong(_) => "question-too-long",
            };
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                kind,
                "Invalid question",
                q.to_string(),
            )
        }
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

/// Ask a question; the reply is answered, a clarifying question, out of scope or a handoff.
#[utoipa::path(post, path = "/api/v1/chat", request_body = ChatRequest,
    responses(
        (status = 200, description = "The reply", body = ChatResponse),
        (status = 404, description = "Unknown or expired session", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty or too long question", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn chat(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<ChatRequest>,
) -> Result<Json<ChatResponse>, Problem> {
    state
        .assistant
        .ask(req.session_id.as_deref(), &req.question)
        .await
        .map(|a| Json(a.into()))
        .map_err(|e| ask_problem(&state, e))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StreamDelta {
    pub text: String,
}

/// The same as `/api/v1/chat`, as server-sent events: `delta` events with partial text
/// (`{"text"}`), then one `done` event with the whole `ChatResponse`.
#[utoipa::path(post, path = "/api/v1/chat/stream", request_body = ChatRequest,
    responses(
        (status = 200, description = "`delta` events, then `done` with a ChatResponse", content_type = "text/event-stream", body = String),
        (status = 404, description = "Unknown or expired session", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty or too long question", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn chat_stream(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<ChatRequest>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    let answered = state
        .assistant
        .ask(req.session_id.as_deref(), &req.question)
        .await
        .map_err(|e| ask_problem(&state, e))?;
    let response = ChatResponse::from(answered);
    // An extractive reply is complete at once; it is sent line by line so that clients
    // render it the same way as a generated one.
    let mut events: Vec<Event> = response
        .answer
        .split_inclusive('\n')
        .map(|line| {
            Event::default()
                .event("delta")
                .json_data(StreamDelta {
                    text: line.to_string(),
                })
                .expect("serialisable")
        })
        .collect();
    events.push(
        Event::default()
            .event("done")
            .json_data(&response)
            .expect("serialisable"),
    );
    Ok(Sse::new(stream::iter(events.into_iter().map(Ok))))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct FeedbackRequest {
    /// The `reply_id` of the reply.
    pub reply_id: String,
    pub helpful: bool,
    /// Optional comment, at most 1000 characters.
    pub comment: Option<String>,
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
    ))]
pub async fn feedback(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<FeedbackRequest>,
) -> Result<Json<FeedbackResponse>, Problem> {
    record_feedback(&state, &req.reply_id, req.helpful, req.comment.as_deref()).await?;
    Ok(Json(FeedbackResponse { recorded: true }))
}

pub(super) async fn record_feedback(
    state: &AppState,
    reply_id: &str,
    helpful: bool,
    comment: Option<&str>,
) -> Result<(), Problem> {
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > 1000) {
        let p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "comment-too-long",
            "Comment too long",
            "意见太长了，请控制在1000字以内。",
        );
        state.note_problem(&p);
        return Err(p);
    }
    let comment = comment.map(|c| crate::privacy::redact(c).text);
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
    /// `extractive` until a language model is configured.
    pub answer_mode: Mode,
}

/// Liveness and readiness, with the index in use.
#[utoipa::path(get, path = "/healthz", responses(
    (status = 200, description = "Healthy", body = Health),
    (status = 503, description = "Database unavailable", body = Health)))]
pub async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let index = state.assistant.index.get();
    let db_ok = state.assistant.store.ping().await.is_ok();
    let health = Health {
        status: if db_ok { "ok" } else { "degraded" }.into(),
        index_generation: index.generation.clone(),
        documents: index.catalog.documents.len(),
        passages: index.catalog.passages.len(),
        database: if db_ok { "ok" } else { "unavailable" }.into(),
        answer_mode: Mode::Extractive,
    };
    let status = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health)).into_response()
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", responses(
    (status = 200, description = "Metrics", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
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
