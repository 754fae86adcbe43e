//! Encryption at rest for scans and the fields read from them (个人信息保护法: identity-card
//! scans are sensitive personal information). Each record is sealed with AES-256-GCM or
//! SM4-GCM under the deployment's scan key, with a fresh random nonce and associated data that
//! binds it to its job and its part, so a record copied into another job does not open.
//!
//! A sealed record is `[1 format][1 cipher][12 nonce][ciphertext + 16 tag]`: the cipher is
//! recorded per record, so changing `scans.cipher` leaves older records readable.

use crate::config::ScanCipher;
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, AesGcm};
use anyhow::{Context, Result};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// SM4 (GB/T 32907) in Galois/Counter Mode with a 96-bit nonce.
type Sm4Gcm = AesGcm<sm4::Sm4, U12>;

/// The key file's name inside the data folder.
pub const KEY_FILE: &str = "scan.key";
/// The environment variable that carries the key (base64 of 32 bytes) instead of the file.
pub const KEY_ENV: &str = "XIAOBAN_SCAN_KEY";

const FORMAT: u8 = 1;
const NONCE_LEN: usize = 12;

/// 32 secret bytes. `Debug` never shows them.
#[derive(Clone)]
pub struct ScanKey([u8; 32]);

impl fmt::Debug for ScanKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScanKey(…)")
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

    /// The key from `XIAOBAN_SCAN_KEY` if set, else from `DATA/scan.key`, which is created
    /// (readable by the owner only, 0600) on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<ScanKey> {
        if let Ok(text) = std::env::var(KEY_ENV)
            && !text.trim().is_empty()
        {
            return ScanKey::from_base64(&text).with_context(|| format!("环境变量 {KEY_ENV}"));
        }
        let path = key_path(data_dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                tighten_permissions(&path)?;
                ScanKey::from_base64(&text).with_context(|| format!("密钥文件 {}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir)
                    .with_context(|| format!("创建数据目录 {}", data_dir.display()))?;
                let key = ScanKey::generate();
                match write_new_key(&path, &key) {
                    Ok(()) => {
                        tracing::info!(file = %path.display(), "created the scan encryption key; back it up with the database");
                        Ok(key)
                    }
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        ScanKey::load_or_create(data_dir)
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

fn write_new_key(path: &Path, key: &ScanKey) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    writeln!(f, "{}", key.to_base64())?;
    f.sync_all()
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

/// Seals and opens records with one key; new records use the configured cipher.
#[derive(Clone)]
pub struct Sealer {
    aes: Aes256Gcm,
    sm4: Sm4Gcm,
    cipher: ScanCipher,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealer({:?})", self.cipher)
    }
}

fn cipher_id(c: ScanCipher) -> u8 {
    match c {
        ScanCipher::Aes256Gcm => 1,
        ScanCipher::Sm4Gcm => 2,
    }
}

impl Sealer {
    pub fn new(key: &ScanKey, cipher: ScanCipher) -> Sealer {
        // SM4 takes a 128-bit key: derived from the scan key with its own label, so the same
        // bytes never serve two ciphers directly.
        let mut h = Sha256::new();
        h.update(b"xiaoban sm4-gcm key\0");
        h.update(key.0);
        let sm4_key = h.finalize();
        Sealer {
            aes: Aes256Gcm::new_from_slice(&key.0).expect("32-byte key"),
            sm4: Sm4Gcm::new_from_slice(&sm4_key[..16]).expect("16-byte key"),
            cipher,
        }
    }

    pub fn cipher(&self) -> ScanCipher {
        self.cipher
    }

    /// Encrypts `plain`; `aad` (e.g. `job:<id>:front`) must be given again to open it.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let payload = Payload { msg: plain, aad };
        let (nonce, body) = match self.cipher {
            ScanCipher::Aes256Gcm => {
                let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
                let body = self.aes.encrypt(&nonce, payload);
                (nonce.to_vec(), body)
            }
            ScanCipher::Sm4Gcm => {
                let nonce = Sm4Gcm::generate_nonce(&mut OsRng);
                let body = self.sm4.encrypt(&nonce, payload);
                (nonce.to_vec(), body)
            }
        };
        // Encryption fails only for inputs beyond GCM's 64 GB limit.
        let body = body.expect("GCM seals any record under 64 GB");
        let mut out = Vec::with_capacity(2 + NONCE_LEN + body.len());
        out.push(FORMAT);
        out.push(cipher_id(self.cipher));
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        out
    }

    /// Decrypts a record sealed by [`Sealer::seal`] with the same key and `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < 2 + NONCE_LEN + 16 || sealed[0] != FORMAT {
            return Err(SealError::Malformed);
        }
        let mut nonce = aes_gcm::Nonce::<U12>::default();
        nonce.copy_from_slice(&sealed[2..2 + NONCE_LEN]);
        let payload = Payload {
            msg: &sealed[2 + NONCE_LEN..],
            aad,
        };
        let plain = match sealed[1] {
            1 => self.aes.decrypt(&nonce, payload),
            2 => self.sm4.decrypt(&nonce, payload),
            _ => return Err(SealError::Malformed),
        };
        plain.map_err(|_| SealError::WrongKeyOrTampered)
    }

    /// The cipher a sealed record was made with, if it is one of ours.
    pub fn cipher_of(sealed: &[u8]) -> Option<ScanCipher> {
        match sealed.get(..2)? {
            [FORMAT, 1] => Some(ScanCipher::Aes256Gcm),
            [FORMAT, 2] => Some(ScanCipher::Sm4Gcm),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"11010519491231002X \xe5\xbc\xa0\xe4\xb8\x89 scan bytes";

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
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
        assert_eq!(format!("{a:?}"), "ScanKey(…)");
    }

    #[test]
    fn keys_parse_from_base64_of_exactly_32_bytes() {
        let k = ScanKey::generate();
        assert_eq!(ScanKey::from_base64(&k.to_base64()).unwrap().0, k.0);
        assert!(ScanKey::from_base64("c2hvcnQ=").is_err());
        assert!(ScanKey::from_base64("not base64!").is_err());
    }
}
