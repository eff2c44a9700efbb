//! Bounded memory in the engine (issue 20, point 2): in-memory tombstones
//! are pruned with the durable log's retention; a space's documents are
//! capped in bytes; past the global memory budget idle spaces leave memory
//! first, and what still does not fit is refused with a clear error. Bytes
//! are read from the engine's own counters, never from timing.

#[macro_use]
mod common;

use common::cluster::subscriber;
use common::{Backend, TestDb, TestServer, args};

both_stores!(
    tombstones_leave_memory_with_the_log,
    a_space_is_capped_in_bytes,
    past_the_budget_idle_spaces_leave_and_the_rest_is_refused,
);
use serde_json::json;

async fn tombstones_leave_memory_with_the_log(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut a = args(&db);
    a.log_retention_events = 50;
    let s = TestServer::start(&a).await;
    let t = s.token("alice");
    let mut mid = 0;
    let mut next = || {
        mid += 1;
        mid
    };
    for i in 0..30 {
        let r = s
            .put(
                &t,
                "w",
                next(),
                "user:me",
                "notes",
                &format!("n{i}"),
                json!(i),
            )
            .await;
        assert_eq!(r["status"], "ack", "{r}");
    }
    for i in 0..30 {
        let body = json!({"client_id": "w", "mutations": [{"mutation_id": next(), "space": "user:me",
            "ops": [{"op": "delete", "collection": "notes", "id": format!("n{i}")}]}]});
        assert_eq!(s.sync(&t, body).await["results"][0]["status"], "ack");
    }
    let space = s.state.engine.space("user:alice").await.unwrap();
    assert_eq!(space.read().tombstones(), 30, "deletes leave tombstones");
    for i in 0..100 {
        s.put(&t, "w", next(), "user:me", "other", "x", json!(i))
            .await;
    }
    let (v, start) = {
        let d = space.read();
        (d.version, d.log_start)
    };
    assert_eq!(
        space.read().tombstones(),
        0,
        "version {v}, log from {start}: tombstones older than the retained log are pruned in memory too"
    );
    s.stop().await;
}

async fn a_space_is_capped_in_bytes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut a = args(&db);
    a.max_space_bytes = 100_000;
    let s = TestServer::start(&a).await;
    let t = s.token("alice");
    let big = "x".repeat(60_000);
    let r = s.put(&t, "w", 1, "user:me", "notes", "a", json!(big)).await;
    assert_eq!(r["status"], "ack", "{r}");
    let r = s.put(&t, "w", 2, "user:me", "notes", "b", json!(big)).await;
    assert_eq!(
        (&r["status"], &r["code"]),
        (&json!("reject"), &json!("too_large")),
        "{r}"
    );
    assert!(r["message"].as_str().unwrap().contains("100000"), "{r}");
    // Smaller again is fine.
    let r = s
        .put(&t, "w", 3, "user:me", "notes", "a", json!("small"))
        .await;
    assert_eq!(r["status"], "ack", "{r}");
    s.stop().await;
}

async fn past_the_budget_idle_spaces_leave_and_the_rest_is_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    // A 100 KB document costs ~300 KB in memory: itself, and its event's
    // JSON and WebSocket frame in the ring.
    let big = "x".repeat(100_000);
    // Bob's space is written before the budget applies.
    {
        let mut a = args(&db);
        a.no_default_catalog = true;
        let s = TestServer::start(&a).await;
        let bob = s.token("bob");
        s.put(&bob, "w", 1, "user:me", "notes", "b", json!(big))
            .await;
        s.put(&bob, "w", 2, "user:me", "notes", "c", json!(big))
            .await;
        s.stop().await;
    }
    let mut a = args(&db);
    a.memory_budget_bytes = 400_000;
    // No catalog in memory: the budget holds only what the test writes.
    a.no_default_catalog = true;
    let s = TestServer::start(&a).await;
    let engine = &s.state.engine;
    let (alice, carol, dave) = (s.token("alice"), s.token("carol"), s.token("dave"));

    let r = s
        .put(&alice, "w", 1, "user:me", "notes", "a", json!(big))
        .await;
    assert_eq!(r["status"], "ack", "{r}");
    assert!(engine.held_bytes() >= 100_000);
    // Carol's write does not fit beside Alice's idle space: Alice's leaves.
    let r = s
        .put(&carol, "w", 1, "user:me", "notes", "a", json!(big))
        .await;
    assert_eq!(r["status"], "ack", "{r}");
    assert!(
        !engine.is_loaded("user:alice"),
        "the idle space was evicted"
    );
    assert!(engine.held_bytes() <= 400_000, "{}", engine.held_bytes());
    // With Carol subscribed, nothing is idle: Dave's write is refused.
    let (_ws, _rep) = subscriber(&s, &carol, "tab").await;
    let r = s
        .put(&dave, "w", 1, "user:me", "notes", "a", json!(big))
        .await;
    assert_eq!(
        (&r["status"], &r["code"]),
        (&json!("reject"), &json!("unavailable")),
        "{r}"
    );
    assert!(
        r["message"].as_str().unwrap().contains("memory budget"),
        "{r}"
    );
    // Bob's space (200 KB in the store) loads while there is room, and with
    // both subscribed the next load is refused with over_capacity.
    let bob = s.token("bob");
    let (_ws2, _rep2) = subscriber(&s, &bob, "tab").await;
    assert!(engine.held_bytes() > 400_000, "{}", engine.held_bytes());
    let (st, v) = s.get(&alice, "/v1/spaces/user:me/state").await;
    assert_eq!(
        (st, &v["error"]["code"]),
        (503, &json!("over_capacity")),
        "{v}"
    );
    s.stop().await;
}
