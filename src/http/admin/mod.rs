//! The live inspector (docs/operations.md, "The inspector"): the page at
//! `/admin` and the admin API it reads.
//!
//! - `GET /admin` (and its script): a static page, served to anyone; it
//!   shows nothing until the API below answers the token pasted into it.
//! - `GET /v1/admin/overview` (`overview.rs`): connections by transport,
//!   loaded spaces with version and subscribers, totals, the catalog's
//!   providers and their status.
//! - `GET /v1/admin/spaces/{space}/events` (`events.rs`): a space's recent
//!   events, values redacted (`redact.rs`).
//! - `GET /v1/admin/stream` (`stream.rs`): server-sent events, per-second
//!   counts and connections, and a space's events as they are committed.
//!
//! Every API route needs a token of role `admin` ([`require_admin`]): 401
//! without a valid token, 403 for any other role. Counters come from `obs`
//! (what `/metrics` renders); spaces from the engine's memory. Nothing here
//! writes.

mod events;
mod overview;
pub mod redact;
mod sample;
mod stream;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

pub use events::{AdminEvent, AdminEvents};
pub use overview::Overview;
pub use stream::{EventsMessage, Stats};

use super::AppState;
use super::error::ApiError;
use crate::engine::{Principal, Role};

const PAGE: &str = include_str!("../../../clients/admin/index.html");
const SCRIPT: &str = include_str!("../../../clients/admin/admin.js");
const CHART: &str = include_str!("../../../clients/admin/chart.js");

/// The page loads only its own scripts and talks only to this server.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin",
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/admin/admin.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/admin/chart.js",
            get(|| async { asset("text/javascript; charset=utf-8", CHART) }),
        )
        .route("/v1/admin/overview", get(overview::overview))
        .route(
            "/v1/admin/spaces/{space}/events",
            get(events::recent_events),
        )
        .route("/v1/admin/stream", get(stream::stream))
}

/// The one access decision of the inspector's API: an `admin` token.
pub fn require_admin(who: &Principal) -> Result<(), ApiError> {
    if who.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the inspector needs an admin token",
        ))
    }
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}
