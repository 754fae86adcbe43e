//! A remote OpenAI-compatible chat-completions server (vLLM, llama.cpp server, a city's model
//! gateway) behind the same `Generator` interface, streamed, with timeouts and retries.

use super::{ChatMessage, Generation, GenerationParams, Generator, StopReason};
use anyhow::{Context, Result, bail};
use futures::StreamExt;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct RemoteGenerator {
    /// Base URL, e.g. `http://10.0.0.5:8000/v1`; `/chat/completions` is appended.
    pub url: String,
    pub api_key: Option<String>,
    pub model: String,
    pub connect_timeout: Duration,
    /// Attempts before the first token arrives (connection errors, 429 and 5xx).
    pub retries: u32,
}

impl RemoteGenerator {
    fn endpoint(&self) -> String {
        format!("{}/chat/completions", self.url.trim_end_matches('/'))
    }

    async fn run(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Generation> {
        let started = Instant::now();
        let client = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .build()?;
        let body = serde_json::json!({
            "model": self.model,
            "messages": messages.iter().map(|m| serde_json::json!({"role": m.role.as_str(), "content": m.content})).collect::<Vec<_>>(),
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p.unwrap_or(1.0),
            "frequency_penalty": (params.repeat_penalty - 1.0).clamp(0.0, 2.0),
            "seed": params.seed,
            "stream": true,
        });
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            let left = params.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Generation {
                    text: String::new(),
                    prompt_tokens: 0,
                    generated_tokens: 0,
                    stop: StopReason::Deadline,
                    first_token: None,
                });
            }
            let mut req = client.post(self.endpoint()).json(&body).timeout(left);
            if let Some(key) = &self.api_key {
                req = req.bearer_auth(key);
            }
            match req.send().await {
                Ok(r) if r.status().is_success() => break r,
                Ok(r)
                    if attempt <= self.retries
                        && (r.status().is_server_error() || r.status().as_u16() == 429) =>
                {
                    tracing::warn!(
                        status = r.status().as_u16(),
                        attempt,
                        "remote model busy; retrying"
                    );
                }
                Ok(r) => bail!("远程模型服务返回 {}", r.status()),
                Err(e) if attempt <= self.retries => {
                    tracing::warn!(error = %e, attempt, "remote model unreachable; retrying");
                }
                Err(e) => return Err(e).context("无法连接远程模型服务"),
            }
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
        };
        let mut text = String::new();
        let mut generated = 0;
        let mut prompt_tokens = 0;
        let mut first_token = None;
        let mut stop = StopReason::Length;
        // Bytes, not text: a chunk may end inside a character. Lines end at `\n`, a byte
        // that never occurs inside a UTF-8 sequence, so each whole line decodes whole.
        let mut buf: Vec<u8> = Vec::new();
        let mut stream = response.bytes_stream();
        'read: loop {
            let left = params.deadline.saturating_duration_since(Instant::now());
            let chunk = match tokio::time::timeout(left, stream.next()).await {
                Err(_) => {
                    stop = StopReason::Deadline;
                    break;
                }
                Ok(None) => break,
                Ok(Some(c)) => c.context("远程模型服务中断")?,
            };
            buf.extend_from_slice(&chunk);
            while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=i).collect();
                let line = String::from_utf8(line).context("远程模型返回了非 UTF-8 的数据")?;
                let line = line.trim();
                let Some(data) = line.strip_prefix("data:") else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    break 'read;
                }
                let v: serde_json::Value =
                    serde_json::from_str(data).context("远程模型返回了无法解析的数据")?;
                if let Some(u) = v["usage"]["prompt_tokens"].as_u64() {
                    prompt_tokens = u as usize;
                }
                let choice = &v["choices"][0];
                if let Some(piece) = choice["delta"]["content"].as_str()
                    && !piece.is_empty()
                {
                    first_token.get_or_insert_with(|| started.elapsed());
                    generated += 1;
                    text.push_str(piece);
                    if !on_text(piece) {
                        stop = StopReason::Cancelled;
                        break 'read;
                    }
                }
                match choice["finish_reason"].as_str() {
                    Some("stop") => stop = StopReason::EndToken,
                    Some("length") => stop = StopReason::Length,
                    _ => {}
                }
            }
        }
        Ok(Generation {
            text,
            prompt_tokens,
            generated_tokens: generated,
            stop,
            first_token,
        })
    }
}

impl Generator for RemoteGenerator {
    fn generate(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Generation> {
        tokio::runtime::Handle::current().block_on(self.run(messages, params, on_text))
    }

    fn describe(&self) -> String {
        format!("remote {} at {}", self.model, self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::Role;

    /// Serves one streamed completion whose body arrives in `chunks`, each its own write.
    async fn serve_chunks(chunks: Vec<Vec<u8>>) -> String {
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            axum::routing::post(move || {
                let chunks = chunks.clone();
                async move {
                    let body = futures::stream::iter(chunks).then(|c| async move {
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        Ok::<_, std::convert::Infallible>(c)
                    });
                    (
                        [("content-type", "text/event-stream")],
                        axum::body::Body::from_stream(body),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/v1")
    }

    #[tokio::test]
    async fn a_character_split_across_chunks_arrives_whole() {
        let event = |text: &str| {
            format!(
                "data: {}\n\n",
                serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
            )
        };
        let mut body = event("办理身份证").into_bytes();
        body.extend_from_slice(event("需要户口簿").as_bytes());
        body.extend_from_slice(b"data: [DONE]\n\n");
        // Cut inside 身 (three bytes) and inside 户, so no chunk ends on a character boundary.
        let first = body.windows(3).position(|w| w == "身".as_bytes()).unwrap() + 1;
        let second = body.windows(3).position(|w| w == "户".as_bytes()).unwrap() + 2;
        let chunks = vec![
            body[..first].to_vec(),
            body[first..second].to_vec(),
            body[second..].to_vec(),
        ];
        assert!(chunks.iter().all(|c| std::str::from_utf8(c).is_err()));
        let g = RemoteGenerator {
            url: serve_chunks(chunks).await,
            api_key: None,
            model: "test".into(),
            connect_timeout: Duration::from_secs(5),
            retries: 0,
        };
        let params = GenerationParams {
            max_tokens: 16,
            temperature: 0.0,
            top_p: None,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 1,
            deadline: Instant::now() + Duration::from_secs(20),
        };
        let mut pieces = Vec::new();
        let out = g
            .run(
                &[ChatMessage {
                    role: Role::User,
                    content: "问".into(),
                }],
                &params,
                &mut |p| {
                    pieces.push(p.to_string());
                    true
                },
            )
            .await
            .unwrap();
        assert_eq!(out.text, "办理身份证需要户口簿");
        assert_eq!(pieces, ["办理身份证", "需要户口簿"]);
        assert!(!out.text.contains('\u{FFFD}'));
    }
}
