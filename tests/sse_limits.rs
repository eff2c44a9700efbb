//! SSE streams live under the same rules as WebSockets (issue 20, points 2
//! and 5): the per-identity connection cap, the token's expiry, and the
//! slow-consumer rule (a reader that takes nothing is dropped, so what the
//! server holds for it stays bounded). Streams are counted through the
//! server's per-identity registry.

#[macro_use]
mod common;

use std::time::Duration;

use common::sse::Sse;
use common::{Backend, SECRET, TestServer};
use serde_json::json;
use tokio::io::AsyncWriteExt;

both_stores!(
    sse_streams_share_the_per_identity_cap,
    an_sse_stream_ends_when_its_token_expires,
    an_sse_reader_that_takes_nothing_is_dropped,
);

/// Waits (bounded) until the server holds `n` streams.
async fn streams_become(s: &TestServer, n: usize) -> bool {
    for _ in 0..400 {
        if s.state.ws_registry.total() == n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn sse_streams_share_the_per_identity_cap(backend: Backend) {
    let (s, _db) = common::start_with(backend, |a| a.ws_max_conns_per_user = 2).await;
    let t = s.token("alice");
    let _a = Sse::open(&s, &t, "space=user:me", None).await;
    let _b = Sse::open(&s, &t, "space=user:me", None).await;
    let r = s
        .http
        .get(s.url("/v1/events?space=user:me"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let (st, body) = common::decode(r).await;
    assert_eq!(
        (st, &body["error"]["code"]),
        (429, &json!("too_many_connections"))
    );
    // Another identity is not affected.
    let _c = Sse::open(&s, &s.token("bob"), "space=user:me", None).await;
    s.stop().await;
}

async fn an_sse_stream_ends_when_its_token_expires(backend: Backend) {
    let (s, _db) = common::start_with(backend, |_| {}).await;
    let exp = tidemark::http::auth::now_secs() + 1;
    let t = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "alice", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let mut sse = Sse::open(&s, &t, "space=user:me", None).await;
    let first = sse.next().await.expect("the catch-up answer");
    assert_ne!(first.name, "error");
    let mut ended = None;
    for _ in 0..5 {
        match sse.next().await {
            Some(e) if e.name == "error" => {
                ended = Some(e);
                break;
            }
            Some(_) => continue,
            None => break,
        }
    }
    let e = ended.expect("an error event at expiry");
    assert_eq!(e.data["code"], "unauthorized", "{:?}", e.data);
    assert!(streams_become(&s, 0).await, "the stream ended");
    s.stop().await;
}

async fn an_sse_reader_that_takes_nothing_is_dropped(backend: Backend) {
    let (s, _db) = common::start_with(backend, |a| a.ws_slow_consumer_ms = 300).await;
    let t = s.token("alice");
    let mut stalled = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let req = format!(
        "GET /v1/events?space=user:alice HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {t}\r\n\r\n"
    );
    stalled.write_all(req.as_bytes()).await.unwrap();
    assert!(streams_become(&s, 1).await, "the stream opened");
    // ~12 MiB of events: far more than the socket buffers take.
    let big = "x".repeat(200 * 1024);
    for i in 0..60u64 {
        let id = format!("d{}", i % 8);
        s.put(
            &t,
            "writer",
            i + 1,
            "user:alice",
            "notes",
            &id,
            json!({ "big": big, "i": i }),
        )
        .await;
    }
    assert!(
        streams_become(&s, 0).await,
        "the stalled stream was dropped"
    );
    // A reader that does read is not affected by that.
    let mut fine = Sse::open(&s, &t, "space=user:me", None).await;
    assert!(fine.next().await.is_some());
    s.stop().await;
}
