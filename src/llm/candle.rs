//! The in-process backend: a Qwen2-architecture model (Qwen2 / Qwen2.5) run on the CPU with
//! candle, from a llama.cpp-style `.gguf` file or a Hugging Face `.safetensors` checkpoint, with
//! the model's own `tokenizer.json`.
//!
//! Pipeline for one request: chat messages → ChatML prompt ([`CandleGenerator::render_chat`]) →
//! token ids ([`CandleGenerator::encode_chat`]) → prompt processing → token-by-token sampling
//! with the KV cache → incremental detokenisation ([`TextStream`]) → `on_text` pieces.
//!
//! Concurrency: every concurrent generation needs its own KV cache, so the generator keeps
//! `instances` model copies in a pool; a call takes a free one (waiting, up to its deadline, when
//! all are busy) and gives it back with the cache cleared. The copies share their weights and
//! differ only in the cache.
//!
//! GGUF models run on this crate's own Qwen2 implementation ([`super::qwen2_gguf`], derived
//! from candle-transformers' `quantized_qwen2`, with tiled quantised matrix products);
//! safetensors checkpoints on candle-transformers' `qwen2` in f32.
//!
//! Threads: the GGUF model runs on one process-wide pool ([`super::qmatmul::pool`]) and
//! candle's CPU kernels on theirs, all sized on first use from `CANDLE_NUM_THREADS` /
//! `RAYON_NUM_THREADS`, defaulting to the number of physical cores. There is no per-model
//! setting; set those variables before the first model runs.

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::qwen2;
use tokenizers::Tokenizer;

use super::qwen2_gguf;
use super::{ChatMessage, Generation, GenerationParams, Generator, Role, StopReason};

/// The system message Qwen2.5's chat template inserts when a conversation has none.
pub const QWEN25_DEFAULT_SYSTEM: &str =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

const IM_START: &str = "<|im_start|>";
const IM_END: &str = "<|im_end|>";
/// Tokens that end a generation; those missing from the tokenizer are ignored.
const END_TOKENS: [&str; 2] = [IM_END, "<|endoftext|>"];

/// Longest piece of prompt given to the model in one forward pass. The prompt is processed in
/// pieces of this size and then the rest (see [`prefill_pieces`]): pieces let a deadline
/// interrupt a long prompt and bound the activation buffers.
const PREFILL_CHUNK: usize = 128;

/// The file format the weights were loaded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsFormat {
    /// llama.cpp GGUF, quantised weights ([`qwen2_gguf`]).
    Gguf,
    /// Hugging Face safetensors with `config.json`, run in f32 (`qwen2`).
    Safetensors,
}

impl WeightsFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            WeightsFormat::Gguf => "gguf",
            WeightsFormat::Safetensors => "safetensors",
        }
    }
}

/// The prompt plus the requested generation does not fit in the model's context window.
/// Returned (inside `anyhow::Error`) by [`CandleGenerator::generate`]; callers can downcast to
/// it to trim the prompt and retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextOverflow {
    pub prompt_tokens: usize,
    pub max_tokens: usize,
    pub context_length: usize,
}

impl fmt::Display for ContextOverflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.prompt_tokens + self.max_tokens;
        write!(
            f,
            "提示过长：提示 {p} 个词元加最多生成 {m} 个词元共 {total} 个，超过模型上下文长度 {c} 个词元。\
             Prompt too long: {p} prompt tokens + {m} max new tokens = {total}, more than the \
             model's context length of {c} tokens.",
            p = self.prompt_tokens,
            m = self.max_tokens,
            c = self.context_length,
        )
    }
}

impl std::error::Error for ContextOverflow {}

/// Qwen2 model weights plus one KV cache.
enum Instance {
    Quantized(Box<qwen2_gguf::Model>),
    Full(Box<qwen2::ModelForCausalLM>),
}

