//! Team spaces on two nodes sharing one PostgreSQL (issue 21): a member
//! removed through node A is cut off on node B — B's subscriber gets the
//! removal then `revoked` and nothing a writer commits after it on either
//! node; B refuses the removed member's writes even if B had not yet seen
//! the removal (the commit is based on the members it read, and a stale
//! base cannot land).

mod common;

use std::time::Duration;

use common::ws::Ws;
use serde_json::{Value, json};

async fn until(ws: &mut Ws, kind: &str) -> Value {
    for _ in 0..100 {
        let m = ws.recv().await;
        if m["type"] == kind {
            return m;
        }
    }
    panic!("no `{kind}` message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_on_one_node_cuts_the_member_off_on_the_other() {
    let (_db, a, b) = common::cluster::two_nodes_with(common::args).await;
    let (alice, bob) = (a.token("alice"), a.token("bob"));
    let (st, team) = a
        .send(
            "POST",
            &alice,
            "/v1/teams",
            Some(json!({"name": "Two nodes"})),
        )
        .await;
    assert_eq!(st, 201, "{team}");
    let id = team["id"].as_str().unwrap().to_string();
    let space = format!("team:{id}");
    let path = format!("/v1/teams/{id}/members/bob");
    assert_eq!(
        a.send("PUT", &alice, &path, Some(json!({"role": "editor"})))
            .await
            .0,
        200
    );
    // Bob reads on node B (which learns membership from the store).
    let mut ws = Ws::open(&b.base, &bob).await;
    ws.hello("b-tab", json!({ space.clone(): null })).await;
    let snap = until(&mut ws, "snapshot").await;
    assert_eq!(snap["space"], space.as_str());
    // A writer on node A keeps committing while the owner removes Bob on A.
    let writer = {
        let (base, space, t) = (a.base.clone(), space.clone(), alice.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0..30 {
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
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(a.send("DELETE", &alice, &path, None).await.0, 204);
    writer.await.unwrap();
    let mut last = snap["version"].as_u64().unwrap();
    let removal = loop {
        let m = ws.recv().await;
        assert_ne!(
            m["type"], "revoked",
            "revoked before the removal event: {m}"
        );
        if m["type"] != "event" {
            continue;
        }
        let v = m["version"].as_u64().unwrap();
        assert!(v > last, "in order");
        last = v;
        if m["collection"] == "_members" && m["id"] == "bob" {
            break v;
        }
    };
    assert_eq!(until(&mut ws, "revoked").await["space"], space.as_str());
    assert!(ws.try_recv(Duration::from_millis(300)).await.is_none());
    let head = a
        .get(&alice, &format!("/v1/spaces/{space}/version"))
        .await
        .1["version"]
        .as_u64()
        .unwrap();
    assert!(
        head > removal,
        "the writer went on past the removal ({head} > {removal})"
    );
    // Node B refuses Bob now, on every path.
    let (st, _) = b
        .send(
            "PUT",
            &bob,
            &format!("/v1/spaces/{space}/docs/notes/late"),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 403);
    assert_eq!(
        b.get(&bob, &format!("/v1/spaces/{space}/state")).await.0,
        403
    );
    let mut again = Ws::open(&b.base, &bob).await;
    again.hello("b-tab2", json!({ space.clone(): null })).await;
    assert_eq!(until(&mut again, "error").await["code"], "forbidden");
}

/// Presence is the union of the nodes': Bob present through node B is seen
/// by Alice on node A (state, diffs and the HTTP list), and when node B
/// stops, his entry leaves A's list within a few announcement intervals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_spans_nodes_and_leaves_with_a_node() {
    let (_db, a, b) = common::cluster::two_nodes_with(|db| {
        let mut args = common::args(db);
        args.presence_interval_ms = 200;
        args
    })
    .await;
    let (alice, bob) = (a.token("alice"), a.token("bob"));
    let (st, team) = a
        .send(
            "POST",
            &alice,
            "/v1/teams",
            Some(json!({"name": "Presence"})),
        )
        .await;
    assert_eq!(st, 201);
    let id = team["id"].as_str().unwrap().to_string();
    let space = format!("team:{id}");
    let path = format!("/v1/teams/{id}/members/bob");
    assert_eq!(
        a.send("PUT", &alice, &path, Some(json!({"role": "viewer"})))
            .await
            .0,
        200
    );
    let mut wa = Ws::open(&a.base, &alice).await;
    wa.presence = true;
    wa.hello("a-tab", json!({ space.clone(): null })).await;
    until(&mut wa, "presence_state").await;
    wa.send(json!({"type": "presence_set", "space": space, "state": {"on": "a"}}))
        .await;
    let mut wb = Ws::open(&b.base, &bob).await;
    wb.presence = true;
    wb.hello("b-tab", json!({ space.clone(): null })).await;
    // B learns of Alice from A's announcements (again every interval).
    loop {
        let m = wb.recv().await;
        let listed = |v: &Value| {
            v.as_array()
                .is_some_and(|a| a.iter().any(|p| p["user"] == "alice"))
        };
        if (m["type"] == "presence_state" && listed(&m["members"]))
            || (m["type"] == "presence_diff" && listed(&m["joins"]))
        {
            break;
        }
    }
    wb.send(json!({"type": "presence_set", "space": space, "state": {"on": "b"}}))
        .await;
    loop {
        let d = until(&mut wa, "presence_diff").await;
        if d["joins"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["user"] == "bob")
        {
            assert_eq!(d["joins"][0]["state"], json!({"on": "b"}), "{d}");
            break;
        }
    }
    let (_, listed) = a.get(&alice, &format!("/v1/spaces/{space}/presence")).await;
    let users: Vec<&str> = listed["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"].as_str().unwrap())
        .collect();
    assert_eq!(users.len(), 2, "{listed}");
    assert!(
        users.contains(&"alice") && users.contains(&"bob"),
        "{listed}"
    );
    // Node B goes away (its relay stops first, so it says nothing more):
    // Bob's entry expires from A's presence.
    b.stop().await;
    drop(wb);
    loop {
        let d = until(&mut wa, "presence_diff").await;
        if d["leaves"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["user"] == "bob")
        {
            break;
        }
    }
    let (_, listed) = a.get(&alice, &format!("/v1/spaces/{space}/presence")).await;
    assert_eq!(listed["members"].as_array().unwrap().len(), 1, "{listed}");
}
