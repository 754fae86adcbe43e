//! HTTP: the JSON API, the widget and document pages, the OpenAPI document. The only module
//! that knows about HTTP; everything it does goes through `Assistant`.

pub mod agent;
pub mod api;
pub mod auth_api;
pub mod clerk;
pub mod desk;
pub mod documented;
pub mod handoff_api;
pub mod limits;
pub mod pages;
pub mod problem;
pub mod request_log;
pub mod session;
pub mod sign_in;
pub mod verify_api;

use crate::assistant::Assistant;
use crate::metrics::Metrics;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use documented::CommonResponses;
use std::sync::{Arc, LazyLock};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;
use verify_api::{BatchForm, BearerAuth};

pub struct AppState {
    pub assistant: Assistant,
    pub metrics: Arc<Metrics>,
    /// Whether a language model writes answers, and if not, how to get one.
    pub generation: crate::llm::engine::Availability,
    /// Staff accounts and sign-in.
    pub accounts: crate::account::Accounts,
    /// Document verification jobs, their sealed scans and the access log.
    pub desk: Arc<crate::desk::Desk>,
    /// Abuse limits on the public chat and on uploads.
    pub limits: limits::Limits,
    /// Live handoff to agents and callback tickets.
    pub handoffs: Arc<crate::handoff::Handoffs>,
    /// Turns true when a shutdown's deadline passes: open chat streams end with an `error`
    /// event (`api::shutting_down`) rather than a silently closed connection.
    pub cut_streams: tokio::sync::watch::Receiver<bool>,
    /// `metrics.token`: what a scraper sends to read `/metrics` on the main address; `None`
    /// refuses it there.
    pub metrics_token: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    modifiers(&BearerAuth, &BatchForm, &CommonResponses),
    info(
        title = "Xiaoban 小办 API",
        description = "政务服务智能助手的问答接口。Errors are application/problem+json (RFC 9457)."
    ),
    paths(
        api::chat,
        api::chat_stream,
        api::feedback,
        api::healthz,
        api::metrics,
        auth_api::login,
        auth_api::logout,
        verify_api::verify,
        verify_api::job,
        verify_api::scan,
        verify_api::prefill,
        verify_api::corrections,
        verify_api::correct,
        verify_api::confirm,
        verify_api::start_batch,
        verify_api::batch,
        verify_api::access_log,
        handoff_api::messages,
        handoff_api::events,
        handoff_api::callback,
        handoff_api::leave,
        handoff_api::list,
        handoff_api::detail,
        handoff_api::claim,
        handoff_api::say,
        handoff_api::transfer,
        handoff_api::close,
        handoff_api::duty,
        handoff_api::set_duty,
        handoff_api::callbacks,
        handoff_api::callback_status,
        handoff_api::reveal
    ),
    components(schemas(
        api::ChatRequest,
        api::ChatResponse,
        api::FeedbackRequest,
        api::FeedbackResponse,
        api::Health,
        api::HandoffHealth,
        handoff_api::Messages,
        handoff_api::HandoffEvent,
        handoff_api::CallbackRequest,
        handoff_api::HandoffReply,
        handoff_api::HandoffList,
        handoff_api::AgentMessage,
        handoff_api::TransferRequest,
        handoff_api::CloseRequest,
        handoff_api::Duty,
        handoff_api::CallbackList,
        handoff_api::CallbackStatusRequest,
        handoff_api::RevealedPhone,
        crate::handoff::HandoffStatus,
        crate::handoff::HandoffState,
        crate::handoff::Resolution,
        crate::handoff::CallbackStatus,
        crate::handoff::Sender,
        crate::handoff::Line,
        crate::handoff::HandoffSummary,
        crate::handoff::HandoffDetail,
        crate::handoff::CallbackView,
        api::StreamDelta,
        api::StreamEvent,
        api::StreamQueue,
        crate::llm::engine::Availability,
        crate::desk::Availability,
        auth_api::LoginRequest,
        auth_api::LoginResponse,
        verify_api::VerifyJson,
        verify_api::BatchStarted,
        verify_api::AccessLog,
        verify_api::CorrectionRequest,
        verify_api::ConfirmRequest,
        verify_api::Corrections,
        crate::store::edits::FieldEdit,
        crate::desk::JobView,
        crate::desk::BatchView,
        crate::desk::review::PrefillRecord,
        crate::store::access_log::AccessEntry,
        problem::Problem
    ))
)]
pub struct ApiDoc;

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        ApiDoc::openapi().to_json().unwrap_or_default(),
    )
        .into_response()
}

