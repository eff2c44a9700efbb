//! The sync engine: spaces, versions, the mutation path, catch-up and the
//! in-memory state that fans out to subscribers. Knows no HTTP; talks to the
//! store through the `Store` trait.

mod access;
mod apply;
mod budget;
mod catchup;
mod mutate;
mod outage;
mod reach;
pub mod space;
pub mod team;
mod when;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde_json::value::RawValue;

pub use access::{CATALOG, Principal, Role, team_of, valid_team_id, valid_user_id};
pub use apply::{Change, Limits, Rejection, apply_ops, merge_patch, valid_collection, valid_id};
pub use mutate::MutationInput;
pub use reach::REACH_TIMEOUT;
use space::{DocEntry, Ring, Space, SpaceData};
pub use when::SINCE_MARGIN_MS;

use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
    #[error("storage unavailable: {0}")]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
    /// The memory budget is used up (`budget.rs`).
    #[error("{0}")]
    OverCapacity(String),
}

/// Names a change for domain layers (`provider_added`, ...); `None` = no name.
pub type EventNamer = dyn Fn(&str, &Change) -> Option<String> + Send + Sync;

/// What a validator sees of one changed document.
pub struct ChangeContext<'a> {
    /// Real space name (`user:alice`, `catalog`).
    pub space: &'a str,
    pub collection: &'a str,
    pub id: &'a str,
    /// The document after the whole mutation; `None` when deleted.
    pub value: Option<&'a serde_json::value::RawValue>,
    /// Written by the server itself (domain layers), not by a client.
    pub trusted: bool,
}

/// Domain validation of a changed document: `Err(message)` rejects the whole
/// mutation with `invalid` (e.g. a bad theme, or a client writing a
/// server-owned collection).
pub type Validator = dyn Fn(&ChangeContext<'_>) -> Result<(), String> + Send + Sync;

#[derive(Clone)]
pub struct EngineConfig {
    pub limits: Limits,
    /// Ops in one server-side mutation (`trusted`: the domain layers' own
    /// writes, e.g. a whole chat sync, which commits all or nothing however
    /// large). Client mutations keep `limits.max_ops_per_mutation`.
    pub max_ops_per_server_mutation: usize,
    /// Recent events kept in memory per space (count and bytes).
    pub ring_max_events: usize,
    pub ring_max_bytes: usize,
    /// Events kept in the durable log per space; older ones are compacted and a
    /// cursor behind them gets a snapshot.
    pub log_retention_events: u64,
    /// Past this many missed events a snapshot is cheaper than the events.
    pub catchup_max_events: usize,
    /// Page size when reading the durable log.
    pub catchup_page: u32,
    /// Live messages buffered per space before a slow subscriber lags (and is
    /// caught up from the ring instead). Allocated up front for every loaded
    /// space, so kept small.
    pub live_buffer: usize,
    /// Spaces kept in memory; idle ones beyond this are evicted first.
    pub max_loaded_spaces: usize,
    /// A space nobody uses for this long leaves memory.
    pub space_idle: Duration,
    pub namer: Option<Arc<EventNamer>>,
    pub validator: Option<Arc<Validator>>,
    /// A write the store has not answered within this fails with
    /// `store_unavailable` (`outage.rs`).
    pub write_deadline: Duration,
    /// Bytes all loaded spaces may hold (0: no budget; `budget.rs`).
    pub memory_budget: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            limits: Limits::default(),
            max_ops_per_server_mutation: 50_000,
            ring_max_events: 1024,
            ring_max_bytes: 1 << 20,
            log_retention_events: 10_000,
            catchup_max_events: 5_000,
            catchup_page: 500,
            live_buffer: 32,
            max_loaded_spaces: 100_000,
            space_idle: Duration::from_secs(300),
            namer: None,
            validator: None,
            write_deadline: Duration::from_secs(2),
            memory_budget: 0,
        }
    }
}

