//! Encryption at rest for scans and the fields read from them (个人信息保护法: identity-card
//! scans are sensitive personal information). Each record is sealed with AES-256-GCM or
//! SM4-GCM under the deployment's scan key, with a fresh random nonce and associated data that
//! binds it to its job and its part, so a record copied into another job does not open.
//!
//! A sealed record is `[2 format][1 cipher][8 key id][12 nonce][ciphertext + 16 tag]`: the
//! cipher and the key are recorded per record, so changing `scans.cipher` leaves older records
//! readable and a key rotation knows which records still need re-sealing. Records of the first
//! format, `[1][cipher][nonce][ciphertext + tag]`, carry no key id and still open (every key of
//! the keyring is tried).
//!
//! The keys are a [`Keyring`]: the current key seals, retired keys only open. A key file
//! (`DATA/scan.key`, 0600) holds the current key's base64 on its first key line and
//! `retired <base64>` lines while a rotation (`xiaoban keys rotate`, see
//! [`crate::store::rekey`]) is under way; `XIAOBAN_SCAN_KEY` (and `XIAOBAN_SCAN_KEY_RETIRED`,
//! comma-separated) replace the file. A [`Sealer`] built on the key file re-reads it every
//! [`RELOAD_EVERY`], so running servers follow a rotation without a restart.

use crate::config::ScanCipher;
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, AesGcm};
use anyhow::{Context, Result};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// SM4 (GB/T 32907) in Galois/Counter Mode with a 96-bit nonce.
type Sm4Gcm = AesGcm<sm4::Sm4, U12>;

/// The key file's name inside the data folder.
pub const KEY_FILE: &str = "scan.key";
/// The environment variable that carries the key (base64 of 32 bytes) instead of the file.
pub const KEY_ENV: &str = "XIAOBAN_SCAN_KEY";
/// Retired keys (comma-separated base64) that only open records, with [`KEY_ENV`].
pub const RETIRED_ENV: &str = "XIAOBAN_SCAN_KEY_RETIRED";
/// How often a sealer built on the key file looks for a changed file.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// Records with the key id in their header.
const FORMAT: u8 = 2;
/// Records from before key ids.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
pub const KEY_ID_LEN: usize = 8;
/// Header of the current format: format, cipher, key id.
const HEADER: usize = 2 + KEY_ID_LEN;

/// 32 secret bytes. `Debug` never shows them.
#[derive(Clone)]
pub struct ScanKey([u8; 32]);

impl fmt::Debug for ScanKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScanKey({})", self.id())
    }
}

/// A key's public name: the first 8 bytes of SHA-256 over a label and the key. Stored in
/// every sealed record; shown as 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; KEY_ID_LEN]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Why a sealed record could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error(
        "扫描件无法解密：密钥与加密时所用的不同，或记录被改动（请检查数据目录中的 scan.key 或环境变量 XIAOBAN_SCAN_KEY）"
    )]
    WrongKeyOrTampered,
    #[error("扫描件记录格式不正确（长度或版本不对）")]
    Malformed,
}

impl ScanKey {
    pub fn from_bytes(bytes: [u8; 32]) -> ScanKey {
        ScanKey(bytes)
    }

    /// A fresh random key.
    pub fn generate() -> ScanKey {
        let key = Aes256Gcm::generate_key(&mut OsRng);
        ScanKey(key.into())
    }

    /// A key written as base64 (standard or URL-safe alphabet, padding optional).
    pub fn from_base64(text: &str) -> Result<ScanKey> {
        let text = text.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
            .context("扫描件密钥不是有效的 base64")?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            anyhow::anyhow!("扫描件密钥应为 32 字节，实际为 {} 字节", b.len())
        })?;
        Ok(ScanKey(bytes))
    }

    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    /// This key's id.
    pub fn id(&self) -> KeyId {
        let mut h = Sha256::new();
        h.update(b"xiaoban scan key id\0");
        h.update(self.0);
        let digest = h.finalize();
        let mut id = [0; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        KeyId(id)
    }

    /// The current key of [`Keyring::load_or_create`].
    pub fn load_or_create(data_dir: &Path) -> Result<ScanKey> {
        Ok(Keyring::load_or_create(data_dir)?.current)
    }
}

