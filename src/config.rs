//! One `Config` from defaults, a TOML file, `XIAOBAN_*` environment variables and command-line
//! flags — later sources win: flags > environment > file > defaults.

use crate::answer::Tuning;
use anyhow::{Context, Result};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the server listens on.
    pub listen: String,
    /// Index, SQLite database and keys.
    pub data_dir: PathBuf,
    /// The knowledge base folder (documents, synonyms, user dictionary, routes).
    pub kb_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; empty means SQLite in the data folder.
    pub database_url: String,
    /// Stored conversations older than this are deleted.
    pub conversation_retention_days: u32,
    /// Thresholds of the answer pipeline.
    pub answer: Tuning,
    /// The models folder with the manifest (`models/manifest.toml`) and fetched files.
    pub models_dir: PathBuf,
    /// A local chat model (GGUF, or safetensors with `config.json` beside it) instead of the
    /// manifest's default; `XIAOBAN_MODEL`.
    pub model: Option<PathBuf>,
    /// The model's `tokenizer.json`; default: beside the model. `XIAOBAN_TOKENIZER`.
    pub tokenizer: Option<PathBuf>,
    /// How answers are written by a language model.
    pub generation: GenerationConfig,
    /// `serve` downloads missing models it needs (default chat model, OCR, runtime) before it
    /// starts; a model that cannot be fetched is logged and the server starts without it.
    pub fetch_models_on_start: bool,
    /// Scans of identity documents and licences uploaded for verification.
    pub scans: ScansConfig,
    /// Abuse limits on the public chat and on uploads.
    pub limits: LimitsConfig,
    /// On SIGTERM: seconds the server waits for requests under way and verification jobs
    /// being read before it exits; jobs not finished by then go back to the queue.
    pub shutdown_deadline_secs: u64,
    /// Live handoff to service-centre agents (转人工) and callback tickets.
    pub handoff: HandoffConfig,
    /// Who may read `/metrics`.
    pub metrics: MetricsConfig,
}

/// `/metrics` is not public: it answers on the main address only to a request bearing
/// `token`, and on `listen` (an address of its own, e.g. one only the monitoring network
/// reaches) to anyone who can connect there. With neither set it is refused everywhere.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Sent by the scraper as `Authorization: Bearer <token>` (`XIAOBAN_METRICS__TOKEN`).
    pub token: String,
    /// A second address serving only `/metrics`, e.g. `10.0.5.2:9090`; empty for none.
    pub listen: String,
}

/// Live handoff: when people answer, how many may wait, and how long records are kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HandoffConfig {
    /// `"always"`, or days and a window: `"workdays 09:00-17:30"` (working days by the
    /// calendar), `"daily 08:00-20:00"`.
    pub hours: crate::handoff::hours::Hours,
    /// The working-day calendar (statutory holidays and make-up working days by year).
    pub calendar: PathBuf,
    /// The service hours' time zone as a UTC offset.
    pub utc_offset: String,
    /// Citizens waiting at once; beyond it the citizen is offered a callback.
    pub max_waiting: u32,
    /// A waiting citizen who has not looked at the conversation for this long has gone:
    /// the handoff closes as abandoned.
    pub abandon_after_secs: u64,
    /// Closed callback tickets (with their encrypted phone numbers) are deleted this many
    /// days after they were closed.
    pub callback_retention_days: u32,
}

impl Default for HandoffConfig {
    fn default() -> Self {
        HandoffConfig {
            hours: crate::handoff::hours::Hours::default(),
            calendar: "calendar/workdays.toml".into(),
            utc_offset: "+08:00".into(),
            max_waiting: 50,
            abandon_after_secs: 300,
            callback_retention_days: 30,
        }
    }
}

