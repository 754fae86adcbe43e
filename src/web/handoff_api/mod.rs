//! Live handoff over HTTP. The citizen's side (by conversation id, like the chat): the
//! conversation's messages, a stream of what happens (queue position, agent joined, agent
//! messages, closing), a callback request and leaving. The agents' side (bearer token, role
//! agent or supervisor, [`RULES`]): the queue, a handoff with its transcript, claim, reply,
//! transfer, close, duty, and the callback tickets. Views and actions land in the access log
//! (`handoff::Handoffs`).

use super::AppState;
use super::api::{ApiJson, until_cut};
use super::auth_api::{Denied, require};
use super::limits::ClientAddress;
use super::problem::Problem;
use super::verify_api::ApiQuery;
use crate::account::{Principal, Role};
use crate::handoff::{
    AGENT_ROLES, CallbackStatus, CallbackView, HandoffDetail, HandoffError, HandoffState,
    HandoffStatus, HandoffSummary, Line, Sender,
};
use crate::store::SessionId;
use crate::store::handoffs::HandoffRow;
use axum::extract::FromRequestParts;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};
use utoipa::ToSchema;

mod agents;
pub use agents::*;

/// How often each node looks at the database for conversations changed (also by other
/// nodes) and wakes their event streams: what an agent on another node writes reaches the
/// citizen within this (plus a round trip). Changes made on the same node wake at once.
pub const EVENT_POLL: Duration = Duration::from_millis(300);
/// A stream looks by itself at least this often, whatever woke it or not.
const EVENT_FALLBACK: Duration = Duration::from_secs(5);

/// Every staff route of this module with the roles allowed on it (the route × role test
/// reads it). The citizen's routes are public: the conversation id is the secret.
pub const RULES: &[(&str, &str, &[Role])] = &[
    ("GET", "/api/v1/handoffs", AGENT_ROLES),
    ("GET", "/api/v1/handoffs/{handoff_id}", AGENT_ROLES),
    ("POST", "/api/v1/handoffs/{handoff_id}/claim", AGENT_ROLES),
    (
        "POST",
        "/api/v1/handoffs/{handoff_id}/messages",
        AGENT_ROLES,
    ),
    (
        "POST",
        "/api/v1/handoffs/{handoff_id}/transfer",
        AGENT_ROLES,
    ),
    ("POST", "/api/v1/handoffs/{handoff_id}/close", AGENT_ROLES),
    ("GET", "/api/v1/agent/status", AGENT_ROLES),
    ("POST", "/api/v1/agent/status", AGENT_ROLES),
    ("GET", "/api/v1/callbacks", AGENT_ROLES),
    (
        "POST",
        "/api/v1/callbacks/{callback_id}/status",
        AGENT_ROLES,
    ),
    (
        "POST",
        "/api/v1/callbacks/{callback_id}/reveal",
        AGENT_ROLES,
    ),
];

/// A signed-in agent or supervisor: 401 without a valid token, 403 for another role —
/// before the request body is read, so a refused role never learns what the body lacked.
pub struct Agent(pub Principal);

impl FromRequestParts<Arc<AppState>> for Agent {
    type Rejection = Denied;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Denied> {
        let who = Principal::from_request_parts(parts, state).await?;
        require(&who, AGENT_ROLES)?;
        Ok(Agent(who))
    }
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/chat/{session_id}/messages", get(messages))
        .route("/api/v1/chat/{session_id}/events", get(events))
        .route("/api/v1/chat/{session_id}/callback", post(callback))
        .route("/api/v1/chat/{session_id}/leave", post(leave))
        .route("/api/v1/handoffs", get(list))
        .route("/api/v1/handoffs/{handoff_id}", get(detail))
        .route("/api/v1/handoffs/{handoff_id}/claim", post(claim))
        .route("/api/v1/handoffs/{handoff_id}/messages", post(say))
        .route("/api/v1/handoffs/{handoff_id}/transfer", post(transfer))
        .route("/api/v1/handoffs/{handoff_id}/close", post(close))
        .route("/api/v1/agent/status", get(duty).post(set_duty))
        .route("/api/v1/callbacks", get(callbacks))
        .route(
            "/api/v1/callbacks/{callback_id}/status",
            post(callback_status),
        )
        .route("/api/v1/callbacks/{callback_id}/reveal", post(reveal))
}

