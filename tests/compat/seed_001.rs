//! Seed 001 (provider sync). Its front end is configured with
//! `apiBaseUrl: '/api/provider-sync'` and `wsUrl: '/api/provider-sync/ws'`
//! ("Frontend Configuration"); its back end with
//! `SYNC_HEARTBEAT_INTERVAL = 25` and `SYNC_VERSION_CHECK_INTERVAL = 30`
//! ("Backend Configuration"); "Health checks detect unavailable providers"
//! ("Provider Unavailability").

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::ws::Ws;
use crate::common::{Backend, TestDb, TestServer, args};

both_stores!(
    the_seed_front_ends_base_urls_are_served,
    the_shipped_catalog_is_probed_and_says_unknown_then_unreachable,
);

async fn the_seed_front_ends_base_urls_are_served(b: Backend) {
    let db = TestDb::new(b).await;
    let s = TestServer::start(&args(&db)).await;
    let t = s.token("alice");
    for path in ["state", "version", "models"] {
        let (st1, mut a) = s.get(&t, &format!("/provider-sync/{path}")).await;
        let (st2, mut b) = s.get(&t, &format!("/api/provider-sync/{path}")).await;
        assert_eq!((st1, st2), (200, 200), "{path}: {b}");
        // The clock may tick between the two requests.
        for v in [&mut a, &mut b] {
            if let Some(m) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                m.remove("server_time");
            }
        }
        assert_eq!(a, b, "{path}: the same answer under both prefixes");
    }
    let (st, v) = s
        .get(&t, "/api/provider-sync/models/gpt-4o/availability")
        .await;
    assert_eq!((st, v["model_id"].as_str()), (200, Some("gpt-4o")), "{v}");
    let (st, _) = s
        .send("POST", &t, "/api/provider-sync/sync", Some(json!({})))
        .await;
    assert_eq!(st, 200);
    // `wsUrl: '/api/provider-sync/ws'`: connected, then the full state.
    let url = format!(
        "ws://{}/api/provider-sync/ws?access_token={t}",
        s.base.trim_start_matches("http://")
    );
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let mut ws = Ws {
        ws,
        presence: false,
    };
    let first = ws.recv().await;
    assert_eq!(first["event_type"], "connected", "{first}");
    let second = ws.recv().await;
    assert_eq!(second["event_type"], "full_sync", "{second}");
    // The seed's timings are the defaults: heartbeat 25 s (server and the
    // JS client's ping; its 30 s version check is in clients/js/test).
    assert_eq!(tidemark::config::ServeArgs::defaults().heartbeat_ms, 25_000);
    s.stop().await;
}

fn status_of(state: &Value, id: &str) -> String {
    state["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .map(|p| p["status"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

async fn the_shipped_catalog_is_probed_and_says_unknown_then_unreachable(b: Backend) {
    let db = TestDb::new(b).await;
    // Probes off: the shipped catalog as a fresh server holds it.
    let s = TestServer::start(&args(&db)).await;
    let t = s.token("alice");
    let (_, state) = s.get(&t, "/provider-sync/state").await;
    for id in ["openai", "anthropic", "openrouter"] {
        assert_eq!(
            status_of(&state, id),
            "unknown",
            "{id} before any probe: {state}"
        );
    }
    let (_, doc) = s.get(&t, "/v1/spaces/catalog/docs/providers/openai").await;
    assert!(
        doc["value"]["health_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://")),
        "the shipped catalog has health endpoints: {doc}"
    );
    s.stop().await;

    // Probing a name that cannot resolve (as on a machine without network):
    // `unreachable`, once, and the provider stays usable.
    let mut a = args(&db);
    a.health_interval_ms = 30;
    a.health_timeout_ms = 2_000;
    let s = TestServer::start(&a).await;
    let admin = crate::common::token("ops", tidemark::engine::Role::Admin);
    let (st, v) = s
        .send(
            "PATCH",
            &admin,
            "/v1/spaces/catalog/docs/providers/openai",
            Some(json!({"health_url": "http://status.provider.invalid/health"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, state) = s.get(&t, "/provider-sync/state").await;
        if status_of(&state, "openai") == "unreachable" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, v) = s
        .get(&t, "/api/provider-sync/providers/openai/availability")
        .await;
    assert_eq!(v["is_available"], true, "unreachable blocks nothing: {v}");
    s.stop().await;
}
