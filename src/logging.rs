//! Log output: one JSON object per line (the default when stderr is not a terminal, as under
//! systemd, Docker or Kubernetes) or readable text on a terminal. The level comes from
//! `XIAOBAN_LOG` (an `EnvFilter` directive, default `info`).
//!
//! **Invariant:** log lines carry ids, outcomes, counts and timings, never what a citizen
//! typed, a scan's content, names, identity numbers, passwords, tokens or cookies (the test
//! `tests/log_privacy.rs` scans the log of a full run for them).

use std::io::IsTerminal;

/// The environment variable with the filter directive (`info`, `debug`, `xiaoban=debug,…`).
pub const FILTER_ENV: &str = "XIAOBAN_LOG";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// JSON when stderr is not a terminal, text when it is.
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

impl LogFormat {
    /// `Auto` decided for the current stderr.
    pub fn resolve(self) -> LogFormat {
        match self {
            LogFormat::Auto if std::io::stderr().is_terminal() => LogFormat::Text,
            LogFormat::Auto => LogFormat::Json,
            other => other,
        }
    }
}

/// Installs the global subscriber writing to stderr. JSON lines hold `timestamp`, `level`,
/// `target`, the event's fields flattened beside `message`, and `span` with the fields of the
/// innermost span (for HTTP requests: `request_id`, `method`, `route`) and `spans`, the chain
/// of spans. Returns the format chosen.
pub fn init(format: LogFormat) -> LogFormat {
    let filter = tracing_subscriber::EnvFilter::try_from_env(FILTER_ENV)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let format = format.resolve();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .init(),
        _ => builder.init(),
    }
    format
}
