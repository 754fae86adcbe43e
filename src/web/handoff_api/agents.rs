//! The agents' side of the handoff API: the queue, a handoff's detail, claim, messages, transfer, close, duty and the callback tickets.

use super::*;

#[derive(Debug, Deserialize, ToSchema)]
pub struct ListQuery {
    /// waiting (default), active, callback or closed.
    pub state: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HandoffList {
    pub handoffs: Vec<HandoffSummary>,
    /// Agents and supervisors on duty now.
    pub agents_on_duty: usize,
}

/// Handoffs in a state: `waiting` (the queue, oldest first, with wait times), `active`,
/// `callback` (callback offered) or `closed` (newest first).
#[utoipa::path(get, path = "/api/v1/handoffs",
    params(("state" = Option<HandoffState>, Query, description = "waiting (default), active, callback or closed")),
    security(("bearer" = [])),
    responses(
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an agent or supervisor", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "Handoffs", body = HandoffList),
        (status = 400, description = "Unknown state", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Agent(who): Agent,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<HandoffList>, Denied> {
    let wanted = q.state.as_deref().unwrap_or("waiting");
    let Some(s) = HandoffState::parse(wanted) else {
        let p = Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-state",
            "Unknown state",
            "state 应为 waiting、active、callback 或 closed。",
        );
        state.note_problem(&p);
        return Err(Denied(p));
    };
    let handoffs = state
        .handoffs
        .list(&who, s)
        .await
        .map_err(|e| handoff_problem(&state, e))?;
    let agents_on_duty = state
        .handoffs
        .agents_on_duty()
        .await
        .map_err(|e| internal(&state, e))?
        .len();
    Ok(Json(HandoffList {
        handoffs,
        agents_on_duty,
    }))
}

/// A handoff with the conversation so far (personal numbers masked) and its callback
/// ticket (number masked).
#[utoipa::path(get, path = "/api/v1/handoffs/{handoff_id}",
    params(("handoff_id" = String, Path, description = "The handoff")),
    security(("bearer" = [])),
    responses(
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an agent or supervisor", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The handoff", body = HandoffDetail),
        (status = 404, description = "Unknown handoff", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn detail(
    State(state): State<Arc<AppState>>,
    Agent(who): Agent,
    Path(id): Path<String>,
) -> Result<Json<HandoffDetail>, Denied> {
    state
        .handoffs
        .detail(&who, &id)
        .await
        .map(Json)
        .map_err(|e| handoff_problem(&state, e))
}

/// Take a waiting citizen; 409 if another agent took them first.
#[utoipa::path(post, path = "/api/v1/handoffs/{handoff_id}/claim",
    params(("handoff_id" = String, Path, description = "The handoff")),
    security(("bearer" = [])),
    responses(
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an agent or supervisor", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "Claimed", body = HandoffReply),
        (status = 404, description = "Unknown handoff", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already claimed or not waiting", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn claim(
    State(state): State<Arc<AppState>>,
    Agent(who): Agent,
    Path(id): Path<String>,
) -> Result<Json<HandoffReply>, Denied> {
    state
        .handoffs
        .claim(&who, &id)
        .await
        .map(|handoff| Json(HandoffReply { handoff }))
        .map_err(|e| handoff_problem(&state, e))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AgentMessage {
    #[schema(schema_with = agent_text_schema)]
    pub text: String,
}

fn agent_text_schema() -> utoipa::openapi::Object {
    crate::web::documented::not_blank(
        crate::handoff::MAX_TEXT,
        "At most 1000 characters as sent, not white space alone; personal numbers are masked before storing.",
    )
}

/// Write to the citizen (the agent who has the conversation, or a supervisor).
#[utoipa::path(post, path = "/api/v1/handoffs/{handoff_id}/messages", request_body = AgentMessage,
    params(("handoff_id" = String, Path, description = "The handoff")),
    security(("bearer" = [])),
    responses(
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "Sent", body = Line),
        (status = 403, description = "Another agent's conversation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown handoff", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not active", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty or too long", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn say(
    State(state): State<Arc<AppState>>,
    Agent(who): Agent,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AgentMessage>,
) -> Result<Json<Line>, Denied> {
    state
        .handoffs
        .say(&who, &id, &req.text)
        .await
        .map(Json)
        .map_err(|e| handoff_problem(&state, e))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TransferRequest {
    /// The user name of another agent or supervisor.
    pub to: String,
}

/// Pass the conversation to another agent or supervisor.
#[utoipa::path(post, path = "/api/v1/handoffs/{handoff_id}/transfer", request_body = TransferRequest,
    params(("handoff_id" = String, Path, description = "The handoff")),
    security(("bearer" = [])),
    responses(
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "Transferred", body = HandoffReply),
        (status = 403, description = "Another agent's conversation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown handoff", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not active", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such agent", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn transfer(
    State(state): State<Arc<AppState>>,
    Agent(who): Agent,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TransferRequest>,
) -> Result<Json<HandoffReply>, Denied> {
    state
        .handoffs
        .transfer(&who, &id, &req.to)
        .await
        .map(|handoff| Json(HandoffReply { handoff }))
        .map_err(|e| handoff_problem(&state, e))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CloseRequest {
    #[schema(schema_with = resolution_schema)]
    pub resolution: String,
}

/// The resolutions an agent chooses among (the citizen's own two are not theirs to give).
fn resolution_schema() -> utoipa::openapi::Object {
    crate::web::documented::one_of(
        crate::handoff::Resolution::FOR_AGENTS.map(crate::handoff::Resolution::as_str),
        "How the conversation ended.",
    )
}

/// Close with a resolution: the agent who has the conversation (or a supervisor); a waiting
/// or callback handoff by any agent.
#[utoipa::path(post, path = "/api/v1/handoffs/{handoff_id}/close", request_body = CloseRequest,
    params(("handoff_id" = String, Path, description = "The handoff")),
    security(("bearer" = [])),
    responses(
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "Closed", body = HandoffReply),
        (status = 403, description = "Another agent's conversation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown handoff", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already closed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown resolution", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn close(
    State(state): State<Arc<AppState>>,
    Agent(who): Agent,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CloseRequest>,
) -> Result<Json<HandoffReply>, Denied> {
    state
        .handoffs
        .close(&who, &id, &req.resolution)
        .await
        .map(|handoff| Json(HandoffReply { handoff }))
        .map_err(|e| handoff_problem(&state, e))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Duty {
    /// Marked away: not counted on duty (an agent's default is on duty, a supervisor's away).
    pub away: bool,
}

/// Whether the signed-in agent is marked away.
#[utoipa::path(get, path = "/api/v1/agent/status", security(("bearer" = [])),
    responses(
        (status = 200, description = "Duty", body = Duty),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an agent or supervisor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn duty(
    State(state): State<Arc<AppState>>,
    Agent(who): Agent,
) -> Result<Json<Duty>, Denied> {
    let away = state
        .handoffs
        .away(&who)
        .await
        .map_err(|e| internal(&state, e))?;
    Ok(Json(Duty { away }))
}

/// Mark oneself away or on duty. Signed in and not away counts as on duty.
#[utoipa::path(post, path = "/api/v1/agent/status", request_body = Duty, security(("bearer" = [])),
    responses(
        (status = 200, description = "Duty", body = Duty),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an agent or supervisor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_duty(
    State(state): State<Arc<AppState>>,
    Agent(who): Agent,
    ApiJson(req): ApiJson<Duty>,
) -> Result<Json<Duty>, Denied> {
    state
        .handoffs
        .set_away(&who, req.away)
        .await
        .map_err(|e| internal(&state, e))?;
    Ok(Json(req))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CallbackQuery {
    /// new (default), contacted or closed.
    pub status: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CallbackList {
    pub callbacks: Vec<CallbackView>,
}

/// Callback tickets in a status, oldest first; numbers masked.
#[utoipa::path(get, path = "/api/v1/callbacks",
    params(("status" = Option<CallbackStatus>, Query, description = "new (default), contacted or closed")),
    security(("bearer" = [])),
    responses(
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an agent or supervisor", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "Tickets", body = CallbackList),
        (status = 422, description = "Unknown status", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn callbacks(
    State(state): State<Arc<AppState>>,
    Agent(who): Agent,
    ApiQuery(q): ApiQuery<CallbackQuery>,
) -> Result<Json<CallbackList>, Denied> {
    let status = CallbackStatus::parse(q.status.as_deref().unwrap_or("new"))
        .ok_or_else(|| handoff_problem(&state, HandoffError::BadStatus))?;
    state
        .handoffs
        .callbacks(&who, status)
        .await
        .map(|callbacks| Json(CallbackList { callbacks }))
        .map_err(|e| handoff_problem(&state, e))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CallbackStatusRequest {
    /// new, contacted or closed.
    #[schema(value_type = CallbackStatus)]
    pub status: String,
}

/// Mark a ticket contacted or closed (a closed ticket is deleted with its number after
/// `handoff.callback_retention_days`).
#[utoipa::path(post, path = "/api/v1/callbacks/{callback_id}/status", request_body = CallbackStatusRequest,
    params(("callback_id" = String, Path, description = "The ticket")),
    security(("bearer" = [])),
    responses(
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an agent or supervisor", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "Updated", body = CallbackView),
        (status = 404, description = "Unknown ticket", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown status", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn callback_status(
    State(state): State<Arc<AppState>>,
    Agent(who): Agent,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CallbackStatusRequest>,
) -> Result<Json<CallbackView>, Denied> {
    state
        .handoffs
        .set_callback_status(&who, &id, &req.status)
        .await
        .map(Json)
        .map_err(|e| handoff_problem(&state, e))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevealedPhone {
    /// The whole number, to call. Logged as `callback_reveal`.
    pub phone: String,
}

/// The full phone number of a ticket, to call back; logged in the access log.
#[utoipa::path(post, path = "/api/v1/callbacks/{callback_id}/reveal",
    params(("callback_id" = String, Path, description = "The ticket")),
    security(("bearer" = [])),
    responses(
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an agent or supervisor", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The number", body = RevealedPhone),
        (status = 404, description = "Unknown ticket", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reveal(
    State(state): State<Arc<AppState>>,
    Agent(who): Agent,
    Path(id): Path<String>,
) -> Result<Json<RevealedPhone>, Denied> {
    let phone = state
        .handoffs
        .reveal_phone(&who, &id)
        .await
        .map_err(|e| handoff_problem(&state, e))?;
    Ok(Json(RevealedPhone {
        phone: phone.expose().to_string(),
    }))
}
