//! The `xiaoban` command line: glue over the library.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use xiaoban::assistant::Progress;
use xiaoban::config::{Config, Overrides};
use xiaoban::ident::{CreditCode, IdNumber};
use xiaoban::logging::LogFormat;
use xiaoban::models::FetchOutcome;

#[derive(Parser)]
#[command(
    name = "xiaoban",
    version,
    about = "小办：政务服务智能助手 / a self-hostable government service assistant"
)]
struct Cli {
    /// Configuration file (default: ./xiaoban.toml if present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Knowledge base folder (default: ./knowledge_base).
    #[arg(long = "kb", global = true)]
    kb: Option<PathBuf>,
    /// Data folder for the index, the SQLite database and keys (default: ./data).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL (sqlite://… or postgres://…); default SQLite in the data folder.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// A local chat model (GGUF, or safetensors with config.json beside it) instead of the
    /// manifest's default (env XIAOBAN_MODEL).
    #[arg(long, global = true)]
    model: Option<PathBuf>,
    /// The model's tokenizer.json (default: beside the model; env XIAOBAN_TOKENIZER).
    #[arg(long, global = true)]
    tokenizer: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server (the default command).
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
        /// Log lines as JSON objects or text; `auto` is JSON unless stderr is a terminal.
        /// The level comes from XIAOBAN_LOG (default `info`).
        #[arg(long, env = "XIAOBAN_LOG_FORMAT", value_enum, default_value = "auto")]
        log_format: LogFormat,
    },
    /// Build or rebuild the index from the knowledge base; a running server picks it up.
    Index {
        #[arg(long)]
        json: bool,
    },
    /// Show the top passages for a question, with scores and the terms that matched.
    Search {
        question: String,
        #[arg(long, default_value_t = 5)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Ask a question and print the reply the API would give.
    Ask {
        question: String,
        /// Continue this conversation.
        #[arg(long)]
        session: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Evaluate retrieval and outcomes on JSONL sets of questions, each reported as a part
    /// (e.g. tests/eval/tuning.jsonl tests/eval/test.jsonl).
    Eval {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the summary as one JSON object (one file), or {"parts": {NAME: summary}}.
        #[arg(long)]
        json: bool,
        /// Also in JSON: how answered/out_of_scope precision and recall move with the relevance
        /// threshold (always printed in the text report).
        #[arg(long)]
        sweep: bool,
    },
    /// Import files or folders (recursively): official documents as cities publish them
    /// (.html/.htm, .docx, .pdf with a text layer) and FAQ or guide tables (CSV, JSONL, XLSX).
    Import {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Overwrite documents that already exist with other content.
        #[arg(long)]
        replace: bool,
        /// Show what would be written (documents, and changes to existing ones); write nothing.
        #[arg(long)]
        dry_run: bool,
        /// `region` of the imported official documents.
        #[arg(long, default_value = "示例市")]
        region: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// What people asked that got no answer, grouped, most frequent first.
    Unanswered {
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// The learning loop: questions that got no answer or a reply marked unhelpful, grouped,
    /// each with the document it most likely belongs to; accept one as aliases or reject it.
    #[command(args_conflicts_with_subcommands = true)]
    Suggest {
        #[command(subcommand)]
        action: Option<SuggestAction>,
        /// Show at most this many groups.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// List, fetch or verify the model files of models/manifest.toml.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// Check identifiers read one per line from stdin.
    Validate { kind: IdKind },
    /// Read the text of an image with OCR (debugging): lines, confidences, boxes, timings.
    Ocr {
        /// Image file (JPEG, PNG, WebP or BMP).
        #[arg(required_unless_present = "bench")]
        image: Option<PathBuf>,
        /// Time every image in this folder instead: p50/p95 per stage and memory.
        #[arg(long, conflicts_with = "image")]
        bench: Option<PathBuf>,
        /// Rounds over the folder for --bench.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// OCR the decoded image as it is, without locating, squaring up and turning it.
        #[arg(long)]
        raw: bool,
        #[arg(long)]
        json: bool,
    },
    /// Evaluate document verification on specimens from scripts/make_specimens.py.
    EvalDocs {
        /// Folder with the images and truth.json.
        dir: PathBuf,
        /// Read the generator's text lines instead of running OCR (measures the analysis alone).
        #[arg(long)]
        truth_lines: bool,
        /// Read another OCR engine's lines from this JSON file instead of running OCR
        /// (`{"lines": {FILE: [{"text", "confidence", "quad"}]}}`, as scripts/rapidocr_peer.py
        /// writes): its output through the same parsing and checks.
        #[arg(long, conflicts_with = "truth_lines")]
        lines: Option<PathBuf>,
        /// Write every image's OCR reading to this JSON file, to measure the analysis again
        /// later without OCR (--readings).
        #[arg(long, conflicts_with_all = ["truth_lines", "lines", "readings"])]
        save_readings: Option<PathBuf>,
        /// Read the readings --save-readings wrote instead of running OCR: fields, checks and
        /// verdicts of the analysis alone, without image warnings (not measured).
        #[arg(long, conflicts_with_all = ["truth_lines", "lines"])]
        readings: Option<PathBuf>,
        /// Form mapping files.
        #[arg(long, default_value = "forms")]
        forms: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Staff accounts: add, disable, reset a password (passwords are read from stdin).
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Live handoff: export the open callback tickets for a 12345 work-order system.
    Handoff {
        #[command(subcommand)]
        action: HandoffAction,
    },
    /// The scan encryption keys: status, rotation, a fresh key for XIAOBAN_SCAN_KEY.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Exit 0 if the server answers /healthz with 200 (for container health checks).
    Healthcheck {
        /// Default: /healthz on the configured listen address (0.0.0.0 → 127.0.0.1).
        #[arg(long)]
        url: Option<String>,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// Measure retrieval and reply latency, build time and memory on a padded knowledge base.
    Bench {
        /// Pad the knowledge base to this many passages.
        #[arg(long, default_value_t = 10_000)]
        passages: usize,
        /// Questions to time (JSONL as for `eval`).
        #[arg(long, default_value = "tests/eval/tuning.jsonl")]
        questions: PathBuf,
        /// Rounds over the questions per client.
        #[arg(long, default_value_t = 20)]
        rounds: usize,
    },
    /// Time to first token, generation speed, load time and peak memory of the candle backend
    /// on the grounded prompt trimmed to N tokens (the model from --model / --tokenizer).
    BenchGeneration {
        /// Prompt length in tokens, chat template included.
        #[arg(long, default_value_t = 600)]
        prompt_tokens: usize,
        /// Tokens to generate per run (greedy).
        #[arg(long, default_value_t = 64)]
        generate: usize,
        /// Timed runs, after one warm-up run; medians are reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ModelsAction {
    /// Every model of the manifest, its files and whether they are on disk.
    List,
    /// Download the files of one model (default: all), resuming partial downloads, and
    /// verify their SHA-256; a file whose hash differs is refused.
    Fetch {
        name: Option<String>,
        /// Keep files whose SHA-256 the manifest does not pin yet, printing the hash to pin.
        #[arg(long)]
        trust_unpinned: bool,
    },
    /// Hash every file on disk against the manifest; non-zero exit if one differs.
    Verify,
}

#[derive(Subcommand)]
enum SuggestAction {
    /// Write the group's questions as aliases (marked with today's date) into a document's
    /// front matter and rebuild the index; a running server answers them within seconds.
    Accept {
        /// The group's id, as `xiaoban suggest` shows it.
        id: String,
        /// The document to add them to (default: the one suggested).
        #[arg(long)]
        doc: Option<String>,
        /// Write this short form instead of the group's questions (repeatable); needed when
        /// every question is longer than 40 characters.
        #[arg(long = "alias")]
        aliases: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Hide the group from the suggestions for good.
    Reject {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a user; the password (at least 8 characters) is the first line of stdin.
    Add {
        name: String,
        /// clerk, supervisor, admin, auditor or agent.
        #[arg(long)]
        role: xiaoban::account::Role,
    },
    /// Disable a user and end their sessions.
    Disable { name: String },
    /// Set a new password (first line of stdin), enable the user and end their sessions.
    Reset { name: String },
}

#[derive(Subcommand)]
enum HandoffAction {
    /// The open callback tickets (new or contacted) left since DATE, with the full phone
    /// numbers, on stdout; every exported ticket is recorded in the access log.
    Export {
        /// YYYY-MM-DD, in the service hours' time zone (handoff.utc_offset).
        #[arg(long)]
        since: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    Csv,
    Json,
}

#[derive(Subcommand)]
enum KeysAction {
    /// Where the keys come from, their ids, and how many jobs are not under the current key.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Re-seal every stored scan and report under a new key, then drop the old key. Resumes
    /// an interrupted rotation instead of starting another.
    Rotate {
        /// Re-seal at most this many jobs now (run again for the rest).
        #[arg(long)]
        limit: Option<usize>,
        /// Seconds to wait after writing the new key, for running servers to pick it up.
        #[arg(long, default_value_t = 5)]
        settle: u64,
        #[arg(long)]
        json: bool,
    },
    /// Print a fresh random key (base64), e.g. for XIAOBAN_SCAN_KEY.
    Generate,
}

#[derive(Clone, Copy, ValueEnum)]
enum IdKind {
    /// Resident identity number (GB 11643).
    Ric,
    /// Unified social credit code (GB 32100).
    Uscc,
}

fn init_logging() {
    xiaoban::logging::init(LogFormat::Auto);
}

/// glibc's malloc gives each thread that allocates while another holds an arena an arena of its
/// own, up to eight per core, and raises its mmap threshold to the size of every large block
/// freed (up to 32 MiB), after which decoded images, OCR tensors and ONNX Runtime's arena blocks
/// are carved from those arenas and their free space is kept, not returned. Each verification
/// reads on a blocking-pool thread, so under load all sixteen arenas on two cores filled up:
/// resident memory stood at about 510 MB after 50 uploads, 276 MB of it in thread arenas. Two
/// arenas and a fixed 1 MiB threshold (large blocks mapped and unmapped on their own) kept it
/// at about 360 MB (scripts/load.sh --only soak). `MALLOC_ARENA_MAX` and
/// `MALLOC_MMAP_THRESHOLD_`, when set, are glibc's own and win.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn bound_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a tunable of the allocator; called before any other thread
        // exists.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
    }
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: as above.
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20) };
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn bound_malloc_arenas() {}

fn main() -> Result<()> {
    bound_malloc_arenas();
    let cli = Cli::parse();
    let listen = match &cli.command {
        Some(Command::Serve { listen, .. }) => listen.clone(),
        _ => None,
    };
    let config = Config::load(
        cli.config.as_deref(),
        &Overrides {
            listen,
            data_dir: cli.data_dir.clone(),
            kb_dir: cli.kb.clone(),
            database_url: cli.database_url.clone(),
            model: cli.model.clone(),
            tokenizer: cli.tokenizer.clone(),
        },
    )?;
    let rt = tokio::runtime::Runtime::new()?;
    let default_serve = || Command::Serve {
        listen: None,
        log_format: std::env::var("XIAOBAN_LOG_FORMAT")
            .ok()
            .and_then(|v| LogFormat::from_str(&v, true).ok())
            .unwrap_or(LogFormat::Auto),
    };
    match cli.command.unwrap_or_else(default_serve) {
        Command::Serve { log_format, .. } => {
            let format = xiaoban::logging::init(log_format);
            let served = rt.block_on(async {
                if config.fetch_models_on_start {
                    fetch_missing_models(&config).await;
                }
                let server = xiaoban::server::bind(config).await?;
                // JSON logs stay pure JSON: the `serving` line carries the address.
                if format == LogFormat::Text {
                    eprintln!("小办已启动：http://{}/widget", server.local_addr());
                }
                server.run(xiaoban::server::shutdown_signal()).await
            });
            // A document read cut off by the shutdown deadline keeps its blocking thread busy;
            // its job went back to the queue, so the process need not wait for it.
            rt.shutdown_timeout(std::time::Duration::from_secs(1));
            served
        }
        Command::Index { json } => cmd_index(&config, json),
        Command::Models { action } => rt.block_on(cmd_models(&config, action)),
        Command::Search {
            question,
            limit,
            json,
        } => cmd_search(&config, &question, limit, json),
        Command::Ask {
            question,
            session,
            json,
        } => rt.block_on(cmd_ask(config, question, session, json)),
        Command::Eval { files, json, sweep } => cmd_eval(&config, &files, json, sweep),
        Command::Import {
            paths,
            replace,
            dry_run,
            region,
            json,
        } => cmd_import(&config, &paths, replace, dry_run, region, json),
        Command::Unanswered { limit, json } => rt.block_on(async {
            let store = xiaoban::store::Store::connect(&config.database_url()).await?;
            let rows = store.unanswered(limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("没有未能回答的问题。");
            } else {
                for r in rows {
                    let last = local_minute(r.last_asked);
                    println!("{:>4} 次  最近 {last}  {}", r.times, r.question);
                }
            }
            Ok(())
        }),
        Command::Suggest {
            action,
            limit,
            json,
        } => rt.block_on(cmd_suggest(&config, action, limit, json)),
        Command::Validate { kind } => cmd_validate(kind),
        Command::Ocr {
            image,
            bench,
            rounds,
            raw,
            json,
        } => xiaoban::measure::ocr::run(
            &config.models_dir,
            image.as_deref(),
            bench.as_deref(),
            rounds,
            raw,
            json,
        ),
        Command::EvalDocs {
            dir,
            truth_lines,
            lines,
            save_readings,
            readings,
            forms,
            json,
        } => {
            use xiaoban::measure::documents::Readings;
            let readings = match (&save_readings, &readings) {
                (Some(p), _) => Readings::Save(p),
                (_, Some(p)) => Readings::Replay(p),
                _ => Readings::Read,
            };
            xiaoban::measure::documents::command(
                &config,
                &dir,
                truth_lines,
                lines.as_deref(),
                readings,
                &forms,
                json,
            )
        }
        Command::User { action } => rt.block_on(cmd_user(&config, action)),
        Command::Keys { action } => rt.block_on(cmd_keys(&config, action)),
        Command::Handoff { action } => rt.block_on(cmd_handoff(&config, action)),
        Command::Healthcheck { url, timeout } => {
            rt.block_on(cmd_healthcheck(&config, url, timeout))
        }
        Command::Bench {
            passages,
            questions,
            rounds,
        } => xiaoban::measure::retrieval::run(&config, passages, &questions, rounds),
        Command::BenchGeneration {
            prompt_tokens,
            generate,
            runs,
            json,
        } => cmd_bench_generation(&config, prompt_tokens, generate, runs, json),
    }
}

/// The first line of stdin, without its line ending.
fn read_password() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("从标准输入读取密码")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

async fn cmd_user(config: &Config, action: UserAction) -> Result<()> {
    let store = xiaoban::store::Store::connect(&config.database_url()).await?;
    let accounts = xiaoban::account::Accounts::new(store);
    match action {
        UserAction::Add { name, role } => {
            let password = read_password()?;
            accounts.add_user(&name, role, &password).await?;
            println!("已添加用户 {name}（{role}）。");
        }
        UserAction::Disable { name } => {
            accounts.disable(&name).await?;
            println!("已停用用户 {name}，其登录已全部失效。");
        }
        UserAction::Reset { name } => {
            let password = read_password()?;
            accounts.reset_password(&name, &password).await?;
            println!("已重设用户 {name} 的密码，其原有登录已全部失效。");
        }
    }
    Ok(())
}

async fn cmd_handoff(config: &Config, action: HandoffAction) -> Result<()> {
    let HandoffAction::Export { since, format } = action;
    let day = chrono::NaiveDate::parse_from_str(since.trim(), "%Y-%m-%d")
        .with_context(|| format!("--since 应为 YYYY-MM-DD 日期，而不是“{since}”"))?;
    let offset = xiaoban::handoff::hours::parse_offset(&config.handoff.utc_offset)
        .map_err(anyhow::Error::msg)?;
    let since_ms = day
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(offset).single())
        .context("无法换算 --since 的时间")?
        .timestamp_millis();
    let store = xiaoban::store::Store::connect(&config.database_url()).await?;
    let keys = xiaoban::store::seal::Keyring::load_or_create(&config.data_dir)?;
    let handoffs = xiaoban::handoff::Handoffs::new(
        store,
        config.handoff.clone(),
        keys,
        config.scans.cipher,
        std::sync::Arc::new(xiaoban::metrics::Metrics::new()),
    )?;
    let actor = std::env::var("USER").unwrap_or_else(|_| "cli".into());
    let tickets = handoffs.export(&format!("cli:{actor}"), since_ms).await?;
    let out = std::io::stdout();
    match format {
        ExportFormat::Json => {
            serde_json::to_writer_pretty(out.lock(), &tickets)?;
            println!();
        }
        ExportFormat::Csv => {
            let mut w = csv::Writer::from_writer(out.lock());
            for t in &tickets {
                w.serialize(t)?;
            }
            if tickets.is_empty() {
                w.write_record([
                    "id",
                    "created_at",
                    "status",
                    "phone",
                    "message",
                    "reason",
                    "session_id",
                ])?;
            }
            w.flush()?;
        }
    }
    eprintln!("导出回电工单 {} 张（已记入访问日志）。", tickets.len());
    Ok(())
}

async fn cmd_keys(config: &Config, action: KeysAction) -> Result<()> {
    let url = config.database_url();
    let store = || xiaoban::store::Store::connect(&url);
    match action {
        KeysAction::Generate => {
            println!("{}", xiaoban::store::seal::ScanKey::generate().to_base64());
        }
        KeysAction::Status { json } => {
            let s = xiaoban::keys::status(&store().await?, &config.data_dir).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!("密钥来源：{}", s.source);
                println!("当前密钥：{}", s.current);
                for r in &s.retired {
                    println!("退役密钥：{r}（轮换未完成，请运行 `xiaoban keys rotate`）");
                }
                println!("尚未用当前密钥加密的任务：{}", s.jobs_not_under_current);
            }
        }
        KeysAction::Rotate {
            limit,
            settle,
            json,
        } => {
            let opts = xiaoban::keys::Options {
                limit,
                settle: std::time::Duration::from_secs(settle),
            };
            let r = xiaoban::keys::rotate(&store().await?, &config.data_dir, &opts).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                if r.started {
                    println!("已生成新密钥 {}，旧密钥暂作退役密钥保留。", r.key);
                } else {
                    println!("继续未完成的轮换，新密钥 {}。", r.key);
                }
                println!(
                    "本次重新加密 {} 个任务（{} 个部分）、{} 张回电工单的电话号码。",
                    r.resealed_jobs, r.resealed_parts, r.resealed_callbacks
                );
                if !r.unreadable_jobs.is_empty() {
                    println!(
                        "{} 个任务有任何密钥都打不开的记录（可能来自其他部署或已被改动），未作改动：{}",
                        r.unreadable_jobs.len(),
                        r.unreadable_jobs.join(", ")
                    );
                }
                if r.finished && r.retire_by_hand {
                    println!(
                        "全部完成。请从所有节点删除 XIAOBAN_SCAN_KEY_RETIRED 并重启，旧密钥即告作废。"
                    );
                } else if r.finished {
                    println!("轮换完成，旧密钥已从密钥文件删除。请立即备份新的密钥文件。");
                } else {
                    println!(
                        "还有 {} 个任务待处理：再次运行 `xiaoban keys rotate` 继续。",
                        r.remaining_jobs
                    );
                }
            }
        }
    }
    Ok(())
}

async fn cmd_healthcheck(config: &Config, url: Option<String>, timeout: u64) -> Result<()> {
    let url = url.unwrap_or_else(|| {
        let listen = config
            .listen
            .replace("0.0.0.0", "127.0.0.1")
            .replace("[::]", "[::1]");
        format!("http://{listen}/healthz")
    });
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(timeout))
        .build()?;
    let resp = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("无法连接 {url}"))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    println!("{status} {body}");
    if !status.is_success() {
        anyhow::bail!("{url} 返回 {status}");
    }
    Ok(())
}

fn cmd_bench_generation(
    config: &Config,
    prompt_tokens: usize,
    generate: usize,
    runs: usize,
    json: bool,
) -> Result<()> {
    init_logging();
    let (model, tokenizer, _) =
        xiaoban::llm::engine::model_paths(config).map_err(anyhow::Error::msg)?;
    let opts = xiaoban::measure::generation::Options {
        prompt_tokens,
        generate,
        runs,
    };
    let report = xiaoban::measure::generation::run(&model, &tokenizer, &config.kb_dir, &opts)?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", report.text());
    }
    Ok(())
}

fn cmd_index(config: &Config, json: bool) -> Result<()> {
    let report = xiaoban::search::build(&config.kb_dir, &config.data_dir)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "索引 {}：{} 个文件，{} 份文档，{} 个段落，用时 {:.2} 秒",
            report.generation, report.files, report.documents, report.passages, report.seconds
        );
        if !report.documents_not_in_force.is_empty() {
            println!(
                "不在有效期内或已被替代（不会被检索）：{}",
                report.documents_not_in_force.join("、")
            );
        }
        for w in &report.warnings {
            println!("警告：{w}");
        }
        for e in &report.errors {
            println!("错误：{e}");
        }
    }
    if !report.errors.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

