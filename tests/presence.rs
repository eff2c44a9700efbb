//! Presence (issue 21): `presence_set` over a WebSocket; every subscriber
//! of the space gets `presence_state` after its first answer and a
//! `presence_diff` on each change; `GET /v1/spaces/{space}/presence` lists
//! the same; a connection's presence goes when it closes, when its client
//! is killed (the socket just drops), when it falls silent past the
//! heartbeat timeout, and when its user is removed from the team. Never
//! durable, never a version.

#[macro_use]
mod common;

use std::time::Duration;

use common::sse::Sse;
use common::ws::Ws;
use common::{Backend, TestServer};
use serde_json::{Value, json};

both_stores!(
    tabs_see_each_other_come_change_and_go,
    a_dead_or_removed_connection_leaves,
    an_sse_reader_sees_presence_too,
);

/// The next message of type `kind`, skipping others (within 10 s).
async fn until(ws: &mut Ws, kind: &str) -> Value {
    for _ in 0..50 {
        let m = ws.recv().await;
        if m["type"] == kind {
            return m;
        }
    }
    panic!("no `{kind}` message");
}

async fn join(s: &TestServer, token: &str, tab: &str, space: &str) -> (Ws, Value) {
    let mut ws = Ws::open(&s.base, token).await;
    ws.presence = true;
    ws.hello(tab, json!({ space: null })).await;
    let state = until(&mut ws, "presence_state").await;
    (ws, state)
}

fn set(space: &str, state: Value) -> Value {
    json!({"type": "presence_set", "space": space, "state": state})
}

async fn tabs_see_each_other_come_change_and_go(backend: Backend) {
    let (s, _db) = common::start_with(backend, |_| {}).await;
    let alice = s.token("alice");
    let (mut t1, first) = join(&s, &alice, "tab-1", "user:me").await;
    assert_eq!(
        first,
        json!({"type": "presence_state", "space": "user:alice", "members": []})
    );
    let version = s.get(&alice, "/v1/spaces/user:me/version").await.1["version"].clone();
    t1.send(set("user:me", json!({"tab": "settings"}))).await;
    let d = until(&mut t1, "presence_diff").await;
    let me1 = json!({"user": "alice", "client_id": "tab-1", "state": {"tab": "settings"}});
    assert_eq!(d["joins"], json!([me1]), "{d}");
    // A second tab gets the state, then the first tab's change as a diff.
    let (mut t2, state) = join(&s, &alice, "tab-2", "user:me").await;
    assert_eq!(state["members"], json!([me1]), "{state}");
    t1.send(set("user:me", json!({"tab": "chat", "typing": true})))
        .await;
    let me1b =
        json!({"user": "alice", "client_id": "tab-1", "state": {"tab": "chat", "typing": true}});
    for ws in [&mut t1, &mut t2] {
        let d = until(ws, "presence_diff").await;
        assert_eq!(
            (&d["joins"], &d["leaves"]),
            (&json!([me1b]), &json!([me1])),
            "{d}"
        );
    }
    let (st, listed) = s.get(&alice, "/v1/spaces/user:me/presence").await;
    assert_eq!(st, 200);
    assert_eq!(listed, json!({"space": "user:alice", "members": [me1b]}));
    // Presence is not data: the space's version did not move.
    assert_eq!(
        s.get(&alice, "/v1/spaces/user:me/version").await.1["version"],
        version
    );
    // Another user sees nothing of it.
    let bob = s.token("bob");
    assert_eq!(s.get(&bob, "/v1/spaces/user:alice/presence").await.0, 403);
    // Limits: a state over 1 KiB, a space not subscribed.
    t2.send(set("user:me", json!({"big": "x".repeat(2000)})))
        .await;
    let e = until(&mut t2, "error").await;
    assert_eq!(e["code"], "too_large", "{e}");
    t2.send(set("catalog", json!({}))).await;
    let e = until(&mut t2, "error").await;
    assert_eq!(e["code"], "bad_message", "{e}");
    // Tab 1 closes: tab 2 sees it leave.
    drop(t1);
    let d = until(&mut t2, "presence_diff").await;
    assert_eq!(
        (&d["joins"], &d["leaves"]),
        (&json!([]), &json!([me1b])),
        "{d}"
    );
    assert_eq!(
        s.get(&alice, "/v1/spaces/user:me/presence").await.1["members"],
        json!([])
    );
    s.stop().await;
}

