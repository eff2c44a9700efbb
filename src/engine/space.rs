//! One space in memory: its head, live documents, recent-event ring and the
//! channels subscribers and long-pollers wait on.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::sync::{Mutex, broadcast, watch};

/// A committed event, encoded once: `json` for batches and HTTP, `wire` for
/// live WebSocket delivery (the whole WebSocket frame of its `event` message,
/// written to every subscriber as it is). Shared by every recipient.
#[derive(Debug)]
pub struct EventRec {
    pub version: u64,
    pub json: Arc<RawValue>,
    pub wire: Bytes,
    /// Where the `event` message starts in `wire` (after the frame header).
    at: usize,
    /// The user this event removes from its team (`team.rs`): nothing after
    /// it reaches them.
    pub revokes: Option<Box<str>>,
}

impl EventRec {
    pub fn new(version: u64, json: Box<RawValue>) -> Self {
        let (wire, at) = crate::protocol::event_frame(json.get());
        let revokes = super::access::revokes(json.get());
        EventRec {
            version,
            json: Arc::from(json),
            wire,
            at,
            revokes,
        }
    }
    /// The `event` message (JSON text), sharing `wire`'s bytes.
    pub fn frame(&self) -> Bytes {
        self.wire.slice(self.at..)
    }
    pub fn bytes(&self) -> usize {
        self.json.get().len() + self.wire.len() + 64
    }
}

/// What live subscribers receive.
#[derive(Debug, Clone)]
pub enum Live {
    /// The events of one mutation, consecutive versions.
    Batch(Arc<Vec<Arc<EventRec>>>),
    /// The space was reloaded with a gap or a new epoch: resync from the cursor.
    Reset,
}

#[derive(Debug, Clone)]
pub struct DocEntry {
    pub version: u64,
    /// Canonical JSON; `None` is a tombstone.
    pub value: Option<Arc<RawValue>>,
}

/// Recent events, bounded by count and bytes.
#[derive(Debug, Default)]
pub struct Ring {
    events: VecDeque<Arc<EventRec>>,
    bytes: usize,
    max_events: usize,
    max_bytes: usize,
}

impl Ring {
    pub fn new(max_events: usize, max_bytes: usize) -> Self {
        Ring {
            events: VecDeque::new(),
            bytes: 0,
            max_events,
            max_bytes,
        }
    }
    pub fn push(&mut self, ev: Arc<EventRec>) {
        self.bytes += ev.bytes();
        self.events.push_back(ev);
        while self.events.len() > self.max_events
            || (self.bytes > self.max_bytes && self.events.len() > 1)
        {
            if let Some(old) = self.events.pop_front() {
                self.bytes -= old.bytes();
            }
        }
    }
    pub fn clear(&mut self) {
        self.events.clear();
        self.bytes = 0;
    }
    /// The newest event held.
    pub fn newest(&self) -> Option<Arc<EventRec>> {
        self.events.back().cloned()
    }
    /// Version of the oldest event held.
    pub fn first_version(&self) -> Option<u64> {
        self.events.front().map(|e| e.version)
    }
    /// Events with `version > after`, if the ring reaches back that far.
    pub fn since(&self, after: u64) -> Option<Vec<Arc<EventRec>>> {
        let first = self.first_version()?;
        if after + 1 < first {
            return None;
        }
        let skip = usize::try_from(after + 1 - first).ok()?;
        Some(self.events.iter().skip(skip).cloned().collect())
    }
    /// The event of `version`, if the ring holds it.
    pub fn get(&self, version: u64) -> Option<Arc<EventRec>> {
        let first = self.first_version()?;
        let i = usize::try_from(version.checked_sub(first)?).ok()?;
        self.events.get(i).cloned()
    }
    pub fn len(&self) -> usize {
        self.events.len()
    }
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
    pub fn byte_size(&self) -> usize {
        self.bytes
    }
}

