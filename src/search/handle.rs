//! The index in use by a running server. A rebuild writes a new generation and renames
//! `CURRENT`; `refresh` (called on a timer) notices and swaps it in without a restart, while
//! requests already under way finish on the generation they started with.

use super::index::{KnowledgeIndex, current_generation};
use anyhow::Result;
use arc_swap::ArcSwap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct IndexHandle {
    data_dir: PathBuf,
    current: ArcSwap<KnowledgeIndex>,
}

impl IndexHandle {
    pub fn open(data_dir: &Path) -> Result<IndexHandle> {
        let index = KnowledgeIndex::open_current(data_dir)?;
        Ok(IndexHandle {
            data_dir: data_dir.to_path_buf(),
            current: ArcSwap::from_pointee(index),
        })
    }

    /// The generation in use; hold the `Arc` for the length of one request.
    pub fn get(&self) -> Arc<KnowledgeIndex> {
        self.current.load_full()
    }

    /// Swaps in the generation `CURRENT` names if it changed. Returns the new name if swapped.
    pub fn refresh(&self) -> Result<Option<String>> {
        let Some(name) = current_generation(&self.data_dir) else {
            return Ok(None);
        };
        if name == self.current.load().generation {
            return Ok(None);
        }
        let index = KnowledgeIndex::open_current(&self.data_dir)?;
        let name = index.generation.clone();
        self.current.store(Arc::new(index));
        Ok(Some(name))
    }
}
