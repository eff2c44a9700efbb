//! `GET /metrics`: Prometheus text exposition of what `obs` records
//! (docs/operations.md). By default it answers only an `admin` or
//! `service` token (`TIDEMARK_METRICS=admin`); `public` serves it without
//! one (for a private network), `off` not at all.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;
use super::error::ApiError;
use super::extract::AuthUser;
use crate::engine::Role;

/// Who may read `/metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exposure {
    Off,
    Admin,
    Public,
}

impl std::str::FromStr for Exposure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Exposure::Off),
            "admin" => Ok(Exposure::Admin),
            "public" => Ok(Exposure::Public),
            other => Err(format!(
                "TIDEMARK_METRICS: `{other}` is not off, admin or public"
            )),
        }
    }
}

pub fn router(exposure: Exposure) -> Router<AppState> {
    match exposure {
        Exposure::Off => Router::new(),
        Exposure::Admin => Router::new().route("/metrics", get(for_admins)),
        Exposure::Public => Router::new().route("/metrics", get(page)),
    }
}

async fn for_admins(st: State<AppState>, AuthUser(who): AuthUser) -> impl IntoResponse {
    if who.role == Role::User {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "/metrics needs an admin or service token (TIDEMARK_METRICS=admin)",
        )
        .into_response();
    }
    page(st).await.into_response()
}

async fn page(State(st): State<AppState>) -> impl IntoResponse {
    crate::obs::set_loaded_spaces(st.engine.loaded_spaces(), st.engine.held_bytes());
    crate::obs::set_outbound_queued(st.outbound.queued());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::obs::install().render(),
    )
}