/// Abuse limits: rates (token buckets: a sustained rate per minute and a burst), concurrent
/// streams and the size of a stored conversation. A rate of 0 turns that limit off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Questions per minute from one client address (a service hall or a company behind one
    /// address shares it).
    pub questions_per_minute_per_address: u32,
    /// Questions one address may ask at once before the rate applies.
    pub burst_per_address: u32,
    /// Questions per minute in one conversation.
    pub questions_per_minute_per_session: u32,
    pub burst_per_session: u32,
    /// Streamed answers (`/api/v1/chat/stream`) open at once, in all.
    pub max_streams: usize,
    /// Streamed answers open at once from one client address.
    pub max_streams_per_address: usize,
    /// Turns in one conversation; beyond it the citizen is asked to start a new one.
    pub max_conversation_turns: u32,
    /// Characters of questions and answers stored in one conversation.
    pub max_conversation_chars: u64,
    /// Images per minute one staff account may upload for verification.
    pub uploads_per_minute_per_account: u32,
    pub upload_burst_per_account: u32,
    /// Feedback (`/api/v1/feedback`, the widget's buttons) per minute from one address.
    pub feedback_per_minute_per_address: u32,
    pub feedback_burst_per_address: u32,
    /// Sign-in attempts for one account, within 15 minutes, that may fail before it is
    /// locked for 15 minutes (counted before the password is checked, on every node).
    pub sign_in_attempts_per_account: u32,
    /// The same for one client address (a service hall behind one address shares it).
    pub sign_in_attempts_per_address: u32,
    /// Passwords checked at once at sign-in on one node (argon2id: 19 MiB each); a sign-in
    /// that finds none free within 5 seconds is refused with 503 and Retry-After.
    pub concurrent_password_checks: usize,
    /// Reverse proxies (addresses or CIDR blocks, e.g. `10.0.0.0/8`) whose
    /// `X-Forwarded-For` is believed; from any other peer the header is ignored.
    pub trusted_proxies: Vec<String>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            questions_per_minute_per_address: 120,
            burst_per_address: 60,
            questions_per_minute_per_session: 20,
            burst_per_session: 10,
            max_streams: 256,
            max_streams_per_address: 32,
            max_conversation_turns: 100,
            max_conversation_chars: 200_000,
            uploads_per_minute_per_account: 60,
            upload_burst_per_account: 40,
            feedback_per_minute_per_address: 30,
            feedback_burst_per_address: 20,
            sign_in_attempts_per_account: 5,
            sign_in_attempts_per_address: 20,
            concurrent_password_checks: 2,
            trusted_proxies: Vec::new(),
        }
    }
}

/// The cipher that seals scans and extracted fields at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScanCipher {
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
    /// SM4 in GCM mode (GB/T 39786-2021 favours the SM algorithms).
    #[serde(rename = "sm4-gcm")]
    Sm4Gcm,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScansConfig {
    /// Cipher for new records; records sealed with the other one still open.
    pub cipher: ScanCipher,
    /// Scans and unmasked fields are deleted this many days after upload; the masked
    /// outcome stays.
    pub retention_days: u32,
    /// Largest accepted image, in bytes.
    pub max_upload_bytes: usize,
    /// Form mappings (`*.toml`) that pre-fill forms from the fields read.
    pub forms_dir: PathBuf,
    /// Background readers of queued jobs (batches, jobs left by a stopped node) per node.
    pub workers: usize,
    /// A node holds a job it reads for this long, renewing while it reads; a node that dies
    /// gives the job up when the lease runs out.
    pub lease_secs: u64,
    /// A job taken up this many times without finishing (it crashed its readers) is marked
    /// failed.
    pub max_attempts: u32,
}

impl Default for ScansConfig {
    fn default() -> Self {
        ScansConfig {
            cipher: ScanCipher::Aes256Gcm,
            retention_days: 30,
            max_upload_bytes: 8 * 1024 * 1024,
            forms_dir: "forms".into(),
            workers: 1,
            lease_secs: 30,
            max_attempts: 3,
        }
    }
}

/// Which language model writes answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// `remote` when `remote_url` is set, else `candle` when the model files are present,
    /// else extractive answers only.
    Auto,
    /// The model runs in this process, on the CPU.
    Candle,
    /// An OpenAI-compatible chat-completions server.
    Remote,
    /// Extractive answers only.
    Off,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GenerationConfig {
    pub backend: Backend,
    /// Generations at once; 0 means one per two cores.
    pub concurrency: usize,
    /// Requests that may wait for a generation; beyond that, 503 with Retry-After.
    pub queue: usize,
    /// Token budget per answer.
    pub max_tokens: usize,
    /// Wall-clock limit per answer, from admission.
    pub timeout_secs: u64,
    /// 0 means greedy.
    pub temperature: f64,
    pub top_p: f64,
    pub repeat_penalty: f32,
    pub seed: u64,
    /// Base URL of the remote server, e.g. `http://10.0.0.5:8000/v1`.
    pub remote_url: String,
    /// Bearer key for the remote server (`XIAOBAN_GENERATION__REMOTE_KEY`).
    pub remote_key: String,
    /// The model name the remote server expects.
    pub remote_model: String,
    /// Attempts against the remote server before the first token (connection errors, 429, 5xx).
    pub remote_retries: u32,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        GenerationConfig {
            backend: Backend::Auto,
            concurrency: 0,
            queue: 16,
            max_tokens: 384,
            timeout_secs: 60,
            temperature: 0.3,
            top_p: 0.9,
            repeat_penalty: 1.1,
            seed: 42,
            remote_url: String::new(),
            remote_key: String::new(),
            remote_model: "qwen2.5-instruct".into(),
            remote_retries: 2,
        }
    }
}

