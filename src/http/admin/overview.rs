//! `GET /v1/admin/overview`: connections by transport, the spaces this node
//! holds in memory (version, documents, subscribers), totals, and the
//! catalog's providers with their health status.

use axum::Json;
use axum::extract::State;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::require_admin;
use super::sample::{self, Connections, Counters};
use crate::domain::catalog::view::Catalog;
use crate::engine::CATALOG;
use crate::http::AppState;
use crate::http::error::ApiResult;
use crate::http::extract::AuthUser;

/// Spaces listed at most (the most subscribed first); `totals` counts all.
pub const MAX_SPACES: usize = 200;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Overview {
    /// Open connections of this process by transport.
    pub connections: Connections,
    pub totals: Totals,
    /// Loaded spaces, the most subscribed first, at most 200.
    pub spaces: Vec<LoadedSpace>,
    pub catalog: CatalogStatus,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Totals {
    #[serde(flatten)]
    pub counters: Counters,
    /// Spaces held in memory on this node.
    pub loaded_spaces: u64,
    /// Bytes they hold (against `TIDEMARK_MAX_MEMORY_BYTES`).
    pub held_bytes: u64,
    /// Bytes queued for all clients (against `TIDEMARK_OUTBOUND_BUDGET_BYTES`).
    pub outbound_queued_bytes: u64,
    /// Spaces with WebSocket subscribers.
    pub ws_subscribed_spaces: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LoadedSpace {
    pub space: String,
    pub epoch: String,
    pub version: u64,
    /// Live documents.
    pub docs: u64,
    /// Events held in memory for catch-up.
    pub ring_events: u64,
    pub subscribers: Subscribers,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema)]
pub struct Subscribers {
    /// WebSocket subscriptions.
    pub ws: u64,
    /// Other live streams (SSE, provider feeds).
    pub streams: u64,
    /// Long-polls and other waiters on the head.
    pub waiters: u64,
}

impl Subscribers {
    fn total(&self) -> u64 {
        self.ws + self.streams + self.waiters
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CatalogStatus {
    pub version: u64,
    pub providers: Vec<ProviderStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProviderStatus {
    pub id: String,
    pub display_name: String,
    /// `unknown`, `available`, `degraded` or `unavailable` (the health task).
    pub status: String,
    pub enabled: bool,
    /// Models of this provider in the catalog.
    pub models: u64,
}

pub async fn overview(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
) -> ApiResult<Json<Overview>> {
    require_admin(&who)?;
    let (counters, connections) = sample::now();
    let mut spaces: Vec<LoadedSpace> = st
        .engine
        .loaded_names()
        .into_iter()
        .filter_map(|name| {
            let s = st.engine.loaded(&name)?;
            let ws = st.ws_hubs.subscribers(&s) as u64;
            let hub = u64::from(ws > 0);
            let d = s.read();
            Some(LoadedSpace {
                space: name,
                epoch: d.epoch.to_string(),
                version: d.version,
                docs: d.live_docs as u64,
                ring_events: d.ring.len() as u64,
                subscribers: Subscribers {
                    ws,
                    // The WebSocket hub's pusher is one receiver of `live`.
                    streams: (s.live.receiver_count() as u64).saturating_sub(hub),
                    waiters: s.head.receiver_count() as u64,
                },
            })
        })
        .collect();
    spaces.sort_by(|a, b| {
        b.subscribers
            .total()
            .cmp(&a.subscribers.total())
            .then_with(|| a.space.cmp(&b.space))
    });
    let loaded = spaces.len() as u64;
    spaces.truncate(MAX_SPACES);
    Ok(Json(Overview {
        connections,
        totals: Totals {
            counters,
            loaded_spaces: loaded,
            held_bytes: st.engine.held_bytes() as u64,
            outbound_queued_bytes: st.outbound.queued() as u64,
            ws_subscribed_spaces: st.ws_hubs.len() as u64,
        },
        spaces,
        catalog: catalog(&st).await?,
    }))
}

async fn catalog(st: &AppState) -> ApiResult<CatalogStatus> {
    let s = st.engine.space(CATALOG).await?;
    let answer = st.engine.catch_up(&s, None).await?;
    let c = Catalog::from_catch_up(&answer).unwrap_or_default();
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let providers = c
        .providers
        .iter()
        .map(|p| {
            let id = text(p, "id");
            ProviderStatus {
                models: c.models.iter().filter(|m| m["provider_id"] == *id).count() as u64,
                display_name: text(p, "display_name"),
                status: text(p, "status"),
                enabled: p["enabled"] == true,
                id,
            }
        })
        .collect();
    Ok(CatalogStatus {
        version: c.version,
        providers,
    })
}
