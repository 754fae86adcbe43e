//! `xiaoban bench-generation`: how fast the in-process candle backend answers, on the kind of
//! prompt the assistant really sends. Loads a model with [`CandleGenerator`], builds the grounded
//! prompt (system rules + numbered knowledge-base passages + a question) trimmed to a given
//! number of tokens, and over several runs measures time to first token (so prompt-processing
//! speed), generation speed for a fixed number of greedy tokens, load time and peak resident
//! memory. Medians over the timed runs, after one untimed warm-up run (reported as the cold
//! first token). A measurement, not a test; `scripts/bench_generation.sh` runs it next to
//! llama.cpp on the same file.

use super::stats::median;
use crate::answer::grounded::{self, Source};
use crate::llm::candle::CandleGenerator;
use crate::llm::{ChatMessage, GenerationParams, Generator, StopReason};
use crate::search::passage;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// The question the benchmark prompt ends with.
pub const QUESTION: &str = "身份证有效期满了怎么换领？证件要带哪几样，几个工作日能取证？";

#[derive(Debug, Clone)]
pub struct Options {
    /// Prompt length in tokens, chat template included.
    pub prompt_tokens: usize,
    /// Tokens to generate per run.
    pub generate: usize,
    /// Timed runs (after one warm-up run).
    pub runs: usize,
}

/// One timed generation.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub ttft_s: f64,
    pub total_s: f64,
    pub generated_tokens: usize,
    /// Tokens after the first per second of time after the first.
    pub generation_tok_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub model: String,
    pub runs: usize,
    /// The prompt's actual length in tokens (the largest prompt of at most the asked length).
    pub prompt_tokens: usize,
    pub generate: usize,
    pub load_s: f64,
    /// Median time from the call to the first generated token.
    pub ttft_s: f64,
    /// Prompt tokens over the median time to first token.
    pub prompt_tok_s: f64,
    /// Median generation speed: tokens after the first per second after the first.
    pub generation_tok_s: f64,
    /// Time to first token of the warm-up run, the first request after loading.
    pub cold_ttft_s: f64,
    /// Resident memory once the model is loaded, in MB (VmRSS).
    pub rss_after_load_mb: f64,
    /// Peak resident memory of the process, in MB (VmHWM).
    pub peak_rss_mb: f64,
    /// `CANDLE_NUM_THREADS` / `RAYON_NUM_THREADS` as set, else the core count candle uses.
    pub threads: String,
    pub per_run: Vec<Run>,
}

