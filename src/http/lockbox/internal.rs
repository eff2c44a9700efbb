//! `GET /internal/v1/users/{user}/model-config`: provider, model and API key
//! for a back-end service about to call the provider on the user's behalf.
//! The only answer that carries a plaintext key: `service` tokens only, never
//! cached.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::super::AppState;
use super::super::error::{ApiError, ApiResult};
use super::super::extract::{AuthUser, JsonBody};
use super::failure;
use crate::engine::{Role, valid_user_id};

fn service_only(who: &crate::engine::Principal, user: &str, what: &str) -> ApiResult<()> {
    if who.role != Role::Service {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("only a service token may {what}"),
        ));
    }
    if !valid_user_id(user) {
        return Err(ApiError::not_found("not a valid user id"));
    }
    Ok(())
}

pub(super) async fn model_config(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    service_only(&who, &user, "resolve model configurations")?;
    let resolved = st
        .lockbox
        .resolve(&st.engine, &user)
        .await
        .map_err(failure)?;
    let mut resp = Json(resolved).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Refused {
    /// What the provider answered: 401 or 403.
    status: u16,
    /// The resolution's `key_version`: the key that was refused.
    #[serde(default)]
    key_version: Option<String>,
}

/// `POST /internal/v1/users/{user}/lockbox/{provider}/refused` `{"status":
/// 401}`: a back-end service called the provider with the user's stored key
/// and was refused; later resolutions use the server's key where there is
/// one (seed 004's fallback) until the user sets a new key.
pub(super) async fn refused(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    Path((user, provider)): Path<(String, String)>,
    JsonBody(body): JsonBody<Refused>,
) -> ApiResult<Json<serde_json::Value>> {
    service_only(&who, &user, "report a refused key")?;
    let provider = super::provider(&provider)?;
    if !matches!(body.status, 401 | 403) {
        return Err(ApiError::invalid(
            "status must be 401 or 403: only a refusal marks a key",
        ));
    }
    let marked = st
        .lockbox
        .report_refused(&user, provider, body.status, body.key_version.as_deref())
        .await
        .map_err(failure)?;
    Ok(Json(
        serde_json::json!({"provider": provider, "refused": marked}),
    ))
}
