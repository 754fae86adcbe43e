//! The commands that measure: how well and how fast the service does its work, each on real
//! models, a real index and real files, printing figures rather than asserting them.
//!
//! `answers.rs`: `xiaoban eval`, the answer pipeline on a JSONL set of questions (retrieval
//! hit@k, outcome accuracy, latency). `documents.rs`: `xiaoban eval-docs`, document
//! verification on generated specimens. `retrieval.rs`: `xiaoban bench`, retrieval and
//! extractive-reply latency on a padded knowledge base. `generation.rs`:
//! `xiaoban bench-generation`, the in-process candle backend's speed on real prompts.
//! `ocr.rs`: `xiaoban ocr`, one image read as an upload would be, or every image of a folder
//! timed per stage. `stats.rs`: the percentile and median they all report.
//!
//! **Invariants:** nothing the server runs depends on this module; measurements call the
//! library's own entry points (the answer pipeline, the verifier, intake and straightening)
//! rather than copies of them.

pub mod answers;
pub mod documents;
pub mod generation;
pub mod ocr;
pub mod retrieval;
pub mod stats;
