//! The sign-in form and the desk (upload forms and recent jobs); signing in and out are
//! `web::sign_in`'s, shared with the agent console.

use super::{
    Chrome, Clerk, Look, chrome, document_label, page, problem_page, status_label, verdict_label,
    when,
};
use crate::account::Role;
use crate::desk::{ACCESS_LOG_ROLES, JobView, MAX_BATCH, VERIFY_ROLES};
use crate::verify::Verdict;
use crate::web::AppState;
use crate::web::auth_api::Denied;
use crate::web::desk::desk_problem;
use crate::web::session::{self, Staff, over_tls};
use askama::Template;
use axum::extract::{ConnectInfo, OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use std::net::SocketAddr;
use std::sync::Arc;

/// Jobs listed on the desk.
const RECENT_JOBS: i64 = 30;

#[derive(Template)]
#[template(path = "clerk_login.html")]
struct LoginPage {
    chrome: Chrome,
    csrf: String,
    username: String,
    error: Option<String>,
}

pub(super) struct JobRow {
    pub(super) id: String,
    pub(super) when: String,
    pub(super) owner: String,
    pub(super) document: &'static str,
    pub(super) status: &'static str,
    pub(super) verdict: Option<&'static str>,
    pub(super) verdict_class: String,
}

pub(super) fn job_row(v: &JobView) -> JobRow {
    JobRow {
        id: v.job_id.clone(),
        when: when(v.created_at),
        owner: v.owner.clone(),
        document: document_label(v.document_type),
        status: status_label(v),
        verdict: v.verdict.map(verdict_label),
        verdict_class: v
            .verdict
            .map(Verdict::as_str)
            .unwrap_or_default()
            .to_string(),
    }
}

#[derive(Template)]
#[template(path = "clerk_home.html")]
struct HomePage {
    chrome: Chrome,
    may_verify: bool,
    may_read_log: bool,
    supervisor: bool,
    unavailable: Option<String>,
    max_mb: usize,
    max_batch: usize,
    jobs: Vec<JobRow>,
    error: Option<String>,
}

pub(super) async fn desk_page(
    state: &AppState,
    look: &Look,
    s: &Staff,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let jobs = match state.desk.recent_jobs(&s.who, RECENT_JOBS).await {
        Ok(jobs) => jobs.iter().map(job_row).collect(),
        Err(e) => {
            let Denied(p) = desk_problem(state, e);
            return problem_page(look, Some(s), &p);
        }
    };
    let may_verify = VERIFY_ROLES.contains(&s.who.role);
    page(
        &HomePage {
            chrome: chrome(look, Some(s)),
            may_verify,
            may_read_log: ACCESS_LOG_ROLES.contains(&s.who.role),
            supervisor: s.who.role == Role::Supervisor,
            unavailable: (may_verify && !state.desk.availability.available).then(|| {
                state
                    .desk
                    .availability
                    .hint
                    .clone()
                    .unwrap_or_else(|| crate::desk::FETCH_HINT.to_string())
            }),
            max_mb: state.desk.config.max_upload_bytes / (1024 * 1024),
            max_batch: MAX_BATCH,
            jobs,
            error,
        },
        status,
        look,
    )
}

/// The sign-in form (`Console::login_page`).
pub(super) fn login_page(
    look: &Look,
    status: StatusCode,
    csrf: &str,
    username: &str,
    error: Option<String>,
) -> Response {
    page(
        &LoginPage {
            chrome: chrome(look, None),
            csrf: csrf.to_string(),
            username: username.to_string(),
            error,
        },
        status,
        look,
    )
}

/// `GET /clerk`: the sign-in form, or the desk: upload forms and recent jobs.
pub async fn home(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let look = Look::new(&headers, &uri);
    match session::staff::<Clerk>(&state, &headers).await {
        Ok(Some(s)) => desk_page(&state, &look, &s, StatusCode::OK, None).await,
        Ok(None) => crate::web::sign_in::form::<Clerk>(
            &headers,
            Some(&uri),
            over_tls(&state, peer, &headers),
            StatusCode::OK,
            "",
            None,
        ),
        Err(resp) => resp,
    }
}
