//! Seed 003's chat sync: `POST /api/chat/sync` takes the full-history payload
//! and writes only what changed; `GET /api/chat/sync[?since=VERSION]` reads
//! it back; `GET /api/usage/daily[?from=DATE&to=DATE]` shows the counters.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::Result;
use crate::domain::chat::{self, sync::SyncReport};
use crate::domain::check::FieldError;
use crate::domain::dates;
use crate::http::AppState;
use crate::http::extract::{AuthUser, JsonBody};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/chat/sync", get(history).post(post_sync))
        .route("/api/usage/daily", get(usage))
}

async fn post_sync(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<SyncReport>> {
    let space = who.writable("user:me")?;
    let payload = chat::parse(&body)?;
    Ok(Json(
        chat::sync::apply(&st.engine, &who, &space, &payload).await?,
    ))
}

async fn history(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    let space = who.readable("user:me")?;
    let since = match q.get("since") {
        None => None,
        Some(s) => Some(s.parse::<u64>().map_err(|_| {
            FieldError::new("since", "must be a version number from an earlier answer")
        })?),
    };
    Ok(Json(chat::view::history(&st.engine, &space, since).await?))
}

fn day(q: &HashMap<String, String>, key: &str) -> std::result::Result<Option<i64>, FieldError> {
    match q.get(key) {
        None => Ok(None),
        Some(s) => dates::parse_day(s)
            .map(Some)
            .ok_or_else(|| FieldError::new(key, "must be a date such as 2026-11-21")),
    }
}

async fn usage(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    let space = who.readable("user:me")?;
    let (from, to) = (day(&q, "from")?, day(&q, "to")?);
    Ok(Json(chat::view::usage(&st.engine, &space, from, to).await?))
}