fn open_index(config: &Config) -> Result<xiaoban::search::KnowledgeIndex> {
    if xiaoban::search::index::current_generation(&config.data_dir).is_none() {
        xiaoban::search::build(&config.kb_dir, &config.data_dir)?;
    }
    xiaoban::search::KnowledgeIndex::open_current(&config.data_dir)
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// A Unix time as local date and minute.
fn local_minute(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

async fn cmd_suggest(
    config: &Config,
    action: Option<SuggestAction>,
    limit: usize,
    json: bool,
) -> Result<()> {
    let store = xiaoban::store::Store::connect(&config.database_url()).await?;
    let index = open_index(config)?;
    let lookup = xiaoban::suggest::Lookup {
        index: &index,
        weights: config.answer.weights(),
    };
    let today = chrono::Local::now().date_naive();
    match action {
        None => {
            let mut list = xiaoban::suggest::suggestions(&store, &lookup, today).await?;
            list.truncate(limit);
            if json {
                return print_json(&list);
            }
            if list.is_empty() {
                println!("没有待处理的建议：暂无未能回答或被标为没有帮助的提问。");
                return Ok(());
            }
            for s in &list {
                println!(
                    "[{}] {} 次（未能回答 {}，标为没有帮助 {}；最近 {}）  {}",
                    s.id,
                    s.count,
                    s.no_answer,
                    s.unhelpful,
                    local_minute(s.last_asked),
                    s.question
                );
                for p in s.questions.iter().skip(1) {
                    println!("    其他问法：{}（{} 次）", p.question, p.times);
                }
                match &s.doc {
                    Some(d) => println!(
                        "    可能属于：{}《{}》  得分 {:.2}  共同词：{}",
                        d.doc_id,
                        d.title,
                        d.score,
                        d.shared_terms.join("、")
                    ),
                    None => println!("    没有找到可能的文档：采纳时请用 --doc 指定"),
                }
                for d in &s.candidates {
                    println!(
                        "    其次：{}《{}》  得分 {:.2}  共同词：{}",
                        d.doc_id,
                        d.title,
                        d.score,
                        d.shared_terms.join("、")
                    );
                }
                if !s.unhelpful_from.is_empty() {
                    let from: Vec<&str> = s.unhelpful_from.iter().map(|d| d.as_str()).collect();
                    println!("    被标为没有帮助的回答出自：{}", from.join("、"));
                }
            }
            println!(
                "\n采纳：xiaoban suggest accept 编号 [--doc 文档编号]    驳回：xiaoban suggest reject 编号"
            );
        }
        Some(SuggestAction::Accept {
            id,
            doc,
            aliases,
            json,
        }) => {
            let a = xiaoban::suggest::accept(
                &store,
                &lookup,
                &config.kb_dir,
                &config.data_dir,
                &id,
                xiaoban::suggest::AcceptAs {
                    doc: doc.as_deref(),
                    aliases: &aliases,
                },
                today,
            )
            .await?;
            if json {
                return print_json(&a);
            }
            let name = a
                .title
                .as_deref()
                .map(|t| format!("《{t}》"))
                .unwrap_or_default();
            if a.added.is_empty() {
                println!("{}{name} 已有这些别名，未改动文件。", a.doc_id);
            } else {
                println!("已写入 {}{name}（{}）：", a.doc_id, a.file.display());
                for alias in &a.added {
                    println!("  + {alias}");
                }
            }
            for alias in &a.present {
                println!("  = {alias}（已有）");
            }
            for q in &a.too_long {
                println!("  - {q}（太长，未写入；可用 --alias 写一个简短的说法）");
            }
            println!(
                "索引已重建（{}），运行中的服务 2 秒内启用；建议 {} 已标记为已采纳。",
                a.generation, a.id
            );
            for e in &a.index_errors {
                println!("错误（该文档未编入索引）：{e}");
            }
        }
        Some(SuggestAction::Reject { id, json }) => {
            let r = xiaoban::suggest::reject(&store, &lookup, &id, today).await?;
            if json {
                return print_json(&r);
            }
            println!("已驳回建议 {}，不再显示：{}", r.id, r.questions.join("、"));
        }
    }
    Ok(())
}

fn cmd_search(config: &Config, question: &str, limit: usize, json: bool) -> Result<()> {
    let index = open_index(config)?;
    let today = chrono::Local::now().date_naive();
    let found = index.search(question, today, limit, &config.answer.weights())?;
    let hits: Vec<serde_json::Value> = found
        .passages
        .iter()
        .map(|h| {
            let p = index.passage(h.passage);
            let d = index.doc_at(p.doc);
            serde_json::json!({
                "score": h.score,
                "doc_id": d.meta.id,
                "title": d.meta.title,
                "section": p.section,
                "text": p.text,
                "matched": index.explain(&found.terms, h.passage)
                    .into_iter().collect::<std::collections::BTreeMap<_, _>>(),
            })
        })
        .collect();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "terms": found.terms, "expanded": found.expanded, "passages": hits
            }))?
        );
        return Ok(());
    }
    println!("检索词：{}", found.terms.join(" "));
    if !found.expanded.is_empty() {
        println!("同义扩展：{}", found.expanded.join("、"));
    }
    for (i, h) in hits.iter().enumerate() {
        println!(
            "\n{}. [{:.2}] {} › {}  ({})",
            i + 1,
            h["score"].as_f64().unwrap_or(0.0),
            h["title"].as_str().unwrap_or(""),
            h["section"].as_str().unwrap_or(""),
            h["doc_id"].as_str().unwrap_or("")
        );
        println!("   命中：{}", h["matched"]);
        let text: String = h["text"].as_str().unwrap_or("").chars().take(120).collect();
        println!("   {}", text.replace('\n', " "));
    }
    Ok(())
}

