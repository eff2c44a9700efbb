//! The HTTP edge: axum routes, auth, errors. Handlers are thin; the engine
//! does the work.

pub mod admin;
mod assets;
pub mod auth;
mod demo_react;
mod dev;
pub mod error;
pub mod extract;
mod facade;
mod health;
pub mod listen;
mod lockbox;
pub mod metrics;
pub mod openapi;
pub mod origin;
pub mod pressure;
mod spaces;
pub(crate) mod sse;
mod sse_body;
mod sync;
mod teams;
pub mod ws;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::engine::Engine;

/// Settings the HTTP layer needs.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub dev: bool,
    /// Roles `/dev/token` may mint.
    pub dev_roles: Vec<crate::engine::Role>,
    pub max_body_bytes: usize,
    pub max_mutations_per_sync: usize,
    pub long_poll_max: Duration,
    pub allowed_origins: Vec<String>,
    /// Connection caps and timeouts (`listen`).
    pub net: listen::NetConfig,
    /// Who may read `/metrics`.
    pub metrics: metrics::Exposure,
    pub ws: WsConfig,
}

/// WebSocket and SSE settings.
#[derive(Clone, Debug)]
pub struct WsConfig {
    pub heartbeat: Duration,
    /// Largest frame accepted from a client (`too_large` error past it).
    pub max_frame_bytes: usize,
    /// Outbound bytes queued per connection before live events wait.
    pub max_queue_bytes: usize,
    /// Outbound bytes queued for all connections together (`pressure`).
    pub outbound_budget_bytes: usize,
    /// Presence announcements between nodes (`ws/relay.rs`).
    pub presence_interval: Duration,
    /// A connection whose queue makes no progress this long is closed (4009).
    pub slow_consumer: Duration,
    pub auth_timeout: Duration,
    pub max_subscriptions: usize,
    /// Connections and message rate for role `user` (browser tabs).
    pub user: RoleLimits,
    /// The same for roles `admin` and `service` (back-end publishers and
    /// subscribers, one identity for many sockets).
    pub trusted: RoleLimits,
    /// Bad or excess messages within 10 s before the connection is closed (4008).
    pub abuse_threshold: u32,
    pub read_buffer_bytes: usize,
}

/// Per-identity WebSocket limits of one kind of caller.
#[derive(Clone, Copy, Debug)]
pub struct RoleLimits {
    /// Open connections of one identity (`sub`) at once.
    pub max_conns: usize,
    /// Messages per second per connection, and the burst allowed.
    pub msg_rate: u32,
    pub msg_burst: u32,
}

impl WsConfig {
    /// The limits a connection of `role` lives under.
    pub fn limits(&self, role: crate::engine::Role) -> RoleLimits {
        match role {
            crate::engine::Role::User => self.user,
            crate::engine::Role::Admin | crate::engine::Role::Service => self.trusted,
        }
    }
}

/// The one state type every handler gets.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub auth: Arc<auth::Auth>,
    pub cfg: Arc<HttpConfig>,
    /// Cancelled at shutdown: WebSockets close with 1012, SSE streams end.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Connection tasks, awaited (within the grace period) at shutdown.
    pub tasks: tokio_util::task::TaskTracker,
    pub ws_registry: Arc<ws::Registry>,
    /// Spaces with WebSocket subscribers and their pushers.
    pub ws_hubs: Arc<ws::Hubs>,
    /// Bytes queued for all clients, against `outbound_budget_bytes`.
    pub outbound: Arc<pressure::Pressure>,
    /// Time allowed for in-flight work at shutdown.
    pub grace: Duration,
    /// Encrypted API keys and model-config resolution.
    pub lockbox: Arc<crate::domain::lockbox::Lockbox>,
    /// What the seed façades need besides the engine.
    pub domain: Arc<crate::domain::setup::Domain>,
}

/// Every allowed origin must be `scheme://host[:port]` (what browsers send
/// in `Origin`); one that is not would silently never match, so the server
/// refuses to start and names it.
pub fn check_origins(origins: &[String]) -> Result<(), String> {
    for o in origins {
        let ok = o.parse::<axum::http::HeaderValue>().is_ok()
            && o.parse::<axum::http::Uri>().is_ok_and(|u| {
                u.scheme().is_some()
                    && u.host().is_some_and(|h| !h.is_empty())
                    && u.path_and_query()
                        .is_none_or(|p| p.as_str().is_empty() || p.as_str() == "/")
                    && !o.ends_with('/')
            });
        if !ok {
            return Err(format!(
                "TIDEMARK_ALLOWED_ORIGINS: `{o}` is not an origin (scheme://host[:port], no path)"
            ));
        }
    }
    Ok(())
}

pub fn router(state: AppState) -> Router {
    let mut r = Router::new()
        .merge(health::router())
        .merge(admin::router())
        .merge(spaces::router())
        .merge(sync::router())
        .merge(teams::router())
        .merge(sse::router())
        .merge(ws::router())
        .merge(lockbox::router())
        .merge(facade::router())
        .merge(dev::router(state.cfg.dev))
        .merge(metrics::router(state.cfg.metrics))
        .merge(assets::router(state.cfg.dev))
        .merge(demo_react::router(state.cfg.dev))
        .merge(openapi::router())
        .fallback(health::not_found)
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.cfg.max_body_bytes,
            extract::refuse_declared_oversize,
        ))
        .layer(DefaultBodyLimit::max(state.cfg.max_body_bytes));
    if !state.cfg.allowed_origins.is_empty() {
        use axum::http::{HeaderName, Method, header};
        use tower_http::cors::{AllowOrigin, CorsLayer};
        // Checked at start (`check_origins`): every entry parses.
        let origins: Vec<_> = state
            .cfg
            .allowed_origins
            .iter()
            .filter_map(|o| o.parse().ok())
            .collect();
        // Only what the API uses: its methods, and the request headers its
        // routes read (the bearer token, JSON bodies, the ETag preconditions,
        // an SSE resume).
        r = r.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::IF_MATCH,
                    header::IF_NONE_MATCH,
                    HeaderName::from_static("last-event-id"),
                ])
                .expose_headers([header::ETAG]),
        );
    }
    r.with_state(state)
}
