//! The seeds' compatibility façades (README, "Seed features"), thin over the domain
//! layer: model preferences and settings (seeds 000, 002), provider sync
//! (seed 001), chat sync and usage (seed 003), and the catalog admin endpoint.

mod admin;
mod chat;
mod prefs;
mod provider_sync;
mod provider_ws;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::domain::errors::DomainError;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(prefs::router())
        .merge(provider_sync::router())
        .merge(provider_ws::router())
        // Seed 001's front-end config: `apiBaseUrl: '/api/provider-sync'`,
        // `wsUrl: '/api/provider-sync/ws'`. Same handlers under both prefixes.
        .nest("/api", provider_sync::router().merge(provider_ws::router()))
        .merge(chat::router())
        .merge(admin::router())
}

/// A failure of a façade: the edge's own, or the domain's as
/// `{"error":{"code","message"}}`, where bad input adds the offending `field`
/// (`providers[0].enabledModels[1]`).
pub enum Error {
    Api(ApiError),
    Domain(DomainError),
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Api(e)
    }
}

impl From<DomainError> for Error {
    fn from(e: DomainError) -> Self {
        Error::Domain(e)
    }
}

impl From<crate::engine::EngineError> for Error {
    fn from(e: crate::engine::EngineError) -> Self {
        Error::Api(e.into())
    }
}

impl From<crate::domain::check::FieldError> for Error {
    fn from(e: crate::domain::check::FieldError) -> Self {
        Error::Domain(DomainError::Invalid(e))
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let e = match self {
            Error::Api(e) => return e.into_response(),
            Error::Domain(e) => e,
        };
        match e {
            DomainError::Invalid(f) => ApiError::invalid(f.to_string())
                .with_field(f.field)
                .into_response(),
            DomainError::Rejected { code, message } => {
                ApiError::from_reject(code, message, None, false).into_response()
            }
            DomainError::Busy(m) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", m).into_response()
            }
            DomainError::NotFound(m) => ApiError::not_found(m).into_response(),
            DomainError::Engine(e) => ApiError::from(e).into_response(),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
