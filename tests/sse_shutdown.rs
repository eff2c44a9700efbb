//! Server-sent events with Last-Event-ID resume; graceful shutdown.

mod common;

use std::time::Duration;

use common::sse::Sse;
use common::ws::{Replica, Ws};
use common::{Backend, TestDb, TestServer, args};
use serde_json::{Value, json};

both_stores!(
    sse_streams_and_resumes_with_last_event_id,
    shutdown_closes_1012_and_loses_no_acknowledged_write
);

async fn sse_streams_and_resumes_with_last_event_id(b: Backend) {
    let db = TestDb::new(b).await;
    let mut a = args(&db);
    a.heartbeat_ms = 100;
    let s = TestServer::start(&a).await;
    let t = s.token("alice");
    s.put(&t, "w", 1, "user:me", "items", "a", json!(1)).await;
    let mut sse = Sse::open(&s, &t, "space=user:me", None).await;
    let first = sse.next().await.unwrap();
    assert_eq!(first.name, "snapshot");
    assert_eq!(first.data["type"], "snapshot");
    let epoch = first.data["epoch"].as_str().unwrap().to_string();
    assert_eq!(first.id, format!("{epoch}:1"));
    let mut rep = Replica::default();
    rep.apply(&first.data);
    for mid in 2..=4 {
        s.put(
            &t,
            "w",
            mid,
            "user:me",
            "items",
            &format!("i{mid}"),
            json!(mid),
        )
        .await;
    }
    let mut last_id = String::new();
    while rep.version < 4 {
        let e = sse.next().await.unwrap();
        assert_eq!(e.name, "event");
        assert_eq!(e.id, format!("{epoch}:{}", e.data["version"]));
        last_id = e.id.clone();
        rep.apply(&e.data);
    }
    // Heartbeat comments keep the stream alive.
    tokio::time::sleep(Duration::from_millis(350)).await;
    drop(sse);
    // Changes while disconnected, then the browser's automatic resume.
    for mid in 5..=7 {
        s.put(
            &t,
            "w",
            mid,
            "user:me",
            "items",
            &format!("i{mid}"),
            json!(mid),
        )
        .await;
    }
    let mut sse = Sse::open(
        &s,
        &t,
        &format!("space=user:me&cursor={epoch}:1"),
        Some(&last_id),
    )
    .await;
    let e = sse.next().await.unwrap();
    assert_eq!(
        (
            e.name.as_str(),
            e.data["from"].as_u64(),
            e.data["to"].as_u64()
        ),
        ("events", Some(4), Some(7))
    );
    assert_eq!(e.id, format!("{epoch}:7"));
    rep.apply(&e.data);
    s.put(&t, "w", 8, "user:me", "items", "i8", json!(8)).await;
    let e = sse.next().await.unwrap();
    rep.apply(&e.data);
    assert_eq!(rep.version, 8);
    assert!(
        sse.comments > 0 || {
            tokio::time::sleep(Duration::from_millis(300)).await;
            sse.next_comment().await
        }
    );
    // Another user's space is refused.
    let r = s
        .http
        .get(s.url("/v1/events?space=user:bob"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

async fn shutdown_closes_1012_and_loses_no_acknowledged_write(b: Backend) {
    let db = TestDb::new(b).await;
    let s = TestServer::start(&args(&db)).await;
    let t = s.token("alice");
    let mut w = Ws::open(&s.base, &t).await;
    w.hello("w", json!({"user:me": null})).await;
    let mut rep = Replica::default();
    rep.apply(&w.recv().await);
    let mut acked = 0;
    for mid in 1..=20u64 {
        w.send(
            json!({"type": "mutate", "mutation_id": mid, "space": "user:me",
            "ops": [{"op": "put", "collection": "items", "id": format!("i{mid}"), "value": mid}]}),
        )
        .await;
    }
    // Collect some acks, then shut down while writes may still be in flight.
    while acked < 5 {
        let f = w.recv().await;
        if f["type"] == "ack" {
            acked += 1;
        }
    }
    let sse = Sse::open(&s, &t, "space=user:me", None).await;
    let stopping = tokio::spawn(s.stop());
    let mut acks = acked;
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(10), futures::StreamExt::next(&mut w.ws))
            .await
        {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t)))) => {
                let f: Value = serde_json::from_str(&t).unwrap();
                if f["type"] == "ack" {
                    acks += 1;
                }
            }
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(f)))) => {
                break f.map(|f| u16::from(f.code));
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(code, Some(1012));
    tokio::time::timeout(Duration::from_secs(15), stopping)
        .await
        .expect("shutdown finishes in the grace period")
        .unwrap();
    // The SSE stream ended too.
    let mut sse = sse;
    let mut ended = false;
    for _ in 0..50 {
        if sse.next().await.is_none() {
            ended = true;
            break;
        }
    }
    assert!(ended, "the SSE stream ended at shutdown");
    // Every acknowledged write is there after a restart.
    let s = TestServer::start(&args(&db)).await;
    let (_, state) = s.get(&t, "/v1/spaces/user:me/state").await;
    assert!(
        state["version"].as_u64().unwrap() >= acks,
        "{acks} acks, state {}",
        state["version"]
    );
    for mid in 1..=acks {
        assert!(
            state["docs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["id"] == format!("i{mid}")),
            "write {mid} lost"
        );
    }
}
