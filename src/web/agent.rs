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
use super::clerk::{cookie, csrf_token, over_tls, random_token, same};
use super::handoff_api::handoff_problem;
use super::limits::ClientAddress;
use super::pages::{CSS, ELDER_COOKIE, elder_from_cookie, render};
use crate::account::{LoginError, Principal, Role};
use crate::handoff::{AGENT_ROLES, CallbackStatus, HandoffError, HandoffState, Resolution, Sender};
use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

const CLERK_CSS: &str = include_str!("../../templates/clerk.css");
pub const SESSION_COOKIE: &str = "xiaoban_agent";
pub const LOGIN_COOKIE: &str = "xiaoban_agent_login";
const ALL_ROLES: &[Role] = &Role::ALL;

/// Routes anyone may call (signed out, `GET /agent` is the sign-in form).
pub const PUBLIC: &[(&str, &str)] = &[("GET", "/agent"), ("POST", "/agent/login")];

/// Every other route of the console with the roles allowed on it.
pub const RULES: &[(&str, &str, &[Role])] = &[
    ("POST", "/agent/logout", ALL_ROLES),
    ("POST", "/agent/duty", AGENT_ROLES),
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
        .route(ruled("/agent/login"), post(login))
        .route(ruled("/agent/logout"), post(logout))
        .route(ruled("/agent/duty"), post(duty))
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

fn session_cookie(value: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={value}; Path=/agent; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

fn login_cookie(value: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{LOGIN_COOKIE}={value}; Path=/agent; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

struct Staff {
    who: Principal,
    token: String,
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
    }
}

/// A rendered page, never cached (it shows conversations).
fn page(t: &impl Template, status: StatusCode) -> Response {
    let mut resp = render(t);
    if resp.status() == StatusCode::OK {
        *resp.status_mut() = status;
    }
    let h = resp.headers_mut();
    // The security headers (CSP, no referrer, no framing) are `web::security_headers`'.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[derive(Template)]
#[template(path = "agent_message.html")]
struct MessagePage {
    chrome: Chrome,
    title: String,
    message: String,
}

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
    message(headers, Some(staff), status, title, &p.detail)
}

fn internal(headers: &HeaderMap, staff: Option<&Staff>, e: anyhow::Error) -> Response {
    tracing::error!(error = %e, "agent console failed");
    message(
        headers,
        staff,
        StatusCode::INTERNAL_SERVER_ERROR,
        "出错了",
        "服务内部出错，请稍后重试。",
    )
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
        Err(e) => Err(internal(headers, None, e)),
    }
}

/// A signed-in agent or supervisor for a page: signed out goes to the sign-in form, another
/// role gets 403.
async fn viewer(state: &AppState, headers: &HeaderMap, roles: &[Role]) -> Result<Staff, Response> {
    let Some(s) = staff(state, headers).await? else {
        return Err(Redirect::to("/agent").into_response());
    };
    if !roles.contains(&s.who.role) {
        let p = super::auth_api::forbidden(s.who.role);
        return Err(message(
            headers,
            Some(&s),
            StatusCode::FORBIDDEN,
            "无权操作",
            &p.detail,
        ));
    }
    Ok(s)
}

/// The signed-in user with one of `roles` behind a form, its CSRF token checked first.
async fn actor(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
    roles: &[Role],
) -> Result<Staff, Response> {
    let Some(s) = staff(state, headers).await? else {
        return Err(message(
            headers,
            None,
            StatusCode::UNAUTHORIZED,
            "请先登录",
            "登录已失效或尚未登录，操作没有执行。请返回人工客服台重新登录。",
        ));
    };
    if !same(csrf, &csrf_token(&s.token)) {
        tracing::info!("agent form refused: CSRF token missing or wrong");
        return Err(message(
            headers,
            Some(&s),
            StatusCode::FORBIDDEN,
            "表单校验失败",
            "表单已过期或不是从本系统页面提交的（CSRF 校验未通过），操作没有执行。请返回人工客服台刷新页面后重试。",
        ));
    }
    if !roles.contains(&s.who.role) {
        let p = super::auth_api::forbidden(s.who.role);
        return Err(message(
            headers,
            Some(&s),
            StatusCode::FORBIDDEN,
            "无权操作",
            &p.detail,
        ));
    }
    Ok(s)
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

fn login_page(
    headers: &HeaderMap,
    secure: bool,
    status: StatusCode,
    username: &str,
    error: Option<String>,
) -> Response {
    let csrf = random_token();
    let mut resp = page(
        &LoginPage {
            chrome: chrome(headers, "/agent", None),
            csrf: csrf.clone(),
            username: username.into(),
            error,
        },
        status,
    );
    if let Ok(v) = HeaderValue::from_str(&login_cookie(&csrf, 3600, secure)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    username: String,
    password: String,
    csrf: String,
}

pub async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let secure = over_tls(&state, peer, &headers);
    let Ok(Form(form)) = form else {
        return message(
            &headers,
            None,
            StatusCode::BAD_REQUEST,
            "无法登录",
            "登录表单无法读取，请返回人工客服台重试。",
        );
    };
    if !cookie(&headers, LOGIN_COOKIE).is_some_and(|c| same(c, &form.csrf)) {
        return message(
            &headers,
            None,
            StatusCode::FORBIDDEN,
            "表单校验失败",
            "登录表单已过期或不是从本系统页面提交的（CSRF 校验未通过）。请返回人工客服台重新登录。",
        );
    }
    let name = form.username.trim();
    match state
        .accounts
        .login(name, &form.password, &address.to_string())
        .await
    {
        Ok(t) => {
            let age = (t.expires_at - chrono::Utc::now().timestamp()).max(0);
            let mut resp = Redirect::to("/agent").into_response();
            for c in [
                session_cookie(&t.secret, age, secure),
                login_cookie("", 0, secure),
            ] {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            resp
        }
        Err(LoginError::Invalid) => login_page(
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
            let mut resp = login_page(&headers, secure, status, name, Some(e.to_string()));
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            resp
        }
        Err(LoginError::Internal(e)) => internal(&headers, None, e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn logout(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    let s = match actor(&state, &headers, &csrf, ALL_ROLES).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    if let Err(e) = state.accounts.logout(&s.token).await {
        return internal(&headers, Some(&s), e);
    }
    let mut resp = Redirect::to("/agent").into_response();
    if let Ok(v) = HeaderValue::from_str(&session_cookie("", 0, over_tls(&state, peer, &headers))) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
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
    let s = match staff(&state, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return login_page(
                &headers,
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
        return message(
            &headers,
            Some(&s),
            StatusCode::FORBIDDEN,
            "无权操作",
            &p.detail,
        );
    }
    let h = &state.handoffs;
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
            chrome: chrome(&headers, "/agent", Some(&s)),
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
    form: Result<Form<DutyForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let s = match actor(&state, &headers, &form.csrf, AGENT_ROLES).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    if let Err(e) = state.handoffs.set_away(&s.who, form.away == "1").await {
        return internal(&headers, Some(&s), e);
    }
    Redirect::to("/agent").into_response()
}

// ---- a conversation ----

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
    Path(id): Path<String>,
) -> Response {
    let s = match viewer(&state, &headers, AGENT_ROLES).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let d = match state.handoffs.detail(&s.who, &id).await {
        Ok(d) => d,
        Err(e) => return refused(&headers, &s, e, &state),
    };
    let staff_names = match state.handoffs.staff().await {
        Ok(v) => v,
        Err(e) => return internal(&headers, Some(&s), e),
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
            chrome: chrome(&headers, &format!("/agent/handoffs/{id}"), Some(&s)),
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
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    let s = match actor(&state, &headers, &csrf, AGENT_ROLES).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match state.handoffs.claim(&s.who, &id).await {
        Ok(_) => Redirect::to(&format!("/agent/handoffs/{id}")).into_response(),
        Err(e) => refused(&headers, &s, e, &state),
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
    form: Result<Form<ReplyForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let s = match actor(&state, &headers, &form.csrf, AGENT_ROLES).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let mut text = form.text.trim().to_string();
    if !form.doc.is_empty() {
        let index = state.assistant.index.get();
        let Some(doc) = crate::kb::DocId::parse(&form.doc)
            .ok()
            .and_then(|d| index.document(&d).cloned())
        else {
            return message(
                &headers,
                Some(&s),
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
        Err(e) => refused(&headers, &s, e, &state),
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
    form: Result<Form<TransferForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let s = match actor(&state, &headers, &form.csrf, AGENT_ROLES).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match state.handoffs.transfer(&s.who, &id, &form.to).await {
        Ok(_) => Redirect::to("/agent").into_response(),
        Err(e) => refused(&headers, &s, e, &state),
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
    form: Result<Form<CloseForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let s = match actor(&state, &headers, &form.csrf, AGENT_ROLES).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match state.handoffs.close(&s.who, &id, &form.resolution).await {
        Ok(_) => Redirect::to("/agent").into_response(),
        Err(e) => refused(&headers, &s, e, &state),
    }
}

// ---- callbacks ----

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
    Query(q): Query<StatusQuery>,
) -> Response {
    let s = match viewer(&state, &headers, AGENT_ROLES).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let wanted = if q.status.is_empty() {
        "new"
    } else {
        q.status.as_str()
    };
    let Some(status) = CallbackStatus::parse(wanted) else {
        return refused(&headers, &s, HandoffError::BadStatus, &state);
    };
    callbacks_page(&state, &headers, &s, status, None).await
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
    form: Result<Form<CallbackStatusForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let s = match actor(&state, &headers, &form.csrf, AGENT_ROLES).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match state
        .handoffs
        .set_callback_status(&s.who, &id, &form.status)
        .await
    {
        Ok(v) => {
            Redirect::to(&format!("/agent/callbacks?status={}", v.status.as_str())).into_response()
        }
        Err(e) => refused(&headers, &s, e, &state),
    }
}

/// `POST /agent/callbacks/{id}/reveal`: the list with this ticket's full number (logged);
/// answered to the POST, so the number is in no address or history entry.
pub async fn reveal(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    let s = match actor(&state, &headers, &csrf, AGENT_ROLES).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let phone = match state.handoffs.reveal_phone(&s.who, &id).await {
        Ok(p) => p,
        Err(e) => return refused(&headers, &s, e, &state),
    };
    let status = match state.handoffs.callback_status_of(&id).await {
        Ok(Some(st)) => st,
        Ok(None) => return refused(&headers, &s, HandoffError::NoSuchCallback, &state),
        Err(e) => return internal(&headers, Some(&s), e),
    };
    callbacks_page(
        &state,
        &headers,
        &s,
        status,
        Some((id, phone.expose().to_string())),
    )
    .await
}
