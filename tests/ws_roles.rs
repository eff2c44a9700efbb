//! Limits per role: browser tabs (role `user`) are rate-limited and capped
//! per user; back-end publishers and subscribers (`admin`, `service`) have
//! limits of their own, so one admin connection can keep many catalog
//! changes in flight and one service identity can hold many sockets.

mod common;

use common::ws::{Ws, connect};
use common::{TestDb, TestServer, args, token};
use serde_json::json;
use tidemark::engine::Role;

async fn start() -> (TestDb, TestServer) {
    let db = TestDb::new(common::Backend::Sqlite).await;
    let mut a = args(&db);
    a.ws_msg_rate = 5;
    a.ws_max_conns_per_user = 2;
    a.ws_abuse_threshold = 10_000;
    a.ws_trusted_msg_rate = 10_000;
    a.ws_trusted_max_conns = 50;
    let s = TestServer::start(&a).await;
    (db, s)
}

/// Sends `n` pings at once; returns how many were refused as rate-limited.
async fn flood(w: &mut Ws, n: u64) -> usize {
    for i in 0..n {
        w.send(json!({"type": "ping", "nonce": i})).await;
    }
    let mut limited = 0;
    for _ in 0..n {
        if w.recv().await["code"] == "rate_limited" {
            limited += 1;
        }
    }
    limited
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_are_not_throttled_like_browser_tabs() {
    let (_db, s) = start().await;
    let mut tab = Ws::open(&s.base, &s.token("alice")).await;
    assert!(
        flood(&mut tab, 40).await >= 20,
        "a tab is held to 5 messages/s"
    );
    for role in [Role::Admin, Role::Service] {
        let mut publisher = Ws::open(&s.base, &token("publisher", role)).await;
        assert_eq!(
            flood(&mut publisher, 400).await,
            0,
            "{role:?}: 400 messages at once pass"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_identity_may_hold_more_sockets_than_a_user() {
    let (_db, s) = start().await;
    let svc = token("backend", Role::Service);
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(Ws::open(&s.base, &svc).await);
    }
    held.last_mut().unwrap().roundtrip(1).await;
    // A user is still capped at 2.
    let alice = s.token("alice");
    let _a = Ws::open(&s.base, &alice).await;
    let _b = Ws::open(&s.base, &alice).await;
    let mut c = connect(&s.base, Some(&alice)).await.unwrap();
    let (code, _) = c
        .closed(std::time::Duration::from_secs(5))
        .await
        .expect("close");
    assert_eq!(code, 4008);
}
