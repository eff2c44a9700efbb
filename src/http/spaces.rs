//! Space reads (`state`, `version` with ETag and long-poll) and the REST
//! document endpoints.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{AuthUser, JsonBody};
use crate::engine::{MutationInput, valid_collection, valid_id};
use crate::protocol::{CatchUp, Cursor, Doc, MutationResult, Op, Origin, SpaceState, VersionInfo};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/spaces/{space}/state", get(state))
        .route("/v1/spaces/{space}/version", get(version))
        .route(
            "/v1/spaces/{space}/docs/{collection}/{id}",
            get(get_doc)
                .put(put_doc)
                .patch(patch_doc)
                .delete(delete_doc),
        )
}

/// The whole space. An `If-None-Match` naming a version this node has not
/// reached yet (written on another node) is read from the database first;
/// a match answers 304.
async fn state(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    Path(space): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let name = st.engine.readable(&who, &space).await?;
    let s = st.engine.space(&name).await?;
    let held = if_none_match(&headers);
    reach_tags(&st, &s, held).await?;
    let CatchUp::Snapshot {
        epoch,
        version,
        docs,
    } = st.engine.catch_up_as(&who, &s, None, usize::MAX).await?.0
    else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "expected a snapshot",
        ));
    };
    let etag = etag(&epoch, version);
    if held.is_some_and(|v| etag_matches(v, &etag)) {
        return Ok(not_modified(etag));
    }
    let mut resp = Json(SpaceState {
        space: name,
        epoch,
        version,
        docs,
    })
    .into_response();
    resp.headers_mut().insert(header::ETAG, etag);
    Ok(resp)
}

#[derive(Deserialize)]
struct VersionQuery {
    since: Option<u64>,
    wait: Option<f64>,
}

/// Served from memory: after a space's first load no poll touches the
/// database, unless the poll names a version (`since`, `If-None-Match`) this
/// node has not reached yet; then it reads the database first and never
/// answers below that version (unless the database itself is below it).
async fn version(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    Path(space): Path<String>,
    Query(q): Query<VersionQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let name = st.engine.readable(&who, &space).await?;
    let held = if_none_match(&headers);
    let (epoch, version) = match (q.since, q.wait) {
        (Some(since), Some(wait)) if wait > 0.0 => {
            let wait = Duration::from_secs_f64(wait.min(st.cfg.long_poll_max.as_secs_f64()));
            if held.is_some() {
                let s = st.engine.space(&name).await?;
                reach_tags(&st, &s, held).await?;
            }
            let _open = crate::obs::Open::new(&crate::obs::hot().long_poll_waiters);
            tokio::select! {
                r = st.engine.wait_version(&name, since, wait) => r?,
                _ = st.shutdown.cancelled() => st.engine.head(&name).await?,
            }
        }
        _ => {
            let s = st
                .engine
                .space_at(&name, None, q.since.unwrap_or(0))
                .await?;
            reach_tags(&st, &s, held).await?;
            let d = s.read();
            (d.epoch.to_string(), d.version)
        }
    };
    // A long poll may have waited past a removal from a team space.
    if crate::engine::team_of(&name).is_some() {
        st.engine.readable(&who, &name).await?;
    }
    let tag = etag(&epoch, version);
    if held.is_some_and(|v| etag_matches(v, &tag)) {
        return Ok(not_modified(tag));
    }
    let mut resp = Json(VersionInfo {
        space: name,
        epoch,
        version,
    })
    .into_response();
    resp.headers_mut().insert(header::ETAG, tag);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

fn if_none_match(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
}

fn not_modified(tag: HeaderValue) -> Response {
    let mut resp = StatusCode::NOT_MODIFIED.into_response();
    resp.headers_mut().insert(header::ETAG, tag);
    resp
}

/// Brings the space up to the database when an `If-None-Match` tag names
/// a version of it this node has not reached (a tag from another node).
/// Tags that are not ours (`"*"`, another shape) are passed over; at most
/// four are looked at.
async fn reach_tags(
    st: &AppState,
    s: &crate::engine::space::Space,
    tags: Option<&str>,
) -> ApiResult<()> {
    for tag in tags.unwrap_or_default().split(',').take(4) {
        let t = tag.trim().trim_start_matches("W/").trim_matches('"');
        if let Ok(c) = Cursor::parse(t) {
            st.engine.reach(s, Some(&c.epoch), c.version).await?;
        }
    }
    Ok(())
}

fn etag(epoch: &str, version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{epoch}:{version}\""))
        .unwrap_or(HeaderValue::from_static("\"\""))
}

