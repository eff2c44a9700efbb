//! Team spaces (issue 21): the teams API and its roles, access on every
//! transport decided by one engine decision, and revocation that takes
//! effect at once — on a WebSocket (`revoked` frame, other spaces keep
//! flowing), on SSE (`event: revoked`, then the end), and against a writer
//! racing the removal (nothing committed after it reaches the removed
//! member). Both stores.

#[macro_use]
mod common;

use std::time::Duration;

use common::sse::Sse;
use common::teams::{create, remove, set_role};
use common::ws::Ws;
use common::{Backend, TestServer, token};
use serde_json::{Value, json};
use tidemark::engine::Role;

both_stores!(
    the_api_keeps_roles_and_owners,
    no_transport_lets_an_outsider_in,
    viewers_read_and_cannot_write,
    a_removed_member_is_cut_off_on_a_websocket,
    a_removed_member_is_cut_off_on_sse,
    nothing_after_the_removal_reaches_a_racing_reader,
);

async fn write(s: &TestServer, t: &str, space: &str, id: &str, v: Value) -> (u16, Value) {
    s.send(
        "PUT",
        t,
        &format!("/v1/spaces/{space}/docs/notes/{id}"),
        Some(v),
    )
    .await
}

/// A `mutate` of one document over `ws` is rejected with `forbidden`.
async fn ws_write_forbidden(ws: &mut Ws, space: &str, mid: u64, id: &str, value: Value) {
    ws.send(json!({"type": "mutate", "mutation_id": mid, "space": space,
        "ops": [{"op": "put", "collection": "notes", "id": id, "value": value}]}))
        .await;
    let r = ws.recv().await;
    assert_eq!(
        (r["type"].as_str(), r["code"].as_str()),
        (Some("reject"), Some("forbidden")),
        "{r}"
    );
}