impl GenerationConfig {
    /// Generations at once: as configured, or one per two cores (at least one).
    pub fn concurrency(&self) -> usize {
        if self.concurrency > 0 {
            return self.concurrency;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores / 2).max(1)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: "data".into(),
            kb_dir: "knowledge_base".into(),
            database_url: String::new(),
            conversation_retention_days: 90,
            answer: Tuning::default(),
            models_dir: "models".into(),
            model: None,
            tokenizer: None,
            generation: GenerationConfig::default(),
            fetch_models_on_start: true,
            scans: ScansConfig::default(),
            limits: LimitsConfig::default(),
            shutdown_deadline_secs: 20,
            handoff: HandoffConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

/// Flags that override the file and the environment when given.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub kb_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub model: Option<PathBuf>,
    pub tokenizer: Option<PathBuf>,
}

impl Config {
    /// Loads `file` (default `xiaoban.toml` if it exists), then the environment, then flags.
    pub fn load(file: Option<&Path>, flags: &Overrides) -> Result<Config> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(f) => {
                if !f.exists() {
                    anyhow::bail!("配置文件 {} 不存在", f.display());
                }
                fig = fig.merge(Toml::file(f));
            }
            None => fig = fig.merge(Toml::file("xiaoban.toml")),
        }
        fig = fig.merge(Env::prefixed("XIAOBAN_").split("__").ignore(&[
            "test_postgres_url",
            "scan_key",
            "scan_key_retired",
            "log",
            "log_format",
        ]));
        let mut c: Config = fig.extract().context("配置有误")?;
        if let Some(v) = &flags.listen {
            c.listen = v.clone();
        }
        if let Some(v) = &flags.data_dir {
            c.data_dir = v.clone();
        }
        if let Some(v) = &flags.kb_dir {
            c.kb_dir = v.clone();
        }
        if let Some(v) = &flags.database_url {
            c.database_url = v.clone();
        }
        if let Some(v) = &flags.model {
            c.model = Some(v.clone());
        }
        if let Some(v) = &flags.tokenizer {
            c.tokenizer = Some(v.clone());
        }
        Ok(c)
    }

    /// The database URL, defaulting to SQLite in the data folder.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("xiaoban.db").display()
            )
        } else {
            self.database_url.clone()
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn flags_beat_environment_beat_file_beat_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "xiaoban.toml",
                "listen = \"0.0.0.0:9000\"\ndata_dir = \"from-file\"\nkb_dir = \"kb-file\"\n[answer]\nmin_score = 3.5\nclose_ratio = 0.7\n",
            )?;
            jail.set_env("XIAOBAN_DATA_DIR", "from-env");
            jail.set_env("XIAOBAN_KB_DIR", "kb-env");
            jail.set_env("XIAOBAN_ANSWER__MIN_SCORE", "4.5");
            let flags = Overrides {
                kb_dir: Some("kb-flag".into()),
                ..Default::default()
            };
            let c = Config::load(None, &flags).expect("loads");
            assert_eq!(c.listen, "0.0.0.0:9000");
            assert_eq!(c.data_dir, PathBuf::from("from-env"));
            assert_eq!(c.kb_dir, PathBuf::from("kb-flag"));
            assert_eq!(c.answer.min_score, 4.5);
            assert_eq!(c.answer.close_ratio, 0.7);
            assert_eq!(c.conversation_retention_days, 90);
            assert!(c.database_url().starts_with("sqlite://from-env/xiaoban.db"));
            Ok(())
        });
    }

    #[test]
    fn generation_settings_come_from_file_and_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "xiaoban.toml",
                "[generation]\nbackend = \"remote\"\nremote_url = \"http://10.0.0.5:8000/v1\"\nqueue = 4\n",
            )?;
            jail.set_env("XIAOBAN_MODEL", "/srv/models/q.gguf");
            jail.set_env("XIAOBAN_GENERATION__CONCURRENCY", "3");
            let c = Config::load(None, &Overrides::default()).expect("loads");
            assert_eq!(c.generation.backend, Backend::Remote);
            assert_eq!(c.generation.queue, 4);
            assert_eq!(c.generation.concurrency(), 3);
            assert_eq!(
                c.generation.max_tokens, 384,
                "unset keys keep their defaults"
            );
            assert_eq!(c.model, Some(PathBuf::from("/srv/models/q.gguf")));
            assert_eq!(c.tokenizer, None);
            jail.create_file("xiaoban.toml", "[generation]\nbackend = \"gpt\"\n")?;
            assert!(Config::load(None, &Overrides::default()).is_err());
            Ok(())
        });
    }

    #[test]
    fn a_mistyped_key_is_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("xiaoban.toml", "lisen = \"x\"\n")?;
            assert!(Config::load(None, &Overrides::default()).is_err());
            Ok(())
        });
    }
}
