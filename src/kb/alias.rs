//! Adding aliases to a document's front matter in place: the rest of the file (other keys,
//! comments, the body) stays byte for byte, each added alias goes on a line of its own with a
//! comment giving the day it was added, and the file is replaced only by a version that parses.

use super::{DocId, Document, documents_dir, parse_document};
use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use std::io::Write;
use std::path::{Path, PathBuf};
use toml_edit::{Array, DocumentMut, Item, Value};

/// What adding aliases to one document did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AliasEdit {
    pub file: PathBuf,
    /// Aliases written, in order.
    pub added: Vec<String>,
    /// Aliases the document already had (compared ignoring case, width and spacing).
    pub present: Vec<String>,
}

/// The comment after an alias added on `day`.
pub fn added_note(day: NaiveDate) -> String {
    format!("{day} 采纳自市民提问")
}

/// An alias as written: one line, spaces collapsed, no control characters.
fn one_line(alias: &str) -> String {
    alias
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// How two aliases are compared: lower-case, full-width letters and digits as half-width,
/// without spaces and punctuation.
fn alias_key(alias: &str) -> String {
    alias
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The byte range of the front matter's TOML in `text` (between the `+++` lines).
fn front_matter(text: &str) -> Result<std::ops::Range<usize>> {
    let start = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let mut lines = text[start..].split_inclusive('\n');
    let first = lines.next().unwrap_or("");
    if first.trim_end() != "+++" {
        bail!("文件不是以一行 +++ 开始的文档（缺少文档信息）");
    }
    let from = start + first.len();
    let mut at = from;
    for line in lines {
        if line.trim_end() == "+++" {
            return Ok(from..at);
        }
        at += line.len();
    }
    bail!("文档信息没有以一行 +++ 结束")
}

/// `text` (a whole document file) with `aliases` appended to its front matter's `aliases`,
/// each on its own line followed by `# note`; and the aliases actually added (those not
/// already there, each once).
pub fn with_aliases(text: &str, aliases: &[String], note: &str) -> Result<(String, Vec<String>)> {
    let range = front_matter(text)?;
    let mut doc: DocumentMut = text[range.clone()]
        .parse()
        .context("文档信息不是有效的 TOML")?;
    if doc.get("aliases").is_none() {
        doc.insert("aliases", Item::Value(Value::Array(Array::new())));
    }
    let Some(array) = doc.get_mut("aliases").and_then(Item::as_array_mut) else {
        bail!("文档信息中的 aliases 不是一个数组");
    };
    let mut known: Vec<String> = array
        .iter()
        .filter_map(|v| v.as_str().map(alias_key))
        .collect();
    let mut added = Vec::new();
    for alias in aliases {
        let alias = one_line(alias);
        let key = alias_key(&alias);
        if key.is_empty() || known.contains(&key) {
            continue;
        }
        known.push(key);
        added.push(alias);
    }
    if added.is_empty() {
        return Ok((text.to_string(), added));
    }
    // New entries line up with entries already on lines of their own, else four spaces.
    let indent = array
        .iter()
        .filter_map(|v| v.decor().prefix()?.as_str())
        .filter_map(|p| p.rfind('\n').map(|i| p[i + 1..].to_string()))
        .last()
        .unwrap_or_else(|| "    ".into());
    // What stood before the closing bracket (a comment of an alias added earlier, or a line
    // break) now stands before the first new entry.
    let before = array.trailing().as_str().unwrap_or("");
    let mut prefix = match before.rfind('\n') {
        Some(i) => before[..=i].to_string(),
        None => "\n".to_string(),
    };
    prefix.push_str(&indent);
    let comment = format!("  # {note}\n");
    for alias in &added {
        let mut value = Value::from(alias.as_str());
        value.decor_mut().set_prefix(prefix.clone());
        value.decor_mut().set_suffix("");
        array.push_formatted(value);
        prefix = format!("{comment}{indent}");
    }
    array.set_trailing_comma(true);
    array.set_trailing(comment);
    let mut front = doc.to_string();
    if !front.ends_with('\n') {
        front.push('\n');
    }
    Ok((
        format!("{}{front}{}", &text[..range.start], &text[range.end..]),
        added,
    ))
}

/// Adds `aliases` to the document `id` under `kb`, marked with `day`. The edited text is
/// written to a temporary file beside the document, read back and parsed, and only then
/// renamed over the document: a failure at any step leaves the file as it was.
pub fn add_aliases(kb: &Path, id: &DocId, aliases: &[String], day: NaiveDate) -> Result<AliasEdit> {
    add_noted(kb, id, aliases, &added_note(day))
}

fn add_noted(kb: &Path, id: &DocId, aliases: &[String], note: &str) -> Result<AliasEdit> {
    let dir = documents_dir(kb);
    let file = dir.join(format!("{id}.md"));
    if !file.is_file() {
        bail!("找不到文档“{id}”：{} 不存在", file.display());
    }
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("读取 {}", file.display()))?;
    let problems = |ps: Vec<super::DocProblem>| {
        ps.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("；")
    };
    let before = parse_document(&file, &text).map_err(|ps| {
        anyhow::anyhow!("文档“{id}”本身有误，请先修正再添加别名：{}", problems(ps))
    })?;
    let (edited, added) = with_aliases(&text, aliases, note)
        .with_context(|| format!("无法修改 {}", file.display()))?;
    let present = aliases
        .iter()
        .map(|a| one_line(a))
        .filter(|a| !a.is_empty() && !added.contains(a))
        .collect();
    if added.is_empty() {
        return Ok(AliasEdit {
            file,
            added,
            present,
        });
    }
    let check = |text: &str| -> Result<Document> {
        let doc = parse_document(&file, text).map_err(|ps| {
            anyhow::anyhow!("添加别名后文档“{id}”无法解析，文件未改动：{}", problems(ps))
        })?;
        let missing: Vec<&String> = added
            .iter()
            .filter(|a| !doc.meta.aliases.contains(a))
            .collect();
        if !missing.is_empty() || doc.meta.aliases.len() != before.meta.aliases.len() + added.len()
        {
            bail!("添加别名后文档“{id}”的 aliases 与预期不符，文件未改动");
        }
        Ok(doc)
    };
    check(&edited)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{id}."))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .with_context(|| format!("在 {} 创建临时文件", dir.display()))?;
    tmp.write_all(edited.as_bytes())?;
    tmp.as_file().sync_all()?;
    if let Ok(meta) = std::fs::metadata(&file) {
        std::fs::set_permissions(tmp.path(), meta.permissions())?;
    }
    check(&std::fs::read_to_string(tmp.path())?)?;
    // Someone else's edit in the meantime would be lost: refuse instead.
    if std::fs::read_to_string(&file)? != text {
        bail!("文档“{id}”在添加别名期间被改动，文件未改动：请重新运行");
    }
    tmp.persist(&file)
        .with_context(|| format!("替换 {}", file.display()))?;
    Ok(AliasEdit {
        file,
        added,
        present,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "+++\nid = \"demo\"\ntitle = \"示例事项\"   # the official name\nkind = \"policy\"\nissuing_body = \"示例市某局\"\nregion = \"示例市\"\neffective_from = 2024-01-01\ntags = [\"示例\"]\naliases = [\"示例\", \"样板\"] # colloquial\n+++\n\n概述。\n\n## 内容\naliases = [\"不是文档信息\"]\n";

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn parsed(text: &str) -> Document {
        parse_document(Path::new("demo.md"), text).expect("parses")
    }

    #[test]
    fn aliases_are_appended_one_a_line_with_their_date_and_the_rest_stays() {
        let (out, added) = with_aliases(
            DOC,
            &strings(&["没工作怎么交 医保", "示 例", "没工作怎么交医保！"]),
            &added_note(NaiveDate::from_ymd_opt(2026, 12, 5).unwrap()),
        )
        .unwrap();
        // "示 例" is the alias 示例 already there; the third is the first again.
        assert_eq!(added, strings(&["没工作怎么交 医保"]));
        assert_eq!(
            out,
            DOC.replace(
                "aliases = [\"示例\", \"样板\"] # colloquial",
                "aliases = [\"示例\", \"样板\",\n    \"没工作怎么交 医保\",  # 2026-12-05 采纳自市民提问\n] # colloquial"
            )
        );
        assert_eq!(
            parsed(&out).meta.aliases,
            strings(&["示例", "样板", "没工作怎么交 医保"])
        );
        // A second round goes below the first, each alias with its own day.
        let (again, added) = with_aliases(
            &out,
            &strings(&["甲乙", "丙\n丁"]),
            "2026-12-06 采纳自市民提问",
        )
        .unwrap();
        assert_eq!(added, strings(&["甲乙", "丙 丁"]));
        assert!(
            again.contains(
                "aliases = [\"示例\", \"样板\",\n    \"没工作怎么交 医保\",  # 2026-12-05 采纳自市民提问\n    \"甲乙\",  # 2026-12-06 采纳自市民提问\n    \"丙 丁\",  # 2026-12-06 采纳自市民提问\n] # colloquial\n"
            ),
            "{again}"
        );
        assert_eq!(parsed(&again).meta.aliases.len(), 5);
        // The body's look-alike line is not touched.
        assert!(again.ends_with("## 内容\naliases = [\"不是文档信息\"]\n"));
    }

    #[test]
    fn quotes_and_backslashes_are_escaped_and_missing_or_empty_arrays_are_made() {
        let no_aliases = DOC.replace("aliases = [\"示例\", \"样板\"] # colloquial\n", "");
        let (out, added) = with_aliases(&no_aliases, &strings(&["说\"你好\"\\"]), "note").unwrap();
        assert_eq!(added.len(), 1);
        assert_eq!(parsed(&out).meta.aliases, strings(&["说\"你好\"\\"]));
        let empty = DOC.replace("[\"示例\", \"样板\"]", "[]");
        let (out, _) = with_aliases(&empty, &strings(&["甲乙"]), "note").unwrap();
        assert!(
            out.contains("aliases = [\n    \"甲乙\",  # note\n] # colloquial"),
            "{out}"
        );
        // Entries already on lines of their own set the indentation.
        let multi = DOC.replace("[\"示例\", \"样板\"]", "[\n  \"示例\",\n  \"样板\",\n]");
        let (out, _) = with_aliases(&multi, &strings(&["甲乙"]), "note").unwrap();
        assert!(
            out.contains("[\n  \"示例\",\n  \"样板\",\n  \"甲乙\",  # note\n] # colloquial"),
            "{out}"
        );
        assert_eq!(parsed(&out).meta.aliases.len(), 3);
    }

    #[test]
    fn nothing_to_add_leaves_the_text_and_bad_front_matter_is_refused() {
        let (out, added) = with_aliases(DOC, &strings(&["样板", "  "]), "note").unwrap();
        assert!(added.is_empty());
        assert_eq!(out, DOC);
        assert!(with_aliases("no front matter", &strings(&["甲"]), "n").is_err());
        assert!(with_aliases("+++\nid = \"x\"\n", &strings(&["甲"]), "n").is_err());
        let not_array = DOC.replace("[\"示例\", \"样板\"]", "\"示例\"");
        let err = with_aliases(&not_array, &strings(&["甲"]), "n").unwrap_err();
        assert!(err.to_string().contains("不是一个数组"), "{err}");
    }

    #[test]
    fn the_file_is_replaced_only_by_a_version_that_parses() {
        let kb = tempfile::tempdir().unwrap();
        let dir = documents_dir(kb.path());
        std::fs::create_dir_all(&dir).unwrap();
        let id = DocId::parse("demo").unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 12, 5).unwrap();
        let err = add_aliases(kb.path(), &DocId::parse("nowhere").unwrap(), &[], day).unwrap_err();
        assert!(err.to_string().contains("找不到文档“nowhere”"), "{err}");

        std::fs::write(dir.join("demo.md"), DOC).unwrap();
        let edit = add_aliases(kb.path(), &id, &strings(&["甲乙", "样板"]), day).unwrap();
        assert_eq!(edit.added, strings(&["甲乙"]));
        assert_eq!(edit.present, strings(&["样板"]));
        let text = std::fs::read_to_string(dir.join("demo.md")).unwrap();
        assert!(text.contains("\"甲乙\",  # 2026-12-05 采纳自市民提问\n"));
        assert_eq!(parsed(&text).meta.aliases.len(), 3);

        // A document that does not parse now (a date that is not a date) is left alone.
        let broken = DOC.replace(
            "effective_from = 2024-01-01",
            "effective_from = \"someday\"",
        );
        std::fs::write(dir.join("demo.md"), &broken).unwrap();
        let err = add_aliases(kb.path(), &id, &strings(&["丙丁"]), day).unwrap_err();
        assert!(err.to_string().contains("本身有误"), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.join("demo.md")).unwrap(),
            broken
        );
        // An edit that would break the file (here a note that ends the comment and adds a
        // second `id`) is refused and the file stays as it was.
        std::fs::write(dir.join("demo.md"), &text).unwrap();
        let err = add_noted(kb.path(), &id, &strings(&["丙丁"]), "n\nid = \"other\"").unwrap_err();
        assert!(err.to_string().contains("无法解析，文件未改动"), "{err}");
        assert_eq!(std::fs::read_to_string(dir.join("demo.md")).unwrap(), text);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("demo.md")]);
    }
}
