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
        fig = fig.merge(
            Env::prefixed("XIAOBAN_")
                .split("__")
                .ignore(&["test_postgres_url"]),
        );
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
    fn a_mistyped_key_is_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("xiaoban.toml", "lisen = \"x\"\n")?;
            assert!(Config::load(None, &Overrides::default()).is_err());
            Ok(())
        });
    }
}
