//! The table of operations, part three: teams (`http/teams.rs`).

use serde_json::{Value, json};

use super::ops::op;
use super::{Op, json_ok, object, path_param};

fn team() -> Value {
    object(json!({
        "id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
        "space": {"type": "string", "description": "`team:{id}`: read and write it like any space."},
        "name": {"type": "string"},
        "role": role(),
    }))
}

fn role() -> Value {
    json!({"type": "string", "enum": ["owner", "editor", "viewer"]})
}

fn member() -> Value {
    object(json!({"user": {"type": "string"}, "role": role()}))
}

fn id() -> Value {
    path_param(
        "id",
        "The team's id (from `POST /v1/teams`).",
        "0190a1b2c3d4e5f6",
    )
}

fn user() -> Value {
    path_param("user", "A user id.", "bob")
}

pub fn all() -> Vec<Op> {
    vec![
        op("post", "/v1/teams", "teams", "Create a team")
            .describe("The caller becomes its owner. Its space `team:{id}` holds its members (`_members`, written only here) and its name (`_team/info`).")
            .body(object(json!({"name": {"type": "string", "minLength": 1, "maxLength": 100}})))
            .ok(201, json_ok("The new team, with the caller's role.", team()))
            .fails(&[503]),
        op("get", "/v1/teams", "teams", "The caller's teams")
            .ok(200, json_ok("Each team the caller is a member of, with their role.", json!({"type": "array", "items": team()})))
            .fails(&[503]),
        op("get", "/v1/teams/{id}/members", "teams", "A team's members")
            .describe("Members (and admins) only: anyone else gets 403, as for a team that does not exist.")
            .param(id())
            .ok(200, json_ok("Members in user id order.", json!({"type": "array", "items": member()})))
            .fails(&[403, 503]),
        op("put", "/v1/teams/{id}/members/{user}", "teams", "Add a member or change a role")
            .describe("Owners and admins only; nobody raises their own role. A change that would leave the team without an owner: 409.")
            .param(id())
            .param(user())
            .body(object(json!({"role": role()})))
            .ok(200, json_ok("The member's role now.", member()))
            .fails(&[403, 409, 503]),
        op("delete", "/v1/teams/{id}/members/{user}", "teams", "Remove a member (or leave)")
            .describe("Owners and admins remove anyone; anyone may remove themself. The last owner cannot leave (409). A removed member's live subscriptions end at once (`revoked`).")
            .param(id())
            .param(user())
            .ok(204, json!({"description": "Removed."}))
            .fails(&[403, 409, 422, 503]),
    ]
}
