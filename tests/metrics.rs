//! `GET /metrics` (issue 22, point 1): Prometheus text for admin and service
//! tokens only (by default), the metrics an operator probes first, and labels
//! that never carry a user, a space or a token: a run with 1,000 more users
//! leaves the set of series unchanged.
//!
//! One test function: the recorder is global to the test process, and the
//! series count must not see another test's first reject code.

mod common;

use std::collections::BTreeSet;

use common::ws::Ws;
use common::{Backend, TestDb, TestServer, args, token};
use serde_json::json;
use tidemark::engine::Role;

async fn scrape(s: &TestServer, tok: Option<&str>) -> (u16, String) {
    let mut r = s.http.get(s.url("/metrics"));
    if let Some(t) = tok {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// `name{labels}` of every sample line.
fn series(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(k, _)| k.to_string()))
        .collect()
}

fn value(text: &str, key: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_for_operators_with_bounded_labels() {
    let db = TestDb::new(Backend::Sqlite).await;
    let s = TestServer::start(&args(&db)).await;
    let admin = token("ops", Role::Admin);
    assert_eq!(scrape(&s, None).await.0, 401);
    assert_eq!(scrape(&s, Some(&s.token("alice"))).await.0, 403);

    let (st, before) = scrape(&s, Some(&admin)).await;
    assert_eq!(st, 200);
    let applied = r#"tidemark_mutations_total{result="applied"}"#;
    let base = value(&before, applied);

    // A subscriber, a write, a retry (deduplicated), a reject, a bad token.
    let alice = s.token("alice");
    let mut ws = Ws::open(&s.base, &alice).await;
    ws.hello("tab", json!({"user:me": null})).await;
    let _ = ws.recv().await;
    assert_eq!(
        s.put(&alice, "c", 1, "user:me", "notes", "a", json!(1))
            .await["status"],
        "ack"
    );
    s.put(&alice, "c", 1, "user:me", "notes", "a", json!(1))
        .await;
    s.put(&alice, "c", 2, "user:bob", "notes", "a", json!(1))
        .await;
    let _ = s.get("not-a-token", "/v1/spaces/user:me/version").await;

    let (_, text) = scrape(&s, Some(&admin)).await;
    assert_eq!(value(&text, applied), base + 1.0, "{text}");
    for name in [
        r#"tidemark_connections{transport="ws"}"#,
        r#"tidemark_mutations_total{result="deduplicated"}"#,
        r#"tidemark_mutations_total{result="rejected",code="forbidden"}"#,
        "tidemark_events_committed_total",
        "tidemark_live_frames_total",
        "tidemark_ws_bytes_sent_total",
        r#"tidemark_catchups_total{source="snapshot"}"#,
        "tidemark_commit_seconds_bucket",
        "tidemark_commit_batch_size_bucket",
        r#"tidemark_auth_failures_total{reason="malformed"}"#,
        "tidemark_loaded_spaces",
        "tidemark_memory_held_bytes",
    ] {
        assert!(text.contains(name), "missing {name} in:\n{text}");
    }
    assert!(value(&text, r#"tidemark_connections{transport="ws"}"#) >= 1.0);

    // 1,000 more users: the same series, and none names a user or a space.
    let known = series(&text);
    for i in 0..1000 {
        let t = s.token(&format!("user{i}"));
        s.put(&t, "c", 1, "user:me", "notes", "a", json!(i)).await;
    }
    let (_, after) = scrape(&s, Some(&admin)).await;
    assert_eq!(
        series(&after),
        known,
        "the set of series does not grow with users"
    );
    for leak in ["alice", "user:", "user0", "user999", &alice] {
        assert!(!after.contains(leak), "`{leak}` appears in /metrics");
    }
    drop(ws);
    s.stop().await;

    // Off: no route at all.
    let mut a = args(&db);
    a.metrics = "off".into();
    let s = TestServer::start(&a).await;
    assert_eq!(scrape(&s, Some(&admin)).await.0, 404);
    s.stop().await;
}
