//! Presence per space, in Phoenix's shape: who is here (`presence_state`,
//! after a space's first answer) and what changed (`presence_diff`: joins
//! and leaves). One entry per WebSocket connection and space, set by the
//! connection (`presence_set`), gone when it unsubscribes, is revoked, or
//! ends — closed, killed, or silent past the heartbeat timeout (the
//! connection task's end drops its subscriptions). Presence lives in memory
//! on the node holding the connection: it is not durable and never changes
//! a space's version.
//!
//! Each space's board is kept by its hub (`fanout.rs`); its lock orders
//! every change and every newcomer's `presence_state`, so a subscriber sees
//! the state once, then each diff after it.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::outbox::Outbox;
use crate::protocol::{PresenceMember, ServerMsg};

/// Largest presence state, as JSON.
pub const MAX_STATE_BYTES: usize = 1024;

#[derive(Default)]
pub struct Board {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Entries by connection (its outbox's address).
    entries: Vec<(usize, PresenceMember)>,
    /// Connections that were sent `presence_state` and get the diffs.
    watchers: Vec<Arc<Outbox>>,
}

fn key(out: &Arc<Outbox>) -> usize {
    Arc::as_ptr(out) as usize
}

impl Board {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Everyone present, in arrival order.
    pub fn members(&self) -> Vec<PresenceMember> {
        self.lock().entries.iter().map(|(_, m)| m.clone()).collect()
    }

    /// `out` starts watching: it gets the current state, then every diff.
    pub fn watch(&self, space: &str, out: &Arc<Outbox>) {
        let mut i = self.lock();
        let members = i.entries.iter().map(|(_, m)| m.clone()).collect();
        out.text(
            &ServerMsg::PresenceState {
                space: space.to_string(),
                members,
            }
            .to_json(),
        );
        if !i.watchers.iter().any(|w| Arc::ptr_eq(w, out)) {
            i.watchers.push(out.clone());
        }
    }

    /// Sets `out`'s entry and tells every watcher.
    pub fn set(&self, space: &str, out: &Arc<Outbox>, user: &str, client_id: &str, state: Value) {
        let member = PresenceMember {
            user: user.to_string(),
            client_id: client_id.to_string(),
            state,
        };
        let mut i = self.lock();
        let k = key(out);
        let leaves = match i.entries.iter_mut().find(|(c, _)| *c == k) {
            Some((_, m)) if *m == member => return,
            Some((_, m)) => vec![std::mem::replace(m, member.clone())],
            None => {
                i.entries.push((k, member.clone()));
                vec![]
            }
        };
        broadcast(&i, space, vec![member], leaves);
    }

    /// `out` leaves: its entry goes (told to the others) and it stops watching.
    pub fn leave(&self, space: &str, out: &Arc<Outbox>) {
        let mut i = self.lock();
        let k = key(out);
        i.watchers.retain(|w| !Arc::ptr_eq(w, out));
        if let Some(at) = i.entries.iter().position(|(c, _)| *c == k) {
            let (_, gone) = i.entries.remove(at);
            broadcast(&i, space, vec![], vec![gone]);
        }
    }
}

fn broadcast(i: &Inner, space: &str, joins: Vec<PresenceMember>, leaves: Vec<PresenceMember>) {
    let frame = crate::protocol::wsframe::text(
        &ServerMsg::PresenceDiff {
            space: space.to_string(),
            joins,
            leaves,
        }
        .to_json(),
    );
    for w in &i.watchers {
        w.push(frame.clone());
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
