//! Importing a batch of official-document files: read each (in parallel), recognise it, work
//! out which documents supersede or repeal which (among the batch and what the knowledge base
//! already holds), and write every document as an ordinary `documents/<id>.md` file.
//!
//! Guarantees: a file is written whole or not at all (parsed back first, then written to a
//! temporary file and renamed); re-importing the same files gives the same files (ids come
//! from file names, nothing depends on the day of the import); a document that exists with
//! other content — an administrator's edits — is kept unless `replace`.

use super::{Block, Extracted, Official, Repeal, Unreadable, docx, html, pdf, recognise};
use crate::kb::document::{DocId, DocKind};
use crate::kb::parse::parse_document;
use anyhow::{Context, Result};
use chrono::NaiveDate;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Larger files are refused before reading (a policy document is rarely over a few MB).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The formats this module reads, by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Html,
    Docx,
    Pdf,
}

impl Format {
    pub fn of(path: &Path) -> Option<Format> {
        match extension(path).as_str() {
            "html" | "htm" | "xhtml" | "shtml" => Some(Format::Html),
            "docx" => Some(Format::Docx),
            "pdf" => Some(Format::Pdf),
            _ => None,
        }
    }

    /// Reads a file's bytes into paragraphs and tables.
    pub fn read(self, bytes: &[u8]) -> Result<Extracted, Unreadable> {
        match self {
            Format::Html => html::read(bytes),
            Format::Docx => docx::read(bytes),
            Format::Pdf => pdf::read(bytes),
        }
    }
}

pub fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_lowercase()
}

