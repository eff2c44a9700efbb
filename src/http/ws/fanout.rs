//! Push-based live fan-out: one pusher task per subscribed space writes each
//! new event's prebuilt frame straight into every subscriber's socket.
//!
//! No connection task is woken for a live event that its socket accepts, and
//! all events committed while the pusher was busy go to each subscriber in
//! one vectored write. A subscriber that cannot take them (full outbox,
//! a gap, a reloaded space) is marked lagging and catches up itself from the
//! ring or the log (`conn.rs`, `recover`).
//!
//! No event is lost to a subscriber that joins or catches up while a pass is
//! running: the pusher publishes the version a pass covers (`pushed_upto`)
//! before it reads the subscriber list, and a subscriber that becomes live at
//! version `v` under its outbox lock stays lagging when `pushed_upto > v`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;

use dashmap::DashMap;
use tokio::sync::{Notify, broadcast};

use super::outbox::Outbox;
use crate::engine::space::{Live, Space};
use crate::protocol::{CatchUp, ServerMsg, wsframe};

/// Subscribers written to between two yields of a pusher.
const PASS_SLICE: usize = 128;

/// A pass over more subscribers than this is split across the runtime's
/// worker threads (each part keeps its subscribers' order of events).
const SHARD_MIN: usize = 1024;

/// The hubs of the spaces that have WebSocket subscribers on this node.
#[derive(Default)]
pub struct Hubs {
    map: DashMap<usize, Arc<Hub>>,
    /// Who is present in each space (`presence.rs`).
    pub presence: super::presence::Presence,
}

/// One space's subscribers and its pusher.
pub struct Hub {
    key: usize,
    pub space: Arc<Space>,
    subs: Mutex<Vec<Arc<Outbox>>>,
    /// The version the running (or last) pass covers.
    pushed_upto: AtomicU64,
    stop: Notify,
    /// The last snapshot answer's frame, shared by every subscriber that
    /// asks for the same version while some outbox still holds it (a weak
    /// reference: the hub itself keeps nothing alive).
    snapshot: Mutex<Option<SharedSnapshot>>,
}

struct SharedSnapshot {
    epoch: String,
    version: u64,
    frame: Weak<Bytes>,
}

