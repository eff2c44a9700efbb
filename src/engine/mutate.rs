//! The one write path: apply in memory, commit durably, then make visible.

use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;

use super::apply::{Change, Rejection, apply_ops};
use super::space::{DocEntry, EventRec, Live, Space};
use super::{Engine, EngineError, Principal, team_of};
use crate::protocol::{MutationResult, Op, Origin, RejectCode};
use crate::store::{ClientRecord, Commit, CommitOutcome, SpaceCommit, SpaceLock, StoredDoc};

/// A mutation as the engine takes it from any transport.
#[derive(Debug, Clone)]
pub struct MutationInput {
    /// `(client_id, mutation_id)`; `None` for writes without idempotency
    /// (plain REST calls, server-side domain writes).
    pub origin: Option<Origin>,
    /// As the client named it (aliases allowed).
    pub space: String,
    pub ops: Vec<Op>,
    /// Written by the server's own domain layers: validators may allow what
    /// clients may not (server-owned collections).
    pub trusted: bool,
}

#[derive(Serialize)]
struct EventOut<'a> {
    space: &'a str,
    version: u64,
    op: &'static str,
    collection: &'a str,
    id: &'a str,
    value: &'a RawValue,
    event: Option<&'a str>,
    origin: Option<&'a Origin>,
    at: &'a str,
}

fn null() -> &'static RawValue {
    // A static `null` literal is valid JSON.
    static NULL: std::sync::OnceLock<Box<RawValue>> = std::sync::OnceLock::new();
    NULL.get_or_init(|| RawValue::from_string("null".to_string()).expect("null is JSON"))
}

