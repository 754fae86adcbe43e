//! Scan key rotation (`xiaoban keys rotate`): every sealed scan and report is re-sealed under
//! a new key, and the old key is dropped only once nothing needs it.
//!
//! With the key file, a rotation is three durable steps, each safe to interrupt:
//! 1. a new key becomes current in `DATA/scan.key` and the old one stays as `retired` (the file
//!    is replaced atomically); running servers re-read the file within 2 s and from then on
//!    seal under the new key while still opening the old records;
//! 2. every job with a part not under the new key is re-sealed, one job per transaction, each
//!    part only if unchanged meanwhile; passes repeat until one finds nothing left to move;
//! 3. the file is rewritten with the new key alone.
//!
//! Running `rotate` again after an interruption sees the retired key and resumes at step 2
//! (no second new key); after step 3 it starts a new rotation. With `XIAOBAN_SCAN_KEY` the
//! process cannot write the new key anywhere: the operator sets `XIAOBAN_SCAN_KEY` (new) and
//! `XIAOBAN_SCAN_KEY_RETIRED` (old) on every node, and `rotate` does step 2.

use crate::desk::aad;
use crate::store::Store;
use crate::store::seal::{KeySource, Keyring, ScanKey, Sealer, write_key_file};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// Jobs looked up at a time.
const PAGE: i64 = 200;

/// What an operator does when the key comes from the environment.
pub const ENV_STEPS: &str = "扫描件密钥来自环境变量 XIAOBAN_SCAN_KEY，本命令无法替您保存新密钥。轮换步骤：\n  1. 运行 `xiaoban keys generate` 生成新密钥；\n  2. 在每个节点上设置 XIAOBAN_SCAN_KEY=<新密钥> 和 XIAOBAN_SCAN_KEY_RETIRED=<旧密钥>，然后重启服务（新上传的扫描件即用新密钥加密，旧记录仍可打开）；\n  3. 以同样的环境变量运行 `xiaoban keys rotate`，把所有已存扫描件改用新密钥加密；\n  4. 完成后从所有节点删除 XIAOBAN_SCAN_KEY_RETIRED 并重启，旧密钥即告作废。";

/// How a rotation runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Re-seal at most this many jobs in this run (the rest on the next run).
    pub limit: Option<usize>,
    /// Wait after writing a new key, so running servers pick it up before the re-sealing
    /// pass starts (they re-read the key file every 2 s).
    pub settle: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limit: None,
            settle: crate::store::seal::RELOAD_EVERY * 2 + Duration::from_secs(1),
        }
    }
}

/// What a rotation run did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The id of the key everything is (being) sealed under.
    pub key: String,
    /// Whether this run made the new key (otherwise it resumed an unfinished rotation).
    pub started: bool,
    pub resealed_jobs: usize,
    pub resealed_parts: usize,
    /// Callback tickets whose phone number was re-sealed.
    pub resealed_callbacks: usize,
    /// Jobs with a part that no key opens (sealed elsewhere or altered); left as they are.
    pub unreadable_jobs: Vec<String>,
    /// Jobs still to re-seal (after a run cut short by `limit`).
    pub remaining_jobs: i64,
    /// Whether the retired keys were dropped: the rotation is complete.
    pub finished: bool,
    /// With keys from the environment: remove `XIAOBAN_SCAN_KEY_RETIRED` by hand.
    pub retire_by_hand: bool,
}

/// The keys in use and what still needs re-sealing.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub source: String,
    pub current: String,
    pub retired: Vec<String>,
    /// Jobs with a sealed part not under the current key.
    pub jobs_not_under_current: i64,
}

/// An exclusive lock on `scan.key.lock` beside the key file, held while the file lives.
fn lock(key_file: &Path) -> Result<std::fs::File> {
    let path = key_file.with_extension("key.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("打开 {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            anyhow::bail!(
                "另一个 `xiaoban keys rotate` 正在运行（{} 已加锁）",
                path.display()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("锁定 {}", path.display()))
        }
    }
}

fn source_name(s: &KeySource) -> String {
    match s {
        KeySource::File(p) => p.display().to_string(),
        KeySource::Env => "XIAOBAN_SCAN_KEY".into(),
        KeySource::Given => "(given)".into(),
    }
}

pub async fn status(store: &Store, data_dir: &Path) -> Result<Status> {
    let ring = Keyring::load_or_create(data_dir)?;
    Ok(Status {
        source: source_name(&ring.source),
        current: ring.current.id().to_string(),
        retired: ring.retired.iter().map(|k| k.id().to_string()).collect(),
        jobs_not_under_current: store.count_jobs_not_sealed_under(ring.current.id()).await?,
    })
}

