//! The clerk page (`/clerk`): sign-in, upload (a plain multipart form; drag and drop when
//! JavaScript runs), the result beside the scan with each field's box, masked personal
//! fields revealed one at a time or all at once, corrections, pre-fill downloads, batches,
//! and the access log for supervisors and auditors. Works without JavaScript.
//!
//! One file per page: [`sign_in`] (the sign-in form, the desk, sign-out), [`upload`] (one
//! document, batches), [`result`] (a job: reveal, correct, confirm, scan, pre-fill),
//! [`access_log`]. Sessions and CSRF are `web::session` (shared with the agent console):
//! every handler takes [`SignedIn`], which checks the session, the role [`RULES`] gives its
//! route and the form's CSRF token — for an upload, before its images are read.
//!
//! **Who may do what** is [`RULES`] (plus [`PUBLIC`]); every route is registered through
//! [`ruled`], so a route without a rule panics at start-up, and the route × role test in
//! `tests/clerk_page.rs` checks each rule against each role.

mod access_log;
mod result;
mod result_view;
mod sign_in;
mod upload;

use super::AppState;
use super::auth_api::Denied;
use super::desk::desk_problem;
use super::pages::{CSS, ELDER_COOKIE, elder_from_cookie, render};
use super::problem::Problem;
use super::session::{self, Console, Refusal, Staff};
use crate::account::Role;
use crate::desk::{ACCESS_LOG_ROLES, DeskError, JobView, MAX_BATCH, SUPERVISORS, VERIFY_ROLES};
use crate::verify::{DocumentType, Verdict};
use askama::Template;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use std::sync::Arc;

const CLERK_CSS: &str = include_str!("../../../templates/clerk.css");
const CLERK_JS: &str = include_str!("../../../templates/clerk.js");
pub const SESSION_COOKIE: &str = "xiaoban_session";
pub const LOGIN_COOKIE: &str = "xiaoban_login";
const ALL_ROLES: &[Role] = &Role::ALL;

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
        .route(ruled("/clerk"), get(sign_in::home))
        .route(ruled("/clerk/login"), post(super::sign_in::login::<Clerk>))
        .route(
            ruled("/clerk/logout"),
            post(super::sign_in::logout::<Clerk>),
        )
        .route(ruled("/clerk/batches/{batch_id}"), get(upload::batch_page))
        .route(ruled("/clerk/jobs/{job_id}"), get(result::job_page))
        .route(ruled("/clerk/jobs/{job_id}/reveal"), post(result::reveal))
        .route(ruled("/clerk/jobs/{job_id}/fields"), post(result::edit))
        .route(ruled("/clerk/jobs/{job_id}/confirm"), post(result::confirm))
        .route(ruled("/clerk/jobs/{job_id}/scan"), get(result::scan))
        .route(ruled("/clerk/jobs/{job_id}/prefill"), get(result::prefill))
        .route(ruled("/clerk/access-log"), get(access_log::page))
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
            post(upload::upload).layer(DefaultBodyLimit::max(single)),
        )
        .route(
            ruled("/clerk/batch"),
            post(upload::start_batch).layer(DefaultBodyLimit::max(batch)),
        )
}

/// The clerk page as a console: its cookie, its rules, its refusal pages.
pub struct Clerk;

/// A request to the clerk page by a signed-in member of staff the rules allow.
pub type SignedIn<B = ()> = session::SignedIn<Clerk, B>;