async fn not_found() -> problem::Problem {
    problem::Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not found",
        "没有这个页面或接口。",
    )
}

/// The one Content-Security-Policy of every HTML page: nothing from elsewhere, styles inline,
/// and of scripts only the three the pages carry inline (the widget's, the clerk page's and
/// the agent console's), each allowed by its hash.
static CONTENT_SECURITY_POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    let hashes: Vec<String> = [
        pages::JS,
        include_str!("../../templates/clerk.js"),
        agent::AGENT_JS,
    ]
    .iter()
    .map(|js| {
        let digest = Sha256::digest(js.as_bytes());
        format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    })
    .collect();
    HeaderValue::from_str(&format!(
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; script-src {}; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        hashes.join(" ")
    ))
    .expect("a valid header value")
});

/// The security headers of every HTML page, set in one place: the policy above, no
/// referrer, no framing (also for browsers that predate `frame-ancestors`).
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY.clone(),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    resp
}

/// Errors that axum or tower answer by themselves (a body over its limit, a method the
/// route does not have, a path parameter that does not parse) come as plain text or
/// nothing; they leave as problem reports like every other error, their headers (`Allow`,
/// `Retry-After`) kept. Pages (HTML), problem reports and JSON bodies pass unchanged.
async fn problems_only(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let kind = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if kind.starts_with("text/html")
        || kind.starts_with("application/problem+json")
        || kind.starts_with("application/json")
        || kind.starts_with("text/event-stream")
    {
        return resp;
    }
    let problem = match status {
        StatusCode::PAYLOAD_TOO_LARGE => problem::Problem::new(
            status,
            "body-too-large",
            "Request body too large",
            "请求体超过了这个接口允许的大小（问答、登录等接口为 64 KB，图片上传见 scans.max_upload_bytes）。",
        ),
        StatusCode::METHOD_NOT_ALLOWED => problem::Problem::new(
            status,
            "method-not-allowed",
            "Method not allowed",
            "这个地址不支持该请求方法，支持的方法见 Allow 头。",
        ),
        _ => problem::Problem::new(
            status,
            "http-error",
            status.canonical_reason().unwrap_or("Error"),
            format!("请求无法处理（HTTP {}）。", status.as_u16()),
        ),
    };
    let (parts, _) = resp.into_parts();
    let mut out = problem.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().append(name, value.clone());
        }
    }
    out
}

/// What the separate metrics address (`metrics.listen`) serves: `/metrics` only.
pub fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(api::metrics_unguarded))
        .fallback(not_found)
        .layer(middleware::from_fn(problems_only))
        .with_state(state)
}

/// The whole application. Request bodies are capped at 64 KB (a question is at most 500
/// characters), except the image uploads, which have limits of their own.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/widget", get(pages::widget).post(pages::widget_post))
        .route("/widget/feedback", post(pages::widget_feedback))
        .route("/widget/callback", post(pages::widget_callback))
        .route("/widget/leave", post(pages::widget_leave))
        .route("/kb", get(pages::kb_list))
        .route("/kb/{doc_id}", get(pages::kb_page))
        .route("/api/v1/chat", post(api::chat))
        .route("/api/v1/chat/stream", post(api::chat_stream))
        .route("/api/v1/feedback", post(api::feedback))
        .route("/api/openapi.json", get(openapi))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .route("/api/v1/auth/login", post(auth_api::login))
        .route("/api/v1/auth/logout", post(auth_api::logout))
        .merge(verify_api::read_routes())
        .merge(handoff_api::routes())
        .merge(clerk::routes())
        .merge(agent::routes())
        .fallback(not_found)
        .layer(RequestBodyLimitLayer::new(64 * 1024))
        .merge(verify_api::routes(state.desk.config.max_upload_bytes))
        .merge(clerk::upload_routes(state.desk.config.max_upload_bytes))
        .layer(middleware::from_fn(problems_only))
        .layer(middleware::from_fn(security_headers))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .with_state(state)
}
