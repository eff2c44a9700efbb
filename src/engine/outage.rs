//! Writes when the store stops answering: each is answered within the
//! write deadline (`TIDEMARK_WRITE_DEADLINE_MS`) with `store_unavailable`
//! instead of hanging its connection. A commit given up on may still land
//! (it was handed to the committer): its space is marked suspect and re-read
//! from the store until that settles, so what landed reaches subscribers and
//! the next write starts from it. A retry of the same mutation id is
//! answered from the store's record, never applied twice; the conditional
//! version update refuses any write built on a stale version.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::space::Space;
use super::{Engine, EngineError, Principal};
use crate::protocol::MutationResult;
use crate::store::StoreError;

/// How long a suspect space keeps being re-read after the last doubt: a
/// commit given up on lands within the store's batch timeout or not at all.
const SETTLE: Duration = Duration::from_secs(15);
const RETRY: Duration = Duration::from_millis(500);

/// The least deadline of a trusted (server-built) mutation.
const TRUSTED_DEADLINE: Duration = Duration::from_secs(30);

impl Engine {
    /// Applies a mutation for `who`. Returns the result a client sees (ack or
    /// reject) and the real space name. A store that fails or does not
    /// answer within the write deadline is an error
    /// ([`EngineError::Store`], `store_unavailable` to clients).
    pub async fn mutate(
        &self,
        who: &Principal,
        m: super::MutationInput,
    ) -> Result<(String, MutationResult), EngineError> {
        let name = who.writable(&m.space).ok();
        // The server's own large writes (a whole chat history in one
        // mutation) may take longer than a client's on a healthy database.
        let deadline = if m.trusted {
            self.cfg().write_deadline.max(TRUSTED_DEADLINE)
        } else {
            self.cfg().write_deadline
        };
        let outcome = tokio::time::timeout(deadline, self.mutate_now(who, m)).await;
        let err = match outcome {
            Ok(Err(EngineError::Store(e))) => e,
            Ok(r) => {
                if let Ok((_, result)) = &r {
                    count(result);
                }
                return r;
            }
            Err(_) => StoreError::Unavailable(format!(
                "no answer within the write deadline ({} ms)",
                deadline.as_millis()
            )),
        };
        if let Some(space) = name.and_then(|n| self.loaded(&n)) {
            self.suspect(space);
        }
        crate::obs::store_error();
        crate::obs::rejected("store_unavailable");
        Err(EngineError::Store(err))
    }

    /// Marks `space` suspect and, unless a re-reader runs already, starts one.
    fn suspect(&self, space: Arc<Space>) {
        if space.suspect.swap(true, Ordering::SeqCst) {
            return;
        }
        let engine = self.clone();
        tokio::spawn(async move {
            let since = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(RETRY).await;
                if space.is_evicted() {
                    return;
                }
                let _w = space.writer.lock().await;
                let read =
                    tokio::time::timeout(engine.cfg().write_deadline, engine.refresh(&space)).await;
                if matches!(read, Ok(Ok(()))) && since.elapsed() >= SETTLE {
                    space.suspect.store(false, Ordering::SeqCst);
                    return;
                }
            }
        });
    }
}

/// A reject answer in the metrics (acks are counted where they commit, so
/// an answer repeated for a retry is not counted as applied twice).
fn count(result: &MutationResult) {
    if let MutationResult::Reject { code, .. } = result {
        crate::obs::rejected(code.as_str());
    }
}
