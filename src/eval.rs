//! `xiaoban eval`: retrieval hit@k, outcome accuracy and latency of the answer pipeline on a
//! JSONL set of questions, run in-process exactly as the server runs them (redaction included).

use crate::answer::{self, Conversation, Outcome, Question, Tuning};
use crate::kb::DocId;
use crate::privacy::redact;
use crate::search::KnowledgeIndex;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub question: String,
    pub expected_doc: Option<String>,
    pub expected_outcome: Option<String>,
    /// Cases with the same conversation name run in order in one conversation (follow-ups).
    pub conversation: Option<String>,
    /// A free-form label (typo, dialect, english, follow-up, injection, …) for the report.
    pub tag: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub line: usize,
    pub question: String,
    pub expected_doc: Option<String>,
    pub got_docs: Vec<String>,
    pub expected_outcome: Option<String>,
    pub got_outcome: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub cases: usize,
    pub with_expected_doc: usize,
    #[serde(rename = "hit@1")]
    pub hit1: f64,
    #[serde(rename = "hit@3")]
    pub hit3: f64,
    #[serde(rename = "hit@5")]
    pub hit5: f64,
    pub with_expected_outcome: usize,
    pub outcome_accuracy: f64,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub misses: Vec<Miss>,
}

pub fn load_cases(path: &Path) -> Result<Vec<(usize, Case)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("读取 {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        let case: Case = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: 不是有效的评测用例", path.display(), i + 1))?;
        if let Some(o) = &case.expected_outcome
            && Outcome::parse(o).is_none()
        {
            bail!(
                "{}:{}: 未知的 expected_outcome “{o}”",
                path.display(),
                i + 1
            );
        }
        out.push((i + 1, case));
    }
    Ok(out)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Runs every case; `progress` is called after each.
pub fn run(
    index: &KnowledgeIndex,
    tuning: &Tuning,
    cases: &[(usize, Case)],
    mut progress: impl FnMut(),
) -> Result<Summary> {
    let today = chrono::Local::now().date_naive();
    let mut conversations: HashMap<String, Conversation> = HashMap::new();
    let (mut h1, mut h3, mut h5, mut n_doc, mut n_out, mut ok_out) = (0, 0, 0, 0, 0, 0);
    let mut latencies = Vec::new();
    let mut misses = Vec::new();
    for (line, case) in cases {
        let conv = case
            .conversation
            .as_ref()
            .and_then(|c| conversations.get(c))
            .cloned()
            .unwrap_or_default();
        let started = Instant::now();
        let question = Question::parse(&redact(&case.question).text);
        let (outcome, ranked, next) = match question {
            Ok(q) => {
                let (reply, next) = answer::answer(index, tuning, &q, &conv, today)?;
                (reply.outcome, reply.ranked, next)
            }
            Err(_) => (Outcome::OutOfScope, Vec::new(), conv),
        };
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        if let Some(c) = &case.conversation {
            conversations.insert(c.clone(), next);
        }
        let rank = case.expected_doc.as_ref().map(|d| {
            let id = DocId::parse(d).ok();
            ranked.iter().position(|r| Some(r) == id.as_ref())
        });
        let doc_ok = match rank {
            Some(r) => {
                n_doc += 1;
                h1 += usize::from(r == Some(0));
                h3 += usize::from(r.is_some_and(|r| r < 3));
                h5 += usize::from(r.is_some_and(|r| r < 5));
                r == Some(0)
            }
            None => true,
        };
        let outcome_ok = match &case.expected_outcome {
            Some(o) => {
                n_out += 1;
                let ok = Outcome::parse(o) == Some(outcome);
                ok_out += usize::from(ok);
                ok
            }
            None => true,
        };
        if !doc_ok || !outcome_ok {
            misses.push(Miss {
                line: *line,
                question: case.question.clone(),
                expected_doc: case.expected_doc.clone(),
                got_docs: ranked.iter().take(3).map(|d| d.to_string()).collect(),
                expected_outcome: case.expected_outcome.clone(),
                got_outcome: outcome.as_str().to_string(),
            });
        }
        progress();
    }
    latencies.sort_by(f64::total_cmp);
    let frac = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Ok(Summary {
        cases: cases.len(),
        with_expected_doc: n_doc,
        hit1: frac(h1, n_doc),
        hit3: frac(h3, n_doc),
        hit5: frac(h5, n_doc),
        with_expected_outcome: n_out,
        outcome_accuracy: frac(ok_out, n_out),
        latency_ms_p50: percentile(&latencies, 0.5),
        latency_ms_p99: percentile(&latencies, 0.99),
        misses,
    })
}
