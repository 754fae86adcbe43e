//! The clerk page (`/clerk`): sign-in, upload (a plain multipart form; drag and drop when
//! JavaScript runs), the result beside the scan with each field's box, masked personal
//! fields revealed one at a time or all at once, corrections, pre-fill downloads, batches,
//! and the access log for supervisors and auditors. Works without JavaScript.
//!
//! **Sessions.** Signing in hands out the same kind of token as `POST /api/v1/auth/login`
//! (stored hashed, 12 hours, throttled the same way), carried in the `xiaoban_session`
//! cookie: `HttpOnly`, `SameSite=Strict`, `Path=/clerk`, and `Secure` when a trusted proxy
//! (`limits.trusted_proxies`) says the request came over HTTPS (`X-Forwarded-Proto: https`).
//! The API never reads this cookie: bearer tokens only, so API calls need no CSRF token.
//!
//! **CSRF.** Every state-changing form carries `csrf`: for a signed-in user, a hash of the
//! session token under a domain tag (unguessable without the cookie, the same on every node);
//! for the sign-in form, a random value also set as the `xiaoban_login` cookie (double
//! submit). A missing or wrong token is refused with 403 before anything happens.
//!
//! **Who may do what** is [`RULES`] (plus [`PUBLIC`]); every route is registered through
//! [`ruled`], so a route without a rule panics at start-up, and the route × role test in
//! `tests/clerk_page.rs` checks each rule against each role.

use super::AppState;
use super::auth_api::Denied;
use super::limits::ClientAddress;
use super::pages::{CSS, ELDER_COOKIE, elder_from_cookie, render};
use super::problem::Problem;
use super::verify_api::{
    ACCESS_LOG_ROLES, AccessLogQuery, PrefillQuery, SUPERVISORS, VERIFY_ROLES, desk_problem,
    export, files, front_and_back, is_multipart, read_access_log, scan_response,
};
use crate::account::{LoginError, Principal, Role};
use crate::scan::geometry;
use crate::scans::review::Reveal;
use crate::scans::{DeskError, JobView, MAX_BATCH, mask};
use crate::store::edits::FieldEdit;
use crate::verify::DocumentType;
use askama::Template;
use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, extract::OriginalUri};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;

const CLERK_CSS: &str = include_str!("../../templates/clerk.css");
const CLERK_JS: &str = include_str!("../../templates/clerk.js");
pub const SESSION_COOKIE: &str = "xiaoban_session";
pub const LOGIN_COOKIE: &str = "xiaoban_login";
const ALL_ROLES: &[Role] = &Role::ALL;
/// Jobs listed on the desk.
const RECENT_JOBS: i64 = 30;

/// Routes anyone may call (signed out, `GET /clerk` is the sign-in form).
pub const PUBLIC: &[(&str, &str)] = &[("GET", "/clerk"), ("POST", "/clerk/login")];

/// Every other route of the page with the roles allowed on it.
pub const RULES: &[(&str, &str, &[Role])] = &[
    ("POST", "/clerk/logout", ALL_ROLES),
    ("POST", "/clerk/upload", VERIFY_ROLES),
    ("POST", "/clerk/batch", VERIFY_ROLES),
    ("GET", "/clerk/batches/{batch_id}", VERIFY_ROLES),
    ("GET", "/clerk/jobs/{job_id}", VERIFY_ROLES),
    ("POST", "/clerk/jobs/{job_id}/reveal", VERIFY_ROLES),
    ("POST", "/clerk/jobs/{job_id}/fields", VERIFY_ROLES),
    ("POST", "/clerk/jobs/{job_id}/confirm", SUPERVISORS),
    ("GET", "/clerk/jobs/{job_id}/scan", VERIFY_ROLES),
    ("GET", "/clerk/jobs/{job_id}/prefill", VERIFY_ROLES),
    ("GET", "/clerk/access-log", ACCESS_LOG_ROLES),
];

/// `path`, after checking that it has a rule: a route added without one stops the server
/// from starting (and every test with it).
pub fn ruled(path: &'static str) -> &'static str {
    assert!(
        RULES.iter().any(|(_, p, _)| *p == path) || PUBLIC.iter().any(|(_, p)| *p == path),
        "{path} has no access rule in web::clerk::RULES"
    );
    path
}

/// The page's routes with small bodies (under the application's 64 KB limit).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(ruled("/clerk"), get(home))
        .route(ruled("/clerk/login"), post(login))
        .route(ruled("/clerk/logout"), post(logout))
        .route(ruled("/clerk/batches/{batch_id}"), get(batch_page))
        .route(ruled("/clerk/jobs/{job_id}"), get(job_page))
        .route(ruled("/clerk/jobs/{job_id}/reveal"), post(reveal))
        .route(ruled("/clerk/jobs/{job_id}/fields"), post(edit))
        .route(ruled("/clerk/jobs/{job_id}/confirm"), post(confirm))
        .route(ruled("/clerk/jobs/{job_id}/scan"), get(scan))
        .route(ruled("/clerk/jobs/{job_id}/prefill"), get(prefill))
        .route(ruled("/clerk/access-log"), get(access_log_page))
}

/// The upload forms, with body limits fitting their images (as the API's).
pub fn upload_routes(max_upload_bytes: usize) -> Router<Arc<AppState>> {
    let single = max_upload_bytes.saturating_mul(2).saturating_add(64 * 1024);
    let batch = max_upload_bytes
        .saturating_mul(MAX_BATCH)
        .saturating_add(64 * 1024);
    Router::new()
        .route(
            ruled("/clerk/upload"),
            post(upload).layer(DefaultBodyLimit::max(single)),
        )
        .route(
            ruled("/clerk/batch"),
            post(start_batch).layer(DefaultBodyLimit::max(batch)),
        )
}

