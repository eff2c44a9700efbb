//! Lag is not the future (docs/architecture.md, "Several nodes"): a client
//! that wrote on node a and comes to node b with the version a acknowledged
//! (a cursor, a `since`, an ETag) sees its write there, on every transport,
//! even while b has not heard of it yet; never a snapshot behind its cursor,
//! never a version twice.

mod common;
mod domain_util;

use common::cluster::{b_follows_a, deafen, note, reopen, subscriber, until_version};
use common::sse::Sse;
use common::ws::Ws;
use common::{TestDb, TestServer};
use std::time::Duration;

use serde_json::{Value, json};

async fn two_nodes() -> (TestDb, TestServer, TestServer) {
    common::cluster::two_nodes_with(common::args).await
}

/// The first frame a WebSocket on `node` gets for `user:me` with `cursor`.
async fn ws_resume(node: &TestServer, token: &str, cursor: Value) -> Value {
    let mut ws = Ws::open(&node.base, token).await;
    ws.hello("resumer", json!({ "user:me": cursor })).await;
    ws.recv().await
}

/// [`ws_resume`], retrying a `store_unavailable` error as a client does ("try
/// again"): while `deafen` refuses new connections a busy node's pool may
/// have none free for a moment. Any other answer, an older state included,
/// is returned as it is.
async fn ws_resume_retrying(node: &TestServer, token: &str, cursor: Value) -> Value {
    for _ in 0..50 {
        let f = ws_resume(node, token, cursor.clone()).await;
        if f["type"] != "error" || f["code"] != "store_unavailable" {
            return f;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the node stayed unavailable")
}

/// A GET with one extra header; `(status, body)`.
async fn get_with(node: &TestServer, token: &str, path: &str, h: (&str, &str)) -> (u16, Value) {
    let r = node
        .http
        .get(node.url(path))
        .bearer_auth(token)
        .header(h.0, h.1)
        .send()
        .await
        .expect("request");
    common::decode(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deaf_node_reads_the_database_before_it_answers_a_cursor_ahead_of_it() {
    let f = b_follows_a(common::args).await;
    let (db, a, b, alice, mut ws_b, mut rep_b) = (f.db, f.a, f.b, f.alice, f.ws_b, f.rep_b);
    let epoch = rep_b.epoch.clone();
    // From here b hears nothing of a: every version below is ahead of b's
    // memory when b is asked for it.
    deafen(&db).await;
    let mut mid = 1;
    let mut write = async || {
        mid += 1;
        note(&a, &alice, mid).await
    };

    // WebSocket hello with the acked cursor: up to date, not a snapshot.
    let v = write().await;
    let f = ws_resume_retrying(&b, &alice, json!({"epoch": epoch, "version": v})).await;
    assert_eq!(
        (f["type"].as_str(), f["version"].as_u64()),
        (Some("up_to_date"), Some(v)),
        "websocket: {f}"
    );
    // Two writes on a; a cursor at the first (ahead of b) gets the second
    // as an event, read from the database.
    write().await;
    let v = write().await;
    let f = ws_resume_retrying(&b, &alice, json!({"epoch": epoch, "version": v - 1})).await;
    assert_eq!(f["type"], "events", "websocket: {f}");
    assert_eq!(
        (f["from"].as_u64(), f["to"].as_u64()),
        (Some(v - 1), Some(v))
    );
    assert_eq!(
        f["events"][0]["value"],
        json!({ "i": v }),
        "the second write"
    );

    // SSE with Last-Event-ID.
    let v = write().await;
    let id = format!("{epoch}:{v}");
    let mut sse = Sse::open(&b, &alice, "space=user:me", Some(&id)).await;
    let first = sse.next().await.expect("an SSE event");
    assert_eq!(first.name, "up_to_date", "sse: {:?}", first);
    assert_eq!(first.id, id);

    // POST /v1/sync with a read cursor.
    let v = write().await;
    let body = json!({"client_id": "reader", "mutations": [],
        "cursors": {"user:me": {"epoch": epoch, "version": v}}});
    let r = b.sync(&alice, body).await;
    let answer = &r["spaces"]["user:alice"];
    assert_eq!(
        (answer["kind"].as_str(), answer["version"].as_u64()),
        (Some("up_to_date"), Some(v)),
        "/v1/sync: {r}"
    );

    // /version?since=N, without and with a wait: never below N.
    let v = write().await;
    let (st, r) = b
        .get(&alice, &format!("/v1/spaces/user:me/version?since={v}"))
        .await;
    assert_eq!((st, r["version"].as_u64()), (200, Some(v)), "{r}");
    let v = write().await;
    let (st, r) = b
        .get(
            &alice,
            &format!("/v1/spaces/user:me/version?since={v}&wait=0.3"),
        )
        .await;
    assert_eq!(
        (st, r["version"].as_u64()),
        (200, Some(v)),
        "long-poll: {r}"
    );

    // If-None-Match with the ETag a gave: 304 on /version and /state.
    let v = write().await;
    let tag = format!("\"{epoch}:{v}\"");
    let path = "/v1/spaces/user:me/version";
    let (st, r) = get_with(&b, &alice, path, ("if-none-match", &tag)).await;
    assert_eq!(st, 304, "/version If-None-Match: {r}");
    let v = write().await;
    let tag = format!("\"{epoch}:{v}\"");
    let (st, r) = get_with(
        &b,
        &alice,
        "/v1/spaces/user:me/state",
        ("if-none-match", &tag),
    )
    .await;
    assert_eq!(st, 304, "/state If-None-Match: {r}");
    // Seed 003: /api/chat/sync?since= the version a POST on a answered.
    let chat = json!({"conversations": [{"id": "c1", "title": "Trip", "userId": "alice",
        "createdAt": "2026-11-20T09:00:00Z", "updatedAt": "2026-11-20T09:05:00Z", "messages": [
        {"id": "m1", "role": "user", "content": "hi", "timestamp": "2026-11-20T09:00:30Z"}]}]});
    let (st, r) = a.send("POST", &alice, "/api/chat/sync", Some(chat)).await;
    assert_eq!(st, 200, "{r}");
    let v = r["version"].as_u64().expect("version");
    let (st, r) = b.get(&alice, &format!("/api/chat/sync?since={v}")).await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(
        (r["version"].as_u64(), r["full"].as_bool()),
        (Some(v), Some(false)),
        "chat since the acked version: nothing new, not the whole history: {r}"
    );

    // Seed 001: /provider-sync/sync with the catalog version a answered.
    let m = domain_util::model("lag-model", "Lag", "openai");
    let (st, r) = domain_util::catalog_send(&a, "PUT", "models", "lag-model", Some(m)).await;
    assert_eq!(st, 200, "{r}");
    let cv = r["version"].as_u64().expect("catalog version");
    let (st, r) = b
        .send(
            "POST",
            &alice,
            "/provider-sync/sync",
            Some(json!({"client_version": cv})),
        )
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(
        (r["sync_type"].as_str(), r["version"].as_u64()),
        (Some("none"), Some(cv)),
        "provider sync: {r}"
    );

    // Only a cursor ahead of the database is from the future: a snapshot.
    let f = ws_resume_retrying(&b, &alice, json!({"epoch": epoch, "version": 1_000_000})).await;
    assert_eq!(f["type"], "snapshot", "{f}");
    let (_, head) = a.get(&alice, "/v1/spaces/user:me/version").await;
    assert_eq!(
        f["version"], head["version"],
        "the snapshot is the database's head"
    );

    // b's own subscriber got every version once, in order, all along.
    let last = head["version"].as_u64().unwrap();
    until_version(&mut ws_b, &mut rep_b, last).await;
    assert_eq!(rep_b.seen, (1..=last).collect::<Vec<_>>());
    reopen(&db).await;
    a.stop().await;
    b.stop().await;
}

/// With the database gone, a cursor b cannot check gets a retryable error,
/// never b's older state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_ahead_of_a_node_that_cannot_reach_the_database_gets_a_retryable_error() {
    let f = b_follows_a(common::args).await;
    let (db, a, b, alice) = (f.db, f.a, f.b, f.alice);
    let epoch = f.rep_b.epoch.clone();
    deafen(&db).await;
    assert_eq!(note(&a, &alice, 2).await, 2);
    // Now no connection of either node works, and none can be opened.
    common::cluster::admin(format!(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{}'",
        common::cluster::db_name(&db)
    ))
    .await;
    let f = ws_resume(&b, &alice, json!({"epoch": epoch, "version": 2})).await;
    assert_eq!(
        (f["type"].as_str(), f["code"].as_str()),
        (Some("error"), Some("store_unavailable")),
        "{f}"
    );
    let (st, r) = b.get(&alice, "/v1/spaces/user:me/version?since=2").await;
    assert_eq!(
        (st, r["error"]["code"].as_str()),
        (503, Some("store_unavailable")),
        "{r}"
    );
    // Back again: the same cursor is up to date.
    reopen(&db).await;
    let f = ws_resume(&b, &alice, json!({"epoch": epoch, "version": 2})).await;
    assert_eq!(
        (f["type"].as_str(), f["version"].as_u64()),
        (Some("up_to_date"), Some(2)),
        "{f}"
    );
    a.stop().await;
    b.stop().await;
}

/// The race as a client meets it: every version a acknowledges is used at
/// once as a cursor on b (WebSocket, SSE, long-poll in turn) while another
/// client keeps a busy. No answer is ever behind the cursor, and b's own
/// subscriber sees every version once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_versions_used_at_once_on_the_other_node_never_go_back() {
    const ROUNDS: u64 = 450;
    let (_db, a, b) = two_nodes().await;
    let alice = a.token("alice");
    let (mut ws_b, mut rep_b) = subscriber(&b, &alice, "tab-b").await;
    let epoch = rep_b.epoch.clone();
    let (target_tx, mut target) = tokio::sync::watch::channel(u64::MAX);
    let follower = tokio::spawn(async move {
        loop {
            let t = *target.borrow_and_update();
            if rep_b.version >= t {
                return rep_b;
            }
            tokio::select! {
                f = ws_b.try_recv(Duration::from_secs(30)) => rep_b.apply(&f.expect("b's subscriber stalled")),
                _ = target.changed() => {}
            }
        }
    });
    let busy_stop = tokio_util::sync::CancellationToken::new();
    let busy = {
        let (http, url, tok, stop) = (
            a.http.clone(),
            a.url("/v1/sync"),
            alice.clone(),
            busy_stop.clone(),
        );
        tokio::spawn(async move {
            let mut mid = 0;
            while !stop.is_cancelled() {
                mid += 1;
                let body = json!({"client_id": "busy", "mutations": [{"mutation_id": mid, "space": "user:me",
                    "ops": [{"op": "put", "collection": "busy", "id": "x", "value": {"n": mid}}]}]});
                let (status, _) = common::cluster::post_sync(&http, &url, &tok, &body).await;
                assert_eq!(status, 200);
            }
            mid
        })
    };
    let mut last = 0;
    for i in 1..=ROUNDS {
        let v = note(&a, &alice, i).await;
        last = last.max(v);
        match i % 3 {
            0 => {
                let f = ws_resume(&b, &alice, json!({"epoch": epoch, "version": v})).await;
                let ok = match f["type"].as_str() {
                    Some("up_to_date") => f["version"].as_u64() == Some(v),
                    Some("events") => f["from"].as_u64() == Some(v),
                    _ => false,
                };
                assert!(ok, "round {i}: cursor {v} on b answered {f}");
            }
            1 => {
                let id = format!("{epoch}:{v}");
                let mut sse = Sse::open(&b, &alice, "space=user:me", Some(&id)).await;
                let e = sse.next().await.expect("an SSE event");
                let ok = match e.name.as_str() {
                    "up_to_date" => e.data["version"].as_u64() == Some(v),
                    "events" => e.data["from"].as_u64() == Some(v),
                    _ => false,
                };
                assert!(ok, "round {i}: Last-Event-ID {v} on b answered {e:?}");
            }
            _ => {
                let path = format!("/v1/spaces/user:me/version?since={v}&wait=5");
                let (st, r) = b.get(&alice, &path).await;
                let got = r["version"].as_u64().unwrap_or(0);
                assert!(
                    st == 200 && got >= v,
                    "round {i}: long-poll since {v} on b answered {r}"
                );
            }
        }
    }
    busy_stop.cancel();
    let busy_writes = busy.await.expect("busy writer");
    assert!(busy_writes > 0, "a was kept busy");
    let (_, head) = a.get(&alice, "/v1/spaces/user:me/version").await;
    let head = head["version"].as_u64().expect("head");
    assert!(head >= last);
    target_tx.send_replace(head);
    let rep_b = tokio::time::timeout(Duration::from_secs(30), follower)
        .await
        .expect("b's subscriber reaches a's head")
        .expect("follower");
    assert_eq!(
        rep_b.seen,
        (1..=head).collect::<Vec<_>>(),
        "every version once, in order"
    );
    assert_eq!(rep_b.snapshots, 1);
    a.stop().await;
    b.stop().await;
}
