//! The agent console (`/agent`): sign-in, duty (on duty / away), the waiting queue with wait
//! times, claim, a conversation with the assistant's citations (personal numbers masked),
//! reply with an optional link to a knowledge-base document, transfer, close with a
//! resolution, and the callback tickets. Server-rendered, usable without JavaScript; it
//! calls what the API's handlers call (`handoff::Handoffs`), so every view and action lands in
//! the access log.
//!
//! Sessions and CSRF work as on the clerk page (`web::clerk`): the API's kind of token in an
//! HttpOnly, SameSite=Strict cookie on `Path=/agent`, every form carries a CSRF token (the
//! session token hashed under a tag; a random double-submit value for the sign-in form).
//! **Who may do what** is [`RULES`] (plus [`PUBLIC`]); every route goes through [`ruled`].

use super::AppState;
use super::auth_api::Denied;
use super::handoff_api::handoff_problem;
use super::pages::{CSS, ELDER_COOKIE, elder_from_cookie, render};
use super::session::{self, Console, CsrfOnly, Refusal, Staff, csrf_token, over_tls};
use super::sign_in;
use crate::account::Role;
use crate::handoff::{AGENT_ROLES, CallbackStatus, HandoffError, HandoffState, Resolution, Sender};
use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

mod callbacks;
mod conversation;
mod live;
pub use callbacks::*;
pub use conversation::*;
pub use live::*;

const CLERK_CSS: &str = include_str!("../../../templates/clerk.css");
/// The console's one script (live updates); allowed by its hash in `web::security_headers`.
pub const AGENT_JS: &str = include_str!("../../../templates/agent.js");
pub const SESSION_COOKIE: &str = "xiaoban_agent";
pub const LOGIN_COOKIE: &str = "xiaoban_agent_login";
const ALL_ROLES: &[Role] = &Role::ALL;

/// Routes anyone may call (signed out, `GET /agent` is the sign-in form).
pub const PUBLIC: &[(&str, &str)] = &[("GET", "/agent"), ("POST", "/agent/login")];

/// Every other route of the console with the roles allowed on it.
pub const RULES: &[(&str, &str, &[Role])] = &[
    ("POST", "/agent/logout", ALL_ROLES),
    ("POST", "/agent/duty", AGENT_ROLES),
    ("GET", "/agent/events", AGENT_ROLES),
    ("GET", "/agent/handoffs/{handoff_id}", AGENT_ROLES),
    ("POST", "/agent/handoffs/{handoff_id}/claim", AGENT_ROLES),
    ("POST", "/agent/handoffs/{handoff_id}/messages", AGENT_ROLES),
    ("POST", "/agent/handoffs/{handoff_id}/transfer", AGENT_ROLES),
    ("POST", "/agent/handoffs/{handoff_id}/close", AGENT_ROLES),
    ("GET", "/agent/callbacks", AGENT_ROLES),
    ("POST", "/agent/callbacks/{callback_id}/status", AGENT_ROLES),
    ("POST", "/agent/callbacks/{callback_id}/reveal", AGENT_ROLES),
];

