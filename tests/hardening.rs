//! Hardening end to end over HTTP: sign-in floods check at most the limit's worth of
//! passwords (counted in `xiaoban_password_checks_total`), the API throttles the client address
//! the trusted-proxy rule gives, throttle counts survive a restart, feedback has a rate limit,
//! `/metrics` is not public, errors axum answers by itself are problem reports (413 included),
//! and every HTML page carries the one Content-Security-Policy.

use crate::common;

use base64::Engine as _;
use common::{client, config, start_with};
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};
use xiaoban::account::{Accounts, Role};
use xiaoban::config::Config;
use xiaoban::store::Store;

const PASSWORD: &str = "right password 1";

async fn add_user(config: &Config, name: &str, role: Role) {
    let store = Store::connect(&config.database_url()).await.unwrap();
    Accounts::new(store)
        .add_user(name, role, PASSWORD)
        .await
        .unwrap();
}

async fn sign_in(
    c: &reqwest::Client,
    base: &str,
    name: &str,
    password: &str,
    forwarded: Option<&str>,
) -> reqwest::Response {
    let mut r = c
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": name, "password": password}));
    if let Some(f) = forwarded {
        r = r.header("X-Forwarded-For", f);
    }
    r.send().await.unwrap()
}

/// `xiaoban_password_checks_total` of the server at `base`.
pub async fn password_checks(c: &reqwest::Client, base: &str) -> u64 {
    let text = common::metrics(c, &format!("{base}/metrics")).await;
    common::metric(&text, "xiaoban_password_checks_total") as u64
}

/// `n` wrong sign-ins for `name` at once; their statuses.
async fn flood(c: &reqwest::Client, bases: &[String], name: &str, n: usize) -> Vec<u16> {
    let tries = (0..n).map(|i| {
        let base = bases[i % bases.len()].clone();
        async move {
            sign_in(c, &base, name, &format!("wrong password {i}"), None)
                .await
                .status()
                .as_u16()
        }
    });
    futures::future::join_all(tries).await
}

/// The statuses of a flood of wrong sign-ins against one account spread over `bases` (one
/// node or several on one database): at most the account's limit of 5 passwords are checked,
/// every other attempt is refused with 429 before its password is looked at, then 60 more
/// while it is locked check none.
pub async fn a_flood_checks_at_most_five_passwords(c: &reqwest::Client, bases: &[String]) {
    let mut before = 0;
    for b in bases {
        before += password_checks(c, b).await;
    }
    let first = flood(c, bases, "flooded", 60).await;
    let second = flood(c, bases, "flooded", 60).await;
    let mut checked = 0;
    for b in bases {
        checked += password_checks(c, b).await;
    }
    let checked = checked - before;
    assert!(checked <= 5, "{checked} passwords checked");
    let refused = first.iter().filter(|s| **s == 429).count();
    let wrong = first.iter().filter(|s| **s == 401).count();
    assert_eq!(refused + wrong, 60, "only 401 and 429: {first:?}");
    assert!(wrong as u64 <= checked, "{first:?}");
    assert!(second.iter().all(|s| *s == 429), "{second:?}");
    // Locked: even the right password is refused, without being checked.
    let r = sign_in(c, &bases[0], "flooded", PASSWORD, None).await;
    let wait = common::problem(r, StatusCode::TOO_MANY_REQUESTS, "too-many-attempts").await;
    assert!(wait.is_some_and(|w| w > 800), "{wait:?}");
    let mut after = 0;
    for b in bases {
        after += password_checks(c, b).await;
    }
    assert_eq!(after - before, checked);
}

#[tokio::test]
async fn sixty_parallel_wrong_sign_ins_then_sixty_more_check_at_most_five_passwords() {
    let data = tempfile::tempdir().unwrap();
    let cfg = config(data.path(), None, None);
    add_user(&cfg, "flooded", Role::Clerk).await;
    let s = start_with(cfg, data).await;
    let c = client();
    a_flood_checks_at_most_five_passwords(&c, std::slice::from_ref(&s.base)).await;
    s.stop().await;
}

#[tokio::test]
async fn password_checks_beyond_the_bound_are_refused_with_503() {
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(data.path(), None, None);
    cfg.limits.concurrent_password_checks = 1;
    let s = start_with(cfg, data).await;
    let c = client();
    // 200 sign-ins for 200 different names at once: one password is checked at a time and
    // 64 may wait for it; the rest are refused at once, counted against nothing.
    let tries = (0..200).map(|i| {
        let c = c.clone();
        let base = s.base.clone();
        async move { sign_in(&c, &base, &format!("caller-{i}"), "wrong", None).await }
    });
    let answers = futures::future::join_all(tries).await;
    let mut busy = 0;
    for r in answers {
        match r.status().as_u16() {
            401 => {}
            503 => {
                busy += 1;
                let wait =
                    common::problem(r, StatusCode::SERVICE_UNAVAILABLE, "sign-in-busy").await;
                assert_eq!(wait, Some(5));
            }
            other => panic!("{other}"),
        }
    }
    assert!(busy > 0, "some sign-ins found no free password check");
    assert_eq!(password_checks(&c, &s.base).await, 200 - busy);
    s.stop().await;
}