/// Why a file that is not one of the formats is skipped, in the administrator's terms.
pub fn unsupported_reason(path: &Path) -> String {
    match extension(path).as_str() {
        "doc" => "旧版 Word（.doc）：请在 Word 或 WPS 中另存为 .docx 后导入".into(),
        "wps" => "WPS 文字（.wps）：请另存为 .docx 后导入".into(),
        "ofd" => "OFD 版式文件：请导出为 PDF 后导入".into(),
        "jpg" | "jpeg" | "png" | "tif" | "tiff" | "bmp" | "webp" => {
            "图片：没有文字可读，请先用 OCR 识别为带文字层的 PDF".into()
        }
        "" => {
            "没有扩展名，无法判断格式（支持 .html/.htm、.docx、.pdf 以及 .csv/.jsonl/.xlsx 表格）"
                .into()
        }
        ext => format!(
            "不支持的文件类型“.{ext}”（支持 .html/.htm、.docx、.pdf 以及 .csv/.jsonl/.xlsx 表格）"
        ),
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Show what would be written; write nothing.
    pub dry_run: bool,
    /// Overwrite documents that exist with other content.
    pub replace: bool,
    /// `region` of the written documents.
    pub region: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
pub enum Outcome {
    Written,
    /// The file already holds exactly this document.
    Unchanged,
    /// `--dry-run`: would be written.
    WouldWrite,
    Skipped(String),
}

/// What the import did with one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: PathBuf,
    pub format: Format,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Recognised fields (标题, 文号, 发文机关, 成文日期, 施行日期, 有效期至, 废止条款).
    pub fields: Vec<&'static str>,
    pub sections: usize,
    pub tables: usize,
    pub chars: usize,
    /// Assumptions the administrator should check (a date taken from the file's metadata…).
    pub notes: Vec<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A change to another document: superseded or repealed by one in the batch (or before it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub id: String,
    pub what: String,
    /// Only an existing document's change is a file of its own; a batch document carries it.
    pub existing: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct BatchReport {
    pub files: Vec<FileReport>,
    pub changes: Vec<Change>,
}

/// What reading one file gave: its text and the document recognised in it, or why not.
type ReadResult = Result<(Extracted, Option<Official>), Unreadable>;

/// One recognised document waiting to be written.
struct Candidate {
    id: DocId,
    official: Official,
    effective_from: NaiveDate,
    /// Whether `effective_from` was printed (施行日期 or 成文日期), not taken from metadata.
    dated: bool,
    source_name: String,
    report: usize,
}

/// A policy as far as relations go: from the batch or from the knowledge base.
struct Known {
    id: DocId,
    title: String,
    /// The title without spaces and book-title marks, for matching.
    title_key: String,
    doc_no: Option<String>,
    issuing_body: Option<String>,
    effective_from: NaiveDate,
    issued_on: Option<NaiveDate>,
    dated: bool,
    repeals: Vec<Repeal>,
    /// Already on file (not in this batch).
    existing: bool,
}

/// The document id for a file: its name in lowercase ASCII, non-ASCII runs replaced by a short
/// stable hash of the whole name (`示例府办发〔2024〕12号.docx` → `2024-12-…`).
pub fn id_for(path: &Path) -> Option<DocId> {
    let stem = path.file_stem()?.to_str()?;
    let mut id = String::new();
    for c in stem.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.ends_with('-') {
            id.push('-');
        }
    }
    let mut id = id.trim_matches('-').to_string();
    if !stem.is_ascii() || id.is_empty() {
        use sha2::{Digest, Sha256};
        let h = Sha256::digest(stem.as_bytes());
        let tag: String = h[..4].iter().map(|b| format!("{b:02x}")).collect();
        id = if id.is_empty() {
            format!("doc-{tag}")
        } else {
            format!("{id}-{tag}")
        };
    }
    if id.len() > 80 {
        id.truncate(80);
        id = id.trim_end_matches('-').to_string();
    }
    DocId::parse(&id).ok()
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The file text of a recognised document.
fn render(c: &Candidate, region: &str, rel: &Relations) -> String {
    let o = &c.official;
    let mut t = String::from("+++\n");
    t.push_str(&format!("# 导入自 {}\n", c.source_name.replace('\n', " ")));
    t.push_str(&format!("id = {}\n", toml_str(c.id.as_str())));
    t.push_str(&format!("title = {}\n", toml_str(&o.title)));
    t.push_str("kind = \"policy\"\n");
    t.push_str(&format!(
        "issuing_body = {}\n",
        toml_str(o.issuing_body.as_deref().unwrap_or("未注明"))
    ));
    if let Some(n) = &o.doc_no {
        t.push_str(&format!("doc_no = {}\n", toml_str(n)));
    }
    t.push_str(&format!("region = {}\n", toml_str(region)));
    if let Some(d) = o.issued_on {
        t.push_str(&format!("issued_on = {d}\n"));
    }
    t.push_str(&format!("effective_from = {}\n", c.effective_from));
    let end = rel
        .effective_to
        .get(&c.id)
        .copied()
        .into_iter()
        .chain(o.effective_to)
        .min();
    if let Some(end) = end.filter(|e| *e >= c.effective_from) {
        t.push_str(&format!("effective_to = {end}\n"));
    }
    if let Some(next) = rel.superseded_by.get(&c.id) {
        t.push_str(&format!("superseded_by = {}\n", toml_str(next.as_str())));
    }
    t.push_str("tags = [\"导入\"]\n+++\n\n");
    let (preamble, sections) = if o.sections.is_empty() {
        (
            String::new(),
            vec![super::OfficialSection {
                heading: "正文".into(),
                body: o.preamble.clone(),
            }],
        )
    } else {
        (o.preamble.clone(), o.sections.clone())
    };
    if !preamble.is_empty() {
        t.push_str(&preamble);
        t.push_str("\n\n");
    }
    for s in &sections {
        t.push_str(&format!(
            "## {}\n{}\n\n",
            s.heading.replace('\n', " "),
            s.body
        ));
    }
    t.truncate(t.trim_end().len());
    t.push('\n');
    t
}

/// Who supersedes or repeals whom.
#[derive(Default)]
struct Relations {
    superseded_by: HashMap<DocId, DocId>,
    /// Last day in force because a later document repealed it.
    effective_to: HashMap<DocId, NaiveDate>,
    changes: Vec<Change>,
    notes: Vec<(DocId, String)>,
}

fn compact(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '《' | '》'))
        .collect()
}

fn relations(known: &[Known]) -> Relations {
    let mut rel = Relations::default();
    // Versions: the same 文号, or the same title from the same issuing body.
    let key = |k: &Known| (k.effective_from, k.issued_on);
    for a in known {
        let mut newest: Option<&Known> = None;
        for b in known {
            if a.id == b.id || !a.dated || !b.dated {
                continue;
            }
            let same_no = a.doc_no.is_some() && a.doc_no == b.doc_no;
            let same_title = a.title_key == b.title_key
                && a.issuing_body.is_some()
                && a.issuing_body == b.issuing_body;
            if (same_no || same_title)
                && key(b) > key(a)
                && newest.is_none_or(|n| key(b) > key(n) || (key(b) == key(n) && b.id > n.id))
            {
                newest = Some(b);
            }
        }
        if let Some(n) = newest {
            rel.superseded_by.insert(a.id.clone(), n.id.clone());
            rel.changes.push(Change {
                id: a.id.to_string(),
                what: format!("被 {}（{}）替代：不再引用", n.id, n.title),
                existing: a.existing,
            });
        } else if a.issuing_body.is_none() || !a.dated {
            // Same title, but no way to tell versions apart: say so rather than guess.
            if let Some(b) = known
                .iter()
                .find(|b| b.id != a.id && b.id > a.id && b.title_key == a.title_key)
            {
                rel.notes.push((
                    a.id.clone(),
                    format!(
                        "与 {} 标题相同，但发文机关或日期不明，未判定哪份是新版本",
                        b.id
                    ),
                ));
            }
        }
    }
    // Repeals: a document naming another in a 废止 clause ends it the day before it takes effect.
    for r in known {
        for rep in &r.repeals {
            let target = known.iter().find(|k| {
                k.id != r.id
                    && (rep.doc_no.is_some() && rep.doc_no == k.doc_no
                        || rep.doc_no.is_none()
                            && rep.title.as_deref().map(compact).as_ref() == Some(&k.title_key))
            });
            let Some(k) = target else {
                rel.notes.push((
                    r.id.clone(),
                    format!(
                        "废止的《{}》{}不在知识库中",
                        rep.title.as_deref().unwrap_or("（未写标题）"),
                        rep.doc_no
                            .as_deref()
                            .map(|n| format!("（{n}）"))
                            .unwrap_or_default()
                    ),
                ));
                continue;
            };
            if rel.superseded_by.contains_key(&k.id) {
                continue;
            }
            match r
                .effective_from
                .pred_opt()
                .filter(|d| *d >= k.effective_from)
            {
                Some(end) => {
                    let e = rel.effective_to.entry(k.id.clone()).or_insert(end);
                    *e = (*e).min(end);
                    rel.changes.push(Change {
                        id: k.id.to_string(),
                        what: format!("被 {}（{}）废止：{end} 后失效，不再引用", r.id, r.title),
                        existing: k.existing,
                    });
                }
                // Repealed by a document dated before it took effect: never in force.
                None => {
                    rel.superseded_by.insert(k.id.clone(), r.id.clone());
                    rel.changes.push(Change {
                        id: k.id.to_string(),
                        what: format!("被 {}（{}）废止：不再引用", r.id, r.title),
                        existing: k.existing,
                    });
                }
            }
        }
    }
    rel.changes
        .sort_by(|a, b| a.id.cmp(&b.id).then(a.what.cmp(&b.what)));
    rel.changes.dedup();
    rel
}

/// Front matter of an existing file with `key` set to `value` (a TOML value), or removed.
fn set_front_key(text: &str, key: &str, value: Option<&str>) -> Option<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.first().map(|l| l.trim_end()) != Some("+++") {
        return None;
    }
    let close = lines.iter().skip(1).position(|l| l.trim_end() == "+++")? + 1;
    let at = lines[1..close].iter().position(|l| {
        l.trim_start()
            .strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with('='))
    });
    match (at, value) {
        (Some(i), Some(v)) => lines[i + 1] = format!("{key} = {v}"),
        (Some(i), None) => {
            lines.remove(i + 1);
        }
        (None, Some(v)) => lines.insert(close, format!("{key} = {v}")),
        (None, None) => {}
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    Some(out)
}

