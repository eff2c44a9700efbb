//! Seed 003's chat sync. The full-history payload writes
//! only what changed; failed messages are never stored; usage counts each
//! message once, when it is first stored.

mod common;
mod domain_util;

use common::{Backend, TestDb, TestServer};
use domain_util::{head, start};
use serde_json::{Value, json};
use tidemark::domain::dates;

both_stores!(
    the_same_500_message_history_twice_writes_nothing_the_second_time,
    failed_messages_are_skipped_and_reported,
    history_reads_back_in_the_seed_shape_and_since_a_version,
    concurrent_identical_syncs_count_usage_once,
    bad_payloads_are_422_naming_the_field,
);

fn msg(i: usize, conv: usize) -> Value {
    let role = if i.is_multiple_of(2) {
        "user"
    } else {
        "assistant"
    };
    json!({"id": format!("m{conv}-{i}"), "role": role, "content": format!("message {i}"),
           "timestamp": 1_763_700_000_000u64 + i as u64, "tokens": 10 + i % 7})
}

/// `convs` conversations of `per` messages each, in the seed's shape.
fn history(convs: usize, per: usize) -> Value {
    let list: Vec<Value> = (0..convs)
        .map(|c| {
            json!({"id": format!("c{c}"), "title": format!("Chat {c}"), "userId": "alice",
            "createdAt": "2026-11-20T09:00:00Z", "updatedAt": "2026-11-21T10:00:00Z",
            "messages": (0..per).map(|i| msg(i, c)).collect::<Vec<_>>()})
        })
        .collect();
    json!({"conversations": list})
}

async fn post(s: &TestServer, t: &str, body: &Value) -> Value {
    let (st, v) = s
        .send("POST", t, "/api/chat/sync", Some(body.clone()))
        .await;
    assert_eq!(st, 200, "{v}");
    v
}

async fn usage(s: &TestServer, t: &str) -> Value {
    let (st, v) = s.get(t, "/api/usage/daily").await;
    assert_eq!(st, 200, "{v}");
    v
}

/// Rows of `collection` in the docs table, and all event rows, of a space.
async fn rows(db: &TestDb, space: &str, collection: &str) -> (i64, i64) {
    let sql = format!("SELECT COUNT(*) FROM docs WHERE space = $1 AND collection = '{collection}'");
    (
        db.scalar_i64(&sql, space).await,
        db.count("events", space).await,
    )
}

async fn the_same_500_message_history_twice_writes_nothing_the_second_time(b: Backend) {
    let (db, s) = start(b, |_| {}).await;
    let t = s.token("alice");
    let mut body = history(2, 250);
    let first = post(&s, &t, &body).await;
    // 500 messages + 2 conversations and the usage increment, in one
    // mutation: 503 versions.
    assert_eq!(
        first,
        json!({"written": 502, "unchanged": 0, "skipped_failed": 0, "version": 503})
    );
    let tokens: u64 = (0..250).map(|i| 10 + (i % 7) as u64).sum::<u64>() * 2;
    let today = dates::format_day(dates::today());
    let counted =
        json!({"date": today, "messages_sent": 250, "messages_received": 250, "tokens": tokens});
    assert_eq!(usage(&s, &t).await["days"], json!([counted]));
    let before = rows(&db, "user:alice", "messages").await;
    assert_eq!(before.0, 500);

    let again = post(&s, &t, &body).await;
    assert_eq!(
        again,
        json!({"written": 0, "unchanged": 502, "skipped_failed": 0, "version": 503})
    );
    assert_eq!(
        rows(&db, "user:alice", "messages").await,
        before,
        "no row, no event"
    );
    assert_eq!(head(&s, &t, "user:me").await.1, 503);
    assert_eq!(
        usage(&s, &t).await["days"],
        json!([counted]),
        "a replay counts nothing"
    );

    // One new message: exactly one message row written, counted once, and
    // its conversation's statistics.
    let new = json!({"id": "m-new", "role": "user", "content": "one more", "tokens": 5});
    body["conversations"][1]["messages"]
        .as_array_mut()
        .unwrap()
        .push(new);
    let third = post(&s, &t, &body).await;
    assert_eq!(
        third,
        json!({"written": 2, "unchanged": 501, "skipped_failed": 0, "version": 506})
    );
    let (msgs, events) = rows(&db, "user:alice", "messages").await;
    assert_eq!(
        (msgs, events),
        (501, before.1 + 3),
        "the message, its conversation and the usage document"
    );
    let changed = db
        .scalar_i64("SELECT COUNT(*) FROM docs WHERE space = $1 AND collection = 'messages' AND version > 503", "user:alice")
        .await;
    assert_eq!(changed, 1);
    let mut counted = counted;
    counted["messages_sent"] = json!(251);
    counted["tokens"] = json!(tokens + 5);
    assert_eq!(usage(&s, &t).await["days"], json!([counted]));
    assert_eq!(post(&s, &t, &body).await["written"], 0);
    assert_eq!(
        usage(&s, &t).await["totals"],
        json!({"messages_sent": 251, "messages_received": 250, "tokens": tokens + 5})
    );
}

