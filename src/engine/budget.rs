//! The global memory budget: the bytes every loaded space holds (live
//! documents' JSON and its recent-event ring) are counted; when they pass
//! the budget, idle spaces leave memory first (they reload from the store
//! on their next use), and what still does not fit is refused with a clear
//! error (`over_capacity`): loading another space, or a write that grows
//! memory. Per space, `Limits::max_space_bytes` bounds the documents.

use std::sync::atomic::Ordering;

use super::Engine;
use super::space::Space;

impl Engine {
    /// Bytes the loaded spaces hold, as last counted.
    pub fn held_bytes(&self) -> usize {
        self.inner.held.load(Ordering::SeqCst)
    }

    /// Counts `space` again after its memory changed.
    pub(crate) fn account(&self, space: &Space) {
        if space.is_evicted() {
            return;
        }
        let now = {
            let d = space.read();
            d.doc_bytes + d.ring.byte_size()
        };
        let before = space.accounted.swap(now, Ordering::SeqCst);
        if now >= before {
            self.inner.held.fetch_add(now - before, Ordering::SeqCst);
        } else {
            self.inner.held.fetch_sub(before - now, Ordering::SeqCst);
        }
    }

    /// Stops counting a space that left memory.
    pub(crate) fn forget(&self, space: &Space) {
        let before = space.accounted.swap(0, Ordering::SeqCst);
        self.inner.held.fetch_sub(before, Ordering::SeqCst);
    }

    /// Room for `extra` more bytes within the budget, evicting idle spaces
    /// if that is what it takes; false when even then there is none.
    pub(crate) fn make_room(&self, extra: usize) -> bool {
        let budget = self.inner.cfg.memory_budget;
        if budget == 0 || self.held_bytes().saturating_add(extra) <= budget {
            return true;
        }
        self.evict_idle(true);
        self.held_bytes().saturating_add(extra) <= budget
    }

    /// What a caller is told when something does not fit.
    pub(crate) fn over_capacity(&self) -> String {
        format!(
            "the server's memory budget ({} bytes) is used up; try again later",
            self.inner.cfg.memory_budget
        )
    }
}
