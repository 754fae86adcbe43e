//! A handoff's conversation in the agent console: the lines with citations, claim, reply, transfer, close.

use super::*;

struct LineRow {
    who: String,
    from_agent: bool,
    from_citizen: bool,
    text: String,
    at: String,
    citations: Vec<crate::answer::Citation>,
}

#[derive(Template)]
#[template(path = "agent_handoff.html")]
struct ConversationPage {
    chrome: Chrome,
    id: String,
    state_label: &'static str,
    reason: &'static str,
    queued_at: String,
    agent: Option<String>,
    resolution: Option<&'static str>,
    transcript: Vec<LineRow>,
    waiting: bool,
    mine: bool,
    closable: bool,
    docs: Vec<(String, String)>,
    staff: Vec<String>,
    resolutions: Vec<(&'static str, &'static str)>,
}

fn local_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset"))
                .format("%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_string())
}

/// `GET /agent/handoffs/{id}`: the conversation, and what may be done with it.
pub async fn conversation(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let s = &signed.staff;
    // Taken before the conversation is read: a change in between makes the page fetch itself
    // again.
    let seen = match state.handoffs.console_fingerprint(Some(&id)).await {
        Ok(f) => f,
        Err(e) => return refused(&headers, s, e, &state),
    };
    let d = match state.handoffs.detail(&s.who, &id).await {
        Ok(d) => d,
        Err(e) => return refused(&headers, s, e, &state),
    };
    let staff_names = match state.handoffs.staff().await {
        Ok(v) => v,
        Err(e) => return internal(&headers, Some(s), e),
    };
    let sum = &d.summary;
    let active = sum.state == HandoffState::Active;
    let mine = active
        && (sum.agent.as_deref() == Some(s.who.user.as_str()) || s.who.role == Role::Supervisor);
    let index = state.assistant.index.get();
    let today = chrono::Local::now().date_naive();
    let docs = index
        .catalog
        .documents
        .iter()
        .filter(|doc| doc.meta.in_force_on(today))
        .map(|doc| (doc.meta.id.to_string(), doc.meta.title.clone()))
        .collect();
    let transcript = d
        .transcript
        .iter()
        .map(|l| LineRow {
            who: match l.from {
                Sender::Citizen => "群众".into(),
                Sender::Assistant => "小办".into(),
                Sender::Agent => format!("工作人员 {}", l.agent.clone().unwrap_or_default()),
            },
            from_agent: l.from == Sender::Agent,
            from_citizen: l.from == Sender::Citizen,
            text: l.text.clone(),
            at: local_time(&l.at),
            citations: l.citations.clone(),
        })
        .collect();
    page(
        &ConversationPage {
            chrome: Chrome {
                live: Some(format!("/agent/events?handoff={id}&since={seen}")),
                ..chrome(&headers, &format!("/agent/handoffs/{id}"), Some(s))
            },
            state_label: match sum.state {
                HandoffState::Waiting => "排队中",
                HandoffState::Active => "接待中",
                HandoffState::Callback => "待回电",
                HandoffState::Closed => "已结束",
            },
            reason: reason_label(&sum.reason),
            queued_at: local_time(&sum.queued_at),
            agent: sum.agent.clone(),
            resolution: sum.resolution.map(Resolution::label),
            transcript,
            waiting: sum.state == HandoffState::Waiting,
            mine,
            closable: mine || matches!(sum.state, HandoffState::Waiting | HandoffState::Callback),
            docs,
            staff: staff_names
                .into_iter()
                .filter(|n| *n != s.who.user)
                .collect(),
            resolutions: Resolution::FOR_AGENTS
                .iter()
                .map(|r| (r.as_str(), r.label()))
                .collect(),
            id,
        },
        StatusCode::OK,
    )
}

pub async fn claim(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    signed: SignedIn<CsrfOnly>,
) -> Response {
    let s = &signed.staff;
    match state.handoffs.claim(&s.who, &id).await {
        Ok(_) => Redirect::to(&format!("/agent/handoffs/{id}")).into_response(),
        Err(e) => refused(&headers, s, e, &state),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ReplyForm {
    csrf: String,
    text: String,
    /// A knowledge-base document to link.
    doc: String,
}

pub async fn say(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    signed: SignedIn<ReplyForm>,
) -> Response {
    let (s, form) = (&signed.staff, &signed.body);
    let mut text = form.text.trim().to_string();
    if !form.doc.is_empty() {
        let index = state.assistant.index.get();
        let Some(doc) = crate::kb::DocId::parse(&form.doc)
            .ok()
            .and_then(|d| index.document(&d).cloned())
        else {
            return Agent::message(
                &headers,
                Some(s),
                StatusCode::UNPROCESSABLE_ENTITY,
                "无法发送",
                "没有这份知识库文档，消息没有发送。",
            );
        };
        let link = format!("参考：《{}》 /kb/{}", doc.meta.title, doc.meta.id);
        text = if text.is_empty() {
            link
        } else {
            format!("{text}\n{link}")
        };
    }
    match state.handoffs.say(&s.who, &id, &text).await {
        Ok(_) => Redirect::to(&format!("/agent/handoffs/{id}")).into_response(),
        Err(e) => refused(&headers, s, e, &state),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TransferForm {
    csrf: String,
    to: String,
}

pub async fn transfer(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    signed: SignedIn<TransferForm>,
) -> Response {
    let (s, form) = (&signed.staff, &signed.body);
    match state.handoffs.transfer(&s.who, &id, &form.to).await {
        Ok(_) => Redirect::to("/agent").into_response(),
        Err(e) => refused(&headers, s, e, &state),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CloseForm {
    csrf: String,
    resolution: String,
}

pub async fn close(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    signed: SignedIn<CloseForm>,
) -> Response {
    let (s, form) = (&signed.staff, &signed.body);
    match state.handoffs.close(&s.who, &id, &form.resolution).await {
        Ok(_) => Redirect::to("/agent").into_response(),
        Err(e) => refused(&headers, s, e, &state),
    }
}

impl session::CsrfForm for ReplyForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl session::CsrfForm for TransferForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl session::CsrfForm for CloseForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