async fn failed_messages_are_skipped_and_reported(b: Backend) {
    let (_db, s) = start(b, |_| {}).await;
    let t = s.token("alice");
    let mut body = history(1, 3);
    body["conversations"][0]["messages"][1]["error"] = json!(true);
    body["conversations"][0]["messages"]
        .as_array_mut()
        .unwrap()
        .push(json!(
        {"id": "m-x", "role": "user", "content": "network down", "error": true}));
    let r = post(&s, &t, &body).await;
    assert_eq!(
        (r["written"].as_u64(), r["skipped_failed"].as_u64()),
        (Some(3), Some(2)),
        "{r}"
    );
    for id in ["m0-1", "m-x"] {
        let (st, _) = s
            .get(&t, &format!("/v1/spaces/user:me/docs/messages/{id}"))
            .await;
        assert_eq!(st, 404, "{id} was never stored");
    }
    assert_eq!(
        usage(&s, &t).await["totals"]["messages_received"],
        0,
        "the failed reply is not counted"
    );
    // Retried successfully, it is stored and counted then.
    body["conversations"][0]["messages"][1]["error"] = json!(false);
    let r = post(&s, &t, &body).await;
    assert_eq!(
        (r["written"].as_u64(), r["skipped_failed"].as_u64()),
        (Some(2), Some(1)),
        "the message and its conversation's statistics"
    );
    assert_eq!(usage(&s, &t).await["totals"]["messages_received"], 1);
    // A client cannot store a failed message through the generic API either.
    let (st, v) = s
        .send(
            "PUT",
            &t,
            "/v1/spaces/user:me/docs/messages/m-y",
            Some(json!({"conversation_id": "c0", "role": "user", "content": "x", "error": true})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("invalid")),
        "{v}"
    );
}