impl Engine {
    /// [`Engine::mutate`] without its deadline (`outage.rs`).
    pub(super) async fn mutate_now(
        &self,
        who: &Principal,
        m: MutationInput,
    ) -> Result<(String, MutationResult), EngineError> {
        let mid = m.origin.as_ref().map(|o| o.mutation_id);
        let client = |result: &MutationResult| {
            m.origin.as_ref().map(|o| ClientRecord {
                owner: who.user.clone(),
                client_id: o.client_id.clone(),
                mutation_id: o.mutation_id,
                result: serde_json::to_string(result).unwrap_or_default(),
            })
        };
        // An origin the stores cannot hold exactly is refused before anything
        // (and not recorded: it names no id the client could follow on from).
        if let Some(Err(why)) = m.origin.as_ref().map(Origin::check) {
            return Ok((
                m.space.clone(),
                reject(mid, Rejection::new(RejectCode::Invalid, why)),
            ));
        }
        // A mutation to a space the caller may not write is rejected, and still
        // counts as processed so the client's next id is in order.
        let name = match who.writable(&m.space) {
            Ok(n) => n,
            Err(e) => {
                let code = match e {
                    EngineError::Forbidden(_) => RejectCode::Forbidden,
                    _ => RejectCode::Invalid,
                };
                let result = reject(mid, Rejection::new(code, e.to_string()));
                let commit = Commit {
                    client: client(&result),
                    space: None,
                };
                let out = self.finish_without_change(commit, result).await?;
                return Ok((m.space.clone(), out));
            }
        };
        // The server's own writes (a whole chat sync) may be larger than a
        // client's; every other limit is the same.
        let mut limits = self.cfg().limits.clone();
        if m.trusted {
            limits.max_ops_per_mutation = limits
                .max_ops_per_mutation
                .max(self.cfg().max_ops_per_server_mutation);
        }
        let holder = m
            .origin
            .as_ref()
            .map(|o| (who.user.as_str(), o.client_id.as_str()));
        for attempt in 0..MAX_ATTEMPTS {
            let space = self.space(&name).await?;
            let _w = space.writer.lock().await;
            if space.is_evicted() {
                continue;
            }
            // An earlier commit's outcome is unknown: read what landed first.
            if space.suspect.load(std::sync::atomic::Ordering::SeqCst) {
                self.refresh(&space).await?;
            }
            // Another node won this space twice under this write: hold the
            // space against other nodes' commits, read what they wrote, and
            // commit while holding it, so this attempt cannot lose again.
            let held = if attempt >= LOCK_AFTER {
                let held = self.store().lock_space(&name, holder).await?;
                if held.is_some() {
                    self.refresh(&space).await?;
                }
                held
            } else {
                None
            };
            let (epoch, base, applied) = {
                let d = space.read();
                let mut applied = apply_ops(&d, &m.ops, &limits);
                // A team space: may this caller write, judged by the members
                // this very commit is based on (`team.rs`).
                if let (Ok(changes), Some(_)) = (&applied, team_of(&name))
                    && let Err(r) = super::team::check_commit(who, &d, changes, m.trusted)
                {
                    applied = Err(r);
                }
                (d.epoch.clone(), d.version, applied)
            };
            let applied = applied
                .and_then(|changes| self.validate(&name, &changes, m.trusted).map(|()| changes));
            let changes = match applied {
                Ok(c) => c,
                Err(r) => {
                    let result = reject(mid, r);
                    let commit = Commit {
                        client: client(&result),
                        space: Some(space_commit(&name, &epoch, base, vec![], vec![])),
                    };
                    match commit_with(self, held, commit).await? {
                        CommitOutcome::Stale => {
                            self.refresh(&space).await?;
                            continue;
                        }
                        other => return Ok((name, outcome(other, result, mid, base))),
                    }
                }
            };
            // Growing memory past the budget: idle spaces leave first. A
            // change costs its document and its event in the ring (the
            // event's JSON and its WebSocket frame).
            let grows: i64 = changes
                .iter()
                .map(|c| {
                    let len = |v: &Option<Arc<RawValue>>| v.as_ref().map_or(0, |v| v.get().len());
                    3 * len(&c.value) as i64 - len(&c.previous) as i64
                })
                .sum();
            if grows > 0 && !self.make_room(grows as usize) {
                let why = self.over_capacity();
                let result = reject(mid, Rejection::new(RejectCode::Unavailable, why));
                return Ok((name, result));
            }
            let new_version = base + changes.len() as u64;
            let result = MutationResult::Ack {
                mutation_id: mid,
                version: new_version,
                noop: changes.is_empty(),
            };
            let at = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
            let mut events = Vec::with_capacity(changes.len());
            let mut docs = Vec::with_capacity(changes.len());
            for (i, ch) in changes.iter().enumerate() {
                let version = base + 1 + i as u64;
                let name_of = self.cfg().namer.as_ref().and_then(|f| f(&name, ch));
                let ev = EventOut {
                    space: &name,
                    version,
                    op: if ch.value.is_some() {
                        "upsert"
                    } else {
                        "delete"
                    },
                    collection: &ch.collection,
                    id: &ch.id,
                    value: ch.value.as_deref().unwrap_or(null()),
                    event: name_of.as_deref(),
                    origin: m.origin.as_ref(),
                    at: &at,
                };
                let raw = serde_json::value::to_raw_value(&ev)
                    .map_err(|e| EngineError::Internal(e.to_string()))?;
                events.push(EventRec::new(version, raw));
                docs.push(StoredDoc {
                    collection: ch.collection.clone(),
                    id: ch.id.clone(),
                    version,
                    value: ch.value.as_ref().map(|v| v.get().to_string()),
                });
            }
            // The event JSON is shared with the store, not copied.
            let stored = events.iter().map(|e| (e.version, e.json.clone())).collect();
            let commit = Commit {
                client: client(&result),
                space: Some(space_commit(&name, &epoch, base, docs, stored)),
            };
            match commit_with(self, held, commit).await? {
                CommitOutcome::Committed => {
                    let hot = crate::obs::hot();
                    if changes.is_empty() {
                        hot.mutations_noop.increment(1);
                    } else {
                        hot.mutations_applied.increment(1);
                    }
                    self.publish(&space, &changes, events);
                    self.maybe_compact(&space).await;
                    return Ok((name, result));
                }
                CommitOutcome::Stale => {
                    self.refresh(&space).await?;
                    continue;
                }
                other => return Ok((name, outcome(other, result, mid, base))),
            }
        }
        Err(EngineError::Internal(
            "the space kept moving under this write; try again".into(),
        ))
    }

