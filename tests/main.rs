//! The integration tests, one module per file beside this one, built as one test binary
//! (`cargo test --test integration`; one file: `cargo test --test integration clerk_page::`).
//! Each binary links the whole crate, so one per file multiplied link time and disk;
//! `verify_api.rs` stays a binary of its own because it installs a process-wide log
//! subscriber. The modules' tests run side by side in one process: a test that needs a
//! shared resource (the models folder, a PostgreSQL schema, a port) takes its own or a lock.

mod common;
mod common_llm;
mod common_nodes;

mod clerk_page;
mod cli;
mod generation;
mod handoff;
mod handoff_pages;
mod hardening;
mod http_api;
mod http_pages;
mod injection;
mod job_recovery;
mod key_rotation;
mod limits;
mod llm_candle;
mod log_privacy;
mod models_fetch;
mod ocr;
mod official_import;
mod operations_doc;
mod privacy_and_index;
mod suggest;
mod two_nodes;
mod verify_real;
mod verify_specimens;