// ---- sessions and CSRF ----

pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// The CSRF token of a session: its token hashed under a tag of its own, so it is neither
/// the token nor the hash the store keeps.
pub fn csrf_token(session_token: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"xiaoban csrf\0")
        .chain_update(session_token.as_bytes())
        .finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// Compares in time independent of where the strings differ.
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub(super) fn random_token() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether the request reached the proxy in front of us over HTTPS: only a trusted proxy's
/// `X-Forwarded-Proto` is believed (the server itself speaks plain HTTP).
pub(super) fn over_tls(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> bool {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    // The limits' address rule believes forwarded addresses from trusted proxies only: a
    // probe address comes back changed exactly when the peer is one.
    let mut probe = HeaderMap::new();
    probe.insert("x-forwarded-for", HeaderValue::from_static("192.0.2.1"));
    https && state.limits.client_address(peer.ip(), &probe) != peer.ip()
}

fn session_cookie(value: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={value}; Path=/clerk; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

fn login_cookie(value: &str, secure: bool) -> String {
    format!(
        "{LOGIN_COOKIE}={value}; Path=/clerk; HttpOnly; SameSite=Strict; Max-Age=3600{}",
        if secure { "; Secure" } else { "" }
    )
}

/// A signed-in member of staff, with the session token their cookie carries.
struct Staff {
    who: Principal,
    token: String,
}

impl Staff {
    fn csrf(&self) -> String {
        csrf_token(&self.token)
    }
}

async fn staff(state: &AppState, headers: &HeaderMap) -> Result<Option<Staff>, Response> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    match state.accounts.principal(token).await {
        Ok(Some(who)) => Ok(Some(Staff {
            who,
            token: token.to_string(),
        })),
        Ok(None) => Ok(None),
        Err(e) => {
            tracing::error!(error = %e, "session lookup failed");
            Err(message(
                &Look::plain(headers),
                None,
                StatusCode::INTERNAL_SERVER_ERROR,
                "出错了",
                "服务内部出错，请稍后重试。",
            ))
        }
    }
}

/// Display settings of a page: elder mode (by cookie, switched with `?elder=1|0`).
struct Look {
    elder: bool,
    set_cookie: Option<String>,
    /// The page's own path, for the elder-mode switch.
    path: String,
}

impl Look {
    fn new(headers: &HeaderMap, uri: &axum::http::Uri) -> Look {
        let switch = uri
            .query()
            .unwrap_or("")
            .split('&')
            .find_map(|kv| match kv {
                "elder=1" => Some(true),
                "elder=0" => Some(false),
                _ => None,
            });
        let path = uri.path().to_string();
        match switch {
            Some(on) => Look {
                elder: on,
                set_cookie: Some(format!(
                    "{ELDER_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
                    u8::from(on)
                )),
                path,
            },
            None => Look {
                elder: elder_from_cookie(headers),
                set_cookie: None,
                path,
            },
        }
    }

    fn plain(headers: &HeaderMap) -> Look {
        Look {
            elder: elder_from_cookie(headers),
            set_cookie: None,
            path: "/clerk".into(),
        }
    }
}

/// What every page shows around its content.
struct Chrome {
    css: &'static str,
    clerk_css: &'static str,
    js: &'static str,
    elder: bool,
    elder_href: String,
    user: Option<String>,
    role_label: &'static str,
    csrf: String,
}

fn role_label(r: Role) -> &'static str {
    match r {
        Role::Clerk => "窗口工作人员",
        Role::Supervisor => "主管",
        Role::Admin => "系统管理员",
        Role::Auditor => "审计员",
        Role::Agent => "人工客服",
    }
}

fn chrome(look: &Look, staff: Option<&Staff>) -> Chrome {
    Chrome {
        css: CSS,
        clerk_css: CLERK_CSS,
        js: CLERK_JS,
        elder: look.elder,
        elder_href: format!("{}?elder={}", look.path, if look.elder { 0 } else { 1 }),
        user: staff.map(|s| s.who.user.clone()),
        role_label: staff.map_or("", |s| role_label(s.who.role)),
        csrf: staff.map(Staff::csrf).unwrap_or_default(),
    }
}

/// A rendered page with its status, never cached (it may show personal data), never framed.
fn page(t: &impl Template, status: StatusCode, look: &Look) -> Response {
    let mut resp = render(t);
    if resp.status() == StatusCode::OK {
        *resp.status_mut() = status;
    }
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    if let Some(c) = look
        .set_cookie
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.append(header::SET_COOKIE, c);
    }
    resp
}

#[derive(Template)]
#[template(path = "clerk_message.html")]
struct MessagePage {
    chrome: Chrome,
    title: String,
    message: String,
}

fn message(
    look: &Look,
    staff: Option<&Staff>,
    status: StatusCode,
    title: &str,
    text: &str,
) -> Response {
    page(
        &MessagePage {
            chrome: chrome(look, staff),
            title: title.to_string(),
            message: text.to_string(),
        },
        status,
        look,
    )
}

/// The page for a desk refusal (not found, not yours, unavailable…).
fn desk_error_page(state: &AppState, look: &Look, staff: &Staff, e: DeskError) -> Response {
    let Denied(p) = desk_problem(state, e);
    problem_page(look, Some(staff), &p)
}

