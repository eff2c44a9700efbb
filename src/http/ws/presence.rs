//! Presence per space, in Phoenix's shape: who is here (`presence_state`,
//! after a space's first answer) and what changed (`presence_diff`: joins
//! and leaves). One entry per WebSocket connection and space, set by the
//! connection (`presence_set`), gone when it unsubscribes, is revoked, or
//! ends — closed, killed, or silent past the heartbeat timeout (the
//! connection task's end drops its subscriptions). Not durable; never a
//! version.
//!
//! Several nodes on one PostgreSQL: each node announces its own entries to
//! the others (`relay.rs`: on every change, and again every
//! `TIDEMARK_PRESENCE_INTERVAL_MS`), and holds theirs beside its own, so a
//! space's presence is the union of the nodes'. An entry another node has
//! not announced for three intervals is dropped: a node that dies takes its
//! members' presence with it.
//!
//! A space's lock orders every change and every newcomer's
//! `presence_state`, so a subscriber sees the state once, then each diff
//! after it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

use super::outbox::Outbox;
use crate::protocol::{PresenceMember, ServerMsg};

/// Largest presence state, as JSON.
pub const MAX_STATE_BYTES: usize = 1024;

/// Every space's presence on this node: its own connections' and, with
/// several nodes, the others'.
pub struct Presence {
    /// This node's id in its announcements.
    node: String,
    spaces: DashMap<String, Board>,
    /// Announcements for the other nodes, sent by the relay.
    outgoing: mpsc::UnboundedSender<String>,
    pub(crate) outgoing_rx: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
}

#[derive(Default)]
struct Board {
    entries: Vec<Entry>,
    /// Connections that were sent `presence_state` and get the diffs.
    watchers: Vec<Arc<Outbox>>,
    /// SSE streams of the space, likewise.
    streams: Vec<StreamWatch>,
}

/// An SSE stream's view of a space's presence: messages go through a small
/// queue its task drains into its byte budget; when the queue is full the
/// stream is marked stale and is sent the whole state again instead (so a
/// stalled reader never makes presence pile up).
#[derive(Clone)]
pub struct StreamWatch {
    pub id: u64,
    pub tx: mpsc::Sender<Arc<str>>,
    pub stale: Arc<std::sync::atomic::AtomicBool>,
}