async fn history_reads_back_in_the_seed_shape_and_since_a_version(b: Backend) {
    let (_db, s) = start(b, |_| {}).await;
    let t = s.token("alice");
    let mut body = json!({"conversations": [{"id": "c1", "title": "Trip", "createdAt": "2026-11-20T09:00:00Z",
    "updatedAt": "2026-11-20T09:05:00Z", "model": "gpt-4o", "userId": "alice", "messages": [
        {"id": "a2", "role": "assistant", "content": "Sure.", "timestamp": "2026-11-20T09:01:00Z", "model": "gpt-4o", "tokens": 12},
        {"id": "a1", "role": "user", "content": "Plan a trip", "timestamp": "2026-11-20T09:00:30Z", "isStreaming": false},
    ]}]});
    let r = post(&s, &t, &body).await;
    let v1 = r["version"].as_u64().unwrap();
    let (st, got) = s.get(&t, "/api/chat/sync").await;
    assert_eq!(st, 200);
    assert_eq!(
        got,
        json!({"conversations": [{"id": "c1", "title": "Trip", "createdAt": "2026-11-20T09:00:00Z",
        "updatedAt": "2026-11-20T09:05:00Z", "model": "gpt-4o", "userId": "alice",
        "stats": {"messageCount": 2, "totalTokens": 12, "lastMessageAt": "2026-11-20T09:01:00Z"}, "messages": [
            {"id": "a1", "role": "user", "content": "Plan a trip", "timestamp": "2026-11-20T09:00:30Z"},
            {"id": "a2", "role": "assistant", "content": "Sure.", "timestamp": "2026-11-20T09:01:00Z", "model": "gpt-4o", "tokens": 12},
        ]}], "deleted": {"conversations": [], "messages": []}, "version": v1, "full": true})
    );
    let (_, none) = s.get(&t, &format!("/api/chat/sync?since={v1}")).await;
    assert_eq!(
        none,
        json!({"conversations": [], "deleted": {"conversations": [], "messages": []}, "version": v1, "full": false,
               "since": {"kind": "version", "value": v1, "version": v1}})
    );
    // A new message and a title change.
    body["conversations"][0]["title"] = json!("Trip to Rome");
    body["conversations"][0]["messages"].as_array_mut().unwrap().push(
        json!({"id": "a3", "role": "user", "content": "Rome", "timestamp": "2026-11-20T09:02:00Z"}));
    let v2 = post(&s, &t, &body).await["version"].as_u64().unwrap();
    let (_, delta) = s.get(&t, &format!("/api/chat/sync?since={v1}")).await;
    assert_eq!(delta["conversations"][0]["title"], "Trip to Rome");
    let ids: Vec<&str> = delta["conversations"][0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a3"]);
    assert_eq!(
        (delta["version"].as_u64(), delta["full"].as_bool()),
        (Some(v2), Some(false))
    );
    // Deletions made elsewhere are reported; a future version gets everything.
    s.send("DELETE", &t, "/v1/spaces/user:me/docs/messages/a2", None)
        .await;
    let (_, delta) = s.get(&t, &format!("/api/chat/sync?since={v2}")).await;
    assert_eq!(delta["deleted"]["messages"], json!(["a2"]));
    let (_, all) = s.get(&t, "/api/chat/sync?since=999999").await;
    assert_eq!(
        (
            all["full"].as_bool(),
            all["conversations"][0]["messages"]
                .as_array()
                .unwrap()
                .len()
        ),
        (Some(true), 2)
    );
    let (st, v) = s.get(&t, "/api/chat/sync?since=yesterday").await;
    assert_eq!((st, v["error"]["field"].as_str()), (422, Some("since")));
}

async fn concurrent_identical_syncs_count_usage_once(b: Backend) {
    let (_db, s) = start(b, |_| {}).await;
    let t = s.token("alice");
    let body = history(1, 150);
    let (a, c) = tokio::join!(post(&s, &t, &body), post(&s, &t, &body));
    let written = a["written"].as_u64().unwrap() + c["written"].as_u64().unwrap();
    assert_eq!(
        written, 151,
        "each document written by exactly one of them: {a} {c}"
    );
    let totals = usage(&s, &t).await["totals"].clone();
    assert_eq!(
        (
            totals["messages_sent"].as_u64(),
            totals["messages_received"].as_u64()
        ),
        (Some(75), Some(75))
    );
}

async fn bad_payloads_are_422_naming_the_field(b: Backend) {
    let (_db, s) = start(b, |_| {}).await;
    let t = s.token("alice");
    for (body, field) in [
        (json!({}), "conversations"),
        (
            json!({"conversations": [{"title": "x"}]}),
            "conversations[0].id",
        ),
        (
            json!({"conversations": [{"id": "c", "messages": [{"id": "m", "role": "robot", "content": ""}]}]}),
            "conversations[0].messages[0].role",
        ),
        (
            json!({"conversations": [{"id": "c", "messages": [{"id": "m", "role": "user"}]}]}),
            "conversations[0].messages[0].content",
        ),
        (
            json!({"conversations": [{"id": "c", "messages": [{"id": "m", "role": "user", "content": "", "tokens": -1}]}]}),
            "conversations[0].messages[0].tokens",
        ),
    ] {
        let (st, v) = s
            .send("POST", &t, "/api/chat/sync", Some(body.clone()))
            .await;
        assert_eq!(
            (st, v["error"]["field"].as_str()),
            (422, Some(field)),
            "{body}: {v}"
        );
    }
    assert_eq!(head(&s, &t, "user:me").await.1, 0);
    let (st, _) = s
        .send("POST", &t, "/api/chat/sync", Some(json!("not an object")))
        .await;
    assert_eq!(st, 422);
}
