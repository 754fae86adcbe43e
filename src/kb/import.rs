//! `xiaoban import`: a city's existing FAQ or guide table (CSV, JSONL or XLSX) turned into
//! knowledge-base documents. Rows with a `question` become FAQ entries (rows sharing an `id`
//! become one FAQ document); rows without become one-section policy documents. Every written
//! document is parsed back before it is kept, so an import never leaves a malformed file.

use super::document::DocId;
use super::parse::parse_document;
use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One table row, by column name (lower-cased, trimmed).
type Row = BTreeMap<String, String>;

#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    pub rows: usize,
    pub written: Vec<String>,
    /// (row number, reason); row 1 is the first data row.
    pub skipped: Vec<(usize, String)>,
}

fn read_rows(file: &Path) -> Result<Vec<Row>> {
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_lowercase();
    let norm = |k: &str| k.trim().trim_start_matches('\u{feff}').to_lowercase();
    match ext.as_str() {
        "csv" => {
            let mut r = csv::ReaderBuilder::new()
                .flexible(true)
                .from_path(file)
                .with_context(|| format!("读取 {}", file.display()))?;
            let headers: Vec<String> = r.headers()?.iter().map(norm).collect();
            r.records()
                .map(|rec| {
                    let rec = rec?;
                    Ok(headers
                        .iter()
                        .cloned()
                        .zip(rec.iter().map(|v| v.trim().to_string()))
                        .collect())
                })
                .collect()
        }
        "jsonl" | "ndjson" => {
            let text = std::fs::read_to_string(file)?;
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    let v: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_str(l).unwrap_or_default();
                    Ok(v.into_iter()
                        .map(|(k, v)| {
                            let s = match v {
                                serde_json::Value::String(s) => s,
                                serde_json::Value::Null => String::new(),
                                other => other.to_string(),
                            };
                            (norm(&k), s.trim().to_string())
                        })
                        .collect())
                })
                .collect()
        }
        "xlsx" | "xls" | "ods" => {
            use calamine::{Data, Reader, open_workbook_auto};
            let mut wb =
                open_workbook_auto(file).with_context(|| format!("读取 {}", file.display()))?;
            let sheet = wb
                .sheet_names()
                .first()
                .cloned()
                .context("工作簿中没有工作表")?;
            let range = wb.worksheet_range(&sheet)?;
            let mut rows = range.rows();
            let headers: Vec<String> = rows
                .next()
                .context("工作表为空")?
                .iter()
                .map(|c| norm(&c.to_string()))
                .collect();
            Ok(rows
                .map(|r| {
                    headers
                        .iter()
                        .cloned()
                        .zip(r.iter().map(|c| {
                            match c {
                                Data::DateTime(d) => d
                                    .as_datetime()
                                    .map(|t| t.date().to_string())
                                    .unwrap_or_default(),
                                other => other.to_string().trim().to_string(),
                            }
                        }))
                        .collect()
                })
                .collect())
        }
        _ => bail!("不支持的文件类型“{ext}”：请用 .csv、.jsonl 或 .xlsx"),
    }
}

fn field<'a>(row: &'a Row, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| row.get(*n))
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

struct Pending {
    title: String,
    department: String,
    effective_from: NaiveDate,
    region: String,
    aliases: Vec<String>,
    entries: Vec<(Option<String>, String)>,
    first_row: usize,
}

/// Imports `file` into `kb/documents/`. Existing documents are not overwritten unless `replace`;
/// with `dry_run` nothing is written and `written` lists what would be.
pub fn import(file: &Path, kb: &Path, replace: bool, dry_run: bool) -> Result<ImportReport> {
    let rows = read_rows(file)?;
    let mut report = ImportReport {
        rows: rows.len(),
        ..Default::default()
    };
    let mut docs: BTreeMap<String, Pending> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        let n = i + 1;
        let Some(title) = field(row, &["title", "标题", "事项名称"]) else {
            report.skipped.push((n, "缺少 title（标题）".into()));
            continue;
        };
        let Some(answer) = field(row, &["answer", "答案", "内容", "content"]) else {
            report.skipped.push((n, "缺少 answer（答案或内容）".into()));
            continue;
        };
        let id = match field(row, &["id", "编号"]) {
            Some(id) => match DocId::parse(id) {
                Ok(id) => id.to_string(),
                Err(e) => {
                    report.skipped.push((n, e));
                    continue;
                }
            },
            None => format!(
                "imported-{}-{n}",
                file.file_stem()
                    .and_then(|s| s.to_str())
                    .map(|s| s
                        .to_lowercase()
                        .replace(|c: char| !c.is_ascii_alphanumeric(), "-"))
                    .unwrap_or_default()
            ),
        };
        let effective_from = match field(row, &["effective_from", "生效日期", "施行日期"]) {
            Some(d) => match NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .or_else(|_| NaiveDate::parse_from_str(d, "%Y/%m/%d"))
            {
                Ok(d) => d,
                Err(_) => {
                    report
                        .skipped
                        .push((n, format!("effective_from“{d}”不是日期（应为 YYYY-MM-DD）")));
                    continue;
                }
            },
            None => chrono::Local::now().date_naive(),
        };
        let entry = docs.entry(id).or_insert_with(|| Pending {
            title: title.to_string(),
            department: field(row, &["department", "部门", "issuing_body"])
                .unwrap_or("示例市政务服务管理局")
                .to_string(),
            effective_from,
            region: field(row, &["region", "适用范围"])
                .unwrap_or("示例市")
                .to_string(),
            aliases: field(row, &["aliases", "别名"])
                .map(|a| {
                    a.split(['、', ',', '，', '|', '｜'])
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            entries: Vec::new(),
            first_row: n,
        });
        let question = field(row, &["question", "问题"]).map(str::to_string);
        entry.entries.push((question, answer.to_string()));
    }
    let dir = super::documents_dir(kb);
    if !dry_run {
        std::fs::create_dir_all(&dir)?;
    }
    for (id, d) in docs {
        let path: PathBuf = dir.join(format!("{id}.md"));
        if path.exists() && !replace {
            report.skipped.push((
                d.first_row,
                format!("文档 {id} 已存在（用 --replace 覆盖）"),
            ));
            continue;
        }
        let is_faq = d.entries.iter().any(|(q, _)| q.is_some());
        let mut text = format!(
            "+++\nid = {}\ntitle = {}\nkind = \"{}\"\nissuing_body = {}\nregion = {}\neffective_from = {}\ntags = [\"导入\"]\naliases = [{}]\n+++\n\n",
            toml_str(&id),
            toml_str(&d.title),
            if is_faq { "faq" } else { "policy" },
            toml_str(&d.department),
            toml_str(&d.region),
            d.effective_from,
            d.aliases
                .iter()
                .map(|a| toml_str(a))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for (q, a) in &d.entries {
            let heading = match q {
                Some(q) => format!("问：{}", q.replace('\n', " ")),
                None => "内容".to_string(),
            };
            // A line starting with "## " inside an answer would open a new section.
            let body = a.replace("\n## ", "\n ## ");
            text.push_str(&format!("## {heading}\n{body}\n\n"));
        }
        match parse_document(&path, &text) {
            Ok(_) => {
                if !dry_run {
                    std::fs::write(&path, text)?;
                }
                report.written.push(id);
            }
            Err(problems) => report.skipped.push((
                d.first_row,
                problems
                    .iter()
                    .map(|p| p.message.clone())
                    .collect::<Vec<_>>()
                    .join("；"),
            )),
        }
    }
    Ok(report)
}
