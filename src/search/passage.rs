//! Passages: the units retrieval returns. Documents are split along their structure (guide
//! elements, situations, FAQ entries); each passage knows its document and section.

use crate::kb::{Aspect, Document};
use serde::{Deserialize, Serialize};

/// Sections longer than this (in characters) are split at paragraph boundaries.
const MAX_PASSAGE_CHARS: usize = 600;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Passage {
    /// Position in the catalog's passage list.
    pub id: u32,
    /// Position of its document in the catalog's document list.
    pub doc: u32,
    /// The section it comes from, e.g. `收费标准` or `办理情形：有效期满换领`.
    pub section: String,
    pub aspect: Aspect,
    /// The situation (index into the guide's situations) for situation passages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub situation: Option<usize>,
    /// Words that identify the passage beyond its text (situation cues, FAQ phrasings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    pub text: String,
    /// 1-based line of the section heading in the source file (0 for the summary).
    pub line: usize,
}

/// Splits one document into passages, numbering them from `first_id`.
pub fn split(doc: &Document, doc_pos: u32, first_id: u32) -> Vec<Passage> {
    let mut out = Vec::new();
    let mut push = |section: String,
                    aspect: Aspect,
                    situation: Option<usize>,
                    keywords: Vec<String>,
                    text: String,
                    line: usize| {
        let id = first_id + out.len() as u32;
        out.push(Passage {
            id,
            doc: doc_pos,
            section,
            aspect,
            situation,
            keywords,
            text,
            line,
        });
    };
    if !doc.summary.is_empty() {
        push(
            "概述".into(),
            Aspect::Summary,
            None,
            Vec::new(),
            doc.summary.clone(),
            0,
        );
    }
    for s in &doc.sections {
        let aspect = s.aspect();
        if !s.situations.is_empty() {
            for (i, sit) in s.situations.iter().enumerate() {
                let mut text = String::new();
                for m in &sit.materials {
                    text.push_str("- ");
                    text.push_str(m);
                    text.push('\n');
                }
                let mut keywords = sit.cues.clone();
                keywords.push(sit.name.clone());
                push(
                    format!("办理情形：{}", sit.name),
                    aspect,
                    Some(i),
                    keywords,
                    text.trim_end().to_string(),
                    s.line,
                );
            }
            continue;
        }
        let keywords = if aspect == Aspect::Faq {
            let mut k = s.phrasings.clone();
            k.push(s.heading.trim_start_matches("问：").to_string());
            k
        } else {
            Vec::new()
        };
        for chunk in chunks(&s.body) {
            push(
                s.heading.clone(),
                aspect,
                None,
                keywords.clone(),
                chunk,
                s.line,
            );
        }
    }
    out
}

/// Paragraph-aligned chunks of at most about `MAX_PASSAGE_CHARS` characters.
fn chunks(body: &str) -> Vec<String> {
    if body.chars().count() <= MAX_PASSAGE_CHARS {
        return vec![body.to_string()];
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    for para in body.split("\n\n") {
        if !cur.is_empty() && cur.chars().count() + para.chars().count() > MAX_PASSAGE_CHARS {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push_str("\n\n");
        }
        cur.push_str(para);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kb::parse_document;
    use std::path::Path;

    #[test]
    fn guides_split_by_element_and_situation() {
        let text = std::fs::read_to_string("knowledge_base/documents/id-card-renewal.md").unwrap();
        let doc = parse_document(Path::new("id-card-renewal.md"), &text).unwrap();
        let ps = split(&doc, 0, 10);
        assert_eq!(ps[0].id, 10);
        assert_eq!(ps[0].aspect, Aspect::Summary);
        let sit: Vec<_> = ps.iter().filter(|p| p.situation.is_some()).collect();
        assert_eq!(sit.len(), doc.situations().len());
        assert!(sit[0].keywords.iter().any(|k| k == "到期"));
        assert!(
            ps.iter()
                .any(|p| p.aspect == Aspect::Fees && p.text.contains("20元"))
        );
    }

    #[test]
    fn long_sections_split_at_paragraphs() {
        let para = "很长的一段话。".repeat(60);
        let body = format!("{para}\n\n{para}\n\n{para}");
        let c = chunks(&body);
        assert_eq!(c.len(), 3);
        assert!(c.iter().all(|x| x.chars().count() <= MAX_PASSAGE_CHARS));
    }
}
