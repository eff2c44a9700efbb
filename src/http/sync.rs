//! `POST /v1/sync`: queued mutations in order, then catch-up per cursor. How
//! an offline client flushes its queue, and the polling transport's read path.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{AuthUser, JsonBody};
use crate::engine::MutationInput;
use crate::protocol::{MutationResult, Origin, RejectCode, SyncRequest, SyncResponse};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/sync", post(sync))
}

async fn sync(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    JsonBody(req): JsonBody<SyncRequest>,
) -> ApiResult<Json<SyncResponse>> {
    crate::protocol::check_client_id(&req.client_id).map_err(ApiError::invalid)?;
    if req.mutations.len() > st.cfg.max_mutations_per_sync {
        return Err(ApiError::too_large(format!(
            "{} mutations in one request; the limit is {}",
            req.mutations.len(),
            st.cfg.max_mutations_per_sync
        )));
    }
    // Check every cursor's space before applying anything.
    let mut reads = Vec::with_capacity(req.cursors.len());
    for (alias, cursor) in req.cursors {
        reads.push((st.engine.readable(&who, &alias).await?, cursor));
    }
    let mut results = Vec::with_capacity(req.mutations.len());
    let mut failed = false;
    for m in req.mutations {
        let mid = Some(m.mutation_id);
        if failed {
            results.push(unavailable(
                mid,
                "not applied: an earlier mutation in this request could not be stored",
            ));
            continue;
        }
        let client_id = m.client_id.unwrap_or_else(|| req.client_id.clone());
        let input = MutationInput {
            origin: Some(Origin {
                client_id,
                mutation_id: m.mutation_id,
            }),
            space: m.space,
            ops: m.ops,
            trusted: false,
        };
        match st.engine.mutate(&who, input).await {
            Ok((_, r)) => results.push(r),
            Err(e) => {
                tracing::warn!(error = %e, "mutation failed");
                failed = true;
                results.push(unavailable(
                    mid,
                    "the database is unavailable; retry this mutation",
                ));
            }
        }
    }
    let mut spaces = BTreeMap::new();
    for (name, cursor) in reads {
        let space = st.engine.space(&name).await?;
        // Cut at a removal from a team space (the answer then ends there).
        let (answer, _) = st
            .engine
            .catch_up_as(&who, &space, cursor.as_ref(), usize::MAX)
            .await?;
        spaces.insert(name, answer);
    }
    Ok(Json(SyncResponse { results, spaces }))
}

fn unavailable(mutation_id: Option<u64>, message: &str) -> MutationResult {
    MutationResult::Reject {
        mutation_id,
        code: RejectCode::StoreUnavailable,
        message: message.into(),
        current: None,
    }
}
