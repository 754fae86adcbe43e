//! The console live with JavaScript: `GET /agent/events` says, as server-sent events, when
//! what a page shows has changed (the queue, or one conversation with `?handoff=ID`); the
//! page's script (`templates/agent.js`) then fetches the page again and swaps in the parts
//! that changed. Without JavaScript the pages work as they are, by refreshing.

use super::*;
use crate::web::api::until_cut;
use crate::web::handoff_api::wait_for_change;
use crate::web::limits::ClientAddress;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream;
use std::convert::Infallible;

#[derive(Debug, Deserialize)]
pub struct LiveQuery {
    /// One conversation's page; the queue without it.
    handoff: Option<String>,
    /// The page's fingerprint when it was rendered (`Handoffs::console_fingerprint`): a
    /// change since then is told at once.
    since: Option<String>,
}

/// `change` (data: the new fingerprint) each time the page would show something else; the
/// stream stays open.
pub async fn events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ClientAddress(address): ClientAddress,
    signed: SignedIn,
    Query(q): Query<LiveQuery>,
) -> Response {
    let s = &signed.staff;
    let session = match &q.handoff {
        Some(id) => match state.handoffs.session_of(id).await {
            Ok(session) => Some(session),
            Err(e) => return refused(&headers, s, e, &state),
        },
        None => None,
    };
    let slot = match state.limits.open_stream(address) {
        Ok(slot) => slot,
        Err(p) => {
            state.note_problem(&p);
            return p.into_response();
        }
    };
    let wake = state.handoffs.subscribe();
    let look = Look {
        state: state.clone(),
        handoff: q.handoff,
        session,
        seen: q.since,
        looked: false,
    };
    let changes = stream::unfold(
        (look, wake, slot),
        |(mut look, mut wake, slot)| async move {
            loop {
                if look.looked {
                    wait_for_change(&mut wake, look.session.as_deref()).await;
                }
                look.looked = true;
                let now = match look
                    .state
                    .handoffs
                    .console_fingerprint(look.handoff.as_deref())
                    .await
                {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::error!(error = %e, "console events failed");
                        return None;
                    }
                };
                let changed = look.seen.as_ref().is_some_and(|seen| *seen != now);
                look.seen = Some(now.clone());
                if changed {
                    // An event without data is never dispatched: the new fingerprint is its data.
                    let event = Event::default().event("change").data(now);
                    return Some((Ok::<_, Infallible>(event), (look, wake, slot)));
                }
            }
        },
    );
    let mut resp = Sse::new(until_cut(changes, state.cut_streams.clone()))
        .keep_alive(KeepAlive::default())
        .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

struct Look {
    state: Arc<AppState>,
    handoff: Option<String>,
    session: Option<String>,
    /// The fingerprint last told (or the page's); `None` before the first look.
    seen: Option<String>,
    /// The first look compares with the page at once; later ones wait for a change.
    looked: bool,
}
