//! `/v1/teams`: create teams and manage their members (docs/protocol.md,
//! "Teams"). A team's members live in its space (`engine/team.rs`); these
//! handlers write them as trusted mutations, so a member change is an event
//! every member's tab sees, and the engine keeps the invariants (a client
//! never writes `_members`; a team never loses its last owner) under the
//! space's writer lock. Each member's own space also gets an index document
//! (`_teams/{id}`) that `GET /v1/teams` lists, checked against the team.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{AuthUser, JsonBody};
use crate::engine::team::{INFO, MEMBERS, TeamRole};
use crate::engine::{MutationInput, Principal, Role, valid_team_id, valid_user_id};
use crate::protocol::{MutationResult, Op};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/teams", get(list).post(create))
        .route("/v1/teams/{id}/members", get(members))
        .route(
            "/v1/teams/{id}/members/{user}",
            put(set_member).delete(remove_member),
        )
}

/// Index documents in each member's own space.
const INDEX: &str = "_teams";
const MAX_NAME: usize = 100;

#[derive(Deserialize)]
struct NewTeam {
    name: String,
}

#[derive(Deserialize)]
struct RoleBody {
    role: String,
}

fn space_of(id: &str) -> ApiResult<String> {
    if valid_team_id(id) {
        Ok(format!("team:{id}"))
    } else {
        // Same answer as a team the caller is not in: nothing is learned.
        Err(not_member())
    }
}

fn not_member() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "this token may not access that space",
    )
}

fn team_json(id: &str, name: &str, role: TeamRole) -> Value {
    json!({"id": id, "space": format!("team:{id}"), "name": name, "role": role.as_str()})
}

/// One trusted write; a rejection becomes the matching HTTP error.
async fn write(st: &AppState, who: &Principal, space: String, ops: Vec<Op>) -> ApiResult<()> {
    let input = MutationInput {
        origin: None,
        space,
        ops,
        trusted: true,
    };
    match st.engine.mutate(who, input).await?.1 {
        MutationResult::Ack { .. } => Ok(()),
        MutationResult::Reject {
            code,
            message,
            current,
            ..
        } => Err(ApiError::from_reject(code, message, current, false)),
    }
}

fn put_op(collection: &str, id: &str, value: Value) -> Op {
    Op::Put {
        collection: collection.into(),
        id: id.into(),
        value,
        if_version: None,
    }
}

/// The member's own index entry; best effort (the team is what counts).
async fn index(st: &AppState, user: &str, team: &str, role: Option<TeamRole>) {
    let op = match role {
        Some(r) => put_op(INDEX, team, json!({"role": r.as_str()})),
        None => Op::Delete {
            collection: INDEX.into(),
            id: team.into(),
            if_version: None,
        },
    };
    let service = Principal {
        user: user.to_string(),
        role: Role::Service,
    };
    if let Err(e) = write(st, &service, format!("user:{user}"), vec![op]).await {
        tracing::warn!(team, code = e.code, "a member's team index was not updated");
    }
}

async fn create(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    JsonBody(body): JsonBody<NewTeam>,
) -> ApiResult<Response> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "`name` must be 1 to {MAX_NAME} printable characters"
        )));
    }
    if !valid_user_id(&who.user) {
        return Err(ApiError::invalid("this user id cannot own a team"));
    }
    let id = uuid::Uuid::now_v7().simple().to_string();
    let at = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let ops = vec![
        put_op(
            INFO,
            "info",
            json!({"name": name, "created_by": who.user, "created_at": at}),
        ),
        put_op(MEMBERS, &who.user, json!({"role": "owner"})),
    ];
    write(&st, &who, format!("team:{id}"), ops).await?;
    index(&st, &who.user, &id, Some(TeamRole::Owner)).await;
    Ok((
        StatusCode::CREATED,
        Json(team_json(&id, name, TeamRole::Owner)),
    )
        .into_response())
}

/// The caller's teams: their index, each entry checked against the team.
async fn list(State(st): State<AppState>, AuthUser(who): AuthUser) -> ApiResult<Json<Value>> {
    let own = st.engine.space(&format!("user:{}", who.user)).await?;
    let ids: Vec<String> = own
        .read()
        .docs
        .get(INDEX)
        .map(|c| {
            c.iter()
                .filter(|(_, e)| e.value.is_some())
                .map(|(id, _)| id.clone())
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for id in ids.iter().filter(|id| valid_team_id(id)) {
        let space = format!("team:{id}");
        let Some(role) = st.engine.team_role(&who, &space).await? else {
            continue;
        };
        let team = st.engine.space(&space).await?;
        let name = team_name(&team.read());
        out.push(team_json(id, &name, role));
    }
    Ok(Json(Value::Array(out)))
}

fn team_name(d: &crate::engine::space::SpaceData) -> String {
    d.docs
        .get(INFO)
        .and_then(|c| c.get("info"))
        .and_then(|e| e.value.as_ref())
        .and_then(|v| serde_json::from_str::<Value>(v.get()).ok())
        .and_then(|v| v["name"].as_str().map(str::to_string))
        .unwrap_or_default()
}

async fn members(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let space = space_of(&id)?;
    let list = if who.role == Role::Admin {
        let s = st.engine.space(&space).await?;
        crate::engine::team::members(&s.read())
    } else {
        st.engine.team_members(&who, &space).await?
    };
    if list.is_empty() {
        return Err(not_member()); // no such team
    }
    Ok(Json(Value::Array(
        list.into_iter()
            .map(|(user, role)| json!({"user": user, "role": role.as_str()}))
            .collect(),
    )))
}

/// The caller's standing in a team: admin (manages any team), or their role.
async fn standing(st: &AppState, who: &Principal, space: &str) -> ApiResult<Option<TeamRole>> {
    if who.role == Role::Admin {
        return Ok(Some(TeamRole::Owner));
    }
    let role = st.engine.team_role(who, space).await?;
    role.map(Some).ok_or_else(not_member)
}

async fn set_member(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    Path((id, user)): Path<(String, String)>,
    JsonBody(body): JsonBody<RoleBody>,
) -> ApiResult<Json<Value>> {
    let space = space_of(&id)?;
    let Some(role) = TeamRole::parse(&body.role) else {
        return Err(ApiError::invalid(
            "`role` must be `owner`, `editor` or `viewer`",
        ));
    };
    if !valid_user_id(&user) {
        return Err(ApiError::invalid("not a user id"));
    }
    let mine = standing(&st, &who, &space).await?;
    if mine != Some(TeamRole::Owner) {
        // Only owners (and admins) manage members; nobody raises themself.
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only the team's owners may add members or change roles",
        ));
    }
    write(
        &st,
        &who,
        space,
        vec![put_op(MEMBERS, &user, json!({"role": role.as_str()}))],
    )
    .await?;
    index(&st, &user, &id, Some(role)).await;
    Ok(Json(json!({"user": user, "role": role.as_str()})))
}

async fn remove_member(
    State(st): State<AppState>,
    AuthUser(who): AuthUser,
    Path((id, user)): Path<(String, String)>,
) -> ApiResult<Response> {
    let space = space_of(&id)?;
    let mine = standing(&st, &who, &space).await?;
    let leaving = user == who.user;
    if !leaving && mine != Some(TeamRole::Owner) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only the team's owners may remove members (anyone may leave)",
        ));
    }
    let op = Op::Delete {
        collection: MEMBERS.into(),
        id: user.clone(),
        if_version: None,
    };
    write(&st, &who, space, vec![op]).await?;
    index(&st, &user, &id, None).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