/// Starts or resumes a rotation of the keys of `data_dir` (or of the environment) over the
/// jobs in `store`.
pub async fn rotate(store: &Store, data_dir: &Path, opts: &Options) -> Result<Report> {
    let mut ring = Keyring::load_or_create(data_dir)?;
    // Two rotations at once could each write a new key, and one of them would be lost. The
    // lock goes with the process, so a crash leaves nothing to clean up.
    let _lock = match &ring.source {
        KeySource::File(path) => Some(lock(path)?),
        _ => None,
    };
    // Read again under the lock: another rotation may have just finished or started.
    if let KeySource::File(_) = &ring.source {
        ring = Keyring::load_or_create(data_dir)?;
    }
    let mut started = false;
    if ring.retired.is_empty() {
        let KeySource::File(path) = &ring.source else {
            anyhow::bail!("{ENV_STEPS}");
        };
        let next = Keyring {
            current: ScanKey::generate(),
            retired: vec![ring.current.clone()],
            source: ring.source.clone(),
        };
        write_key_file(path, &next)?;
        tracing::info!(key = %next.current.id(), retired = %ring.current.id(), "scan key rotation started");
        ring = next;
        started = true;
        tokio::time::sleep(opts.settle).await;
    }
    let current = ring.current.id();
    // The record's own cipher is kept; the configured one does not matter here.
    let sealer = Sealer::new(ring.clone(), crate::config::ScanCipher::Aes256Gcm);
    let mut report = Report {
        key: current.to_string(),
        started,
        resealed_jobs: 0,
        resealed_parts: 0,
        resealed_callbacks: 0,
        unreadable_jobs: Vec::new(),
        remaining_jobs: 0,
        finished: false,
        retire_by_hand: false,
    };
    let mut unreadable = BTreeSet::new();
    loop {
        let mut changed_meanwhile = 0;
        let mut cursor = String::new();
        loop {
            let ids = store.jobs_not_sealed_under(current, &cursor, PAGE).await?;
            let Some(last) = ids.last() else { break };
            cursor = last.clone();
            for id in ids {
                if unreadable.contains(&id) {
                    continue;
                }
                if opts.limit.is_some_and(|n| report.resealed_jobs >= n) {
                    report.remaining_jobs =
                        store.count_jobs_not_sealed_under(current).await? - unreadable.len() as i64;
                    report.unreadable_jobs = unreadable.into_iter().collect();
                    return Ok(report);
                }
                let done = store
                    .reseal_job(&id, |part, sealed| sealer.reseal(&aad(&id, part), sealed))
                    .await?;
                if done.parts > 0 {
                    report.resealed_jobs += 1;
                    report.resealed_parts += done.parts;
                }
                changed_meanwhile += done.changed_meanwhile;
                if done.unreadable > 0 {
                    tracing::warn!(job = %id, parts = done.unreadable, "sealed part that no key opens; left as it is");
                    unreadable.insert(id);
                }
            }
        }
        // Done when nothing changed under this pass and nothing arrived behind it (a server
        // that had not yet re-read the key file sealing a new upload under the old key).
        if changed_meanwhile == 0
            && store.count_jobs_not_sealed_under(current).await? <= unreadable.len() as i64
        {
            break;
        }
    }
    // Callback tickets' phone numbers are sealed under the same keys.
    loop {
        let mut swapped_meanwhile = 0;
        for (id, sealed) in store.callback_phones().await? {
            let aad = crate::handoff::callback_aad(&id);
            match sealer.reseal(&aad, &sealed) {
                Ok(Some(fresh)) => {
                    if store.swap_callback_phone(&id, &sealed, &fresh).await? {
                        report.resealed_callbacks += 1;
                    } else {
                        swapped_meanwhile += 1;
                    }
                }
                Ok(None) => {}
                Err(_) => {
                    tracing::warn!(ticket = %id, "sealed phone number that no key opens; left as it is");
                }
            }
        }
        if swapped_meanwhile == 0 {
            break;
        }
    }
    match &ring.source {
        KeySource::File(path) => {
            write_key_file(
                path,
                &Keyring {
                    retired: Vec::new(),
                    ..ring.clone()
                },
            )?;
            tracing::info!(key = %current, "scan key rotation finished; the old key is dropped");
        }
        _ => report.retire_by_hand = true,
    }
    report.finished = true;
    report.unreadable_jobs = unreadable.into_iter().collect();
    Ok(report)
}