async fn cmd_ask(
    config: Config,
    question: String,
    session: Option<String>,
    json: bool,
) -> Result<()> {
    let store = xiaoban::store::Store::connect(&config.database_url()).await?;
    let index = tokio::task::spawn_blocking({
        let config = config.clone();
        move || open_index(&config)
    })
    .await??;
    drop(index);
    let (engine, generation) = tokio::task::spawn_blocking({
        let config = config.clone();
        move || xiaoban::llm::engine::from_config(&config)
    })
    .await?;
    if let Some(hint) = &generation.hint
        && !json
    {
        eprintln!("（{hint}）");
    }
    let assistant = xiaoban::assistant::Assistant {
        index: xiaoban::search::IndexHandle::open(&config.data_dir)?,
        store,
        tuning: config.answer,
        metrics: std::sync::Arc::new(xiaoban::metrics::Metrics::new()),
        engine,
        handoffs: None,
        working_days: Some(std::sync::Arc::new(
            xiaoban::handoff::hours::WorkingDays::from_config(&config.handoff)?,
        )),
    };
    let begun = assistant
        .begin(session.as_deref(), &question)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Generated text is printed as it comes; text that fails the checks is withdrawn and the
    // extractive answer printed instead.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let printer = tokio::spawn(async move {
        let mut out = std::io::stdout();
        while let Some(p) = rx.recv().await {
            if json {
                continue;
            }
            match p {
                Progress::Queue(n) => eprintln!("（排队中，前面还有 {n} 位）"),
                Progress::Delta(t) => {
                    let _ = write!(out, "{t}");
                    let _ = out.flush();
                }
                Progress::Replace(t) => {
                    let _ = writeln!(out, "\n（以上生成内容未通过核对，改为摘录原文：）\n{t}");
                }
            }
        }
    });
    let a = assistant
        .finish(begun, Some(tx))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    printer.await?;
    if json {
        let body = serde_json::json!({
            "session_id": a.session_id.as_str(), "reply_id": a.reply_id, "answer": a.reply.answer,
            "outcome": a.reply.outcome, "mode": a.reply.mode, "citations": a.reply.citations,
            "choices": a.reply.choices,
        });
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    println!();
    for (i, c) in a.reply.citations.iter().enumerate() {
        println!(
            "[{}] 《{}》{}{} {}",
            i + 1,
            c.title,
            c.doc_no
                .as_deref()
                .map(|n| format!(" {n}"))
                .unwrap_or_default(),
            c.effective_from
                .map(|d| format!("，{d} 起施行"))
                .unwrap_or_default(),
            c.url
        );
    }
    println!(
        "（结果：{}；{}；会话：{}）",
        a.reply.outcome.as_str(),
        match a.reply.mode {
            xiaoban::answer::Mode::Generative => "模型生成，已核对出处",
            xiaoban::answer::Mode::Extractive => "摘录原文",
        },
        a.session_id.as_str()
    );
    Ok(())
}