#[tokio::test]
async fn sign_in_failures_are_remembered_across_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let cfg = config(data.path(), None, None);
    add_user(&cfg, "restarted", Role::Clerk).await;
    let s = start_with(cfg.clone(), data).await;
    let c = client();
    for i in 0..4 {
        let r = sign_in(&c, &s.base, "restarted", &format!("wrong {i}"), None).await;
        assert_eq!(r.status(), 401);
    }
    let r = sign_in(&c, &s.base, "restarted", "wrong 5", None).await;
    assert_eq!(r.status(), 429, "the fifth failure locks");
    // The same data folder (and SQLite database) under a new process.
    let TestServerParts { data } = stop_keeping_data(s).await;
    let s = start_with(cfg, data).await;
    let r = sign_in(&c, &s.base, "restarted", PASSWORD, None).await;
    common::problem(r, StatusCode::TOO_MANY_REQUESTS, "too-many-attempts").await;
    s.stop().await;
}

struct TestServerParts {
    data: tempfile::TempDir,
}

/// Stops the server and hands back its data folder.
async fn stop_keeping_data(mut s: common::TestServer) -> TestServerParts {
    let data = std::mem::replace(&mut s.data, tempfile::tempdir().unwrap());
    s.stop().await;
    TestServerParts { data }
}