/// Where the keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `DATA/scan.key`, re-read by running servers.
    File(PathBuf),
    /// `XIAOBAN_SCAN_KEY` and `XIAOBAN_SCAN_KEY_RETIRED`, fixed for the process's life.
    Env,
    /// Keys handed over in code (tests, tools).
    Given,
}

/// The current key, which seals, and retired keys, which only open records not yet re-sealed.
#[derive(Debug, Clone)]
pub struct Keyring {
    pub current: ScanKey,
    pub retired: Vec<ScanKey>,
    /// Where they were read from (not part of the key file).
    pub source: KeySource,
}

impl From<&ScanKey> for Keyring {
    fn from(key: &ScanKey) -> Keyring {
        Keyring {
            current: key.clone(),
            retired: Vec::new(),
            source: KeySource::Given,
        }
    }
}

impl Keyring {
    /// Parses a key file: blank lines and `#` comments ignored, one bare base64 key (the
    /// current one) and any number of `retired <base64>` lines.
    pub fn parse(text: &str) -> Result<Keyring> {
        let mut current = None;
        let mut retired = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = || format!("第 {} 行", n + 1);
            if let Some(k) = line.strip_prefix("retired ") {
                retired.push(ScanKey::from_base64(k).with_context(at)?);
            } else if current.is_some() {
                anyhow::bail!("{}：只能有一个当前密钥（退役的密钥以 retired 开头）", at());
            } else {
                current = Some(ScanKey::from_base64(line).with_context(at)?);
            }
        }
        Ok(Keyring {
            current: current.context("没有当前密钥")?,
            retired,
            source: KeySource::Given,
        })
    }

    /// The key file's text.
    pub fn to_file_text(&self) -> String {
        let mut out = String::from(
            "# 小办 scan keys: the first key seals; `retired` keys only open records not yet re-sealed.\n# Back this file up separately from the database. Never edit it while `xiaoban keys rotate` runs.\n",
        );
        out.push_str(&self.current.to_base64());
        out.push('\n');
        for k in &self.retired {
            out.push_str("retired ");
            out.push_str(&k.to_base64());
            out.push('\n');
        }
        out
    }

    /// Every key, the current one first.
    pub fn keys(&self) -> impl Iterator<Item = &ScanKey> {
        std::iter::once(&self.current).chain(&self.retired)
    }

    /// The keys from `XIAOBAN_SCAN_KEY` (and `XIAOBAN_SCAN_KEY_RETIRED`) if set, else from
    /// `DATA/scan.key`, which is created (readable by the owner only, 0600) on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Keyring> {
        if let Ok(text) = std::env::var(KEY_ENV)
            && !text.trim().is_empty()
        {
            let current =
                ScanKey::from_base64(&text).with_context(|| format!("环境变量 {KEY_ENV}"))?;
            let retired = std::env::var(RETIRED_ENV)
                .unwrap_or_default()
                .split([',', ' ', '\n'])
                .filter(|k| !k.trim().is_empty())
                .map(ScanKey::from_base64)
                .collect::<Result<Vec<_>>>()
                .with_context(|| format!("环境变量 {RETIRED_ENV}"))?;
            return Ok(Keyring {
                current,
                retired,
                source: KeySource::Env,
            });
        }
        let path = key_path(data_dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                tighten_permissions(&path)?;
                let ring = Keyring::parse(&text)
                    .with_context(|| format!("密钥文件 {}", path.display()))?;
                remove_abandoned_new_keys(data_dir, std::time::SystemTime::now());
                Ok(Keyring {
                    source: KeySource::File(path),
                    ..ring
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir)
                    .with_context(|| format!("创建数据目录 {}", data_dir.display()))?;
                let ring = Keyring::from(&ScanKey::generate());
                match write_new_key(&path, &ring) {
                    Ok(()) => {
                        tracing::info!(file = %path.display(), key = %ring.current.id(), "created the scan encryption key; back it up with the database");
                        Ok(Keyring {
                            source: KeySource::File(path),
                            ..ring
                        })
                    }
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Keyring::load_or_create(data_dir)
                    }
                    Err(e) => Err(e).with_context(|| format!("写入密钥文件 {}", path.display())),
                }
            }
            Err(e) => Err(e).with_context(|| format!("读取密钥文件 {}", path.display())),
        }
    }
}

pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEY_FILE)
}

fn owner_only() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Puts a new key file in place only if there is none, whole or not at all: the key is
/// written to a temporary file beside it (0600), flushed, then moved into place without
/// replacing anything (`renameat2(RENAME_NOREPLACE)`, or a hard link where that is missing).
/// Of nodes starting together on a shared data folder exactly one wins; the others get
/// `AlreadyExists` and read the winner's key, never a half-written file.
fn write_new_key(path: &Path, ring: &Keyring) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    // tempfile creates it readable by the owner only (0600 on Unix).
    let mut tmp = tempfile::Builder::new()
        .prefix(".scan.key.")
        .suffix(".new")
        .tempfile_in(dir)?;
    tmp.write_all(ring.to_file_text().as_bytes())?;
    tmp.as_file().sync_all()?;
    // On failure the temporary file is removed when the error drops it.
    tmp.persist_noclobber(path).map_err(|e| e.error)?;
    // Makes the new name durable; not all platforms can open a folder.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// How old a temporary new-key file must be before it counts as abandoned: a node creating
/// the key holds its file for milliseconds, so one this old belongs to a node that died.
const ABANDONED_KEY_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// Removes the temporary files (`.scan.key.*.new`) of key creations that never finished: a
/// node killed between writing its candidate key and moving it into place leaves one behind,
/// holding a key that never encrypted anything. Only files older than [`ABANDONED_KEY_AGE`]
/// go, so a node creating the key right now keeps its own. Failing to remove one only
/// leaves it for the next start.
fn remove_abandoned_new_keys(data_dir: &Path, now: std::time::SystemTime) {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return;
    };
    let mut removed = 0usize;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(".scan.key.") && name.ends_with(".new")) {
            continue;
        }
        let abandoned = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|at| now.duration_since(at).ok())
            .is_some_and(|age| age >= ABANDONED_KEY_AGE);
        if abandoned && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::warn!(
            files = removed,
            "removed abandoned temporary key files left by a start that was interrupted"
        );
    }
}

