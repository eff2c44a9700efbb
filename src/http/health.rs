use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, ApiResult};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// Answers once the server accepts requests.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Answers once the store is reachable.
async fn readyz(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    match st.engine.store().ping().await {
        Ok(()) => Ok(Json(
            json!({"status": "ready", "store": st.engine.store().kind()}),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database is unreachable",
            ))
        }
    }
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}
