//! Bad input, auth, limits, heartbeat, slow consumers.

mod common;

use std::time::Duration;

use common::ws::{Replica, Ws, connect};
use common::{Backend, TestDb, TestServer, args, token};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tidemark::config::ServeArgs;
use tidemark::engine::Role;
use tokio_tungstenite::tungstenite::Message;

async fn start(f: impl FnOnce(&mut ServeArgs)) -> (TestDb, TestServer) {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut a = args(&db);
    f(&mut a);
    let s = TestServer::start(&a).await;
    (db, s)
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_connection_lives() {
    let (_db, s) = start(|a| a.ws_max_frame_bytes = 1024).await;
    let t = s.token("alice");
    let mut bystander = Ws::open(&s.base, &t).await;
    bystander.hello("bystander", json!({"user:me": null})).await;
    bystander.recv().await;
    let mut w = Ws::open(&s.base, &t).await;
    let cases: Vec<(Message, &str)> = vec![
        (Message::Text("{not json".into()), "bad_message"),
        (Message::Text("[1,2]".into()), "bad_message"),
        (
            Message::Text(r#"{"type":"subscribe"}"#.into()),
            "unknown_type",
        ),
        (
            Message::Text(r#"{"type":"hello","protocol":1}"#.into()),
            "bad_message",
        ),
        (
            Message::Text(format!(r#"{{"type":"ping","nonce":"{}"}}"#, "x".repeat(2000)).into()),
            "too_large",
        ),
        (Message::Binary(vec![1u8, 2, 3].into()), "bad_message"),
        (
            Message::Text(r#"{"type":"mutate","mutation_id":1,"space":"user:me","ops":[]}"#.into()),
            "bad_message",
        ),
    ];
    for (i, (m, code)) in cases.into_iter().enumerate() {
        w.send_raw(m).await;
        let f = w.recv().await;
        assert_eq!(
            (f["type"].as_str(), f["code"].as_str()),
            (Some("error"), Some(code)),
            "case {i}: {f}"
        );
        w.roundtrip(i as u64).await;
    }
    // A mutate frame over the limit is rejected by id (not processed).
    let big = json!({"type": "mutate", "mutation_id": 1, "space": "user:me",
        "ops": [{"op": "put", "collection": "a", "id": "x", "value": "z".repeat(2000)}]});
    w.send(big).await;
    let f = w.recv().await;
    assert_eq!(
        (
            f["type"].as_str(),
            f["code"].as_str(),
            f["mutation_id"].as_u64()
        ),
        (Some("reject"), Some("too_large"), Some(1)),
        "{f}"
    );
    // Invalid ops are rejected, not errors; the connection goes on.
    w.hello("c1", json!({})).await;
    w.send(
        json!({"type": "mutate", "mutation_id": 1, "space": "user:me",
        "ops": [{"op": "put", "collection": "BAD NAME", "id": "x", "value": 1}]}),
    )
    .await;
    let f = w.recv().await;
    assert_eq!(
        (f["type"].as_str(), f["code"].as_str()),
        (Some("reject"), Some("invalid")),
        "{f}"
    );
    w.send(
        json!({"type": "mutate", "mutation_id": 2, "space": "user:me",
        "ops": [{"op": "put", "collection": "ok", "id": "x", "value": 1}]}),
    )
    .await;
    assert_eq!(w.recv().await["type"], "ack");
    // The other connection was unaffected and saw the good write.
    let f = bystander.recv().await;
    assert_eq!(
        (f["type"].as_str(), f["version"].as_u64()),
        (Some("event"), Some(1))
    );
}

#[tokio::test]
async fn sustained_abuse_closes_with_4008() {
    let (_db, s) = start(|a| a.ws_abuse_threshold = 5).await;
    let t = s.token("alice");
    let mut w = Ws::open(&s.base, &t).await;
    for _ in 0..10 {
        if w.ws.send(Message::Text("garbage".into())).await.is_err() {
            break;
        }
    }
    let (code, reason) = w
        .closed(Duration::from_secs(5))
        .await
        .expect("a close frame");
    assert_eq!(code, 4008, "{reason}");
    // Others are fine.
    let mut ok = Ws::open(&s.base, &t).await;
    ok.roundtrip(1).await;
}

#[tokio::test]
async fn message_flood_is_rate_limited() {
    let (_db, s) = start(|a| {
        a.ws_msg_rate = 5;
        a.ws_abuse_threshold = 1000;
    })
    .await;
    let t = s.token("alice");
    let mut w = Ws::open(&s.base, &t).await;
    for n in 0..40 {
        w.send(json!({"type": "ping", "nonce": n})).await;
    }
    let mut limited = 0;
    for _ in 0..40 {
        let f = w.recv().await;
        if f["code"] == "rate_limited" {
            limited += 1;
        }
    }
    assert!(
        limited >= 20,
        "a burst beyond the rate is refused ({limited} refused)"
    );
}

#[tokio::test]
async fn too_many_connections_for_one_user_are_refused() {
    let (_db, s) = start(|a| a.ws_max_conns_per_user = 2).await;
    let t = s.token("alice");
    let _a = Ws::open(&s.base, &t).await;
    let _b = Ws::open(&s.base, &t).await;
    let mut c = connect(&s.base, Some(&t)).await.unwrap();
    let (code, reason) = c.closed(Duration::from_secs(5)).await.expect("close frame");
    assert_eq!(code, 4008);
    assert_eq!(reason, "too many connections for this user");
    // Another user is not affected.
    Ws::open(&s.base, &s.token("bob")).await.roundtrip(1).await;
}

#[tokio::test]
async fn query_token_is_checked_before_the_upgrade() {
    let (_db, s) = start(|_| {}).await;
    let err = connect(&s.base, Some("not-a-token"))
        .await
        .err()
        .expect("refused");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(r) => assert_eq!(r.status(), 401),
        e => panic!("expected HTTP 401, got {e}"),
    }
}

#[tokio::test]
async fn a_request_that_is_not_a_handshake_gets_a_json_error() {
    let (_db, s) = start(|_| {}).await;
    let (status, body) = s.get(&s.token("alice"), "/v1/ws").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "bad_request");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("WebSocket")),
        "{body}"
    );
}

/// Sends one handshake request with `version` and `key` over a raw socket;
/// returns the response (a refusal whole; a 101's headers).
async fn raw_handshake(s: &TestServer, version: Option<&str>, key: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut req = format!(
        "GET /v1/ws?access_token={} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade, close\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Key: {key}\r\n",
        s.token("alice"),
        s.addr
    );
    if let Some(v) = version {
        req.push_str(&format!("Sec-WebSocket-Version: {v}\r\n"));
    }
    req.push_str("\r\n");
    sock.write_all(req.as_bytes()).await.unwrap();
    // A refusal ends with the connection; a 101 ends with its headers.
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf))
            .await
            .expect("the server answers")
            .unwrap();
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out);
        if n == 0 || (text.starts_with("HTTP/1.1 101") && text.contains("\r\n\r\n")) {
            return text.into_owned();
        }
    }
}