/// Cheap-to-clone handle to the engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    cfg: EngineConfig,
    spaces: DashMap<String, Arc<Space>>,
    /// Bytes the loaded spaces hold (`budget.rs`).
    held: std::sync::atomic::AtomicUsize,
    started: Instant,
    /// Other nodes' notices seen so far (`cluster.rs`): a space loaded while
    /// one arrived may have missed it.
    foreign: AtomicU64,
}

/// A handle that does not keep the engine alive (for background tasks).
#[derive(Clone)]
pub struct WeakEngine(Weak<Inner>);

impl WeakEngine {
    pub fn upgrade(&self) -> Option<Engine> {
        self.0.upgrade().map(|inner| Engine { inner })
    }
}

impl Engine {
    /// Creates the engine and starts its eviction sweeper (stops with the engine).
    pub fn new(store: Arc<dyn Store>, cfg: EngineConfig) -> Self {
        let engine = Engine {
            inner: Arc::new(Inner {
                store,
                cfg,
                spaces: DashMap::new(),
                held: Default::default(),
                started: Instant::now(),
                foreign: AtomicU64::new(0),
            }),
        };
        let weak = Arc::downgrade(&engine.inner);
        tokio::spawn(sweeper(weak));
        engine
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn cfg(&self) -> &EngineConfig {
        &self.inner.cfg
    }

    /// Number of spaces held in memory.
    pub fn loaded_spaces(&self) -> usize {
        self.inner.spaces.len()
    }

    /// Whether a space is held in memory now.
    pub fn is_loaded(&self, name: &str) -> bool {
        self.inner.spaces.contains_key(name)
    }

    pub fn downgrade(&self) -> WeakEngine {
        WeakEngine(Arc::downgrade(&self.inner))
    }

    /// The space if it is in memory now (never loads it).
    pub(crate) fn loaded(&self, name: &str) -> Option<Arc<Space>> {
        self.inner.spaces.get(name).map(|s| s.clone())
    }

    /// Names of the spaces in memory now.
    pub(crate) fn loaded_names(&self) -> Vec<String> {
        self.inner.spaces.iter().map(|e| e.key().clone()).collect()
    }

    /// Brings a space's memory up to the store now (for a writer that must
    /// see every other node's changes before it decides, like the lockbox);
    /// other nodes' notices do the same a moment later anyway.
    pub async fn catch_up_with_store(&self, name: &str) -> Result<(), EngineError> {
        let s = self.space(name).await?;
        let _w = s.writer.lock().await;
        if s.is_evicted() {
            return Ok(());
        }
        self.refresh(&s).await
    }

    /// Counts a notice from another node; called before it is acted on.
    pub(crate) fn note_foreign(&self) {
        self.inner.foreign.fetch_add(1, Ordering::SeqCst);
    }

    fn now_secs(&self) -> u64 {
        self.inner.started.elapsed().as_secs()
    }

    /// The in-memory space, loading it from the store on first use. The space
    /// name must already be resolved and authorized.
    pub async fn space(&self, name: &str) -> Result<Arc<Space>, EngineError> {
        if let Some(s) = self.inner.spaces.get(name) {
            s.last_used.store(self.now_secs(), Ordering::Relaxed);
            return Ok(s.clone());
        }
        if !self.make_room(0) {
            return Err(EngineError::OverCapacity(self.over_capacity()));
        }
        let seen = self.inner.foreign.load(Ordering::SeqCst);
        let loaded = self.inner.store.load_space(name, &new_epoch()).await?;
        let data = self.data_from(loaded)?;
        let fresh = Arc::new(Space::new(name, data, self.inner.cfg.live_buffer));
        let s = self
            .inner
            .spaces
            .entry(name.to_string())
            .or_insert(fresh)
            .clone();
        s.last_used.store(self.now_secs(), Ordering::Relaxed);
        self.account(&s);
        // Another node's notice that arrived while this space was read found
        // it not yet in memory and was passed over: read the head again.
        if self.inner.foreign.load(Ordering::SeqCst) != seen {
            let _w = s.writer.lock().await;
            if !s.is_evicted() {
                self.refresh(&s).await?;
            }
        }
        Ok(s)
    }

    fn data_from(&self, loaded: crate::store::LoadedSpace) -> Result<SpaceData, EngineError> {
        let mut data = SpaceData {
            epoch: Arc::from(loaded.epoch.as_str()),
            version: loaded.version,
            log_start: loaded.log_start,
            docs: Default::default(),
            live_docs: 0,
            doc_bytes: 0,
            ring: Ring::new(
                self.inner.cfg.ring_max_events,
                self.inner.cfg.ring_max_bytes,
            ),
        };
        for d in loaded.docs {
            let value = match d.value {
                Some(v) => {
                    Some(Arc::from(RawValue::from_string(v).map_err(|e| {
                        EngineError::Internal(format!("stored doc: {e}"))
                    })?))
                }
                None => None,
            };
            data.set(
                &d.collection,
                &d.id,
                DocEntry {
                    version: d.version,
                    value,
                },
            );
        }
        Ok(data)
    }

    /// `(epoch, version)` of a space, from memory after the first load.
    pub async fn head(&self, name: &str) -> Result<(String, u64), EngineError> {
        let s = self.space(name).await?;
        let d = s.read();
        Ok((d.epoch.to_string(), d.version))
    }

    /// Waits until the space's version exceeds `since` or `wait` elapses;
    /// returns the head either way. Served from memory, except that a `since`
    /// this node has not reached yet (another node wrote it) first brings
    /// memory up to the database: the answer is never below `since` unless
    /// the database itself is.
    pub async fn wait_version(
        &self,
        name: &str,
        since: u64,
        wait: Duration,
    ) -> Result<(String, u64), EngineError> {
        loop {
            let s = self.space_at(name, None, since).await?;
            let mut rx = s.head.subscribe();
            if s.is_evicted() {
                continue; // subscribed to a space that just left memory
            }
            let _ = tokio::time::timeout(wait, rx.wait_for(|v| *v > since)).await;
            drop(rx);
            let d = s.read();
            return Ok((d.epoch.to_string(), d.version));
        }
    }

    /// Removes idle spaces: those unused for `space_idle`, and the least
    /// recently used idle ones while more than `max_loaded_spaces` are held.
    pub fn evict_idle(&self, force_all_idle: bool) -> usize {
        let now = self.now_secs();
        let idle_secs = self.inner.cfg.space_idle.as_secs();
        let over = self
            .inner
            .spaces
            .len()
            .saturating_sub(self.inner.cfg.max_loaded_spaces);
        let mut candidates: Vec<(u64, String)> = self
            .inner
            .spaces
            .iter()
            .filter(|e| e.value().is_idle())
            .map(|e| (e.value().last_used.load(Ordering::Relaxed), e.key().clone()))
            .collect();
        candidates.sort();
        let mut removed = 0;
        for (i, (used, name)) in candidates.into_iter().enumerate() {
            let expired = force_all_idle || now.saturating_sub(used) >= idle_secs;
            if !expired && i >= over {
                continue;
            }
            // Mark first, then check: a subscriber that joins meanwhile either
            // is seen here (and the space stays) or sees the mark and looks
            // the space up again.
            let gone = self.inner.spaces.remove_if(&name, |_, s| {
                s.evicted.store(true, Ordering::SeqCst);
                let idle = s.is_idle();
                if !idle {
                    s.evicted.store(false, Ordering::SeqCst);
                }
                idle
            });
            if let Some((_, s)) = &gone {
                self.forget(s);
            }
            removed += usize::from(gone.is_some());
        }
        removed
    }
}

async fn sweeper(weak: Weak<Inner>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        Engine { inner }.evict_idle(false);
    }
}

/// A new random epoch id (time-ordered).
pub fn new_epoch() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}
