//! The model manifest, `models/manifest.toml`: which files each model needs, where they come
//! from, and the SHA-256 and size each must have.
//!
//! ```toml
//! [[model]]
//! name = "qwen2.5-0.5b-instruct"
//! kind = "chat"
//! licence = "Apache-2.0"
//!
//! [[model.file]]
//! path = "qwen2.5-0.5b-instruct/qwen2.5-0.5b-instruct-q4_0.gguf"
//! sha256 = ""   # empty: not pinned yet
//! size = 0      # 0: not known
//! sources = [
//!   { url = "https://huggingface.co/Qwen/..." },
//!   { pypi = "rapidocr-onnxruntime==1.4.4", member = "rapidocr_onnxruntime/models/x.onnx" },
//! ]
//! ```
//!
//! Parsing refuses unknown fields, so a misspelt key is an error rather than silently ignored.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The manifest's file name inside the models folder.
pub const MANIFEST_FILE: &str = "manifest.toml";

/// The wheel platform tag used when a PyPI source names none.
pub const DEFAULT_WHEEL_TAG: &str = "py3-none-any";

/// Suffix of a download in progress, next to the file it will become.
pub const PART_SUFFIX: &str = ".part";

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read model manifest {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("model manifest {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("model manifest {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// All models the manifest lists, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub models: Vec<ModelEntry>,
}

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// A chat (generation) model and its tokenizer.
    Chat,
    /// Text detection, direction classification and recognition models.
    Ocr,
    /// A runtime library the other models need (ONNX Runtime).
    Runtime,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Chat => "chat",
            ModelKind::Ocr => "ocr",
            ModelKind::Runtime => "runtime",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `[[model]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub name: String,
    pub kind: ModelKind,
    pub licence: String,
    /// One line on what the model is, for people.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(rename = "file")]
    pub files: Vec<FileEntry>,
}

/// One `[[model.file]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative to the models folder, `/`-separated.
    pub path: String,
    /// Lower-case hex SHA-256 of the file; empty when not pinned yet.
    #[serde(default)]
    pub sha256: String,
    /// Size in bytes; 0 when not known.
    #[serde(default)]
    pub size: u64,
    /// Where to get the file, tried in order.
    pub sources: Vec<Source>,
}

/// Where a file can be downloaded from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawSource")]
pub enum Source {
    /// A plain HTTP(S) address (a model hub, a mirror).
    Url { url: String },
    /// A member of a wheel on a Python package index.
    Wheel(WheelSource),
}

/// A file shipped inside a PyPI wheel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelSource {
    /// Distribution name as written in the manifest (`rapidocr-onnxruntime`).
    pub project: String,
    /// Exact version (`1.4.4`).
    pub version: String,
    /// Path of the member inside the wheel.
    pub member: String,
    /// `python-abi-platform` tag of the wheel to pick (`py3-none-any` by default).
    pub wheel_tag: String,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Url { url } => f.write_str(url),
            Source::Wheel(w) => write!(
                f,
                "PyPI {}=={} ({}) member {}",
                w.project, w.version, w.wheel_tag, w.member
            ),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    url: Option<String>,
    pypi: Option<String>,
    member: Option<String>,
    wheel_tag: Option<String>,
}

impl TryFrom<RawSource> for Source {
    type Error = String;

    fn try_from(raw: RawSource) -> Result<Self, Self::Error> {
        match raw {
            RawSource {
                url: Some(url),
                pypi: None,
                member: None,
                wheel_tag: None,
            } => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(format!(
                        "source url `{url}` must start with https:// or http://"
                    ));
                }
                Ok(Source::Url { url })
            }
            RawSource {
                url: None,
                pypi: Some(spec),
                member,
                wheel_tag,
            } => {
                let (project, version) = spec
                    .split_once("==")
                    .map(|(p, v)| (p.trim().to_string(), v.trim().to_string()))
                    .filter(|(p, v)| !p.is_empty() && !v.is_empty())
                    .ok_or_else(|| {
                        format!("pypi source `{spec}` must be `NAME==VERSION`, an exact pin")
                    })?;
                let member = member.filter(|m| !m.trim().is_empty()).ok_or_else(|| {
                    format!(
                        "pypi source `{spec}` needs `member`, the file to take out of the wheel"
                    )
                })?;
                let wheel_tag = wheel_tag.unwrap_or_else(|| DEFAULT_WHEEL_TAG.to_string());
                if wheel_tag.split('-').count() != 3 {
                    return Err(format!(
                        "wheel_tag `{wheel_tag}` must be `python-abi-platform`, e.g. `{DEFAULT_WHEEL_TAG}`"
                    ));
                }
                Ok(Source::Wheel(WheelSource {
                    project,
                    version,
                    member,
                    wheel_tag,
                }))
            }
            RawSource {
                url: Some(_),
                pypi: Some(_),
                ..
            } => Err("a source has either `url` or `pypi`, not both".to_string()),
            RawSource { url: Some(_), .. } => Err(
                "`member` and `wheel_tag` belong to a `pypi` source, not a `url` one".to_string(),
            ),
            RawSource { .. } => {
                Err("a source needs `url = \"...\"` or `pypi = \"NAME==VERSION\"`".to_string())
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[serde(default, rename = "model")]
    models: Vec<ModelEntry>,
}

impl Manifest {
    /// Reads `<models_dir>/manifest.toml`.
    pub fn load(models_dir: &Path) -> Result<Manifest, ManifestError> {
        let path = models_dir.join(MANIFEST_FILE);
        let text = fs::read_to_string(&path).map_err(|source| ManifestError::Read {
            path: path.clone(),
            source,
        })?;
        Manifest::parse(&text, &path)
    }

    /// Parses and checks manifest text; `origin` only names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Manifest, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| ManifestError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let mut manifest = Manifest { models: raw.models };
        manifest
            .normalise_and_check()
            .map_err(|message| ManifestError::Invalid {
                path: origin.to_path_buf(),
                message,
            })?;
        Ok(manifest)
    }

    fn normalise_and_check(&mut self) -> Result<(), String> {
        let mut names = HashSet::new();
        let mut paths = HashSet::new();
        for model in &mut self.models {
            let name = model.name.trim();
            if name.is_empty() {
                return Err("a model has an empty `name`".to_string());
            }
            if !names.insert(name.to_string()) {
                return Err(format!("model `{name}` is listed twice"));
            }
            if model.files.is_empty() {
                return Err(format!("model `{name}` lists no `[[model.file]]`"));
            }
            for file in &mut model.files {
                check_relative_path(&file.path)
                    .map_err(|why| format!("model `{name}`: file path `{}` {why}", file.path))?;
                if !paths.insert(file.path.clone()) {
                    return Err(format!("file `{}` is listed twice", file.path));
                }
                file.sha256 = file.sha256.trim().to_ascii_lowercase();
                if !file.sha256.is_empty()
                    && (file.sha256.len() != 64
                        || !file.sha256.bytes().all(|b| b.is_ascii_hexdigit()))
                {
                    return Err(format!(
                        "file `{}`: sha256 `{}` is not 64 hex digits (leave it empty if not pinned)",
                        file.path, file.sha256
                    ));
                }
                if file.sources.is_empty() {
                    return Err(format!("file `{}` has no `sources`", file.path));
                }
            }
        }
        Ok(())
    }

    /// The model called `name`.
    pub fn find(&self, name: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The model called `name`, or all of them for `None`; an unknown name is an error that
    /// lists the known ones.
    pub fn select(&self, name: Option<&str>) -> Result<Vec<&ModelEntry>, String> {
        match name {
            None => Ok(self.models.iter().collect()),
            Some(name) => self.find(name).map(|m| vec![m]).ok_or_else(|| {
                let known: Vec<&str> = self.models.iter().map(|m| m.name.as_str()).collect();
                format!(
                    "no model called `{name}` in the manifest; known: {}",
                    known.join(", ")
                )
            }),
        }
    }

    /// The first model of a kind, in manifest order (the default chat model is the first chat
    /// entry).
    pub fn first_of_kind(&self, kind: ModelKind) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.kind == kind)
    }
}

