//! Lag is not the future. With several nodes on one database, a client may
//! bring a cursor (or a `since`, or an ETag) that another node acknowledged a
//! moment ago and this node has not heard of yet. Such a cursor is ahead of
//! this node's memory but not ahead of the database: the node must first
//! read the database, then answer. Only a cursor ahead of the database itself
//! (or from another epoch that the database does not hold either) is from the
//! future and gets a snapshot. See docs/architecture.md, "Several nodes".

use std::sync::Arc;
use std::time::Duration;

use super::space::Space;
use super::{Engine, EngineError};
use crate::store::StoreError;

/// How long a read waits for the database before it answers with a
/// retryable `unavailable` error (never with an older state).
pub const REACH_TIMEOUT: Duration = Duration::from_secs(5);

impl Engine {
    /// The space, with its memory brought up to the database first when it
    /// holds less than `(epoch, version)`; `epoch: None` means the space's
    /// current epoch (a bare `since` or `client_version`).
    pub async fn space_at(
        &self,
        name: &str,
        epoch: Option<&str>,
        version: u64,
    ) -> Result<Arc<Space>, EngineError> {
        let s = self.space(name).await?;
        self.reach(&s, epoch, version).await?;
        Ok(s)
    }

    /// Brings `space` up to the database when its memory is behind
    /// `(epoch, version)`. Cheap when it is not: one read of memory. Otherwise
    /// one read of the database's head (and of the events it misses), under
    /// the space's writer lock, bounded by [`REACH_TIMEOUT`].
    pub(crate) async fn reach(
        &self,
        space: &Space,
        epoch: Option<&str>,
        version: u64,
    ) -> Result<(), EngineError> {
        if holds(space, epoch, version) {
            return Ok(());
        }
        let work = async {
            let _w = space.writer.lock().await;
            // Another node's notice may have brought it up meanwhile.
            if holds(space, epoch, version) {
                return Ok(());
            }
            self.refresh(space).await
        };
        match tokio::time::timeout(REACH_TIMEOUT, work).await {
            Ok(r) => r,
            Err(_) => Err(EngineError::Store(StoreError::Unavailable(format!(
                "no answer from the database within {} s",
                REACH_TIMEOUT.as_secs()
            )))),
        }
    }
}

fn holds(space: &Space, epoch: Option<&str>, version: u64) -> bool {
    let d = space.read();
    d.version >= version && epoch.is_none_or(|e| *e == *d.epoch)
}
