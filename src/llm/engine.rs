//! The generation engine as configured: a `Generator` (in-process candle model or a remote
//! server), the queue in front of it and the sampling settings, or the reason there is none.
//! The server starts without a model; `/healthz` and the log say how to get one.

use super::candle::CandleGenerator;
use super::queue::Queue;
use super::remote::RemoteGenerator;
use super::{GenerationParams, Generator};
use crate::config::{Backend, Config, GenerationConfig};
use crate::models::{Manifest, ModelKind};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Engine {
    pub generator: Arc<dyn Generator>,
    pub queue: Queue,
    pub settings: GenerationConfig,
}

/// What `/healthz` says about generation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Availability {
    /// `candle`, `remote` or `off`.
    pub backend: String,
    pub available: bool,
    /// The model in use, when available.
    pub model: Option<String>,
    /// How to make generation available, when it is not.
    pub hint: Option<String>,
}

impl Engine {
    pub fn new(generator: Arc<dyn Generator>, settings: GenerationConfig) -> Engine {
        Engine {
            generator,
            queue: Queue::new(settings.concurrency(), settings.queue),
            settings,
        }
    }

    /// Sampling settings for one answer, its deadline counted from now.
    pub fn params(&self) -> GenerationParams {
        GenerationParams {
            max_tokens: self.settings.max_tokens,
            temperature: self.settings.temperature,
            top_p: Some(self.settings.top_p),
            repeat_penalty: self.settings.repeat_penalty,
            repeat_last_n: 64,
            seed: self.settings.seed,
            deadline: Instant::now() + Duration::from_secs(self.settings.timeout_secs),
        }
    }

    pub fn availability(&self) -> Availability {
        let d = self.generator.describe();
        Availability {
            backend: d.split(' ').next().unwrap_or("candle").to_string(),
            available: true,
            model: Some(d),
            hint: None,
        }
    }
}

/// The model files the configuration points at: `--model`/`--tokenizer` (tokenizer defaulting
/// to `tokenizer.json` beside the model), else the manifest's first chat model.
pub fn model_paths(config: &Config) -> Result<(PathBuf, PathBuf, String), String> {
    if let Some(model) = &config.model {
        let tokenizer = config.tokenizer.clone().unwrap_or_else(|| {
            model
                .parent()
                .unwrap_or(Path::new("."))
                .join("tokenizer.json")
        });
        return Ok((model.clone(), tokenizer, model.display().to_string()));
    }
    let manifest = Manifest::load(&config.models_dir).map_err(|e| e.to_string())?;
    let entry = manifest
        .first_of_kind(ModelKind::Chat)
        .ok_or("模型清单中没有对话模型（kind = \"chat\"）")?;
    let weights = entry
        .file_ending(".gguf")
        .or_else(|| entry.file_ending(".safetensors"))
        .ok_or_else(|| format!("模型 {} 没有 GGUF 或 safetensors 文件", entry.name))?;
    let tokenizer = match &config.tokenizer {
        Some(t) => t.clone(),
        None => entry
            .file_named("tokenizer.json")
            .ok_or_else(|| format!("模型 {} 没有 tokenizer.json", entry.name))?
            .local_path(&config.models_dir),
    };
    Ok((
        weights.local_path(&config.models_dir),
        tokenizer,
        entry.name.clone(),
    ))
}

/// Builds the engine the configuration asks for. Blocking (loads model weights): call it from
/// a worker thread. Never fails: without a usable model the answer is `None` with the reason.
pub fn from_config(config: &Config) -> (Option<Engine>, Availability) {
    let g = &config.generation;
    let off = |backend: &str, hint: String| {
        (
            None,
            Availability {
                backend: backend.into(),
                available: false,
                model: None,
                hint: Some(hint),
            },
        )
    };
    let remote = match g.backend {
        Backend::Off => {
            return off(
                "off",
                "回答生成已关闭（generation.backend = \"off\"），使用摘录式回答。".into(),
            );
        }
        Backend::Remote => true,
        Backend::Auto => !g.remote_url.is_empty(),
        Backend::Candle => false,
    };
    if remote {
        if g.remote_url.is_empty() {
            return off(
                "remote",
                "generation.backend = \"remote\" 需要 generation.remote_url（OpenAI 兼容服务地址）。"
                    .into(),
            );
        }
        let generator = RemoteGenerator {
            url: g.remote_url.clone(),
            api_key: (!g.remote_key.is_empty()).then(|| g.remote_key.clone()),
            model: g.remote_model.clone(),
            connect_timeout: Duration::from_secs(5),
            retries: g.remote_retries.max(1),
        };
        let engine = Engine::new(Arc::new(generator), g.clone());
        let a = engine.availability();
        return (Some(engine), a);
    }
    let (model, tokenizer, name) = match model_paths(config) {
        Ok(p) => p,
        Err(e) => return off("candle", format!("找不到对话模型：{e}")),
    };
    let fetch_hint = if config.model.is_some() {
        "请检查 --model / --tokenizer（或 XIAOBAN_MODEL / XIAOBAN_TOKENIZER）指向的文件。"
            .to_string()
    } else {
        format!(
            "运行 `xiaoban models fetch {name}` 下载并校验模型（尚未固定 SHA-256 的文件需加 --trust-unpinned），或用 --model / --tokenizer 指定本地模型。"
        )
    };
    for f in [&model, &tokenizer] {
        if !f.is_file() {
            return off(
                "candle",
                format!(
                    "模型文件 {} 不存在，使用摘录式回答。{fetch_hint}",
                    f.display()
                ),
            );
        }
    }
    match CandleGenerator::load(&model, &tokenizer, g.concurrency()) {
        Ok(generator) => {
            let engine = Engine::new(Arc::new(generator), g.clone());
            let a = engine.availability();
            (Some(engine), a)
        }
        Err(e) => off(
            "candle",
            format!(
                "模型 {} 无法加载（{e:#}），使用摘录式回答。{fetch_hint}",
                model.display()
            ),
        ),
    }
}
