//! Sign-in for staff: `POST /api/v1/auth/login` hands out a bearer token, `POST
//! /api/v1/auth/logout` ends it, and the [`Principal`] extractor resolves `Authorization:
//! Bearer …` to the user and role, or answers 401 (no or bad token) as a problem report.

use super::AppState;
use super::api::ApiJson;
use super::limits::ClientAddress;
use super::problem::Problem;
use crate::account::{LoginError, Principal, Role};
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub role: Role,
    /// Unix seconds after which the token no longer works.
    pub expires_at: i64,
}

/// A refused request: a problem report, with a `WWW-Authenticate` challenge on 401.
#[derive(Debug)]
pub struct Denied(pub Problem);

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let challenge = self.0.status == 401;
        let mut resp = self.0.into_response();
        if challenge {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<Problem> for Denied {
    fn from(p: Problem) -> Self {
        Denied(p)
    }
}

pub fn unauthorized() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Sign-in required",
        "请先登录：请求需带有效的 Authorization: Bearer 令牌（令牌可能已过期或已退出）。",
    )
}

pub fn forbidden(role: Role) -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "Not allowed for this role",
        format!("您的角色（{role}）无权使用此功能。"),
    )
}

/// 403 unless the principal has one of `allowed`.
pub fn require(who: &Principal, allowed: &[Role]) -> Result<(), Denied> {
    if allowed.contains(&who.role) {
        Ok(())
    } else {
        Err(Denied(forbidden(who.role)))
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl FromRequestParts<Arc<AppState>> for Principal {
    type Rejection = Denied;
    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Denied> {
        let token = bearer(parts).ok_or_else(|| Denied(unauthorized()))?;
        match state.accounts.principal(token).await {
            Ok(Some(p)) => Ok(p),
            Ok(None) => Err(Denied(unauthorized())),
            Err(e) => {
                tracing::error!(error = %e, "token lookup failed");
                Err(Denied(Problem::internal()))
            }
        }
    }
}

/// Sign in with a user name and password; the token lasts a working day (12 hours). An
/// unknown name, a wrong password and a disabled account get the same answer. Attempts are
/// counted before the password is checked: after 5 for an account (20 from one client
/// address, as `limits.trusted_proxies` decides it; `limits.sign_in_attempts_per_account`
/// and `_per_address`) that did not succeed, sign-in is refused for 15 minutes, on every node. When every password check slot stays taken for 5 seconds
/// the answer is 503 with Retry-After.
#[utoipa::path(post, path = "/api/v1/auth/login", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 401, description = "Wrong user name or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failures; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many sign-ins being checked at once; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(state): State<Arc<AppState>>,
    ClientAddress(address): ClientAddress,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, Denied> {
    let address = address.to_string();
    match state
        .accounts
        .login(req.username.trim(), &req.password, &address)
        .await
    {
        Ok(t) => Ok(Json(LoginResponse {
            token: t.secret,
            role: t.role,
            expires_at: t.expires_at,
        })),
        Err(LoginError::Invalid) => {
            let p = Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid-credentials",
                "Wrong user name or password",
                LoginError::Invalid.to_string(),
            );
            state.note_problem(&p);
            Err(Denied(p))
        }
        Err(LoginError::Throttled(secs)) => {
            let p = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-attempts",
                "Too many failed sign-ins",
                LoginError::Throttled(secs).to_string(),
            )
            .retry_after(secs);
            state.note_problem(&p);
            Err(Denied(p))
        }
        Err(LoginError::Busy(secs)) => {
            let p = Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "sign-in-busy",
                "Too many sign-ins at once",
                LoginError::Busy(secs).to_string(),
            )
            .retry_after(secs);
            state.note_problem(&p);
            Err(Denied(p))
        }
        Err(LoginError::Internal(e)) => {
            tracing::error!(error = %e, "sign-in failed");
            Err(Denied(Problem::internal()))
        }
    }
}

/// End the session of the token sent.
#[utoipa::path(post, path = "/api/v1/auth/logout",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout(
    State(state): State<Arc<AppState>>,
    _who: Principal,
    parts: axum::http::HeaderMap,
) -> Result<StatusCode, Denied> {
    let token = parts
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, t)| t.trim().to_string())
        .unwrap_or_default();
    state.accounts.logout(&token).await.map_err(|e| {
        tracing::error!(error = %e, "sign-out failed");
        Denied(Problem::internal())
    })?;
    Ok(StatusCode::NO_CONTENT)
}
