//! `GET /v1/events?space=S&cursor=EPOCH:VERSION`: the server-sent events
//! fallback. Same catch-up and live stream as the WebSocket, one space per
//! stream, `id: EPOCH:VERSION` on every event so `Last-Event-ID` resumes.

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::AppState;
use super::auth::expiry_instant;
use super::error::{ApiError, ApiResult};
use super::extract::StreamUser;
use super::listen::Cut;
use super::origin::AllowedOrigin;
use super::pressure::{Held, PRESSED_PATIENCE, Pressure};
use super::sse_body::{Frames, Queued, message};
use super::ws::presence::StreamWatch;
use crate::engine::space::Live;
use crate::engine::team::removes;
use crate::protocol::{CatchUp, Cursor, ServerMsg};
use std::sync::atomic::{AtomicU64, Ordering};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/events", get(events))
}

#[derive(Deserialize)]
struct EventsQuery {
    space: String,
    cursor: Option<String>,
}

async fn events(
    State(st): State<AppState>,
    _: AllowedOrigin,
    StreamUser(who, expires_at): StreamUser,
    Query(q): Query<EventsQuery>,
    cut: Option<axum::Extension<Cut>>,
    client: Option<axum::Extension<crate::http::listen::Client>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let name = st.engine.readable(&who, &q.space).await?;
    // Through a trusted proxy: a place under the client's own address cap.
    let client_slot = crate::http::listen::hold_client(client.as_deref())?;
    // Streams of one identity share the WebSocket's per-identity cap.
    let slot = st
        .ws_registry
        .take(&who.user, st.cfg.ws.limits(who.role).max_conns)
        .ok_or_else(too_many_streams)?;
    // The browser's automatic resume wins over the original URL's cursor.
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty());
    let cursor = match resume.or(q.cursor.as_deref()).filter(|s| !s.is_empty()) {
        Some(s) => Some(Cursor::parse(s).map_err(ApiError::bad_request)?),
        None => None,
    };
    let (space, mut rx) = loop {
        let space = st.engine.space(&name).await?;
        let rx = space.live.subscribe();
        if !space.is_evicted() {
            break (space, rx);
        }
    };
    let (first, first_revoked) = st
        .engine
        .catch_up_as(&who, &space, cursor.as_ref(), usize::MAX)
        .await?;
    // Team spaces: events stop at the one that removes this reader.
    let reader = (who.role != crate::engine::Role::Service).then(|| who.user.clone());
    let (tx, out) = mpsc::channel::<(Bytes, Queued)>(256);
    let flow = Outflow {
        tx,
        budget: Arc::new(Semaphore::new(st.cfg.ws.max_queue_bytes)),
        max: st.cfg.ws.max_queue_bytes,
        patience: st.cfg.ws.slow_consumer,
        pressure: st.outbound.clone(),
        cut: cut.map(|c| c.0.0),
    };
    let shutdown = st.shutdown.clone();
    let engine = st.engine.clone();
    let hubs = st.ws_hubs.clone();
    st.tasks.spawn(async move {
        let _slot = slot;
        let _client_slot = client_slot;
        let _open = crate::obs::Open::new(&crate::obs::hot().sse_connections);
        let mut epoch = first.epoch().to_string();
        let mut delivered = first.version();
        if !flow.push(answer_event(&name, first)).await {
            return;
        }
        if first_revoked {
            flow.push(revoked_event(&name)).await;
            return;
        }
        // Who is present, then each change (`ws/presence.rs`).
        let (ptx, mut prx) = mpsc::channel(PRESENCE_QUEUE);
        let watch = StreamWatch {
            id: NEXT_STREAM.fetch_add(1, Ordering::Relaxed),
            tx: ptx,
            stale: Default::default(),
        };
        let _watching = Watching::new(hubs, &name, watch.clone());
        let expiry = tokio::time::sleep_until(expiry_instant(expires_at));
        tokio::pin!(expiry);
        loop {
            let item = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = flow.tx.closed() => return,
                _ = &mut expiry => {
                    let gone = ServerMsg::Error {
                        code: "unauthorized".into(),
                        message: "token expired; reconnect with a new one".into(),
                        space: Some(name.clone()),
                    };
                    flow.push(message("error", None, gone.to_json().as_bytes())).await;
                    return;
                }
                Some(msg) = prx.recv() => {
                    if !flow.push(presence_event(&msg)).await {
                        return;
                    }
                    // Messages were dropped while the queue was full: the
                    // whole state again instead.
                    if watch.stale.swap(false, Ordering::SeqCst) {
                        let state = _watching.hubs.presence.state_json(&name);
                        if !flow.push(presence_event(&state)).await {
                            return;
                        }
                    }
                    continue;
                }
                item = rx.recv() => item,
            };
            let mut lagging = false;
            match item {
                Ok(Live::Batch(evs)) => {
                    for ev in evs.iter() {
                        if ev.version <= delivered {
                            continue;
                        }
                        if ev.version != delivered + 1 {
                            lagging = true;
                            break;
                        }
                        if !flow.push(live_event(&epoch, ev.version, &ev.frame())).await {
                            return;
                        }
                        delivered = ev.version;
                        if removes(ev, reader.as_deref()) {
                            flow.push(revoked_event(&name)).await;
                            return;
                        }
                    }
                }
                Ok(Live::Reset) | Err(RecvError::Lagged(_)) => lagging = true,
                Err(RecvError::Closed) => return,
            }
            if lagging
                && !flow
                    .catch_up(&engine, &who, &space, &name, &mut epoch, &mut delivered)
                    .await
            {
                return;
            }
        }
    });
    let body = Body::from_stream(Frames::new(out, st.cfg.ws.heartbeat));
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/event-stream"),
            (axum::http::header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}

