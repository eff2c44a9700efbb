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
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::AuthUser;
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

/// `EPOCH:VERSION` -> cursor.
fn parse_cursor(s: &str) -> ApiResult<Cursor> {
    let (epoch, version) = s
        .rsplit_once(':')
        .ok_or_else(|| ApiError::bad_request("cursor must look like EPOCH:VERSION"))?;
    let version = version
        .parse()
        .map_err(|_| ApiError::bad_request("cursor version must be a number"))?;
    Ok(Cursor {
        epoch: epoch.to_string(),
        version,
    })
}

async fn events(
    State(st): State<AppState>,
    _: AllowedOrigin,
    AuthUser(who): AuthUser,
    Query(q): Query<EventsQuery>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let name = who.readable(&q.space)?;
    // The browser's automatic resume wins over the original URL's cursor.
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty());
    let cursor = match resume.or(q.cursor.as_deref()).filter(|s| !s.is_empty()) {
        Some(s) => Some(parse_cursor(s)?),
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
    let (tx, out) = mpsc::channel::<Result<Event, Infallible>>(64);
    let shutdown = st.shutdown.clone();
    let engine = st.engine.clone();
    st.tasks.spawn(async move {
        let mut epoch = first.epoch().to_string();
        let mut delivered = first.version();
        if tx.send(Ok(answer_event(&name, first))).await.is_err() {
            return;
        }
        loop {
            let item = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tx.closed() => return,
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
                        let e = Event::default()
                            .event("event")
                            .id(format!("{epoch}:{}", ev.version))
                            .data(data);
                        if tx.send(Ok(e)).await.is_err() {
                            return;
                        }
                        delivered = ev.version;
                    }
                }
                Ok(Live::Reset) | Err(RecvError::Lagged(_)) => lagging = true,
                Err(RecvError::Closed) => return,
            }
            if lagging {
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
                    && tx.send(Ok(answer_event(&name, answer))).await.is_err()
                {
                    return;
                }
            }
        }
    });
    let keep = KeepAlive::new()
        .interval(st.cfg.ws.heartbeat)
        .text("heartbeat");
    Ok(Sse::new(ReceiverStream::new(out)).keep_alive(keep))
}

fn answer_event(space: &str, answer: CatchUp) -> Event {
    let (kind, id) = match &answer {
        CatchUp::Snapshot { epoch, version, .. } => ("snapshot", format!("{epoch}:{version}")),
        CatchUp::Events { epoch, to, .. } => ("events", format!("{epoch}:{to}")),
        CatchUp::UpToDate { epoch, version } => ("up_to_date", format!("{epoch}:{version}")),
    };
    Event::default()
        .event(kind)
        .id(id)
        .data(ServerMsg::from_catch_up(space, answer).to_json())
}