#[tokio::test]
async fn a_bad_handshake_is_refused_as_rfc_6455_says() {
    let (_db, s) = start(|_| {}).await;
    let good_key = "dGhlIHNhbXBsZSBub25jZQ==";
    // Another protocol version: 426 naming the one spoken.
    let r = raw_handshake(&s, Some("8"), good_key).await;
    assert!(r.starts_with("HTTP/1.1 426"), "{r}");
    assert!(
        r.to_ascii_lowercase().contains("sec-websocket-version: 13"),
        "{r}"
    );
    assert!(r.contains("\"upgrade_required\""), "{r}");
    // No version at all, or a key that is not 16 bytes in base64: 400.
    for (version, key) in [
        (None, good_key),
        (Some("13"), "not base64!"),
        (Some("13"), "c2hvcnQ="),
    ] {
        let r = raw_handshake(&s, version, key).await;
        assert!(r.starts_with("HTTP/1.1 400"), "{version:?} {key}: {r}");
        assert!(r.contains("\"bad_request\""), "{r}");
    }
    // The same request done right is a WebSocket.
    let r = raw_handshake(&s, Some("13"), good_key).await;
    assert!(r.starts_with("HTTP/1.1 101"), "{r}");
    assert!(r.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{r}");
}

#[tokio::test]
async fn auth_message_flow() {
    let (_db, s) = start(|a| a.ws_auth_timeout_ms = 300).await;
    // A valid first auth message opens the session.
    let mut w = connect(&s.base, None).await.unwrap();
    w.send(json!({"type": "auth", "token": s.token("alice")}))
        .await;
    assert_eq!(w.recv().await["type"], "welcome");
    w.hello("c", json!({"user:me": null})).await;
    assert_eq!(w.recv().await["space"], "user:alice");
    // A bad one closes with 4001.
    let mut w = connect(&s.base, None).await.unwrap();
    w.send(json!({"type": "auth", "token": "nope"})).await;
    assert_eq!(w.closed(Duration::from_secs(5)).await.unwrap().0, 4001);
    // None within the time allowed closes with 4001.
    let mut w = connect(&s.base, None).await.unwrap();
    assert_eq!(w.closed(Duration::from_secs(5)).await.unwrap().0, 4001);
}

#[tokio::test]
async fn expired_token_closes_4001_unless_refreshed() {
    let (_db, s) = start(|_| {}).await;
    let auth = tidemark::http::auth::Auth::new(common::SECRET.as_bytes(), None);
    let short = auth.mint("alice", Role::User, 2).unwrap().0;
    let mut stale = Ws::open(&s.base, &short).await;
    let mut fresh = Ws::open(&s.base, &short).await;
    fresh
        .send(json!({"type": "auth", "token": token("alice", Role::User)}))
        .await;
    let (code, reason) = stale
        .closed(Duration::from_secs(6))
        .await
        .expect("close frame");
    assert_eq!((code, reason.as_str()), (4001, "token expired"));
    fresh.roundtrip(7).await;
    // A refresh for another user is refused.
    fresh
        .send(json!({"type": "auth", "token": token("bob", Role::User)}))
        .await;
    assert_eq!(fresh.closed(Duration::from_secs(5)).await.unwrap().0, 4001);
}

#[tokio::test]
async fn forbidden_subscription_errors_and_others_go_on() {
    let (_db, s) = start(|_| {}).await;
    let mut w = Ws::open(&s.base, &s.token("alice")).await;
    w.hello(
        "c",
        json!({"user:bob": null, "catalog": null, "user:me": null}),
    )
    .await;
    let mut got = vec![];
    for _ in 0..3 {
        got.push(w.recv().await);
    }
    let err = got
        .iter()
        .find(|f| f["type"] == "error")
        .expect("an error frame");
    assert_eq!(
        (err["code"].as_str(), err["space"].as_str()),
        (Some("forbidden"), Some("user:bob"))
    );
    assert_eq!(got.iter().filter(|f| f["type"] == "snapshot").count(), 2);
}

#[tokio::test]
async fn heartbeat_pings_and_drops_dead_peers() {
    let (_db, s) = start(|a| a.heartbeat_ms = 150).await;
    let t = s.token("alice");
    // A live client sees protocol pings (and its library answers them).
    let mut live = Ws::open(&s.base, &t).await;
    let mut pings = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);

    while pings < 3 && tokio::time::Instant::now() < deadline {
        if let Ok(Some(Ok(Message::Ping(_)))) =
            tokio::time::timeout(Duration::from_millis(500), live.ws.next()).await
        {
            pings += 1;
        }
    }
    assert!(pings >= 3, "pings every heartbeat interval");
    // A peer that never answers (never polled, so no pong) is dropped after two intervals.
    let mut dead = Ws::open(&s.base, &t).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut ended = false;
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(500), dead.ws.next()).await {
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                ended = true;
                break;
            }
            _ => {}
        }
    }
    assert!(ended, "the dead peer was dropped");
    drop(live);
    Ws::open(&s.base, &t).await.roundtrip(1).await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_with_4009() {
    let (_db, s) = start(|a| {
        a.ws_queue_bytes = 64 * 1024;
        a.ws_slow_consumer_ms = 500;
        a.heartbeat_ms = 5_000;
    })
    .await;
    let t = s.token("alice");
    let mut stuck = Ws::open(&s.base, &t).await;
    stuck.hello("stuck", json!({"user:me": null})).await;
    let mut writer = Ws::open(&s.base, &t).await;
    writer.hello("w", json!({})).await;
    let big = "x".repeat(60 * 1024);
    // ~24 MB of events: far more than socket buffers and the 64 KiB queue.
    for mid in 1..=400u64 {
        writer
            .send(json!({"type": "mutate", "mutation_id": mid, "space": "user:me",
                "ops": [{"op": "put", "collection": "blobs", "id": format!("b{}", mid % 3), "value": {"mid": mid, "pad": big}}]}))
            .await;
        assert_eq!(writer.recv().await["type"], "ack");
    }
    // Reading again: what was queued, then the close.
    let (code, _) = stuck
        .closed(Duration::from_secs(20))
        .await
        .expect("a close frame");
    assert_eq!(code, 4009);
    // It resumes with its cursor.
    writer.roundtrip(1).await;
}