/// `path`, after checking that it has a rule: a route without one stops the server.
pub fn ruled(path: &'static str) -> &'static str {
    assert!(
        RULES.iter().any(|(_, p, _)| *p == path) || PUBLIC.iter().any(|(_, p)| *p == path),
        "{path} has no access rule in web::agent::RULES"
    );
    path
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(ruled("/agent"), get(home))
        .route(ruled("/agent/login"), post(sign_in::login::<Agent>))
        .route(ruled("/agent/logout"), post(sign_in::logout::<Agent>))
        .route(ruled("/agent/duty"), post(duty))
        .route(ruled("/agent/events"), get(events))
        .route(ruled("/agent/handoffs/{handoff_id}"), get(conversation))
        .route(ruled("/agent/handoffs/{handoff_id}/claim"), post(claim))
        .route(ruled("/agent/handoffs/{handoff_id}/messages"), post(say))
        .route(
            ruled("/agent/handoffs/{handoff_id}/transfer"),
            post(transfer),
        )
        .route(ruled("/agent/handoffs/{handoff_id}/close"), post(close))
        .route(ruled("/agent/callbacks"), get(callbacks))
        .route(
            ruled("/agent/callbacks/{callback_id}/status"),
            post(callback_status),
        )
        .route(ruled("/agent/callbacks/{callback_id}/reveal"), post(reveal))
}

/// What every page shows around its content.
struct Chrome {
    css: &'static str,
    clerk_css: &'static str,
    elder: bool,
    elder_href: String,
    user: Option<String>,
    role_label: &'static str,
    csrf: String,
    js: &'static str,
    /// For a page that updates itself with JavaScript: the stream that says when it changed.
    live: Option<String>,
}

fn chrome(headers: &HeaderMap, path: &str, staff: Option<&Staff>) -> Chrome {
    let elder = elder_from_cookie(headers);
    Chrome {
        css: CSS,
        clerk_css: CLERK_CSS,
        elder,
        elder_href: format!("{path}?elder={}", if elder { 0 } else { 1 }),
        user: staff.map(|s| s.who.user.clone()),
        role_label: staff.map_or("", |s| match s.who.role {
            Role::Supervisor => "主管",
            Role::Agent => "人工客服",
            _ => "无人工客服权限",
        }),
        csrf: staff.map(|s| csrf_token(&s.token)).unwrap_or_default(),
        js: AGENT_JS,
        live: None,
    }
}

/// A rendered page, never cached (it shows conversations), never framed.
fn page(t: &impl Template, status: StatusCode) -> Response {
    let mut resp = render(t);
    if resp.status() == StatusCode::OK {
        *resp.status_mut() = status;
    }
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The security headers (CSP, no referrer, no framing) are `web::security_headers`'.
    resp
}

#[derive(Template)]
#[template(path = "agent_message.html")]
struct MessagePage {
    chrome: Chrome,
    title: String,
    message: String,
}

fn refused(headers: &HeaderMap, staff: &Staff, e: HandoffError, state: &AppState) -> Response {
    let Denied(p) = handoff_problem(state, e);
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
    let title = match status {
        StatusCode::FORBIDDEN => "无权操作",
        StatusCode::NOT_FOUND => "没有找到",
        StatusCode::CONFLICT => "无法操作",
        s if s.is_server_error() => "出错了",
        _ => "无法完成",
    };
    Agent::message(headers, Some(staff), status, title, &p.detail)
}

fn internal(headers: &HeaderMap, staff: Option<&Staff>, e: anyhow::Error) -> Response {
    tracing::error!(error = %e, "agent console failed");
    Agent::message(
        headers,
        staff,
        StatusCode::INTERNAL_SERVER_ERROR,
        "出错了",
        "服务内部出错，请稍后重试。",
    )
}

/// The agent console as a console: its cookie, its rules, its refusal pages.
pub struct Agent;

/// A request to the console by a signed-in member of staff the rules allow.
type SignedIn<B = ()> = session::SignedIn<Agent, B>;

impl Console for Agent {
    const HOME: &'static str = "/agent";
    const SESSION_COOKIE: &'static str = SESSION_COOKIE;
    const LOGIN_COOKIE: &'static str = LOGIN_COOKIE;
    const NAME: &'static str = "人工客服台";
    const RULES: &'static [(&'static str, &'static str, &'static [Role])] = RULES;

    fn message(
        headers: &HeaderMap,
        staff: Option<&Staff>,
        status: StatusCode,
        title: &str,
        text: &str,
    ) -> Response {
        page(
            &MessagePage {
                chrome: chrome(headers, "/agent", staff),
                title: title.into(),
                message: text.into(),
            },
            status,
        )
    }

    fn login_page(
        headers: &HeaderMap,
        _uri: Option<&axum::http::Uri>,
        status: StatusCode,
        csrf: &str,
        username: &str,
        error: Option<String>,
    ) -> Response {
        page(
            &LoginPage {
                chrome: chrome(headers, "/agent", None),
                csrf: csrf.into(),
                username: username.into(),
                error,
            },
            status,
        )
    }

    fn refused(headers: &HeaderMap, _path: &str, staff: Option<&Staff>, why: Refusal) -> Response {
        match why {
            Refusal::SignedOut => Agent::message(
                headers,
                None,
                StatusCode::UNAUTHORIZED,
                "请先登录",
                "登录已失效或尚未登录，操作没有执行。请返回人工客服台重新登录。",
            ),
            Refusal::Csrf => Agent::message(
                headers,
                staff,
                StatusCode::FORBIDDEN,
                "表单校验失败",
                "表单已过期或不是从本系统页面提交的（CSRF 校验未通过），操作没有执行。请返回人工客服台刷新页面后重试。",
            ),
            Refusal::Problem(p) => Agent::message(
                headers,
                staff,
                StatusCode::from_u16(p.status).unwrap_or(StatusCode::FORBIDDEN),
                "无权操作",
                &p.detail,
            ),
            Refusal::Internal => internal(headers, staff, anyhow::anyhow!("session lookup")),
        }
    }
}