/// A frame several outboxes hold: freed when the last one has written it.
struct Shared(Arc<Bytes>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Hub {
    /// Identifies the space in each subscriber's outbox.
    pub fn key(&self) -> usize {
        self.key
    }

    pub fn pushed_upto(&self) -> u64 {
        self.pushed_upto.load(Ordering::SeqCst)
    }

    /// The frame of a catch-up answer for this space. Snapshots of one
    /// version are serialized once and shared: many clients subscribing at
    /// once (or one asking again and again) hold one copy, not one each.
    pub fn answer_frame(&self, name: &str, answer: CatchUp) -> Bytes {
        let CatchUp::Snapshot { epoch, version, .. } = &answer else {
            return answer_bytes(name, answer);
        };
        let mut cache = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        let hit = cache
            .as_ref()
            .filter(|c| c.epoch == *epoch && c.version == *version)
            .and_then(|c| c.frame.upgrade());
        if let Some(frame) = hit {
            return Bytes::from_owner(Shared(frame));
        }
        let (epoch, version) = (epoch.clone(), *version);
        let frame = Arc::new(answer_bytes(name, answer));
        *cache = Some(SharedSnapshot {
            epoch,
            version,
            frame: Arc::downgrade(&frame),
        });
        Bytes::from_owner(Shared(frame))
    }

    fn subs(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Outbox>>> {
        self.subs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An answer's frame, serialized straight into it (`wsframe::text_with`).
fn answer_bytes(name: &str, answer: CatchUp) -> Bytes {
    let hint = answer.json_len_hint() + name.len();
    let msg = ServerMsg::from_catch_up(name, answer);
    wsframe::text_with(hint, |out| msg.write_json(out))
}

impl Hubs {
    /// Adds `out` to the subscribers of `space` (not yet live: it becomes live
    /// with its first answer, `Outbox::go_live`).
    pub fn join(&self, space: &Arc<Space>, out: &Arc<Outbox>) -> Arc<Hub> {
        let key = Arc::as_ptr(space) as usize;
        out.add_link(key);
        let hub = self.map.entry(key).or_insert_with(|| start(key, space));
        hub.subs().push(out.clone());
        hub.clone()
    }

    /// Removes `out` from the hub; the last one out stops its pusher.
    pub fn leave(&self, hub: &Hub, out: &Arc<Outbox>) {
        self.presence.leave(&hub.space.name, out);
        out.remove_link(hub.key);
        hub.subs().retain(|o| !Arc::ptr_eq(o, out));
        let gone = self
            .map
            .remove_if(&hub.key, |_, h| h.subs().is_empty())
            .is_some();
        if gone {
            hub.stop.notify_one();
        }
    }

    /// The hub of `space`, when it has WebSocket subscribers here.
    pub fn find(&self, space: &Arc<Space>) -> Option<Arc<Hub>> {
        self.map
            .get(&(Arc::as_ptr(space) as usize))
            .map(|h| h.clone())
    }

    /// Spaces with live WebSocket subscribers (for tests and metrics).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// WebSocket subscribers of `space` on this node (the admin inspector).
    pub fn subscribers(&self, space: &Arc<Space>) -> usize {
        let key = Arc::as_ptr(space) as usize;
        self.map.get(&key).map_or(0, |h| h.subs().len())
    }
}

fn start(key: usize, space: &Arc<Space>) -> Arc<Hub> {
    // Subscribe before reading the head: nothing committed in between is missed.
    let rx = space.live.subscribe();
    let (epoch, version) = {
        let d = space.read();
        (d.epoch.clone(), d.version)
    };
    let hub = Arc::new(Hub {
        key,
        space: space.clone(),
        subs: Mutex::new(Vec::new()),
        pushed_upto: AtomicU64::new(version),
        stop: Notify::new(),
        snapshot: Mutex::new(None),
    });
    tokio::spawn(pusher(hub.clone(), rx, epoch, version));
    hub
}

/// Waits for commits; each pass writes every event after the previous pass
/// (read from the ring) to every live subscriber.
async fn pusher(
    hub: Arc<Hub>,
    mut rx: broadcast::Receiver<Live>,
    mut epoch: Arc<str>,
    mut upto: u64,
) {
    loop {
        tokio::select! {
            biased;
            _ = hub.stop.notified() => return,
            r = rx.recv() => if let Err(broadcast::error::RecvError::Closed) = r {
                return;
            },
        }
        // The channel is only the wake-up; the events come from the ring.
        while !matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed)
        ) {}
        let (now_epoch, head, events) = {
            let d = hub.space.read();
            let events = if d.epoch == epoch {
                d.ring.since(upto)
            } else {
                None
            };
            (d.epoch.clone(), d.version, events)
        };
        if now_epoch == epoch && head == upto {
            continue;
        }
        // Reloaded, or behind the ring: every subscriber catches up itself.
        let reset = events.is_none();
        let events = events.unwrap_or_default();
        epoch = now_epoch;
        upto = head;
        hub.pushed_upto.store(head, Ordering::SeqCst);
        let subs: Arc<[Arc<Outbox>]> = hub.subs().as_slice().into();
        crate::obs::hot()
            .live_frames
            .increment((events.len() * subs.len()) as u64);
        let events: Arc<[Arc<crate::engine::space::EventRec>]> = events.into();
        let shards = if subs.len() > SHARD_MIN {
            tokio::runtime::Handle::current()
                .metrics()
                .num_workers()
                .max(1)
        } else {
            1
        };
        // The other parts run as tasks; this one pushes the first part itself.
        let per = subs.len().div_ceil(shards);
        let mut others = Vec::new();
        for k in 1..shards {
            let (subs, events) = (subs.clone(), events.clone());
            let key = hub.key;
            others.push(tokio::spawn(async move {
                push_part(
                    key,
                    &subs[(k * per).min(subs.len())..((k + 1) * per).min(subs.len())],
                    &events,
                    reset,
                )
                .await
            }));
        }
        push_part(hub.key, &subs[..per.min(subs.len())], &events, reset).await;
        for t in others {
            let _ = t.await;
        }
    }
}

/// Delivers a pass's events to part of the subscribers, yielding now and then.
async fn push_part(
    key: usize,
    subs: &[Arc<Outbox>],
    events: &[Arc<crate::engine::space::EventRec>],
    reset: bool,
) {
    for (i, out) in subs.iter().enumerate() {
        out.deliver(key, events, reset);
        if i % PASS_SLICE == PASS_SLICE - 1 {
            tokio::task::yield_now().await;
        }
    }
}
