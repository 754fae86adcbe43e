//! The knowledge base's editable settings beside the documents: query synonyms, the jieba user
//! dictionary and the routing phrases. They are compiled into each index generation, so a
//! rebuild changes documents and settings together.

use crate::search::expand::{SynonymRule, parse_synonyms};
use crate::search::segment::{UserWord, parse_user_dict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Phrases that send a question to a human or out of scope, by reason.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routes {
    /// reason → phrases; a question containing one is handed over to a human.
    #[serde(default)]
    pub handoff: BTreeMap<String, Vec<String>>,
    /// reason → phrases; a question containing one is politely declined and routed on.
    #[serde(default)]
    pub out_of_scope: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Settings {
    pub synonyms: Vec<SynonymRule>,
    pub user_words: Vec<UserWord>,
    pub routes: Routes,
}

/// Reads the settings files of `kb`; problems are returned as warnings (the defaults apply).
pub fn load(kb: &Path) -> (Settings, Vec<String>) {
    let mut warnings = Vec::new();
    let mut read = |name: &str| match std::fs::read_to_string(kb.join(name)) {
        Ok(t) => Some(t),
        Err(e) => {
            warnings.push(format!("{}: {e}", kb.join(name).display()));
            None
        }
    };
    let syn_text = read("synonyms.txt");
    let dict_text = read("user_dict.txt");
    let routes_text = read("routes.toml");
    let (synonyms, bad) = parse_synonyms(syn_text.as_deref().unwrap_or(""));
    for line in bad {
        warnings.push(format!(
            "{}:{line}: 同义词规则格式应为“口语说法 => 正式用语, 正式用语”，已跳过",
            kb.join("synonyms.txt").display()
        ));
    }
    let user_words = parse_user_dict(dict_text.as_deref().unwrap_or(""));
    let routes = match routes_text.as_deref().map(toml::from_str::<Routes>) {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            warnings.push(format!(
                "{}: {}；改用默认分流规则",
                kb.join("routes.toml").display(),
                e.message()
            ));
            default_routes()
        }
        None => default_routes(),
    };
    (
        Settings {
            synonyms,
            user_words,
            routes,
        },
        warnings,
    )
}

/// The routing phrases shipped with Xiaoban, used when a knowledge base has none.
pub fn default_routes() -> Routes {
    toml::from_str(include_str!("../../knowledge_base/routes.toml"))
        .expect("the shipped routes.toml parses")
}
