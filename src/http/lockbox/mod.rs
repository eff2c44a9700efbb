//! Lockbox endpoints: `GET /v1/lockbox`, `PUT|DELETE
//! /v1/lockbox/{provider}`, `POST /v1/lockbox/{provider}/validate`, `GET
//! /api/user/available-models`, and the service-only `GET
//! /internal/v1/users/{user}/model-config` and `POST
//! /internal/v1/users/{user}/lockbox/{provider}/refused`.
//!
//! Request bodies with a key are parsed straight into a `SecretString` (no
//! intermediate `serde_json::Value`), and no error message quotes them.

mod internal;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::AuthUser;
use crate::domain::lockbox::{
    ApiKeyErrorCode, LockboxEntry, LockboxError, LockboxFailure, LockboxList, Provider,
    ValidateResponse,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/lockbox", get(list))
        .route("/v1/lockbox/{provider}", put(set).delete(remove))
        .route("/v1/lockbox/{provider}/validate", post(validate))
        .route(
            "/internal/v1/users/{user}/model-config",
            get(internal::model_config),
        )
        .route(
            "/internal/v1/users/{user}/lockbox/{provider}/refused",
            post(internal::refused),
        )
        .route("/api/user/available-models", get(available_models))
}

/// `GET /api/user/available-models` (seed 004's `getAvailableModels`).
async fn available_models(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        st.lockbox
            .available_models(&st.engine, &who.user)
            .await
            .map_err(failure)?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    #[serde(deserialize_with = "secret")]
    api_key: SecretString,
}

fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    let text = Zeroizing::new(String::deserialize(d)?);
    Ok(SecretString::from(text.as_str()))
}

/// `{"api_key": "..."}`; the parser's own message is dropped (it could
/// describe the value).
fn key_body(bytes: &[u8]) -> ApiResult<SecretString> {
    serde_json::from_slice::<KeyBody>(bytes)
        .map(|b| b.api_key)
        .map_err(|_| ApiError::invalid("body must be a JSON object {\"api_key\": \"...\"}"))
}

fn provider(name: &str) -> ApiResult<Provider> {
    Provider::parse(name).map_err(|_| {
        ApiError::not_found("unknown provider: expected openai, anthropic or openrouter")
    })
}

/// `?validate=true|false|1|0` (absent = false).
fn validate_flag(query: Option<&str>) -> ApiResult<bool> {
    let mut on = false;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, "true"));
        if k != "validate" {
            continue;
        }
        on = match v {
            "true" | "1" | "" => true,
            "false" | "0" => false,
            _ => return Err(ApiError::bad_request("validate must be true or false")),
        };
    }
    Ok(on)
}

async fn list(State(st): State<AppState>, AuthUser(who): AuthUser) -> ApiResult<Json<LockboxList>> {
    let providers = st
        .lockbox
        .list(&st.engine, &who.user)
        .await
        .map_err(failure)?;
    Ok(Json(LockboxList { providers }))
}

async fn set(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Json<LockboxEntry>> {
    let provider = provider(&name)?;
    let validate = validate_flag(query.as_deref())?;
    if !st.lockbox.available() {
        return Err(failure(LockboxFailure::Unavailable));
    }
    let raw = key_body(&body)?;
    let entry = st
        .lockbox
        .set(&st.engine, &who.user, provider, raw, validate)
        .await
        .map_err(failure)?;
    Ok(Json(entry))
}

async fn remove(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    Path(name): Path<String>,
) -> ApiResult<Json<LockboxEntry>> {
    let provider = provider(&name)?;
    let entry = st
        .lockbox
        .remove(&st.engine, &who.user, provider)
        .await
        .map_err(failure)?;
    Ok(Json(entry))
}

/// Checks the key in the body, or the stored key when the body is empty or `{}`.
async fn validate(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<ValidateResponse>> {
    let provider = provider(&name)?;
    if !st.lockbox.available() {
        return Err(failure(LockboxFailure::Unavailable));
    }
    let trimmed = body.trim_ascii();
    let raw = if trimmed.is_empty() || trimmed == b"{}" {
        None
    } else {
        Some(key_body(&body)?)
    };
    let answer = st
        .lockbox
        .check(&who.user, provider, raw)
        .await
        .map_err(failure)?;
    Ok(Json(answer))
}

/// The one mapping of lockbox failures to HTTP. Seed 004's codes are kept as
/// they are (`INVALID_FORMAT`, `UNAUTHORIZED`, `QUOTA_EXCEEDED`,
/// `NETWORK_ERROR`); a key the provider refuses is the request's fault (422),
/// a provider that cannot be reached is a bad gateway (502).
pub(super) fn failure(e: LockboxFailure) -> ApiError {
    let message = e.to_string();
    match e {
        LockboxFailure::Unavailable => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
        LockboxFailure::Lockbox(LockboxError::InvalidFormat { .. }) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ApiKeyErrorCode::InvalidFormat.as_str(),
            message,
        ),
        LockboxFailure::Lockbox(e) => {
            tracing::error!(error = %e, code = e.code(), "lockbox failure");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.code(), message)
        }
        LockboxFailure::Check(f) => {
            let status = match f.code {
                ApiKeyErrorCode::NetworkError => StatusCode::BAD_GATEWAY,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            ApiError::new(status, f.code.as_str(), f.message)
        }
        LockboxFailure::NothingStored(_) => ApiError::not_found(message),
        LockboxFailure::Resolve(r) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, r.code(), message)
        }
        LockboxFailure::Store(e) => {
            tracing::error!(error = %e, "lockbox store failure");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database is unavailable; try again",
            )
        }
        LockboxFailure::Engine(e) => e.into(),
    }
}
