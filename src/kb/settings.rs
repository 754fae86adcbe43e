//! The knowledge base's editable settings beside the documents: query synonyms, the jieba user
//! dictionary and the routing phrases. They are compiled into each index generation, so a
//! rebuild changes documents and settings together. The file formats are read here, where
//! both the index (`search`) and the knowledge-base tools find them.

use crate::text::normalise;
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
    /// English words and phrases → the Chinese terms of the guides (`glossary.txt`, the same
    /// line format as the synonyms); absent from catalogs built before it existed.
    #[serde(default)]
    pub glossary: Vec<SynonymRule>,
    pub user_words: Vec<UserWord>,
    pub routes: Routes,
}

/// One line of `synonyms.txt`: a colloquial phrase and the official terms it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynonymRule {
    /// Normalised (lower-cased, half-width) colloquial phrase.
    pub phrase: String,
    pub official: Vec<String>,
}

/// Parses `colloquial => official, official` lines; returns rules and the numbers of bad lines.
pub fn parse_synonyms(text: &str) -> (Vec<SynonymRule>, Vec<usize>) {
    let mut rules = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((left, right)) = line.split_once("=>") else {
            bad.push(i + 1);
            continue;
        };
        let official: Vec<String> = right
            .split([',', '，', '、'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let phrase = normalise(left.trim());
        if phrase.is_empty() || official.is_empty() {
            bad.push(i + 1);
            continue;
        }
        rules.push(SynonymRule { phrase, official });
    }
    (rules, bad)
}

/// One line of `user_dict.txt`: `word [freq] [tag]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserWord {
    pub word: String,
    pub freq: Option<usize>,
    pub tag: Option<String>,
}

/// Parses a jieba user dictionary; blank lines and `#` comments are skipped.
pub fn parse_user_dict(text: &str) -> Vec<UserWord> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let word = parts.next()?.to_string();
            let freq = parts.next().and_then(|f| f.parse().ok());
            let tag = parts.next().map(str::to_string);
            Some(UserWord { word, freq, tag })
        })
        .collect()
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
    let glossary_text = read("glossary.txt");
    let mut rules = |name: &str, text: Option<&str>, form: &str| {
        let (rules, bad) = parse_synonyms(text.unwrap_or(""));
        for line in bad {
            warnings.push(format!(
                "{}:{line}: 规则格式应为“{form} => 正式用语, 正式用语”，已跳过",
                kb.join(name).display()
            ));
        }
        rules
    };
    let synonyms = rules("synonyms.txt", syn_text.as_deref(), "口语说法");
    let glossary = match glossary_text.as_deref() {
        Some(text) => rules("glossary.txt", Some(text), "English words"),
        None => default_glossary(),
    };
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
            glossary,
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

/// The English glossary shipped with Xiaoban, used when a knowledge base has none: the
/// national names of documents and services read the same in every city.
pub fn default_glossary() -> Vec<SynonymRule> {
    parse_synonyms(include_str!("../../knowledge_base/glossary.txt")).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synonym_lines_parse_with_their_phrase_normalised() {
        let (rules, bad) = parse_synonyms(
            "# 注释\n上户口 => 出生登记\n驾照 => 机动车驾驶证，驾驶证、 准驾证\nbroken line\nＩＤ Card => 身份证\n => 空\n",
        );
        assert_eq!(bad, vec![4, 6]);
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[1].official, ["机动车驾驶证", "驾驶证", "准驾证"]);
        assert_eq!(rules[2].phrase, "id card");
    }

    #[test]
    fn user_dict_lines_parse_with_optional_parts() {
        let words = parse_user_dict("居民身份证 20000 n\n一件事\n");
        assert_eq!(words[0].freq, Some(20000));
        assert_eq!(words[1].word, "一件事");
        assert_eq!(words[1].tag, None);
    }
}
