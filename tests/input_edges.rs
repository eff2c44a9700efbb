//! Client-supplied numbers and ids at their edges: a mutation id the stores
//! cannot hold exactly is refused (never saturated, so never applied twice),
//! client ids are bounded printable ASCII on every transport, and a chat
//! message's token count has a documented ceiling.

mod common;

use common::ws::Ws;
use common::{Backend, TestDb, TestServer, args};
use serde_json::json;

both_stores!(
    a_mutation_id_past_i64_is_refused_and_never_applied,
    client_ids_are_bounded_printable_ascii_everywhere,
    chat_token_counts_have_a_ceiling,
);

fn put(client: &str, mid: u64, id: &str) -> serde_json::Value {
    json!({"client_id": client, "mutations": [{"mutation_id": mid, "space": "user:me",
        "ops": [{"op": "put", "collection": "items", "id": id, "value": {"n": 1}}]}]})
}

async fn a_mutation_id_past_i64_is_refused_and_never_applied(b: Backend) {
    let db = TestDb::new(b).await;
    let s = TestServer::start(&args(&db)).await;
    let t = s.token("ann");
    let big = i64::MAX as u64 + 1;
    for _ in 0..2 {
        let r = s.sync(&t, put("tab", big, "x")).await;
        let res = &r["results"][0];
        assert_eq!(
            (res["status"].as_str(), res["code"].as_str()),
            (Some("reject"), Some("invalid")),
            "{r}"
        );
        assert!(
            res["message"].as_str().unwrap().contains("mutation_id"),
            "{r}"
        );
    }
    let (st, _) = s.get(&t, "/v1/spaces/user:me/docs/items/x").await;
    assert_eq!(st, 404, "nothing was applied");
    // The largest id that fits is taken, once.
    let r = s.sync(&t, put("tab", i64::MAX as u64, "y")).await;
    assert_eq!(r["results"][0]["status"], "ack", "{r}");
    // Over WebSocket too.
    let mut ws = Ws::open(&s.base, &t).await;
    ws.hello("tab2", json!({})).await;
    ws.send(
        json!({"type": "mutate", "mutation_id": big, "space": "user:me",
        "ops": [{"op": "put", "collection": "items", "id": "z", "value": {}}]}),
    )
    .await;
    let f = ws.recv().await;
    assert_eq!(
        (f["type"].as_str(), f["code"].as_str()),
        (Some("reject"), Some("invalid")),
        "{f}"
    );
    s.stop().await;
}

async fn client_ids_are_bounded_printable_ascii_everywhere(b: Backend) {
    let db = TestDb::new(b).await;
    let s = TestServer::start(&args(&db)).await;
    let t = s.token("bea");
    for bad in ["", "tab\u{7}", "a b", &"x".repeat(129), "tab\u{e9}"] {
        let (st, v) = s.send("POST", &t, "/v1/sync", Some(put(bad, 1, "x"))).await;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (422, Some("invalid")),
            "{bad:?}: {v}"
        );
    }
    // A per-mutation client id goes through the same check.
    let body = json!({"client_id": "tab", "mutations": [{"client_id": "bad\nid", "mutation_id": 1,
        "space": "user:me", "ops": [{"op": "put", "collection": "items", "id": "x", "value": {}}]}]});
    let r = s.sync(&t, body).await;
    assert_eq!(r["results"][0]["code"], "invalid", "{r}");
    let mut ws = Ws::open(&s.base, &t).await;
    ws.hello("tab\u{1b}[31m", json!({})).await;
    let f = ws.recv().await;
    assert_eq!(f["type"], "error", "{f}");
    assert!(f["message"].as_str().unwrap().contains("client_id"), "{f}");
    s.stop().await;
}

async fn chat_token_counts_have_a_ceiling(b: Backend) {
    let db = TestDb::new(b).await;
    let s = TestServer::start(&args(&db)).await;
    let t = s.token("cal");
    let body = json!({"conversations": [{"id": "c1", "messages": [
        {"id": "m1", "role": "user", "content": "hi", "tokens": u64::MAX}]}]});
    let (st, v) = s.send("POST", &t, "/api/chat/sync", Some(body)).await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (422, Some("conversations[0].messages[0].tokens")),
        "{v}"
    );
    let ok = json!({"conversations": [{"id": "c1", "messages": [
        {"id": "m1", "role": "user", "content": "hi", "tokens": 10_000_000u64},
        {"id": "m2", "role": "assistant", "content": "ho", "tokens": 10_000_000u64}]}]});
    let (st, v) = s.send("POST", &t, "/api/chat/sync", Some(ok)).await;
    assert_eq!(st, 200, "{v}");
    let (_, u) = s.get(&t, "/api/usage/daily").await;
    assert_eq!(u["totals"]["tokens"], 20_000_000u64);
    s.stop().await;
}
