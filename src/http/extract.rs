//! Extractors: JSON bodies with our error shape, and the caller's identity.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::engine::Principal;

/// A JSON body: 413 past the body limit, 400 when it is not JSON, 422 when it
/// does not have the expected shape.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| match e.status() {
                axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::too_large("request body is too large")
                }
                _ => ApiError::bad_request(format!("could not read the body: {e}")),
            })?;
        parse_json(&bytes).map(JsonBody)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("body is not valid JSON: {e}")))?;
    match serde_json::from_value(value) {
        Ok(t) => Ok(t),
        // JSON (and the JSON Schemas of the OpenAPI document) count `3.0`
        // as the integer 3; serde does not. A body refused only for that
        // is read again with its whole numbers written as integers (found
        // by schemathesis: `"mutation_id": 977.0`). Bodies that parse as
        // sent are never rewritten, so a document's `1.0` stays `1.0`.
        Err(e) => {
            // Parsed again (this is the rare path): the first attempt took the value.
            let mut whole: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
            if integers(&mut whole)
                && let Ok(t) = serde_json::from_value(whole)
            {
                return Ok(t);
            }
            Err(ApiError::invalid(format!("body has the wrong shape: {e}")))
        }
    }
}

/// A JSON value already parsed, in the expected shape; like
/// [`parse_json`], a whole float (`3.0`) is read as an integer when the
/// value is refused only for that.
pub fn from_value<T: DeserializeOwned>(mut value: serde_json::Value) -> Result<T, ApiError> {
    match T::deserialize(&value) {
        Ok(t) => Ok(t),
        Err(e) => {
            if integers(&mut value)
                && let Ok(t) = serde_json::from_value(value)
            {
                return Ok(t);
            }
            Err(ApiError::invalid(format!("body has the wrong shape: {e}")))
        }
    }
}

/// Rewrites every whole float within `i64`/`u64` (`977.0`) as an integer;
/// whether any was.
fn integers(v: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            let as_int = if f.fract() != 0.0 || !f.is_finite() {
                None
            } else if f >= 0.0 && f < u64::MAX as f64 {
                Some(Value::from(f as u64))
            } else if f < 0.0 && f >= i64::MIN as f64 {
                Some(Value::from(f as i64))
            } else {
                None
            };
            as_int.map(|i| *v = i).is_some()
        }
        Value::Array(items) => items.iter_mut().fold(false, |any, x| integers(x) | any),
        Value::Object(m) => m.values_mut().fold(false, |any, x| integers(x) | any),
        _ => false,
    }
}

/// The authenticated caller, from `Authorization: Bearer`. A token in the
/// query string is refused here: URLs land in proxy and access logs. Only
/// the streaming routes, where browsers cannot send a header, take one
/// ([`StreamUser`]).
pub struct AuthUser(pub Principal);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = bearer(&parts.headers) else {
            return Err(ApiError::unauthorized(
                if query_token(parts.uri.query()).is_some() {
                    crate::obs::auth_failure("url_token");
                    "send the token in an `Authorization: Bearer` header; `access_token` in the URL is taken only by the WebSocket and SSE routes"
                } else {
                    crate::obs::auth_failure("missing");
                    "missing bearer token"
                },
            ));
        };
        verified(state, &token).map(AuthUser)
    }
}

/// The caller of a streaming route (SSE, WebSocket), from the header or
/// `?access_token=` (EventSource and WebSocket cannot send headers), with
/// the token's expiry (Unix seconds): the stream ends then.
pub struct StreamUser(pub Principal, pub u64);

impl FromRequestParts<AppState> for StreamUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).or_else(|| query_token(parts.uri.query()));
        let Some(token) = token else {
            return Err(ApiError::unauthorized("missing bearer token"));
        };
        let who = verified(state, &token)?;
        Ok(StreamUser(
            who,
            state.auth.expiry(&token).unwrap_or(u64::MAX),
        ))
    }
}

fn verified(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    state.auth.verify(token).map_err(ApiError::unauthorized)
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<String> {
    let h = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = h.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// `access_token` from a query string (browsers cannot set WebSocket headers).
pub fn query_token(query: Option<&str>) -> Option<String> {
    let q = query?;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == "access_token").then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// A body whose `Content-Length` is past the limit is refused (413) before
/// a byte of it is read: otherwise up to the limit would be read and held
/// first, for every such request at once.
pub async fn refuse_declared_oversize(
    axum::extract::State(max): axum::extract::State<usize>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > max as u64 => ApiError::too_large(format!(
            "request body is {n} bytes; at most {max} are accepted"
        ))
        .into_response(),
        _ => next.run(req).await,
    }
}