fn cmd_import(
    config: &Config,
    paths: &[PathBuf],
    replace: bool,
    dry_run: bool,
    region: String,
    json: bool,
) -> Result<()> {
    use xiaoban::kb::official::batch::{self, Format, Outcome};
    let files = batch::expand(paths)?;
    let is_table = |p: &std::path::Path| {
        matches!(
            batch::extension(p).as_str(),
            "csv" | "jsonl" | "ndjson" | "xlsx" | "xls" | "ods"
        )
    };
    let documents: Vec<PathBuf> = files
        .iter()
        .filter(|p| Format::of(p).is_some())
        .cloned()
        .collect();
    let unsupported: Vec<(PathBuf, String)> = files
        .iter()
        .filter(|p| Format::of(p).is_none() && !is_table(p))
        .map(|p| (p.clone(), batch::unsupported_reason(p)))
        .collect();
    let opts = batch::Options {
        dry_run,
        replace,
        region,
    };
    let report = batch::import_files(&documents, &config.kb_dir, &opts)?;
    let mut tables = Vec::new();
    for t in files.iter().filter(|p| is_table(p)) {
        let r = xiaoban::kb::import::import(t, &config.kb_dir, replace, dry_run)
            .with_context(|| format!("导入 {}", t.display()))?;
        tables.push((t.clone(), r));
    }
    if json {
        let v = serde_json::json!({
            "dry_run": dry_run,
            "documents": report.files,
            "changes": report.changes,
            "unsupported": unsupported
                .iter()
                .map(|(p, why)| serde_json::json!({"path": p, "reason": why}))
                .collect::<Vec<_>>(),
            "tables": tables
                .iter()
                .map(|(p, r)| serde_json::json!({"path": p, "report": r}))
                .collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let verb = if dry_run { "将写入" } else { "写入" };
    for f in &report.files {
        let id = f.id.as_deref().unwrap_or("-");
        match &f.outcome {
            Outcome::Skipped(why) => println!("  跳过 {}：{why}", f.path.display()),
            outcome => {
                let state = match outcome {
                    Outcome::Written => "已写入",
                    Outcome::Unchanged => "未变",
                    _ => "将写入",
                };
                println!(
                    "  {} {} → {id}（{state}）：{}；识别 {}；{} 节，{} 个表格，{} 字",
                    if *outcome == Outcome::Unchanged {
                        "="
                    } else {
                        "+"
                    },
                    f.path.display(),
                    f.title.as_deref().unwrap_or(""),
                    f.fields.join("、"),
                    f.sections,
                    f.tables,
                    f.chars
                );
            }
        }
        for n in &f.notes {
            println!("      注意：{n}");
        }
    }
    for (p, why) in &unsupported {
        println!("  跳过 {}：{why}", p.display());
    }
    for c in &report.changes {
        println!("  * {}：{}", c.id, c.what);
    }
    for (p, r) in &tables {
        println!(
            "{}：读取 {} 行，{verb} {} 份文档：",
            p.display(),
            r.rows,
            r.written.len()
        );
        for id in &r.written {
            println!("  + {id}");
        }
        for (row, why) in &r.skipped {
            println!("  跳过第 {row} 行：{why}");
        }
    }
    let t = batch::tally(&report);
    if report.files.is_empty() && unsupported.is_empty() {
        println!("请运行 `xiaoban index` 重建索引。");
        return Ok(());
    }
    println!(
        "文件 {} 个：{verb} {}，未变 {}，跳过 {}；替代或废止 {} 份。",
        report.files.len() + unsupported.len(),
        t.get("written")
            .or(t.get("would_write"))
            .copied()
            .unwrap_or(0),
        t.get("unchanged").copied().unwrap_or(0),
        t.get("skipped").copied().unwrap_or(0) + unsupported.len(),
        report.changes.len()
    );
    if dry_run {
        println!("（--dry-run：什么也没有写入。）");
    } else {
        println!("请运行 `xiaoban index` 重建索引。");
    }
    Ok(())
}

fn cmd_eval(config: &Config, files: &[PathBuf], json: bool, sweep: bool) -> Result<()> {
    let index = open_index(config)?;
    let (engine, availability) = xiaoban::llm::engine::from_config(config);
    if let Some(hint) = &availability.hint {
        eprintln!("（{hint}）");
    }
    let mut parts = serde_json::Map::new();
    for file in files {
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cases = xiaoban::measure::answers::load_cases(file)?;
        let mut value = eval_part(config, &index, engine.as_ref(), &cases, json, &name)?;
        let mut grid = vec![0.3, 0.4, 0.5, 0.6, 0.7, 0.8, config.answer.min_coverage];
        grid.sort_by(f32::total_cmp);
        grid.dedup();
        if sweep || !json {
            let points =
                xiaoban::measure::answers::threshold_sweep(&index, &config.answer, &cases, &grid)?;
            if json {
                value["sweep"] = serde_json::to_value(&points)?;
            } else {
                println!(
                    "\n相关性阈值 answer.min_coverage 对“回答/超出范围”的影响（精确率/召回率）："
                );
                for p in &points {
                    println!(
                        "  {:>6.2}  回答 {:.1}%/{:.1}%  超出范围 {:.1}%/{:.1}%",
                        p.min_coverage,
                        p.answered_precision * 100.0,
                        p.answered_recall * 100.0,
                        p.out_of_scope_precision * 100.0,
                        p.out_of_scope_recall * 100.0
                    );
                }
            }
        }
        parts.insert(name, value);
    }
    if json {
        let out = if parts.len() == 1 {
            parts.into_iter().next().map(|(_, v)| v).unwrap_or_default()
        } else {
            serde_json::json!({ "parts": parts })
        };
        println!("{}", serde_json::to_string(&out)?);
    }
    Ok(())
}

/// One evaluation file: run, print the text report unless `json`, return the summary.
fn eval_part(
    config: &Config,
    index: &xiaoban::search::KnowledgeIndex,
    engine: Option<&xiaoban::llm::engine::Engine>,
    cases: &[(usize, xiaoban::measure::answers::Case)],
    json: bool,
    name: &str,
) -> Result<serde_json::Value> {
    let bar = indicatif::ProgressBar::new(cases.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed}")
            .context("progress style")?,
    );
    let params = || engine.map(|e| e.params()).expect("engine present");
    let generating = engine.map(|e| xiaoban::measure::answers::Generating {
        generator: e.generator.as_ref(),
        params: &params,
    });
    let s =
        xiaoban::measure::answers::run(index, &config.answer, cases, generating.as_ref(), || {
            bar.inc(1)
        })?;
    bar.finish_and_clear();
    if json {
        return Ok(serde_json::to_value(&s)?);
    }
    println!("== {name}");
    println!(
        "用例 {}（有期望文档 {}，有期望结果 {}）",
        s.cases, s.with_expected_doc, s.with_expected_outcome
    );
    println!(
        "hit@1 {:.1}%  hit@3 {:.1}%  hit@5 {:.1}%  结果准确率 {:.1}%",
        s.hit1 * 100.0,
        s.hit3 * 100.0,
        s.hit5 * 100.0,
        s.outcome_accuracy * 100.0
    );
    println!(
        "延迟 p50 {:.2} ms  p99 {:.2} ms",
        s.latency_ms_p50, s.latency_ms_p99
    );
    if let Some(g) = &s.generation {
        println!(
            "生成式回答 {} 条：通过核对保留 {}（{:.1}%），被摘录替换 {:?}；引用正确率 {:.1}%（{} 条有期望文档）；首字 p50 {:.0} ms，每条 p50 {:.1} s",
            g.attempted,
            g.kept,
            g.kept_share * 100.0,
            g.replaced,
            g.citation_correctness * 100.0,
            g.kept_with_expected_doc,
            g.first_token_ms_p50,
            g.seconds_p50
        );
    }
    if !s.misses.is_empty() {
        println!("\n未命中 {} 条：", s.misses.len());
        for m in &s.misses {
            println!(
                "  第{}行 {}  期望 {}/{}  实际 {}/{}",
                m.line,
                m.question,
                m.expected_doc.as_deref().unwrap_or("-"),
                m.expected_outcome.as_deref().unwrap_or("-"),
                m.got_docs.first().map(String::as_str).unwrap_or("-"),
                m.got_outcome
            );
        }
    }
    Ok(serde_json::to_value(&s)?)
}

fn cmd_validate(kind: IdKind) -> Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line?;
        let value = line.trim();
        if value.is_empty() {
            continue;
        }
        let verdict = match kind {
            IdKind::Ric => IdNumber::parse(value)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            IdKind::Uscc => CreditCode::parse(value)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        };
        match verdict {
            Ok(()) => writeln!(out, "{value}\tvalid")?,
            Err(reason) => writeln!(out, "{value}\tinvalid\t{reason}")?,
        }
    }
    Ok(())
}

