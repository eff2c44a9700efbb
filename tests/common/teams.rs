//! Team spaces through the HTTP API (`/v1/teams`), as a client drives them.

use serde_json::{Value, json};

use super::TestServer;

/// Creates a team as the caller (its owner); returns its id.
pub async fn create(s: &TestServer, t: &str, name: &str) -> String {
    let (st, v) = s
        .send("POST", t, "/v1/teams", Some(json!({ "name": name })))
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["role"], "owner", "{v}");
    assert_eq!(v["space"], format!("team:{}", v["id"].as_str().unwrap()));
    v["id"].as_str().unwrap().to_string()
}

pub async fn set_role(s: &TestServer, t: &str, team: &str, user: &str, role: &str) -> (u16, Value) {
    s.send(
        "PUT",
        t,
        &format!("/v1/teams/{team}/members/{user}"),
        Some(json!({ "role": role })),
    )
    .await
}

pub async fn remove(s: &TestServer, t: &str, team: &str, user: &str) -> u16 {
    s.send(
        "DELETE",
        t,
        &format!("/v1/teams/{team}/members/{user}"),
        None,
    )
    .await
    .0
}

/// Creates a team and adds `editors`; returns its id and its space.
pub async fn team_with(s: &TestServer, owner: &str, editors: &[&str]) -> (String, String) {
    let id = create(s, owner, "Team").await;
    for e in editors {
        let (st, v) = set_role(s, owner, &id, e, "editor").await;
        assert_eq!(st, 200, "{v}");
    }
    let space = format!("team:{id}");
    (id, space)
}
