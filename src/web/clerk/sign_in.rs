//! Sign-in, the desk (upload forms and recent jobs) and sign-out.

use super::{
    Chrome, Clerk, LOGIN_COOKIE, Look, SESSION_COOKIE, SignedIn, chrome, csrf_refused,
    document_label, message, page, problem_page, status_label, verdict_label, when,
};
use crate::account::{LoginError, Role};
use crate::desk::{ACCESS_LOG_ROLES, JobView, MAX_BATCH, VERIFY_ROLES};
use crate::verify::Verdict;
use crate::web::AppState;
use crate::web::auth_api::Denied;
use crate::web::desk::desk_problem;
use crate::web::limits::ClientAddress;
use crate::web::session::{
    self, Staff, console_cookie, cookie, over_tls, random_token, same, set_cookies,
};
use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// Jobs listed on the desk.
const RECENT_JOBS: i64 = 30;

fn session_cookie(value: &str, max_age: i64, secure: bool) -> String {
    console_cookie(SESSION_COOKIE, "/clerk", value, max_age, secure)
}

fn login_cookie(value: &str, max_age: i64, secure: bool) -> String {
    console_cookie(LOGIN_COOKIE, "/clerk", value, max_age, secure)
}

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

fn login_page(
    look: &Look,
    headers: &HeaderMap,
    secure: bool,
    status: StatusCode,
    username: &str,
    error: Option<String>,
) -> Response {
    // The sign-in form's token, kept in its cookie; a new one when there is none.
    let (csrf, fresh) = match cookie(headers, LOGIN_COOKIE) {
        Some(c) => (c.to_string(), false),
        None => (random_token(), true),
    };
    let mut resp = page(
        &LoginPage {
            chrome: chrome(look, None),
            csrf: csrf.clone(),
            username: username.to_string(),
            error,
        },
        status,
        look,
    );
    if fresh {
        set_cookies(&mut resp, &[login_cookie(&csrf, 3600, secure)]);
    }
    resp
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
        Ok(None) => login_page(
            &look,
            &headers,
            over_tls(&state, peer, &headers),
            StatusCode::OK,
            "",
            None,
        ),
        Err(resp) => resp,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    username: String,
    password: String,
    csrf: String,
}

/// `POST /clerk/login`: checks the password (throttled as the API's sign-in is) and sets the
/// session cookie.
pub async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let look = Look::plain(&headers);
    let secure = over_tls(&state, peer, &headers);
    let Ok(Form(form)) = form else {
        return message(
            &look,
            None,
            StatusCode::BAD_REQUEST,
            "无法登录",
            "登录表单无法读取，请返回核验台重试。",
        );
    };
    if !cookie(&headers, LOGIN_COOKIE).is_some_and(|c| same(c, &form.csrf)) {
        tracing::info!("sign-in form refused: CSRF token missing or wrong");
        return csrf_refused(&look, None);
    }
    let name = form.username.trim();
    match state
        .accounts
        .login(name, &form.password, &address.to_string())
        .await
    {
        Ok(t) => {
            let age = (t.expires_at - chrono::Utc::now().timestamp()).max(0);
            let mut resp = Redirect::to("/clerk").into_response();
            set_cookies(
                &mut resp,
                &[
                    session_cookie(&t.secret, age, secure),
                    login_cookie("", 0, secure),
                ],
            );
            resp
        }
        Err(LoginError::Invalid) => login_page(
            &look,
            &headers,
            secure,
            StatusCode::UNAUTHORIZED,
            name,
            Some(LoginError::Invalid.to_string()),
        ),
        Err(e @ (LoginError::Throttled(_) | LoginError::Busy(_))) => {
            let secs = e.retry_after().unwrap_or(1);
            let status = match e {
                LoginError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::TOO_MANY_REQUESTS,
            };
            let mut resp = login_page(&look, &headers, secure, status, name, Some(e.to_string()));
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            resp
        }
        Err(LoginError::Internal(e)) => {
            tracing::error!(error = %e, "sign-in failed");
            message(
                &look,
                None,
                StatusCode::INTERNAL_SERVER_ERROR,
                "出错了",
                "服务内部出错，请稍后重试。",
            )
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CsrfForm {
    csrf: String,
}

impl session::CsrfForm for CsrfForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /clerk/logout`: ends the session and clears its cookie.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    signed: SignedIn<CsrfForm>,
) -> Response {
    let s = &signed.staff;
    if let Err(e) = state.accounts.logout(&s.token).await {
        tracing::error!(error = %e, "sign-out failed");
        return message(
            &Look::plain(&headers),
            Some(s),
            StatusCode::INTERNAL_SERVER_ERROR,
            "出错了",
            "退出登录失败，请稍后重试。",
        );
    }
    let mut resp = Redirect::to("/clerk").into_response();
    set_cookies(
        &mut resp,
        &[session_cookie("", 0, over_tls(&state, peer, &headers))],
    );
    resp
}
