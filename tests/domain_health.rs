//! Provider health. A local HTTP server stands in for a
//! provider's health URL; the server's probes turn its answers into
//! `provider_status_changed` events, once per change.

mod common;
mod domain_util;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use common::ws::Ws;
use common::{Backend, TestServer};
use domain_util::{events_since, head, load_catalog, small_catalog, start};
use serde_json::json;

both_stores!(
    a_failing_health_url_turns_the_provider_unavailable_once,
    unreachable_and_silent_health_urls_are_failures,
);

/// A provider's health endpoint: answers 200, 500 or 429 as told; counts probes.
struct FakeHealth {
    url: String,
    mode: Arc<AtomicU8>,
    hits: Arc<AtomicUsize>,
}

const OK: u8 = 0;
const FAIL: u8 = 1;
const LIMITED: u8 = 2;

impl FakeHealth {
    async fn start() -> Self {
        let mode = Arc::new(AtomicU8::new(OK));
        let hits = Arc::new(AtomicUsize::new(0));
        let (m, h) = (mode.clone(), hits.clone());
        let app = axum::Router::new().route(
            "/health",
            axum::routing::get(move || {
                let (m, h) = (m.clone(), h.clone());
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    match m.load(Ordering::SeqCst) {
                        OK => StatusCode::OK,
                        LIMITED => StatusCode::TOO_MANY_REQUESTS,
                        _ => StatusCode::INTERNAL_SERVER_ERROR,
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeHealth { url, mode, hits }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    /// Waits until `n` more probes than now have been answered.
    async fn probes(&self, n: usize) {
        let target = self.hits.load(Ordering::SeqCst) + n;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.hits.load(Ordering::SeqCst) < target {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server stopped probing"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn server(b: Backend) -> (common::TestDb, TestServer) {
    start(b, |a| {
        a.health_interval_ms = 25;
        a.health_timeout_ms = 300;
        a.health_failures = 2;
    })
    .await
}

/// The next `event` frame (skipping none: anything else fails the test).
async fn next_event(w: &mut Ws) -> serde_json::Value {
    let f = w.recv().await;
    assert_eq!(f["type"], "event", "{f}");
    f
}

async fn a_failing_health_url_turns_the_provider_unavailable_once(b: Backend) {
    let fake = FakeHealth::start().await;
    let (_db, s) = server(b).await;
    let t = s.token("alice");
    let mut file = small_catalog();
    file["providers"][0]["health_url"] = json!(fake.url);
    load_catalog(&s, &file).await;
    fake.probes(3).await;
    assert_eq!(head(&s, &t, "catalog").await.1, 7, "healthy: no event");
    let mut w = Ws::open(&s.base, &t).await;
    w.hello("tab", json!({"catalog": null})).await;
    assert_eq!(w.recv().await["version"], 7);

    fake.set(FAIL);
    let e = next_event(&mut w).await;
    assert_eq!(
        (e["event"].as_str(), e["id"].as_str(), e["version"].as_u64()),
        (Some("provider_status_changed"), Some("openai"), Some(8)),
        "{e}"
    );
    assert_eq!(e["value"]["status"], "unavailable");
    assert_eq!(e["origin"], serde_json::Value::Null, "a server-side write");
    // It keeps failing: more probes, no more events.
    fake.probes(6).await;
    w.roundtrip(1).await;
    assert_eq!(head(&s, &t, "catalog").await.1, 8);

    fake.set(LIMITED);
    let e = next_event(&mut w).await;
    assert_eq!(
        (e["event"].as_str(), e["value"]["status"].as_str()),
        (Some("provider_status_changed"), Some("degraded"))
    );
    fake.set(OK);
    let e = next_event(&mut w).await;
    assert_eq!(e["value"]["status"], "available");
    fake.probes(4).await;
    w.roundtrip(2).await;
    assert_eq!(head(&s, &t, "catalog").await.1, 10);
    // Reloading the catalog file keeps the probed status (the health task owns it).
    fake.set(FAIL);
    next_event(&mut w).await;
    let r = load_catalog(&s, &file).await;
    assert_eq!(r["unchanged"], 7, "{r}");
    s.stop().await;
}

async fn unreachable_and_silent_health_urls_are_failures(b: Backend) {
    // A port nobody listens on, and a listener that never answers.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}/health", closed.local_addr().unwrap());
    drop(closed);
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/health", silent.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let a2 = accepted.clone();
    tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((sock, _)) = silent.accept().await {
            a2.fetch_add(1, Ordering::SeqCst);
            held.push(sock); // read nothing, answer nothing
        }
    });
    let (_db, s) = server(b).await;
    let t = s.token("alice");
    let mut file = small_catalog();
    file["providers"][1]["health_url"] = json!(closed_url); // anthropic
    file["providers"][2]["health_url"] = json!(silent_url); // openrouter
    load_catalog(&s, &file).await;
    let (epoch, _) = head(&s, &t, "catalog").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, v) = head(&s, &t, "catalog").await;
        if v >= 9 && accepted.load(Ordering::SeqCst) >= 4 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "statuses did not change"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let evs = events_since(&s, &t, "catalog", &epoch, 7).await;
    let got: Vec<(&str, &str, &str)> = evs
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap(),
                e["id"].as_str().unwrap(),
                e["value"]["status"].as_str().unwrap(),
            )
        })
        .collect();
    let mut got = got;
    got.sort();
    assert_eq!(
        got,
        [
            ("provider_status_changed", "anthropic", "unavailable"),
            ("provider_status_changed", "openrouter", "unavailable"),
        ]
    );
    let (_, v) = s
        .get(&t, "/provider-sync/providers/anthropic/availability")
        .await;
    assert_eq!(
        (
            v["is_available"].as_bool(),
            v["fallback_provider_id"].as_str()
        ),
        (Some(false), Some("openai"))
    );
    s.stop().await;
}
