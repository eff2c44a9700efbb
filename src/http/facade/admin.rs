//! `POST /api/admin/catalog` (role `admin`): loads a catalog file through the
//! running server, so subscribers get the events at once. What
//! `tidemark catalog load FILE --server URL` calls.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

use super::Result;
use crate::domain::catalog::load::{LoadReport, load, parse_file};
use crate::engine::Role;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{AuthUser, JsonBody};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/admin/catalog", post(load_catalog))
}

async fn load_catalog(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<LoadReport>> {
    if who.role != Role::Admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only an admin may load the catalog",
        )
        .into());
    }
    let file = parse_file(&body)?;
    Ok(Json(load(&st.engine, &file).await?))
}
