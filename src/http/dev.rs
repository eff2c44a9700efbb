//! `POST /dev/token`: mints tokens for the demo page. Only with `--dev`,
//! which the server refuses unless it listens on loopback.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::JsonBody;
use crate::engine::{Role, valid_user_id};

pub fn router(dev: bool) -> Router<AppState> {
    if dev {
        Router::new().route("/dev/token", post(token))
    } else {
        Router::new()
    }
}

#[derive(Deserialize)]
struct TokenRequest {
    user: String,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    ttl_secs: Option<u64>,
}

async fn token(
    State(st): State<AppState>,
    JsonBody(req): JsonBody<TokenRequest>,
) -> ApiResult<Json<Value>> {
    if !valid_user_id(&req.user) {
        return Err(ApiError::invalid(
            "user must be 1 to 128 characters without spaces",
        ));
    }
    let role = req.role.unwrap_or(Role::User);
    if !st.cfg.dev_roles.contains(&role) {
        let name = |r: &Role| {
            serde_json::to_value(r)
                .map(|v| v.to_string())
                .unwrap_or_default()
        };
        let listed: Vec<String> = st.cfg.dev_roles.iter().map(name).collect();
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "/dev/token mints only the roles in TIDEMARK_DEV_TOKEN_ROLES ({}); add {} there to mint this one",
                listed.join(", "),
                name(&role)
            ),
        ));
    }
    let ttl = req.ttl_secs.unwrap_or(24 * 3600).clamp(1, 30 * 24 * 3600);
    let (token, exp) = st
        .auth
        .mint(&req.user, role, ttl)
        .map_err(ApiError::invalid)?;
    Ok(Json(
        json!({"token": token, "user": req.user, "role": role, "expires_at": exp}),
    ))
}