async fn the_api_keeps_roles_and_owners(backend: Backend) {
    let (s, _db) = common::start_with(backend, |_| {}).await;
    let (alice, bob, carol) = (s.token("alice"), s.token("bob"), s.token("carol"));
    let team = create(&s, &alice, "Design").await;
    let (st, list) = s.get(&alice, "/v1/teams").await;
    assert_eq!(st, 200);
    assert_eq!(list[0]["id"], team.as_str(), "{list}");
    assert_eq!(list[0]["name"], "Design");
    assert_eq!(s.get(&bob, "/v1/teams").await.1, json!([]));
    // Not a member: the members list is refused like a team that does not exist.
    let (st, nope) = s.get(&bob, &format!("/v1/teams/{team}/members")).await;
    assert_eq!(st, 403, "{nope}");
    let (st_ghost, ghost) = s.get(&bob, "/v1/teams/doesnotexist/members").await;
    assert_eq!(
        (st_ghost, &ghost["error"]["message"]),
        (403, &nope["error"]["message"])
    );
    assert_eq!(set_role(&s, &alice, &team, "bob", "editor").await.0, 200);
    let (_, list) = s.get(&bob, "/v1/teams").await;
    assert_eq!(list[0]["role"], "editor", "{list}");
    let (st, members) = s.get(&bob, &format!("/v1/teams/{team}/members")).await;
    assert_eq!(st, 200);
    assert_eq!(
        members,
        json!([{"user": "alice", "role": "owner"}, {"user": "bob", "role": "editor"}])
    );
    // An editor manages nobody, and raises nobody (not even themself).
    assert_eq!(set_role(&s, &bob, &team, "carol", "viewer").await.0, 403);
    assert_eq!(set_role(&s, &bob, &team, "bob", "owner").await.0, 403);
    assert_eq!(set_role(&s, &carol, &team, "carol", "owner").await.0, 403);
    // The last owner can neither step down nor leave.
    let (st, v) = set_role(&s, &alice, &team, "alice", "editor").await;
    assert_eq!((st, &v["error"]["code"]), (409, &json!("conflict")), "{v}");
    assert_eq!(remove(&s, &alice, &team, "alice").await, 409);
    // After handing over, they can.
    assert_eq!(set_role(&s, &alice, &team, "bob", "owner").await.0, 200);
    assert_eq!(remove(&s, &alice, &team, "alice").await, 204);
    assert_eq!(s.get(&alice, "/v1/teams").await.1, json!([]));
    // Admins manage any team; anyone may leave.
    let admin = token("root", Role::Admin);
    assert_eq!(set_role(&s, &admin, &team, "carol", "viewer").await.0, 200);
    assert_eq!(remove(&s, &carol, &team, "carol").await, 204);
    // The members' own index does not decide: a forged entry lists nothing.
    assert_eq!(
        write(&s, &carol, "user:me", "x", json!({})).await.0,
        200,
        "carol's own space"
    );
    let forged = s
        .send(
            "PUT",
            &carol,
            &format!("/v1/spaces/user:me/docs/_teams/{team}"),
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(forged.0, 200, "{:?}", forged.1);
    assert_eq!(s.get(&carol, "/v1/teams").await.1, json!([]));
    // Bad input gets clear errors.
    let (st, v) = s
        .send("POST", &alice, "/v1/teams", Some(json!({"name": ""})))
        .await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(set_role(&s, &bob, &team, "dave", "boss").await.0, 422);
    s.stop().await;
}

/// A non-member, a member of another team, and forged ids: every route and
/// transport answers no, and nothing is written.
async fn no_transport_lets_an_outsider_in(backend: Backend) {
    let (s, _db) = common::start_with(backend, |_| {}).await;
    let (alice, mallory) = (s.token("alice"), s.token("mallory"));
    let team = create(&s, &alice, "Secret").await;
    let other = create(&s, &mallory, "Mallory's own").await;
    let space = format!("team:{team}");
    assert_eq!(
        write(&s, &alice, &space, "plan", json!({"x": 1})).await.0,
        200
    );
    for target in [space.clone(), "team:nosuchteam".to_string()] {
        for path in [
            format!("/v1/spaces/{target}/state"),
            format!("/v1/spaces/{target}/version"),
            format!("/v1/spaces/{target}/version?since=0&wait=0.2"),
            format!("/v1/spaces/{target}/docs/notes/plan"),
            format!("/v1/events?space={target}"),
        ] {
            let (st, v) = s.get(&mallory, &path).await;
            assert_eq!(st, 403, "{path}: {v}");
            assert!(!v.to_string().contains("\"x\""), "{path} leaked: {v}");
        }
        assert_eq!(
            write(&s, &mallory, &target, "plan", json!({"x": 2}))
                .await
                .0,
            403
        );
        let r = s
            .sync(
                &mallory,
                json!({"client_id": "m", "mutations": [{"mutation_id": 1, "space": target,
                    "ops": [{"op": "put", "collection": "notes", "id": "plan", "value": {"x": 3}}]}]}),
            )
            .await;
        assert_eq!(r["results"][0]["code"], "forbidden", "{r}");
        let (st, _) = s
            .send(
                "POST",
                &mallory,
                "/v1/sync",
                Some(json!({"client_id": "m", "cursors": {target.clone(): null}})),
            )
            .await;
        assert_eq!(st, 403);
    }
    // Over a WebSocket: subscribe refused, mutate rejected.
    let mut ws = Ws::open(&s.base, &mallory).await;
    ws.hello("m-tab", json!({ space.clone(): null })).await;
    let e = ws.recv().await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("forbidden")),
        "{e}"
    );
    ws_write_forbidden(&mut ws, &space, 2, "plan", json!({"x": 4})).await;
    // Mallory owns her own team, which gives nothing in Alice's.
    assert_eq!(
        write(&s, &mallory, &format!("team:{other}"), "n", json!({}))
            .await
            .0,
        200
    );
    // Not even an owner writes the members through the document API.
    let (st, v) = s
        .send(
            "PUT",
            &alice,
            &format!("/v1/spaces/{space}/docs/_members/mallory"),
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(st, 403, "{v}");
    let (_, state) = s.get(&alice, &format!("/v1/spaces/{space}/state")).await;
    assert_eq!(
        state["docs"].to_string().matches("\"x\":1").count(),
        1,
        "{state}"
    );
    assert!(!state.to_string().contains("mallory"), "{state}");
    s.stop().await;
}