fn check_relative_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("is empty");
    }
    if path.contains('\\') {
        return Err("must use `/` as separator");
    }
    let p = Path::new(path);
    if p.is_absolute() {
        return Err("must be relative to the models folder");
    }
    for c in p.components() {
        match c {
            Component::Normal(_) => {}
            _ => return Err("must not contain `..`, `.` or a root"),
        }
    }
    if path.ends_with(PART_SUFFIX) {
        return Err("must not end in .part");
    }
    if path.starts_with("cache/") {
        return Err("must not be under cache/");
    }
    Ok(())
}

impl ModelEntry {
    /// Where each of the model's files lives (or will live) under `models_dir`.
    pub fn local_paths(&self, models_dir: &Path) -> Vec<PathBuf> {
        self.files
            .iter()
            .map(|f| f.local_path(models_dir))
            .collect()
    }

    /// The file whose name (last path component) is `file_name`.
    pub fn file_named(&self, file_name: &str) -> Option<&FileEntry> {
        self.files
            .iter()
            .find(|f| f.path.rsplit('/').next() == Some(file_name))
    }

    /// The first file whose name ends with `suffix` (".gguf", ".onnx", "tokenizer.json").
    pub fn file_ending(&self, suffix: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.path.ends_with(suffix))
    }

    /// Sum of the known file sizes (files of unknown size count 0).
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

