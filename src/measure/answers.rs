//! `xiaoban eval`: retrieval hit@k, outcome accuracy and latency of the answer pipeline on a
//! JSONL set of questions, run in-process exactly as the server runs them (redaction included).

use super::stats::percentile;
use crate::answer::grounded;
use crate::answer::{self, Conversation, Outcome, Question, Tuning};
use crate::kb::DocId;
use crate::llm::{GenerationParams, Generator};
use crate::privacy::redact;
use crate::search::KnowledgeIndex;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
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
    /// Present when a language model wrote the answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<GenerationSummary>,
    /// Per tag: cases with an expected outcome, and how many got it.
    pub by_tag: BTreeMap<String, TagSummary>,
    pub misses: Vec<Miss>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TagSummary {
    pub cases: usize,
    pub outcome_ok: usize,
}

/// How answering and declining trade off at one relevance threshold (`answer.min_coverage`,
/// the share of the question a document must hold), over the cases that expect `answered` or
/// `out_of_scope`.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdPoint {
    pub min_coverage: f32,
    pub answered_precision: f64,
    pub answered_recall: f64,
    pub out_of_scope_precision: f64,
    pub out_of_scope_recall: f64,
}

/// Runs the cases once per threshold in `grid` (no generation) and reports precision and
/// recall of `answered` and `out_of_scope` at each.
pub fn threshold_sweep(
    index: &KnowledgeIndex,
    tuning: &Tuning,
    cases: &[(usize, Case)],
    grid: &[f32],
) -> Result<Vec<ThresholdPoint>> {
    let today = chrono::Local::now().date_naive();
    let mut points = Vec::new();
    for &min_coverage in grid {
        let tuned = Tuning {
            min_coverage,
            ..*tuning
        };
        let mut conversations: HashMap<String, Conversation> = HashMap::new();
        // (expected, got) counts for the two outcomes.
        let (mut ans_tp, mut ans_got, mut ans_exp) = (0usize, 0usize, 0usize);
        let (mut oos_tp, mut oos_got, mut oos_exp) = (0usize, 0usize, 0usize);
        for (_, case) in cases {
            let conv = case
                .conversation
                .as_ref()
                .and_then(|c| conversations.get(c))
                .cloned()
                .unwrap_or_default();
            let Ok(q) = Question::parse(&redact(&case.question).text) else {
                continue;
            };
            let (reply, next) = answer::answer(index, &tuned, &q, &conv, today)?;
            if let Some(c) = &case.conversation {
                conversations.insert(c.clone(), next);
            }
            let expected = case.expected_outcome.as_deref().and_then(Outcome::parse);
            if !matches!(expected, Some(Outcome::Answered | Outcome::OutOfScope)) {
                continue;
            }
            let got = reply.outcome;
            ans_exp += usize::from(expected == Some(Outcome::Answered));
            oos_exp += usize::from(expected == Some(Outcome::OutOfScope));
            ans_got += usize::from(got == Outcome::Answered);
            oos_got += usize::from(got == Outcome::OutOfScope);
            ans_tp += usize::from(got == Outcome::Answered && expected == Some(got));
            oos_tp += usize::from(got == Outcome::OutOfScope && expected == Some(got));
        }
        let frac = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        points.push(ThresholdPoint {
            min_coverage,
            answered_precision: frac(ans_tp, ans_got),
            answered_recall: frac(ans_tp, ans_exp),
            out_of_scope_precision: frac(oos_tp, oos_got),
            out_of_scope_recall: frac(oos_tp, oos_exp),
        });
    }
    Ok(points)
}

