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

use tokio::sync::{Semaphore, mpsc};

use super::AppState;
use super::auth::expiry_instant;
use super::error::{ApiError, ApiResult};
use super::extract::StreamUser;
use super::listen::Cut;
use super::origin::AllowedOrigin;
use super::pressure::{PRESSED_PATIENCE, Pressure};
use super::sse_body::{Frames, Queued, message, message_with};
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
        let bound = space.answer_bound();
        if !flow.push_built(bound, || answer_event(&name, first)).await {
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
                        let frame = ev.frame();
                        let bound = live_bound(&epoch, &frame);
                        let built = || live_event(&epoch, ev.version, &frame);
                        if !flow.push_built(bound, built).await {
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
                        let frame = wire.slice(at..);
                        let bound = live_bound(epoch, &frame);
                        if !self
                            .push_built(bound, || live_event(epoch, v, &frame))
                            .await
                        {
                            return false;
                        }
                    }
                    if revoked {
                        self.push(revoked_event(name)).await;
                        return false;
                    }
                    // Perhaps a step short of the head: ask again.
                }
                snapshot => {
                    let bound = space.answer_bound();
                    return self
                        .push_built(bound, || answer_event(name, snapshot))
                        .await;
                }
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
        self.room(all, 0).await.is_some()
    }

    /// `n` bytes of the stream's budget, waited for within the slow-consumer
    /// time, which is one second while all clients' queues together are over
    /// their budget and this stream holds more than a fair share
    /// (`pressure.rs`); then `bytes` of that budget, reserved (past a fair
    /// share, only while there is room: waited for too). None: the stream
    /// is to end.
    async fn room(&self, n: u32, bytes: usize) -> Option<Queued> {
        let started = tokio::time::Instant::now();
        let permit = loop {
            let left = self.left(started, self.held())?;
            let wait = self.budget.clone().acquire_many_owned(n);
            match tokio::time::timeout(left.min(PRESSED_PATIENCE), wait).await {
                Ok(Ok(permit)) => break permit,
                Ok(Err(_)) => return None,
                Err(_) => continue,
            }
        };
        loop {
            let own = self.held().saturating_sub(n as usize);
            if let Some(held) = self.pressure.reserve(own, bytes) {
                return Some((permit, held));
            }
            let left = self.left(started, own)?;
            tokio::time::sleep(left.min(ADMISSION_POLL)).await;
        }
    }

    /// Bytes of the stream's own budget in use.
    fn held(&self) -> usize {
        self.max.saturating_sub(self.budget.available_permits())
    }

    /// What is left of the patience of a stream holding `own` bytes that
    /// started waiting at `started`; None (and the stream is cut) past it.
    fn left(&self, started: tokio::time::Instant, own: usize) -> Option<Duration> {
        let patience = self.pressure.patience(self.patience, own);
        let left = patience
            .checked_sub(started.elapsed())
            .filter(|d| !d.is_zero());
        if left.is_none() {
            self.slow_consumer();
        }
        left
    }

    async fn push(&self, event: Bytes) -> bool {
        self.push_built(event.len(), move || event).await
    }

    /// An event built only once there is room for `bound` bytes (its size,
    /// or an upper bound of it: a snapshot is not serialized before then),
    /// so a stream waiting for room holds nothing built. An event larger
    /// than the whole budget waits for all of it.
    async fn push_built(&self, bound: usize, build: impl FnOnce() -> Bytes) -> bool {
        let n = bound.clamp(1, self.max.max(1)).min(u32::MAX as usize) as u32;
        let Some((permit, mut held)) = self.room(n, bound).await else {
            return false;
        };
        let event = build();
        held.resize(event.len());
        match tokio::time::timeout(self.patience, self.tx.send((event, (permit, held)))).await {
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

/// At most what [`live_event`] makes of `frame` (each of its lines gets
/// a `data: ` prefix; the id line is the epoch and a version).
fn live_bound(epoch: &str, frame: &[u8]) -> usize {
    let lines = frame.iter().filter(|&&b| b == b'\n').count() + 1;
    frame.len() + 7 * lines + epoch.len() + 48
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
    let hint = answer.json_len_hint() + space.len();
    let msg = ServerMsg::from_catch_up(space, answer);
    message_with(kind, Some(&id), hint, |out| msg.write_json(out))
}