/// Replaces the key file atomically: written beside it (0600), flushed, renamed over it, and
/// the folder flushed, so a crash leaves the old file or the new one, never half of one.
pub fn write_key_file(path: &Path, ring: &Keyring) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("key.new");
    let _ = std::fs::remove_file(&tmp);
    let mut f = owner_only()
        .create_new(true)
        .open(&tmp)
        .with_context(|| format!("写入 {}", tmp.display()))?;
    f.write_all(ring.to_file_text().as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path).with_context(|| format!("替换密钥文件 {}", path.display()))?;
    if let Some(dir) = path.parent() {
        // Makes the rename durable; not all platforms can open a folder.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// A key file that others can read is narrowed to 0600, with a warning.
fn tighten_permissions(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(file = %path.display(), mode = format!("{mode:o}"), "scan key was readable by others; setting 0600");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// One key's two ciphers.
struct KeyCiphers {
    id: KeyId,
    aes: Aes256Gcm,
    sm4: Sm4Gcm,
}

impl KeyCiphers {
    fn new(key: &ScanKey) -> KeyCiphers {
        // SM4 takes a 128-bit key: derived from the scan key with its own label, so the same
        // bytes never serve two ciphers directly.
        let mut h = Sha256::new();
        h.update(b"xiaoban sm4-gcm key\0");
        h.update(key.0);
        let sm4_key = h.finalize();
        KeyCiphers {
            id: key.id(),
            aes: Aes256Gcm::new_from_slice(&key.0).expect("32-byte key"),
            sm4: Sm4Gcm::new_from_slice(&sm4_key[..16]).expect("16-byte key"),
        }
    }

    fn open(
        &self,
        cipher: u8,
        nonce: &[u8],
        body: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        let mut n = aes_gcm::Nonce::<U12>::default();
        n.copy_from_slice(nonce);
        let payload = Payload { msg: body, aad };
        let plain = match cipher {
            1 => self.aes.decrypt(&n, payload),
            2 => self.sm4.decrypt(&n, payload),
            _ => return Err(SealError::Malformed),
        };
        plain.map_err(|_| SealError::WrongKeyOrTampered)
    }
}

/// The ciphers of a whole keyring, the current key first.
struct Ring {
    keys: Vec<KeyCiphers>,
}

impl Ring {
    fn new(ring: &Keyring) -> Ring {
        Ring {
            keys: ring.keys().map(KeyCiphers::new).collect(),
        }
    }
    fn current(&self) -> &KeyCiphers {
        &self.keys[0]
    }
    /// Whether `ring` holds the same keys in the same roles.
    fn same_as(&self, ring: &Keyring) -> bool {
        self.keys.len() == ring.retired.len() + 1
            && self
                .keys
                .iter()
                .zip(ring.keys())
                .all(|(a, b)| a.id == b.id())
    }
}

struct Loaded {
    ring: Arc<Ring>,
    checked: Instant,
}

/// Seals and opens records with a keyring; new records use the current key and the
/// configured cipher. Cloning shares the keys.
#[derive(Clone)]
pub struct Sealer {
    cipher: ScanCipher,
    source: KeySource,
    reload_every: Duration,
    loaded: Arc<Mutex<Loaded>>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealer({:?}, {})", self.cipher, self.current_key_id())
    }
}

fn cipher_id(c: ScanCipher) -> u8 {
    match c {
        ScanCipher::Aes256Gcm => 1,
        ScanCipher::Sm4Gcm => 2,
    }
}

fn cipher_from_id(id: u8) -> Option<ScanCipher> {
    match id {
        1 => Some(ScanCipher::Aes256Gcm),
        2 => Some(ScanCipher::Sm4Gcm),
        _ => None,
    }
}

impl Sealer {
    /// A sealer on a keyring (a single key converts: `Sealer::new(&key, cipher)`). Keys read
    /// from the key file ([`KeySource::File`]) are re-read every [`RELOAD_EVERY`] when the
    /// sealer is used, and a changed file replaces them.
    pub fn new(keys: impl Into<Keyring>, cipher: ScanCipher) -> Sealer {
        let ring = keys.into();
        Sealer {
            cipher,
            source: ring.source.clone(),
            reload_every: RELOAD_EVERY,
            loaded: Arc::new(Mutex::new(Loaded {
                ring: Arc::new(Ring::new(&ring)),
                checked: Instant::now(),
            })),
        }
    }

    /// The keys now in use, re-read from the key file when it is time.
    fn ring(&self) -> Arc<Ring> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let KeySource::File(path) = &self.source
            && loaded.checked.elapsed() >= self.reload_every
        {
            loaded.checked = Instant::now();
            match std::fs::read_to_string(path) {
                Ok(text) => match Keyring::parse(&text) {
                    Ok(ring) if loaded.ring.same_as(&ring) => {}
                    Ok(ring) => {
                        tracing::info!(
                            key = %ring.current.id(),
                            retired = ring.retired.len(),
                            "scan key file changed; keys reloaded"
                        );
                        loaded.ring = Arc::new(Ring::new(&ring));
                    }
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), "scan key file unreadable; keeping the keys in use")
                    }
                },
                Err(e) => {
                    tracing::error!(error = %e, "scan key file unreadable; keeping the keys in use")
                }
            }
        }
        loaded.ring.clone()
    }

    pub fn cipher(&self) -> ScanCipher {
        self.cipher
    }

    /// The id of the key new records are sealed with.
    pub fn current_key_id(&self) -> KeyId {
        self.ring().current().id
    }

    /// Encrypts `plain`; `aad` (e.g. `job:<id>:front`) must be given again to open it.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        seal_with(self.ring().current(), self.cipher, aad, plain)
    }

    /// Decrypts a record sealed by [`Sealer::seal`] under any key of the keyring with the
    /// same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        open_with(&self.ring(), aad, sealed)
    }

    /// A record sealed under another key (or in the first format) opened and sealed again
    /// under the current key with the record's own cipher; `None` if it already is under the
    /// current key.
    pub fn reseal(&self, aad: &[u8], sealed: &[u8]) -> Result<Option<Vec<u8>>, SealError> {
        let ring = self.ring();
        if Sealer::key_id_of(sealed) == Some(ring.current().id) {
            return Ok(None);
        }
        let cipher = Sealer::cipher_of(sealed).ok_or(SealError::Malformed)?;
        let plain = open_with(&ring, aad, sealed)?;
        Ok(Some(seal_with(ring.current(), cipher, aad, &plain)))
    }

    /// The cipher a sealed record was made with, if it is one of ours.
    pub fn cipher_of(sealed: &[u8]) -> Option<ScanCipher> {
        match sealed.get(..2)? {
            [FORMAT | FORMAT_V1, c] => cipher_from_id(*c),
            _ => None,
        }
    }

    /// The id of the key a record was sealed with; `None` for the first format (no id) or a
    /// record that is not ours.
    pub fn key_id_of(sealed: &[u8]) -> Option<KeyId> {
        if sealed.first() != Some(&FORMAT) {
            return None;
        }
        let id: [u8; KEY_ID_LEN] = sealed.get(2..HEADER)?.try_into().ok()?;
        Some(KeyId(id))
    }
}