/// The in-memory state of a space, guarded by a std `RwLock`: nothing awaits
/// while it is held, so readers are never blocked behind a database commit.
#[derive(Debug)]
pub struct SpaceData {
    pub epoch: Arc<str>,
    pub version: u64,
    /// The durable log holds the events `(log_start, version]`.
    pub log_start: u64,
    /// collection -> id -> entry (tombstones included).
    pub docs: BTreeMap<String, BTreeMap<String, DocEntry>>,
    pub live_docs: usize,
    /// Bytes of the live documents' JSON (the per-space budget's measure).
    pub doc_bytes: usize,
    pub ring: Ring,
}

impl SpaceData {
    /// Drops tombstones at or below `through`, as the store's compaction
    /// does: memory holds what a reload from the store would.
    pub fn prune_tombstones(&mut self, through: u64) {
        for col in self.docs.values_mut() {
            col.retain(|_, e| e.value.is_some() || e.version > through);
        }
        self.docs.retain(|_, col| !col.is_empty());
    }

    /// Tombstones held in memory.
    pub fn tombstones(&self) -> usize {
        self.docs
            .values()
            .map(|c| c.values().filter(|e| e.value.is_none()).count())
            .sum()
    }

    pub fn get(&self, collection: &str, id: &str) -> Option<&DocEntry> {
        self.docs.get(collection)?.get(id)
    }
    pub fn set(&mut self, collection: &str, id: &str, entry: DocEntry) {
        let col = self.docs.entry(collection.to_string()).or_default();
        let was_live = col.get(id).is_some_and(|e| e.value.is_some());
        let is_live = entry.value.is_some();
        let added = entry.value.as_ref().map_or(0, |v| v.get().len());
        let removed = col
            .insert(id.to_string(), entry)
            .and_then(|old| old.value)
            .map_or(0, |v| v.get().len());
        self.doc_bytes = self.doc_bytes + added - removed;
        match (was_live, is_live) {
            (false, true) => self.live_docs += 1,
            (true, false) => self.live_docs -= 1,
            _ => {}
        }
    }
}

pub struct Space {
    pub name: Arc<str>,
    /// Serializes writers of this space on this node (held across the commit).
    pub writer: Mutex<()>,
    pub data: RwLock<SpaceData>,
    /// Latest committed version, for long-polls.
    pub head: watch::Sender<u64>,
    pub live: broadcast::Sender<Live>,
    /// Seconds since the engine started, at last use.
    pub last_used: AtomicU64,
    /// Set when removed from the engine's map; holders must look it up again.
    pub evicted: AtomicBool,
    /// Set when a commit's outcome is unknown (the store did not answer):
    /// memory may lag the store until the space is re-read (`outage.rs`).
    pub suspect: AtomicBool,
    /// Bytes counted against the engine's memory budget (`budget.rs`).
    pub accounted: std::sync::atomic::AtomicUsize,
}

impl Space {
    /// At most what an answer about this space can weigh before it is
    /// serialized: its documents and its ring of recent events, as the
    /// engine counts them for its memory budget. Transports reserve this
    /// much of their outbound budget before building one.
    pub fn answer_bound(&self) -> usize {
        self.accounted.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn new(name: &str, data: SpaceData, live_capacity: usize) -> Self {
        let (head, _) = watch::channel(data.version);
        let (live, _) = broadcast::channel(live_capacity.max(1));
        Space {
            name: Arc::from(name),
            writer: Mutex::new(()),
            data: RwLock::new(data),
            head,
            live,
            last_used: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            suspect: AtomicBool::new(false),
            accounted: Default::default(),
        }
    }
    pub fn read(&self) -> RwLockReadGuard<'_, SpaceData> {
        self.data.read().unwrap_or_else(|p| p.into_inner())
    }
    pub fn write(&self) -> RwLockWriteGuard<'_, SpaceData> {
        self.data.write().unwrap_or_else(|p| p.into_inner())
    }
    pub fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::SeqCst)
    }
    /// True when nobody waits on this space: it may leave memory.
    pub fn is_idle(&self) -> bool {
        self.live.receiver_count() == 0
            && self.head.receiver_count() == 0
            && self.writer.try_lock().is_ok()
    }
}
