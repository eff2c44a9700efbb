//! Scale-out (docs/architecture.md, "Several nodes"): two nodes on one PostgreSQL database. A change
//! written on one node reaches the other node's WebSocket subscribers, long
//! polls and reads, in order and exactly once; writes on both nodes to the
//! same space interleave without losing either side's fields; a dropped
//! LISTEN connection loses nothing.

mod common;
mod lockbox_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::cluster::{admin, db_name, deafen, note, reopen, subscriber, until_version};
use common::ws::{Replica, Ws};
use common::{Backend, TestDb, TestServer};
use serde_json::{Value, json};

/// Two servers (nodes) on one fresh PostgreSQL database, with the lockbox's
/// test master key.
async fn two_nodes() -> (TestDb, TestServer, TestServer) {
    common::cluster::two_nodes_with(lockbox_support::lockbox_args).await
}

fn patch(mid: u64, field: &str, value: u64) -> Value {
    json!({"mutation_id": mid, "space": "user:me",
        "ops": [{"op": "patch", "collection": "notes", "id": "shared", "value": {field: value}}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_node_reaches_the_other_nodes_subscribers() {
    let (_db, a, b) = two_nodes().await;
    let alice = a.token("alice");
    // Both nodes hold alice's space in memory before anything is written.
    let (mut ws_b, mut rep_b) = subscriber(&b, &alice, "tab-b").await;
    let (mut ws_a, mut rep_a) = subscriber(&a, &alice, "tab-a").await;
    let epoch = rep_b.epoch.clone();
    assert_eq!(rep_a.epoch, epoch, "both nodes read one epoch");

    for i in 1..=5u64 {
        assert_eq!(note(&a, &alice, i).await, i);
    }
    until_version(&mut ws_b, &mut rep_b, 5).await;
    until_version(&mut ws_a, &mut rep_a, 5).await;
    assert_eq!(
        rep_b.seen,
        vec![1, 2, 3, 4, 5],
        "node b: every version once, in order"
    );
    assert_eq!(rep_b.docs, rep_a.docs);
    assert_eq!(rep_b.epoch, epoch);

    // HTTP reads and a long-poll on the other node follow too.
    let (status, v) = b.get(&alice, "/v1/spaces/user:me/version").await;
    assert_eq!((status, v["version"].as_u64()), (200, Some(5)), "{v}");
    let poll = {
        let b_http = b.http.clone();
        let url = b.url("/v1/spaces/user:me/version?since=5&wait=10");
        let tok = alice.clone();
        tokio::spawn(async move { b_http.get(url).bearer_auth(tok).send().await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(note(&a, &alice, 6).await, 6);
    let resp = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .expect("b's long-poll returns when a writes")
        .expect("task")
        .expect("request");
    let (status, v) = common::decode(resp).await;
    assert_eq!((status, v["version"].as_u64()), (200, Some(6)), "{v}");
    let (status, doc) = b.get(&alice, "/v1/spaces/user:me/docs/notes/n6").await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["value"], json!({"i": 6}));
    until_version(&mut ws_b, &mut rep_b, 6).await;
    // Node B measured how far behind A's commits it published them.
    let admin_token = common::token("ops", tidemark::engine::Role::Admin);
    let page = b
        .http
        .get(b.url("/metrics"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count: f64 = page
        .lines()
        .find_map(|l| l.strip_prefix("tidemark_cluster_catchup_lag_seconds_count "))
        .unwrap_or_else(|| panic!("no catch-up lag histogram:\n{page}"))
        .trim()
        .parse()
        .unwrap();
    assert!(count >= 1.0, "catch-ups measured: {count}");

    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_both_nodes_to_one_space_lose_nothing() {
    let (_db, a, b) = two_nodes().await;
    let alice = a.token("alice");
    let (mut ws_a, mut rep_a) = subscriber(&a, &alice, "tab-a").await;
    let (mut ws_b, mut rep_b) = subscriber(&b, &alice, "tab-b").await;
    const N: u64 = 40;
    // Two clients, one per node, patch different fields of one document at
    // the same time: each node's memory goes stale under the other's writes.
    let run = |node: &TestServer, client: &'static str, field: &'static str| {
        let http = node.http.clone();
        let url = node.url("/v1/sync");
        let tok = alice.clone();
        tokio::spawn(async move {
            let mut versions = Vec::new();
            for mid in 1..=N {
                let body = json!({"client_id": client, "mutations": [patch(mid, field, mid)]});
                let (status, v) = common::cluster::post_sync(&http, &url, &tok, &body).await;
                assert_eq!(status, 200, "{v}");
                let res = &v["results"][0];
                assert_eq!(res["status"], "ack", "{client} {mid}: {res}");
                versions.push(res["version"].as_u64().expect("version"));
            }
            versions
        })
    };
    let ta = run(&a, "client-a", "from_a");
    let tb = run(&b, "client-b", "from_b");
    let (va, vb) = (ta.await.expect("a"), tb.await.expect("b"));
    // Every write got its own version; together they are 1..=2N.
    let mut all: Vec<u64> = va.iter().chain(&vb).copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=2 * N).collect::<Vec<_>>(),
        "each write one version"
    );

    for (ws, rep) in [(&mut ws_a, &mut rep_a), (&mut ws_b, &mut rep_b)] {
        until_version(ws, rep, 2 * N).await;
        assert_eq!(rep.seen, (1..=2 * N).collect::<Vec<_>>());
        let ui = &rep.docs[&("notes".to_string(), "shared".to_string())];
        assert_eq!(ui["from_a"], N, "{ui}");
        assert_eq!(ui["from_b"], N, "{ui}");
    }
    for node in [&a, &b] {
        let (status, doc) = node
            .get(&alice, "/v1/spaces/user:me/docs/notes/shared")
            .await;
        assert_eq!(status, 200);
        assert_eq!(doc["version"], 2 * N, "{doc}");
        assert_eq!(doc["value"]["from_a"], N);
        assert_eq!(doc["value"]["from_b"], N);
    }
    // A retry sent to the other node gets its original ack back.
    let body = json!({"client_id": "client-a", "mutations": [patch(N, "from_a", N)]});
    let v = b.sync(&alice, body).await;
    assert_eq!(v["results"][0]["status"], "ack");
    assert_eq!(v["results"][0]["version"], va[N as usize - 1], "{v}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_on_another_node_with_its_cursor() {
    let (_db, a, b) = two_nodes().await;
    let alice = a.token("alice");
    let (mut ws, mut rep) = subscriber(&a, &alice, "tab").await;
    for i in 1..=3u64 {
        assert_eq!(note(&a, &alice, i).await, i);
    }
    until_version(&mut ws, &mut rep, 3).await;
    drop(ws);
    // Written on b while the tab is away; the tab comes back to b, then to a.
    for i in 4..=6u64 {
        assert_eq!(note(&b, &alice, i).await, i);
    }
    // Back on b: exactly the versions it missed.
    let mut ws = Ws::open(&b.base, &alice).await;
    let cursor = json!({"epoch": rep.epoch, "version": rep.version});
    ws.hello("tab", json!({ "user:me": cursor })).await;
    let f = ws.recv().await;
    assert_eq!(f["type"], "events", "only what it missed: {f}");
    assert_eq!((f["from"].as_u64(), f["to"].as_u64()), (Some(3), Some(6)));
    rep.apply(&f);
    drop(ws);
    // Then on a again: up to date, and live from there (7 written on b).
    let mut ws = Ws::open(&a.base, &alice).await;
    let cursor = json!({"epoch": rep.epoch, "version": rep.version});
    ws.hello("tab", json!({ "user:me": cursor })).await;
    let f = ws.recv().await;
    assert_eq!(f["type"], "up_to_date", "{f}");
    rep.apply(&f);
    assert_eq!(note(&b, &alice, 7).await, 7);
    until_version(&mut ws, &mut rep, 7).await;
    assert_eq!(rep.seen, (1..=7).collect::<Vec<_>>());
    assert_eq!(
        rep.snapshots, 1,
        "only the first subscription took a snapshot"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_listen_connection_misses_nothing() {
    let (db, a, b) = two_nodes().await;
    let alice = a.token("alice");
    let (mut ws_b, mut rep_b) = subscriber(&b, &alice, "tab-b").await;
    assert_eq!(note(&a, &alice, 1).await, 1);
    until_version(&mut ws_b, &mut rep_b, 1).await;

    // Cut both nodes' LISTEN connections, with the database closed to new
    // ones: b cannot listen again until it reopens. a writes on over its
    // pool's open connections.
    let listening = format!(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = '{}' AND query LIKE 'LISTEN %'",
        db_name(&db)
    );
    assert_eq!(
        admin(listening).await,
        Some(2),
        "one LISTEN connection per node"
    );
    deafen(&db).await;
    for i in 2..=4u64 {
        assert_eq!(note(&a, &alice, i).await, i);
    }
    assert_eq!(
        ws_b.try_recv(Duration::from_millis(300)).await,
        None,
        "b cannot hear a while its LISTEN connection is down"
    );
    // b connects again, reads what it missed, and hears what follows.
    reopen(&db).await;
    until_version(&mut ws_b, &mut rep_b, 4).await;
    assert_eq!(note(&a, &alice, 5).await, 5);
    until_version(&mut ws_b, &mut rep_b, 5).await;
    assert_eq!(rep_b.seen, vec![1, 2, 3, 4, 5]);
    a.stop().await;
    b.stop().await;
}

/// The stored row's `last4` for alice's OpenAI key; `None` when no row.
async fn stored_last4(db: &TestDb) -> Option<Option<String>> {
    let pool = sqlx::PgPool::connect(&db.url).await.expect("open pg");
    let row: Option<Option<String>> = sqlx::query_scalar(
        "SELECT last4 FROM lockbox WHERE owner = 'alice' AND provider = 'openai'",
    )
    .fetch_optional(&pool)
    .await
    .expect("query");
    pool.close().await;
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockbox_writes_on_two_nodes_leave_row_and_view_in_step() {
    let (db, a, b) = two_nodes().await;
    let alice = a.token("alice");
    for round in 0..12u32 {
        // The same user's key is set on one node while the other sets a
        // different one (even rounds) or removes it (odd rounds).
        let key = |n: u32| format!("sk-OKAY{}{n:04}", uuid::Uuid::new_v4().simple());
        let key_a = key(round * 2);
        let on_a = lockbox_support::put_key(&a, &alice, "openai", &key_a);
        let on_b = async {
            if round % 2 == 0 {
                lockbox_support::put_key(&b, &alice, "openai", &key(round * 2 + 1)).await
            } else {
                b.send("DELETE", &alice, "/v1/lockbox/openai", None).await
            }
        };
        let ((sa, va), (sb, vb)) = tokio::join!(on_a, on_b);
        assert_eq!((sa, sb), (200, 200), "{va} {vb}");
        // Both nodes' redacted documents come to show the stored row.
        let want = stored_last4(&db).await;
        let want_doc = match &want {
            Some(last4) => json!({"configured": true, "last4": last4}),
            None => json!({"configured": false, "last4": null}),
        };
        for node in [&a, &b] {
            let mut last = Value::Null;
            let mut ok = false;
            for _ in 0..100 {
                let (_, doc) = node
                    .get(&alice, "/v1/spaces/user:me/docs/lockbox/openai")
                    .await;
                last = json!({"configured": doc["value"]["configured"], "last4": doc["value"]["last4"]});
                if last == want_doc {
                    ok = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(
                ok,
                "round {round}: the row says {want_doc}, {} shows {last}",
                node.base
            );
        }
    }
    a.stop().await;
    b.stop().await;
}

/// One mutation through `/v1/sync` on `base`: the acked version, or `None`
/// when the node did not answer (its outcome is then unknown).
async fn sync_put(http: &reqwest::Client, base: &str, token: &str, mid: u64) -> Option<u64> {
    let body = json!({"client_id": "phone", "mutations": [{"mutation_id": mid, "space": "user:me",
        "ops": [{"op": "put", "collection": "items", "id": mid.to_string(), "value": {"mid": mid}}]}]});
    let r = http
        .post(format!("{base}/v1/sync"))
        .bearer_auth(token)
        .json(&body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    let v: Value = r.json().await.ok()?;
    let res = &v["results"][0];
    assert_eq!(res["status"], "ack", "{v}");
    res["version"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_stream_loses_nothing_and_applies_nothing_twice() {
    use common::proc::spawn_server;
    let db = TestDb::new(Backend::Postgres).await;
    let mut a = spawn_server(&db).await;
    let b = spawn_server(&db).await;
    let alice = common::token("alice", tidemark::engine::Role::User);
    let mut ws = Ws::open(&b.base, &alice).await;
    ws.hello("tab", json!({"user:me": null})).await;
    let mut rep = Replica::default();
    rep.apply(&ws.recv().await);

    // One client writes through a; a is killed while a write is most likely
    // in flight (committed or not: the client cannot know), and the client
    // retries that mutation on b and goes on there.
    const N: u64 = 300;
    let acked = Arc::new(AtomicU64::new(0));
    let a_base = a.base.clone();
    let killer = {
        let acked = acked.clone();
        tokio::spawn(async move {
            while acked.load(Ordering::SeqCst) < 120 {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            a.child.kill().expect("kill -9 node a");
            let _ = a.child.wait();
        })
    };
    let http = reqwest::Client::new();
    let mut versions = Vec::new();
    let mut base = a_base.clone();
    let mut mid = 1;
    while mid <= N {
        match sync_put(&http, &base, &alice, mid).await {
            Some(v) => {
                versions.push(v);
                acked.store(mid, Ordering::SeqCst);
                mid += 1;
            }
            None => {
                assert_eq!(base, a_base, "node b stopped answering");
                base = b.base.clone();
            }
        }
    }
    killer.await.expect("killer");
    assert_ne!(base, a_base, "a was killed before the writes ended");
    // Each mutation has exactly one version: none lost, none applied twice.
    let mut sorted = versions.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=N).collect::<Vec<_>>(), "{versions:?}");
    // b's subscriber saw every version once, in order, and holds every item
    // at the version its ack named.
    until_version(&mut ws, &mut rep, N).await;
    assert_eq!(rep.seen, (1..=N).collect::<Vec<_>>());
    let (_, state) = common::decode(
        http.get(format!("{}/v1/spaces/user:me/state", b.base))
            .bearer_auth(&alice)
            .send()
            .await
            .expect("state"),
    )
    .await;
    let docs = state["docs"].as_array().expect("docs");
    assert_eq!(docs.len() as u64, N);
    for (i, v) in versions.iter().enumerate() {
        let id = (i + 1).to_string();
        let d = docs.iter().find(|d| d["id"] == id.as_str()).expect("item");
        assert_eq!(d["version"].as_u64(), Some(*v), "{d}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_missed_more_than_the_log_keeps_resyncs_its_subscribers() {
    // A short log and ring: what b misses is compacted away before it hears.
    let db = TestDb::new(Backend::Postgres).await;
    let mut args = lockbox_support::lockbox_args(&db);
    args.log_retention_events = 5;
    args.ring_events = 4;
    let a = TestServer::start(&args).await;
    let b = TestServer::start(&args).await;
    let alice = a.token("alice");
    let (mut ws_b, mut rep_b) = subscriber(&b, &alice, "tab-b").await;
    assert_eq!(note(&a, &alice, 1).await, 1);
    until_version(&mut ws_b, &mut rep_b, 1).await;

    deafen(&db).await;
    for i in 2..=31u64 {
        assert_eq!(note(&a, &alice, i).await, i);
    }
    reopen(&db).await;
    // b cannot replay 2..=31 (the log starts near 26): its subscriber gets a
    // snapshot that supersedes them, then hears what follows.
    until_version(&mut ws_b, &mut rep_b, 31).await;
    assert_eq!(rep_b.snapshots, 2, "one resync snapshot");
    assert_eq!(rep_b.docs.len(), 31);
    assert_eq!(note(&a, &alice, 32).await, 32);
    until_version(&mut ws_b, &mut rep_b, 32).await;
    assert_eq!(rep_b.docs.len(), 32);
    a.stop().await;
    b.stop().await;
}
