//! Seed 001's provider sync API (snake_case): state, sync by version, version,
//! model lists and availability. Everyone signed in reads the catalog.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Result;
use crate::domain::catalog::view::{Catalog, sync_response};
use crate::domain::check::FieldError;
use crate::domain::dates;
use crate::domain::errors::DomainError;
use crate::engine::CATALOG;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{AuthUser, JsonBody};
use crate::protocol::Cursor;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/provider-sync/state", get(state))
        .route("/provider-sync/sync", post(sync))
        .route("/provider-sync/version", get(version))
        .route("/provider-sync/models", get(models))
        .route(
            "/provider-sync/providers/{id}/availability",
            get(provider_availability),
        )
        .route(
            "/provider-sync/models/{id}/availability",
            get(model_availability),
        )
}

/// The catalog at its current version, from memory.
pub(super) async fn snapshot(st: &AppState) -> Result<Catalog> {
    let space = st.engine.space(CATALOG).await?;
    let answer = st.engine.catch_up(&space, None).await?;
    Catalog::from_catch_up(&answer).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "expected a snapshot",
        )
        .into()
    })
}

async fn state(State(st): State<AppState>, AuthUser(who): AuthUser) -> Result<Json<Value>> {
    who.readable(CATALOG)?;
    Ok(Json(snapshot(&st).await?.state()))
}

#[derive(Deserialize)]
struct SyncBody {
    /// The version the client holds; `null` or absent: nothing.
    #[serde(default)]
    client_version: Option<u64>,
    /// The epoch it came from, when the client knows it; the current one otherwise.
    #[serde(default)]
    client_epoch: Option<String>,
}

async fn sync(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>> {
    // serde reads a struct from an array too (`[null, null]`); the body is
    // an object.
    if !body.is_object() {
        return Err(
            FieldError::new("", "must be a JSON object {client_version, client_epoch}").into(),
        );
    }
    let body: SyncBody = crate::http::extract::from_value(body)?;
    who.readable(CATALOG)?;
    let space = st.engine.space(CATALOG).await?;
    let epoch = match body.client_epoch {
        Some(e) => e,
        None => space.read().epoch.to_string(),
    };
    let cursor = body.client_version.map(|version| Cursor { epoch, version });
    let answer = st.engine.catch_up(&space, cursor.as_ref()).await?;
    Ok(Json(sync_response(&answer)))
}

/// Served from memory, like `/v1/spaces/{space}/version`.
async fn version(State(st): State<AppState>, AuthUser(who): AuthUser) -> Result<Json<Value>> {
    who.readable(CATALOG)?;
    let (epoch, version) = st.engine.head(CATALOG).await?;
    Ok(Json(
        json!({"version": version, "epoch": epoch, "server_time": dates::now_rfc3339()}),
    ))
}

/// `?provider_id=openai&include_deprecated=true` (deprecated and sunset
/// models are left out unless asked for).
async fn models(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    who.readable(CATALOG)?;
    let include = match q.get("include_deprecated").map(String::as_str) {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(_) => {
            return Err(FieldError::new("include_deprecated", "must be true or false").into());
        }
    };
    let provider = q
        .get("provider_id")
        .map(String::as_str)
        .filter(|p| !p.is_empty());
    let c = snapshot(&st).await?;
    let list = c.list_models(provider, include);
    Ok(Json(
        json!({"models": list, "total": list.len(), "version": c.version}),
    ))
}

async fn provider_availability(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    who.readable(CATALOG)?;
    let c = snapshot(&st).await?;
    c.provider_availability(&id)
        .map(Json)
        .ok_or_else(|| DomainError::NotFound(format!("no provider `{id}` in the catalog")).into())
}

async fn model_availability(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    who.readable(CATALOG)?;
    let c = snapshot(&st).await?;
    c.model_availability(&id, dates::today())
        .map(Json)
        .ok_or_else(|| DomainError::NotFound(format!("no model `{id}` in the catalog")).into())
}