/// Runs the benchmark on `model` + `tokenizer`, the prompt built from the documents in `kb`.
pub fn run(model: &Path, tokenizer: &Path, kb: &Path, opts: &Options) -> Result<Report> {
    if opts.runs == 0 || opts.generate == 0 {
        bail!("--runs and --generate must be at least 1");
    }
    let sources = knowledge_sources(kb)?;
    let started = Instant::now();
    let generator = CandleGenerator::load(model, tokenizer, 1)?;
    let load_s = started.elapsed().as_secs_f64();
    let rss_after_load_mb = proc_status_kb("VmRSS").unwrap_or(0) as f64 / 1024.0;

    let messages = prompt_of_tokens(&generator, &sources, QUESTION, opts.prompt_tokens)?;
    let prompt_tokens = generator.encode_chat(&messages)?.len();

    let cold = timed(&generator, &messages, 1)?;
    let mut per_run = Vec::with_capacity(opts.runs);
    for _ in 0..opts.runs {
        let r = timed(&generator, &messages, opts.generate)?;
        if r.generated_tokens < opts.generate {
            tracing::warn!(
                generated = r.generated_tokens,
                asked = opts.generate,
                "the model ended early; the rate is over the tokens it generated"
            );
        }
        per_run.push(r);
    }
    let ttft_s = median(&per_run.iter().map(|r| r.ttft_s).collect::<Vec<_>>());
    let threads = ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS"]
        .iter()
        .map(|v| {
            format!(
                "{v}={}",
                std::env::var(v).unwrap_or_else(|_| "unset".into())
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Report {
        model: generator.describe(),
        runs: opts.runs,
        prompt_tokens,
        generate: opts.generate,
        load_s,
        ttft_s,
        prompt_tok_s: prompt_tokens as f64 / ttft_s,
        generation_tok_s: median(
            &per_run
                .iter()
                .map(|r| r.generation_tok_s)
                .collect::<Vec<_>>(),
        ),
        cold_ttft_s: cold.ttft_s,
        rss_after_load_mb,
        peak_rss_mb: proc_status_kb("VmHWM").unwrap_or(0) as f64 / 1024.0,
        threads,
        per_run,
    })
}

impl Report {
    /// The report as lines for a terminal.
    pub fn text(&self) -> String {
        let runs: Vec<String> = self
            .per_run
            .iter()
            .map(|r| {
                format!(
                    "{:.2} s + {} tok @ {:.1} tok/s",
                    r.ttft_s, r.generated_tokens, r.generation_tok_s
                )
            })
            .collect();
        format!(
            "模型 / model: {}\n\
             加载 / load: {:.2} s, RSS {:.0} MB\n\
             首字 / time to first token ({} prompt tokens): {:.2} s (prompt {:.1} tok/s; cold {:.2} s)\n\
             生成 / generation ({} tokens, greedy): {:.1} tok/s\n\
             峰值内存 / peak RSS: {:.0} MB\n\
             {} runs, medians; {}\n\
             runs: {}",
            self.model,
            self.load_s,
            self.rss_after_load_mb,
            self.prompt_tokens,
            self.ttft_s,
            self.prompt_tok_s,
            self.cold_ttft_s,
            self.generate,
            self.generation_tok_s,
            self.peak_rss_mb,
            self.runs,
            self.threads,
            runs.join("; "),
        )
    }
}

/// One greedy generation of exactly `max_tokens` tokens (unless the model ends first).
fn timed(generator: &CandleGenerator, messages: &[ChatMessage], max_tokens: usize) -> Result<Run> {
    let params = GenerationParams {
        max_tokens,
        temperature: 0.0,
        top_p: None,
        repeat_penalty: 1.0,
        repeat_last_n: 0,
        seed: 0,
        deadline: Instant::now() + Duration::from_secs(3600),
    };
    let started = Instant::now();
    let g = generator.generate(messages, &params, &mut |_| true)?;
    let total_s = started.elapsed().as_secs_f64();
    if !matches!(g.stop, StopReason::Length | StopReason::EndToken) {
        bail!("generation stopped: {:?}", g.stop);
    }
    let ttft_s = g
        .first_token
        .context("no token was generated")?
        .as_secs_f64();
    let after = g.generated_tokens.saturating_sub(1);
    let generation_tok_s = if after == 0 {
        0.0
    } else {
        after as f64 / (total_s - ttft_s).max(1e-9)
    };
    Ok(Run {
        ttft_s,
        total_s,
        generated_tokens: g.generated_tokens,
        generation_tok_s,
    })
}

/// Every passage of the knowledge base, in document order, as a numbered-source candidate.
fn knowledge_sources(kb: &Path) -> Result<Vec<Source>> {
    let corpus = crate::kb::load(kb).with_context(|| format!("loading {}", kb.display()))?;
    let sources: Vec<Source> = corpus
        .documents
        .iter()
        .flat_map(|d| {
            passage::split(d, 0, 0).into_iter().map(|p| Source {
                doc_title: d.meta.title.clone(),
                section: p.section,
                text: p.text,
            })
        })
        .collect();
    if sources.is_empty() {
        bail!("{} has no documents to build a prompt from", kb.display());
    }
    Ok(sources)
}

/// The grounded prompt for `question` over as many of `sources` as fit in `tokens` tokens, the
/// last one cut short (at a character) so the prompt comes as close to `tokens` as it can
/// without passing it. Sources are repeated when there are too few.
pub fn prompt_of_tokens(
    generator: &CandleGenerator,
    sources: &[Source],
    question: &str,
    tokens: usize,
) -> Result<Vec<ChatMessage>> {
    let count = |s: &[Source]| -> Result<usize> {
        Ok(generator.encode_chat(&grounded::prompt(question, s))?.len())
    };
    fit_sources(sources, tokens, count)
        .map(|s| grounded::prompt(question, &s))
        .with_context(|| format!("building a prompt of {tokens} tokens"))
}

/// The sources (from `all`, repeated as needed) whose prompt is the longest not over `budget`
/// by `count`: whole sources while they fit, then a prefix of the next source's text.
fn fit_sources(
    all: &[Source],
    budget: usize,
    count: impl Fn(&[Source]) -> Result<usize>,
) -> Result<Vec<Source>> {
    if all.is_empty() {
        bail!("no sources");
    }
    if count(&[])? > budget {
        bail!("even a prompt with no sources is longer than {budget} tokens");
    }
    let mut chosen: Vec<Source> = Vec::new();
    // Whole sources, one at a time (each prompt is short: this stays cheap).
    for s in all.iter().cycle() {
        chosen.push(s.clone());
        if count(&chosen)? > budget {
            break;
        }
    }
    // The last source did not fit whole: the longest prefix of its text that does.
    let last = chosen.pop().expect("at least one source");
    let chars: Vec<char> = last.text.chars().collect();
    let with_prefix = |n: usize| {
        let mut s = chosen.clone();
        s.push(Source {
            text: chars[..n].iter().collect(),
            ..last.clone()
        });
        s
    };
    let n = longest_fitting(chars.len(), |n| Ok(count(&with_prefix(n))? <= budget))?;
    if n > 0 {
        return Ok(with_prefix(n));
    }
    // Not even its heading fits: continue the previous source's text with it instead.
    let Some(previous) = chosen.pop() else {
        return Ok(chosen);
    };
    let extended = |n: usize| {
        let mut s = chosen.clone();
        let mut text = previous.text.trim_end().to_string();
        text.push('\n');
        text.extend(&chars[..n]);
        s.push(Source {
            text,
            ..previous.clone()
        });
        s
    };
    let n = longest_fitting(chars.len(), |n| Ok(count(&extended(n))? <= budget))?;
    if n > 0 {
        return Ok(extended(n));
    }
    chosen.push(previous);
    Ok(chosen)
}

/// The largest `n` in `0..=max` with `fits(n)`, for a `fits` that holds up to some point and
/// not after it (0 when none holds).
fn longest_fitting(max: usize, mut fits: impl FnMut(usize) -> Result<bool>) -> Result<usize> {
    let (mut lo, mut hi) = (0, max);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid)? {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(lo)
}

/// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`, …).
fn proc_status_kb(field: &str) -> Option<u64> {
    parse_status_kb(&std::fs::read_to_string("/proc/self/status").ok()?, field)
}

fn parse_status_kb(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let (name, rest) = line.split_once(':')?;
        if name != field {
            return None;
        }
        let mut parts = rest.split_whitespace();
        let value = parts.next()?.parse().ok()?;
        (parts.next() == Some("kB")).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source {
        Source {
            doc_title: "标题".into(),
            section: "段".into(),
            text: text.into(),
        }
    }

    /// A stand-in token count: one token per character of the texts, plus 10 for the frame.
    fn chars(s: &[Source]) -> Result<usize> {
        Ok(10 + s.iter().map(|s| s.text.chars().count()).sum::<usize>())
    }

    #[test]
    fn longest_fitting_finds_the_boundary() {
        for limit in [0, 1, 5, 99, 100] {
            assert_eq!(longest_fitting(100, |n| Ok(n <= limit)).unwrap(), limit);
        }
        assert_eq!(longest_fitting(0, |_| Ok(true)).unwrap(), 0);
        assert_eq!(longest_fitting(7, |_| Ok(true)).unwrap(), 7);
    }

    #[test]
    fn sources_are_trimmed_to_the_budget_exactly_when_possible() {
        let all = [source("一二三四五"), source("六七八九十")];
        let fitted = fit_sources(&all, 17, chars).unwrap();
        assert_eq!(chars(&fitted).unwrap(), 17);
        let texts: Vec<&str> = fitted.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["一二三四五", "六七"]);
        // More than all sources hold: they repeat.
        let fitted = fit_sources(&all, 33, chars).unwrap();
        assert_eq!(chars(&fitted).unwrap(), 33);
        assert_eq!(fitted.len(), 5);
        // A budget that ends on a source boundary keeps whole sources only.
        let fitted = fit_sources(&all, 20, chars).unwrap();
        assert_eq!(fitted.len(), 2);
        assert!(fit_sources(&all, 9, chars).is_err());
        // When a new source's heading does not fit, the last one is continued instead.
        let headed = |s: &[Source]| -> Result<usize> {
            Ok(10 + s.iter().map(|s| 4 + s.text.chars().count()).sum::<usize>())
        };
        let fitted = fit_sources(&all, 21, headed).unwrap();
        assert_eq!(headed(&fitted).unwrap(), 21);
        let texts: Vec<&str> = fitted.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["一二三四五\n六"]);
        assert!(fit_sources(&[], 100, chars).is_err());
    }

    #[test]
    fn status_fields_are_read_in_kilobytes() {
        let status = "Name:\txiaoban\nVmPeak:\t 2000000 kB\nVmHWM:\t  951234 kB\n\
                      VmRSS:\t  900000 kB\nThreads:\t3\n";
        assert_eq!(parse_status_kb(status, "VmHWM"), Some(951_234));
        assert_eq!(parse_status_kb(status, "VmRSS"), Some(900_000));
        assert_eq!(parse_status_kb(status, "Threads"), None);
        assert_eq!(parse_status_kb(status, "VmSwap"), None);
    }
}