fn problem_page(look: &Look, staff: Option<&Staff>, p: &Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
    let title = match status {
        StatusCode::FORBIDDEN => "无权操作",
        StatusCode::NOT_FOUND => "没有找到",
        StatusCode::GONE => "已删除",
        StatusCode::SERVICE_UNAVAILABLE => "暂不可用",
        StatusCode::TOO_MANY_REQUESTS => "操作过于频繁",
        s if s.is_server_error() => "出错了",
        _ => "无法完成",
    };
    let mut resp = message(look, staff, status, title, &p.detail);
    if let Some(secs) = p.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

fn csrf_refused(look: &Look, staff: Option<&Staff>) -> Response {
    message(
        look,
        staff,
        StatusCode::FORBIDDEN,
        "表单校验失败",
        "表单已过期或不是从本系统页面提交的（CSRF 校验未通过），操作没有执行。请返回核验台刷新页面后重试。",
    )
}

fn signed_out(look: &Look) -> Response {
    message(
        look,
        None,
        StatusCode::UNAUTHORIZED,
        "请先登录",
        "登录已失效或尚未登录，操作没有执行。请返回核验台重新登录。",
    )
}

/// A signed-in user with one of `roles` for a page (GET): signed out goes to the sign-in
/// form, another role gets 403.
async fn viewer(
    state: &AppState,
    headers: &HeaderMap,
    look: &Look,
    roles: &[Role],
) -> Result<Staff, Response> {
    let Some(s) = staff(state, headers).await? else {
        return Err(Redirect::to("/clerk").into_response());
    };
    if !roles.contains(&s.who.role) {
        let p = super::auth_api::forbidden(s.who.role);
        return Err(problem_page(look, Some(&s), &p));
    }
    Ok(s)
}

/// A signed-in user with one of `roles` whose form carries the session's CSRF token: 401
/// signed out, 403 for a wrong token or role.
async fn actor(
    state: &AppState,
    headers: &HeaderMap,
    look: &Look,
    csrf: &str,
    roles: &[Role],
) -> Result<Staff, Response> {
    let Some(s) = staff(state, headers).await? else {
        return Err(signed_out(look));
    };
    if !same(csrf, &s.csrf()) {
        tracing::info!(user = %s.who.user, "form refused: CSRF token missing or wrong");
        return Err(csrf_refused(look, Some(&s)));
    }
    if !roles.contains(&s.who.role) {
        let p = super::auth_api::forbidden(s.who.role);
        return Err(problem_page(look, Some(&s), &p));
    }
    Ok(s)
}

fn when(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

fn verdict_label(v: &str) -> &'static str {
    match v {
        "pass" => "通过",
        "review" => "需人工复核",
        "fail" => "不通过",
        _ => "未知",
    }
}

fn document_label(t: Option<&str>) -> &'static str {
    t.and_then(DocumentType::parse)
        .map_or("（尚无结果）", DocumentType::label)
}

fn status_label(v: &JobView) -> &'static str {
    match v.status {
        crate::store::jobs::JobStatus::Pending => "排队识别中",
        crate::store::jobs::JobStatus::Done => "已完成",
        crate::store::jobs::JobStatus::Failed => "识别失败",
    }
}

// ---- sign-in, the desk, sign-out ----

#[derive(Template)]
#[template(path = "clerk_login.html")]
struct LoginPage {
    chrome: Chrome,
    csrf: String,
    username: String,
    error: Option<String>,
}

struct JobRow {
    id: String,
    when: String,
    owner: String,
    document: &'static str,
    status: &'static str,
    verdict: Option<&'static str>,
    verdict_class: String,
}

