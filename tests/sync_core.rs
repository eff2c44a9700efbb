//! Sync behaviour over real sockets, against SQLite and PostgreSQL.

mod common;

use common::{Backend, TestDb, TestServer, args};
use serde_json::{Value, json};

both_stores!(
    retried_mutation_is_applied_once,
    noop_write_bumps_nothing_and_writes_no_row,
    conflict_rejection_carries_current_document,
    merge_patches_of_different_fields_both_win,
    batch_is_atomic,
    out_of_order_mutation_is_rejected_and_not_recorded,
    rejected_mutation_counts_as_processed,
    catch_up_from_memory,
    catch_up_from_database_after_eviction,
    catch_up_after_restart,
    snapshot_after_epoch_change,
    snapshot_past_retention,
    aliases_are_answered_by_real_name,
    ids_with_slashes_round_trip,
);

async fn server(b: Backend) -> (TestDb, TestServer) {
    let db = TestDb::new(b).await;
    let s = TestServer::start(&args(&db)).await;
    (db, s)
}

async fn version(s: &TestServer, tok: &str, space: &str) -> u64 {
    let (st, v) = s.get(tok, &format!("/v1/spaces/{space}/version")).await;
    assert_eq!(st, 200, "{v}");
    v["version"].as_u64().expect("version")
}

async fn retried_mutation_is_applied_once(b: Backend) {
    let (db, s) = server(b).await;
    let t = s.token("alice");
    let body = json!({"client_id": "c1", "mutations": [{"mutation_id": 1, "space": "user:me",
        "ops": [{"op": "patch", "collection": "counters", "id": "a", "value": {"n": 1}}]}]});
    let first = s.sync(&t, body.clone()).await;
    let again = s.sync(&t, body).await;
    assert_eq!(
        first["results"], again["results"],
        "a retry gets the original outcome"
    );
    assert_eq!(first["results"][0]["status"], "ack");
    assert_eq!(version(&s, &t, "user:me").await, 1);
    assert_eq!(db.count("events", "user:alice").await, 1);
}

async fn noop_write_bumps_nothing_and_writes_no_row(b: Backend) {
    let (db, s) = server(b).await;
    let t = s.token("alice");
    let r1 = s
        .put(
            &t,
            "c1",
            1,
            "user:me",
            "settings",
            "ui",
            json!({"theme": "dark", "language": "en"}),
        )
        .await;
    assert_eq!(
        r1,
        json!({"mutation_id": 1, "status": "ack", "version": 1, "noop": false})
    );
    // Same content, keys in another order: no change.
    let r2 = s
        .put(
            &t,
            "c1",
            2,
            "user:me",
            "settings",
            "ui",
            json!({"language": "en", "theme": "dark"}),
        )
        .await;
    assert_eq!(
        r2,
        json!({"mutation_id": 2, "status": "ack", "version": 1, "noop": true})
    );
    let (_, r3) = s
        .send(
            "PATCH",
            &t,
            "/v1/spaces/user:me/docs/settings/ui",
            Some(json!({"theme": "dark"})),
        )
        .await;
    assert_eq!(r3["noop"], true);
    assert_eq!(version(&s, &t, "user:me").await, 1);
    assert_eq!(
        db.count("events", "user:alice").await,
        1,
        "no event row for a no-op"
    );
    assert_eq!(db.count("docs", "user:alice").await, 1);
    let doc_version = db
        .scalar_i64(
            "SELECT version FROM docs WHERE space = $1 AND collection = 'settings'",
            "user:alice",
        )
        .await;
    assert_eq!(doc_version, 1, "the document row was not rewritten");
}

