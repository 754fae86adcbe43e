//! Passages: the units retrieval returns. Documents are split along their structure (guide
//! elements, situations, FAQ entries); each passage knows its document and section.

use crate::kb::{Aspect, DocKind, Document};
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
    /// Starts at one of a policy's own numbered headings (see [`split`]): the heading is a
    /// printed line of the text, searched as text, not a guide element's name.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub heading_in_text: bool,
}

/// One part of a document before it becomes passages: the summary, a section (or a chunk of
/// one), a situation or an FAQ entry.
struct Piece {
    section: String,
    aspect: Aspect,
    situation: Option<usize>,
    keywords: Vec<String>,
    text: String,
    line: usize,
    /// Running text that may share a passage with its neighbours (see [`split`]).
    runs_on: bool,
}

/// Splits one document into passages, numbering them from `first_id`.
///
/// A policy's running text (its summary and the sections under its own numbered headings,
/// 一、（一）1. 第X条) is packed in reading order into passages of up to `MAX_PASSAGE_CHARS`
/// characters, each starting at a heading and named after it; a later heading inside a passage
/// stays as a line of its text. A passage per short section would score a two-line item alone,
/// without the paragraphs around it that say whose measure it is: on the NCPPolicies documents
/// imported as HTML (median section 144 characters) hit@1 was 6 points below the same texts
/// imported as one body (scripts/eval_dev.sh, issue 14). A guide's elements, situations and FAQ
/// entries stay passages of their own, as an answer quotes them by aspect. A policy's heading is
/// searched as a line of its text rather than as a section name: as a name it counted more than
/// the same words in the plain import and cost another point of hit@1 there.
pub fn split(doc: &Document, doc_pos: u32, first_id: u32) -> Vec<Passage> {
    let policy = doc.meta.kind == DocKind::Policy;
    let mut pieces = Vec::new();
    if !doc.summary.is_empty() {
        pieces.push(Piece {
            section: "概述".into(),
            aspect: Aspect::Summary,
            situation: None,
            keywords: Vec::new(),
            text: doc.summary.clone(),
            line: 0,
            runs_on: policy,
        });
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
                pieces.push(Piece {
                    section: format!("办理情形：{}", sit.name),
                    aspect,
                    situation: Some(i),
                    keywords,
                    text: text.trim_end().to_string(),
                    line: s.line,
                    runs_on: false,
                });
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
        pieces.push(Piece {
            section: s.heading.clone(),
            aspect,
            situation: None,
            keywords,
            text: s.body.clone(),
            line: s.line,
            runs_on: policy && aspect == Aspect::Other,
        });
    }
    let mut out: Vec<Passage> = Vec::new();
    // Whether the last passage is running text that a following piece may join.
    let mut open = false;
    for piece in pieces {
        let len = piece.text.chars().count();
        if piece.runs_on && open {
            let last = out.last_mut().expect("an open passage");
            let joined = last.text.chars().count() + piece.section.chars().count() + len + 3;
            if joined <= MAX_PASSAGE_CHARS {
                last.text = format!("{}\n\n{}\n{}", last.text, piece.section, piece.text);
                continue;
            }
        }
        let chunks = chunks(&piece.text);
        open = piece.runs_on && chunks.len() == 1;
        let heading_in_text = piece.runs_on && piece.aspect != Aspect::Summary;
        for text in chunks {
            out.push(Passage {
                id: first_id + out.len() as u32,
                doc: doc_pos,
                section: piece.section.clone(),
                aspect: piece.aspect,
                situation: piece.situation,
                keywords: piece.keywords.clone(),
                text,
                line: piece.line,
                heading_in_text,
            });
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

    /// Issue 14: a policy's short numbered sections share passages, each passage starting at a
    /// heading, so a two-line item is searched with the text around it.
    #[test]
    fn a_policy_packs_its_short_numbered_sections() {
        let text = "+++\nid = \"p\"\ntitle = \"示例市关于稳就业的通知\"\nkind = \"policy\"\n\
            issuing_body = \"示例市人民政府\"\nregion = \"示例市\"\neffective_from = 2024-01-01\ntags = []\n+++\n\
            各区人民政府：现将有关事项通知如下。\n\n## 一、总体要求\n稳住就业基本盘。\n\n\
            ## （一）补贴对象\n离校未就业高校毕业生。\n\n## （二）补贴标准\n";
        let long = format!("{}\n\n", "每人每月发放一百五十元。".repeat(30)).repeat(3);
        let doc = parse_document(Path::new("p.md"), &format!("{text}{long}\n")).unwrap();
        let ps = split(&doc, 0, 0);
        let sections: Vec<&str> = ps.iter().map(|p| p.section.as_str()).collect();
        assert_eq!(sections[..2], ["概述", "（二）补贴标准"], "{ps:#?}");
        assert!(ps[0].text.starts_with("各区人民政府"));
        assert!(
            ps[0]
                .text
                .contains("\n\n（一）补贴对象\n离校未就业高校毕业生。")
        );
        assert_eq!(ps[1].line, doc.sections[2].line);
        assert!(
            ps.iter()
                .all(|p| p.text.chars().count() <= MAX_PASSAGE_CHARS)
        );
    }

    #[test]
    fn a_guides_elements_stay_passages_of_their_own() {
        let text = std::fs::read_to_string("knowledge_base/documents/id-card-renewal.md").unwrap();
        let doc = parse_document(Path::new("id-card-renewal.md"), &text).unwrap();
        let ps = split(&doc, 0, 0);
        for s in &doc.sections {
            assert!(
                ps.iter()
                    .any(|p| p.section == s.heading || p.line == s.line)
            );
        }
        assert!(ps.iter().all(|p| p.aspect == Aspect::Summary || p.line > 0));
        assert!(ps.iter().filter(|p| p.aspect == Aspect::Summary).count() == 1);
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
