//! `GET|PUT /api/user/model-preferences` (seed 000, camelCase) and
//! `GET|PATCH /api/user/settings` (seed 002, defaults when nothing is stored).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::Result;
use crate::domain::dates::now_rfc3339;
use crate::domain::{io, prefs, settings};
use crate::http::AppState;
use crate::http::extract::{AuthUser, JsonBody};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/user/model-preferences", get(get_prefs).put(put_prefs))
        .route(
            "/api/user/settings",
            get(get_settings).patch(patch_settings),
        )
}

async fn view(st: &AppState, space: &str) -> Result<Json<Value>> {
    let mut cols = io::read(&st.engine, space, &[prefs::COLLECTION, prefs::LOCKBOX])
        .await?
        .into_iter();
    let (p, l) = (
        cols.next().unwrap_or_default(),
        cols.next().unwrap_or_default(),
    );
    let changed = prefs::changed_at(&st.engine, space, &p).await?;
    Ok(Json(prefs::view(
        &p,
        &changed,
        &l,
        &st.domain.env_keys,
        &now_rfc3339(),
    )))
}

async fn get_prefs(State(st): State<AppState>, AuthUser(who): AuthUser) -> Result<Json<Value>> {
    let space = who.readable("user:me")?;
    view(&st, &space).await
}

/// Replaces the listed providers' preferences atomically (one mutation;
/// omitted providers are kept); answers the new state in the GET shape.
async fn put_prefs(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>> {
    let space = who.writable("user:me")?;
    let wanted = prefs::parse_put(&body)?;
    prefs::replace(&st.engine, &who, &space, &wanted, &now_rfc3339()).await?;
    view(&st, &space).await
}

async fn settings_view(st: &AppState, space: &str) -> Result<Response> {
    let c = io::read_one(&st.engine, space, settings::COLLECTION).await?;
    let held = c.get(settings::ID);
    let mut resp = Json(settings::effective(held.map(|h| &h.value))).into_response();
    let version = held.map(|h| h.version).unwrap_or(0);
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

/// The effective settings: what is stored over the defaults; `ETag` is the
/// document's version (0 when nothing is stored).
async fn get_settings(State(st): State<AppState>, AuthUser(who): AuthUser) -> Result<Response> {
    let space = who.readable("user:me")?;
    settings_view(&st, &space).await
}

/// An RFC 7396 merge patch onto `settings/ui`: two tabs changing different
/// fields both keep their change.
async fn patch_settings(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    JsonBody(patch): JsonBody<Value>,
) -> Result<Response> {
    let space = who.writable("user:me")?;
    if !patch.is_object() {
        return Err(crate::domain::check::FieldError::new(
            "",
            "must be a JSON object (a merge patch)",
        )
        .into());
    }
    let op = crate::protocol::Op::Patch {
        collection: settings::COLLECTION.into(),
        id: settings::ID.into(),
        value: patch,
        if_version: None,
    };
    let input = crate::engine::MutationInput {
        origin: None,
        space: space.clone(),
        ops: vec![op],
        trusted: false,
    };
    if let (_, crate::protocol::MutationResult::Reject { code, message, .. }) =
        st.engine.mutate(&who, input).await?
    {
        return Err(crate::domain::errors::DomainError::Rejected { code, message }.into());
    }
    settings_view(&st, &space).await
}
