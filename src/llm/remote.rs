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
        let mut buf = String::new();
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
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(i) = buf.find('\n') {
                let line = buf[..i].trim().to_string();
                buf.drain(..=i);
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
