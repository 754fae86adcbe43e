//! Request ids and the one log line per request. Every request runs inside a `request` span
//! holding its id, method and matched route template (`/api/v1/verify/{job_id}`, never the
//! raw path or query, which can carry personal data), so every line logged while handling it
//! carries them; the response carries the id in `X-Request-Id`, and problem reports
//! (`application/problem+json`) carry it as `request_id`.
//!
//! An incoming `X-Request-Id` (from a proxy or the calling platform) is kept when it is
//! sane: 1–64 characters of `A–Z a–z 0–9 . _ : -` holding no identity, mobile or bank card
//! number; otherwise a fresh UUID replaces it.

use crate::metrics::{HttpLabels, Metrics, RouteLabels};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// The request id header, read and written.
pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest incoming id kept.
const MAX_LEN: usize = 64;

/// Problem bodies larger than this are passed on without the id (none is near it).
const MAX_PROBLEM_BYTES: usize = 64 * 1024;

/// A request's id, also put in the request's extensions for handlers that want it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The incoming id if it is sane, else `None`.
pub fn accept(incoming: &HeaderValue) -> Option<String> {
    let s = incoming.to_str().ok()?;
    let sane = !s.is_empty()
        && s.len() <= MAX_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    // A caller could put a personal number in it; such an id would end up in every line.
    (sane && crate::privacy::redact(s).found.is_empty()).then(|| s.to_string())
}

/// The middleware: assigns the id, runs the request in its span, logs the outcome and counts
/// it in `xiaoban_http_requests` and `xiaoban_http_request_seconds`.
pub async fn track(State(metrics): State<Arc<Metrics>>, mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&HEADER)
        .and_then(accept)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_string();
    let method = req.method().to_string();
    let span = tracing::info_span!(
        "request",
        request_id = id.as_str(),
        method = method.as_str(),
        route = route.as_str(),
    );
    let started = Instant::now();
    async move {
        let resp = next.run(req).await;
        let status = resp.status().as_u16();
        // Time to the response head; a streamed body (SSE) goes on after it.
        let elapsed = started.elapsed().as_secs_f64();
        let latency_ms = (elapsed * 1e5).round() / 100.0;
        metrics
            .http_request_seconds
            .get_or_create(&RouteLabels {
                route: route.clone(),
            })
            .observe(elapsed);
        // Health checks and metric scrapes come every few seconds: logged at debug level
        // unless they fail.
        let probe = matches!(route.as_str(), "/healthz" | "/metrics");
        metrics
            .http_requests
            .get_or_create(&HttpLabels {
                route,
                method,
                status,
            })
            .inc();
        if resp.status().is_server_error() {
            tracing::warn!(status, latency_ms, "http request");
        } else if probe && resp.status().is_success() {
            tracing::debug!(status, latency_ms, "http request");
        } else {
            tracing::info!(status, latency_ms, "http request");
        }
        let mut resp = with_id_in_problem(resp, &id).await;
        if let Ok(v) = HeaderValue::from_str(&id) {
            resp.headers_mut().insert(HEADER.clone(), v);
        }
        resp
    }
    .instrument(span)
    .await
}

/// Adds `request_id` to a problem report's JSON body; other responses pass unchanged.
async fn with_id_in_problem(resp: Response, id: &str) -> Response {
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !is_problem {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_PROBLEM_BYTES).await else {
        return (parts.status, "").into_response();
    };
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut problem)) => {
            problem.insert("request_id".into(), id.into());
            serde_json::to_vec(&problem).unwrap_or_else(|_| bytes.to_vec())
        }
        _ => bytes.to_vec(),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn sane_incoming_ids_are_kept() {
        for id in [
            "0b6f3c1e-5d2a-4c7e-9f10-3a2b1c0d9e8f",
            "req_42",
            "edge:lb-1.7f3a",
        ] {
            assert_eq!(accept(&h(id)).as_deref(), Some(id));
        }
    }

    #[test]
    fn odd_long_or_personal_ids_are_replaced() {
        let long = "a".repeat(MAX_LEN + 1);
        for id in [
            "",
            "has space",
            "quote\"d",
            "路由",
            long.as_str(),
            "110101199003071234",
            "id-13812345678",
        ] {
            let Ok(v) = HeaderValue::from_str(id) else {
                continue;
            };
            assert_eq!(accept(&v), None, "{id:?} should be replaced");
        }
        assert_eq!(accept(&HeaderValue::from_bytes(b"\xff\xfe").unwrap()), None);
    }
}