/// First start: fetch the models `serve` will use that are not on disk yet. Failures (no
/// network, a hash not pinned) are logged with what to do; the server starts anyway.
async fn fetch_missing_models(config: &Config) {
    use xiaoban::config::Backend;
    use xiaoban::models::ModelKind;
    let statuses = match xiaoban::models::list(&config.models_dir).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "cannot read the models manifest");
            return;
        }
    };
    let wants_local_chat = config.model.is_none()
        && matches!(config.generation.backend, Backend::Auto | Backend::Candle)
        && config.generation.remote_url.is_empty();
    let first_chat = statuses
        .iter()
        .find(|m| m.kind == ModelKind::Chat)
        .map(|m| m.name.clone());
    for m in &statuses {
        let wanted = match m.kind {
            ModelKind::Chat => wants_local_chat && Some(&m.name) == first_chat.as_ref(),
            _ => true,
        };
        if !wanted || m.summary() == "present" {
            continue;
        }
        tracing::info!(model = %m.name, "fetching a model the server needs (first start)");
        match xiaoban::models::fetch(&config.models_dir, Some(&m.name), false).await {
            Ok(r) => tracing::info!(model = %m.name, files = r.files.len(), "model ready"),
            Err(e) => tracing::warn!(
                model = %m.name,
                error = %format!("{e:#}"),
                "model not fetched; starting without it (see `xiaoban models fetch`)"
            ),
        }
    }
}

