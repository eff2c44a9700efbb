//! The sum of what all clients leave unread is bounded too (issue 20,
//! point 2): while the bytes queued for every WebSocket and SSE stream
//! together are over `TIDEMARK_OUTBOUND_BUDGET_BYTES`, a connection that
//! holds more than a fair share and makes no progress is closed after a
//! second instead of the slow-consumer time (here ten minutes, so only the
//! budget can be what closed it). The bytes are read from the server's own
//! counter (`tidemark_outbound_queued_bytes`), and must all come back.

#[macro_use]
mod common;

use std::time::Duration;

use common::sse::Sse;
use common::ws::Ws;
use common::{Backend, TestServer};
use futures::SinkExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

both_stores!(
    a_stalled_sse_stream_goes_when_all_queues_are_over_the_budget,
    answers_past_the_budget_wait_their_turn,
    what_hyper_holds_for_a_stalled_sse_reader_counts,
);

/// Waits (bounded) until the server holds `n` streams.
async fn streams_become(s: &TestServer, n: usize) -> bool {
    for _ in 0..300 {
        if s.state.ws_registry.total() == n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Waits (bounded) until nothing is queued for any client.
async fn queues_empty(s: &TestServer) -> bool {
    for _ in 0..100 {
        if s.state.outbound.queued() == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn fill(s: &TestServer, token: &str, space: &str, docs: u64) {
    let big = "x".repeat(200 * 1024);
    for i in 0..docs {
        let r = s
            .put(
                token,
                "w",
                i + 1,
                space,
                "notes",
                &format!("d{}", i % 40),
                json!({ "big": big, "i": i }),
            )
            .await;
        assert_eq!(r["status"], "ack", "{r}");
    }
}

/// A WebSocket that asks for an 8 MB snapshot, reads nothing and keeps
/// sending: within its own bounds (16 MiB queue, ten minutes' patience), but
/// over the all-clients budget of 1 byte. A reading client beside it carries
/// on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_websocket_goes_when_all_queues_are_over_the_budget() {
    let (s, _db) = common::start_with(Backend::Sqlite, |a| {
        a.ws_queue_bytes = 16 << 20;
        a.ws_slow_consumer_ms = 600_000;
        a.ws_abuse_threshold = 1000;
        a.outbound_budget_bytes = 1;
    })
    .await;
    let t = s.token("alice");
    // An 8 MB snapshot: more than the kernel's socket buffers take (up
    // to 4 MiB each way on loopback).
    fill(&s, &t, "user:me", 40).await;
    let mut ws = silent_subscriber(&s, &t).await;
    // The reader: another user's tab, subscribed and reading.
    let bob = s.token("bob");
    let mut fine = Ws::open(&s.base, &bob).await;
    fine.hello("bob-tab", json!({"user:me": null})).await;
    let first = fine.recv().await;
    assert_eq!(first["space"], "user:bob", "{first}");
    let mut counted = 0;
    for _ in 0..100 {
        counted = counted.max(s.state.outbound.queued());
        if counted > 1 << 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(counted > 1 << 20, "the unread snapshot counts: {counted}");
    // Keep sending (a `ping` message every 200 ms), never read.
    let mut gone = false;
    for _ in 0..100 {
        let ping = json!({"type": "ping"}).to_string();
        let _ = ws.send(Message::Text(ping.into())).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        if s.state.ws_registry.total() == 1 {
            gone = true;
            break;
        }
    }
    assert!(gone, "the stalled connection was closed under pressure");
    assert!(
        queues_empty(&s).await,
        "its queued bytes were given back: {} left",
        s.state.outbound.queued()
    );
    // The reader is still served.
    let r = s
        .put(
            &bob,
            "w",
            1,
            "user:me",
            "notes",
            "n",
            json!({"still": true}),
        )
        .await;
    assert_eq!(r["status"], "ack", "{r}");
    loop {
        let m = fine.recv().await;
        if m["type"] == "event" && m["version"] == 1 {
            break;
        }
    }
    drop(ws);
    s.stop().await;
}

/// A WebSocket over a socket whose receive buffer is small, subscribed to
/// its user's space and reading nothing.
async fn silent_subscriber(
    s: &TestServer,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let mut ws = common::ws::small_rcvbuf(s.addr, token).await;
    let hello =
        json!({"type": "hello", "protocol": 1, "client_id": "tab", "subscribe": {"user:me": null}});
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    ws
}

/// The budget is a cap, not only a trigger: five clients that each ask for
/// an 8 MB snapshot and read nothing do not make the server queue five
/// snapshots (~20 MB past what the kernel takes); past the budget the
/// others' answers wait, nothing queued, while the first is cut for not
/// reading. A waiting client that does read gets its whole answer.
async fn answers_past_the_budget_wait_their_turn(backend: Backend) {
    const BUDGET: usize = 1 << 20;
    const SNAPSHOT: usize = 8 << 20;
    let (s, _db) = common::start_with(backend, |a| {
        a.ws_queue_bytes = 16 << 20;
        a.ws_slow_consumer_ms = 600_000;
        a.ws_abuse_threshold = 1000;
        a.outbound_budget_bytes = BUDGET;
    })
    .await;
    let users: Vec<String> = (0..5).map(|i| s.token(&format!("u{i}"))).collect();
    for t in &users {
        fill(&s, t, "user:me", 40).await;
    }
    let mut silent = Vec::new();
    for t in &users[1..] {
        silent.push(silent_subscriber(&s, t).await);
    }
    let mut most = 0;
    for _ in 0..300 {
        most = most.max(s.state.outbound.queued());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        most > BUDGET,
        "the first answer is admitted whole, past the budget: {most}"
    );
    assert!(
        most <= BUDGET + SNAPSHOT + (1 << 20),
        "at most one snapshot past the budget is queued, not four: {most} bytes"
    );
    // A client that reads gets its 8 MB answer once room frees up.
    let mut reader = Ws::open(&s.base, &users[0]).await;
    reader.hello("reader", json!({"user:me": null})).await;
    // Its turn comes once the silent ones holding the budget are cut, one
    // second each without progress.
    let first = reader
        .try_recv(Duration::from_secs(20))
        .await
        .expect("the answer comes (about a second here)");
    assert_eq!(first["type"], "snapshot", "{first}");
    assert_eq!(first["docs"].as_array().unwrap().len(), 40);
    drop(silent);
    assert!(queues_empty(&s).await, "every queued byte was given back");
    s.stop().await;
}

/// The same for an SSE stream that takes nothing.
async fn a_stalled_sse_stream_goes_when_all_queues_are_over_the_budget(backend: Backend) {
    let (s, _db) = common::start_with(backend, |a| {
        a.ws_slow_consumer_ms = 600_000;
        a.outbound_budget_bytes = 1;
    })
    .await;
    let t = s.token("alice");
    let mut stalled = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let req = format!(
        "GET /v1/events?space=user:alice HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {t}\r\n\r\n"
    );
    stalled.write_all(req.as_bytes()).await.unwrap();
    assert!(streams_become(&s, 1).await, "the stream opened");
    // ~12 MiB of events: more than the socket buffers and the stream's
    // own 1 MiB budget take.
    fill(&s, &t, "user:alice", 60).await;
    assert!(
        streams_become(&s, 0).await,
        "the stalled stream was dropped under pressure"
    );
    assert!(queues_empty(&s).await, "its queued bytes were given back");
    let mut fine = Sse::open(&s, &t, "space=user:me", None).await;
    assert!(fine.next().await.is_some());
    drop(stalled);
    s.stop().await;
}

/// An SSE reader that stopped reading, on a socket with a small receive
/// buffer, asks for an 8 MB snapshot: the kernel takes a little, hyper holds
/// the rest of the message for the connection. That is memory the reader
/// makes the server hold, so it stays counted (until hyper asks for the
/// next message) — before, the count ended when hyper took the message, and
/// the sum read ~0 while megabytes sat in hyper's buffer.
async fn what_hyper_holds_for_a_stalled_sse_reader_counts(backend: Backend) {
    let (s, _db) = common::start_with(backend, |a| {
        a.ws_slow_consumer_ms = 600_000;
    })
    .await;
    let t = s.token("alice");
    fill(&s, &t, "user:alice", 40).await;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut stalled = sock.connect(s.addr).await.unwrap();
    let req = format!(
        "GET /v1/events?space=user:alice HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {t}\r\n\r\n"
    );
    stalled.write_all(req.as_bytes()).await.unwrap();
    assert!(streams_become(&s, 1).await, "the stream opened");
    // Long after the message left the stream's queue for hyper, it counts.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let held = s.state.outbound.queued();
    assert!(
        held > 4 << 20,
        "the snapshot hyper holds for the stalled reader counts: {held}"
    );
    drop(stalled);
    assert!(streams_become(&s, 0).await, "the stream ended");
    assert!(queues_empty(&s).await, "its bytes were given back");
    s.stop().await;
}