pub(super) fn handoff_problem(state: &AppState, e: HandoffError) -> Denied {
    let (status, kind, title) = match &e {
        HandoffError::NotFound => (StatusCode::NOT_FOUND, "unknown-handoff", "Unknown handoff"),
        HandoffError::Taken => (
            StatusCode::CONFLICT,
            "already-claimed",
            "Another agent has it",
        ),
        HandoffError::NotActive(_) => (
            StatusCode::CONFLICT,
            "handoff-not-active",
            "Not possible in this state",
        ),
        HandoffError::NotYours => (
            StatusCode::FORBIDDEN,
            "not-your-conversation",
            "Another agent's conversation",
        ),
        HandoffError::UnknownAgent(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-agent",
            "No such agent",
        ),
        HandoffError::EmptyText => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty-message",
            "Empty message",
        ),
        HandoffError::TooLong(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "message-too-long",
            "Message too long",
        ),
        HandoffError::BadResolution => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-resolution",
            "Invalid resolution",
        ),
        HandoffError::BadPhone => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-phone",
            "Invalid phone number",
        ),
        HandoffError::NoCallbackOffered => (
            StatusCode::CONFLICT,
            "no-callback-offered",
            "No callback offered",
        ),
        HandoffError::NoSuchCallback => (
            StatusCode::NOT_FOUND,
            "unknown-callback",
            "Unknown callback ticket",
        ),
        HandoffError::BadStatus => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-status",
            "Invalid status",
        ),
        HandoffError::Sealed => {
            tracing::error!("a sealed callback number did not open");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "scan-key-mismatch",
                "Sealed record does not open",
            )
        }
        HandoffError::Internal(err) => {
            tracing::error!(error = %err, "handoff request failed");
            let p = Problem::internal();
            state.note_problem(&p);
            return Denied(p);
        }
    };
    let p = Problem::new(status, kind, title, e.to_string());
    state.note_problem(&p);
    Denied(p)
}

fn internal(state: &AppState, e: anyhow::Error) -> Denied {
    handoff_problem(state, HandoffError::Internal(e))
}