async fn a_dead_or_removed_connection_leaves(backend: Backend) {
    let (s, _db) = common::start_with(backend, |a| a.heartbeat_ms = 300).await;
    let (alice, bob) = (s.token("alice"), s.token("bob"));
    let (st, team) = s
        .send("POST", &alice, "/v1/teams", Some(json!({"name": "P"})))
        .await;
    assert_eq!(st, 201);
    let id = team["id"].as_str().unwrap();
    let space = format!("team:{id}");
    let (st, _) = s
        .send(
            "PUT",
            &alice,
            &format!("/v1/teams/{id}/members/bob"),
            Some(json!({"role": "editor"})),
        )
        .await;
    assert_eq!(st, 200);
    let (mut watcher, _) = join(&s, &alice, "a", &space).await;
    // A client that goes silent (reads nothing, answers no ping): gone
    // after the heartbeat timeout.
    let (mut silent, _) = join(&s, &bob, "b-silent", &space).await;
    silent.send(set(&space, json!({"n": 1}))).await;
    let d = until(&mut watcher, "presence_diff").await;
    assert_eq!(d["joins"][0]["client_id"], "b-silent", "{d}");
    let d = until(&mut watcher, "presence_diff").await;
    assert_eq!(d["leaves"][0]["client_id"], "b-silent", "{d}");
    drop(silent);
    // A killed client (its socket just drops, no close frame).
    let (mut killed, _) = join(&s, &bob, "b-killed", &space).await;
    killed.send(set(&space, json!({"n": 2}))).await;
    let d = until(&mut watcher, "presence_diff").await;
    assert_eq!(d["joins"][0]["client_id"], "b-killed", "{d}");
    let tcp = killed.ws.get_mut();
    if let tokio_tungstenite::MaybeTlsStream::Plain(t) = tcp {
        // RST on drop, like a killed process.
        let _ = socket2::SockRef::from(&*t).set_linger(Some(Duration::ZERO));
    }
    drop(killed);
    let d = until(&mut watcher, "presence_diff").await;
    assert_eq!(d["leaves"][0]["client_id"], "b-killed", "{d}");
    // A member removed from the team leaves its presence too.
    let (mut kept, _) = join(&s, &bob, "b-kept", &space).await;
    kept.send(set(&space, json!({"n": 3}))).await;
    let d = until(&mut watcher, "presence_diff").await;
    assert_eq!(d["joins"][0]["client_id"], "b-kept", "{d}");
    let st = s
        .send(
            "DELETE",
            &alice,
            &format!("/v1/teams/{id}/members/bob"),
            None,
        )
        .await
        .0;
    assert_eq!(st, 204);
    assert_eq!(until(&mut kept, "revoked").await["space"], space.as_str());
    let d = until(&mut watcher, "presence_diff").await;
    assert_eq!(d["leaves"][0]["client_id"], "b-kept", "{d}");
    assert_eq!(
        s.get(&alice, &format!("/v1/spaces/{space}/presence"))
            .await
            .1["members"],
        json!([])
    );
    s.stop().await;
}

/// SSE readers (read-only) get the same messages as named events.
async fn an_sse_reader_sees_presence_too(backend: Backend) {
    let (s, _db) = common::start_with(backend, |_| {}).await;
    let alice = s.token("alice");
    let mut sse = Sse::open(&s, &alice, "space=user:me", None).await;
    sse.presence = true;
    let first = sse.next().await.expect("answer");
    assert_eq!(first.name, "snapshot");
    let state = sse.next().await.expect("presence state");
    assert_eq!(state.name, "presence_state");
    assert_eq!(state.data["members"], json!([]));
    let (mut tab, _) = join(&s, &alice, "tab-1", "user:me").await;
    tab.send(set("user:me", json!({"tab": "chat"}))).await;
    let d = sse.next().await.expect("presence diff");
    assert_eq!(d.name, "presence_diff");
    assert_eq!(
        d.data["joins"],
        json!([{"user": "alice", "client_id": "tab-1", "state": {"tab": "chat"}}])
    );
    drop(tab);
    let d = sse.next().await.expect("leave");
    assert_eq!(d.data["leaves"][0]["client_id"], "tab-1", "{:?}", d.data);
    s.stop().await;
}