    fn validate(&self, space: &str, changes: &[Change], trusted: bool) -> Result<(), Rejection> {
        let Some(v) = &self.cfg().validator else {
            return Ok(());
        };
        for ch in changes {
            let ctx = super::ChangeContext {
                space,
                collection: &ch.collection,
                id: &ch.id,
                value: ch.value.as_deref(),
                trusted,
            };
            v(&ctx).map_err(|msg| Rejection::new(RejectCode::Invalid, msg))?;
        }
        Ok(())
    }

    async fn finish_without_change(
        &self,
        commit: Commit,
        result: MutationResult,
    ) -> Result<MutationResult, EngineError> {
        if commit.client.is_none() {
            return Ok(result);
        }
        let mid = commit.client.as_ref().map(|c| c.mutation_id);
        Ok(outcome(self.store().commit(commit).await?, result, mid, 0))
    }

    /// Makes committed changes visible: memory, ring, head, subscribers.
    fn publish(&self, space: &Space, changes: &[Change], events: Vec<EventRec>) {
        if events.is_empty() {
            return;
        }
        let events: Vec<Arc<EventRec>> = events.into_iter().map(Arc::new).collect();
        let last = events.last().map(|e| e.version).unwrap_or(0);
        {
            let mut d = space.write();
            for (ch, ev) in changes.iter().zip(&events) {
                d.set(
                    &ch.collection,
                    &ch.id,
                    DocEntry {
                        version: ev.version,
                        value: ch.value.clone(),
                    },
                );
                d.ring.push(ev.clone());
            }
            d.version = last;
        }
        self.account(space);
        crate::obs::hot()
            .events_committed
            .increment(events.len() as u64);
        space.head.send_replace(last);
        let _ = space.live.send(Live::Batch(Arc::new(events)));
    }

    /// Compacts the durable log once it exceeds retention by 10%.
    async fn maybe_compact(&self, space: &Space) {
        let keep = self.cfg().log_retention_events;
        let (version, log_start) = {
            let d = space.read();
            (d.version, d.log_start)
        };
        if version.saturating_sub(log_start) <= keep + keep / 10 + 1 {
            return;
        }
        let through = version - keep;
        match self.store().compact(&space.name, through).await {
            Ok(()) => {
                let mut d = space.write();
                d.log_start = through;
                d.prune_tombstones(through);
            }
            Err(e) => tracing::warn!(space = %space.name, error = %e, "compaction failed"),
        }
    }

