//! The callback tickets in the agent console: the list, a ticket's status, the logged reveal of its number.

use super::*;

#[derive(Template)]
#[template(path = "agent_callbacks.html")]
struct CallbacksPage {
    chrome: Chrome,
    status_label: &'static str,
    tickets: Vec<crate::handoff::CallbackView>,
    next_statuses: Vec<(&'static str, &'static str)>,
    /// The ticket whose number is shown, and the number.
    revealed: Option<String>,
    revealed_phone: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StatusQuery {
    status: String,
}

async fn callbacks_page(
    state: &AppState,
    headers: &HeaderMap,
    s: &Staff,
    status: CallbackStatus,
    revealed: Option<(String, String)>,
) -> Response {
    let tickets = match state.handoffs.callbacks(&s.who, status).await {
        Ok(t) => t,
        Err(e) => return refused(headers, s, e, state),
    };
    let next_statuses = CallbackStatus::ALL
        .into_iter()
        .filter(|x| *x != status)
        .map(|x| {
            (
                x.as_str(),
                match x {
                    CallbackStatus::New => "退回待回电",
                    CallbackStatus::Contacted => "标为已联系",
                    CallbackStatus::Closed => "标为已办结",
                },
            )
        })
        .collect();
    let (revealed, revealed_phone) = match revealed {
        Some((id, phone)) => (Some(id), phone),
        None => (None, String::new()),
    };
    page(
        &CallbacksPage {
            chrome: chrome(headers, "/agent/callbacks", Some(s)),
            status_label: status.label(),
            tickets,
            next_statuses,
            revealed,
            revealed_phone,
        },
        StatusCode::OK,
    )
}

pub async fn callbacks(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    signed: SignedIn,
    Query(q): Query<StatusQuery>,
) -> Response {
    let s = &signed.staff;
    let wanted = if q.status.is_empty() {
        "new"
    } else {
        q.status.as_str()
    };
    let Some(status) = CallbackStatus::parse(wanted) else {
        return refused(&headers, s, HandoffError::BadStatus, &state);
    };
    callbacks_page(&state, &headers, s, status, None).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CallbackStatusForm {
    csrf: String,
    status: String,
}

pub async fn callback_status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    signed: SignedIn<CallbackStatusForm>,
) -> Response {
    let (s, form) = (&signed.staff, &signed.body);
    match state
        .handoffs
        .set_callback_status(&s.who, &id, &form.status)
        .await
    {
        Ok(v) => {
            Redirect::to(&format!("/agent/callbacks?status={}", v.status.as_str())).into_response()
        }
        Err(e) => refused(&headers, s, e, &state),
    }
}

/// `POST /agent/callbacks/{id}/reveal`: the list with this ticket's full number (logged);
/// answered to the POST, so the number is in no address or history entry.
pub async fn reveal(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    signed: SignedIn<CsrfOnly>,
) -> Response {
    let s = &signed.staff;
    let phone = match state.handoffs.reveal_phone(&s.who, &id).await {
        Ok(p) => p,
        Err(e) => return refused(&headers, s, e, &state),
    };
    let status = match state.handoffs.callback_status_of(&id).await {
        Ok(Some(st)) => st,
        Ok(None) => return refused(&headers, s, HandoffError::NoSuchCallback, &state),
        Err(e) => return internal(&headers, Some(s), e),
    };
    callbacks_page(
        &state,
        &headers,
        s,
        status,
        Some((id, phone.expose().to_string())),
    )
    .await
}

impl session::CsrfForm for CallbackStatusForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