/// What one stream's task sends through: each event holds its size in bytes
/// of the connection's queue budget (`TIDEMARK_WS_QUEUE_BYTES`, as on a
/// WebSocket) until the HTTP layer takes it; a reader that frees nothing
/// for the slow-consumer time is dropped, as a stalled WebSocket is.
struct Outflow {
    tx: mpsc::Sender<(Bytes, Queued)>,
    budget: Arc<Semaphore>,
    max: usize,
    patience: Duration,
    pressure: Arc<Pressure>,
    /// Ends the connection (its socket, and what hyper holds for it) when
    /// the reader is dropped as a slow consumer.
    cut: Option<tokio_util::sync::CancellationToken>,
}

impl Outflow {
    /// Brings a lagging stream from `delivered` to the space's head in
    /// steps of at most one budget of the log each, each step read only
    /// once the reader has taken everything queued (so a stalled reader
    /// never makes the server hold a catch-up beside a full queue), and
    /// missed events sent one by one, each waiting for room in the budget.
    /// False when the stream is to end.
    async fn catch_up(
        &self,
        engine: &crate::engine::Engine,
        who: &crate::engine::Principal,
        space: &crate::engine::space::Space,
        name: &str,
        epoch: &mut String,
        delivered: &mut u64,
    ) -> bool {
        loop {
            if !self.drained().await {
                return false;
            }
            let cursor = Cursor {
                epoch: epoch.clone(),
                version: *delivered,
            };
            let (answer, revoked) = match engine
                .catch_up_as(who, space, Some(&cursor), self.max)
                .await
            {
                Ok(a) => a,
                Err(crate::engine::EngineError::Forbidden(_)) => {
                    self.push(revoked_event(name)).await;
                    return false;
                }
                Err(_) => return false,
            };
            *epoch = answer.epoch().to_string();
            *delivered = answer.version();
            match answer {
                CatchUp::UpToDate { .. } => return true,
                CatchUp::Events { from, events, .. } => {
                    for (v, raw) in (from + 1..).zip(events) {
                        let (wire, at) = crate::protocol::event_frame(raw.0.get());
                        if !self.push(live_event(epoch, v, &wire.slice(at..))).await {
                            return false;
                        }
                    }
                    if revoked {
                        self.push(revoked_event(name)).await;
                        return false;
                    }
                    // Perhaps a step short of the head: ask again.
                }
                snapshot => return self.push(answer_event(name, snapshot)).await,
            }
        }
    }

    /// Waits (within the slow-consumer time) until nothing is queued.
    fn slow_consumer(&self) {
        crate::obs::slow_consumer_close();
        if let Some(cut) = &self.cut {
            cut.cancel();
        }
    }