impl FileEntry {
    /// The file's place under `models_dir`.
    pub fn local_path(&self, models_dir: &Path) -> PathBuf {
        let mut p = models_dir.to_path_buf();
        p.extend(self.path.split('/'));
        p
    }

    /// Where a download of this file in progress is kept.
    pub fn part_path(&self, models_dir: &Path) -> PathBuf {
        part_path(&self.local_path(models_dir))
    }

    /// Whether a SHA-256 is pinned for this file.
    pub fn is_pinned(&self) -> bool {
        !self.sha256.is_empty()
    }

    /// The expected size, if known.
    pub fn expected_size(&self) -> Option<u64> {
        (self.size > 0).then_some(self.size)
    }

    /// The file's state on disk. `Check::Quick` only looks at existence and size;
    /// `Check::Hash` also reads the file and compares its SHA-256 (slow for large files).
    pub fn status(&self, models_dir: &Path, check: Check) -> io::Result<FileStatus> {
        let path = self.local_path(models_dir);
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(match fs::metadata(part_path(&path)) {
                    Ok(m) => FileStatus::Partial { bytes: m.len() },
                    Err(_) => FileStatus::Missing,
                });
            }
            Err(e) => return Err(e),
        };
        if !meta.is_file() {
            return Err(io::Error::other(format!(
                "{} exists but is not a file",
                path.display()
            )));
        }
        if let Some(expected) = self.expected_size()
            && meta.len() != expected
        {
            return Ok(FileStatus::WrongSize {
                expected,
                actual: meta.len(),
            });
        }
        if check == Check::Quick {
            return Ok(FileStatus::Present);
        }
        let (actual, _) = sha256_file(&path)?;
        Ok(if !self.is_pinned() {
            FileStatus::Unpinned { sha256: actual }
        } else if actual == self.sha256 {
            FileStatus::Verified
        } else {
            FileStatus::HashMismatch {
                expected: self.sha256.clone(),
                actual,
            }
        })
    }
}

/// How hard [`FileEntry::status`] looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Existence and size only.
    Quick,
    /// Also recompute the SHA-256.
    Hash,
}

/// A file's state on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    /// Neither the file nor a partial download exists.
    Missing,
    /// No file yet, but an interrupted download of `bytes` bytes that `fetch` will resume.
    Partial { bytes: u64 },
    /// Exists with the right size (when known); hash not checked.
    Present,
    /// Exists and its SHA-256 matches the pinned one.
    Verified,
    /// Exists, but the manifest pins no hash; this is the file's hash, to pin.
    Unpinned { sha256: String },
    /// Exists with the wrong size.
    WrongSize { expected: u64, actual: u64 },
    /// Exists with the wrong SHA-256.
    HashMismatch { expected: String, actual: String },
}

impl FileStatus {
    /// A file that is there and not known to be wrong.
    pub fn is_usable(&self) -> bool {
        matches!(
            self,
            FileStatus::Present | FileStatus::Verified | FileStatus::Unpinned { .. }
        )
    }

    /// A file that is there but wrong.
    pub fn is_bad(&self) -> bool {
        matches!(
            self,
            FileStatus::WrongSize { .. } | FileStatus::HashMismatch { .. }
        )
    }