async fn viewers_read_and_cannot_write(backend: Backend) {
    let (s, _db) = common::start_with(backend, |_| {}).await;
    let (alice, vic) = (s.token("alice"), s.token("vic"));
    let team = create(&s, &alice, "Docs").await;
    let space = format!("team:{team}");
    assert_eq!(set_role(&s, &alice, &team, "vic", "editor").await.0, 200);
    assert_eq!(
        write(&s, &vic, &space, "a", json!({"by": "vic"})).await.0,
        200
    );
    // Lowered to viewer: the subscription stays, the next write is rejected.
    let mut ws = Ws::open(&s.base, &vic).await;
    ws.hello("v-tab", json!({ space.clone(): null })).await;
    assert_eq!(ws.recv().await["type"], "snapshot");
    assert_eq!(set_role(&s, &alice, &team, "vic", "viewer").await.0, 200);
    let ev = ws.recv().await;
    assert_eq!(
        (ev["collection"].as_str(), ev["id"].as_str()),
        (Some("_members"), Some("vic")),
        "{ev}"
    );
    ws_write_forbidden(&mut ws, &space, 1, "b", json!({})).await;
    assert_eq!(write(&s, &vic, &space, "c", json!({})).await.0, 403);
    // And still reads what others write.
    assert_eq!(
        write(&s, &alice, &space, "d", json!({"by": "alice"}))
            .await
            .0,
        200
    );
    let ev = ws.recv().await;
    assert_eq!(ev["id"], "d", "{ev}");
    s.stop().await;
}

async fn a_removed_member_is_cut_off_on_a_websocket(backend: Backend) {
    let (s, _db) = common::start_with(backend, |_| {}).await;
    let (alice, bob) = (s.token("alice"), s.token("bob"));
    let team = create(&s, &alice, "Ops").await;
    let space = format!("team:{team}");
    assert_eq!(set_role(&s, &alice, &team, "bob", "editor").await.0, 200);
    let mut ws = Ws::open(&s.base, &bob).await;
    ws.hello("b-tab", json!({ space.clone(): null, "user:me": null }))
        .await;
    let mut cursor = None;
    for _ in 0..2 {
        let a = ws.recv().await;
        if a["space"] == space.as_str() {
            cursor = Some(json!({"epoch": a["epoch"], "version": a["version"]}));
        }
    }
    assert_eq!(remove(&s, &alice, &team, "bob").await, 204);
    // The removal itself, then `revoked`.
    let ev = ws.recv().await;
    assert_eq!(
        (ev["type"].as_str(), ev["op"].as_str(), ev["id"].as_str()),
        (Some("event"), Some("delete"), Some("bob")),
        "{ev}"
    );
    let rv = ws.recv().await;
    assert_eq!(rv, json!({"type": "revoked", "space": space}));
    // Later writes to the team do not reach him; his own space still flows.
    assert_eq!(
        write(&s, &alice, &space, "after", json!({"secret": 1}))
            .await
            .0,
        200
    );
    assert_eq!(
        write(&s, &bob, "user:me", "mine", json!({"ok": true}))
            .await
            .0,
        200
    );
    // (His own space also shows the team leaving his index, `_teams`.)
    loop {
        let next = ws.recv().await;
        assert_eq!(next["space"], "user:bob", "only his own space: {next}");
        if next["id"] == "mine" {
            break;
        }
        assert_eq!(next["collection"], "_teams", "{next}");
    }
    assert!(ws.try_recv(Duration::from_millis(300)).await.is_none());
    // His writes are rejected; a resume from his old cursor is refused.
    ws_write_forbidden(&mut ws, &space, 1, "x", json!({})).await;
    let mut again = Ws::open(&s.base, &bob).await;
    again
        .hello("b-tab2", json!({ space.clone(): cursor }))
        .await;
    let e = again.recv().await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("forbidden")),
        "{e}"
    );
    s.stop().await;
}