async fn cmd_models(config: &Config, action: ModelsAction) -> Result<()> {
    let dir = &config.models_dir;
    match action {
        ModelsAction::List => {
            print!(
                "{}",
                xiaoban::models::format_list(&xiaoban::models::list(dir).await?)
            );
            Ok(())
        }
        ModelsAction::Fetch {
            name,
            trust_unpinned,
        } => {
            let report = xiaoban::models::fetch(dir, name.as_deref(), trust_unpinned).await?;
            for f in &report.files {
                match &f.outcome {
                    FetchOutcome::AlreadyVerified => println!("已校验  {}", f.path),
                    FetchOutcome::AlreadyPresentUnpinned { sha256 } => {
                        println!("已存在  {}  sha256 = \"{sha256}\"（清单未固定）", f.path)
                    }
                    FetchOutcome::Downloaded {
                        source,
                        sha256,
                        size,
                        pinned,
                    } => {
                        println!("已下载  {}  来自 {source}", f.path);
                        if !pinned {
                            println!(
                                "        请在 models/manifest.toml 中固定：sha256 = \"{sha256}\"  size = {size}"
                            );
                        }
                    }
                }
            }
            println!(
                "下载 {} 个文件，共 {} 个文件就绪。",
                report.downloaded(),
                report.files.len()
            );
            Ok(())
        }
        ModelsAction::Verify => {
            let report = xiaoban::models::verify(dir).await?;
            println!("{report}");
            if !report.all_ok() {
                anyhow::bail!("{} 个文件校验失败", report.bad_files().len());
            }
            Ok(())
        }
    }
}
