//! Abuse limits end to end over HTTP: the question rates per address and per conversation,
//! the question length, concurrent streams (per address and in all), the size of a stored
//! conversation, uploads per staff account, and the trusted-proxy rule for X-Forwarded-For.
//! Each refusal is a problem report with its status, shown in the page by the no-JavaScript
//! widget, and counted in `xiaoban_limit_rejections_total{limit}`.

use crate::common;

use chrono::NaiveDate;
use common::{client, config, databases, start_with, start_with_generator, start_with_reader};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use xiaoban::account::{Accounts, Role};
use xiaoban::config::{Backend, Config};
use xiaoban::desk::{DocumentReader, ReadError};
use xiaoban::llm::{ChatMessage, Generation, GenerationParams, Generator, StopReason};
use xiaoban::verify::Report;

/// A question the knowledge base answers from passages (so a model would write it).
const ANSWERED: &str = "身份证到期换领怎么办理";

fn limited(data: &std::path::Path, set: impl FnOnce(&mut Config)) -> Config {
    let mut c = config(data, None, None);
    set(&mut c);
    c
}

async fn chat(
    c: &reqwest::Client,
    url: String,
    body: Value,
    forwarded: Option<&str>,
) -> reqwest::Response {
    let mut r = c.post(url).json(&body);
    if let Some(f) = forwarded {
        r = r.header("X-Forwarded-For", f);
    }
    r.send().await.expect("request")
}

/// The value of `xiaoban_limit_rejections_total{limit="…"}`, 0 when absent.
async fn rejections(c: &reqwest::Client, base: &str, limit: &str) -> u64 {
    let text = common::metrics(c, &format!("{base}/metrics")).await;
    let series = format!("xiaoban_limit_rejections_total{{limit=\"{limit}\"}}");
    common::metric(&text, &series) as u64
}