    async fn drained(&self) -> bool {
        let all = self.max.max(1).min(u32::MAX as usize) as u32;
        self.room(all).await.is_some()
    }

    /// `n` bytes of the stream's budget, waited for within the slow-consumer
    /// time, which is one second while all clients' queues together are over
    /// their budget and this stream holds more than a fair share
    /// (`pressure.rs`); past a fair share, also for room in that budget.
    /// None: the stream is to end.
    async fn room(&self, n: u32) -> Option<OwnedSemaphorePermit> {
        let started = tokio::time::Instant::now();
        loop {
            let own = self.max.saturating_sub(self.budget.available_permits());
            let patience = self.pressure.patience(self.patience, own);
            let Some(left) = patience
                .checked_sub(started.elapsed())
                .filter(|d| !d.is_zero())
            else {
                self.slow_consumer();
                return None;
            };
            // Past a fair share, only within the budget of all clients'
            // queues (`pressure.rs`): wait for it to free up.
            if !self.pressure.admits(own, n as usize) {
                tokio::time::sleep(left.min(ADMISSION_POLL)).await;
                continue;
            }
            let wait = self.budget.clone().acquire_many_owned(n);
            match tokio::time::timeout(left.min(PRESSED_PATIENCE), wait).await {
                Ok(Ok(permit)) => return Some(permit),
                Ok(Err(_)) => return None,
                Err(_) => continue,
            }
        }
    }

    async fn push(&self, event: Bytes) -> bool {
        let bytes = event.len();
        // An event larger than the whole budget waits for all of it.
        let n = bytes.clamp(1, self.max.max(1)).min(u32::MAX as usize) as u32;
        let Some(permit) = self.room(n).await else {
            return false;
        };
        let held = (permit, Held::new(&self.pressure, bytes));
        match tokio::time::timeout(self.patience, self.tx.send((event, held))).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => false,
            Err(_) => {
                self.slow_consumer();
                false
            }
        }
    }
}

pub fn too_many_streams() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "too_many_connections",
        "this identity holds as many streams as it may; close one first",
    )
}

/// How often a stream waiting for room in all clients' budget looks again.
const ADMISSION_POLL: Duration = Duration::from_millis(100);

/// Presence messages queued per stream before it is sent the whole state
/// again instead.
const PRESENCE_QUEUE: usize = 32;

static NEXT_STREAM: AtomicU64 = AtomicU64::new(1);

/// A stream's presence watch, ended with the stream.
struct Watching {
    hubs: Arc<crate::http::ws::Hubs>,
    space: String,
    id: u64,
}

impl Watching {
    fn new(hubs: Arc<crate::http::ws::Hubs>, space: &str, w: StreamWatch) -> Self {
        let id = w.id;
        hubs.presence.watch_stream(space, w);
        Watching {
            hubs,
            space: space.to_string(),
            id,
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.hubs.presence.unwatch_stream(&self.space, self.id);
    }
}

/// A presence message (`presence_state` or `presence_diff`) as an SSE event
/// of that name.
fn presence_event(json: &str) -> Bytes {
    let kind = if json.starts_with(r#"{"type":"presence_state""#) {
        "presence_state"
    } else {
        "presence_diff"
    };
    message(kind, None, json.as_bytes())
}

/// The reader was removed from this team space: the stream ends after it.
fn revoked_event(space: &str) -> Bytes {
    let msg = ServerMsg::Revoked {
        space: space.to_string(),
    };
    message("revoked", None, msg.to_json().as_bytes())
}

/// One committed event, as the live stream sends it.
fn live_event(epoch: &str, version: u64, frame: &[u8]) -> Bytes {
    message("event", Some(&format!("{epoch}:{version}")), frame)
}

fn answer_event(space: &str, answer: CatchUp) -> Bytes {
    let kind = match &answer {
        CatchUp::Snapshot { .. } => "snapshot",
        CatchUp::Events { .. } => "events",
        CatchUp::UpToDate { .. } => "up_to_date",
    };
    let id = Cursor {
        epoch: answer.epoch().to_string(),
        version: answer.version(),
    }
    .to_string();
    message(
        kind,
        Some(&id),
        ServerMsg::from_catch_up(space, answer).to_json().as_bytes(),
    )
}
