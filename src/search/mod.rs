//! Retrieval: jieba segmentation, query expansion (Chinese synonyms, English glossary), the tantivy index of passages, and the
//! handle that swaps in a rebuilt index while the server keeps answering.

pub mod expand;
pub mod glossary;
pub mod handle;
pub mod index;
pub mod passage;
pub mod segment;
pub mod sound;

pub use handle::IndexHandle;
pub use index::{BuildReport, KnowledgeIndex, Retrieval, Weights, build};
pub use passage::Passage;