fn seal_with(key: &KeyCiphers, cipher: ScanCipher, aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let payload = Payload { msg: plain, aad };
    let (nonce, body) = match cipher {
        ScanCipher::Aes256Gcm => {
            let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
            (nonce.to_vec(), key.aes.encrypt(&nonce, payload))
        }
        ScanCipher::Sm4Gcm => {
            let nonce = Sm4Gcm::generate_nonce(&mut OsRng);
            (nonce.to_vec(), key.sm4.encrypt(&nonce, payload))
        }
    };
    // Encryption fails only for inputs beyond GCM's 64 GB limit.
    let body = body.expect("GCM seals any record under 64 GB");
    let mut out = Vec::with_capacity(HEADER + NONCE_LEN + body.len());
    out.push(FORMAT);
    out.push(cipher_id(cipher));
    out.extend_from_slice(&key.id.0);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    out
}

fn open_with(ring: &Ring, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    match sealed.first() {
        Some(&FORMAT) if sealed.len() >= HEADER + NONCE_LEN + TAG_LEN => {
            let id = Sealer::key_id_of(sealed).ok_or(SealError::Malformed)?;
            let key = ring
                .keys
                .iter()
                .find(|k| k.id == id)
                .ok_or(SealError::WrongKeyOrTampered)?;
            key.open(
                sealed[1],
                &sealed[HEADER..HEADER + NONCE_LEN],
                &sealed[HEADER + NONCE_LEN..],
                aad,
            )
        }
        Some(&FORMAT_V1) if sealed.len() >= 2 + NONCE_LEN + TAG_LEN => {
            let (nonce, body) = sealed[2..].split_at(NONCE_LEN);
            let mut last = SealError::WrongKeyOrTampered;
            for key in &ring.keys {
                match key.open(sealed[1], nonce, body, aad) {
                    Ok(plain) => return Ok(plain),
                    Err(e) => last = e,
                }
            }
            Err(last)
        }
        _ => Err(SealError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"11010519491231002X \xe5\xbc\xa0\xe4\xb8\x89 scan bytes";

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    /// A record in the first format (no key id), as earlier versions wrote it.
    fn seal_v1(key: &ScanKey, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let body = KeyCiphers::new(key)
            .aes
            .encrypt(&nonce, Payload { msg: plain, aad })
            .unwrap();
        [&[FORMAT_V1, 1][..], &nonce, &body].concat()
    }

    #[test]
    fn both_ciphers_round_trip_and_hide_the_plaintext() {
        let key = ScanKey::generate();
        for cipher in [ScanCipher::Aes256Gcm, ScanCipher::Sm4Gcm] {
            let s = Sealer::new(&key, cipher);
            let sealed = s.seal(b"job:1:front", SECRET);
            assert_eq!(Sealer::cipher_of(&sealed), Some(cipher));
            assert!(!contains(&sealed, b"11010519491231002X"));
            assert_eq!(s.open(b"job:1:front", &sealed).unwrap(), SECRET);
            // Two seals of the same record differ (fresh nonce).
            assert_ne!(sealed, s.seal(b"job:1:front", SECRET));
        }
    }

    #[test]
    fn records_open_after_the_configured_cipher_changes() {
        let key = ScanKey::generate();
        let old = Sealer::new(&key, ScanCipher::Aes256Gcm).seal(b"a", SECRET);
        let new = Sealer::new(&key, ScanCipher::Sm4Gcm);
        assert_eq!(new.open(b"a", &old).unwrap(), SECRET);
    }

    #[test]
    fn a_wrong_key_another_job_or_a_flipped_bit_fail_clearly() {
        let s = Sealer::new(&ScanKey::generate(), ScanCipher::Aes256Gcm);
        let sealed = s.seal(b"job:1:front", SECRET);
        let other = Sealer::new(&ScanKey::generate(), ScanCipher::Aes256Gcm);
        let err = other.open(b"job:1:front", &sealed).unwrap_err();
        assert_eq!(err, SealError::WrongKeyOrTampered);
        assert!(err.to_string().contains("密钥"), "{err}");
        assert_eq!(
            s.open(b"job:2:front", &sealed),
            Err(SealError::WrongKeyOrTampered)
        );
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(
            s.open(b"job:1:front", &flipped),
            Err(SealError::WrongKeyOrTampered)
        );
        assert_eq!(s.open(b"x", b"short"), Err(SealError::Malformed));
    }

    #[test]
    fn every_record_names_its_key_and_a_keyring_opens_by_that_name() {
        let (a, b) = (ScanKey::generate(), ScanKey::generate());
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id(), ScanKey::from_bytes(a.0).id(), "ids are stable");
        let under_a = Sealer::new(&a, ScanCipher::Sm4Gcm).seal(b"p", SECRET);
        assert_eq!(Sealer::key_id_of(&under_a), Some(a.id()));
        assert_eq!(a.id().to_string().len(), 16);
        // B current, A retired: opens A's records, seals under B.
        let ring = Sealer::new(
            Keyring {
                current: b.clone(),
                retired: vec![a.clone()],
                source: KeySource::Given,
            },
            ScanCipher::Aes256Gcm,
        );
        assert_eq!(ring.open(b"p", &under_a).unwrap(), SECRET);
        assert_eq!(Sealer::key_id_of(&ring.seal(b"p", SECRET)), Some(b.id()));
        // B alone does not open A's record, even though B is tried first.
        assert_eq!(
            Sealer::new(&b, ScanCipher::Aes256Gcm).open(b"p", &under_a),
            Err(SealError::WrongKeyOrTampered)
        );
        // A record naming a key that is not in the ring.
        let mut renamed = under_a.clone();
        renamed[2..HEADER].copy_from_slice(&b.id().0);
        assert_eq!(
            ring.open(b"p", &renamed),
            Err(SealError::WrongKeyOrTampered)
        );
    }

    #[test]
    fn resealing_moves_a_record_to_the_current_key_and_keeps_its_cipher() {
        let (a, b) = (ScanKey::generate(), ScanKey::generate());
        let under_a = Sealer::new(&a, ScanCipher::Sm4Gcm).seal(b"p", SECRET);
        let ring = Sealer::new(
            Keyring {
                current: b.clone(),
                retired: vec![a.clone()],
                source: KeySource::Given,
            },
            ScanCipher::Aes256Gcm,
        );
        let moved = ring
            .reseal(b"p", &under_a)
            .unwrap()
            .expect("needs re-sealing");
        assert_eq!(Sealer::key_id_of(&moved), Some(b.id()));
        assert_eq!(Sealer::cipher_of(&moved), Some(ScanCipher::Sm4Gcm));
        assert_eq!(ring.reseal(b"p", &moved).unwrap(), None, "already current");
        let only_b = Sealer::new(&b, ScanCipher::Aes256Gcm);
        assert_eq!(only_b.open(b"p", &moved).unwrap(), SECRET);
        assert_eq!(
            Sealer::new(&a, ScanCipher::Aes256Gcm).open(b"p", &moved),
            Err(SealError::WrongKeyOrTampered),
            "the old key no longer opens it"
        );
        assert_eq!(
            ring.reseal(b"other job", &under_a),
            Err(SealError::WrongKeyOrTampered)
        );
    }

    #[test]
    fn first_format_records_open_under_any_key_of_the_ring_and_get_a_key_id() {
        let (a, b) = (ScanKey::generate(), ScanKey::generate());
        let old = seal_v1(&a, b"p", SECRET);
        assert_eq!(Sealer::key_id_of(&old), None);
        assert_eq!(Sealer::cipher_of(&old), Some(ScanCipher::Aes256Gcm));
        assert_eq!(
            Sealer::new(&a, ScanCipher::Aes256Gcm)
                .open(b"p", &old)
                .unwrap(),
            SECRET
        );
        let ring = Sealer::new(
            Keyring {
                current: b.clone(),
                retired: vec![a],
                source: KeySource::Given,
            },
            ScanCipher::Aes256Gcm,
        );
        assert_eq!(ring.open(b"p", &old).unwrap(), SECRET);
        let moved = ring.reseal(b"p", &old).unwrap().unwrap();
        assert_eq!(Sealer::key_id_of(&moved), Some(b.id()));
        assert_eq!(
            Sealer::new(&b, ScanCipher::Aes256Gcm).open(b"p", &old),
            Err(SealError::WrongKeyOrTampered)
        );
    }

    #[test]
    fn the_key_file_is_created_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let a = ScanKey::load_or_create(dir.path()).unwrap();
        let b = ScanKey::load_or_create(dir.path()).unwrap();
        assert_eq!(a.0, b.0, "the second start reads the same key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = key_path(dir.path());
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            ScanKey::load_or_create(dir.path()).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "a key readable by others is narrowed");
        }
        let shown = format!("{a:?}");
        assert_eq!(shown, format!("ScanKey({})", a.id()));
        assert!(!shown.contains(&a.to_base64()));
    }

    /// Nodes starting together on a shared, empty data folder: every one of them ends up with
    /// the same key, from a whole 0600 file, and no temporary file is left behind. (Before,
    /// the file was created and then written, so a node could read it empty and fail.)
    #[test]
    fn nodes_creating_the_key_at_once_all_use_the_one_that_won() {
        const NODES: usize = 16;
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let data = dir.path().join("data");
            let start = std::sync::Barrier::new(NODES);
            let rings: Vec<Keyring> = std::thread::scope(|s| {
                let spawned: Vec<_> = (0..NODES)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            Keyring::load_or_create(&data)
                        })
                    })
                    .collect();
                spawned
                    .into_iter()
                    .map(|t| t.join().unwrap().unwrap_or_else(|e| panic!("{e:#}")))
                    .collect()
            });
            let on_disk = Keyring::parse(&std::fs::read_to_string(key_path(&data)).unwrap())
                .unwrap()
                .current
                .id();
            for ring in &rings {
                assert_eq!(ring.current.id(), on_disk, "round {round}");
                assert_eq!(ring.source, KeySource::File(key_path(&data)));
            }
            let names: Vec<String> = std::fs::read_dir(&data)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(
                names,
                [KEY_FILE],
                "round {round}: only the key file is left"
            );
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(key_path(&data))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "round {round}");
            }
        }
    }

    /// A node killed while creating the key leaves `.scan.key.*.new` behind; the next start
    /// that reads the key removes it once it is old, and leaves a young one (a node creating
    /// the key right now) alone.
    #[test]
    fn abandoned_new_key_files_are_removed_and_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = Keyring::load_or_create(dir.path()).unwrap();
        let old = dir.path().join(".scan.key.abc123.new");
        let young = dir.path().join(".scan.key.def456.new");
        let other = dir.path().join("scan.key.new");
        for f in [&old, &young, &other] {
            std::fs::write(f, "candidate\n").unwrap();
        }
        let long_ago = std::time::SystemTime::now() - ABANDONED_KEY_AGE * 2;
        for f in [&old, &other] {
            std::fs::File::options()
                .write(true)
                .open(f)
                .unwrap()
                .set_modified(long_ago)
                .unwrap();
        }
        let again = Keyring::load_or_create(dir.path()).unwrap();
        assert_eq!(again.current.id(), first.current.id());
        assert!(!old.exists(), "the abandoned candidate is removed");
        assert!(young.exists(), "a candidate being written now is kept");
        assert!(
            other.exists(),
            "only the creation's temporary files are touched"
        );
    }

    #[test]
    fn key_files_hold_one_current_key_and_retired_ones() {
        let (a, b) = (ScanKey::generate(), ScanKey::generate());
        // A file from before key rotation: one line.
        let old = Keyring::parse(&format!("{}\n", a.to_base64())).unwrap();
        assert_eq!(old.current.id(), a.id());
        assert!(old.retired.is_empty());
        let ring = Keyring {
            current: b.clone(),
            retired: vec![a.clone()],
            source: KeySource::Given,
        };
        let back = Keyring::parse(&ring.to_file_text()).unwrap();
        assert_eq!(back.current.id(), b.id());
        assert_eq!(back.retired.len(), 1);
        assert_eq!(back.retired[0].id(), a.id());
        let two = format!("{}\n{}\n", a.to_base64(), b.to_base64());
        assert!(Keyring::parse(&two).is_err());
        assert!(Keyring::parse("# only a comment\n").is_err());
        let err = Keyring::parse(&format!("{}\nretired c2hvcnQ=\n", a.to_base64())).unwrap_err();
        assert!(format!("{err:#}").contains("第 2 行"), "{err:#}");
    }

    #[test]
    fn the_key_file_is_replaced_atomically_and_a_sealer_on_it_follows() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::load_or_create(dir.path()).unwrap();
        let path = key_path(dir.path());
        assert_eq!(ring.source, KeySource::File(path.clone()));
        let mut sealer = Sealer::new(ring.clone(), ScanCipher::Aes256Gcm);
        sealer.reload_every = Duration::ZERO;
        let old = sealer.seal(b"p", SECRET);
        let next = Keyring {
            current: ScanKey::generate(),
            retired: vec![ring.current.clone()],
            source: KeySource::Given,
        };
        write_key_file(&path, &next).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(!path.with_extension("key.new").exists());
        assert_eq!(sealer.current_key_id(), next.current.id());
        assert_eq!(sealer.open(b"p", &old).unwrap(), SECRET);
        // A broken file keeps the keys in use.
        std::fs::write(&path, "garbage\n").unwrap();
        assert_eq!(sealer.current_key_id(), next.current.id());
    }

    #[test]
    fn keys_parse_from_base64_of_exactly_32_bytes() {
        let k = ScanKey::generate();
        assert_eq!(ScanKey::from_base64(&k.to_base64()).unwrap().0, k.0);
        assert!(ScanKey::from_base64("c2hvcnQ=").is_err());
        assert!(ScanKey::from_base64("not base64!").is_err());
    }
}