    /// Short label for tables: missing, partial, present, verified, unpinned, wrong size,
    /// hash mismatch.
    pub fn label(&self) -> &'static str {
        match self {
            FileStatus::Missing => "missing",
            FileStatus::Partial { .. } => "partial",
            FileStatus::Present => "present (not verified)",
            FileStatus::Verified => "verified",
            FileStatus::Unpinned { .. } => "present (hash not pinned)",
            FileStatus::WrongSize { .. } => "wrong size",
            FileStatus::HashMismatch { .. } => "hash mismatch",
        }
    }
}

impl fmt::Display for FileStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileStatus::Partial { bytes } => {
                write!(f, "partial ({} downloaded)", human_bytes(*bytes))
            }
            FileStatus::Unpinned { sha256 } => {
                write!(f, "present, hash not pinned (sha256 {sha256})")
            }
            FileStatus::WrongSize { expected, actual } => {
                write!(f, "wrong size: expected {expected} bytes, found {actual}")
            }
            FileStatus::HashMismatch { expected, actual } => {
                write!(
                    f,
                    "hash mismatch: expected sha256 {expected}, found {actual}"
                )
            }
            other => f.write_str(other.label()),
        }
    }
}

/// `<path>.part`.
pub fn part_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(PART_SUFFIX);
    PathBuf::from(s)
}

/// SHA-256 (lower-case hex) and length of a file.
pub fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let len = hash_reader(&mut file, &mut hasher)?;
    Ok((hex(&hasher.finalize()), len))
}

/// Feeds everything `reader` yields into `hasher`; returns the byte count.
pub(crate) fn hash_reader(reader: &mut impl Read, hasher: &mut Sha256) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(len),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        len += n as u64;
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// `1.2 GiB`-style sizes for people.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, Path::new("manifest.toml"))
    }

    const GOOD: &str = r#"
[[model]]
name = "m"
kind = "ocr"
licence = "Apache-2.0"

[[model.file]]
path = "m/a.onnx"
sha256 = "D2A7720D45A54257208B1E13E36A8479894CB74155A5EFE29462512D42F49DA9"
size = 3
sources = [
  { url = "https://example.invalid/a.onnx" },
  { pypi = "pkg-name==1.0", member = "pkg/a.onnx" },
]
"#;

    #[test]
    fn parses_sources_and_normalises_hash() {
        let m = parse(GOOD).unwrap();
        let f = &m.models[0].files[0];
        assert_eq!(
            f.sha256,
            "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"
        );
        assert_eq!(m.models[0].kind, ModelKind::Ocr);
        assert_eq!(
            f.sources[1],
            Source::Wheel(WheelSource {
                project: "pkg-name".into(),
                version: "1.0".into(),
                member: "pkg/a.onnx".into(),
                wheel_tag: DEFAULT_WHEEL_TAG.into(),
            })
        );
        assert_eq!(
            m.models[0].local_paths(Path::new("/x")),
            vec![PathBuf::from("/x/m/a.onnx")]
        );
        assert!(m.select(Some("nope")).unwrap_err().contains("known: m"));
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        let typo = GOOD.replace("licence =", "license =");
        let err = parse(&typo).unwrap_err().to_string();
        assert!(err.contains("license"), "{err}");

        let bad_kind = GOOD.replace("\"ocr\"", "\"vision\"");
        assert!(parse(&bad_kind).unwrap_err().to_string().contains("vision"));

        let bad_hash = GOOD.replace("D2A7720D", "XYZ");
        assert!(parse(&bad_hash).unwrap_err().to_string().contains("64 hex"));

        let escape = GOOD.replace("m/a.onnx\"\nsha", "../a.onnx\"\nsha");
        assert!(parse(&escape).unwrap_err().to_string().contains(".."));

        let no_pin = GOOD.replace("pkg-name==1.0", "pkg-name");
        assert!(
            parse(&no_pin)
                .unwrap_err()
                .to_string()
                .contains("NAME==VERSION")
        );

        let both = GOOD.replace(
            "{ url = \"https://example.invalid/a.onnx\" }",
            "{ url = \"https://e.invalid/\", pypi = \"a==1\", member = \"x\" }",
        );
        assert!(parse(&both).unwrap_err().to_string().contains("not both"));
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(34_824_680), "33.2 MiB");
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
    }
}