/// How generated answers fared against the checks.
#[derive(Debug, Clone, Serialize, Default)]
pub struct GenerationSummary {
    /// Answered cases the model wrote an answer for.
    pub attempted: usize,
    /// Answers that passed the checks and were kept.
    pub kept: usize,
    /// `kept / attempted`.
    pub kept_share: f64,
    /// Answers replaced by the extractive one, by reason.
    pub replaced: BTreeMap<String, usize>,
    /// Kept answers of cases with an expected document.
    pub kept_with_expected_doc: usize,
    /// Share of those whose citations include the expected document.
    pub citation_correctness: f64,
    pub first_token_ms_p50: f64,
    pub seconds_p50: f64,
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

/// A language model to write answers during evaluation, with the parameters of each call.
pub struct Generating<'a> {
    pub generator: &'a dyn Generator,
    pub params: &'a dyn Fn() -> GenerationParams,
}

/// Runs every case; `progress` is called after each. With `generating`, every answered case
/// is also written by the model and checked exactly as the server does.
pub fn run(
    index: &KnowledgeIndex,
    tuning: &Tuning,
    cases: &[(usize, Case)],
    generating: Option<&Generating>,
    mut progress: impl FnMut(),
) -> Result<Summary> {
    let mut gen_summary = generating.map(|_| GenerationSummary::default());
    let (mut first_tokens, mut durations, mut cited_ok) = (Vec::new(), Vec::new(), 0usize);
    let today = chrono::Local::now().date_naive();
    let mut conversations: HashMap<String, Conversation> = HashMap::new();
    let (mut h1, mut h3, mut h5, mut n_doc, mut n_out, mut ok_out) = (0, 0, 0, 0, 0, 0);
    let mut latencies = Vec::new();
    let mut misses = Vec::new();
    let mut by_tag: BTreeMap<String, TagSummary> = BTreeMap::new();
    for (line, case) in cases {
        let conv = case
            .conversation
            .as_ref()
            .and_then(|c| conversations.get(c))
            .cloned()
            .unwrap_or_default();
        let started = Instant::now();
        let question = Question::parse(&redact(&case.question).text);
        let (reply, next) = match question {
            Ok(q) => {
                let (reply, next) = answer::answer(index, tuning, &q, &conv, today)?;
                (Some((q, reply)), next)
            }
            Err(_) => (None, conv),
        };
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        if let (Some(g), Some(summary), Some((q, reply))) =
            (generating, gen_summary.as_mut(), reply.as_ref())
            && reply.outcome == Outcome::Answered
            && !reply.sources.is_empty()
        {
            summary.attempted += 1;
            let began = Instant::now();
            let messages = grounded::prompt(q.as_str(), &grounded::sources(index, &reply.sources));
            let verdict = match g
                .generator
                .generate(&messages, &(g.params)(), &mut |_| true)
            {
                Ok(generation) => {
                    if let Some(t) = generation.first_token {
                        first_tokens.push(t.as_secs_f64() * 1000.0);
                    }
                    grounded::judge(index, &reply.sources, &generation)
                }
                Err(_) => Err(grounded::Rejection::Error),
            };
            durations.push(began.elapsed().as_secs_f64());
            match verdict {
                Ok((_, citations)) => {
                    summary.kept += 1;
                    if let Some(expected) = &case.expected_doc {
                        summary.kept_with_expected_doc += 1;
                        cited_ok += usize::from(
                            citations
                                .iter()
                                .any(|c| c.doc_id.as_str() == expected.as_str()),
                        );
                    }
                }
                Err(why) => *summary.replaced.entry(why.label().to_string()).or_default() += 1,
            }
        }
        let (outcome, ranked) = match reply {
            Some((_, r)) => (r.outcome, r.ranked),
            None => (Outcome::OutOfScope, Vec::new()),
        };
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
                if let Some(tag) = &case.tag {
                    let t = by_tag.entry(tag.clone()).or_default();
                    t.cases += 1;
                    t.outcome_ok += usize::from(ok);
                }
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
    let frac = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    if let Some(g) = gen_summary.as_mut() {
        g.kept_share = frac(g.kept, g.attempted);
        g.citation_correctness = frac(cited_ok, g.kept_with_expected_doc);
        g.first_token_ms_p50 = percentile(&first_tokens, 0.5);
        g.seconds_p50 = percentile(&durations, 0.5);
    }
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
        generation: gen_summary,
        by_tag,
        misses,
    })
}
