//! Generated answers end to end over HTTP: grounding checks with a scripted backend (a faithful
//! answer, an invented fee, a bad citation, no citation), the queue and cancellation, the tiny
//! random Qwen2 model through the real candle path, the OpenAI-compatible remote backend against
//! a local server, and a server without any model.

use crate::common;
use crate::common_llm;

use common::{client, config, repo, start_with, start_with_generator};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use xiaoban::config::{Backend, Config};
use xiaoban::llm::{ChatMessage, Generation, GenerationParams, Generator, StopReason};

/// The first line of source [1] in the grounded prompt.
fn first_source_line(prompt: &str) -> String {
    let start = prompt.find("[1] ").expect("source 1 in the prompt");
    let rest = &prompt[start..];
    let body = &rest[rest.find('\n').expect("source heading ends") + 1..];
    body.lines().next().unwrap_or_default().trim().to_string()
}

#[derive(Clone, Copy, Debug)]
enum Script {
    /// Repeats the first line of source 1 and cites it.
    Faithful,
    /// Adds a fee no passage states.
    InventedFee,
    /// Cites a source that was not given.
    BadCitation,
    /// Cites nothing.
    NoCitation,
}

struct Scripted {
    script: Script,
    calls: AtomicUsize,
    /// When set, each generation waits for a message before answering.
    gate: Option<Mutex<std::sync::mpsc::Receiver<()>>>,
}

impl Scripted {
    fn new(script: Script) -> Arc<Scripted> {
        Arc::new(Scripted {
            script,
            calls: AtomicUsize::new(0),
            gate: None,
        })
    }
}

fn stream_out(text: &str, on_text: &mut dyn FnMut(&str) -> bool) -> Generation {
    let chars: Vec<char> = text.chars().collect();
    let mut stop = StopReason::EndToken;
    for piece in chars.chunks(3) {
        if !on_text(&piece.iter().collect::<String>()) {
            stop = StopReason::Cancelled;
            break;
        }
    }
    Generation {
        text: text.to_string(),
        prompt_tokens: 100,
        generated_tokens: chars.len().div_ceil(3),
        stop,
        first_token: Some(Duration::from_millis(5)),
    }
}

impl Generator for Scripted {
    fn generate(
        &self,
        messages: &[ChatMessage],
        _params: &GenerationParams,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> anyhow::Result<Generation> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.lock().unwrap().recv()?;
        }
        let line = first_source_line(&messages[1].content);
        let text = match self.script {
            Script::Faithful => format!("{line}[1]"),
            Script::InventedFee => format!("{line}[1]另需缴纳加急费999元[1]。"),
            Script::BadCitation => format!("{line}[9]"),
            Script::NoCitation => line,
        };
        Ok(stream_out(&text, on_text))
    }

    fn describe(&self) -> String {
        format!("scripted {:?}", self.script)
    }
}

/// Emits a character every 10 ms until told to stop.
struct Endless {
    cancelled: AtomicBool,
}

