//! What the assistant says back: the reply, its outcome and its citations.

use crate::kb::{DocId, Document};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How a question was dealt with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Answered from the knowledge base, with citations.
    Answered,
    /// One short question back, offering the choices.
    Clarify,
    /// Not something the knowledge base covers or the assistant may answer; routed on.
    OutOfScope,
    /// Handed to a human: the person asked for one, or asked about their own case.
    Handoff,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Clarify => "clarify",
            Outcome::OutOfScope => "out_of_scope",
            Outcome::Handoff => "handoff",
        }
    }
    pub fn parse(s: &str) -> Option<Outcome> {
        [
            Outcome::Answered,
            Outcome::Clarify,
            Outcome::OutOfScope,
            Outcome::Handoff,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// Who wrote the answer text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Composed from knowledge-base passages, word for word.
    Extractive,
    /// Written by a language model from the passages and checked against them.
    Generative,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Extractive => "extractive",
            Mode::Generative => "generative",
        }
    }
}

/// A source the answer rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Citation {
    #[schema(value_type = String)]
    pub doc_id: DocId,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub effective_from: Option<NaiveDate>,
    /// The readable page of the document.
    pub url: String,
    /// A related guide offered as further reading (or an item of a life event), not a source
    /// of the answer's text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub related: bool,
}

impl Citation {
    pub fn of(doc: &Document) -> Citation {
        Citation {
            doc_id: doc.meta.id.clone(),
            title: doc.meta.title.clone(),
            doc_no: doc.meta.doc_no.clone(),
            effective_from: Some(doc.meta.effective_from),
            url: format!("/kb/{}", doc.meta.id),
            related: false,
        }
    }

    /// A link to a related document.
    pub fn related(doc: &Document) -> Citation {
        Citation {
            related: true,
            ..Citation::of(doc)
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    pub answer: String,
    pub outcome: Outcome,
    pub mode: Mode,
    pub citations: Vec<Citation>,
    /// For `clarify`: the choices offered.
    pub choices: Vec<String>,
    /// Why a question was routed (`no_match`, `medical`, `human`, …), for records and metrics.
    pub reason: Option<String>,
    /// Documents retrieved for the question, best first (for evaluation).
    pub ranked: Vec<DocId>,
    /// For `answered`: the passages (catalog ids) a generated answer may rest on.
    #[serde(skip)]
    pub sources: Vec<u32>,
}
