//! `GET /v1/admin/stream?space=S`: the inspector's live feed, server-sent
//! events.
//!
//! - `stats`, every 250 ms: the current second (Unix), what it counted so
//!   far (events committed, live frames delivered, WebSocket bytes) and the
//!   open connections by transport. A page draws one point per second and
//!   redraws the current one as it grows, so a write shows within 250 ms.
//! - `events`, with `?space=`: at once the space's recent events, then each
//!   committed batch as it is committed, values redacted (`redact.rs`).
//!   `reset: true` replaces the list (the space was reloaded).
//!
//! Authenticated like `/v1/events` (`?access_token=` for EventSource); ends
//! at shutdown, when the token expires, or when the page does not keep up
//! with its events (it reconnects and gets the recent events again).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::events::{AdminEvent, DEFAULT_LIMIT, recent, shown_rec};
use super::require_admin;
use super::sample::{self, Connections, Counters};
use crate::engine::space::{Live, Space};
use crate::http::AppState;
use crate::http::auth::expiry_instant;
use crate::http::error::ApiResult;
use crate::http::extract::StreamUser;
use crate::http::sse_body::message;

const TICK: Duration = Duration::from_millis(250);
/// Messages queued for a page; past it `stats` are skipped, and the stream
/// ends rather than skip `events`.
const QUEUE: usize = 64;

/// One `stats` message.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Stats {
    /// The second counted (Unix seconds).
    pub second: u64,
    /// What that second counted so far (the rest comes in its next messages).
    pub counted: Counters,
    /// Open connections now.
    pub connections: Connections,
}

/// One `events` message.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EventsMessage {
    pub space: String,
    /// The list starts over with these (first message, or a reloaded space).
    pub reset: bool,
    pub version: u64,
    pub events: Vec<AdminEvent>,
}

#[derive(Deserialize)]
pub struct StreamQuery {
    space: Option<String>,
}

pub async fn stream(
    State(st): State<AppState>,
    StreamUser(who, expires_at): StreamUser,
    Query(q): Query<StreamQuery>,
) -> ApiResult<Response> {
    require_admin(&who)?;
    let watched = match q.space.as_deref().filter(|s| !s.is_empty()) {
        Some(space) => {
            let name = who.resolve(space)?;
            Some(st.engine.space(&name).await?)
        }
        None => None,
    };
    let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
    let shutdown = st.shutdown.clone();
    let engine = st.engine.clone();
    st.tasks.spawn(async move {
        let expiry = tokio::time::sleep_until(expiry_instant(expires_at));
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = expiry => {}
            _ = feed(&engine, watched, &tx) => {}
        }
    });
    let body =
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|b| b.map(Ok::<_, Infallible>)));
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// Writes the feed until the page goes away or falls behind.
async fn feed(
    engine: &crate::engine::Engine,
    watched: Option<Arc<Space>>,
    tx: &mpsc::Sender<Bytes>,
) {
    let mut live = watched.as_ref().map(|s| s.live.subscribe());
    let mut delivered = match &watched {
        Some(s) => match send_recent(engine, s, tx).await {
            Some(v) => v,
            None => return,
        },
        None => 0,
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut base, _) = sample::now();
    let mut second = unix_now().0;
    loop {
        let item = tokio::select! {
            _ = tx.closed() => return,
            _ = tick.tick() => None,
            item = async { live.as_mut()?.recv().await.ok() }, if live.is_some() => match item {
                Some(i) => Some(i),
                // Missed some (lagged), or the channel closed: start over.
                None => Some(Live::Reset),
            },
        };
        match (item, &watched) {
            (None, _) => {
                let (now, connections) = sample::now();
                let (sec, _) = unix_now();
                if sec != second {
                    // The second that ended, in full; the new one counts from here.
                    let last = Stats {
                        second,
                        counted: since(&base, &now),
                        connections,
                    };
                    let _ = tx.try_send(json_message("stats", &last));
                    second = sec;
                    base = now;
                }
                let stats = Stats {
                    second,
                    counted: since(&base, &now),
                    connections,
                };
                // A page that does not keep up misses a reading, not more.
                let _ = tx.try_send(json_message("stats", &stats));
            }
            (Some(Live::Batch(evs)), Some(s)) => {
                let fresh: Vec<AdminEvent> = evs
                    .iter()
                    .filter(|e| e.version > delivered)
                    .filter_map(|e| shown_rec(e))
                    .collect();
                let Some(last) = evs.last() else { continue };
                if evs.first().is_some_and(|e| e.version > delivered + 1) {
                    // Missed some (lagged): start over.
                    match send_recent(engine, s, tx).await {
                        Some(v) => delivered = v,
                        None => return,
                    }
                    continue;
                }
                delivered = delivered.max(last.version);
                if fresh.is_empty() {
                    continue;
                }
                let m = EventsMessage {
                    space: s.name.to_string(),
                    reset: false,
                    version: delivered,
                    events: fresh,
                };
                if tx.try_send(json_message("events", &m)).is_err() {
                    return;
                }
            }
            (Some(_), Some(s)) => match send_recent(engine, s, tx).await {
                Some(v) => delivered = v,
                None => return,
            },
            (Some(_), None) => {}
        }
    }
}

/// Sends the space's recent events as a fresh list; the version they reach.
async fn send_recent(
    engine: &crate::engine::Engine,
    s: &Arc<Space>,
    tx: &mpsc::Sender<Bytes>,
) -> Option<u64> {
    let r = recent(engine, s, DEFAULT_LIMIT).await.ok()?;
    let version = r.version;
    let m = EventsMessage {
        space: r.space,
        reset: true,
        version,
        events: r.events,
    };
    tx.try_send(json_message("events", &m)).ok()?;
    Some(version)
}

fn since(base: &Counters, now: &Counters) -> Counters {
    Counters {
        events_committed: now.events_committed.saturating_sub(base.events_committed),
        live_frames: now.live_frames.saturating_sub(base.live_frames),
        ws_bytes_sent: now.ws_bytes_sent.saturating_sub(base.ws_bytes_sent),
    }
}

fn unix_now() -> (u64, u32) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs(), d.subsec_millis())
}

fn json_message<T: Serialize>(kind: &str, v: &T) -> Bytes {
    message(
        kind,
        None,
        serde_json::to_string(v).unwrap_or_default().as_bytes(),
    )
}