// ---- sign-in ----

#[derive(Template)]
#[template(path = "agent_login.html")]
struct LoginPage {
    chrome: Chrome,
    csrf: String,
    username: String,
    error: Option<String>,
}

// ---- the queue ----

struct Row {
    id: String,
    position: i64,
    waited: String,
    reason: &'static str,
    last_line: String,
    agent: String,
}

#[derive(Template)]
#[template(path = "agent_home.html")]
struct HomePage {
    chrome: Chrome,
    away: bool,
    hours: String,
    open_now: bool,
    on_duty: usize,
    waiting: Vec<Row>,
    active: Vec<Row>,
    supervisor: bool,
}

fn waited(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s} 秒"),
        s if s < 3600 => format!("{} 分 {} 秒", s / 60, s % 60),
        s => format!("{} 小时 {} 分", s / 3600, s % 3600 / 60),
    }
}

fn reason_label(r: &str) -> &'static str {
    match r {
        "human" => "要求人工",
        "case_status" => "查询本人办件",
        "unclear" => "两次追问仍没弄清",
        _ => "其他",
    }
}

fn row(h: crate::handoff::HandoffSummary) -> Row {
    Row {
        position: h.position.unwrap_or(0),
        waited: waited(h.waited_s),
        reason: reason_label(&h.reason),
        last_line: h.last_line,
        agent: h.agent.unwrap_or_default(),
        id: h.id,
    }
}

/// `GET /agent`: the sign-in form, or the queue.
pub async fn home(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let elder_switch = uri.query().and_then(|q| {
        q.split('&').find_map(|kv| match kv {
            "elder=1" => Some(true),
            "elder=0" => Some(false),
            _ => None,
        })
    });
    if let Some(on) = elder_switch {
        let mut resp = Redirect::to("/agent").into_response();
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{ELDER_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
            u8::from(on)
        )) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
        return resp;
    }
    let s = match session::staff::<Agent>(&state, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return sign_in::form::<Agent>(
                &headers,
                None,
                over_tls(&state, peer, &headers),
                StatusCode::OK,
                "",
                None,
            );
        }
        Err(resp) => return resp,
    };
    if !AGENT_ROLES.contains(&s.who.role) {
        let p = super::auth_api::forbidden(s.who.role);
        return Agent::message(
            &headers,
            Some(&s),
            StatusCode::FORBIDDEN,
            "无权操作",
            &p.detail,
        );
    }
    let h = &state.handoffs;
    // Taken before the lists: a change in between makes the page fetch itself again.
    let seen = match h.console_fingerprint(None).await {
        Ok(f) => f,
        Err(e) => return refused(&headers, &s, e, &state),
    };
    let waiting = match h.list(&s.who, HandoffState::Waiting).await {
        Ok(v) => v,
        Err(e) => return refused(&headers, &s, e, &state),
    };
    let active = match h.list(&s.who, HandoffState::Active).await {
        Ok(v) => v,
        Err(e) => return refused(&headers, &s, e, &state),
    };
    let supervisor = s.who.role == Role::Supervisor;
    let active = active
        .into_iter()
        .filter(|a| supervisor || a.agent.as_deref() == Some(s.who.user.as_str()))
        .map(row)
        .collect();
    let (away, on_duty) = match (h.away(&s.who).await, h.agents_on_duty().await) {
        (Ok(a), Ok(d)) => (a, d.len()),
        (Err(e), _) | (_, Err(e)) => return internal(&headers, Some(&s), e),
    };
    page(
        &HomePage {
            chrome: Chrome {
                live: Some(format!("/agent/events?since={seen}")),
                ..chrome(&headers, "/agent", Some(&s))
            },
            away,
            hours: h.hours().describe(),
            open_now: h.open_now(),
            on_duty,
            waiting: waiting.into_iter().map(row).collect(),
            active,
            supervisor,
        },
        StatusCode::OK,
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DutyForm {
    csrf: String,
    away: String,
}

pub async fn duty(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    signed: SignedIn<DutyForm>,
) -> Response {
    let (s, form) = (&signed.staff, &signed.body);
    if let Err(e) = state.handoffs.set_away(&s.who, form.away == "1").await {
        return internal(&headers, Some(s), e);
    }
    Redirect::to("/agent").into_response()
}

impl session::CsrfForm for DutyForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
