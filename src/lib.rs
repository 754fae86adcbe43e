//! Xiaoban (小办): a self-hostable assistant for government service platforms.
//! See ARCHITECTURE.md for the map of this crate.

pub mod account;
pub mod answer;
pub mod assistant;
pub mod config;
pub mod desk;
pub mod handoff;
pub mod ident;
pub mod kb;
pub mod keys;
pub mod llm;
pub mod logging;
pub mod measure;
pub mod metrics;
pub mod models;
pub mod ocr;
pub mod photo;
pub mod privacy;
pub mod search;
pub mod server;
pub mod store;
pub mod suggest;
pub mod text;
pub mod verify;
pub mod web;