impl StreamWatch {
    fn offer(&self, msg: &Arc<str>) {
        if self.tx.try_send(msg.clone()).is_err() {
            self.stale.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

struct Entry {
    from: From,
    member: PresenceMember,
    /// Last announced (other nodes' entries expire).
    seen: Instant,
}

#[derive(PartialEq)]
enum From {
    /// A connection here (its outbox's address).
    Here(usize),
    /// A connection on another node.
    Node(String, u64),
}

/// What nodes tell each other (`NOTIFY` payloads, under 8000 bytes: a
/// state is at most 1 KiB).
#[derive(Serialize, Deserialize)]
pub(crate) struct Announce {
    pub n: String,
    pub s: String,
    pub c: u64,
    /// The entry (set), or none (left).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m: Option<PresenceMember>,
}

impl Default for Presence {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Presence {
            node: uuid::Uuid::new_v4().simple().to_string(),
            spaces: DashMap::new(),
            outgoing: tx,
            outgoing_rx: Mutex::new(Some(rx)),
        }
    }
}

fn key(out: &Arc<Outbox>) -> usize {
    Arc::as_ptr(out) as usize
}

impl Presence {
    /// Everyone present in `space`, in arrival order.
    pub fn members(&self, space: &str) -> Vec<PresenceMember> {
        self.spaces
            .get(space)
            .map(|b| b.entries.iter().map(|e| e.member.clone()).collect())
            .unwrap_or_default()
    }

    /// `out` starts watching `space`: it gets the current state, then every diff.
    pub fn watch(&self, space: &str, out: &Arc<Outbox>) {
        let mut b = self.spaces.entry(space.to_string()).or_default();
        let members = b.entries.iter().map(|e| e.member.clone()).collect();
        out.text(
            &ServerMsg::PresenceState {
                space: space.to_string(),
                members,
            }
            .to_json(),
        );
        if !b.watchers.iter().any(|w| Arc::ptr_eq(w, out)) {
            b.watchers.push(out.clone());
        }
    }

    /// Sets `out`'s entry in `space`, tells every watcher and the other nodes.
    pub fn set(&self, space: &str, out: &Arc<Outbox>, user: &str, client_id: &str, state: Value) {
        let member = PresenceMember {
            user: user.to_string(),
            client_id: client_id.to_string(),
            state,
        };
        let k = key(out);
        if self.put(space, From::Here(k), member.clone()) {
            self.announce(space, k as u64, Some(member));
        }
    }

    /// `out` leaves `space`: its entry goes (told to the others) and it
    /// stops watching.
    pub fn leave(&self, space: &str, out: &Arc<Outbox>) {
        let Some(mut b) = self.spaces.get_mut(space) else {
            return;
        };
        b.watchers.retain(|w| !Arc::ptr_eq(w, out));
        let k = key(out);
        let gone = take(&mut b, space, |e| e.from == From::Here(k));
        let empty = b.entries.is_empty() && b.watchers.is_empty() && b.streams.is_empty();
        drop(b);
        if !gone.is_empty() {
            self.announce(space, k as u64, None);
        }
        if empty {
            self.spaces.remove_if(space, |_, b| {
                b.entries.is_empty() && b.watchers.is_empty() && b.streams.is_empty()
            });
        }
    }

    /// The state message of `space` (what a newcomer gets).
    pub fn state_json(&self, space: &str) -> String {
        ServerMsg::PresenceState {
            space: space.to_string(),
            members: self.members(space),
        }
        .to_json()
    }

    /// An SSE stream starts watching `space`: the state, then every diff.
    pub fn watch_stream(&self, space: &str, w: StreamWatch) {
        let mut b = self.spaces.entry(space.to_string()).or_default();
        let members = b.entries.iter().map(|e| e.member.clone()).collect();
        let state: Arc<str> = ServerMsg::PresenceState {
            space: space.to_string(),
            members,
        }
        .to_json()
        .into();
        w.offer(&state);
        b.streams.push(w);
    }

    /// An SSE stream stops watching.
    pub fn unwatch_stream(&self, space: &str, id: u64) {
        if let Some(mut b) = self.spaces.get_mut(space) {
            b.streams.retain(|s| s.id != id);
            let empty = b.entries.is_empty() && b.watchers.is_empty() && b.streams.is_empty();
            drop(b);
            if empty {
                self.spaces.remove_if(space, |_, b| {
                    b.entries.is_empty() && b.watchers.is_empty() && b.streams.is_empty()
                });
            }
        }
    }

    /// Adds or replaces an entry; false when nothing changed.
    fn put(&self, space: &str, from: From, member: PresenceMember) -> bool {
        let mut b = self.spaces.entry(space.to_string()).or_default();
        let now = Instant::now();
        let leaves = match b.entries.iter_mut().find(|e| e.from == from) {
            Some(e) if e.member == member => {
                e.seen = now;
                return false;
            }
            Some(e) => {
                e.seen = now;
                vec![std::mem::replace(&mut e.member, member.clone())]
            }
            None => {
                b.entries.push(Entry {
                    from,
                    member: member.clone(),
                    seen: now,
                });
                vec![]
            }
        };
        broadcast(&b, space, vec![member], leaves);
        true
    }

    fn announce(&self, space: &str, conn: u64, m: Option<PresenceMember>) {
        let a = Announce {
            n: self.node.clone(),
            s: space.to_string(),
            c: conn,
            m,
        };
        if let Ok(text) = serde_json::to_string(&a) {
            let _ = self.outgoing.send(text);
        }
    }

    /// Every entry of this node again (the relay's tick): the other nodes
    /// keep them only while they hear them.
    pub(crate) fn announce_all(&self) {
        let mut all = Vec::new();
        for b in self.spaces.iter() {
            for e in &b.entries {
                if let From::Here(k) = e.from {
                    all.push((b.key().clone(), k as u64, e.member.clone()));
                }
            }
        }
        for (space, conn, m) in all {
            self.announce(&space, conn, Some(m));
        }
    }

    /// Another node's announcement (our own are ignored).
    pub(crate) fn heard(&self, payload: &str) {
        let Ok(a) = serde_json::from_str::<Announce>(payload) else {
            return;
        };
        if a.n == self.node {
            return;
        }
        let from = From::Node(a.n, a.c);
        match a.m {
            Some(m) => {
                self.put(&a.s, from, m);
            }
            None => {
                if let Some(mut b) = self.spaces.get_mut(&a.s) {
                    take(&mut b, &a.s, |e| e.from == from);
                }
            }
        }
    }

    /// Drops other nodes' entries not announced for `ttl`.
    pub(crate) fn expire(&self, ttl: Duration) {
        for mut b in self.spaces.iter_mut() {
            let space = b.key().clone();
            let stale = |e: &Entry| matches!(e.from, From::Node(..)) && e.seen.elapsed() > ttl;
            if b.entries.iter().any(stale) {
                take(&mut b, &space, stale);
            }
        }
    }
}

/// Removes the entries `gone` picks and tells the watchers.
fn take(b: &mut Board, space: &str, gone: impl Fn(&Entry) -> bool) -> Vec<PresenceMember> {
    let mut leaves = Vec::new();
    b.entries.retain(|e| {
        if gone(e) {
            leaves.push(e.member.clone());
            false
        } else {
            true
        }
    });
    if !leaves.is_empty() {
        broadcast(b, space, vec![], leaves.clone());
    }
    leaves
}

fn broadcast(b: &Board, space: &str, joins: Vec<PresenceMember>, leaves: Vec<PresenceMember>) {
    let json = ServerMsg::PresenceDiff {
        space: space.to_string(),
        joins,
        leaves,
    }
    .to_json();
    let frame = crate::protocol::wsframe::text(&json);
    for w in &b.watchers {
        w.push(frame.clone());
    }
    if !b.streams.is_empty() {
        let msg: Arc<str> = json.into();
        for s in &b.streams {
            s.offer(&msg);
        }
    }
}

/// A presence state a client may set: at most `MAX_STATE_BYTES` of JSON.
pub fn check_state(state: &Value) -> Result<(), String> {
    let n = serde_json::to_string(state).map_or(usize::MAX, |s| s.len());
    if n > MAX_STATE_BYTES {
        return Err(format!(
            "presence state of {n} bytes; the limit is {MAX_STATE_BYTES}"
        ));
    }
    Ok(())
}
