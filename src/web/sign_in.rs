//! Signing in to and out of a console (the clerk page, the agent console): one form, one
//! handler for each, parameterised by the console ([`Console`]: its home, cookies, rules,
//! name and pages).
//!
//! The sign-in form carries a random double-submit token, kept in the console's sign-in
//! cookie (the same value while the cookie lives, so two tabs both work); a sign-in is
//! throttled as the API's is (`account::Accounts::login`) and sets the session cookie.

use super::AppState;
use super::limits::ClientAddress;
use super::session::{
    Console, CsrfOnly, Refusal, SignedIn, console_cookie, cookie, over_tls, random_token, same,
    set_cookies,
};
use crate::account::LoginError;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

fn session_cookie<C: Console>(value: &str, max_age: i64, secure: bool) -> String {
    console_cookie(C::SESSION_COOKIE, C::HOME, value, max_age, secure)
}

fn login_cookie<C: Console>(value: &str, max_age: i64, secure: bool) -> String {
    console_cookie(C::LOGIN_COOKIE, C::HOME, value, max_age, secure)
}

/// The console's sign-in form (`uri`: the page's own address, for its display switches),
/// with the token its cookie holds, or a new one set in the cookie.
pub fn form<C: Console>(
    headers: &HeaderMap,
    uri: Option<&Uri>,
    secure: bool,
    status: StatusCode,
    username: &str,
    error: Option<String>,
) -> Response {
    let (csrf, fresh) = match cookie(headers, C::LOGIN_COOKIE) {
        Some(c) => (c.to_string(), false),
        None => (random_token(), true),
    };
    let mut resp = C::login_page(headers, uri, status, &csrf, username, error);
    if fresh {
        set_cookies(&mut resp, &[login_cookie::<C>(&csrf, 3600, secure)]);
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

/// `POST {home}/login`: checks the form's token and the password (throttled as the API's
/// sign-in is), sets the session cookie and goes home.
pub async fn login<C: Console>(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    body: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let secure = over_tls(&state, peer, &headers);
    let Ok(Form(login)) = body else {
        return C::message(
            &headers,
            None,
            StatusCode::BAD_REQUEST,
            "无法登录",
            &format!("登录表单无法读取，请返回{}重试。", C::NAME),
        );
    };
    if !cookie(&headers, C::LOGIN_COOKIE).is_some_and(|c| same(c, &login.csrf)) {
        tracing::info!("sign-in form refused: CSRF token missing or wrong");
        return C::refused(&headers, C::HOME, None, Refusal::Csrf);
    }
    let name = login.username.trim();
    match state
        .accounts
        .login(name, &login.password, &address.to_string())
        .await
    {
        Ok(t) => {
            let age = (t.expires_at - chrono::Utc::now().timestamp()).max(0);
            let mut resp = Redirect::to(C::HOME).into_response();
            set_cookies(
                &mut resp,
                &[
                    session_cookie::<C>(&t.secret, age, secure),
                    login_cookie::<C>("", 0, secure),
                ],
            );
            resp
        }
        Err(LoginError::Invalid) => form::<C>(
            &headers,
            None,
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
            let mut resp = form::<C>(&headers, None, secure, status, name, Some(e.to_string()));
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            resp
        }
        Err(LoginError::Internal(e)) => {
            tracing::error!(error = %e, "sign-in failed");
            C::message(
                &headers,
                None,
                StatusCode::INTERNAL_SERVER_ERROR,
                "出错了",
                "服务内部出错，请稍后重试。",
            )
        }
    }
}

/// `POST {home}/logout`: ends the session and clears its cookie.
pub async fn logout<C: Console>(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    signed: SignedIn<C, CsrfOnly>,
) -> Response {
    let s = &signed.staff;
    if let Err(e) = state.accounts.logout(&s.token).await {
        tracing::error!(error = %e, "sign-out failed");
        return C::message(
            &headers,
            Some(s),
            StatusCode::INTERNAL_SERVER_ERROR,
            "出错了",
            "退出登录失败，请稍后重试。",
        );
    }
    let mut resp = Redirect::to(C::HOME).into_response();
    set_cookies(
        &mut resp,
        &[session_cookie::<C>("", 0, over_tls(&state, peer, &headers))],
    );
    resp
}
