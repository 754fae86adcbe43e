//! Staff sessions of the server-rendered consoles (the clerk page `/clerk`, the agent console
//! `/agent`) and their CSRF check, in one extractor, [`SignedIn`].
//!
//! Signing in hands out the same kind of token as `POST /api/v1/auth/login` (stored hashed,
//! 12 hours, throttled the same way), carried in the console's own cookie: `HttpOnly`,
//! `SameSite=Strict`, on the console's path, and `Secure` when a trusted proxy
//! (`limits.trusted_proxies`) says the request came over HTTPS. The API never reads these
//! cookies: bearer tokens only, so API calls need no CSRF token.
//!
//! Every state-changing form carries `csrf`: a hash of the session token under a domain tag
//! (unguessable without the cookie, the same on every node); the sign-in forms a random
//! value doubled in a cookie of their own.
//!
//! [`SignedIn`] checks the session (signed out: the sign-in form for a page, 401 for a form),
//! the role the console's `RULES` give the route (403) and the body's CSRF token (403). An
//! upload ([`Parts`]) has its role checked before any of its body is read and must carry its
//! token first: the multipart body is read no further than that part before a wrong or
//! missing token is refused. A small form has its token checked before the role.

use super::AppState;
use super::problem::Problem;
use crate::account::{Principal, Role};
use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Multipart, Request};
use axum::http::request::Parts as RequestParts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;

/// A server-rendered console with its own session cookie and access rules.
pub trait Console: Send + Sync + 'static {
    /// The console's home (the sign-in form when signed out), e.g. `/clerk`.
    const HOME: &'static str;
    const SESSION_COOKIE: &'static str;
    /// The sign-in form's cookie, holding its double-submit token (`web::sign_in`).
    const LOGIN_COOKIE: &'static str;
    /// The console's name in messages, e.g. 核验台.
    const NAME: &'static str;
    /// Method, route template, roles allowed.
    const RULES: &'static [(&'static str, &'static str, &'static [Role])];
    /// The page saying why a request was refused. `path` is the page to come back to.
    fn refused(headers: &HeaderMap, path: &str, staff: Option<&Staff>, why: Refusal) -> Response;
    /// A page with a title and a message.
    fn message(
        headers: &HeaderMap,
        staff: Option<&Staff>,
        status: StatusCode,
        title: &str,
        text: &str,
    ) -> Response;
    /// The sign-in form with its token, the name as typed and why the last attempt failed
    /// (`uri`: the page's own address, for its display switches).
    fn login_page(
        headers: &HeaderMap,
        uri: Option<&axum::http::Uri>,
        status: StatusCode,
        csrf: &str,
        username: &str,
        error: Option<String>,
    ) -> Response;
}

/// Why [`SignedIn`] refused a request.
pub enum Refusal {
    /// No session, or an expired one (a form: 401; a page goes to the sign-in form).
    SignedOut,
    /// The form's CSRF token is missing or wrong (403).
    Csrf,
    /// The role may not use the route (403), or the body could not be read: the problem.
    Problem(Problem),
    /// The session could not be looked up (500).
    Internal,
}

/// A signed-in member of staff, with the session token their cookie carries.
pub struct Staff {
    pub who: Principal,
    pub token: String,
}

impl Staff {
    /// The CSRF token every form of this session carries.
    pub fn csrf(&self) -> String {
        csrf_token(&self.token)
    }
}

/// The session's member of staff, if the console's cookie names a live session.
pub async fn staff<C: Console>(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Staff>, Response> {
    let Some(token) = cookie(headers, C::SESSION_COOKIE) else {
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
            Err(C::refused(headers, C::HOME, None, Refusal::Internal))
        }
    }
}

/// The signed-in member of staff allowed on this route by the console's rules, and the
/// request's body `B` (`()` for a page), its CSRF token checked.
pub struct SignedIn<C, B = ()> {
    pub staff: Staff,
    pub body: B,
    console: PhantomData<C>,
}

impl<C, B> SignedIn<C, B> {
    pub fn who(&self) -> &Principal {
        &self.staff.who
    }
}

/// A request body read after the session is checked, carrying a CSRF token.
pub trait Body: Sized + Send {
    /// Whether the role is checked before the body is read (an upload: its images are not
    /// read for a role that may not upload) or after its token (a small form: a forged form
    /// learns nothing of the roles).
    const ROLE_FIRST: bool;

    /// Reads the body, refusing it as soon as its token is found to differ from `csrf`.
    fn read(
        req: Request,
        state: &Arc<AppState>,
        csrf: &str,
    ) -> impl Future<Output = Result<Self, Refusal>> + Send;
}

/// A URL-encoded form with a `csrf` field (a form that cannot be read is read as empty, so
/// it is refused for its missing token).
pub trait CsrfForm: DeserializeOwned + Default + Send {
    fn csrf(&self) -> &str;
}

impl<F: CsrfForm> Body for F {
    const ROLE_FIRST: bool = false;

    async fn read(req: Request, state: &Arc<AppState>, csrf: &str) -> Result<F, Refusal> {
        let form = Form::<F>::from_request(req, state)
            .await
            .map(|Form(f)| f)
            .unwrap_or_default();
        if same(form.csrf(), csrf) {
            Ok(form)
        } else {
            Err(Refusal::Csrf)
        }
    }
}

/// A form carrying nothing but its CSRF token (sign-out, claim, reveal…).
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct CsrfOnly {
    csrf: String,
}