/// The conversation of a citizen's route, or 404.
async fn conversation(state: &AppState, session_id: &str) -> Result<SessionId, Denied> {
    let unknown = || {
        let p = Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-session",
            "Unknown session",
            "会话不存在或已过期，请重新开始对话。",
        );
        state.note_problem(&p);
        Denied(p)
    };
    let id = SessionId::parse(session_id).ok_or_else(unknown)?;
    match state.assistant.store.conversation(&id).await {
        Ok(Some(_)) => Ok(id),
        Ok(None) => Err(unknown()),
        Err(e) => Err(internal(state, e)),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AfterQuery {
    /// Only messages after this id.
    pub after: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Messages {
    pub messages: Vec<Line>,
    /// The conversation's latest handoff, if any.
    pub handoff: Option<HandoffStatus>,
}

/// The conversation's messages (the citizen's, the assistant's and the agent's), oldest
/// first; `?after=ID` returns only newer ones. Personal numbers are masked.
#[utoipa::path(get, path = "/api/v1/chat/{session_id}/messages",
    params(("session_id" = String, Path, description = "The conversation"),
           ("after" = Option<i64>, Query, description = "Only messages after this id")),
    responses(
        (status = 200, description = "Messages and the handoff's state", body = Messages),
        (status = 404, description = "Unknown or expired session", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn messages(
    State(state): State<Arc<AppState>>,
    Path(session_id): Path<String>,
    ApiQuery(q): ApiQuery<AfterQuery>,
) -> Result<Json<Messages>, Denied> {
    let id = conversation(&state, &session_id).await?;
    let messages = state
        .handoffs
        .lines(id.as_str(), q.after.unwrap_or(0).max(0), 500)
        .await
        .map_err(|e| internal(&state, e))?;
    let handoff = state
        .handoffs
        .latest(id.as_str())
        .await
        .map_err(|e| internal(&state, e))?;
    Ok(Json(Messages { messages, handoff }))
}

/// One server-sent event of `/api/v1/chat/{session_id}/events`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HandoffEvent {
    /// `state` (first, a `HandoffStatus` or null), `queue` (`HandoffStatus` with the new
    /// position), `joined` (`HandoffStatus`: an agent took the conversation, or it was passed
    /// to another), `message` (an agent's `Line`; the event id is the line's id), `closed`
    /// (`HandoffStatus`, last).
    pub event: Option<String>,
    pub data: String,
}

fn json_event(name: &str, data: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .expect("serialisable")
}

struct Watch {
    state: Arc<AppState>,
    session: SessionId,
    after: i64,
    /// The handoff as last seen, its place in the queue and its status.
    last: Option<(HandoffRow, i64)>,
    status: Option<HandoffStatus>,
    /// The agent the citizen was last told about.
    agent: Option<String>,
    /// When the citizen's presence was last noted.
    seen_at: Option<Instant>,
    started: bool,
    done: bool,
}

/// How often an open stream notes that its waiting citizen is still there.
const SEEN_EVERY: Duration = Duration::from_secs(10);

impl Watch {
    /// The events since the last look; empty when nothing changed. Each look costs two small
    /// queries (three while waiting); the whole status is read only when something changed.
    /// Polling can miss a state passed through between two looks, so an agent's line by
    /// another agent than the one announced announces them first.
    async fn look(&mut self) -> anyhow::Result<Vec<Event>> {
        let h = &self.state.handoffs;
        let mut out = Vec::new();
        let (last_line, row) = h.fingerprint(self.session.as_str()).await?;
        let position = match &row {
            Some(r) if r.state == "waiting" => h.position(r).await?,
            _ => 0,
        };
        let changed = match (&self.last, &row) {
            (Some((a, p)), Some(b)) => {
                a.id != b.id
                    || a.state != b.state
                    || a.agent != b.agent
                    || a.resolution != b.resolution
                    || *p != position
            }
            (None, None) => false,
            _ => true,
        };
        if changed || !self.started {
            self.status = match &row {
                Some(r) => Some(h.status(r).await?),
                None => None,
            };
        }
        let now = self.status.clone();
        let first = !self.started;
        if first {
            self.started = true;
            out.push(json_event("state", &now));
            self.agent = now.as_ref().and_then(|s| s.agent.clone());
            if !now
                .as_ref()
                .is_some_and(|s| matches!(s.state, HandoffState::Waiting | HandoffState::Active))
            {
                // Nothing live to watch.
                self.done = true;
            }
        }
        if last_line > self.after {
            for l in h.lines_after(self.session.as_str(), self.after).await? {
                self.after = l.id;
                if l.from == Sender::Agent {
                    if l.agent != self.agent
                        && let Some(now) = &now
                    {
                        self.agent = l.agent.clone();
                        let joined = HandoffStatus {
                            state: HandoffState::Active,
                            agent: l.agent.clone(),
                            position: None,
                            estimated_wait_s: None,
                            resolution: None,
                            ..now.clone()
                        };
                        out.push(json_event("joined", &joined));
                    }
                    out.push(json_event("message", &l).id(l.id.to_string()));
                }
            }
        }
        if let Some(now) = &now
            && changed
            && !first
        {
            match now.state {
                HandoffState::Waiting => out.push(json_event("queue", now)),
                HandoffState::Active if now.agent != self.agent => {
                    self.agent = now.agent.clone();
                    out.push(json_event("joined", now))
                }
                HandoffState::Closed | HandoffState::Callback => {
                    out.push(json_event("closed", now));
                    self.done = true;
                }
                _ => {}
            }
        }
        if let Some(r) = &row
            && r.state == "waiting"
            && self.seen_at.is_none_or(|t| t.elapsed() >= SEEN_EVERY)
        {
            h.seen(r).await?;
            self.seen_at = Some(Instant::now());
        }
        self.last = row.map(|r| (r, position));
        Ok(out)
    }
}

/// Waits until this node hears of a change to the conversation `session` (any conversation
/// when `None`) or to places in the queue, or `EVENT_FALLBACK` passes. A change on this node
/// wakes at once; another node's within one poll of the node's watcher
/// (`Handoffs::wake_changed`).
pub(super) async fn wait_for_change(
    wake: &mut tokio::sync::broadcast::Receiver<String>,
    session: Option<&str>,
) {
    use tokio::sync::broadcast::error::RecvError;
    let _ = tokio::time::timeout(EVENT_FALLBACK, async {
        loop {
            match wake.recv().await {
                Ok(s) if session.is_none_or(|me| s == me) || s == crate::handoff::EVERYONE => {
                    break;
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => break,
                Err(RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    })
    .await;
    // Several changes heard together are one look.
    while wake.try_recv().is_ok() {}
}

/// What happens in the conversation's handoff, as server-sent events: `state` first, then
/// `queue` when the place in the queue changes, `joined` when an agent takes the
/// conversation (or it is passed on), `message` for each agent message (event id = message
/// id; `?after=ID` or `Last-Event-ID` resumes), and `closed` last. A conversation with no
/// live handoff gets `state` and the stream ends. Several nodes: every node reads the
/// database, so what an agent writes anywhere arrives within a second.
#[utoipa::path(get, path = "/api/v1/chat/{session_id}/events",
    params(("session_id" = String, Path, description = "The conversation"),
           ("after" = Option<i64>, Query, description = "Only messages after this id")),
    responses(
        (status = 200, description = "`state`, `queue`, `joined`, `message`, `closed`", content_type = "text/event-stream", body = HandoffEvent),
        (status = 404, description = "Unknown or expired session", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many streams open; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn events(
    State(state): State<Arc<AppState>>,
    ClientAddress(address): ClientAddress,
    Path(session_id): Path<String>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<AfterQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Denied> {
    let session = conversation(&state, &session_id).await?;
    let slot = state
        .limits
        .open_stream(address)
        .inspect_err(|p| state.note_problem(p))?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let wake = state.handoffs.subscribe();
    let watch = Watch {
        state: state.clone(),
        session,
        after: q.after.or(resume).unwrap_or(0).max(0),
        last: None,
        status: None,
        agent: None,
        seen_at: None,
        started: false,
        done: false,
    };
    let events = stream::unfold(
        (
            watch,
            slot,
            std::collections::VecDeque::<Event>::new(),
            wake,
        ),
        |(mut watch, slot, mut queue, mut wake)| async move {
            loop {
                if let Some(e) = queue.pop_front() {
                    return Some((Ok(e), (watch, slot, queue, wake)));
                }
                if watch.done {
                    return None;
                }
                if watch.started {
                    wait_for_change(&mut wake, Some(watch.session.as_str())).await;
                }
                match watch.look().await {
                    Ok(evs) => queue.extend(evs),
                    Err(e) => {
                        tracing::error!(error = %e, "handoff events failed");
                        watch.done = true;
                        queue.push_back(json_event("error", &Problem::internal()));
                    }
                }
            }
        },
    );
    Ok(Sse::new(until_cut(events, state.cut_streams.clone())).keep_alive(KeepAlive::default()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CallbackRequest {
    #[schema(schema_with = phone_schema)]
    pub phone: String,
    #[serde(default)]
    #[schema(schema_with = note_schema)]
    pub message: String,
}

fn phone_schema() -> utoipa::openapi::Object {
    super::documented::phone(
        "A mobile number, or a landline with its area code; spaces, dashes and brackets may stand between the digits.",
    )
}

fn note_schema() -> utoipa::openapi::Object {
    super::documented::at_most(
        crate::handoff::MAX_NOTE,
        "What the call is about, at most 200 characters as sent.",
    )
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HandoffReply {
    pub handoff: HandoffStatus,
}

/// Leave a phone number for a callback, after the assistant offered one (out of hours,
/// nobody on duty, queue full) or an agent closed with `callback_needed`. The number is
/// stored encrypted and shown masked.
#[utoipa::path(post, path = "/api/v1/chat/{session_id}/callback", request_body = CallbackRequest,
    params(("session_id" = String, Path, description = "The conversation")),
    responses(
        (status = 200, description = "Ticket opened", body = HandoffReply),
        (status = 404, description = "Unknown or expired session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No callback was offered in this conversation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid phone number or message too long", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn callback(
    State(state): State<Arc<AppState>>,
    Path(session_id): Path<String>,
    ApiJson(req): ApiJson<CallbackRequest>,
) -> Result<Json<HandoffReply>, Denied> {
    let id = conversation(&state, &session_id).await?;
    let handoff = state
        .handoffs
        .request_callback(id.as_str(), &req.phone, &req.message)
        .await
        .map_err(|e| handoff_problem(&state, e))?;
    Ok(Json(HandoffReply { handoff }))
}

/// Leave the queue, or end the conversation with the agent.
#[utoipa::path(post, path = "/api/v1/chat/{session_id}/leave",
    params(("session_id" = String, Path, description = "The conversation")),
    responses(
        (status = 200, description = "Closed", body = HandoffReply),
        (status = 404, description = "Unknown session, or nothing to leave", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn leave(
    State(state): State<Arc<AppState>>,
    Path(session_id): Path<String>,
) -> Result<Json<HandoffReply>, Denied> {
    let id = conversation(&state, &session_id).await?;
    match state.handoffs.leave(id.as_str()).await {
        Ok(Some(handoff)) => Ok(Json(HandoffReply { handoff })),
        Ok(None) => Err(handoff_problem(&state, HandoffError::NotFound)),
        Err(e) => Err(internal(&state, e)),
    }
}