/// Writes `text` to `path` via a temporary file in the same folder, so a reader or a crash
/// never sees half a file.
fn write_whole(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().context("document path has no folder")?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".import-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("写入 {}", path.display()))?;
    Ok(())
}

/// The date a file carries in its metadata, or its modification date: the last resort for
/// `effective_from` when the text prints no date.
fn file_date(path: &Path) -> Option<NaiveDate> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(chrono::DateTime::<chrono::Local>::from(modified).date_naive())
}

/// Imports official-document files (already expanded from folders) into `kb`.
pub fn import_files(files: &[PathBuf], kb: &Path, opts: &Options) -> Result<BatchReport> {
    let read: Vec<(PathBuf, Format, ReadResult)> = files
        .par_iter()
        .filter_map(|p| {
            let format = Format::of(p)?;
            let result = (|| {
                let len = std::fs::metadata(p)
                    .map_err(|e| Unreadable::Malformed(format!("无法读取：{e}")))?
                    .len();
                if len > MAX_FILE_BYTES {
                    return Err(Unreadable::Unsupported(format!(
                        "文件过大（{} MB，上限 {} MB）",
                        len / 1024 / 1024,
                        MAX_FILE_BYTES / 1024 / 1024
                    )));
                }
                let bytes = std::fs::read(p)
                    .map_err(|e| Unreadable::Malformed(format!("无法读取：{e}")))?;
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    return Err(Unreadable::Empty);
                }
                let ex = format.read(&bytes)?;
                let official = recognise(&ex);
                Ok((ex, official))
            })();
            Some((p.clone(), format, result))
        })
        .collect();

    let mut report = BatchReport::default();
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut taken: HashMap<DocId, PathBuf> = HashMap::new();
    for (path, format, result) in read {
        let mut fr = FileReport {
            path: path.clone(),
            format,
            id: None,
            title: None,
            fields: Vec::new(),
            sections: 0,
            tables: 0,
            chars: 0,
            notes: Vec::new(),
            outcome: Outcome::Skipped(String::new()),
        };
        let idx = report.files.len();
        match result {
            Err(why) => fr.outcome = Outcome::Skipped(why.to_string()),
            Ok((ex, None)) => {
                fr.chars = ex.chars();
                fr.outcome = Outcome::Skipped(if ex.chars() == 0 {
                    Unreadable::Empty.to_string()
                } else {
                    "找不到标题或正文（文字过少或不像一份文件）".into()
                });
            }
            Ok((ex, Some(official))) => {
                fr.chars = ex.chars();
                fr.tables = ex
                    .blocks
                    .iter()
                    .filter(|b| matches!(b, Block::Table(_)))
                    .count();
                fr.title = Some(official.title.clone());
                fr.fields = official.fields_found();
                fr.sections = official.sections.len().max(1);
                match id_for(&path) {
                    None => {
                        fr.outcome = Outcome::Skipped("文件名无法生成文档编号".into());
                    }
                    Some(id) if taken.contains_key(&id) => {
                        fr.id = Some(id.to_string());
                        fr.outcome = Outcome::Skipped(format!(
                            "与 {} 生成的文档编号相同（{id}）：请改文件名",
                            taken[&id].display()
                        ));
                    }
                    Some(id) => {
                        taken.insert(id.clone(), path.clone());
                        fr.id = Some(id.to_string());
                        let printed = official.effective_from.or(official.issued_on);
                        let (effective_from, dated) = match printed {
                            Some(d) => (d, true),
                            None => {
                                let d = file_date(&path)
                                    .unwrap_or_else(|| chrono::Local::now().date_naive());
                                fr.notes.push(format!(
                                    "未印有施行日期或成文日期：施行日期按文件日期 {d} 填写，请核对"
                                ));
                                (d, false)
                            }
                        };
                        if official.issuing_body.is_none() {
                            fr.notes.push("未找到发文机关：填为“未注明”，请补上".into());
                        }
                        candidates.push(Candidate {
                            id,
                            official,
                            effective_from,
                            dated,
                            source_name: path
                                .file_name()
                                .map(|n| n.to_string_lossy().into_owned())
                                .unwrap_or_default(),
                            report: idx,
                        });
                        fr.outcome = Outcome::WouldWrite;
                    }
                }
            }
        }
        report.files.push(fr);
    }

    // Relations over the batch and the policies already on file (a batch document replaces
    // the file of the same id).
    let dir = crate::kb::documents_dir(kb);
    let corpus = if dir.is_dir() {
        crate::kb::load(kb)?
    } else {
        crate::kb::Corpus::default()
    };
    let batch_ids: std::collections::HashSet<&DocId> = candidates.iter().map(|c| &c.id).collect();
    let mut known: Vec<Known> = candidates
        .iter()
        .map(|c| Known {
            id: c.id.clone(),
            title: c.official.title.clone(),
            title_key: compact(&c.official.title),
            doc_no: c.official.doc_no.clone(),
            issuing_body: c.official.issuing_body.clone(),
            effective_from: c.effective_from,
            issued_on: c.official.issued_on,
            dated: c.dated,
            repeals: c.official.repeals.clone(),
            existing: false,
        })
        .collect();
    for d in &corpus.documents {
        if d.meta.kind != DocKind::Policy || batch_ids.contains(&d.meta.id) {
            continue;
        }
        let issuing_body = Some(d.meta.issuing_body.clone()).filter(|b| b != "未注明");
        known.push(Known {
            id: d.meta.id.clone(),
            title: d.meta.title.clone(),
            title_key: compact(&d.meta.title),
            doc_no: d.meta.doc_no.clone(),
            issuing_body,
            effective_from: d.meta.effective_from,
            issued_on: d.meta.issued_on,
            dated: true,
            repeals: super::repeals_in(&d.body, &d.meta.title, d.meta.doc_no.as_deref()),
            existing: true,
        });
    }
    let rel = relations(&known);
    for (id, note) in &rel.notes {
        if let Some(c) = candidates.iter().find(|c| &c.id == id) {
            report.files[c.report].notes.push(note.clone());
        }
    }

    // Write the batch.
    if !opts.dry_run {
        std::fs::create_dir_all(&dir)?;
    }
    for c in &candidates {
        let text = render(c, &opts.region, &rel);
        let path = dir.join(format!("{}.md", c.id));
        let fr = &mut report.files[c.report];
        if let Err(problems) = parse_document(&path, &text) {
            fr.outcome = Outcome::Skipped(format!(
                "生成的文档未通过检查，未写入：{}",
                problems
                    .iter()
                    .map(|p| p.message.clone())
                    .collect::<Vec<_>>()
                    .join("；")
            ));
            continue;
        }
        let existing = std::fs::read_to_string(&path).ok();
        fr.outcome = match existing {
            Some(old) if old == text => Outcome::Unchanged,
            Some(_) if !opts.replace => Outcome::Skipped(format!(
                "{} 已存在且内容不同（可能已手工修改）：未覆盖，用 --replace 覆盖",
                path.display()
            )),
            _ if opts.dry_run => Outcome::WouldWrite,
            _ => {
                write_whole(&path, &text)?;
                Outcome::Written
            }
        };
    }

    // Mark existing documents superseded or repealed.
    for d in &corpus.documents {
        if batch_ids.contains(&d.meta.id) {
            continue;
        }
        let sup = rel.superseded_by.get(&d.meta.id);
        let end = rel.effective_to.get(&d.meta.id);
        if sup.is_none() && end.is_none() {
            continue;
        }
        let path = dir.join(format!("{}.md", d.meta.id));
        let old = std::fs::read_to_string(&path)?;
        let mut text = old.clone();
        if let Some(next) = sup
            && d.meta.superseded_by.as_ref() != Some(next)
        {
            text = set_front_key(&text, "superseded_by", Some(&toml_str(next.as_str())))
                .context("front matter")?;
        }
        if let Some(end) = end
            && d.meta.effective_to.is_none_or(|e| e > *end)
        {
            text = set_front_key(&text, "effective_to", Some(&end.to_string()))
                .context("front matter")?;
        }
        if text == old {
            continue;
        }
        if let Err(problems) = parse_document(&path, &text) {
            report.changes.push(Change {
                id: d.meta.id.to_string(),
                what: format!(
                    "应标记为替代或废止，但修改后未通过检查，未改动：{}",
                    problems[0].message
                ),
                existing: true,
            });
            continue;
        }
        if !opts.dry_run {
            write_whole(&path, &text)?;
        }
    }
    report.changes.extend(rel.changes);
    Ok(report)
}