impl CsrfForm for CsrfOnly {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The parts of a multipart upload after its CSRF token, by field name. The token is the
/// first part (`csrf`, as the forms put their hidden input first): a body whose first part
/// is anything else, or a wrong token, is refused before more of it is read.
pub struct Parts(pub Vec<(String, Vec<u8>)>);

impl Body for Parts {
    const ROLE_FIRST: bool = true;

    async fn read(req: Request, state: &Arc<AppState>, csrf: &str) -> Result<Parts, Refusal> {
        let bad = |detail: &str| {
            let super::auth_api::Denied(p) =
                super::desk::bad_body(state, StatusCode::BAD_REQUEST, detail);
            Refusal::Problem(p)
        };
        if !super::desk::is_multipart(&req) {
            return Err(bad("上传表单应为 multipart/form-data。"));
        }
        let mut form = Multipart::from_request(req, state)
            .await
            .map_err(|_| bad("上传内容无法读取：multipart 格式有误。"))?;
        let token = match form.next_field().await {
            Ok(Some(field)) if field.name() == Some("csrf") => field.text().await.ok(),
            _ => None,
        };
        if !token.is_some_and(|t| same(&t, csrf)) {
            return Err(Refusal::Csrf);
        }
        super::desk::parts(state, form)
            .await
            .map(Parts)
            .map_err(|super::auth_api::Denied(p)| Refusal::Problem(p))
    }
}

/// The page to come back to from a refusal: a page's own path, the console's home for a form
/// (its path takes no GET).
fn back_to<C: Console>(parts: &RequestParts) -> String {
    if parts.method == Method::GET {
        parts.uri.path().to_string()
    } else {
        C::HOME.to_string()
    }
}

/// The session, from the request's head.
async fn signed_in<C: Console>(
    parts: &RequestParts,
    state: &Arc<AppState>,
) -> Result<Staff, Response> {
    match staff::<C>(state, &parts.headers).await? {
        Some(s) => Ok(s),
        None if parts.method == Method::GET => Err(Redirect::to(C::HOME).into_response()),
        None => Err(C::refused(
            &parts.headers,
            &back_to::<C>(parts),
            None,
            Refusal::SignedOut,
        )),
    }
}

/// The role the console's rules give the matched route.
async fn allowed<C: Console>(
    parts: &mut RequestParts,
    state: &Arc<AppState>,
    s: &Staff,
) -> Result<(), Response> {
    let route = MatchedPath::from_request_parts(parts, state)
        .await
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let allowed = C::RULES
        .iter()
        .find(|(m, p, _)| *m == parts.method.as_str() && *p == route)
        .is_some_and(|(_, _, roles)| roles.contains(&s.who.role));
    if !allowed {
        let p = super::auth_api::forbidden(s.who.role);
        return Err(C::refused(
            &parts.headers,
            &back_to::<C>(parts),
            Some(s),
            Refusal::Problem(p),
        ));
    }
    Ok(())
}

impl<C: Console> FromRequestParts<Arc<AppState>> for SignedIn<C> {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut RequestParts,
        state: &Arc<AppState>,
    ) -> Result<Self, Response> {
        let staff = signed_in::<C>(parts, state).await?;
        allowed::<C>(parts, state, &staff).await?;
        Ok(SignedIn {
            staff,
            body: (),
            console: PhantomData,
        })
    }
}

impl<C: Console, B: Body> FromRequest<Arc<AppState>> for SignedIn<C, B> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let staff = signed_in::<C>(&parts, state).await?;
        let role = allowed::<C>(&mut parts, state, &staff).await;
        if B::ROLE_FIRST {
            role?;
            return read_body(parts, body, state, staff).await;
        }
        let signed = read_body(parts, body, state, staff).await?;
        role.map(|()| signed)
    }
}

/// Reads `B` after the session's checks, refusing it for its token.
async fn read_body<C: Console, B: Body>(
    parts: RequestParts,
    body: axum::body::Body,
    state: &Arc<AppState>,
    staff: Staff,
) -> Result<SignedIn<C, B>, Response> {
    let headers = parts.headers.clone();
    let path = back_to::<C>(&parts);
    let req = Request::from_parts(parts, body);
    match B::read(req, state, &staff.csrf()).await {
        Ok(body) => Ok(SignedIn {
            staff,
            body,
            console: PhantomData,
        }),
        Err(why) => {
            if matches!(why, Refusal::Csrf) {
                tracing::info!(user = %staff.who.user, "form refused: CSRF token missing or wrong");
            }
            Err(C::refused(&headers, &path, Some(&staff), why))
        }
    }
}

/// A cookie's value by its exact name.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
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
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A random token (the sign-in forms' double-submit value).
pub fn random_token() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether the request reached the proxy in front of us over HTTPS: only a trusted proxy's
/// `X-Forwarded-Proto` is believed (the server itself speaks plain HTTP).
pub fn over_tls(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> bool {
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

/// A console's cookie (`Path` = its home; `max_age` 0 clears it).
pub fn console_cookie(name: &str, home: &str, value: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path={home}; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Appends `Set-Cookie` headers.
pub fn set_cookies(resp: &mut Response, cookies: &[String]) {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
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
        assert_eq!(cookie(&h, "xiaoban_session"), Some("abc"));
        assert_eq!(cookie(&h, "xiaoban_login"), None);
    }

    #[test]
    fn session_cookies_are_http_only_strict_and_secure_behind_tls() {
        let c = console_cookie("xiaoban_session", "/clerk", "t", 60, false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"));
        assert!(c.contains("Path=/clerk"));
        assert!(console_cookie("s", "/clerk", "t", 60, true).ends_with("; Secure"));
    }
}
