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
use super::super::extract::AuthUser;
use super::failure;
use crate::engine::{Role, valid_user_id};

pub(super) async fn model_config(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    if who.role != Role::Service {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only a service token may resolve model configurations",
        ));
    }
    if !valid_user_id(&user) {
        return Err(ApiError::not_found("not a valid user id"));
    }
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
