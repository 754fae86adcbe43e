//! The knowledge base: documents on disk, their model, and the checks across documents.
//! Nothing here knows about the index or HTTP.

pub mod alias;
pub mod document;
pub mod import;
pub mod official;
pub mod parse;
pub mod settings;

pub use document::{Aspect, DocId, DocKind, Document, FrontMatter, Section, Situation};
pub use parse::{DocProblem, parse_document};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where the documents of a knowledge-base folder live.
pub fn documents_dir(kb: &Path) -> PathBuf {
    kb.join("documents")
}

/// Every document that parsed, and every problem found, file by file.
#[derive(Debug, Default)]
pub struct Corpus {
    pub documents: Vec<Document>,
    pub problems: Vec<DocProblem>,
    pub files_read: usize,
}

impl Corpus {
    pub fn get(&self, id: &DocId) -> Option<&Document> {
        self.documents.iter().find(|d| &d.meta.id == id)
    }
}

/// Reads `KB/documents/*.md`. A malformed document is reported and left out; the rest load.
pub fn load(kb: &Path) -> std::io::Result<Corpus> {
    let dir = documents_dir(kb);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    paths.sort();
    let mut corpus = Corpus::default();
    let mut texts = HashMap::new();
    for path in paths {
        corpus.files_read += 1;
        let text = match std::fs::read(&path).map(String::from_utf8) {
            Ok(Ok(t)) => t,
            Ok(Err(_)) => {
                corpus.problems.push(DocProblem {
                    file: path,
                    line: 1,
                    field: "encoding".into(),
                    message: "文件不是 UTF-8 编码".into(),
                });
                continue;
            }
            Err(e) => {
                corpus.problems.push(DocProblem {
                    file: path,
                    line: 1,
                    field: "file".into(),
                    message: format!("无法读取：{e}"),
                });
                continue;
            }
        };
        match parse_document(&path, &text) {
            Ok(doc) => {
                texts.insert(doc.meta.id.clone(), (path, text));
                corpus.documents.push(doc);
            }
            Err(mut problems) => corpus.problems.append(&mut problems),
        }
    }
    check_across(&mut corpus, &texts);
    Ok(corpus)
}

/// Checks that need more than one document: a `superseded_by` must name a known document.
/// (Ids are unique because each must equal its file name.) A document with a problem is left out.
fn check_across(corpus: &mut Corpus, texts: &HashMap<DocId, (PathBuf, String)>) {
    let line_of = |id: &DocId, key: &str| {
        texts.get(id).map_or(1, |(_, t)| {
            t.lines()
                .position(|l| l.trim_start().starts_with(key))
                .map_or(1, |i| i + 1)
        })
    };
    let mut bad = vec![false; corpus.documents.len()];
    let known: std::collections::HashSet<&DocId> =
        corpus.documents.iter().map(|d| &d.meta.id).collect();
    let mut problems = Vec::new();
    for (i, d) in corpus.documents.iter().enumerate() {
        if let Some(next) = &d.meta.superseded_by
            && !known.contains(next)
        {
            bad[i] = true;
            problems.push(DocProblem {
                file: texts
                    .get(&d.meta.id)
                    .map(|(p, _)| p.clone())
                    .unwrap_or_default(),
                line: line_of(&d.meta.id, "superseded_by"),
                field: "superseded_by".into(),
                message: format!("替代文档“{next}”不存在"),
            });
        }
    }
    let mut i = 0;
    corpus.documents.retain(|_| {
        i += 1;
        !bad[i - 1]
    });
    corpus.problems.extend(problems);
}
