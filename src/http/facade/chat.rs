//! Seed 003's chat sync: `POST /api/chat/sync` takes the full-history payload
//! and writes only what changed, as one mutation; `GET
//! /api/chat/sync[?since=VERSION|ISO_TIME][&limit=N&cursor=C]` reads it back; `GET /api/usage/daily[?from=DATE&to=DATE]` shows the counters.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::Result;
use crate::domain::chat::view::{Cursor, Page, Since};
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
    let since = match q.get("since").map(String::as_str) {
        None | Some("") => None,
        Some(s) => Some(Since::parse(s).ok_or_else(|| {
            FieldError::new(
                "since",
                "must be a version number from an earlier answer or an ISO 8601 time with a zone (2026-11-20T09:00:00.000Z)",
            )
        })?),
    };
    let limit = match q.get("limit") {
        None => None,
        Some(s) => Some(
            s.parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| {
                    FieldError::new("limit", format!("must be a number from 1 to {MAX_PAGE}"))
                })?,
        ),
    };
    let after = match q.get("cursor").map(String::as_str) {
        None | Some("") => None,
        Some(s) => Some(Cursor::decode(s).ok_or_else(|| {
            FieldError::new("cursor", "must be a nextCursor from an earlier answer")
        })?),
    };
    let page = Page { limit, after };
    Ok(Json(
        chat::view::history(&st.engine, &space, since, page).await?,
    ))
}

/// Most messages one page of history may hold.
const MAX_PAGE: usize = 10_000;

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
