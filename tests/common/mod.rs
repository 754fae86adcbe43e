//! A test kit that boots the real server on a random port with a fresh data folder.
#![allow(dead_code)]

use std::path::PathBuf;
use tokio::sync::oneshot;
use xiaoban::config::{Config, Overrides};

pub struct TestServer {
    pub base: String,
    pub data: tempfile::TempDir,
    pub config: Config,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task").expect("server ran");
        }
    }
}

/// The database URLs to run against: SQLite always, PostgreSQL when
/// `XIAOBAN_TEST_POSTGRES_URL` is set. In CI PostgreSQL is required.
pub fn databases() -> Vec<Option<String>> {
    let mut out = vec![None];
    match std::env::var("XIAOBAN_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => out.push(Some(url)),
        _ if std::env::var("CI").is_ok_and(|v| !v.is_empty()) => {
            panic!(
                "CI is set but XIAOBAN_TEST_POSTGRES_URL is not: the suite must also run on PostgreSQL"
            )
        }
        _ => {}
    }
    out
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn config(data: &std::path::Path, kb: Option<PathBuf>, database_url: Option<String>) -> Config {
    let mut c = Config::load(
        Some(&repo().join("tests/fixtures/test.toml")),
        &Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(data.to_path_buf()),
            kb_dir: Some(kb.unwrap_or_else(|| repo().join("knowledge_base"))),
            database_url,
            model: None,
            tokenizer: None,
        },
    )
    .expect("test config");
    c.conversation_retention_days = 90;
    c
}

pub async fn start_with(config: Config, data: tempfile::TempDir) -> TestServer {
    let server = xiaoban::server::bind(config.clone())
        .await
        .expect("server starts");
    run(server, config, data)
}

/// Starts a server whose answers are written by `generator` (a test's scripted backend).
pub async fn start_with_generator(
    config: Config,
    data: tempfile::TempDir,
    generator: std::sync::Arc<dyn xiaoban::llm::Generator>,
) -> TestServer {
    let engine = xiaoban::llm::engine::Engine::new(generator, config.generation.clone());
    let availability = engine.availability();
    let server = xiaoban::server::bind_with(config.clone(), (Some(engine), availability))
        .await
        .expect("server starts");
    run(server, config, data)
}

/// Starts a server whose documents are read by `reader` (a test's scripted reader); `None`
/// is a server without the OCR models.
pub async fn start_with_reader(
    config: Config,
    data: tempfile::TempDir,
    reader: Option<std::sync::Arc<dyn xiaoban::desk::DocumentReader>>,
) -> TestServer {
    let engine = tokio::task::spawn_blocking({
        let config = config.clone();
        move || xiaoban::llm::engine::from_config(&config)
    })
    .await
    .expect("engine");
    let availability = xiaoban::desk::Availability {
        available: reader.is_some(),
        hint: reader
            .is_none()
            .then(|| xiaoban::desk::FETCH_HINT.to_string()),
    };
    let server = xiaoban::server::bind_with_reader(config.clone(), engine, (reader, availability))
        .await
        .expect("server starts");
    run(server, config, data)
}

fn run(server: xiaoban::server::Server, config: Config, data: tempfile::TempDir) -> TestServer {
    let base = format!("http://{}", server.local_addr());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    TestServer {
        base,
        data,
        config,
        stop: Some(tx),
        task: Some(task),
    }
}

pub async fn start(database_url: Option<String>) -> TestServer {
    let data = tempfile::tempdir().expect("tempdir");
    let config = config(data.path(), None, database_url);
    start_with(config, data).await
}

/// A citizen's question (`{"question", "session_id"?}`) through `POST /api/v1/chat`, which must
/// answer 200; the reply.
pub async fn chat(
    http: &reqwest::Client,
    base: &str,
    body: &serde_json::Value,
) -> serde_json::Value {
    let r = http
        .post(format!("{base}/api/v1/chat"))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK, "chat");
    r.json().await.unwrap()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The metrics token of `tests/fixtures/test.toml`.
pub const METRICS_TOKEN: &str = "test-metrics-token";

/// The `/metrics` text at `url`, read with the test configuration's token.
pub async fn metrics(c: &reqwest::Client, url: &str) -> String {
    c.get(url)
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the series `series` (its name and labels as `/metrics` writes them) in
/// `text`, 0 when absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().expect("a number"))
}

/// Checks a refusal: its status, a problem report of kind `kind` with a title and a Chinese
/// detail; returns its Retry-After.
pub async fn problem(r: reqwest::Response, status: reqwest::StatusCode, kind: &str) -> Option<u64> {
    assert_eq!(r.status(), status);
    assert_eq!(
        r.headers()[reqwest::header::CONTENT_TYPE],
        "application/problem+json"
    );
    let retry = r
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().parse::<u64>().expect("seconds"));
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["type"], format!("/problems/{kind}"), "{p}");
    assert_eq!(p["status"], status.as_u16());
    assert!(!p["title"].as_str().unwrap().is_empty());
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .chars()
            .any(|c| c > '\u{2e80}'),
        "Chinese detail: {p}"
    );
    retry
}

/// A bearer token from `POST /api/v1/auth/login` of the server at `base`.
pub async fn api_token(c: &reqwest::Client, base: &str, name: &str, password: &str) -> String {
    let v: serde_json::Value = c
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": name, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["token"].as_str().expect("a token").to_string()
}

/// `POST /api/v1/chat` of the server at `base` with a new conversation's `question`; the
/// reply (200).
pub async fn ask(c: &reqwest::Client, base: &str, question: &str) -> serde_json::Value {
    chat(c, base, &serde_json::json!({ "question": question })).await
}
