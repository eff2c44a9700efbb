//! Scale-out (docs/architecture.md, "Several nodes"): several nodes share one PostgreSQL. The store hears
//! which spaces other nodes moved (`LISTEN`/`NOTIFY`, `store/notify.rs`);
//! here each such space that this node holds in memory catches up from the
//! database, under its writer lock, and publishes the events to this node's
//! subscribers exactly as if they had been written here. Writes need nothing
//! from here: a commit on a space another node moved fails as stale, and the
//! engine catches up and retries (`engine/mutate.rs`).
//!
//! Notices for one space are coalesced: one task per space catches up while
//! newer notices only raise the version it aims for. A notice for a space
//! that is not in memory is passed over; one that arrives while the space is
//! being loaded would be missed that way, so `Engine::space` reads the head
//! again when any notice came in during its load.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};

use crate::engine::{Engine, WeakEngine};
use crate::store::Notice;

/// A space's pending catch-up: the newest version heard of, and a count of
/// notices so the task knows when none came in while it worked.
#[derive(Clone, Copy)]
struct Want {
    version: u64,
    seq: u64,
}

type Pending = Arc<Mutex<HashMap<String, Want>>>;

/// Spaces catching up at once. Each reads the database; after a lost LISTEN
/// connection every loaded space does, and unbounded that would take the
/// whole pool from this node's own clients.
const PARALLEL: usize = 8;

/// Follows the store's feed of other nodes' commits until the feed ends or
/// the engine is dropped.
pub fn follow(engine: &Engine, mut feed: mpsc::Receiver<Notice>) {
    let weak = engine.downgrade();
    let pending: Pending = Arc::default();
    let permits = Arc::new(Semaphore::new(PARALLEL));
    tokio::spawn(async move {
        loop {
            let notice = tokio::select! {
                n = feed.recv() => n,
                _ = tokio::time::sleep(Duration::from_secs(5)) => {
                    if weak.upgrade().is_none() {
                        return;
                    }
                    continue;
                }
            };
            let (Some(notice), Some(engine)) = (notice, weak.upgrade()) else {
                return;
            };
            // Presence is not a commit: handed to the transports as is.
            let notice = match notice {
                Notice::Presence(p) => {
                    engine.presence_heard(p);
                    continue;
                }
                n => n,
            };
            engine.note_foreign();
            crate::obs::cluster_notice();
            match notice {
                Notice::Moved { space, version } => {
                    want(&engine, &pending, &permits, space, version)
                }
                Notice::Missed => {
                    for space in engine.loaded_names() {
                        want(&engine, &pending, &permits, space, u64::MAX);
                    }
                }
                Notice::Presence(_) => {}
            }
        }
    });
}

fn want(engine: &Engine, pending: &Pending, permits: &Arc<Semaphore>, space: String, version: u64) {
    match engine.loaded(&space) {
        // Not in memory: whoever loads it reads the new head.
        None => return,
        Some(s) if s.read().version >= version => return,
        Some(_) => {}
    }
    let mut p = lock(pending);
    match p.entry(space) {
        Entry::Occupied(mut e) => {
            let w = e.get_mut();
            w.version = w.version.max(version);
            w.seq += 1;
        }
        Entry::Vacant(e) => {
            let name = e.key().clone();
            e.insert(Want { version, seq: 0 });
            let job = catch_up(engine.downgrade(), pending.clone(), permits.clone(), name);
            tokio::spawn(job);
        }
    }
}

/// How far behind the other node's commit this node published it: now
/// minus the commit time (`at`) of the newest event it read. Across
/// machines this includes their clocks' difference.
fn lag(space: &crate::engine::space::Space) {
    #[derive(serde::Deserialize)]
    struct At<'a> {
        at: &'a str,
    }
    let newest = space.read().ring.newest();
    let Some(ev) = newest else { return };
    let Ok(at) = serde_json::from_str::<At>(ev.json.get()) else {
        return;
    };
    if let Ok(t) = humantime::parse_rfc3339(at.at) {
        let lag = std::time::SystemTime::now()
            .duration_since(t)
            .unwrap_or_default();
        crate::obs::cluster_lag(lag.as_secs_f64());
    }
}

/// Brings one space up to the database until no newer notice is pending.
async fn catch_up(weak: WeakEngine, pending: Pending, permits: Arc<Semaphore>, name: String) {
    loop {
        let Ok(permit) = permits.acquire().await else {
            return;
        };
        let Some(want) = lock(&pending).get(&name).copied() else {
            return;
        };
        let Some(engine) = weak.upgrade() else { return };
        let done = match engine.loaded(&name) {
            None => true,
            Some(space) => {
                let _w = space.writer.lock().await;
                if space.is_evicted() || space.read().version >= want.version {
                    true
                } else {
                    match engine.refresh(&space).await {
                        Ok(()) => {
                            lag(&space);
                            true
                        }
                        Err(e) => {
                            tracing::warn!(space = %name, error = %e,
                                "cannot read another node's changes; retrying in 1 s");
                            false
                        }
                    }
                }
            }
        };
        drop((engine, permit));
        if !done {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let mut p = lock(&pending);
        if p.get(&name).is_some_and(|w| w.seq == want.seq) {
            p.remove(&name);
            return;
        }
    }
}

fn lock(p: &Pending) -> std::sync::MutexGuard<'_, HashMap<String, Want>> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}
