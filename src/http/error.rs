//! One error type for the HTTP edge: a status, a stable code and a message,
//! sent as `{"error":{"code","message"}}`. Internal causes are logged only.

use crate::engine::EngineError;
use crate::protocol::{Doc, ErrorBody, ErrorDetail, RejectCode};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The current document, for conflicts.
    pub current: Option<Box<Doc>>,
    /// The offending field of the request body, for `invalid`.
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            current: None,
            field: None,
        }
    }
    /// Names the offending field of the request body.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    /// A rejected mutation as an HTTP error (REST document endpoints).
    pub fn from_reject(
        code: RejectCode,
        message: String,
        current: Option<Doc>,
        via_if_match: bool,
    ) -> Self {
        let (status, code) = match code {
            RejectCode::Conflict if via_if_match => (StatusCode::PRECONDITION_FAILED, "conflict"),
            RejectCode::Conflict => (StatusCode::CONFLICT, "conflict"),
            RejectCode::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            RejectCode::Invalid => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            RejectCode::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            RejectCode::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            RejectCode::OutOfOrder => (StatusCode::CONFLICT, "out_of_order"),
            RejectCode::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            RejectCode::StoreUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
        };
        ApiError {
            status,
            code,
            message,
            current: current.map(Box::new),
            field: None,
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(m) => ApiError::not_found(m),
            EngineError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            EngineError::Invalid(m) => ApiError::invalid(m),
            EngineError::Store(e) => {
                tracing::error!(error = %e, "store failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the database is unavailable; try again",
                )
            }
            EngineError::OverCapacity(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "over_capacity", m)
            }
            EngineError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                field: self.field,
            },
            current: self.current.map(|d| *d),
        };
        (self.status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Gives every error answer the one error shape. Our handlers already do;
/// this catches what axum answers by itself before a handler runs (a query
/// string or path segment that does not parse, a method the path does not
/// have, a WebSocket request without the upgrade headers), which comes as
/// `text/plain` or with no body. Headers such as `Allow` are kept.
pub async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let code = match status.as_u16() {
        400 => "bad_request",
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "too_large",
        415 => "unsupported_media_type",
        422 => "invalid",
        426 => "upgrade_required",
        429 => "rate_limited",
        s if s >= 500 => "internal",
        _ => "bad_request",
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut out = ApiError::new(status, code, message).into_response();
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().append(name, value.clone());
        }
    }
    out
}