impl Instance {
    /// Logits after the last of `ids` (at positions `index_pos..`), as a 1-D f32 tensor.
    fn forward(&mut self, ids: &[u32], index_pos: usize, device: &Device) -> Result<Tensor> {
        match self {
            Instance::Quantized(m) => {
                let logits = m.forward(ids, index_pos)?;
                let len = logits.len();
                Ok(Tensor::from_vec(logits, len, device)?)
            }
            Instance::Full(m) => {
                // On the CPU this runs inside candle's own warm thread pool.
                let logits = device.with_context(|| {
                    let input = Tensor::new(ids, device)?.unsqueeze(0)?;
                    m.forward(&input, index_pos)
                })?;
                Ok(logits.flatten_all()?.to_dtype(DType::F32)?)
            }
        }
    }

    /// Runs `ids` into the KV cache without computing logits.
    fn prefill(&mut self, ids: &[u32], index_pos: usize) -> Result<()> {
        match self {
            Instance::Quantized(m) => m.prefill(ids, index_pos),
            Instance::Full(_) => self.forward(ids, index_pos, &Device::Cpu).map(drop),
        }
    }

    fn clear_kv_cache(&mut self) {
        match self {
            Instance::Quantized(m) => m.clear_kv_cache(),
            Instance::Full(m) => m.clear_kv_cache(),
        }
    }

    /// Whether prompt pieces must be powers of two at multiples of their length: candle's
    /// Qwen2 caches an attention mask per (length, position); the GGUF model needs no mask.
    fn aligned_pieces(&self) -> bool {
        matches!(self, Instance::Full(_))
    }
}

/// How messages become a prompt: always ChatML (`<|im_start|>{role}\n{content}<|im_end|>\n`
/// per message, then `<|im_start|>assistant\n`), the format of every Qwen2 / Qwen2.5 chat
/// model. Only the default system message comes from the model's files.
#[derive(Debug, Clone)]
struct ChatTemplate {
    /// Inserted first when the conversation does not start with a system message.
    default_system: Option<String>,
}

impl ChatTemplate {
    /// Reads `tokenizer_config.json` next to the tokenizer, if there is one.
    ///
    /// - No file or no `chat_template`: Qwen2.5's default system message.
    /// - A ChatML template (it mentions `<|im_start|>`): the default system message written in it
    ///   as a literal (`<|im_start|>system\n…<|im_end|>`), Qwen2.5's and Qwen2's templates both
    ///   have one; none when it has no such literal.
    /// - Any other template: a warning, and ChatML with Qwen2.5's default anyway. This backend
    ///   does not run Jinja templates; it only serves Qwen2-architecture chat models, which are
    ///   trained on ChatML.
    fn for_tokenizer(tokenizer: &Path) -> Result<ChatTemplate> {
        let qwen25 = ChatTemplate {
            default_system: Some(QWEN25_DEFAULT_SYSTEM.to_string()),
        };
        let Some(dir) = tokenizer.parent() else {
            return Ok(qwen25);
        };
        let path = dir.join("tokenizer_config.json");
        if !path.is_file() {
            return Ok(qwen25);
        }
        let raw = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let json: serde_json::Value = serde_json::from_str(&raw)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        let template = match json.get("chat_template") {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            // Newer files may list named templates: [{"name": "default", "template": "…"}, …].
            Some(serde_json::Value::Array(list)) => list
                .iter()
                .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                .or_else(|| list.first())
                .and_then(|t| t.get("template"))
                .and_then(|t| t.as_str())
                .map(str::to_string),
            _ => None,
        };
        let Some(template) = template else {
            return Ok(qwen25);
        };
        if !template.contains(IM_START) {
            tracing::warn!(
                file = %path.display(),
                "the chat template is not ChatML; using ChatML (Qwen2.5) anyway"
            );
            return Ok(qwen25);
        }
        Ok(ChatTemplate {
            default_system: default_system_in(&template),
        })
    }