#[tokio::test]
async fn questions_per_address_are_rate_limited_with_retry_after() {
    let data = tempfile::tempdir().unwrap();
    let cfg = limited(data.path(), |c| {
        c.limits.questions_per_minute_per_address = 1;
        c.limits.burst_per_address = 3;
    });
    let s = start_with(cfg, data).await;
    let c = client();
    for _ in 0..3 {
        let r = chat(
            &c,
            s.url("/api/v1/chat"),
            json!({"question": ANSWERED}),
            None,
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(rejections(&c, &s.base, "address_rate").await, 0);
    let r = chat(
        &c,
        s.url("/api/v1/chat"),
        json!({"question": ANSWERED}),
        None,
    )
    .await;
    let wait = common::problem(r, StatusCode::TOO_MANY_REQUESTS, "too-many-questions")
        .await
        .expect("Retry-After");
    assert!((1..=61).contains(&wait), "{wait}");
    // The streamed route and the widget share the address's bucket.
    let r = chat(
        &c,
        s.url("/api/v1/chat/stream"),
        json!({"question": ANSWERED}),
        None,
    )
    .await;
    common::problem(r, StatusCode::TOO_MANY_REQUESTS, "too-many-questions").await;
    assert_eq!(rejections(&c, &s.base, "address_rate").await, 2);

    // The widget without JavaScript shows the message in the page, with the same status.
    let r = c
        .post(s.url("/widget"))
        .form(&[("question", ANSWERED), ("s", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key(reqwest::header::RETRY_AFTER));
    assert!(
        r.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = r.text().await.unwrap();
    assert!(html.contains("提问过于频繁"), "{html}");
    assert!(
        html.contains("<form"),
        "the page is the widget, not a raw error"
    );
    assert!(!html.trim_start().starts_with('{'));
    assert_eq!(rejections(&c, &s.base, "address_rate").await, 3);
    s.stop().await;
}

#[tokio::test]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    // Untrusted peer: the header is ignored, so two "different" clients share one bucket.
    let data = tempfile::tempdir().unwrap();
    let cfg = limited(data.path(), |c| {
        c.limits.questions_per_minute_per_address = 1;
        c.limits.burst_per_address = 1;
    });
    let s = start_with(cfg, data).await;
    let c = client();
    let url = s.url("/api/v1/chat");
    let q = json!({"question": ANSWERED});
    assert_eq!(
        chat(&c, url.clone(), q.clone(), Some("198.51.100.1"))
            .await
            .status(),
        StatusCode::OK
    );
    let r = chat(&c, url.clone(), q.clone(), Some("198.51.100.2")).await;
    common::problem(r, StatusCode::TOO_MANY_REQUESTS, "too-many-questions").await;
    s.stop().await;

    // Behind a trusted proxy (loopback here), each forwarded client has its own bucket, and
    // what a client writes to the left of the proxy's entry does not help it.
    let data = tempfile::tempdir().unwrap();
    let cfg = limited(data.path(), |c| {
        c.limits.questions_per_minute_per_address = 1;
        c.limits.burst_per_address = 1;
        c.limits.trusted_proxies = vec!["127.0.0.0/8".into()];
    });
    let s = start_with(cfg, data).await;
    let url = s.url("/api/v1/chat");
    for client_ip in ["198.51.100.1", "198.51.100.2"] {
        let r = chat(&c, url.clone(), q.clone(), Some(client_ip)).await;
        assert_eq!(r.status(), StatusCode::OK, "{client_ip}");
    }
    let r = chat(
        &c,
        url.clone(),
        q.clone(),
        Some("203.0.113.7, 198.51.100.1"),
    )
    .await;
    common::problem(r, StatusCode::TOO_MANY_REQUESTS, "too-many-questions").await;
    assert_eq!(rejections(&c, &s.base, "address_rate").await, 1);
    s.stop().await;
}

#[tokio::test]
async fn questions_per_conversation_are_rate_limited() {
    let data = tempfile::tempdir().unwrap();
    let cfg = limited(data.path(), |c| {
        c.limits.questions_per_minute_per_session = 1;
        c.limits.burst_per_session = 2;
    });
    let s = start_with(cfg, data).await;
    let c = client();
    let url = s.url("/api/v1/chat");
    let first: Value = chat(&c, url.clone(), json!({"question": ANSWERED}), None)
        .await
        .json()
        .await
        .unwrap();
    let session = first["session_id"].as_str().unwrap().to_string();
    for _ in 0..2 {
        let r = chat(
            &c,
            url.clone(),
            json!({"question": "需带哪些证件", "session_id": session}),
            None,
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = chat(
        &c,
        url.clone(),
        json!({"question": "需带哪些证件", "session_id": session}),
        None,
    )
    .await;
    let wait = common::problem(
        r,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-questions-in-conversation",
    )
    .await
    .expect("Retry-After");
    assert!((1..=61).contains(&wait), "{wait}");
    // Another conversation from the same address is not held up.
    let r = chat(&c, url, json!({"question": ANSWERED}), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(rejections(&c, &s.base, "session_rate").await, 1);
    assert_eq!(rejections(&c, &s.base, "address_rate").await, 0);
    s.stop().await;
}

#[tokio::test]
async fn a_too_long_question_is_refused_and_counted() {
    let data = tempfile::tempdir().unwrap();
    let s = start_with(config(data.path(), None, None), data).await;
    let c = client();
    let long = "问".repeat(501);
    let r = chat(&c, s.url("/api/v1/chat"), json!({"question": long}), None).await;
    common::problem(r, StatusCode::UNPROCESSABLE_ENTITY, "question-too-long").await;
    let r = c
        .post(s.url("/widget"))
        .form(&[("question", long.as_str()), ("s", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("问题太长了"));
    assert_eq!(rejections(&c, &s.base, "question_length").await, 2);
    // A question of exactly 500 characters is not refused by the length limit.
    let r = chat(
        &c,
        s.url("/api/v1/chat"),
        json!({"question": "问".repeat(500)}),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(rejections(&c, &s.base, "question_length").await, 2);
    s.stop().await;
}

#[tokio::test]
async fn a_full_conversation_asks_for_a_new_one() {
    for db in databases() {
        let data = tempfile::tempdir().unwrap();
        let mut cfg = config(data.path(), None, db);
        cfg.limits.max_conversation_turns = 2;
        let s = start_with(cfg, data).await;
        let c = client();
        let url = s.url("/api/v1/chat");
        let first: Value = chat(&c, url.clone(), json!({"question": ANSWERED}), None)
            .await
            .json()
            .await
            .unwrap();
        let session = first["session_id"].as_str().unwrap().to_string();
        let next = json!({"question": "需带哪些证件", "session_id": session});
        assert_eq!(
            chat(&c, url.clone(), next.clone(), None).await.status(),
            StatusCode::OK
        );
        let r = chat(&c, url.clone(), next.clone(), None).await;
        assert_eq!(
            common::problem(r, StatusCode::PAYLOAD_TOO_LARGE, "conversation-full").await,
            None
        );
        let r = chat(&c, s.url("/api/v1/chat/stream"), next.clone(), None).await;
        common::problem(r, StatusCode::PAYLOAD_TOO_LARGE, "conversation-full").await;
        // The widget says so in the page, and its form starts a new conversation.
        let r = c
            .post(s.url("/widget"))
            .form(&[("question", "需带哪些证件"), ("s", session.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let html = r.text().await.unwrap();
        assert!(html.contains("请开始新的对话"), "{html}");
        assert!(
            !html.contains(&session),
            "the form no longer carries the full conversation"
        );
        // The stored conversation did not grow.
        let store = xiaoban::store::Store::connect(&s.config.database_url())
            .await
            .unwrap();
        let id = xiaoban::store::SessionId::parse(&session).unwrap();
        assert_eq!(store.transcript(&id).await.unwrap().len(), 2);
        // A new conversation works.
        let r = chat(&c, url.clone(), json!({"question": ANSWERED}), None).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(rejections(&c, &s.base, "conversation_size").await, 3);
        s.stop().await;

        // The character cap: one long turn fills a small budget.
        let data = tempfile::tempdir().unwrap();
        let mut cfg = config(data.path(), None, None);
        cfg.limits.max_conversation_chars = 200;
        let s = start_with(cfg, data).await;
        let url = s.url("/api/v1/chat");
        let first: Value = chat(&c, url.clone(), json!({"question": ANSWERED}), None)
            .await
            .json()
            .await
            .unwrap();
        assert!(first["answer"].as_str().unwrap().chars().count() > 200);
        let next = json!({"question": "需带哪些证件", "session_id": first["session_id"]});
        let r = chat(&c, url, next, None).await;
        common::problem(r, StatusCode::PAYLOAD_TOO_LARGE, "conversation-full").await;
        s.stop().await;
    }
}

/// Holds every generation until the test lets one go.
struct Gated {
    gate: Mutex<Receiver<()>>,
}

impl Generator for Gated {
    fn generate(
        &self,
        _messages: &[ChatMessage],
        _params: &GenerationParams,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> anyhow::Result<Generation> {
        on_text("正在");
        self.gate
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(30))?;
        Ok(Generation {
            text: "正在".into(),
            prompt_tokens: 1,
            generated_tokens: 1,
            stop: StopReason::EndToken,
            first_token: Some(Duration::ZERO),
        })
    }

    fn describe(&self) -> String {
        "gated".into()
    }
}

async fn gated_server(set: impl FnOnce(&mut Config)) -> (common::TestServer, Sender<()>) {
    let data = tempfile::tempdir().unwrap();
    let cfg = limited(data.path(), |c| {
        c.generation.backend = Backend::Candle;
        c.generation.concurrency = 4;
        set(c);
    });
    let (tx, rx) = channel();
    let generator = Arc::new(Gated {
        gate: Mutex::new(rx),
    });
    (start_with_generator(cfg, data, generator).await, tx)
}

/// Opens a stream and waits until it has started (its first event arrived).
async fn open_stream(
    c: &reqwest::Client,
    s: &common::TestServer,
    forwarded: &str,
) -> reqwest::Response {
    let mut r = chat(
        c,
        s.url("/api/v1/chat/stream"),
        json!({"question": ANSWERED}),
        Some(forwarded),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let first = r.chunk().await.unwrap().expect("a first event");
    assert!(!first.is_empty());
    r
}

#[tokio::test]
async fn concurrent_streams_are_capped_per_address_and_in_all() {
    let (s, gate) = gated_server(|c| {
        c.limits.max_streams = 3;
        c.limits.max_streams_per_address = 2;
        c.limits.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let c = client();
    let a1 = open_stream(&c, &s, "198.51.100.1").await;
    let _a2 = open_stream(&c, &s, "198.51.100.1").await;
    let r = chat(
        &c,
        s.url("/api/v1/chat/stream"),
        json!({"question": ANSWERED}),
        Some("198.51.100.1"),
    )
    .await;
    let wait = common::problem(r, StatusCode::SERVICE_UNAVAILABLE, "too-many-streams").await;
    assert!(wait.is_some_and(|w| w > 0));
    assert_eq!(rejections(&c, &s.base, "streams_per_address").await, 1);
    // The plain chat route is not a stream.
    let r = chat(
        &c,
        s.url("/api/v1/chat"),
        json!({"question": "12345热线能办什么"}),
        Some("198.51.100.1"),
    )
    .await;
    assert_ne!(r.status(), StatusCode::SERVICE_UNAVAILABLE);

    let _b1 = open_stream(&c, &s, "198.51.100.2").await;
    let r = chat(
        &c,
        s.url("/api/v1/chat/stream"),
        json!({"question": ANSWERED}),
        Some("198.51.100.3"),
    )
    .await;
    common::problem(r, StatusCode::SERVICE_UNAVAILABLE, "too-many-streams").await;
    assert_eq!(rejections(&c, &s.base, "streams").await, 1);

    // A stream that ends gives its place back.
    gate.send(()).unwrap();
    let mut freed = false;
    for _ in 0..100 {
        let r = chat(
            &c,
            s.url("/api/v1/chat/stream"),
            json!({"question": ANSWERED}),
            Some("198.51.100.3"),
        )
        .await;
        if r.status() == StatusCode::OK {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(freed, "the slot of the finished stream was given back");
    drop(a1);
    for _ in 0..8 {
        let _ = gate.send(());
    }
    s.stop().await;
}

/// Reads every image as a document with nothing in it.
struct Blank;

impl DocumentReader for Blank {
    fn read(&self, _: &[u8], _: Option<&[u8]>, _: NaiveDate) -> Result<Report, ReadError> {
        Ok(report(json!({
            "document_type": "unknown", "fields": {}, "checks": [], "warnings": [],
            "verdict": "review", "reasons": [], "prefill": {}
        })))
    }
}

#[tokio::test]
async fn uploads_per_account_are_rate_limited() {
    let data = tempfile::tempdir().unwrap();
    let cfg = limited(data.path(), |c| {
        c.limits.uploads_per_minute_per_account = 1;
        c.limits.upload_burst_per_account = 3;
    });
    let s = start_with_reader(cfg, data, Some(Arc::new(Blank))).await;
    let store = xiaoban::store::Store::connect(&s.config.database_url())
        .await
        .unwrap();
    let accounts = Accounts::new(store);
    for name in ["clerk-a", "clerk-b"] {
        accounts
            .add_user(name, Role::Clerk, "correct horse battery")
            .await
            .unwrap();
    }
    let c = client();
    let token = |name: &'static str| {
        let c = c.clone();
        let url = s.url("/api/v1/auth/login");
        async move {
            let v: Value = c
                .post(url)
                .json(&json!({"username": name, "password": "correct horse battery"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["token"].as_str().unwrap().to_string()
        }
    };
    let (a, b) = (token("clerk-a").await, token("clerk-b").await);
    let png = || {
        let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
        v.extend_from_slice(b"scripted");
        reqwest::multipart::Part::bytes(v).file_name("x.png")
    };
    let batch = |token: String, n: usize| {
        let c = c.clone();
        let url = s.url("/api/v1/verify/batch");
        let mut form = reqwest::multipart::Form::new();
        for i in 0..n {
            form = form.part(format!("image{i}"), png());
        }
        async move {
            c.post(url)
                .bearer_auth(token)
                .multipart(form)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(batch(a.clone(), 3).await.status(), StatusCode::ACCEPTED);
    let r = batch(a.clone(), 1).await;
    common::problem(r, StatusCode::TOO_MANY_REQUESTS, "too-many-uploads")
        .await
        .expect("Retry-After");
    let r = c
        .post(s.url("/api/v1/verify"))
        .bearer_auth(&a)
        .multipart(reqwest::multipart::Form::new().part("image", png()))
        .send()
        .await
        .unwrap();
    common::problem(r, StatusCode::TOO_MANY_REQUESTS, "too-many-uploads").await;
    // Another clerk has a bucket of their own; a batch larger than the burst never passes.
    assert_eq!(batch(b.clone(), 1).await.status(), StatusCode::ACCEPTED);
    let r = batch(b, 4).await;
    common::problem(r, StatusCode::TOO_MANY_REQUESTS, "too-many-uploads").await;
    assert_eq!(rejections(&c, &s.base, "upload_rate").await, 3);
    s.stop().await;
}

/// A scripted reader's report, from the JSON a stored report has.
fn report(v: Value) -> Report {
    serde_json::from_value(v).expect("a report")
}
