//! Model files: the manifest under `models/` (name, kind, licence, and per file its path,
//! SHA-256, size and sources), fetching with resumable, verified downloads, and verifying what
//! is on disk. The CLI's `xiaoban models list | fetch [NAME] | verify` calls [`list`],
//! [`fetch`] and [`verify`]; model files themselves are never committed.

pub mod fetch;
pub mod manifest;

pub use fetch::{
    FetchOptions, FetchOutcome, FetchReport, FetchedFile, FileState, ModelStatus, VerifyReport,
    fetch, fetch_with, format_list, list, verify,
};
pub use manifest::{
    Check, FileEntry, FileStatus, MANIFEST_FILE, Manifest, ManifestError, ModelEntry, ModelKind,
    Source, WheelSource,
};

/// The models folder when nothing else is configured, relative to the working directory.
pub const DEFAULT_MODELS_DIR: &str = "models";
