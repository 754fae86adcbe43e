//! Language-model generation: prompt messages → a stream of text. Kept apart from answering
//! (passages → checked answer, in `answer::grounded`), so the in-process candle model, a remote
//! OpenAI-compatible server and a scripted test backend are interchangeable behind `Generator`.

pub mod candle;
pub mod engine;
pub mod qmatmul;
pub mod queue;
pub mod qwen2_gguf;
pub mod remote;

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

/// Sampling and limits for one generation.
#[derive(Debug, Clone)]
pub struct GenerationParams {
    /// Most tokens to generate (the per-request token budget).
    pub max_tokens: usize,
    /// 0 means greedy (argmax).
    pub temperature: f64,
    pub top_p: Option<f64>,
    /// 1.0 means none.
    pub repeat_penalty: f32,
    pub repeat_last_n: usize,
    pub seed: u64,
    /// Wall-clock limit: generation stops when this instant passes.
    pub deadline: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model produced one of its end tokens.
    EndToken,
    /// `max_tokens` reached.
    Length,
    /// `deadline` passed.
    Deadline,
    /// The caller's callback asked to stop (the client went away).
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct Generation {
    pub text: String,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    pub stop: StopReason,
    /// Time from the call to the first generated token.
    pub first_token: Option<Duration>,
}

/// Something that writes text from chat messages. `generate` blocks: call it from a worker
/// thread (`tokio::task::spawn_blocking`). `on_text` receives each new piece of text as it is
/// decoded and returns `false` to cancel.
pub trait Generator: Send + Sync {
    fn generate(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> anyhow::Result<Generation>;

    /// A short description for `/healthz` and logs, e.g. `candle gguf qwen2.5-0.5b-instruct-q4_0`.
    fn describe(&self) -> String;
}
