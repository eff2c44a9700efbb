//! Store-only write throughput: W tasks, each the only writer of its own
//! space, send mutations shaped like the `writes` load scenario's straight to
//! `Store::commit` (no sockets, no engine, no load generator), each the moment
//! the previous one is answered. What the group committer and the database
//! sustain alone on this machine: the ceiling of the `writes` scenario.
//!
//! `cargo bench --bench store_commit [-- --writers 200 --seconds 10 --url URL]`
//! (default URL: a fresh SQLite file in a temp dir; a `postgres://` URL uses
//! fresh space names in that database). Under `cargo test` it runs one second
//! with 20 writers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use tidemark::store::{ClientRecord, Commit, CommitOutcome, SpaceCommit, Store, StoredDoc};

/// Under `cargo test` (no `--bench` flag) the defaults shrink to a smoke run.
#[derive(clap::Parser)]
struct Args {
    /// Concurrent writers, one space each [default: 200, or 20 under test]
    #[arg(long)]
    writers: Option<usize>,
    /// How long to write [default: 10, or 1 under test]
    #[arg(long)]
    seconds: Option<f64>,
    /// Store URL [default: a fresh SQLite file in a temp dir]
    #[arg(long)]
    url: Option<String>,
    /// Passed by `cargo bench`: full-size defaults.
    #[arg(long)]
    bench: bool,
}

fn main() {
    let a = <Args as clap::Parser>::parse();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(run(a));
}

async fn run(a: Args) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = a
        .url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let writers = a.writers.unwrap_or(if a.bench { 200 } else { 20 });
    let seconds = a.seconds.unwrap_or(if a.bench { 10.0 } else { 1.0 });
    let store = tidemark::store::connect(&url).await.expect("store");
    let run = uuid::Uuid::new_v4().simple().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let space = format!("user:sc-{}-{w}", &run[..8]);
        let epoch = store
            .load_space(&space, &run)
            .await
            .expect("space row")
            .epoch;
        let (store, stop, done) = (store.clone(), stop.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            writer(&*store, &space, &epoch, &stop, &done).await
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("writer task");
    }
    let secs = started.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "{{\"bench\":\"store_commit\",\"store\":\"{}\",\"writers\":{},\"mutations\":{n},\"seconds\":{secs:.2},\"mutations_per_s\":{:.0}}}",
        store.kind(),
        writers,
        n as f64 / secs
    );
    assert!(n > 0, "no commit went through");
}

async fn writer(store: &dyn Store, space: &str, epoch: &str, stop: &AtomicBool, done: &AtomicU64) {
    let pad = "x".repeat(100);
    let mut version = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let v = version + 1;
        let value = format!("{{\"t\":{v},\"pad\":\"{pad}\"}}");
        let event = format!(
            "{{\"space\":\"{space}\",\"version\":{v},\"ops\":[{{\"op\":\"put\",\"collection\":\"bench\",\"id\":\"w\",\"value\":{value}}}],\"origin\":{{\"client_id\":\"c\",\"mutation_id\":{v}}}}}"
        );
        let commit = Commit {
            client: Some(ClientRecord {
                owner: space.to_string(),
                client_id: "c".into(),
                mutation_id: v,
                result: format!("{{\"type\":\"ack\",\"mutation_id\":{v},\"version\":{v}}}"),
            }),
            space: Some(SpaceCommit {
                space: space.to_string(),
                epoch: epoch.to_string(),
                base_version: version,
                new_version: v,
                docs: vec![StoredDoc {
                    collection: "bench".into(),
                    id: "w".into(),
                    version: v,
                    value: Some(value),
                }],
                events: vec![(v, Arc::from(RawValue::from_string(event).expect("json")))],
            }),
        };
        let out = store.commit(commit).await.expect("commit");
        assert_eq!(out, CommitOutcome::Committed, "{space} at {v}");
        version = v;
        done.fetch_add(1, Ordering::Relaxed);
    }
}