fn etag_matches(header: &str, tag: &HeaderValue) -> bool {
    let tag = tag.to_str().unwrap_or_default();
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == tag)
}

fn check_target(collection: &str, id: &str) -> ApiResult<()> {
    if !valid_collection(collection) {
        return Err(ApiError::invalid(format!(
            "collection `{collection}` must match [a-z0-9_]{{1,64}}"
        )));
    }
    if !valid_id(id) {
        return Err(ApiError::invalid("document id must be 1 to 512 bytes"));
    }
    Ok(())
}

async fn get_doc(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    Path((space, collection, id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let name = st.engine.readable(&who, &space).await?;
    check_target(&collection, &id)?;
    let s = st.engine.space(&name).await?;
    let (version, raw) = {
        let d = s.read();
        match d.get(&collection, &id) {
            Some(e) if e.value.is_some() => (e.version, e.value.clone()),
            _ => {
                return Err(ApiError::not_found(format!(
                    "{collection}/{id} does not exist in {name}"
                )));
            }
        }
    };
    let value = raw
        .map(|r| serde_json::from_str(r.get()).unwrap_or_default())
        .unwrap_or_default();
    let mut resp = Json(Doc {
        collection,
        id,
        version,
        value,
    })
    .into_response();
    resp.headers_mut().insert(header::ETAG, doc_etag(version));
    Ok(resp)
}

fn doc_etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// `If-Match: "12"` -> `if_version = 12`.
fn if_match(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .map_err(|_| ApiError::bad_request("If-Match is not ASCII"))?
        .trim();
    let s = s.trim_start_matches("W/").trim_matches('"');
    s.parse()
        .map(Some)
        .map_err(|_| ApiError::bad_request("If-Match must be a document version such as \"12\""))
}

/// Optional idempotency: `Tidemark-Client-Id` + `Tidemark-Mutation-Id`.
fn origin(headers: &HeaderMap) -> ApiResult<Option<Origin>> {
    let cid = headers
        .get("tidemark-client-id")
        .and_then(|v| v.to_str().ok());
    let mid = headers
        .get("tidemark-mutation-id")
        .and_then(|v| v.to_str().ok());
    match (cid, mid) {
        (None, None) => Ok(None),
        (Some(c), Some(m)) => Ok(Some(Origin {
            client_id: c.to_string(),
            mutation_id: m
                .parse()
                .map_err(|_| ApiError::bad_request("Tidemark-Mutation-Id must be a number"))?,
        })),
        _ => Err(ApiError::bad_request(
            "send both Tidemark-Client-Id and Tidemark-Mutation-Id, or neither",
        )),
    }
}

type DocPath = Path<(String, String, String)>;

/// The shared path of PUT, PATCH and DELETE: check, build the op, mutate, map
/// the result to a response.
async fn write(
    st: AppState,
    who: crate::engine::Principal,
    Path((space, collection, id)): DocPath,
    headers: &HeaderMap,
    make_op: impl FnOnce(String, String, Option<u64>) -> Op,
) -> ApiResult<Response> {
    who.writable(&space)?;
    check_target(&collection, &id)?;
    let if_version = if_match(headers)?;
    let input = MutationInput {
        origin: origin(headers)?,
        space,
        ops: vec![make_op(collection, id, if_version)],
        trusted: false,
    };
    let (_, result) = st.engine.mutate(&who, input).await?;
    match result {
        MutationResult::Ack { version, .. } => {
            let mut resp = Json(&result).into_response();
            resp.headers_mut().insert(header::ETAG, doc_etag(version));
            Ok(resp)
        }
        MutationResult::Reject {
            code,
            message,
            current,
            ..
        } => Err(ApiError::from_reject(
            code,
            message,
            current,
            if_version.is_some(),
        )),
    }
}

async fn put_doc(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    path: DocPath,
    headers: HeaderMap,
    JsonBody(value): JsonBody<serde_json::Value>,
) -> ApiResult<Response> {
    write(st, who, path, &headers, |collection, id, if_version| {
        Op::Put {
            collection,
            id,
            value,
            if_version,
        }
    })
    .await
}

async fn patch_doc(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    path: DocPath,
    headers: HeaderMap,
    JsonBody(value): JsonBody<serde_json::Value>,
) -> ApiResult<Response> {
    write(st, who, path, &headers, |collection, id, if_version| {
        Op::Patch {
            collection,
            id,
            value,
            if_version,
        }
    })
    .await
}

async fn delete_doc(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    path: DocPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    write(st, who, path, &headers, |collection, id, if_version| {
        Op::Delete {
            collection,
            id,
            if_version,
        }
    })
    .await
}