#[tokio::test]
async fn api_sign_in_throttles_the_client_address_behind_a_trusted_proxy() {
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(data.path(), None, None);
    cfg.limits.trusted_proxies = vec!["127.0.0.1".into()];
    cfg.limits.sign_in_attempts_per_address = 20;
    for name in ["hall-a", "hall-b"] {
        add_user(&cfg, name, Role::Clerk).await;
    }
    let s = start_with(cfg, data).await;
    let c = client();
    // One client behind the proxy fails 20 times over several made-up names: its address
    // locks.
    for i in 0..20 {
        let r = sign_in(
            &c,
            &s.base,
            &format!("nobody-{}", i % 4),
            "wrong",
            Some("198.51.100.7"),
        )
        .await;
        assert!(matches!(r.status().as_u16(), 401 | 429), "{}", r.status());
    }
    let r = sign_in(&c, &s.base, "hall-a", PASSWORD, Some("198.51.100.7")).await;
    assert_eq!(r.status(), 429, "the failing client is locked");
    // Everyone else behind the same proxy still signs in.
    let r = sign_in(&c, &s.base, "hall-a", PASSWORD, Some("198.51.100.8")).await;
    assert_eq!(r.status(), 200);
    let r = sign_in(&c, &s.base, "hall-b", PASSWORD, Some("203.0.113.5")).await;
    assert_eq!(r.status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn feedback_has_a_rate_per_address() {
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(data.path(), None, None);
    cfg.limits.feedback_per_minute_per_address = 1;
    cfg.limits.feedback_burst_per_address = 2;
    let s = start_with(cfg, data).await;
    let c = client();
    let reply = common::ask(&c, &s.base, "身份证到期换领怎么办理").await;
    let id = reply["reply_id"].as_str().unwrap();
    for _ in 0..2 {
        let r = c
            .post(s.url("/api/v1/feedback"))
            .json(&json!({"reply_id": id, "helpful": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = c
        .post(s.url("/api/v1/feedback"))
        .json(&json!({"reply_id": id, "helpful": false}))
        .send()
        .await
        .unwrap();
    let wait = common::problem(r, StatusCode::TOO_MANY_REQUESTS, "too-much-feedback").await;
    assert!(wait.is_some_and(|w| (1..=61).contains(&w)), "{wait:?}");
    // The widget's buttons share the address's bucket.
    let r = c
        .post(s.url("/widget/feedback"))
        .form(&[("reply_id", id), ("helpful", "1"), ("s", "")])
        .send()
        .await
        .unwrap();
    common::problem(r, StatusCode::TOO_MANY_REQUESTS, "too-much-feedback").await;
    let m = common::metrics(&c, &s.url("/metrics")).await;
    assert!(
        m.contains("xiaoban_limit_rejections_total{limit=\"feedback_rate\"} 2"),
        "{m}"
    );
    s.stop().await;
}

#[tokio::test]
async fn metrics_are_refused_without_a_configured_token() {
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(data.path(), None, None);
    cfg.metrics.token = String::new();
    let s = start_with(cfg, data).await;
    let c = client();
    let r = c.get(s.url("/metrics")).send().await.unwrap();
    common::problem(r, StatusCode::FORBIDDEN, "metrics-not-public").await;
    let r = c
        .get(s.url("/metrics"))
        .bearer_auth("anything")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    s.stop().await;
}

#[tokio::test]
async fn metrics_answer_the_configured_token_only() {
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(data.path(), None, None);
    cfg.metrics.token = "scraper-secret".into();
    let s = start_with(cfg, data).await;
    let c = client();
    let r = c.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    common::problem(r, StatusCode::UNAUTHORIZED, "metrics-token").await;
    let r = c
        .get(s.url("/metrics"))
        .bearer_auth("scraper-secreT")
        .send()
        .await
        .unwrap();
    common::problem(r, StatusCode::UNAUTHORIZED, "metrics-token").await;
    let r = c
        .get(s.url("/metrics"))
        .bearer_auth("scraper-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("xiaoban_http_requests_total")
    );
    s.stop().await;
}

#[tokio::test]
async fn metrics_on_their_own_address_need_no_token_and_leave_the_main_one() {
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(data.path(), None, None);
    cfg.metrics.token = String::new();
    cfg.metrics.listen = "127.0.0.1:0".into();
    let server = xiaoban::server::bind(cfg).await.unwrap();
    let main = format!("http://{}", server.local_addr());
    let metrics = format!(
        "http://{}",
        server.metrics_addr().expect("a metrics address")
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let c = client();
    let r = c.get(format!("{metrics}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("xiaoban_index_documents"));
    // Only /metrics there.
    let r = c.get(format!("{metrics}/healthz")).send().await.unwrap();
    common::problem(r, StatusCode::NOT_FOUND, "not-found").await;
    let r = c.get(format!("{main}/metrics")).send().await.unwrap();
    common::problem(r, StatusCode::FORBIDDEN, "metrics-not-public").await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    drop(data);
}

#[tokio::test]
async fn errors_axum_answers_itself_are_problem_reports() {
    let data = tempfile::tempdir().unwrap();
    let s = start_with(config(data.path(), None, None), data).await;
    let c = client();
    // Over the 64 KB limit with a Content-Length: refused before the body is read.
    let big = json!({"question": "问".repeat(40_000)}).to_string();
    let r = c
        .post(s.url("/api/v1/chat"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    common::problem(r, StatusCode::PAYLOAD_TOO_LARGE, "body-too-large").await;
    // The same body streamed without a length: refused while it is read.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .as_bytes()
        .chunks(8192)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let r = c
        .post(s.url("/api/v1/feedback"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    common::problem(r, StatusCode::PAYLOAD_TOO_LARGE, "body-too-large").await;
    // A form page over the limit.
    let r = c
        .post(s.url("/widget"))
        .form(&[("question", "问".repeat(40_000))])
        .send()
        .await
        .unwrap();
    common::problem(r, StatusCode::PAYLOAD_TOO_LARGE, "body-too-large").await;
    let r = c.delete(s.url("/api/v1/chat")).send().await.unwrap();
    assert!(r.headers().contains_key("allow"));
    common::problem(r, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed").await;
    s.stop().await;
}

/// The inline scripts of `html`, each as its policy source (`'sha256-…'`).
fn script_sources(html: &str) -> Vec<String> {
    html.split("<script>")
        .skip(1)
        .map(|rest| {
            let js = rest.split("</script>").next().unwrap();
            format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(Sha256::digest(js.as_bytes()))
            )
        })
        .collect()
}

#[tokio::test]
async fn every_html_page_carries_the_one_security_policy() {
    let data = tempfile::tempdir().unwrap();
    let s = start_with(config(data.path(), None, None), data).await;
    let c = client();
    let mut policies = Vec::new();
    for path in [
        "/widget",
        "/kb",
        "/kb/id-card-renewal",
        "/clerk",
        "/agent",
        "/widget?s=00000000000000000000000000000000",
    ] {
        let r = c.get(s.url(path)).send().await.unwrap();
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        let h = r.headers().clone();
        let csp = h["content-security-policy"].to_str().unwrap().to_string();
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        for part in [
            "default-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(!csp.contains("script-src 'unsafe-inline'"), "{csp}");
        // Each inline script the page carries is allowed by its hash.
        let html = r.text().await.unwrap();
        for source in script_sources(&html) {
            assert!(csp.contains(&source), "{path}: {source} not in {csp}");
        }
        policies.push(csp);
    }
    policies.dedup();
    assert_eq!(policies.len(), 1, "one policy: {policies:?}");
    // A page the clerk desk answers with an error is covered as well.
    let r = c
        .post(s.url("/clerk/login"))
        .form(&[("username", "x"), ("password", "y"), ("csrf", "z")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["content-security-policy"], policies[0].as_str());
    s.stop().await;
}
