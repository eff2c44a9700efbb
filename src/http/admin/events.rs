//! `GET /v1/admin/spaces/{space}/events?limit=N`: a space's most recent
//! events, values redacted (`redact.rs`), from the ring or the durable log
//! through the engine's one catch-up rule.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::redact::redact;
use super::require_admin;
use crate::engine::space::{EventRec, Space};
use crate::engine::{Engine, EngineError};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::AuthUser;
use crate::protocol::{CatchUp, Cursor, Event, EventOp};

/// Events shown when `limit` is not given, and the most a page may ask for.
pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 500;

/// One event as the inspector shows it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AdminEvent {
    pub version: u64,
    pub op: EventOp,
    pub collection: String,
    pub id: String,
    /// The value, `null` when withheld (or a deletion); credential-shaped
    /// fields and strings are masked as `[redacted]`.
    pub value: Value,
    /// Something of the value was withheld or masked.
    pub redacted: bool,
    /// Domain event name (`provider_added`, ...).
    pub event: Option<String>,
    /// The writing client's id, when it sent one.
    pub client_id: Option<String>,
    /// RFC 3339 commit time.
    pub at: String,
}

/// `GET /v1/admin/spaces/{space}/events`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AdminEvents {
    pub space: String,
    pub epoch: String,
    /// The space's version now.
    pub version: u64,
    /// Oldest first; at most `limit`, fewer when the log holds fewer.
    pub events: Vec<AdminEvent>,
}

#[derive(Deserialize)]
pub struct EventsQuery {
    limit: Option<u64>,
}

pub async fn recent_events(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    Path(space): Path<String>,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Json<AdminEvents>> {
    require_admin(&who)?;
    let name = who.resolve(&space)?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!("limit must be 1 to {MAX_LIMIT}")));
    }
    let s = st.engine.space(&name).await?;
    Ok(Json(recent(&st.engine, &s, limit).await?))
}

/// The last `limit` events of a space, redacted.
pub async fn recent(
    engine: &Engine,
    s: &Arc<Space>,
    limit: u64,
) -> Result<AdminEvents, EngineError> {
    let (epoch, version) = {
        let d = s.read();
        (d.epoch.to_string(), d.version)
    };
    let from = Cursor {
        epoch: epoch.clone(),
        version: version.saturating_sub(limit),
    };
    let events = match engine.catch_up(s, Some(&from)).await? {
        CatchUp::Events { events, .. } => events.iter().filter_map(|e| shown(e.0.get())).collect(),
        // The log no longer reaches that far back (or the space was
        // reloaded meanwhile): what the ring holds.
        _ => {
            let d = s.read();
            let before = d.ring.first_version().unwrap_or(1).saturating_sub(1);
            let held = d.ring.since(before).unwrap_or_default();
            let skip = held.len().saturating_sub(limit as usize);
            held[skip..].iter().filter_map(|e| shown_rec(e)).collect()
        }
    };
    Ok(AdminEvents {
        space: s.name.to_string(),
        epoch,
        version,
        events,
    })
}

/// A committed event's record, as shown.
pub fn shown_rec(e: &EventRec) -> Option<AdminEvent> {
    shown(e.json.get())
}

/// An event's JSON as shown (`None` if it does not parse, which committed
/// events always do).
pub fn shown(json: &str) -> Option<AdminEvent> {
    let ev: Event = serde_json::from_str(json).ok()?;
    let (value, redacted) = redact(&ev.collection, ev.value);
    Some(AdminEvent {
        version: ev.version,
        op: ev.op,
        collection: ev.collection,
        id: ev.id,
        value,
        redacted,
        event: ev.event,
        client_id: ev.origin.map(|o| o.client_id),
        at: ev.at,
    })
}