async fn conflict_rejection_carries_current_document(b: Backend) {
    let (_db, s) = server(b).await;
    let t = s.token("alice");
    s.put(
        &t,
        "c1",
        1,
        "user:me",
        "settings",
        "ui",
        json!({"theme": "dark"}),
    )
    .await;
    s.put(
        &t,
        "c1",
        2,
        "user:me",
        "settings",
        "ui",
        json!({"theme": "light"}),
    )
    .await;
    let body = json!({"client_id": "c2", "mutations": [{"mutation_id": 1, "space": "user:me",
        "ops": [{"op": "put", "collection": "settings", "id": "ui", "value": {"theme": "system"}, "if_version": 1}]}]});
    let r = s.sync(&t, body).await["results"][0].clone();
    assert_eq!(
        r,
        json!({"mutation_id": 1, "status": "reject", "code": "conflict",
               "message": "settings/ui is at version 2, not 1",
               "current": {"collection": "settings", "id": "ui", "version": 2, "value": {"theme": "light"}}})
    );
    // Over REST, If-Match failing is 412 with the current document.
    let resp = s
        .http
        .put(s.url("/v1/spaces/user:me/docs/settings/ui"))
        .bearer_auth(&t)
        .header("if-match", "\"1\"")
        .json(&json!({"theme": "system"}))
        .send()
        .await
        .unwrap();
    let (st, v) = common::decode(resp).await;
    assert_eq!(st, 412);
    assert_eq!(v["error"]["code"], "conflict");
    assert_eq!(v["current"]["value"], json!({"theme": "light"}));
    // A matching If-Match succeeds.
    let resp = s
        .http
        .put(s.url("/v1/spaces/user:me/docs/settings/ui"))
        .bearer_auth(&t)
        .header("if-match", "\"2\"")
        .json(&json!({"theme": "system"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

async fn merge_patches_of_different_fields_both_win(b: Backend) {
    let (_db, s) = server(b).await;
    let t = s.token("alice");
    s.put(
        &t,
        "tab1",
        1,
        "user:me",
        "settings",
        "ui",
        json!({"theme": "light", "language": "en"}),
    )
    .await;
    let patch = |client: &str, v: Value| {
        json!({"client_id": client, "mutations": [{"mutation_id": 2, "space": "user:me",
            "ops": [{"op": "patch", "collection": "settings", "id": "ui", "value": v}]}]})
    };
    let (a, b2) = tokio::join!(
        s.sync(&t, patch("tab1", json!({"theme": "dark"}))),
        s.sync(&t, patch("tab2", json!({"language": "de"})))
    );
    assert_eq!(a["results"][0]["status"], "ack");
    assert_eq!(b2["results"][0]["status"], "ack");
    let (_, doc) = s.get(&t, "/v1/spaces/user:me/docs/settings/ui").await;
    assert_eq!(doc["value"], json!({"theme": "dark", "language": "de"}));
    assert_eq!(doc["version"], 3);
}

async fn batch_is_atomic(b: Backend) {
    let (db, s) = server(b).await;
    let t = s.token("alice");
    let body = json!({"client_id": "c1", "mutations": [{"mutation_id": 1, "space": "user:me", "ops": [
        {"op": "put", "collection": "a", "id": "1", "value": {"x": 1}},
        {"op": "put", "collection": "Not Valid", "id": "2", "value": {"x": 2}}]}]});
    let r = s.sync(&t, body).await["results"][0].clone();
    assert_eq!(r["status"], "reject");
    assert_eq!(r["code"], "invalid");
    assert_eq!(version(&s, &t, "user:me").await, 0);
    assert_eq!(db.count("docs", "user:alice").await, 0);
    // A good batch of three documents: three consecutive versions.
    let body = json!({"client_id": "c1", "mutations": [{"mutation_id": 2, "space": "user:me", "ops": [
        {"op": "put", "collection": "a", "id": "1", "value": 1},
        {"op": "put", "collection": "a", "id": "2", "value": 2},
        {"op": "delete", "collection": "a", "id": "3"}]}]});
    let r = s.sync(&t, body).await["results"][0].clone();
    assert_eq!(
        r["version"], 2,
        "deleting an absent document changes nothing"
    );
}

async fn out_of_order_mutation_is_rejected_and_not_recorded(b: Backend) {
    let (_db, s) = server(b).await;
    let t = s.token("alice");
    s.put(&t, "c1", 1, "user:me", "a", "1", json!(1)).await;
    let r = s.put(&t, "c1", 3, "user:me", "a", "1", json!(3)).await;
    assert_eq!(r["status"], "reject");
    assert_eq!(r["code"], "out_of_order");
    let r = s.put(&t, "c1", 2, "user:me", "a", "1", json!(2)).await;
    assert_eq!(r["status"], "ack", "the skipped id is still expected: {r}");
    assert_eq!(r["version"], 2);
}

async fn rejected_mutation_counts_as_processed(b: Backend) {
    let (_db, s) = server(b).await;
    let t = s.token("alice");
    let body = json!({"client_id": "c1", "mutations": [
        {"mutation_id": 1, "space": "user:bob", "ops": [{"op": "put", "collection": "a", "id": "1", "value": 1}]},
        {"mutation_id": 2, "space": "user:me", "ops": [{"op": "put", "collection": "a", "id": "1", "value": 1, "if_version": 9}]},
        {"mutation_id": 3, "space": "user:me", "ops": [{"op": "put", "collection": "a", "id": "1", "value": 1}]}]});
    let r = s.sync(&t, body.clone()).await["results"].clone();
    assert_eq!(r[0]["code"], "forbidden");
    assert_eq!(r[1]["code"], "conflict");
    assert_eq!(r[2]["status"], "ack");
    // The whole batch retried: the same outcomes, nothing applied twice.
    let again = s.sync(&t, body).await["results"].clone();
    assert_eq!(r, again);
    assert_eq!(version(&s, &t, "user:me").await, 1);
}

async fn write_n(s: &TestServer, t: &str, n: u64) {
    for i in 1..=n {
        let r = s
            .put(
                t,
                "w",
                i,
                "user:me",
                "items",
                &format!("i{i}"),
                json!({"i": i}),
            )
            .await;
        assert_eq!(r["status"], "ack", "{r}");
    }
}

fn cursor(epoch: &Value, v: u64) -> Value {
    json!({"epoch": epoch, "version": v})
}

async fn catch_up(s: &TestServer, t: &str, cur: Value) -> Value {
    let v = s
        .sync(
            t,
            json!({"client_id": "reader", "cursors": {"user:me": cur}}),
        )
        .await;
    v["spaces"]["user:alice"].clone()
}

fn versions(answer: &Value) -> Vec<u64> {
    answer["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect()
}

async fn catch_up_from_memory(b: Backend) {
    let (_db, s) = server(b).await;
    let t = s.token("alice");
    write_n(&s, &t, 5).await;
    let snap = catch_up(&s, &t, Value::Null).await;
    assert_eq!(snap["kind"], "snapshot");
    assert_eq!(snap["docs"].as_array().unwrap().len(), 5);
    let epoch = snap["epoch"].clone();
    let ev = catch_up(&s, &t, cursor(&epoch, 2)).await;
    assert_eq!(ev["kind"], "events");
    assert_eq!((ev["from"].as_u64(), ev["to"].as_u64()), (Some(2), Some(5)));
    assert_eq!(versions(&ev), vec![3, 4, 5]);
    assert_eq!(ev["events"][0]["value"], json!({"i": 3}));
    assert_eq!(
        ev["events"][0]["origin"],
        json!({"client_id": "w", "mutation_id": 3})
    );
    let up = catch_up(&s, &t, cursor(&epoch, 5)).await;
    assert_eq!(
        up,
        json!({"kind": "up_to_date", "epoch": epoch, "version": 5})
    );
    // A cursor from the future gets a snapshot.
    assert_eq!(
        catch_up(&s, &t, cursor(&epoch, 99)).await["kind"],
        "snapshot"
    );
}

async fn catch_up_from_database_after_eviction(b: Backend) {
    let db = TestDb::new(b).await;
    let mut a = args(&db);
    a.ring_events = 3; // memory holds only the last 3 events
    let s = TestServer::start(&a).await;
    let t = s.token("alice");
    write_n(&s, &t, 10).await;
    let epoch = catch_up(&s, &t, Value::Null).await["epoch"].clone();
    // Versions 3..=10: 3..=7 from the database, 8..=10 from the ring.
    let ev = catch_up(&s, &t, cursor(&epoch, 2)).await;
    assert_eq!(versions(&ev), (3..=10).collect::<Vec<_>>());
    assert!(
        s.state.engine.evict_idle(true) >= 1,
        "the idle space leaves memory"
    );
    assert!(
        !s.state.engine.is_loaded("user:alice"),
        "user:alice left memory"
    );
    let ev = catch_up(&s, &t, cursor(&epoch, 4)).await;
    assert_eq!(ev["kind"], "events");
    assert_eq!(versions(&ev), (5..=10).collect::<Vec<_>>());
}

async fn catch_up_after_restart(b: Backend) {
    let db = TestDb::new(b).await;
    let s = TestServer::start(&args(&db)).await;
    let t = s.token("alice");
    write_n(&s, &t, 6).await;
    let epoch = catch_up(&s, &t, Value::Null).await["epoch"].clone();
    s.stop().await;
    let s = TestServer::start(&args(&db)).await;
    let ev = catch_up(&s, &t, cursor(&epoch, 3)).await;
    assert_eq!(ev["kind"], "events", "same epoch after restart: {ev}");
    assert_eq!(versions(&ev), vec![4, 5, 6]);
    let r = s
        .put(&t, "w", 7, "user:me", "items", "i7", json!({"i": 7}))
        .await;
    assert_eq!(r["version"], 7, "versions continue after a restart");
}

async fn snapshot_after_epoch_change(b: Backend) {
    let db = TestDb::new(b).await;
    let s = TestServer::start(&args(&db)).await;
    let t = s.token("alice");
    write_n(&s, &t, 3).await;
    let epoch = catch_up(&s, &t, Value::Null).await["epoch"].clone();
    assert_eq!(
        catch_up(&s, &t, cursor(&json!("another-epoch"), 1)).await["kind"],
        "snapshot"
    );
    s.stop().await;
    // History is lost (a restore): the space gets a new epoch.
    db.execute(
        "UPDATE spaces SET epoch = 'restored' WHERE space = $1",
        "user:alice",
    )
    .await;
    let s = TestServer::start(&args(&db)).await;
    let snap = catch_up(&s, &t, cursor(&epoch, 1)).await;
    assert_eq!(snap["kind"], "snapshot");
    assert_eq!(snap["epoch"], "restored");
    assert_eq!(snap["docs"].as_array().unwrap().len(), 3);
}

async fn snapshot_past_retention(b: Backend) {
    let db = TestDb::new(b).await;
    let mut a = args(&db);
    a.ring_events = 4;
    a.log_retention_events = 10;
    let s = TestServer::start(&a).await;
    let t = s.token("alice");
    write_n(&s, &t, 30).await;
    let kept = db.count("events", "user:alice").await;
    assert!(
        (10..=12).contains(&kept),
        "the durable log was compacted to ~10 events, holds {kept}"
    );
    let epoch = catch_up(&s, &t, Value::Null).await["epoch"].clone();
    assert_eq!(
        catch_up(&s, &t, cursor(&epoch, 2)).await["kind"],
        "snapshot"
    );
    let ev = catch_up(&s, &t, cursor(&epoch, 22)).await;
    assert_eq!(versions(&ev), (23..=30).collect::<Vec<_>>());
}

async fn aliases_are_answered_by_real_name(b: Backend) {
    let (_db, s) = server(b).await;
    let t = s.token("alice");
    let (_, v) = s.get(&t, "/v1/spaces/user:me/version").await;
    assert_eq!(v["space"], "user:alice");
    let (_, st) = s.get(&t, "/v1/spaces/user:me/state").await;
    assert_eq!(st["space"], "user:alice");
    assert_eq!(st["docs"], json!([]));
}

async fn ids_with_slashes_round_trip(b: Backend) {
    let (_db, s) = server(b).await;
    let t = s.token("alice");
    let (st, _) = s
        .send(
            "PUT",
            &t,
            "/v1/spaces/user:me/docs/models/openai%2Fgpt-4",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(st, 200);
    let (st, doc) = s
        .get(&t, "/v1/spaces/user:me/docs/models/openai%2Fgpt-4")
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        doc,
        json!({"collection": "models", "id": "openai/gpt-4", "version": 1, "value": {"enabled": true}})
    );
    let (st, _) = s
        .send(
            "DELETE",
            &t,
            "/v1/spaces/user:me/docs/models/openai%2Fgpt-4",
            None,
        )
        .await;
    assert_eq!(st, 200);
    let (st, e) = s
        .get(&t, "/v1/spaces/user:me/docs/models/openai%2Fgpt-4")
        .await;
    assert_eq!(st, 404, "{e}");
}
