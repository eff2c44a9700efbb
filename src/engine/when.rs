//! From a time to a version. The seeds' clients ask for what "changed after"
//! a time (`since=2026-11-20T09:00:00Z`); every event carries the time it was
//! committed (`at`), so the version a space had at a time is found by a
//! binary search over its log: the ring in memory where it reaches, the
//! durable log beyond it. See docs/protocol.md, "Chat history".

use serde::Deserialize;

use super::{Engine, EngineError};

#[derive(Deserialize)]
struct At<'a> {
    #[serde(borrow)]
    at: &'a str,
}

/// An event's `at`.
fn at_text(json: &str) -> Option<String> {
    let at: At<'_> = serde_json::from_str(json).ok()?;
    Some(at.at.to_string())
}

/// Epoch milliseconds of an event's `at`.
fn at_ms(json: &str) -> Option<i128> {
    let at: At<'_> = serde_json::from_str(json).ok()?;
    let t = humantime::parse_rfc3339_weak(at.at).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i128)
}

/// How far before the given time a time-based `since` reaches back.
pub const SINCE_MARGIN_MS: i128 = 5_000;

impl Engine {
    /// When `version` of `space` was committed (the event's `at`, RFC 3339),
    /// from the ring or the durable log; `None` once it was compacted.
    pub async fn committed_at(
        &self,
        space: &str,
        version: u64,
    ) -> Result<Option<String>, EngineError> {
        if version == 0 {
            return Ok(None);
        }
        let s = self.space(space).await?;
        let from_ring = s.read().ring.get(version).map(|ev| at_text(ev.json.get()));
        if let Some(at) = from_ring {
            return Ok(at);
        }
        let evs = self
            .store()
            .events(&s.name, version - 1, version, 1)
            .await?;
        Ok(evs.first().and_then(|(_, body)| at_text(body)))
    }

    /// The last version of `space` committed at or before `ms` (epoch
    /// milliseconds) less [`SINCE_MARGIN_MS`]: what changed after that time
    /// is what is newer than the answer. `None` when the log no longer
    /// reaches back to that time (it was compacted), so only a full answer
    /// is right.
    ///
    /// The margin: an event's `at` is stamped before its commit is durable
    /// and visible, and clocks step (NTP, several nodes); a reader who saw the
    /// space at time T may not yet have seen a change stamped a little before
    /// T. Answering a few seconds more is harmless (clients merge by id);
    /// answering less would lose that change for good.
    pub async fn version_at(&self, space: &str, ms: i128) -> Result<Option<u64>, EngineError> {
        let ms = ms - SINCE_MARGIN_MS;
        let s = self.space(space).await?;
        let (head, log_start) = {
            let d = s.read();
            (d.version, d.log_start)
        };
        let at = |v: u64| {
            let s = s.clone();
            async move {
                if let Some(ev) = s.read().ring.get(v) {
                    return Ok(at_ms(ev.json.get()));
                }
                let evs = self.store().events(&s.name, v - 1, v, 1).await?;
                Ok::<_, EngineError>(evs.first().and_then(|(_, body)| at_ms(body)))
            }
        };
        let first = log_start + 1;
        if head == 0 {
            return Ok(Some(0));
        }
        if first > head {
            return Ok(None);
        }
        match at(first).await? {
            None => return Ok(None),
            Some(t) if t > ms => return Ok((log_start == 0).then_some(0)),
            Some(_) => {}
        }
        // at(lo) <= ms; hi is after ms (or past the head).
        let (mut lo, mut hi) = (first, head + 1);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match at(mid).await? {
                None => return Ok(None),
                Some(t) if t <= ms => lo = mid,
                Some(_) => hi = mid,
            }
        }
        Ok(Some(lo))
    }
}
