//! `GET /v1/events?space=S&cursor=EPOCH:VERSION`: the server-sent events
//! fallback. Same catch-up and live stream as the WebSocket, one space per
//! stream, `id: EPOCH:VERSION` on every event so `Last-Event-ID` resumes.

use std::convert::Infallible;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Sse;
use axum::response::sse::{Event, KeepAlive};
use axum::routing::get;
use futures::Stream;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::AppState;
use super::auth::expiry_instant;
use super::error::{ApiError, ApiResult};
use super::extract::StreamUser;
use super::origin::AllowedOrigin;
use crate::engine::space::Live;
use crate::protocol::{CatchUp, Cursor, ServerMsg};

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
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let name = who.readable(&q.space)?;
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
    let first = st.engine.catch_up(&space, cursor.as_ref()).await?;
    let (tx, out) = mpsc::channel::<(Event, OwnedSemaphorePermit)>(256);
    let flow = Outflow {
        tx,
        budget: Arc::new(Semaphore::new(st.cfg.ws.max_queue_bytes)),
        max: st.cfg.ws.max_queue_bytes,
        patience: st.cfg.ws.slow_consumer,
    };
    let shutdown = st.shutdown.clone();
    let engine = st.engine.clone();
    st.tasks.spawn(async move {
        let _slot = slot;
        let _open = crate::obs::Open::new(&crate::obs::hot().sse_connections);
        let mut epoch = first.epoch().to_string();
        let mut delivered = first.version();
        if !flow.push(answer_event(&name, first)).await {
            return;
        }
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
                    let data = gone.to_json();
                    let n = data.len();
                    flow.push((Event::default().event("error").data(data), n)).await;
                    return;
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
                        let data = String::from_utf8_lossy(&ev.frame()).into_owned();
                        let n = data.len();
                        let e = Event::default()
                            .event("event")
                            .id(format!("{epoch}:{}", ev.version))
                            .data(data);
                        if !flow.push((e, n)).await {
                            return;
                        }
                        delivered = ev.version;
                    }
                }
                Ok(Live::Reset) | Err(RecvError::Lagged(_)) => lagging = true,
                Err(RecvError::Closed) => return,
            }
            if lagging {
                // A catch-up answer may be large: build it only once the
                // reader has taken everything queued, so a stalled reader
                // never holds an answer beside a full queue.
                if !flow.drained().await {
                    return;
                }
                let cursor = Cursor {
                    epoch: epoch.clone(),
                    version: delivered,
                };
                let Ok(answer) = engine.catch_up(&space, Some(&cursor)).await else {
                    return;
                };
                epoch = answer.epoch().to_string();
                delivered = answer.version();
                if !matches!(answer, CatchUp::UpToDate { .. })
                    && !flow.push(answer_event(&name, answer)).await
                {
                    return;
                }
            }
        }
    });
    let keep = KeepAlive::new()
        .interval(st.cfg.ws.heartbeat)
        .text("heartbeat");
    // An event's bytes count until the HTTP layer takes it.
    let stream = ReceiverStream::new(out).map(|(e, _bytes)| Ok::<_, Infallible>(e));
    Ok(Sse::new(stream).keep_alive(keep))
}

/// What one stream's task sends through: each event holds its size in bytes
/// of the connection's queue budget (`TIDEMARK_WS_QUEUE_BYTES`, as on a
/// WebSocket) until the HTTP layer takes it; a reader that frees nothing
/// for the slow-consumer time is dropped, as a stalled WebSocket is.
struct Outflow {
    tx: mpsc::Sender<(Event, OwnedSemaphorePermit)>,
    budget: Arc<Semaphore>,
    max: usize,
    patience: Duration,
}

impl Outflow {
    /// Waits (within the slow-consumer time) until nothing is queued.
    async fn drained(&self) -> bool {
        let all = self.max.max(1).min(u32::MAX as usize) as u32;
        let wait = self.budget.acquire_many(all);
        match tokio::time::timeout(self.patience, wait).await {
            Ok(Ok(_all)) => true,
            Ok(Err(_)) => false,
            Err(_) => {
                crate::obs::slow_consumer_close();
                false
            }
        }
    }

    async fn push(&self, (event, bytes): (Event, usize)) -> bool {
        // An event larger than the whole budget waits for all of it.
        let n = bytes.clamp(1, self.max.max(1)).min(u32::MAX as usize) as u32;
        let send = async {
            let held = self.budget.clone().acquire_many_owned(n).await.ok()?;
            self.tx.send((event, held)).await.ok()
        };
        match tokio::time::timeout(self.patience, send).await {
            Ok(Some(())) => true,
            Ok(None) => false,
            Err(_) => {
                crate::obs::slow_consumer_close();
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

fn answer_event(space: &str, answer: CatchUp) -> (Event, usize) {
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
    let data = ServerMsg::from_catch_up(space, answer).to_json();
    let n = data.len();
    (Event::default().event(kind).id(id).data(data), n)
}
