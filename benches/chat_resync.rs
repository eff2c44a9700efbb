//! Seed 003's cost problem, measured: re-sync a 1,000-message history with one
//! new message through `POST /api/chat/sync`, on a real server over a real
//! socket and SQLite, and count the rows written. The seed's endpoint upserts
//! every session and message on every sync (1,001 row writes here), and its
//! trigger counts usage again for each of them.
//!
//! `cargo bench --bench chat_resync [-- MESSAGES RUNS]` (defaults 1000 and 5).

use std::time::Instant;

use serde_json::{Value, json};
use sqlx::Row;
use tidemark::config::ServeArgs;
use tidemark::engine::Role;

fn history(n: usize, extra: usize) -> Value {
    let mut msgs: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": format!("m{i}"), "role": if i.is_multiple_of(2) { "user" } else { "assistant" },
                   "content": format!("message number {i} of a long conversation"),
                   "timestamp": 1_763_700_000_000u64 + i as u64, "tokens": 20})
        })
        .collect();
    for k in 0..extra {
        msgs.push(
            json!({"id": format!("new{k}"), "role": "user", "content": "one more", "tokens": 5}),
        );
    }
    json!({"conversations": [{"id": "c1", "title": "Benchmark", "userId": "alice",
        "createdAt": "2026-11-20T09:00:00Z", "updatedAt": "2026-11-21T10:00:00Z", "messages": msgs}]})
}

/// Rows written to `docs` and `events` after `version`.
async fn rows_after(db: &sqlx::SqlitePool, version: u64) -> (i64, i64) {
    let mut out = [0i64; 2];
    for (slot, table) in out.iter_mut().zip(["docs", "events"]) {
        let sql =
            format!("SELECT COUNT(*) FROM {table} WHERE space = 'user:alice' AND version > ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(version as i64)
            .fetch_one(db)
            .await
            .expect("count");
        *slot = row.get(0);
    }
    (out[0], out[1])
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(run(n, runs));
}

async fn run(n: usize, runs: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let mut a = ServeArgs::defaults();
    a.listen = "127.0.0.1:0".parse().expect("addr");
    a.database_url = format!("sqlite://{}", path.display());
    a.jwt_secret = Some("bench-secret-0123456789abcdef".into());
    a.no_default_catalog = true;
    a.health_interval_ms = 0;
    a.max_docs_per_space = n + runs + 100;
    a.max_body_bytes = 64 << 20;
    let state = tidemark::server::build(&a).await.expect("server");
    let token = state.auth.mint("alice", Role::User, 3600).expect("token").0;
    let listener = tokio::net::TcpListener::bind(a.listen).await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tidemark::server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", path.display()))
        .await
        .expect("open the database");
    let http = reqwest::Client::new();
    let post = |body: Value| {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        async move {
            let r = http
                .post(format!("{base}/api/chat/sync"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("post");
            assert!(r.status().is_success(), "{}", r.status());
            r.json::<Value>().await.expect("json")
        }
    };

    let t = Instant::now();
    let first = post(history(n, 0)).await;
    let first_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut version = first["version"].as_u64().unwrap_or(0);
    let mut replay_ms = vec![];
    let mut resync_ms = vec![];
    let mut resync_rows = (0, 0, 0);
    let mut replay_rows = (0, 0, 0);
    for k in 1..=runs {
        // The same history again: nothing to write.
        let t = Instant::now();
        let r = post(history(n, k - 1)).await;
        replay_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let (d, e) = rows_after(&db, version).await;
        replay_rows = (d, e, (r["version"].as_u64().unwrap_or(0) > version) as i64);
        // The history plus one new message.
        let t = Instant::now();
        let r = post(history(n, k)).await;
        resync_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let (d, e) = rows_after(&db, version).await;
        resync_rows = (d, e, 1);
        version = r["version"].as_u64().unwrap_or(version);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (replay_med, resync_med) = (median(&mut replay_ms), median(&mut resync_ms));
    let seed_rows = n + 1 + 1; // every message and the session, upserted again (plus the new message)
    let ours = resync_rows.0 + resync_rows.1 + resync_rows.2;
    println!("chat re-sync of a {n}-message history (SQLite, real server and socket, {runs} runs)");
    println!(
        "  first sync ({n} messages + 1 conversation): {first_ms:.1} ms, {} documents written",
        first["written"]
    );
    println!(
        "  same history again:  {} doc rows, {} event rows, {} version bumps; median {replay_med:.2} ms",
        replay_rows.0, replay_rows.1, replay_rows.2
    );
    println!(
        "  with 1 new message:  {} doc rows (the message, its conversation's statistics, the usage day), {} event rows, {} space row = {ours} row writes; median {resync_med:.2} ms",
        resync_rows.0, resync_rows.1, resync_rows.2
    );
    println!(
        "  seed's full upsert:  {seed_rows} row writes (every message and the session), plus {} usage trigger runs",
        n + 1
    );
    println!(
        "{}",
        json!({"bench": "chat_resync", "messages": n, "runs": runs, "first_sync_ms": first_ms,
            "replay_rows": replay_rows.0 + replay_rows.1 + replay_rows.2, "replay_median_ms": replay_med,
            "resync_doc_rows": resync_rows.0, "resync_event_rows": resync_rows.1,
            "resync_row_writes": ours, "resync_median_ms": resync_med, "seed_row_writes": seed_rows})
    );
    let _ = stop.send(());
    let _ = server.await;
}
