//! `GET /v1/ws`: the WebSocket transport (docs/protocol.md, "WebSocket").

mod conn;
mod fanout;
mod handshake;
mod outbox;
mod pace;
pub mod presence;
pub mod relay;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dashmap::DashMap;

use super::AppState;
use super::error::ApiError;
use super::extract::{bearer, query_token};

pub use fanout::Hubs;

pub const SUBPROTOCOL: &str = "tidemark.v1";

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/ws", get(upgrade))
}

/// Open connections per user, for the per-user limit.
#[derive(Default)]
pub struct Registry {
    per_user: DashMap<String, usize>,
}

/// Decrements the user's count when the connection ends.
pub struct Slot {
    registry: Arc<Registry>,
    user: String,
}

impl Registry {
    /// Takes a slot, or `None` when the user already has `max` connections.
    pub fn take(self: &Arc<Self>, user: &str, max: usize) -> Option<Slot> {
        let mut n = self.per_user.entry(user.to_string()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            registry: self.clone(),
            user: user.to_string(),
        })
    }

    pub fn total(&self) -> usize {
        self.per_user.iter().map(|e| *e.value()).sum()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.per_user.remove_if_mut(&self.user, |_, n| {
            *n -= 1;
            *n == 0
        });
    }
}

async fn upgrade(State(st): State<AppState>, mut req: Request) -> Response {
    if let Err(e) = super::origin::check(req.headers(), &st.cfg.allowed_origins) {
        return e.into_response();
    }
    let accepted = match handshake::accept(&mut req) {
        Ok(a) => a,
        Err(refused) => return *refused,
    };
    // A token in the query string is checked before the upgrade: 401 if bad.
    let auth = match query_token(req.uri().query()).or_else(|| bearer(req.headers())) {
        Some(token) => match st.auth.verify(&token) {
            Ok(p) => Some((p, st.auth.expiry(&token).unwrap_or(u64::MAX))),
            Err(e) => return ApiError::unauthorized(e).into_response(),
        },
        None => None,
    };
    if st.shutdown.is_cancelled() {
        return ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the server is shutting down",
        )
        .into_response();
    }
    // Through a trusted proxy: a place under the client's own address cap.
    let client_slot = match crate::http::listen::hold_client(req.extensions().get()) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let on_upgrade = accepted.on_upgrade;
    let tracker = st.tasks.clone();
    tokio::spawn(tracker.track_future(async move {
        let _client_slot = client_slot;
        match handshake::socket(on_upgrade).await {
            Ok((rd, wr)) => conn::run(rd, wr, st, auth).await,
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    }));
    accepted.response
}
