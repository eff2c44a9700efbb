//! Presence between nodes sharing one PostgreSQL (`presence.rs`): this
//! node's announcements go out through the engine (`NOTIFY` on the
//! presence channel), the others' come back through the engine's feed, and
//! every interval each of this node's entries is announced again and the
//! others' entries not heard for three intervals are dropped. On SQLite
//! (one node) announcing does nothing and nothing is heard.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use crate::http::AppState;

/// Starts the relay; it stops at shutdown.
pub fn start(st: &AppState, every: Duration) {
    let taken = st
        .ws_hubs
        .presence
        .outgoing_rx
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let Some(mut outgoing) = taken else {
        return;
    };
    let mut feed = st.engine.presence_feed();
    let (hubs, engine, stop) = (st.ws_hubs.clone(), st.engine.clone(), st.shutdown.clone());
    let every = every.max(Duration::from_millis(50));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                a = outgoing.recv() => match a {
                    Some(a) => {
                        if let Err(e) = engine.announce(&a).await {
                            tracing::debug!(error = %e, "presence not announced to the other nodes");
                        }
                    }
                    None => return,
                },
                heard = feed.recv() => match heard {
                    Ok(p) => hubs.presence.heard(&p),
                    // Announcements repeat every interval: a gap heals.
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
                _ = tick.tick() => {
                    hubs.presence.announce_all();
                    hubs.presence.expire(every * 3);
                }
            }
        }
    });
}
