//! A space held against other nodes' commits (PostgreSQL). A writer whose
//! commits keep failing as stale because other nodes move the space first
//! locks the space's row, reads what it missed, and commits in the same
//! transaction: other nodes' batches for that space wait for it, so it cannot
//! lose again. Only contested writes take it; the group committer is the
//! path of every other write.

use std::sync::Arc;

use sqlx::{Postgres, Transaction};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::postgres::PostgresStore;
use super::{Commit, CommitOutcome, SpaceLock, StoreResult};

/// Spaces one node holds at once. Each holds a pooled connection while its
/// writer reads the missed events over another: bounded, so lock holders can
/// never take the whole pool.
pub(crate) const MAX_HELD: usize = 4;

struct PgSpaceLock {
    tx: Transaction<'static, Postgres>,
    node: Arc<str>,
    _permit: OwnedSemaphorePermit,
}

impl PostgresStore {
    pub(crate) async fn lock_for_commit(
        &self,
        space: &str,
        client: Option<(&str, &str)>,
    ) -> StoreResult<Option<Box<dyn SpaceLock>>> {
        let permit = Arc::clone(&self.held)
            .acquire_owned()
            .await
            .map_err(|_| super::StoreError::Unavailable("the store is closing".into()))?;
        let mut tx = self.write.begin().await?;
        // A batch locks its clients first, then its spaces: the same order
        // here, so the two never wait for each other in a circle.
        if let Some((owner, client_id)) = client {
            sqlx::query("SELECT 1 FROM clients WHERE owner = $1 AND client_id = $2 FOR UPDATE")
                .bind(owner)
                .bind(client_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("SELECT 1 FROM spaces WHERE space = $1 FOR UPDATE")
            .bind(space)
            .execute(&mut *tx)
            .await?;
        Ok(Some(Box::new(PgSpaceLock {
            tx,
            node: self.node.as_str().into(),
            _permit: permit,
        })))
    }

    pub(crate) fn new_held() -> Arc<Semaphore> {
        Arc::new(Semaphore::new(MAX_HELD))
    }
}

#[async_trait::async_trait]
impl SpaceLock for PgSpaceLock {
    async fn commit(mut self: Box<Self>, commit: Commit) -> StoreResult<CommitOutcome> {
        let jobs = [commit];
        let mut outcomes = PostgresStore::write_batch(&mut self.tx, &self.node, &jobs).await?;
        self.tx.commit().await?;
        Ok(outcomes.pop().unwrap_or(CommitOutcome::Stale))
    }
}
