//! PostgreSQL going away (issue 20, point 3), through a TCP proxy the test
//! makes refuse, hang (a black hole) and restore: a write is answered within
//! the write deadline with 503 `store_unavailable` over HTTP and a `reject`
//! with that code over WebSocket; reads, `/version`, heartbeats and the
//! subscribers keep working; once PostgreSQL is back, writes succeed again
//! without a restart, and every mutation, retried with its id as a client
//! does, is applied exactly once (versions gap-free, no duplicate).
//! The waits here only bound a hang; nothing asserts on time.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;
mod proxy;

use std::time::Duration;

use common::cluster::{subscriber, until_version};
use common::ws::Ws;
use common::{Backend, TestDb, TestServer, args};
use proxy::{Mode, Proxy};
use serde_json::{Value, json};

fn patch(mid: u64, field: &str) -> Value {
    json!({"type": "mutate", "mutation_id": mid, "space": "user:me",
           "ops": [{"op": "patch", "collection": "settings", "id": "main", "value": {field: mid}}]})
}

/// Sends mutation `mid` and returns its answer (ack or reject).
async fn mutate(ws: &mut Ws, mid: u64, field: &str) -> Value {
    ws.send(patch(mid, field)).await;
    loop {
        let f = ws.recv().await;
        if (f["type"] == "ack" || f["type"] == "reject") && f["mutation_id"] == mid {
            return f;
        }
    }
}

async fn rest_put(s: &TestServer, token: &str, value: Value) -> (u16, Value) {
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        s.http
            .put(s.url("/v1/spaces/user:me/docs/notes/rest"))
            .bearer_auth(token)
            .json(&value)
            .send(),
    )
    .await
    .expect("answered, not hung")
    .unwrap();
    common::decode(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_fail_fast_while_postgres_is_away_and_land_once_when_it_returns() {
    let db = TestDb::new(Backend::Postgres).await;
    let upstream: std::net::SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = Proxy::start(upstream).await;
    let mut a = args(&db);
    a.database_url = db.url.replace("127.0.0.1:5432", &proxy.addr.to_string());
    assert_ne!(a.database_url, db.url, "the server goes through the proxy");
    a.write_deadline_ms = 1_000;
    let s = TestServer::start(&a).await;
    let alice = s.token("alice");
    let bob = s.token("bob");

    let (mut sub, mut rep) = subscriber(&s, &alice, "reader").await;
    let mut writer = Ws::open(&s.base, &alice).await;
    writer.hello("writer", json!({})).await;
    assert_eq!(mutate(&mut writer, 1, "a").await["type"], "ack");
    until_version(&mut sub, &mut rep, 1).await;

    for (mode, mid, field) in [(Mode::Hang, 2, "b"), (Mode::Refuse, 3, "c")] {
        proxy.set(mode);
        let r = mutate(&mut writer, mid, field).await;
        assert_eq!(
            (&r["type"], &r["code"]),
            (&json!("reject"), &json!("store_unavailable")),
            "{mode:?}: {r}"
        );
        let (st, body) = rest_put(&s, &bob, json!({"x": mid})).await;
        assert_eq!(
            (st, &body["error"]["code"]),
            (503, &json!("store_unavailable")),
            "{mode:?}: {body}"
        );
        // Reads from memory, /version and heartbeats carry on.
        let (st, v) = s.get(&alice, "/v1/spaces/user:me/docs/settings/main").await;
        assert_eq!((st, &v["value"]["a"]), (200, &json!(1)), "{mode:?}: {v}");
        let (st, _) = s.get(&alice, "/v1/spaces/user:me/version").await;
        assert_eq!(st, 200, "{mode:?}");
        let (st, v) = s
            .get(&alice, "/v1/spaces/user:me/version?since=1&wait=0.3")
            .await;
        assert_eq!(
            (st, &v["version"]),
            (200, &json!(1)),
            "{mode:?} long-poll: {v}"
        );
        sub.roundtrip(mid).await;
        writer.roundtrip(mid).await;
        // A subscriber that joins now still gets what was committed.
        let (_late, late) = subscriber(&s, &alice, "late").await;
        assert_eq!(late.version, 1, "{mode:?}");
    }

    // Back: the refused mutations are retried with their ids until acked.
    proxy.set(Mode::Pass);
    for (mid, field) in [(2, "b"), (3, "c")] {
        let mut tries = 0;
        loop {
            let r = mutate(&mut writer, mid, field).await;
            if r["type"] == "ack" {
                break;
            }
            assert_eq!(r["code"], "store_unavailable", "{r}");
            tries += 1;
            assert!(tries < 60, "writes never recovered: {r}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let r = mutate(&mut writer, 4, "d").await;
    assert_eq!(r["type"], "ack", "{r}");
    let head = r["version"].as_u64().unwrap();
    // Each of the four mutations applied once: four versions, no more.
    assert_eq!(head, 4, "every mutation applied exactly once");
    until_version(&mut sub, &mut rep, head).await;
    assert_eq!(rep.seen, vec![1, 2, 3, 4], "gap-free, no duplicate");
    let (st, v) = s.get(&alice, "/v1/spaces/user:me/docs/settings/main").await;
    assert_eq!(st, 200);
    assert_eq!(v["value"], json!({"a": 1, "b": 2, "c": 3, "d": 4}));
    s.stop().await;
}