#[tokio::test]
async fn a_slow_reader_is_caught_up_in_band() {
    let (_db, s) = start(|a| {
        a.ws_queue_bytes = 32 * 1024;
        a.ws_slow_consumer_ms = 30_000;
        a.ring_events = 8;
    })
    .await;
    let t = s.token("alice");
    let mut slow = Ws::open(&s.base, &t).await;
    slow.hello("slow", json!({"user:me": null})).await;
    let mut rep = Replica::default();
    rep.apply(&slow.recv().await);
    let mut writer = Ws::open(&s.base, &t).await;
    writer.hello("w", json!({})).await;
    let pad = "y".repeat(32 * 1024);
    for mid in 1..=300u64 {
        writer
            .send(json!({"type": "mutate", "mutation_id": mid, "space": "user:me",
                "ops": [{"op": "put", "collection": "items", "id": format!("i{}", mid % 20), "value": {"mid": mid, "pad": pad}}]}))
            .await;
        assert_eq!(writer.recv().await["type"], "ack");
    }
    let mut batches = 0;
    while rep.version < 300 {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let f = slow.recv().await;
        if f["type"] == "events" || f["type"] == "snapshot" {
            batches += 1;
        }
        rep.apply(&f); // panics on any gap or duplicate
    }
    assert!(
        batches >= 1,
        "the lagging reader was caught up with events or a snapshot"
    );
    let (_, state) = s.get(&t, "/v1/spaces/user:me/state").await;
    assert_eq!(rep.docs.len(), state["docs"].as_array().unwrap().len());
    for d in state["docs"].as_array().unwrap() {
        let k = (
            d["collection"].as_str().unwrap().to_string(),
            d["id"].as_str().unwrap().to_string(),
        );
        assert_eq!(rep.docs[&k], d["value"]);
    }
}