impl Generator for Endless {
    fn generate(
        &self,
        _messages: &[ChatMessage],
        params: &GenerationParams,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> anyhow::Result<Generation> {
        let mut n = 0;
        while Instant::now() < params.deadline {
            n += 1;
            if !on_text("办") {
                self.cancelled.store(true, Ordering::SeqCst);
                return Ok(Generation {
                    text: "办".repeat(n),
                    prompt_tokens: 1,
                    generated_tokens: n,
                    stop: StopReason::Cancelled,
                    first_token: Some(Duration::ZERO),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        anyhow::bail!("the test deadline passed without a cancellation")
    }

    fn describe(&self) -> String {
        "scripted endless".into()
    }
}

fn test_config(data: &std::path::Path) -> Config {
    let mut c = config(data, None, None);
    c.generation.backend = Backend::Auto;
    c.generation.concurrency = 1;
    c
}

/// A server-sent events reader over a streaming response.
struct Events {
    resp: reqwest::Response,
    buf: String,
}

impl Events {
    fn new(resp: reqwest::Response) -> Events {
        assert_eq!(resp.status(), 200);
        Events {
            resp,
            buf: String::new(),
        }
    }

    async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // keep-alive comment
                }
                return Some((name, serde_json::from_str(&data).expect("JSON data")));
            }
            let chunk = self.resp.chunk().await.expect("stream readable")?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    async fn all(mut self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        while let Some(e) = self.next().await {
            let done = e.0 == "done" || e.0 == "error";
            out.push(e);
            if done {
                break;
            }
        }
        out
    }
}

async fn stream(c: &reqwest::Client, url: String, question: &str) -> Events {
    Events::new(
        c.post(url)
            .json(&json!({ "question": question }))
            .send()
            .await
            .unwrap(),
    )
}

async fn get_json(c: &reqwest::Client, url: String) -> Value {
    c.get(url).send().await.unwrap().json().await.unwrap()
}

async fn post_json(c: &reqwest::Client, url: String, body: Value) -> Value {
    c.post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn faithful_answers_are_kept_with_their_citations_and_only_answers_are_generated() {
    let data = tempfile::tempdir().unwrap();
    let cfg = test_config(data.path());
    let script = Scripted::new(Script::Faithful);
    let s = start_with_generator(cfg, data, script.clone()).await;
    let c = client();
    let v: Value = post_json(
        &c,
        s.url("/api/v1/chat"),
        json!({"question": "身份证到期换领怎么办理"}),
    )
    .await;
    assert_eq!(v["outcome"], "answered");
    assert_eq!(v["mode"], "generative", "{v}");
    assert!(v["answer"].as_str().unwrap().ends_with("[1]"), "{v}");
    assert_eq!(v["citations"][0]["doc_id"], "id-card-renewal");
    assert_eq!(script.calls.load(Ordering::SeqCst), 1);
    // DOMAIN.md: clarifying questions, handoffs and refusals are never written by the model;
    // issue 3: "When retrieval finds nothing relevant the model is not called at all."
    for (q, outcome) in [
        ("帮我转人工", "handoff"),
        ("量子计算机的原理是什么", "out_of_scope"),
        ("想办个手续", "clarify"),
    ] {
        let v: Value = post_json(&c, s.url("/api/v1/chat"), json!({ "question": q })).await;
        assert_eq!(v["outcome"], outcome, "{q}: {v}");
        assert_eq!(v["mode"], "extractive");
    }
    assert_eq!(
        script.calls.load(Ordering::SeqCst),
        1,
        "the model was not called"
    );
    // Streamed: the deltas add up to the kept answer.
    let events = stream(&c, s.url("/api/v1/chat/stream"), "身份证到期换领怎么办理")
        .await
        .all()
        .await;
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "delta")
        .map(|(_, v)| v["text"].as_str().unwrap())
        .collect();
    let (name, done) = events.last().unwrap();
    assert_eq!(name, "done");
    assert_eq!(done["mode"], "generative");
    assert_eq!(done["answer"].as_str().unwrap(), text);
    assert!(!events.iter().any(|(n, _)| n == "replace"));
    let h: Value = get_json(&c, s.url("/healthz")).await;
    assert_eq!(h["answer_mode"], "generative");
    assert_eq!(h["generation"]["available"], true);
    let m = common::metrics(&c, &s.url("/metrics")).await;
    assert!(
        m.contains("xiaoban_chat_replies_total{outcome=\"answered\",mode=\"generative\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("xiaoban_generation_first_token_seconds_count 2"),
        "{m}"
    );
    assert!(!m.contains("xiaoban_generation_fallbacks_total{"), "{m}");
    s.stop().await;
}

#[tokio::test]
async fn answers_that_fail_the_checks_are_replaced_by_the_extractive_answer() {
    // Issue 3: every cited number must exist; every figure must appear in a cited passage; an
    // answer that cites nothing is replaced; fallbacks are counted by reason.
    for (script, reason) in [
        (Script::InventedFee, "unsupported_figure"),
        (Script::BadCitation, "unknown_citation"),
        (Script::NoCitation, "no_citation"),
    ] {
        let data = tempfile::tempdir().unwrap();
        let s = start_with_generator(test_config(data.path()), data, Scripted::new(script)).await;
        let c = client();
        let events = stream(&c, s.url("/api/v1/chat/stream"), "身份证到期换领怎么办理")
            .await
            .all()
            .await;
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        let first_replace = names.iter().position(|n| *n == "replace");
        assert!(
            names.first() == Some(&"delta") && first_replace.is_some(),
            "{script:?}: the model's text streamed, then was withdrawn: {names:?}"
        );
        let replaced = &events[first_replace.unwrap()].1["text"];
        let done = &events.last().unwrap().1;
        assert_eq!(done["mode"], "extractive", "{script:?}");
        assert_eq!(&done["answer"], replaced);
        assert!(
            done["answer"].as_str().unwrap().contains("居民身份证换领"),
            "{done}"
        );
        assert!(!done["answer"].as_str().unwrap().contains("999"));
        // The non-streamed API gives the same verdict.
        let v: Value = post_json(
            &c,
            s.url("/api/v1/chat"),
            json!({"question": "身份证到期换领怎么办理"}),
        )
        .await;
        assert_eq!(v["mode"], "extractive");
        let m = common::metrics(&c, &s.url("/metrics")).await;
        assert!(
            m.contains(&format!(
                "xiaoban_generation_fallbacks_total{{reason=\"{reason}\"}} 2"
            )),
            "{script:?}: {m}"
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn a_full_queue_refuses_with_retry_after_and_waiters_learn_their_position() {
    let data = tempfile::tempdir().unwrap();
    let mut cfg = test_config(data.path());
    cfg.generation.concurrency = 1;
    cfg.generation.queue = 1;
    let (open, gate) = std::sync::mpsc::channel();
    let script = Arc::new(Scripted {
        script: Script::Faithful,
        calls: AtomicUsize::new(0),
        gate: Some(Mutex::new(gate)),
    });
    let s = start_with_generator(cfg, data, script.clone()).await;
    let c = client();
    let first = tokio::spawn({
        let c = c.clone();
        let url = s.url("/api/v1/chat/stream");
        async move { stream(&c, url, "身份证到期换领怎么办理").await.all().await }
    });
    let waited = Instant::now();
    while script.calls.load(Ordering::SeqCst) == 0 {
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "first generation never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut second = stream(&c, s.url("/api/v1/chat/stream"), "社保卡弄丢了如何补领").await;
    assert_eq!(
        second.next().await,
        Some(("queue".to_string(), json!({"position": 0})))
    );
    // Beyond the queue: 503 with Retry-After, as a problem report.
    let r = c
        .post(s.url("/api/v1/chat"))
        .json(&json!({"question": "护照遗失了如何补领"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("retry-after").is_some());
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "/problems/busy");
    assert!(p["detail"].as_str().unwrap().contains("12345"));
    // Questions the model does not write are not queued.
    let r = c
        .post(s.url("/api/v1/chat"))
        .json(&json!({"question": "帮我转人工"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h: Value = get_json(&c, s.url("/healthz")).await;
    assert_eq!(h["generation_queue"], 1);
    open.send(()).unwrap();
    open.send(()).unwrap();
    let first = first.await.unwrap();
    assert_eq!(first.last().unwrap().1["mode"], "generative");
    let rest = second.all().await;
    assert_eq!(rest.last().unwrap().0, "done");
    assert_eq!(rest.last().unwrap().1["mode"], "generative");
    let m = common::metrics(&c, &s.url("/metrics")).await;
    assert!(m.contains("xiaoban_generation_refused_total 1"), "{m}");
    assert!(
        m.contains("xiaoban_generation_queue_seconds_count 2"),
        "{m}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_its_generation() {
    let data = tempfile::tempdir().unwrap();
    let endless = Arc::new(Endless {
        cancelled: AtomicBool::new(false),
    });
    let s = start_with_generator(test_config(data.path()), data, endless.clone()).await;
    let c = client();
    let mut events = stream(&c, s.url("/api/v1/chat/stream"), "身份证到期换领怎么办理").await;
    assert_eq!(events.next().await.unwrap().0, "delta");
    drop(events);
    let waited = Instant::now();
    loop {
        let m = common::metrics(&c, &s.url("/metrics")).await;
        if endless.cancelled.load(Ordering::SeqCst)
            && m.contains("xiaoban_generation_fallbacks_total{reason=\"cancelled\"} 1")
        {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "generation went on after the client left: {m}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.stop().await;
}

#[tokio::test]
async fn a_shutdown_deadline_ends_an_open_stream_with_an_error_event_saying_so() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.shutdown_deadline_secs = 1;
    let endless = Arc::new(Endless {
        cancelled: AtomicBool::new(false),
    });
    let s = start_with_generator(config, data, endless.clone()).await;
    let c = client();
    let mut events = stream(&c, s.url("/api/v1/chat/stream"), "身份证到期换领怎么办理").await;
    assert_eq!(events.next().await.unwrap().0, "delta");
    let stopping = Instant::now();
    let stopped = tokio::spawn(s.stop());
    // The model writes on past the deadline; the stream must not.
    let rest = tokio::time::timeout(Duration::from_secs(15), async {
        let mut rest = Vec::new();
        while let Some(e) = events.next().await {
            rest.push(e);
        }
        rest
    })
    .await
    .expect("the stream ended after the shutdown deadline");
    let (name, problem) = rest.last().expect("a last event");
    assert_eq!(
        name, "error",
        "the stream ends with an error event: {rest:?}"
    );
    assert_eq!(problem["type"], "/problems/shutting-down", "{problem}");
    assert_eq!(problem["status"], 503);
    assert!(
        problem["detail"].as_str().unwrap().contains("重新提问"),
        "tells the citizen to ask again: {problem}"
    );
    assert!(
        rest[..rest.len() - 1].iter().all(|(n, _)| n == "delta"),
        "only text before it: {rest:?}"
    );
    assert!(
        stopping.elapsed() >= Duration::from_secs(1),
        "cut at the deadline, not before"
    );
    stopped.await.unwrap();
    let waited = Instant::now();
    while !endless.cancelled.load(Ordering::SeqCst) {
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "the model stops writing for a stream that was cut"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_tiny_candle_model_streams_through_the_api() {
    let data = tempfile::tempdir().unwrap();
    let (gguf, tokenizer) = common_llm::make_tiny_gguf(
        &data.path().join("model"),
        common_llm::Variant::Normal,
        4096,
    );
    let mut cfg = test_config(data.path());
    cfg.generation.backend = Backend::Candle;
    cfg.generation.max_tokens = 12;
    cfg.model = Some(gguf);
    cfg.tokenizer = Some(tokenizer);
    let s = start_with(cfg, data).await;
    let c = client();
    let h: Value = get_json(&c, s.url("/healthz")).await;
    assert_eq!(h["generation"]["available"], true, "{h}");
    assert!(
        h["generation"]["model"]
            .as_str()
            .unwrap()
            .starts_with("candle gguf"),
        "{h}"
    );
    let events = stream(&c, s.url("/api/v1/chat/stream"), "身份证到期换领怎么办理")
        .await
        .all()
        .await;
    let deltas = events.iter().take_while(|(n, _)| n == "delta").count();
    assert!(deltas >= 1, "the model's tokens streamed: {events:?}");
    // Random weights never cite: the budget runs out and the extractive answer replaces it.
    assert!(events.iter().any(|(n, _)| n == "replace"), "{events:?}");
    let done = &events.last().unwrap().1;
    assert_eq!(done["mode"], "extractive");
    let m = common::metrics(&c, &s.url("/metrics")).await;
    assert!(
        m.contains("xiaoban_generation_fallbacks_total{reason=\"incomplete\"} 1"),
        "{m}"
    );
    assert!(m.contains("xiaoban_generation_tokens_total 12"), "{m}");
    assert!(
        m.contains("xiaoban_generation_first_token_seconds_count 1"),
        "{m}"
    );
    s.stop().await;
}

#[tokio::test]
async fn without_a_model_the_server_answers_extractively_and_says_how_to_fetch_one() {
    let data = tempfile::tempdir().unwrap();
    let models = data.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::copy(
        repo().join("models/manifest.toml"),
        models.join("manifest.toml"),
    )
    .unwrap();
    let mut cfg = test_config(data.path());
    cfg.models_dir = models;
    let s = start_with(cfg, data).await;
    let c = client();
    let h: Value = get_json(&c, s.url("/healthz")).await;
    assert_eq!(h["status"], "ok");
    assert_eq!(h["answer_mode"], "extractive");
    assert_eq!(h["generation"]["available"], false);
    assert!(
        h["generation"]["hint"]
            .as_str()
            .unwrap()
            .contains("xiaoban models fetch qwen2.5-0.5b-instruct"),
        "{h}"
    );
    let v: Value = post_json(
        &c,
        s.url("/api/v1/chat"),
        json!({"question": "身份证到期换领怎么办理"}),
    )
    .await;
    assert_eq!(
        (v["outcome"].as_str(), v["mode"].as_str()),
        (Some("answered"), Some("extractive"))
    );
    s.stop().await;
}

/// A minimal OpenAI-compatible chat-completions server: refuses the first request with 503,
/// then streams a faithful answer built from the prompt it is sent.
async fn fake_openai_server() -> (String, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    let hits = Arc::new(AtomicUsize::new(0));
    let auth = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post({
            let hits = hits.clone();
            let auth = auth.clone();
            move |headers: HeaderMap, axum::Json(body): axum::Json<Value>| async move {
                let n = hits.fetch_add(1, Ordering::SeqCst);
                auth.lock().unwrap().push(
                    headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string(),
                );
                if n == 0 {
                    return (StatusCode::SERVICE_UNAVAILABLE, "warming up").into_response();
                }
                assert_eq!(body["stream"], true);
                let prompt = body["messages"][1]["content"].as_str().unwrap();
                let answer = format!("{}[1]", first_source_line(prompt));
                let mut sse = String::new();
                for piece in answer.chars().collect::<Vec<_>>().chunks(4) {
                    let piece: String = piece.iter().collect();
                    sse.push_str(&format!(
                        "data: {}\n\n",
                        json!({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]})
                    ));
                }
                sse.push_str(&format!(
                    "data: {}\n\ndata: [DONE]\n\n",
                    json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                ));
                ([("content-type", "text/event-stream")], sse).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1"), hits, auth)
}

#[tokio::test]
async fn the_remote_backend_streams_from_an_openai_compatible_server() {
    let (url, hits, auth) = fake_openai_server().await;
    let data = tempfile::tempdir().unwrap();
    let mut cfg = test_config(data.path());
    cfg.generation.backend = Backend::Remote;
    cfg.generation.remote_url = url;
    cfg.generation.remote_key = "sekrit".into();
    cfg.generation.remote_retries = 2;
    let s = start_with(cfg, data).await;
    let c = client();
    let h: Value = get_json(&c, s.url("/healthz")).await;
    assert_eq!(h["generation"]["backend"], "remote", "{h}");
    let events = stream(&c, s.url("/api/v1/chat/stream"), "身份证到期换领怎么办理")
        .await
        .all()
        .await;
    let done = &events.last().unwrap().1;
    assert_eq!(done["mode"], "generative", "{events:?}");
    assert_eq!(done["citations"][0]["doc_id"], "id-card-renewal");
    assert!(events.iter().filter(|(n, _)| n == "delta").count() > 1);
    assert_eq!(hits.load(Ordering::SeqCst), 2, "one retry after the 503");
    assert!(auth.lock().unwrap().iter().all(|a| a == "Bearer sekrit"));
    s.stop().await;
}

#[test]
fn xiaoban_ask_streams_with_a_local_model() {
    let dir = tempfile::tempdir().unwrap();
    let (gguf, tokenizer) =
        common_llm::make_tiny_gguf(&dir.path().join("model"), common_llm::Variant::Normal, 4096);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xiaoban"))
        .current_dir(dir.path())
        .args(["ask", "身份证到期换领怎么办理", "--kb"])
        .arg(repo().join("knowledge_base"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--model")
        .arg(&gguf)
        .arg("--tokenizer")
        .arg(&tokenizer)
        .env("XIAOBAN_GENERATION__MAX_TOKENS", "8")
        .env_remove("XIAOBAN_MODEL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The random model's text is shown, withdrawn, and the extractive answer printed.
    assert!(stdout.contains("以上生成内容未通过核对"), "{stdout}");
    assert!(stdout.contains("关于“居民身份证换领”"), "{stdout}");
    assert!(stdout.contains("摘录原文；会话"), "{stdout}");
}

#[test]
fn the_evaluation_reports_kept_answers_and_citation_correctness() {
    // Issue 3: `xiaoban eval` reports, for generative mode, the share of answers kept versus
    // replaced by the checks, and citation correctness.
    let data = tempfile::tempdir().unwrap();
    xiaoban::search::build(&repo().join("knowledge_base"), data.path()).unwrap();
    let index = xiaoban::search::KnowledgeIndex::open_current(data.path()).unwrap();
    let cases: Vec<_> =
        xiaoban::measure::answers::load_cases(&repo().join("tests/eval/tuning.jsonl"))
            .unwrap()
            .into_iter()
            .filter(|(_, c)| c.conversation.is_none())
            .take(40)
            .collect();
    let params = || GenerationParams {
        max_tokens: 64,
        temperature: 0.0,
        top_p: None,
        repeat_penalty: 1.0,
        repeat_last_n: 64,
        seed: 1,
        deadline: Instant::now() + Duration::from_secs(30),
    };
    let tuning = xiaoban::answer::Tuning::default();
    let run = |script: Script| {
        let g = Scripted::new(script);
        let generating = xiaoban::measure::answers::Generating {
            generator: g.as_ref(),
            params: &params,
        };
        let s = xiaoban::measure::answers::run(&index, &tuning, &cases, Some(&generating), || {})
            .unwrap();
        (
            s.generation.unwrap(),
            g.calls.load(Ordering::SeqCst),
            s.hit1,
        )
    };
    let (faithful, calls, hit1) = run(Script::Faithful);
    assert!(faithful.attempted >= 10, "{faithful:?}");
    assert_eq!(faithful.attempted, calls);
    assert_eq!(faithful.kept, faithful.attempted, "{faithful:?}");
    assert_eq!(faithful.kept_share, 1.0);
    // A faithful answer cites source 1, a passage of the chosen document: citations are right
    // exactly when retrieval was.
    assert!(faithful.citation_correctness >= hit1 - 0.1, "{faithful:?}");
    assert!(faithful.citation_correctness > 0.8, "{faithful:?}");
    let (invented, _, _) = run(Script::InventedFee);
    assert_eq!(invented.kept, 0);
    assert_eq!(
        invented.replaced.get("unsupported_figure"),
        Some(&invented.attempted),
        "{invented:?}"
    );
}