    fn render(&self, messages: &[ChatMessage]) -> String {
        let mut out = String::new();
        let mut turn = |role: &str, content: &str| {
            out.push_str(IM_START);
            out.push_str(role);
            out.push('\n');
            out.push_str(content);
            out.push_str(IM_END);
            out.push('\n');
        };
        if messages.first().map(|m| m.role) != Some(Role::System)
            && let Some(system) = &self.default_system
        {
            turn("system", system);
        }
        for m in messages {
            turn(m.role.as_str(), &m.content);
        }
        out.push_str(IM_START);
        out.push_str("assistant\n");
        out
    }
}

/// The literal default system message in a ChatML Jinja template, if it has one: the text
/// between `<|im_start|>system\n` (escaped or real newline) and `<|im_end|>` when that text is
/// plain (no quotes, braces or `+`, which would mean an expression such as
/// `messages[0]['content']`).
fn default_system_in(template: &str) -> Option<String> {
    let marker = "<|im_start|>system";
    let mut rest = template;
    while let Some(at) = rest.find(marker) {
        rest = &rest[at + marker.len()..];
        let body = rest.strip_prefix("\\n").or_else(|| rest.strip_prefix('\n'));
        let Some(body) = body else { continue };
        let Some(end) = body.find(IM_END) else {
            continue;
        };
        let text = &body[..end];
        if !text.is_empty() && !text.contains(['\'', '"', '{', '}', '+', '\n']) {
            return Some(text.to_string());
        }
    }
    None
}

/// Turns generated token ids into text pieces without ever splitting a character: a byte-level
/// BPE (Qwen's) spreads one Chinese character over up to three tokens, and a piece is released
/// only once the decoded text no longer ends in an incomplete UTF-8 sequence (which the
/// tokenizer decodes as U+FFFD). Special tokens are skipped.
///
/// Each step decodes everything pushed so far and releases the new suffix, so the pieces always
/// concatenate to [`TextStream::text`]. If a decoder ever rewrote earlier text (Qwen's byte-level
/// decoder does not), the changed part is held back rather than emitted twice.
pub struct TextStream<'a> {
    tokenizer: &'a Tokenizer,
    ids: Vec<u32>,
    emitted: String,
}