    /// Brings a space's memory up to the store after another writer moved it:
    /// replays the missing events from the durable log and publishes them, or
    /// reloads and tells subscribers to resync when they are gone.
    pub(crate) async fn refresh(&self, space: &Space) -> Result<(), EngineError> {
        let Some(head) = self.store().head(&space.name).await? else {
            return Err(EngineError::Internal(format!(
                "space {} vanished from the store",
                space.name
            )));
        };
        let (epoch, version) = {
            let d = space.read();
            (d.epoch.to_string(), d.version)
        };
        if head.epoch == epoch && head.version > version {
            let evs = self
                .store()
                .events(&space.name, version, head.version, u32::MAX)
                .await?;
            let contiguous = evs.len() as u64 == head.version - version
                && evs
                    .iter()
                    .enumerate()
                    .all(|(i, (v, _))| *v == version + 1 + i as u64);
            if contiguous {
                crate::obs::refresh_events(evs.len() as u64);
                let mut recs = Vec::with_capacity(evs.len());
                let mut changes = Vec::with_capacity(evs.len());
                for (v, body) in evs {
                    let ev: crate::protocol::Event = serde_json::from_str(&body)
                        .map_err(|e| EngineError::Internal(format!("event {v}: {e}")))?;
                    let value = if ev.value.is_null() {
                        None
                    } else {
                        Some(Arc::from(
                            serde_json::value::to_raw_value(&ev.value)
                                .map_err(|e| EngineError::Internal(e.to_string()))?,
                        ))
                    };
                    changes.push(Change {
                        collection: ev.collection,
                        id: ev.id,
                        value,
                        previous: None,
                    });
                    let raw = RawValue::from_string(body)
                        .map_err(|e| EngineError::Internal(e.to_string()))?;
                    recs.push(EventRec::new(v, raw));
                }
                self.publish(space, &changes, recs);
                return Ok(());
            }
        }
        if head.epoch == epoch && head.version == version {
            return Ok(());
        }
        let loaded = self
            .store()
            .load_space(&space.name, &super::new_epoch())
            .await?;
        let data = self.data_from(loaded)?;
        let v = data.version;
        *space.write() = data;
        self.account(space);
        space.head.send_replace(v);
        let _ = space.live.send(Live::Reset);
        Ok(())
    }
}

/// Attempts at a write whose space other nodes keep moving (each stale
/// attempt reads their changes first). One node alone never retries; from
/// attempt [`LOCK_AFTER`] on the writer holds the space and cannot lose, so
/// only a change of epoch under it can use up the rest.
const MAX_ATTEMPTS: u32 = 8;

/// Stale attempts before a write holds its space (`Store::lock_space`).
const LOCK_AFTER: u32 = 2;

/// Commits through the held space when there is one, else through the
/// group committer.
async fn commit_with(
    engine: &Engine,
    held: Option<Box<dyn SpaceLock>>,
    commit: Commit,
) -> Result<CommitOutcome, EngineError> {
    Ok(match held {
        Some(lock) => lock.commit(commit).await?,
        None => engine.store().commit(commit).await?,
    })
}

/// The space part of a commit; `new_version` follows from the events.
fn space_commit(
    space: &str,
    epoch: &str,
    base: u64,
    docs: Vec<StoredDoc>,
    events: Vec<(u64, Arc<RawValue>)>,
) -> SpaceCommit {
    let new_version = events.last().map_or(base, |e| e.0);
    SpaceCommit {
        space: space.to_string(),
        epoch: epoch.to_string(),
        base_version: base,
        new_version,
        docs,
        events,
    }
}

fn reject(mid: Option<u64>, r: Rejection) -> MutationResult {
    MutationResult::Reject {
        mutation_id: mid,
        code: r.code,
        message: r.message,
        current: r.current,
    }
}

fn outcome(
    o: CommitOutcome,
    result: MutationResult,
    mid: Option<u64>,
    version: u64,
) -> MutationResult {
    match o {
        CommitOutcome::Committed | CommitOutcome::Stale => result,
        CommitOutcome::Duplicate(Some(stored)) => {
            crate::obs::hot().mutations_deduplicated.increment(1);
            serde_json::from_str(&stored).unwrap_or(MutationResult::Ack {
                mutation_id: mid,
                version,
                noop: true,
            })
        }
        // Processed long ago; its stored outcome has been pruned.
        CommitOutcome::Duplicate(None) => {
            crate::obs::hot().mutations_deduplicated.increment(1);
            MutationResult::Ack {
                mutation_id: mid,
                version,
                noop: true,
            }
        }
        CommitOutcome::OutOfOrder { last } => MutationResult::Reject {
            mutation_id: mid,
            code: RejectCode::OutOfOrder,
            message: format!(
                "mutation_id {} skips ahead: the next expected is {}",
                mid.unwrap_or(0),
                last + 1
            ),
            current: None,
        },
    }
}
