//! The catch-up rule (docs/architecture.md, "Catch-up"), in one function
//! used by every transport.

use std::sync::Arc;

use serde_json::value::RawValue;

use super::space::{EventRec, Space};
use super::{Engine, EngineError};
use crate::protocol::{CatchUp, Cursor, RawDoc, RawEvent};

impl Engine {
    /// What a client holding `cursor` needs to reach the space's current version.
    /// A cursor this node's memory does not hold (ahead of it, or another
    /// epoch) first brings memory up to the database (`reach.rs`: lag is not
    /// the future). Then: epoch mismatch or a cursor still ahead -> snapshot;
    /// equal -> up to date; in the ring -> events from memory; in the durable
    /// log -> events from the database (paged); otherwise -> snapshot.
    pub async fn catch_up(
        &self,
        space: &Space,
        cursor: Option<&Cursor>,
    ) -> Result<CatchUp, EngineError> {
        self.catch_up_within(space, cursor, usize::MAX).await
    }

    /// `catch_up`, except that events read from the database stop once
    /// they hold more than `max_bytes`: the answer is then `Events` from the
    /// cursor up to that point (gap-free, but short of the head), and the
    /// caller asks again from there. A stream that catches up in such steps,
    /// each once its reader took the previous one, never makes the server
    /// hold more than one step of the log for it.
    pub async fn catch_up_within(
        &self,
        space: &Space,
        cursor: Option<&Cursor>,
        max_bytes: usize,
    ) -> Result<CatchUp, EngineError> {
        if let Some(c) = cursor {
            self.reach(space, Some(&c.epoch), c.version).await?;
        }
        let (epoch, head, from_ring, db_range) = {
            let d = space.read();
            let epoch = d.epoch.to_string();
            let Some(c) = cursor.filter(|c| *c.epoch == *d.epoch && c.version <= d.version) else {
                crate::obs::catch_up("snapshot");
                return Ok(snapshot(&d));
            };
            if c.version == d.version {
                crate::obs::catch_up("up_to_date");
                return Ok(CatchUp::UpToDate {
                    epoch,
                    version: d.version,
                });
            }
            if let Some(evs) = d.ring.since(c.version) {
                crate::obs::catch_up("memory");
                return Ok(events(epoch, c.version, d.version, evs));
            }
            let too_far = d.version - c.version > self.cfg().catchup_max_events as u64;
            if c.version < d.log_start || too_far {
                crate::obs::catch_up("snapshot");
                return Ok(snapshot(&d));
            }
            // Ring part now (it may move on), database part below.
            let ring_first = d.ring.first_version().unwrap_or(d.version + 1);
            let tail = d
                .ring
                .since(ring_first.saturating_sub(1))
                .unwrap_or_default();
            (epoch, d.version, tail, (c.version, ring_first - 1))
        };
        let (after, upto) = db_range;
        let mut out: Vec<Arc<EventRec>> = Vec::with_capacity((head - after) as usize);
        let mut next = after;
        let mut held = 0usize;
        // In steps, read a few events at a time: a page is read whole.
        let page_len = if max_bytes == usize::MAX {
            self.cfg().catchup_page
        } else {
            self.cfg().catchup_page.min(16)
        };
        while next < upto {
            if held > max_bytes {
                crate::obs::catch_up("log");
                return Ok(events(epoch, after, next, out));
            }
            let page = self
                .store()
                .events(&space.name, next, upto, page_len)
                .await?;
            if page.is_empty() {
                break;
            }
            for (v, body) in page {
                if v != next + 1 {
                    break; // compacted meanwhile: fall back to a snapshot below
                }
                held += body.len();
                let raw = RawValue::from_string(body).map_err(|e| {
                    EngineError::Internal(format!("stored event {v} is not JSON: {e}"))
                })?;
                out.push(Arc::new(EventRec::new(v, raw)));
                next = v;
            }
        }
        if next != upto {
            crate::obs::catch_up("snapshot");
            return Ok(snapshot(&space.read()));
        }
        out.extend(from_ring);
        crate::obs::catch_up("log");
        Ok(events(epoch, after, head, out))
    }
}

fn events(epoch: String, from: u64, to: u64, evs: Vec<Arc<EventRec>>) -> CatchUp {
    CatchUp::Events {
        epoch,
        from,
        to,
        events: evs.into_iter().map(|e| RawEvent(e.json.clone())).collect(),
    }
}

/// The live documents of a space, in (collection, id) order.
pub(crate) fn snapshot(d: &super::space::SpaceData) -> CatchUp {
    let mut docs = Vec::with_capacity(d.live_docs);
    for (collection, col) in &d.docs {
        for (id, e) in col {
            if let Some(v) = &e.value {
                docs.push(RawDoc {
                    collection: collection.clone(),
                    id: id.clone(),
                    version: e.version,
                    value: v.clone(),
                });
            }
        }
    }
    CatchUp::Snapshot {
        epoch: d.epoch.to_string(),
        version: d.version,
        docs,
    }
}
