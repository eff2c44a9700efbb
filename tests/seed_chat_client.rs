//! Seed 003's own client logic against tidemark: the client syncs its
//! conversations, later loads history and keeps only those whose `userId` is
//! the signed-in user's id (`conversations.filter((conv) => conv.userId ===
//! user.id)`). Everything it synced must come back through that filter, on
//! a full load and on a load since a version.

mod common;

use common::{Backend, TestDb, TestServer, args};
use serde_json::{Value, json};

both_stores!(the_seed_clients_user_filter_keeps_the_synced_history);

/// The seed client's filter, as it is written there.
fn seed_filter<'a>(answer: &'a Value, user_id: &str) -> Vec<&'a Value> {
    answer["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .filter(|conv| conv["userId"] == user_id)
        .collect()
}

async fn the_seed_clients_user_filter_keeps_the_synced_history(b: Backend) {
    let db = TestDb::new(b).await;
    let s = TestServer::start(&args(&db)).await;
    let t = s.token("alice");
    // Anonymous conversations migrated on sign-in carry no userId yet; the
    // others carry the user's. Both are the user's history.
    let body = json!({"conversations": [
        {"id": "c1", "title": "Trip", "userId": "alice", "createdAt": "2026-11-20T09:00:00Z",
         "updatedAt": "2026-11-20T09:05:00Z", "messages": [
            {"id": "m1", "role": "user", "content": "Plan a trip", "timestamp": "2026-11-20T09:00:30Z"}]},
        {"id": "c2", "title": "Draft", "createdAt": "2026-11-21T09:00:00Z",
         "updatedAt": "2026-11-21T09:05:00Z", "messages": [
            {"id": "m2", "role": "user", "content": "Hello", "timestamp": "2026-11-21T09:00:30Z"}]}]});
    let (st, r) = s.send("POST", &t, "/api/chat/sync", Some(body)).await;
    assert_eq!(st, 200, "{r}");
    let v1 = r["version"].as_u64().expect("version");

    let (st, all) = s.get(&t, "/api/chat/sync").await;
    assert_eq!(st, 200, "{all}");
    let kept: Vec<&str> = seed_filter(&all, "alice")
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        kept,
        ["c1", "c2"],
        "the seed client keeps every synced conversation: {all}"
    );

    // A later change, loaded since the version the first sync answered.
    let more = json!({"conversations": [{"id": "c1", "title": "Trip to Rome", "userId": "alice",
        "createdAt": "2026-11-20T09:00:00Z", "updatedAt": "2026-11-22T09:05:00Z", "messages": [
            {"id": "m1", "role": "user", "content": "Plan a trip", "timestamp": "2026-11-20T09:00:30Z"},
            {"id": "m3", "role": "user", "content": "Rome", "timestamp": "2026-11-22T09:00:30Z"}]}]});
    let (st, r) = s.send("POST", &t, "/api/chat/sync", Some(more)).await;
    assert_eq!(st, 200, "{r}");
    let (_, delta) = s.get(&t, &format!("/api/chat/sync?since={v1}")).await;
    let kept = seed_filter(&delta, "alice");
    assert_eq!(kept.len(), 1, "{delta}");
    assert_eq!(kept[0]["title"], "Trip to Rome");
    // Another user's filter keeps nothing of alice's.
    assert!(seed_filter(&all, "bob").is_empty());
    s.stop().await;
}
