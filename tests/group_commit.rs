//! Group commit: many concurrent writers (and racing retries) share
//! transactions, and each still gets exactly its own outcome.

mod common;

use common::{Backend, TestDb, TestServer, args, token};
use serde_json::json;
use tidemark::engine::Role;

both_stores!(concurrent_writers_and_racing_retries_are_each_applied_once);

async fn concurrent_writers_and_racing_retries_are_each_applied_once(b: Backend) {
    let db = TestDb::new(b).await;
    let s = std::sync::Arc::new(TestServer::start(&args(&db)).await);
    let mut tasks = vec![];
    for u in 0..40 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let t = token(&format!("u{u}"), Role::User);
            for mid in 1..=15u64 {
                let body = json!({"client_id": "c", "mutations": [{"mutation_id": mid, "space": "user:me",
                    "ops": [{"op": "patch", "collection": "n", "id": "x", "value": {format!("k{mid}"): mid}}]}]});
                // The same mutation sent twice at once: one applies, both get its outcome.
                let (a, b) = tokio::join!(s.sync(&t, body.clone()), s.sync(&t, body));
                assert_eq!(a["results"], b["results"], "user {u} mutation {mid}");
                assert_eq!(a["results"][0]["status"], "ack");
                assert_eq!(a["results"][0]["version"], mid);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for u in 0..40 {
        let space = format!("user:u{u}");
        assert_eq!(db.count("events", &space).await, 15, "{space}");
        let t = token(&format!("u{u}"), Role::User);
        let (_, doc) = s.get(&t, "/v1/spaces/user:me/docs/n/x").await;
        assert_eq!(doc["value"].as_object().unwrap().len(), 15);
        assert_eq!(doc["version"], 15);
    }
}
