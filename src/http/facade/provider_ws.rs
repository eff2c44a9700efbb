//! `/provider-sync/ws` (seed 001): catalog changes as `SyncEvent`s over a
//! WebSocket. Token as `?access_token=` or a bearer header; optional
//! `?client_version=N` (and `client_epoch`) to resume. The first frame is
//! `connected`, then either a `full_sync` (data = `SyncState`), the missed
//! events, or nothing when current; then one frame per change. A client that
//! falls behind the live buffer gets what it missed from the log, or a new
//! `full_sync`. `{"type":"ping"}` answers `{"event_type":"pong"}`; a
//! `heartbeat` frame comes every heartbeat interval.

use std::time::Duration;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::Result;
use crate::domain::catalog::view::{Catalog, sync_event};
use crate::domain::dates;
use crate::engine::CATALOG;
use crate::engine::space::Live;
use crate::http::AppState;
use crate::http::auth::expiry_instant;
use crate::http::extract::StreamUser;
use crate::http::origin::AllowedOrigin;
use crate::protocol::{CatchUp, Cursor};

pub fn router() -> Router<AppState> {
    Router::new().route("/provider-sync/ws", get(upgrade))
}

#[derive(Deserialize)]
struct Resume {
    client_version: Option<u64>,
    client_epoch: Option<String>,
}

async fn upgrade(
    State(st): State<AppState>,
    _: AllowedOrigin,
    StreamUser(who, expires_at): StreamUser,
    Query(q): Query<Resume>,
    client: Option<axum::Extension<crate::http::listen::Client>>,
    ws: WebSocketUpgrade,
) -> Result<Response> {
    who.readable(CATALOG)?;
    let client_slot = crate::http::listen::hold_client(client.as_deref())?;
    // Shares the per-identity cap of the other streams.
    let slot = st
        .ws_registry
        .take(&who.user, st.cfg.ws.limits(who.role).max_conns)
        .ok_or_else(crate::http::sse::too_many_streams)?;
    Ok(ws
        .max_message_size(st.cfg.ws.max_frame_bytes.max(1024))
        .on_upgrade(move |socket| {
            let tasks = st.tasks.clone();
            tasks.track_future(async move {
                let (_slot, _client_slot) = (slot, client_slot);
                run(socket, st, q, expires_at).await
            })
        }))
}

/// Sends one frame, giving up on a peer that does not read.
async fn send(socket: &mut WebSocket, v: &Value, patience: Duration) -> bool {
    let m = Message::Text(v.to_string().into());
    matches!(
        tokio::time::timeout(patience, socket.send(m)).await,
        Ok(Ok(()))
    )
}

/// Frames for a catch-up answer; returns `(epoch, version)` held afterwards.
fn frames(answer: &CatchUp) -> (Vec<Value>, String, u64) {
    let (epoch, version) = (answer.epoch().to_string(), answer.version());
    let out = match answer {
        CatchUp::UpToDate { .. } => vec![],
        CatchUp::Events { events, .. } => events
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(e.0.get()).ok())
            .map(|e| sync_event(&e))
            .collect(),
        CatchUp::Snapshot { .. } => {
            let state = Catalog::from_catch_up(answer).map(|c| c.state());
            vec![
                json!({"event_type": "full_sync", "version": version, "epoch": epoch,
                "timestamp": dates::now_rfc3339(), "data": state}),
            ]
        }
    };
    (out, epoch, version)
}

async fn run(mut socket: WebSocket, st: AppState, q: Resume, expires_at: u64) {
    let expiry = tokio::time::sleep_until(expiry_instant(expires_at));
    tokio::pin!(expiry);
    let patience = st.cfg.ws.slow_consumer;
    let Ok(space) = st.engine.space(CATALOG).await else {
        return;
    };
    // Subscribe before reading, so nothing committed in between is missed.
    let mut rx = space.live.subscribe();
    let epoch = q
        .client_epoch
        .unwrap_or_else(|| space.read().epoch.to_string());
    let mut cursor = q.client_version.map(|version| Cursor { epoch, version });
    let mut first = true;
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + st.cfg.ws.heartbeat,
        st.cfg.ws.heartbeat,
    );
    loop {
        // (Re)synchronise from the cursor: at the start, and after a lag or reset.
        let Ok(answer) = st.engine.catch_up(&space, cursor.as_ref()).await else {
            return;
        };
        let (out, epoch, mut held) = frames(&answer);
        if first {
            let hello = json!({"event_type": "connected", "version": held, "epoch": epoch});
            if !send(&mut socket, &hello, patience).await {
                return;
            }
            first = false;
        }
        for f in &out {
            if !send(&mut socket, f, patience).await {
                return;
            }
        }
        loop {
            tokio::select! {
                _ = st.shutdown.cancelled() => {
                    let bye = CloseFrame { code: 1012, reason: Utf8Bytes::from_static("server restarting") };
                    let _ = socket.send(Message::Close(Some(bye))).await;
                    return;
                }
                _ = &mut expiry => {
                    let bye = CloseFrame { code: 4001, reason: Utf8Bytes::from_static("token expired") };
                    let _ = socket.send(Message::Close(Some(bye))).await;
                    return;
                }
                _ = tick.tick() => {
                    let hb = json!({"event_type": "heartbeat", "version": held, "timestamp": dates::now_rfc3339()});
                    if !send(&mut socket, &hb, patience).await { return; }
                }
                m = socket.recv() => match m {
                    Some(Ok(Message::Text(t))) if t.contains("ping") => {
                        if !send(&mut socket, &json!({"event_type": "pong", "version": held}), patience).await { return; }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                },
                live = rx.recv() => match live {
                    Ok(Live::Batch(events)) => {
                        let mut gap = false;
                        for ev in events.iter() {
                            if ev.version <= held { continue; }
                            if ev.version != held + 1 { gap = true; break; }
                            let Ok(v) = serde_json::from_str::<Value>(ev.json.get()) else { gap = true; break };
                            if !send(&mut socket, &sync_event(&v), patience).await { return; }
                            held = ev.version;
                        }
                        if gap { break; }
                    }
                    Ok(Live::Reset) | Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return,
                },
            }
        }
        rx = rx.resubscribe();
        cursor = Some(Cursor {
            epoch: epoch.clone(),
            version: held,
        });
    }
}