async fn a_removed_member_is_cut_off_on_sse(backend: Backend) {
    let (s, _db) = common::start_with(backend, |_| {}).await;
    let (alice, bob) = (s.token("alice"), s.token("bob"));
    let team = create(&s, &alice, "Ops").await;
    let space = format!("team:{team}");
    assert_eq!(set_role(&s, &alice, &team, "bob", "viewer").await.0, 200);
    let mut sse = Sse::open(&s, &bob, &format!("space={space}"), None).await;
    let first = sse.next().await.expect("first answer");
    let resume = first.id.clone();
    assert_eq!(remove(&s, &alice, &team, "bob").await, 204);
    let ev = sse.next().await.expect("the removal");
    assert_eq!(
        (ev.name.as_str(), ev.data["id"].as_str()),
        ("event", Some("bob")),
        "{:?}",
        ev.data
    );
    let rv = sse.next().await.expect("revoked");
    assert_eq!(rv.name, "revoked");
    assert_eq!(rv.data, json!({"type": "revoked", "space": space}));
    assert_eq!(write(&s, &alice, &space, "after", json!({})).await.0, 200);
    assert!(sse.next().await.is_none(), "the stream ended");
    // Resuming from before the removal is refused.
    let r = reqwest::Client::new()
        .get(s.url(&format!("/v1/events?space={space}")))
        .bearer_auth(&bob)
        .header("last-event-id", resume)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    s.stop().await;
}

/// A writer keeps committing while the owner removes a reader subscribed on
/// a WebSocket and on SSE: the reader's last event is the removal, whatever
/// the interleaving, and the writer's events go on past it.
async fn nothing_after_the_removal_reaches_a_racing_reader(backend: Backend) {
    let (s, _db) = common::start_with(backend, |_| {}).await;
    let (alice, bob) = (s.token("alice"), s.token("bob"));
    let team = create(&s, &alice, "Race").await;
    let space = format!("team:{team}");
    let mut went_past = 0;
    for round in 0..3 {
        assert_eq!(set_role(&s, &alice, &team, "bob", "editor").await.0, 200);
        let mut ws = Ws::open(&s.base, &bob).await;
        ws.hello("b", json!({ space.clone(): null })).await;
        let start = ws.recv().await["version"].as_u64().unwrap();
        let mut sse = Sse::open(&s, &bob, &format!("space={space}"), None).await;
        sse.next().await.expect("first answer");
        let writer = {
            let (base, space, t) = (s.base.clone(), space.clone(), alice.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                for i in 0..40 {
                    let url = format!("{base}/v1/spaces/{space}/docs/notes/w{i}");
                    let r = http
                        .put(url)
                        .bearer_auth(&t)
                        .json(&json!({"i": i}))
                        .send()
                        .await;
                    assert_eq!(r.unwrap().status(), 200);
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(5 * (round + 1))).await;
        assert_eq!(remove(&s, &alice, &team, "bob").await, 204);
        writer.await.unwrap();
        let head = s
            .get(&alice, &format!("/v1/spaces/{space}/version"))
            .await
            .1["version"]
            .as_u64()
            .unwrap();
        // WebSocket: versions in order, the removal last, then `revoked`.
        let mut last = start;
        let removal = loop {
            let m = ws.recv().await;
            if m["type"] == "revoked" {
                panic!("revoked before the removal event");
            }
            let v = m["version"].as_u64().expect("versioned");
            assert!(v > last, "in order: {v} after {last}");
            last = v;
            if m["collection"] == "_members" && m["id"] == "bob" && m["op"] == "delete" {
                break v;
            }
        };
        assert_eq!(ws.recv().await["type"], "revoked");
        assert!(ws.try_recv(Duration::from_millis(200)).await.is_none());
        // SSE: the same cut.
        let mut sse_last = 0;
        while let Some(e) = sse.next().await {
            if e.name == "revoked" {
                break;
            }
            sse_last = e.id.rsplit(':').next().unwrap().parse().unwrap();
        }
        assert_eq!(sse_last, removal, "SSE stops at the removal");
        if head > removal {
            went_past += 1;
        }
    }
    assert!(
        went_past > 0,
        "the writer committed past the removal in some round"
    );
    s.stop().await;
}
