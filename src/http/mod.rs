//! The HTTP edge: axum routes, auth, errors. Handlers are thin; the engine
//! does the work.

pub mod auth;
mod dev;
pub mod error;
pub mod extract;
mod health;
mod spaces;
mod sync;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::engine::Engine;

/// Settings the HTTP layer needs.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub dev: bool,
    pub max_body_bytes: usize,
    pub max_mutations_per_sync: usize,
    pub long_poll_max: Duration,
    pub allowed_origins: Vec<String>,
}

/// The one state type every handler gets.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub auth: Arc<auth::Auth>,
    pub cfg: Arc<HttpConfig>,
}

pub fn router(state: AppState) -> Router {
    let mut r = Router::new()
        .merge(health::router())
        .merge(spaces::router())
        .merge(sync::router())
        .merge(dev::router(state.cfg.dev))
        .fallback(health::not_found)
        .layer(DefaultBodyLimit::max(state.cfg.max_body_bytes));
    if !state.cfg.allowed_origins.is_empty() {
        use tower_http::cors::{AllowOrigin, CorsLayer};
        let origins: Vec<_> = state
            .cfg
            .allowed_origins
            .iter()
            .filter_map(|o| o.parse().ok())
            .collect();
        r = r.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods(tower_http::cors::Any)
                .allow_headers(tower_http::cors::Any)
                .expose_headers([axum::http::header::ETAG]),
        );
    }
    r.with_state(state)
}