/// Every file under `paths` (folders walked recursively, hidden entries left out), sorted,
/// with the files that are neither documents nor tables reported apart.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("找不到 {}", p.display()))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("读取 {}", dir.display()))?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = e.path();
        let ty = e.file_type()?;
        if ty.is_dir() {
            walk(&path, out)?;
        } else if ty.is_file() || ty.is_symlink() && path.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

/// Counts by outcome, for the summary line.
pub fn tally(report: &BatchReport) -> BTreeMap<&'static str, usize> {
    let mut t = BTreeMap::new();
    for f in &report.files {
        let k = match f.outcome {
            Outcome::Written => "written",
            Outcome::Unchanged => "unchanged",
            Outcome::WouldWrite => "would_write",
            Outcome::Skipped(_) => "skipped",
        };
        *t.entry(k).or_insert(0) += 1;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_file_names_and_are_stable() {
        assert_eq!(
            id_for(Path::new("a/Policy_2024 v2.docx")).unwrap().as_str(),
            "policy-2024-v2"
        );
        let a = id_for(Path::new("示例府办发〔2024〕12号.pdf")).unwrap();
        let b = id_for(Path::new("other/示例府办发〔2024〕12号.html")).unwrap();
        assert_eq!(a, b);
        assert!(a.as_str().starts_with("2024-12-"), "{a}");
        assert_ne!(a, id_for(Path::new("示例府办发〔2024〕13号.pdf")).unwrap());
        assert!(
            id_for(Path::new("关于通知.html"))
                .unwrap()
                .as_str()
                .starts_with("doc-")
        );
    }

    #[test]
    fn front_matter_keys_are_set_in_place() {
        let text = "+++\nid = \"a\"\n# a comment\neffective_to = 2030-01-01\n+++\n\nbody\n";
        let t = set_front_key(text, "effective_to", Some("2024-02-29")).unwrap();
        assert!(t.contains("effective_to = 2024-02-29\n"));
        assert!(t.contains("# a comment"));
        let t = set_front_key(&t, "superseded_by", Some("\"b\"")).unwrap();
        assert!(t.contains("superseded_by = \"b\"\n+++"), "{t}");
        assert!(t.ends_with("body\n"));
    }
}
