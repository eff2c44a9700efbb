//! Control frames and re-subscriptions are paced (issue 20, point 2): a
//! flood of WebSocket pings counts against the message rate and ends in a
//! 4008 close, as a flood of messages does; `hello`, which may answer with
//! whole snapshots, is capped per 10 s window.

mod common;

use std::time::Duration;

use common::Backend;
use common::ws::Ws;
use futures::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_ping_flood_is_paced_and_closed() {
    let (s, _db) = common::start_with(Backend::Sqlite, |a| {
        a.ws_msg_rate = 5;
        a.ws_abuse_threshold = 20;
    })
    .await;
    let t = s.token("alice");
    let mut w = Ws::open(&s.base, &t).await;
    for _ in 0..200 {
        if w.ws
            .send(Message::Ping(vec![0u8; 100].into()))
            .await
            .is_err()
        {
            break;
        }
    }
    // Closed with 4008, which the client sees although it was still
    // sending (the server reads on briefly instead of resetting).
    let (code, reason) = w
        .closed(Duration::from_secs(10))
        .await
        .expect("a close frame, not a reset");
    assert_eq!(code, 4008, "{reason}");
    let mut ok = Ws::open(&s.base, &t).await;
    ok.roundtrip(1).await;
}

#[tokio::test]
async fn repeated_hellos_are_capped() {
    let (s, _db) = common::start_with(Backend::Sqlite, |a| a.ws_abuse_threshold = 1000).await;
    let t = s.token("alice");
    s.put(&t, "w", 1, "user:me", "notes", "n", json!({"x": "y"}))
        .await;
    let mut w = Ws::open(&s.base, &t).await;
    for _ in 0..15 {
        w.hello("tab", json!({"user:me": null})).await;
    }
    let (mut snapshots, mut limited) = (0, 0);
    while snapshots + limited < 15 {
        let f = w.recv().await;
        match f["type"].as_str() {
            Some("snapshot") => snapshots += 1,
            Some("error") if f["code"] == "rate_limited" => limited += 1,
            _ => {}
        }
    }
    assert_eq!(
        (snapshots, limited),
        (10, 5),
        "ten hellos answered, five refused"
    );
    // The connection still works.
    w.roundtrip(7).await;
}

/// A client that asks for snapshot after snapshot and reads none of them is
/// closed once it holds more than twice its queue bound, long before the
/// slow-consumer timer: the server does not hold what it asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_asks_and_never_reads_is_closed() {
    let (s, _db) = common::start_with(Backend::Sqlite, |a| {
        a.ws_queue_bytes = 256 * 1024;
        a.ws_slow_consumer_ms = 600_000;
        a.ws_abuse_threshold = 1000;
    })
    .await;
    let t = s.token("alice");
    let big = "x".repeat(200 * 1024);
    // A 2 MB snapshot: more than the kernel's socket buffers take.
    for i in 0..10u64 {
        let id = format!("big{i}");
        let r = s
            .put(
                &t,
                "w",
                i + 1,
                "user:me",
                "notes",
                &id,
                json!({ "big": big }),
            )
            .await;
        assert_eq!(r["status"], "ack", "{r}");
    }
    // A socket with a small receive buffer, so the kernel absorbs little.
    let mut ws = common::ws::small_rcvbuf(s.addr, &t).await;
    assert_eq!(s.state.ws_registry.total(), 1);
    for _ in 0..5 {
        let hello = json!({"type": "hello", "protocol": 1, "client_id": "tab", "subscribe": {"user:me": null}});
        if ws
            .send(Message::Text(hello.to_string().into()))
            .await
            .is_err()
        {
            break;
        }
    }
    // Nothing read: the server lets the connection go.
    let mut gone = false;
    for _ in 0..200 {
        if s.state.ws_registry.total() == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the connection that reads nothing was closed");
    drop(ws);
}