impl Console for Clerk {
    const HOME: &'static str = "/clerk";
    const SESSION_COOKIE: &'static str = SESSION_COOKIE;
    const LOGIN_COOKIE: &'static str = LOGIN_COOKIE;
    const NAME: &'static str = "核验台";
    const RULES: &'static [(&'static str, &'static str, &'static [Role])] = RULES;

    fn message(
        headers: &HeaderMap,
        staff: Option<&Staff>,
        status: StatusCode,
        title: &str,
        text: &str,
    ) -> Response {
        message(&Look::plain(headers), staff, status, title, text)
    }

    fn login_page(
        headers: &HeaderMap,
        uri: Option<&axum::http::Uri>,
        status: StatusCode,
        csrf: &str,
        username: &str,
        error: Option<String>,
    ) -> Response {
        let look = match uri {
            Some(uri) => Look::new(headers, uri),
            None => Look::plain(headers),
        };
        sign_in::login_page(&look, status, csrf, username, error)
    }

    fn refused(headers: &HeaderMap, path: &str, staff: Option<&Staff>, why: Refusal) -> Response {
        let look = Look {
            path: path.to_string(),
            ..Look::plain(headers)
        };
        match why {
            Refusal::SignedOut => signed_out(&look),
            Refusal::Csrf => csrf_refused(&look, staff),
            Refusal::Problem(p) => problem_page(&look, staff, &p),
            Refusal::Internal => message(
                &look,
                staff,
                StatusCode::INTERNAL_SERVER_ERROR,
                "出错了",
                "服务内部出错，请稍后重试。",
            ),
        }
    }
}

/// Display settings of a page: elder mode (by cookie, switched with `?elder=1|0`).
pub(super) struct Look {
    pub(super) elder: bool,
    pub(super) set_cookie: Option<String>,
    /// The page's own path, for the elder-mode switch.
    pub(super) path: String,
}

impl Look {
    pub(super) fn new(headers: &HeaderMap, uri: &axum::http::Uri) -> Look {
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

    pub(super) fn plain(headers: &HeaderMap) -> Look {
        Look {
            elder: elder_from_cookie(headers),
            set_cookie: None,
            path: "/clerk".into(),
        }
    }
}

/// What every page shows around its content.
pub(super) struct Chrome {
    css: &'static str,
    clerk_css: &'static str,
    js: &'static str,
    elder: bool,
    elder_href: String,
    user: Option<String>,
    role_label: &'static str,
    csrf: String,
}

pub(super) fn role_label(r: Role) -> &'static str {
    match r {
        Role::Clerk => "窗口人员",
        Role::Supervisor => "主管",
        Role::Admin => "系统管理员",
        Role::Auditor => "审计员",
        Role::Agent => "人工客服",
    }
}

pub(super) fn chrome(look: &Look, staff: Option<&Staff>) -> Chrome {
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
pub(super) fn page(t: &impl Template, status: StatusCode, look: &Look) -> Response {
    let mut resp = render(t);
    if resp.status() == StatusCode::OK {
        *resp.status_mut() = status;
    }
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The security headers (CSP, no referrer, no framing) are `web::security_headers`'.
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

pub(super) fn message(
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
pub(super) fn desk_error_page(
    state: &AppState,
    look: &Look,
    staff: &Staff,
    e: DeskError,
) -> Response {
    let Denied(p) = desk_problem(state, e);
    problem_page(look, Some(staff), &p)
}

pub(super) fn problem_page(look: &Look, staff: Option<&Staff>, p: &Problem) -> Response {
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

pub(super) fn csrf_refused(look: &Look, staff: Option<&Staff>) -> Response {
    message(
        look,
        staff,
        StatusCode::FORBIDDEN,
        "表单校验失败",
        "表单已过期或不是从本系统页面提交的（CSRF 校验未通过），操作没有执行。请返回核验台刷新页面后重试。",
    )
}

pub(super) fn signed_out(look: &Look) -> Response {
    message(
        look,
        None,
        StatusCode::UNAUTHORIZED,
        "请先登录",
        "登录已失效或尚未登录，操作没有执行。请返回核验台重新登录。",
    )
}

pub(super) fn when(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

pub(super) fn verdict_label(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "通过",
        Verdict::Review => "需人工复核",
        Verdict::Fail => "不通过",
    }
}

pub(super) fn document_label(t: Option<DocumentType>) -> &'static str {
    t.map_or("（尚无结果）", DocumentType::label)
}

pub(super) fn status_label(v: &JobView) -> &'static str {
    match v.status {
        crate::store::jobs::JobStatus::Pending => "排队识别中",
        crate::store::jobs::JobStatus::Done => "已完成",
        crate::store::jobs::JobStatus::Failed => "识别失败",
    }
}