fn job_row(v: &JobView) -> JobRow {
    JobRow {
        id: v.job_id.clone(),
        when: when(v.created_at),
        owner: v.owner.clone(),
        document: document_label(v.document_type.as_deref()),
        status: status_label(v),
        verdict: v.verdict.as_deref().map(verdict_label),
        verdict_class: v.verdict.clone().unwrap_or_default(),
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

async fn desk_page(
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
                    .unwrap_or_else(|| crate::scans::FETCH_HINT.to_string())
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
    if fresh && let Ok(v) = HeaderValue::from_str(&login_cookie(&csrf, secure)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
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
    match staff(&state, &headers).await {
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
            let h = resp.headers_mut();
            for c in [
                session_cookie(&t.secret, age, secure),
                login_cookie("", secure).replace("Max-Age=3600", "Max-Age=0"),
            ] {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    h.append(header::SET_COOKIE, v);
                }
            }
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

/// `POST /clerk/logout`: ends the session and clears its cookie.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let look = Look::plain(&headers);
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    let s = match actor(&state, &headers, &look, &csrf, ALL_ROLES).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    if let Err(e) = state.accounts.logout(&s.token).await {
        tracing::error!(error = %e, "sign-out failed");
        return message(
            &look,
            Some(&s),
            StatusCode::INTERNAL_SERVER_ERROR,
            "出错了",
            "退出登录失败，请稍后重试。",
        );
    }
    let mut resp = Redirect::to("/clerk").into_response();
    if let Ok(v) = HeaderValue::from_str(&session_cookie("", 0, over_tls(&state, peer, &headers))) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

// ---- uploads ----

/// The parts of a multipart form, or the page saying why it could not be read.
async fn form_parts(
    state: &AppState,
    look: &Look,
    s: &Staff,
    req: Request,
) -> Result<Vec<(String, Vec<u8>)>, Response> {
    let bad = |detail: &str| message(look, Some(s), StatusCode::BAD_REQUEST, "上传未完成", detail);
    if !is_multipart(&req) {
        return Err(bad("上传表单应为 multipart/form-data。"));
    }
    let form = Multipart::from_request(req, state)
        .await
        .map_err(|_| bad("上传内容无法读取：multipart 格式有误。"))?;
    files(state, form)
        .await
        .map_err(|Denied(p)| problem_page(look, Some(s), &p))
}

fn csrf_part(parts: &[(String, Vec<u8>)]) -> String {
    parts
        .iter()
        .find(|(n, _)| n == "csrf")
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

/// The desk again, with why an upload was refused.
async fn refused(state: &AppState, look: &Look, s: &Staff, p: &Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = desk_page(state, look, s, status, Some(p.detail.clone())).await;
    if let Some(secs) = p.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// The session's user, before a multipart body is read: signed out is refused at once.
async fn uploader(state: &AppState, headers: &HeaderMap, look: &Look) -> Result<Staff, Response> {
    staff(state, headers).await?.ok_or_else(|| signed_out(look))
}

/// Why an upload whose parts have been read is refused (CSRF token, role), if it is.
fn upload_refusal(look: &Look, s: &Staff, parts: &[(String, Vec<u8>)]) -> Option<Response> {
    if !same(&csrf_part(parts), &s.csrf()) {
        tracing::info!(user = %s.who.user, "upload refused: CSRF token missing or wrong");
        return Some(csrf_refused(look, Some(s)));
    }
    if !VERIFY_ROLES.contains(&s.who.role) {
        return Some(problem_page(
            look,
            Some(s),
            &super::auth_api::forbidden(s.who.role),
        ));
    }
    None
}

/// `POST /clerk/upload`: one document (`image`, optional `image_back`), read now; then the
/// result page.
pub async fn upload(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    req: Request,
) -> Response {
    let look = Look::plain(&headers);
    let s = match uploader(&state, &headers, &look).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let parts = match form_parts(&state, &look, &s, req).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    if let Some(resp) = upload_refusal(&look, &s, &parts) {
        return resp;
    }
    let (front, back) = front_and_back(parts);
    let Some(front) = front else {
        let p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-upload",
            "Invalid upload",
            "请选择证件正面（人像面）或营业执照的图片。",
        );
        return refused(&state, &look, &s, &p).await;
    };
    let images = 1 + u32::from(back.is_some());
    if let Err(p) = state.limits.admit_uploads(&s.who.user, images) {
        return refused(&state, &look, &s, &p).await;
    }
    match state.desk.verify(&s.who, front, back).await {
        Ok((id, _)) => Redirect::to(&format!("/clerk/jobs/{id}")).into_response(),
        Err(e) => {
            let Denied(p) = desk_problem(&state, e);
            refused(&state, &look, &s, &p).await
        }
    }
}

/// `POST /clerk/batch`: several front images (`images`), read in the background; then the
/// batch's progress page.
pub async fn start_batch(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    req: Request,
) -> Response {
    let look = Look::plain(&headers);
    let s = match uploader(&state, &headers, &look).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let parts = match form_parts(&state, &look, &s, req).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    if let Some(resp) = upload_refusal(&look, &s, &parts) {
        return resp;
    }
    let images: Vec<Vec<u8>> = parts
        .into_iter()
        .filter(|(n, b)| n == "images" && !b.is_empty())
        .map(|(_, b)| b)
        .collect();
    let n = u32::try_from(images.len()).unwrap_or(u32::MAX);
    if n > 0
        && let Err(p) = state.limits.admit_uploads(&s.who.user, n)
    {
        return refused(&state, &look, &s, &p).await;
    }
    match state.desk.start_batch(&s.who, images).await {
        Ok(id) => Redirect::to(&format!("/clerk/batches/{id}")).into_response(),
        Err(e) => {
            let Denied(p) = desk_problem(&state, e);
            refused(&state, &look, &s, &p).await
        }
    }
}

#[derive(Template)]
#[template(path = "clerk_batch.html")]
struct BatchPage {
    chrome: Chrome,
    done: usize,
    total: usize,
    jobs: Vec<JobRow>,
}

/// `GET /clerk/batches/{batch_id}`: progress, each job's outcome as it is read.
pub async fn batch_page(
    State(state): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(batch_id): Path<String>,
) -> Response {
    let look = Look::new(&headers, &uri);
    let s = match viewer(&state, &headers, &look, VERIFY_ROLES).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match state.desk.batch(&s.who, &batch_id).await {
        Ok(b) => page(
            &BatchPage {
                chrome: chrome(&look, Some(&s)),
                done: b.done,
                total: b.total,
                jobs: b.jobs.iter().map(job_row).collect(),
            },
            StatusCode::OK,
            &look,
        ),
        Err(e) => desk_error_page(&state, &look, &s, e),
    }
}

// ---- the result page ----

/// A field as the page shows it.
struct FieldRow {
    no: usize,
    name: String,
    label: String,
    value: String,
    /// Shown masked: a reveal button instead of an edit box.
    masked: bool,
    confidence: String,
    low: bool,
    edited: bool,
}

struct CheckRow {
    rule: String,
    passed: bool,
    misread: bool,
    detail: String,
}

struct FormRow {
    name: String,
    title: String,
    fields: Vec<(String, String)>,
}

/// One image with the boxes of the fields read on it, in the photo's pixels.
struct Figure {
    side: &'static str,
    caption: &'static str,
    /// The photo's size; 0 when the report says nothing of it (no boxes drawn).
    width: u32,
    height: u32,
    boxes: Vec<BoxMark>,
    /// Line width and label size, in the photo's pixels.
    stroke: String,
    font: String,
}

/// One field's box and its number.
struct BoxMark {
    no: usize,
    points: String,
    x: String,
    y: String,
}

impl Figure {
    fn new(side: &'static str, width: u32, height: u32, boxes: Vec<BoxMark>) -> Figure {
        let long = width.max(height) as f32;
        Figure {
            side,
            caption: if side == "back" {
                "第二张图像（背面）"
            } else {
                "第一张图像"
            },
            width,
            height,
            boxes,
            stroke: format!("{:.1}", (long / 300.0).max(1.0)),
            font: format!("{:.0}", (long / 30.0).max(10.0)),
        }
    }
}

#[derive(Template)]
#[template(path = "clerk_job.html")]
struct JobPage {
    chrome: Chrome,
    id: String,
    owner: String,
    when: String,
    status: &'static str,
    done: bool,
    document: &'static str,
    verdict: Option<&'static str>,
    verdict_class: String,
    /// The reading's verdict, when a correction ran the checks again.
    verdict_as_read: Option<&'static str>,
    /// Who confirmed the corrections, and when.
    confirmed_by: Option<(String, String)>,
    /// This supervisor may confirm the corrections (made by others).
    may_confirm: bool,
    /// How many corrections the page shows (the confirmation covers those).
    edit_count: usize,
    reasons: Vec<String>,
    fields: Vec<FieldRow>,
    checks: Vec<CheckRow>,
    warnings: Vec<String>,
    not_checked: Vec<String>,
    forms: Vec<FormRow>,
    figures: Vec<Figure>,
    /// The scans are shown (after "reveal all").
    scans_shown: bool,
    any_masked: bool,
    purged: bool,
    error: Option<String>,
    job_error: Option<String>,
    notice: Option<String>,
    edits: Vec<(String, String, String)>,
}

fn field_label(doc: Option<&str>, name: &str) -> String {
    let licence = doc == Some("business_license");
    match name {
        "name" if licence => "名称",
        "name" => "姓名",
        "sex" => "性别",
        "ethnicity" => "民族",
        "birth_date" => "出生日期",
        "address" if licence => "住所（经营场所）",
        "address" => "住址",
        "id_number" => "公民身份号码",
        "issuing_authority" => "签发机关",
        "valid_from" => "有效期起始日期",
        "valid_to" => "有效期截止日期",
        "credit_code" => "统一社会信用代码",
        "type" => "类型",
        "legal_representative" => "法定代表人（经营者、负责人）",
        "registered_capital" => "注册资本",
        "established_date" => "成立日期",
        "business_term" => "营业期限",
        "business_scope" => "经营范围",
        "registration_authority" => "登记机关",
        "issue_date" => "发照日期",
        other => return other.to_string(),
    }
    .to_string()
}

fn quad_of(v: &Value) -> Option<[[f32; 2]; 4]> {
    let a = v.as_array()?;
    if a.len() != 4 {
        return None;
    }
    let mut q = [[0.0f32; 2]; 4];
    for (i, p) in a.iter().enumerate() {
        let p = p.as_array()?;
        q[i] = [p.first()?.as_f64()? as f32, p.get(1)?.as_f64()? as f32];
    }
    Some(q)
}

/// The images of a report and the boxes on each, mapped from the page the OCR read into the
/// uploaded photo through the report's frames.
fn figures(report: &Value, fields: &[FieldRow], has_back: bool) -> Vec<Figure> {
    let doc = report.get("document_type").and_then(Value::as_str);
    let frames: Vec<&Value> = report
        .get("frames")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for frame in frames {
        let side = match frame.get("image").and_then(Value::as_str) {
            Some("back") if has_back => "back",
            Some("front") => "front",
            _ => continue,
        };
        let num = |k: &str| frame.get(k).and_then(Value::as_f64).unwrap_or(0.0) as f32;
        let (w, h) = (num("width"), num("height"));
        let photo = frame.get("photo").and_then(Value::as_array);
        let dim = |i: usize| {
            photo
                .and_then(|p| p.get(i))
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0)
        };
        let (pw, ph) = (dim(0), dim(1));
        let Some(corners) = frame.get("corners").and_then(quad_of) else {
            continue;
        };
        if w <= 0.0 || h <= 0.0 || pw == 0 || ph == 0 {
            continue;
        }
        let page = [[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]];
        let Some(hom) = geometry::homography(&page, &corners) else {
            continue;
        };
        let frame_doc = frame.get("document_type").and_then(Value::as_str);
        let mut boxes = Vec::new();
        for f in fields {
            // A card's back fields sit on the back's image; all others on the document's own.
            let on_back = crate::verify::card::BACK_FIELDS.contains(&f.name.as_str())
                && doc == Some("id_card_front");
            let wanted = if on_back { Some("id_card_back") } else { doc };
            if frame_doc != wanted {
                continue;
            }
            let Some(q) = report
                .get("fields")
                .and_then(|fs| fs.get(&f.name))
                .and_then(|x| x.get("box"))
                .and_then(quad_of)
            else {
                continue;
            };
            if q.iter().all(|p| p[0] == 0.0 && p[1] == 0.0) {
                continue;
            }
            let pts: Vec<[f32; 2]> = q.iter().map(|p| geometry::apply(&hom, *p)).collect();
            let points = pts
                .iter()
                .map(|p| format!("{:.1},{:.1}", p[0], p[1]))
                .collect::<Vec<_>>()
                .join(" ");
            let font = pw.max(ph) as f32 / 30.0;
            boxes.push(BoxMark {
                no: f.no,
                points,
                x: format!("{:.1}", pts[0][0]),
                y: format!("{:.1}", (pts[0][1] - 4.0).max(font)),
            });
        }
        out.push(Figure::new(side, pw, ph, boxes));
    }
    out
}

/// What the page reveals: nothing, one field, or everything (values, pre-fill and scans).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shown<'a> {
    Masked,
    Field(&'a str),
    All,
}

fn field_rows(report: &Value, full: Option<&Value>, shown: Shown<'_>) -> Vec<FieldRow> {
    let doc = report.get("document_type").and_then(Value::as_str);
    let Some(fields) = report.get("fields").and_then(Value::as_object) else {
        return Vec::new();
    };
    let threshold = f64::from(crate::verify::verdict::MIN_CONFIDENCE);
    // In the order the document prints them; fields no document names last.
    let order: Vec<&str> = crate::verify::card::FRONT_FIELDS
        .iter()
        .chain(&crate::verify::card::BACK_FIELDS)
        .chain(&crate::verify::licence::LICENCE_FIELDS)
        .copied()
        .collect();
    let mut fields: Vec<(&String, &Value)> = fields.iter().collect();
    fields.sort_by_key(|(name, _)| order.iter().position(|o| o == name).unwrap_or(order.len()));
    fields
        .into_iter()
        .enumerate()
        .map(|(i, (name, f))| {
            let masked_value = f
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let full_value = full
                .and_then(|r| {
                    r.pointer(&format!(
                        "/fields/{}/value",
                        name.replace('~', "~0").replace('/', "~1")
                    ))
                })
                .and_then(Value::as_str);
            let reveal = match shown {
                Shown::All => true,
                Shown::Field(n) => n == name,
                Shown::Masked => false,
            };
            // Only a revealed field comes from the full report; the others from the masked
            // one (a one-field reveal brings no other value in full).
            let (value, masked) = match full_value {
                Some(v) if reveal => (v.to_string(), false),
                _ => (masked_value.clone(), masked_value.contains('*')),
            };
            let confidence = f.get("confidence").and_then(Value::as_f64).unwrap_or(0.0);
            FieldRow {
                no: i + 1,
                name: name.clone(),
                label: field_label(doc, name),
                value,
                masked,
                confidence: format!("{:.0}%", confidence * 100.0),
                low: confidence < threshold,
                edited: f.get("edited").and_then(Value::as_bool).unwrap_or(false),
            }
        })
        .collect()
}

fn check_rows(report: &Value) -> Vec<CheckRow> {
    report
        .get("checks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| CheckRow {
            rule: c
                .get("rule")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            passed: c.get("passed").and_then(Value::as_bool).unwrap_or(false),
            misread: c
                .get("misread_possible")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            detail: c
                .get("detail")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        })
        .collect()
}

fn strings(report: &Value, key: &str) -> Vec<String> {
    report
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn form_rows(
    state: &AppState,
    report: &Value,
    full: Option<&Value>,
    shown: Shown<'_>,
) -> Vec<FormRow> {
    let titles: std::collections::BTreeMap<String, String> =
        crate::verify::Forms::load(&state.desk.config.forms_dir)
            .map(|fs| fs.forms.into_iter().map(|f| (f.name, f.title)).collect())
            .unwrap_or_default();
    let source = match (full, shown) {
        (Some(f), Shown::All) => f,
        _ => report,
    };
    source
        .get("prefill")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(name, fields)| {
            let fields = fields
                .as_object()?
                .iter()
                .map(|(k, v)| {
                    let v = v.as_str().unwrap_or_default();
                    // Values from the full report are masked again unless all are shown.
                    let v = if shown == Shown::All {
                        v.to_string()
                    } else {
                        mask::mask_field(k, v)
                    };
                    (k.clone(), v)
                })
                .collect();
            Some(FormRow {
                name: name.clone(),
                title: titles.get(name).cloned().unwrap_or_else(|| name.clone()),
                fields,
            })
        })
        .collect()
}

struct JobExtras<'a> {
    full: Option<&'a Value>,
    shown: Shown<'a>,
    error: Option<String>,
    notice: Option<String>,
}

async fn job_view_page(
    state: &AppState,
    look: &Look,
    s: &Staff,
    view: &JobView,
    status: StatusCode,
    x: JobExtras<'_>,
) -> Response {
    let empty = Value::Object(Default::default());
    let report = view.report.as_ref().unwrap_or(&empty);
    let fields = field_rows(report, x.full, x.shown);
    let warnings_all = report
        .get("warnings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let detail = |w: &Value| {
        w.get("detail")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let is_note = |w: &Value| w.get("code").and_then(Value::as_str) == Some("not_checked");
    let edits = match state.desk.edits(&s.who, &view.job_id).await {
        Ok(e) => e,
        Err(e) => {
            let Denied(p) = desk_problem(state, e);
            return problem_page(look, Some(s), &p);
        }
    };
    let confirmed_by = report.get("confirmed").map(|c| {
        (
            c.get("by")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            when(c.get("at").and_then(Value::as_i64).unwrap_or_default()),
        )
    });
    let may_confirm = s.who.role == Role::Supervisor
        && !edits.is_empty()
        && confirmed_by.is_none()
        && !edits.iter().any(|e| e.actor == s.who.user)
        && view.verdict.as_deref() != Some("fail");
    let edit_count = edits.len();
    let doc = report.get("document_type").and_then(Value::as_str);
    let edits = edits
        .iter()
        .map(|e: &FieldEdit| (when(e.at), e.actor.clone(), field_label(doc, &e.field)))
        .collect();
    let scans_shown = x.shown == Shown::All && !view.purged;
    let mut figs = figures(report, &fields, view.has_back);
    if figs.is_empty() && !view.purged && view.status == crate::store::jobs::JobStatus::Done {
        // No frames (a reader that gives none): the images without boxes.
        figs.push(Figure::new("front", 0, 0, Vec::new()));
        if view.has_back {
            figs.push(Figure::new("back", 0, 0, Vec::new()));
        }
    }
    page(
        &JobPage {
            chrome: chrome(look, Some(s)),
            id: view.job_id.clone(),
            owner: view.owner.clone(),
            when: when(view.created_at),
            status: status_label(view),
            done: view.status == crate::store::jobs::JobStatus::Done,
            document: document_label(view.document_type.as_deref()),
            verdict: view.verdict.as_deref().map(verdict_label),
            verdict_class: view.verdict.clone().unwrap_or_default(),
            verdict_as_read: report
                .get("verdict_as_read")
                .and_then(Value::as_str)
                .map(verdict_label),
            confirmed_by,
            may_confirm,
            edit_count,
            reasons: strings(report, "reasons"),
            any_masked: fields.iter().any(|f| f.masked) || !scans_shown,
            checks: check_rows(report),
            warnings: warnings_all
                .iter()
                .filter(|w| !is_note(w))
                .map(detail)
                .collect(),
            not_checked: warnings_all
                .iter()
                .filter(|w| is_note(w))
                .map(detail)
                .collect(),
            forms: form_rows(state, report, x.full, x.shown),
            figures: figs,
            scans_shown,
            fields,
            purged: view.purged,
            error: x.error,
            job_error: view.error.clone(),
            notice: x.notice,
            edits,
        },
        status,
        look,
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct JobQuery {
    saved: Option<String>,
    confirmed: Option<String>,
}

/// `GET /clerk/jobs/{job_id}`: the result, masked.
pub async fn job_page(
    State(state): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(job_id): Path<String>,
    q: Result<Query<JobQuery>, QueryRejection>,
) -> Response {
    let look = Look::new(&headers, &uri);
    let s = match viewer(&state, &headers, &look, VERIFY_ROLES).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let (saved, confirmed) = q
        .ok()
        .map_or((None, None), |Query(q)| (q.saved, q.confirmed));
    match state.desk.job(&s.who, &job_id, false).await {
        Ok(view) => {
            let doc = view.document_type.clone();
            let notice = saved
                .map(|f| {
                    format!(
                        "已保存对“{}”的修改（修改已记录）。",
                        field_label(doc.as_deref(), &f)
                    )
                })
                .or(confirmed.map(|_| "已确认人工更正；此次确认已记入访问日志。".to_string()));
            let x = JobExtras {
                full: None,
                shown: Shown::Masked,
                error: None,
                notice,
            };
            job_view_page(&state, &look, &s, &view, StatusCode::OK, x).await
        }
        Err(e) => desk_error_page(&state, &look, &s, e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RevealForm {
    csrf: String,
    /// One field's name; empty for everything (values, pre-fill records and scans).
    field: String,
}

/// `POST /clerk/jobs/{job_id}/reveal`: the page with one field or everything shown in full
/// (logged as `reveal_field`, with the field's name when one is revealed). Answered directly,
/// not redirected: the values are shown to this request only.
pub async fn reveal(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
    form: Result<Form<RevealForm>, FormRejection>,
) -> Response {
    let look = Look {
        path: format!("/clerk/jobs/{job_id}"),
        ..Look::plain(&headers)
    };
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let s = match actor(&state, &headers, &look, &form.csrf, VERIFY_ROLES).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let masked = match state.desk.job(&s.who, &job_id, false).await {
        Ok(v) => v,
        Err(e) => {
            return desk_error_page(&state, &look, &s, e);
        }
    };
    let (what, shown) = if form.field.is_empty() {
        (Reveal::All, Shown::All)
    } else {
        (Reveal::Field(&form.field), Shown::Field(&form.field))
    };
    let full = match state.desk.reveal(&s.who, &job_id, what).await {
        Ok(v) => v,
        Err(e) => {
            return desk_error_page(&state, &look, &s, e);
        }
    };
    let notice = Some(if form.field.is_empty() {
        "已显示全部信息和扫描件；此次查看已记入访问日志。".to_string()
    } else {
        format!(
            "已显示“{}”；此次查看已记入访问日志。",
            field_label(masked.document_type.as_deref(), &form.field)
        )
    });
    let x = JobExtras {
        full: full.report.as_ref().filter(|_| !full.masked),
        shown,
        error: None,
        notice,
    };
    job_view_page(&state, &look, &s, &masked, StatusCode::OK, x).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EditForm {
    csrf: String,
    field: String,
    value: String,
}

/// `POST /clerk/jobs/{job_id}/fields`: corrects one field, then back to the page.
pub async fn edit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
    form: Result<Form<EditForm>, FormRejection>,
) -> Response {
    let look = Look {
        path: format!("/clerk/jobs/{job_id}"),
        ..Look::plain(&headers)
    };
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let s = match actor(&state, &headers, &look, &form.csrf, VERIFY_ROLES).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match state
        .desk
        .edit_field(&s.who, &job_id, &form.field, &form.value)
        .await
    {
        Ok(()) => {
            let f = url_component(&form.field);
            Redirect::to(&format!("/clerk/jobs/{job_id}?saved={f}#f-{f}")).into_response()
        }
        Err(
            e @ (DeskError::BadValue(_)
            | DeskError::BadDate(..)
            | DeskError::UnknownField
            | DeskError::NoReport),
        ) => {
            let Denied(p) = desk_problem(&state, e);
            match state.desk.job(&s.who, &job_id, false).await {
                Ok(view) => {
                    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
                    let x = JobExtras {
                        full: None,
                        shown: Shown::Masked,
                        error: Some(p.detail),
                        notice: None,
                    };
                    job_view_page(&state, &look, &s, &view, status, x).await
                }
                Err(_) => problem_page(&look, Some(&s), &p),
            }
        }
        Err(e) => desk_error_page(&state, &look, &s, e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ConfirmForm {
    csrf: String,
    /// How many corrections the page showed.
    edits: usize,
}

/// `POST /clerk/jobs/{job_id}/confirm`: a supervisor who made none of the corrections
/// confirms those the page showed after comparing with the original (four eyes), then back
/// to the page.
pub async fn confirm(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
    form: Result<Form<ConfirmForm>, FormRejection>,
) -> Response {
    let look = Look {
        path: format!("/clerk/jobs/{job_id}"),
        ..Look::plain(&headers)
    };
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let s = match actor(&state, &headers, &look, &form.csrf, SUPERVISORS).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match state.desk.confirm(&s.who, &job_id, form.edits).await {
        Ok(_) => Redirect::to(&format!("/clerk/jobs/{job_id}?confirmed=1")).into_response(),
        Err(e) => desk_error_page(&state, &look, &s, e),
    }
}

fn url_component(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ScanQuery {
    side: Option<String>,
}

/// `GET /clerk/jobs/{job_id}/scan?side=front|back`: the image (logged as `view_scan`).
pub async fn scan(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
    q: Result<Query<ScanQuery>, QueryRejection>,
) -> Response {
    let look = Look::plain(&headers);
    let s = match viewer(&state, &headers, &look, VERIFY_ROLES).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let side = q.ok().and_then(|Query(q)| q.side);
    match scan_response(&state, &s.who, &job_id, side.as_deref()).await {
        Ok(resp) => resp,
        Err(Denied(p)) => problem_page(&look, Some(&s), &p),
    }
}

/// `GET /clerk/jobs/{job_id}/prefill?form=NAME&format=json|csv`: the download (logged as
/// `export`), as the API's.
pub async fn prefill(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
    q: Result<Query<PrefillQuery>, QueryRejection>,
) -> Response {
    let look = Look::plain(&headers);
    let s = match viewer(&state, &headers, &look, VERIFY_ROLES).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let q = q.ok().map(|Query(q)| q).unwrap_or(PrefillQuery {
        form: None,
        format: None,
    });
    match export(&state, &s.who, &job_id, &q).await {
        Ok(resp) => resp,
        Err(Denied(p)) => problem_page(&look, Some(&s), &p),
    }
}

// ---- the access log ----

struct LogRow {
    when: String,
    actor: String,
    role: String,
    job_id: String,
    action: &'static str,
    /// Which field was revealed or corrected (its name as the page labels it).
    field: String,
}

#[derive(Template)]
#[template(path = "clerk_log.html")]
struct LogPage {
    chrome: Chrome,
    job_id: String,
    actor: String,
    rows: Vec<LogRow>,
}

fn action_label(a: &str) -> &'static str {
    match a {
        "view_scan" => "查看扫描件",
        "reveal_field" => "显示个人信息",
        "create" => "上传核验",
        "export" => "导出预填记录",
        "edit_field" => "修改字段",
        "confirm_edits" => "确认人工更正",
        _ => "其他",
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LogQuery {
    job_id: String,
    actor: String,
}

/// `GET /clerk/access-log`: who viewed which scan, revealed, uploaded, exported or corrected
/// what; for supervisors and auditors.
pub async fn access_log_page(
    State(state): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Response {
    let look = Look::new(&headers, &uri);
    let s = match viewer(&state, &headers, &look, ACCESS_LOG_ROLES).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let q = q.ok().map(|Query(q)| q).unwrap_or_default();
    let query = AccessLogQuery {
        job_id: Some(q.job_id.trim().to_string()),
        actor: Some(q.actor.trim().to_string()),
        since: None,
        limit: Some(200),
    };
    match read_access_log(&state, query).await {
        Ok(entries) => page(
            &LogPage {
                chrome: chrome(&look, Some(&s)),
                job_id: q.job_id,
                actor: q.actor,
                rows: entries
                    .into_iter()
                    .map(|e| LogRow {
                        when: when(e.at),
                        field: match (e.action.as_str(), e.field.as_deref()) {
                            (_, Some(f)) => crate::verify::verdict::field_label(f).to_string(),
                            ("reveal_field", None) => "全部字段".to_string(),
                            _ => String::new(),
                        },
                        action: action_label(&e.action),
                        actor: e.actor,
                        role: e.role.parse().map_or("", role_label).to_string(),
                        job_id: e.job_id,
                    })
                    .collect(),
            },
            StatusCode::OK,
            &look,
        ),
        Err(Denied(p)) => problem_page(&look, Some(&s), &p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let a = csrf_token("session-a");
        assert_eq!(a, csrf_token("session-a"));
        assert_ne!(a, csrf_token("session-b"));
        assert_ne!(a, crate::account::token_hash("session-a"));
        assert!(same(&a, &csrf_token("session-a")));
        assert!(!same(&a, ""));
        assert!(!same(&a, &a[1..]));
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("xiaoban_session_x=1; xiaoban_session=abc; other=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, LOGIN_COOKIE), None);
    }

    #[test]
    fn session_cookies_are_http_only_strict_and_secure_behind_tls() {
        let c = session_cookie("t", 60, false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"));
        assert!(session_cookie("t", 60, true).ends_with("; Secure"));
    }
}