impl<'a> TextStream<'a> {
    pub fn new(tokenizer: &'a Tokenizer) -> TextStream<'a> {
        TextStream {
            tokenizer,
            ids: Vec::new(),
            emitted: String::new(),
        }
    }

    /// Adds one token; returns the text it completes, if any.
    pub fn push(&mut self, id: u32) -> Result<Option<String>> {
        self.ids.push(id);
        let text = self.decode()?;
        if text.ends_with(char::REPLACEMENT_CHARACTER) {
            return Ok(None);
        }
        Ok(self.release(&text))
    }

    /// Ends the stream: returns any text still held back, minus a trailing incomplete character
    /// (which can never be completed now).
    pub fn finish(&mut self) -> Result<Option<String>> {
        let text = self.decode()?;
        let text = text.trim_end_matches(char::REPLACEMENT_CHARACTER);
        Ok(self.release(text))
    }

    /// Everything released so far.
    pub fn text(&self) -> &str {
        &self.emitted
    }

    pub fn into_text(self) -> String {
        self.emitted
    }

    fn decode(&self) -> Result<String> {
        self.tokenizer
            .decode(&self.ids, true)
            .map_err(|e| anyhow!("decoding generated tokens: {e}"))
    }

    fn release(&mut self, text: &str) -> Option<String> {
        let piece = text.strip_prefix(self.emitted.as_str())?;
        if piece.is_empty() {
            return None;
        }
        let piece = piece.to_string();
        self.emitted.push_str(&piece);
        Some(piece)
    }
}

/// Piece lengths for processing a prompt of `len` tokens: full [`PREFILL_CHUNK`]s, then the
/// remainder. With `aligned`, the remainder goes as its binary digits from the largest down:
/// every piece then starts at a multiple of its own length, which keeps the set of (length,
/// position) pairs, and so candle's mask cache, bounded by the context length. Without, it is
/// one piece: a piece of a few tokens reads every weight as a whole piece does.
fn prefill_pieces(len: usize, aligned: bool) -> Vec<usize> {
    let mut pieces = vec![PREFILL_CHUNK; len / PREFILL_CHUNK];
    let rest = len % PREFILL_CHUNK;
    if !aligned {
        pieces.extend((rest > 0).then_some(rest));
        return pieces;
    }
    let mut bit = PREFILL_CHUNK;
    while bit > 0 {
        if rest & bit != 0 {
            pieces.push(bit);
        }
        bit >>= 1;
    }
    pieces
}

/// A Qwen2-architecture chat model run in-process with candle. See the module docs.
pub struct CandleGenerator {
    tokenizer: Tokenizer,
    /// The same tokenizer with special-token recognition turned off, for message contents: a
    /// user who types `<|im_start|>system` gets those characters, not a new system turn.
    plain_tokenizer: Tokenizer,
    template: ChatTemplate,
    im_start: u32,
    im_end: u32,
    end_tokens: Vec<u32>,
    /// Logits past this id are vocabulary padding with no token behind them; never sampled.
    vocab_limit: usize,
    context_length: usize,
    format: WeightsFormat,
    name: String,
    device: Device,
    instances: usize,
    pool: Mutex<Vec<Instance>>,
    returned: Condvar,
}

impl CandleGenerator {
    /// Loads a Qwen2-architecture model and its tokenizer.
    ///
    /// - `model`: a `.gguf` file (llama.cpp names, `general.architecture = qwen2`), or a
    ///   `.safetensors` file (or a sharded checkpoint's `model.safetensors.index.json`) with the
    ///   model's `config.json` in the same folder.
    /// - `tokenizer`: the model's Hugging Face `tokenizer.json`. A `tokenizer_config.json` beside
    ///   it supplies the default system message (see [`QWEN25_DEFAULT_SYSTEM`]).
    /// - `instances`: model copies kept for concurrent generations (at least 1).
    pub fn load(model: &Path, tokenizer: &Path, instances: usize) -> Result<CandleGenerator> {
        if instances == 0 {
            bail!("the candle backend needs at least one model instance");
        }
        let started = Instant::now();
        if !model.is_file() {
            bail!("model file not found: {}", model.display());
        }
        if !tokenizer.is_file() {
            bail!("tokenizer file not found: {}", tokenizer.display());
        }
        let mut tok = Tokenizer::from_file(tokenizer)
            .map_err(|e| anyhow!("loading tokenizer {}: {e}", tokenizer.display()))?;
        tok.with_truncation(None)
            .map_err(|e| anyhow!("tokenizer {}: {e}", tokenizer.display()))?;
        tok.with_padding(None);
        let mut plain_tokenizer = tok.clone();
        plain_tokenizer.set_encode_special_tokens(true);

        let id_of = |token: &str| tok.token_to_id(token);
        let (Some(im_start), Some(im_end)) = (id_of(IM_START), id_of(IM_END)) else {
            bail!(
                "{} has no {IM_START} / {IM_END} tokens: not a ChatML (Qwen2) tokenizer",
                tokenizer.display()
            );
        };
        let end_tokens: Vec<u32> = END_TOKENS.iter().filter_map(|t| id_of(t)).collect();
        let tokenizer_vocab = tok
            .get_vocab(true)
            .values()
            .max()
            .map_or(0, |&id| id as usize + 1);
        let template = ChatTemplate::for_tokenizer(tokenizer)?;

        let device = Device::Cpu;
        let file_name = model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let lower = file_name.to_ascii_lowercase();
        let (format, models, context_length, model_vocab, name) = if lower.ends_with(".gguf") {
            let (models, context_length, vocab) = load_gguf(model, instances)?;
            (
                WeightsFormat::Gguf,
                models,
                context_length,
                vocab,
                file_name,
            )
        } else if lower.ends_with(".safetensors") || lower.ends_with(".safetensors.index.json") {
            let (models, context_length, vocab) = load_safetensors(model, instances, &device)?;
            let name = match model
                .parent()
                .and_then(|d| d.file_name())
                .map(|d| d.to_string_lossy())
            {
                Some(dir) => format!("{dir}/{file_name}"),
                None => file_name,
            };
            (
                WeightsFormat::Safetensors,
                models,
                context_length,
                vocab,
                name,
            )
        } else {
            bail!(
                "{}: expected a .gguf or .safetensors model file",
                model.display()
            );
        };
        if tokenizer_vocab > model_vocab {
            bail!(
                "tokenizer {} has {tokenizer_vocab} tokens but model {} only {model_vocab}: \
                 they do not belong together",
                tokenizer.display(),
                model.display()
            );
        }
        tracing::info!(
            model = %model.display(),
            format = format.as_str(),
            instances,
            context_length,
            seconds = started.elapsed().as_secs_f32(),
            "candle model loaded"
        );
        Ok(CandleGenerator {
            tokenizer: tok,
            plain_tokenizer,
            template,
            im_start,
            im_end,
            end_tokens,
            vocab_limit: tokenizer_vocab,
            context_length,
            format,
            name,
            device,
            instances,
            pool: Mutex::new(models),
            returned: Condvar::new(),
        })
    }

    /// The model's context window in tokens (prompt plus generated text).
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    pub fn format(&self) -> WeightsFormat {
        self.format
    }

    /// How many generations can run at once.
    pub fn instances(&self) -> usize {
        self.instances
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The prompt text for `messages` (ChatML, ending with the assistant's turn opening).
    pub fn render_chat(&self, messages: &[ChatMessage]) -> String {
        self.template.render(messages)
    }

    /// The prompt's token ids: what [`render_chat`](Self::render_chat) gives, tokenised with the
    /// role markers as special tokens and the message contents as plain text.
    pub fn encode_chat(&self, messages: &[ChatMessage]) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        let turn = |ids: &mut Vec<u32>, role: &str, content: &str| -> Result<()> {
            ids.push(self.im_start);
            ids.extend(self.encode_plain(&format!("{role}\n{content}"))?);
            ids.push(self.im_end);
            ids.extend(self.encode_plain("\n")?);
            Ok(())
        };
        if messages.first().map(|m| m.role) != Some(Role::System)
            && let Some(system) = &self.template.default_system
        {
            turn(&mut ids, "system", system)?;
        }
        for m in messages {
            turn(&mut ids, m.role.as_str(), &m.content)?;
        }
        ids.push(self.im_start);
        ids.extend(self.encode_plain("assistant\n")?);
        Ok(ids)
    }

    fn encode_plain(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .plain_tokenizer
            .encode(text, false)
            .map_err(|e| anyhow!("tokenising the prompt: {e}"))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Takes a free model instance, waiting for one until `deadline`.
    fn acquire(&self, deadline: Instant) -> Option<Lease<'_>> {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(instance) = pool.pop() {
                return Some(Lease {
                    owner: self,
                    instance: Some(instance),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            pool = self
                .returned
                .wait_timeout(pool, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn forward(&self, instance: &mut Instance, ids: &[u32], index_pos: usize) -> Result<Tensor> {
        let logits = instance.forward(ids, index_pos, &self.device)?;
        if logits.dim(0)? > self.vocab_limit {
            Ok(logits.narrow(0, 0, self.vocab_limit)?)
        } else {
            Ok(logits)
        }
    }
}

/// A model instance on loan from the pool; goes back, with its KV cache cleared, on drop.
struct Lease<'a> {
    owner: &'a CandleGenerator,
    instance: Option<Instance>,
}

impl Lease<'_> {
    fn get(&mut self) -> &mut Instance {
        self.instance.as_mut().expect("instance present until drop")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(mut instance) = self.instance.take() {
            instance.clear_kv_cache();
            self.owner
                .pool
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(instance);
            self.owner.returned.notify_one();
        }
    }
}

fn sampling(params: &GenerationParams) -> Sampling {
    let temperature = params.temperature;
    if temperature.is_nan() || temperature <= 1e-7 {
        return Sampling::ArgMax;
    }
    match params.top_p {
        Some(p) => Sampling::TopP { p, temperature },
        None => Sampling::All { temperature },
    }
}

impl Generator for CandleGenerator {
    fn generate(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Generation> {
        let started = Instant::now();
        let prompt = self.encode_chat(messages)?;
        let prompt_tokens = prompt.len();
        if prompt_tokens + params.max_tokens > self.context_length {
            return Err(ContextOverflow {
                prompt_tokens,
                max_tokens: params.max_tokens,
                context_length: self.context_length,
            }
            .into());
        }
        let stopped = |stop: StopReason| Generation {
            text: String::new(),
            prompt_tokens,
            generated_tokens: 0,
            stop,
            first_token: None,
        };
        if params.max_tokens == 0 {
            return Ok(stopped(StopReason::Length));
        }
        if Instant::now() > params.deadline {
            return Ok(stopped(StopReason::Deadline));
        }
        let Some(mut lease) = self.acquire(params.deadline) else {
            return Ok(stopped(StopReason::Deadline));
        };
        let instance = lease.get();

        // Prompt processing.
        let mut pos = 0;
        let mut logits = None;
        let pieces = prefill_pieces(prompt_tokens, instance.aligned_pieces());
        for (i, &piece) in pieces.iter().enumerate() {
            if pos > 0 && Instant::now() > params.deadline {
                return Ok(stopped(StopReason::Deadline));
            }
            let ids = &prompt[pos..pos + piece];
            if i + 1 == pieces.len() {
                logits = Some(self.forward(instance, ids, pos)?);
            } else {
                // Only the last piece's logits are sampled from.
                instance.prefill(ids, pos)?;
            }
            pos += piece;
        }
        let mut logits = logits.context("empty prompt")?;

        // Generation.
        let mut sampler = LogitsProcessor::from_sampling(params.seed, sampling(params));
        let mut tokens = prompt;
        let mut stream = TextStream::new(&self.tokenizer);
        let mut generated = 0;
        let mut first_token = None;
        let stop = loop {
            if params.repeat_penalty != 1.0 && params.repeat_last_n > 0 {
                let start = tokens.len().saturating_sub(params.repeat_last_n);
                logits = candle_transformers::utils::apply_repeat_penalty(
                    &logits,
                    params.repeat_penalty,
                    &tokens[start..],
                )?;
            }
            let next = sampler.sample(&logits)?;
            generated += 1;
            first_token.get_or_insert_with(|| started.elapsed());
            if self.end_tokens.contains(&next) {
                break StopReason::EndToken;
            }
            tokens.push(next);
            if let Some(piece) = stream.push(next)?
                && !on_text(&piece)
            {
                // The caller has gone: no final flush either.
                return Ok(Generation {
                    text: stream.into_text(),
                    prompt_tokens,
                    generated_tokens: generated,
                    stop: StopReason::Cancelled,
                    first_token,
                });
            }
            if generated >= params.max_tokens {
                break StopReason::Length;
            }
            if Instant::now() > params.deadline {
                break StopReason::Deadline;
            }
            logits = self.forward(instance, &[next], tokens.len() - 1)?;
        };
        drop(lease);
        let mut stop = stop;
        if let Some(piece) = stream.finish()?
            && !on_text(&piece)
        {
            stop = StopReason::Cancelled;
        }
        Ok(Generation {
            text: stream.into_text(),
            prompt_tokens,
            generated_tokens: generated,
            stop,
            first_token,
        })
    }

    fn describe(&self) -> String {
        format!("candle {} {}", self.format.as_str(), self.name)
    }
}

/// Loads a GGUF model once and makes `instances` instances of it (sharing the weights);
/// returns them with the context length and the model's vocabulary size.
fn load_gguf(path: &Path, instances: usize) -> Result<(Vec<Instance>, usize, usize)> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let content = gguf_file::Content::read(&mut reader)
        .with_context(|| format!("{} is not a readable GGUF file", path.display()))?;
    if let Some(arch) = content.metadata.get("general.architecture") {
        let arch = arch.to_string().map_err(|e| anyhow!("{e}"))?;
        if arch != "qwen2" {
            bail!(
                "{} is a {arch} model; this backend runs Qwen2-architecture models \
                 (Qwen2, Qwen2.5) only",
                path.display()
            );
        }
    }
    let weights = qwen2_gguf::Weights::from_gguf(&content, &mut reader)
        .with_context(|| format!("loading Qwen2 weights from {}", path.display()))?;
    let (context_length, vocab) = (weights.config.context_length, weights.config.vocab);
    let weights = std::sync::Arc::new(weights);
    let models = (0..instances)
        .map(|_| Instance::Quantized(Box::new(qwen2_gguf::Model::new(weights.clone()))))
        .collect();
    Ok((models, context_length, vocab))
}

/// Reads `config.json`, filling what older or trimmed files leave out with Qwen2's defaults.
fn read_qwen2_config(path: &Path) -> Result<qwen2::Config> {
    let raw =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut json: serde_json::Value = serde_json::from_str(&raw)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let obj = json
        .as_object_mut()
        .with_context(|| format!("{} is not a JSON object", path.display()))?;
    if let Some(arch) = obj.get("model_type").and_then(|v| v.as_str())
        && arch != "qwen2"
    {
        bail!(
            "{} describes a {arch} model; this backend runs Qwen2-architecture models only",
            path.display()
        );
    }
    let get_usize = |obj: &serde_json::Map<String, serde_json::Value>, key: &str| {
        obj.get(key).and_then(|v| v.as_u64()).map(|v| v as usize)
    };
    let layers = get_usize(obj, "num_hidden_layers");
    let positions = get_usize(obj, "max_position_embeddings");
    let mut default = |key: &str, value: serde_json::Value| {
        if obj.get(key).is_none_or(|v| v.is_null()) {
            obj.insert(key.to_string(), value);
        }
    };
    default("rope_theta", 10_000.0.into());
    default("rms_norm_eps", 1e-6.into());
    default("tie_word_embeddings", false.into());
    default("use_sliding_window", false.into());
    default("hidden_act", "silu".into());
    if let Some(layers) = layers {
        default("max_window_layers", layers.into());
    }
    if let Some(positions) = positions {
        default("sliding_window", positions.into());
        // candle applies `sliding_window` unconditionally; Hugging Face ignores it unless
        // `use_sliding_window` is set, so widen it to the whole context in that case.
        if obj.get("use_sliding_window").and_then(|v| v.as_bool()) != Some(true) {
            let window = get_usize(obj, "sliding_window").unwrap_or(0).max(positions);
            obj.insert("sliding_window".into(), window.into());
        }
    }
    serde_json::from_value(json)
        .with_context(|| format!("{} is not a Qwen2 config", path.display()))
}

/// The weight files of a safetensors checkpoint: the file itself, or the shards an
/// `*.safetensors.index.json` lists.
fn safetensors_files(path: &Path) -> Result<Vec<PathBuf>> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase());
    if !name.is_some_and(|n| n.ends_with(".index.json")) {
        return Ok(vec![path.to_path_buf()]);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let raw =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let index: serde_json::Value = serde_json::from_str(&raw)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let map = index
        .get("weight_map")
        .and_then(|m| m.as_object())
        .with_context(|| format!("{} has no weight_map", path.display()))?;
    let mut files: Vec<PathBuf> = map
        .values()
        .filter_map(|v| v.as_str())
        .map(|f| dir.join(f))
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// Loads a safetensors checkpoint once (in f32) and clones it `instances` times; the clones
/// share the weight tensors. Returns the context length and vocabulary size too.
fn load_safetensors(
    path: &Path,
    instances: usize,
    device: &Device,
) -> Result<(Vec<Instance>, usize, usize)> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let config_path = dir.join("config.json");
    if !config_path.is_file() {
        bail!(
            "{} needs the model's config.json beside it ({} is missing)",
            path.display(),
            config_path.display()
        );
    }
    let config = read_qwen2_config(&config_path)?;
    let files = safetensors_files(path)?;
    // SAFETY: the files are memory-mapped only while the model is built; every tensor is copied
    // into its own f32 buffer, and the maps are dropped with the VarBuilder before this returns.
    // The files must not be modified during loading.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&files, DType::F32, device) }
        .with_context(|| format!("opening {}", path.display()))?;
    let model = qwen2::ModelForCausalLM::new(&config, vb)
        .with_context(|| format!("loading Qwen2 weights from {}", path.display()))?;
    let models = (0..instances)
        .map(|_| Instance::Full(Box::new(model.clone())))
        .collect();
    Ok((models, config.max_position_embeddings, config.vocab_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefill_pieces_cover_the_prompt_and_stay_aligned() {
        for len in [1, 2, 3, 31, 127, 128, 129, 300, 1000] {
            let pieces = prefill_pieces(len, true);
            assert_eq!(pieces.iter().sum::<usize>(), len, "{len}");
            let mut pos = 0;
            for p in pieces {
                assert!(p.is_power_of_two() && p <= PREFILL_CHUNK);
                assert_eq!(pos % p, 0, "piece {p} at {pos} for {len}");
                pos += p;
            }
            // Unaligned: whole chunks, then the rest in one piece.
            let pieces = prefill_pieces(len, false);
            assert_eq!(pieces.iter().sum::<usize>(), len, "{len}");
            assert_eq!(pieces.len(), len.div_ceil(PREFILL_CHUNK), "{len}");
            assert!(pieces.iter().all(|&p| p > 0 && p <= PREFILL_CHUNK));
        }
        assert!(prefill_pieces(0, true).is_empty());
        assert!(prefill_pieces(0, false).is_empty());
    }

    #[test]
    fn default_system_is_read_from_chatml_templates() {
        // Qwen2.5 (abridged): the first literal is an expression, the second is the default.
        let qwen25 = "{%- if tools %}{{- '<|im_start|>system\\n' }}{%- else %}{%- if \
            messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + \
            messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- \
            '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful \
            assistant.<|im_end|>\\n' }}{%- endif %}{%- endif %}";
        assert_eq!(
            default_system_in(qwen25).as_deref(),
            Some(QWEN25_DEFAULT_SYSTEM)
        );
        let qwen2 = "{% if loop.first and messages[0]['role'] != 'system' %}{{ \
            '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}";
        assert_eq!(
            default_system_in(qwen2).as_deref(),
            Some("You are a helpful assistant.")
        );
        let none = "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] \
            + '<|im_end|>\\n'}}{% endfor %}";
        assert_eq!(default_system_in(none), None);
    }

    #[test]
    fn template_inserts_the_default_system_message_only_when_missing() {
        let t = ChatTemplate {
            default_system: Some(QWEN25_DEFAULT_SYSTEM.into()),
        };
        let user = ChatMessage {
            role: Role::User,
            content: "你好".into(),
        };
        assert_eq!(
            t.render(std::slice::from_ref(&user)),
            format!(
                "<|im_start|>system\n{QWEN25_DEFAULT_SYSTEM}<|im_end|>\n\
                 <|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n"
            )
        );
        let system = ChatMessage {
            role: Role::System,
            content: "你是小办。".into(),
        };
        assert_eq!(
            t.render(&[system, user]),
            "<|im_start|>system\n你是小办。<|im_end|>\n\
             <|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn context_overflow_speaks_both_languages() {
        let e = ContextOverflow {
            prompt_tokens: 500,
            max_tokens: 100,
            context_length: 512,
        }
        .to_string();
        assert!(
            e.contains("上下文长度 512") && e.contains("context length of 512"),
            "{e}"
        );
    }
}
