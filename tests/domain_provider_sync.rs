//! Seed 001's provider sync API (snake_case) and its
//! WebSocket, over real sockets on both stores.

mod common;
mod domain_util;

use common::ws::Ws;
use common::{Backend, TestServer};
use domain_util::{catalog_send, load_catalog, model, pin_time, provider, small_catalog, start};
use serde_json::{Value, json};
use tidemark::domain::dates;

both_stores!(
    state_has_the_seed_shape,
    sync_answers_nothing_events_or_full_state,
    version_and_model_lists,
    provider_availability_gives_status_and_fallback,
    model_availability_gives_deprecation_replacement_and_days_to_sunset,
    provider_sync_ws_streams_events_and_resumes,
);

async fn server(b: Backend) -> (common::TestDb, TestServer, String) {
    let (db, s) = start(b, |_| {}).await;
    load_catalog(&s, &small_catalog()).await;
    let t = s.token("alice");
    (db, s, t)
}

fn with_ids(p: Value, ids: &[&str]) -> Value {
    let mut p = p;
    p["model_ids"] = json!(ids);
    p
}

async fn state_has_the_seed_shape(b: Backend) {
    let (_db, s, t) = server(b).await;
    let (st, mut v) = s.get(&t, "/provider-sync/state").await;
    assert_eq!(st, 200, "{v}");
    pin_time(&mut v, "/metadata/server_time");
    assert!(
        v["metadata"]["epoch"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
    v["metadata"]["epoch"] = json!("<epoch>");
    let f = small_catalog();
    let m = |i: usize| f["models"][i].clone();
    let want = json!({
        "providers": [
            with_ids(provider("anthropic", "Anthropic", Some("openai"), "claude-sonnet"), &["claude-sonnet"]),
            with_ids(provider("openai", "OpenAI", Some("anthropic"), "gpt-4o"), &["gpt-3.5-turbo", "gpt-4o"]),
            with_ids(provider("openrouter", "OpenRouter", None, "openai/gpt-4"), &["openai/gpt-4"]),
        ],
        "all_models": [m(2), m(1), m(0), m(3)],
        "active_provider_id": "anthropic",
        "metadata": {"version": 7, "epoch": "<epoch>", "provider_count": 3, "model_count": 4, "server_time": "<time>"},
    });
    assert_eq!(v, want);
    let r = s
        .http
        .get(s.url("/provider-sync/state"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a token is needed");
}

async fn sync(s: &TestServer, t: &str, body: Value) -> Value {
    let (st, v) = s.send("POST", t, "/provider-sync/sync", Some(body)).await;
    assert_eq!(st, 200, "{v}");
    v
}

async fn sync_answers_nothing_events_or_full_state(b: Backend) {
    let (_db, s, t) = server(b).await;
    let (_, ver) = s.get(&t, "/provider-sync/version").await;
    let epoch = ver["epoch"].as_str().unwrap().to_string();
    let none = sync(&s, &t, json!({"client_version": 7})).await;
    assert_eq!(
        none,
        json!({"sync_type": "none", "version": 7, "epoch": epoch, "events": [], "state": null})
    );
    let (st, _) = catalog_send(
        &s,
        "PATCH",
        "providers",
        "openai",
        Some(json!({"status": "degraded"})),
    )
    .await;
    assert_eq!(st, 200);
    let mut inc = sync(&s, &t, json!({"client_version": 7, "client_epoch": epoch})).await;
    pin_time(&mut inc, "/events/0/timestamp");
    let mut p = provider("openai", "OpenAI", Some("anthropic"), "gpt-4o");
    p["status"] = json!("degraded");
    assert_eq!(
        inc,
        json!({"sync_type": "incremental", "version": 8, "epoch": epoch, "state": null,
        "events": [{"event_type": "provider_status_changed", "entity_type": "provider", "entity_id": "openai",
                    "version": 8, "timestamp": "<time>", "data": p}]})
    );
    // Nothing held, another epoch, or a version the server never had: the full state.
    for body in [
        json!({}),
        json!({"client_version": 3, "client_epoch": "elsewhere"}),
        json!({"client_version": 99}),
    ] {
        let full = sync(&s, &t, body.clone()).await;
        assert_eq!(
            (full["sync_type"].as_str(), full["version"].as_u64()),
            (Some("full"), Some(8)),
            "{body}"
        );
        assert_eq!(full["state"]["providers"].as_array().unwrap().len(), 3);
        assert_eq!(full["state"]["metadata"]["version"], 8);
    }
}

async fn version_and_model_lists(b: Backend) {
    let (_db, s, t) = server(b).await;
    let (st, v) = s.get(&t, "/provider-sync/version").await;
    assert_eq!((st, v["version"].as_u64()), (200, Some(7)));
    let ids = |v: &Value| -> Vec<String> {
        v["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, v) = s.get(&t, "/provider-sync/models").await;
    assert_eq!(ids(&v), ["claude-sonnet", "gpt-4o", "openai/gpt-4"]);
    assert_eq!(
        (v["total"].as_u64(), v["version"].as_u64()),
        (Some(3), Some(7))
    );
    let (_, v) = s
        .get(
            &t,
            "/provider-sync/models?provider_id=openai&include_deprecated=true",
        )
        .await;
    assert_eq!(ids(&v), ["gpt-3.5-turbo", "gpt-4o"]);
    assert_eq!(
        v["models"][0],
        small_catalog()["models"][1],
        "the whole model spec"
    );
    let (_, v) = s
        .get(&t, "/provider-sync/models?provider_id=openrouter")
        .await;
    assert_eq!(ids(&v), ["openai/gpt-4"]);
    let (st, v) = s
        .get(&t, "/provider-sync/models?include_deprecated=maybe")
        .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (422, Some("include_deprecated")),
        "{v}"
    );
}

async fn provider_availability_gives_status_and_fallback(b: Backend) {
    let (_db, s, t) = server(b).await;
    catalog_send(
        &s,
        "PATCH",
        "providers",
        "openai",
        Some(json!({"status": "unavailable"})),
    )
    .await;
    let (st, v) = s
        .get(&t, "/provider-sync/providers/openai/availability")
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        v,
        json!({"provider_id": "openai", "provider_name": "OpenAI", "status": "unavailable",
        "enabled": true, "is_available": false, "fallback_provider_id": "anthropic",
        "fallback_provider_name": "Anthropic", "fallback_status": "available"})
    );
    let (_, v) = s
        .get(&t, "/provider-sync/providers/openrouter/availability")
        .await;
    assert_eq!(
        (
            v["is_available"].as_bool(),
            v["fallback_provider_id"].is_null()
        ),
        (Some(true), true)
    );
    let (st, v) = s
        .get(&t, "/provider-sync/providers/nope/availability")
        .await;
    assert_eq!((st, v["error"]["code"].as_str()), (404, Some("not_found")));
}

async fn model_availability_gives_deprecation_replacement_and_days_to_sunset(b: Backend) {
    let (_db, s, t) = server(b).await;
    let today = dates::today();
    let mut m = model("gpt-4-32k", "GPT-4 32k", "openai");
    m["deprecation_status"] = json!("deprecated");
    m["deprecation_date"] = json!(dates::format_day(today - 10));
    m["sunset_date"] = json!(dates::format_day(today + 30));
    m["replacement_model_id"] = json!("gpt-4o");
    let (st, v) = catalog_send(&s, "PUT", "models", "gpt-4-32k", Some(m)).await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s
        .get(&t, "/provider-sync/models/gpt-4-32k/availability")
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        v,
        json!({"model_id": "gpt-4-32k", "model_name": "GPT-4 32k", "provider_id": "openai",
        "is_available": true, "deprecation_status": "deprecated",
        "deprecation_date": dates::format_day(today - 10), "sunset_date": dates::format_day(today + 30),
        "replacement_model_id": "gpt-4o", "replacement_model_name": "GPT-4o", "days_until_sunset": 30})
    );
    // Ids with a slash, percent-encoded in the path.
    let (st, v) = s
        .get(&t, "/provider-sync/models/openai%2Fgpt-4/availability")
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["model_id"].as_str(), v["days_until_sunset"].is_null()),
        (Some("openai/gpt-4"), true)
    );
    catalog_send(
        &s,
        "PATCH",
        "models",
        "openai/gpt-4",
        Some(json!({"deprecation_status": "sunset"})),
    )
    .await;
    let (_, v) = s
        .get(&t, "/provider-sync/models/openai%2Fgpt-4/availability")
        .await;
    assert_eq!(v["is_available"], false);
    let (st, _) = s.get(&t, "/provider-sync/models/nope/availability").await;
    assert_eq!(st, 404);
}

async fn provider_ws(s: &TestServer, token: &str, query: &str) -> Ws {
    let host = s.base.trim_start_matches("http://");
    let url = format!("ws://{host}/provider-sync/ws?access_token={token}{query}");
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    Ws {
        ws,
        presence: false,
    }
}

async fn provider_sync_ws_streams_events_and_resumes(b: Backend) {
    let (_db, s, t) = server(b).await;
    let mut w = provider_ws(&s, &t, "").await;
    let hello = w.recv().await;
    assert_eq!(
        (hello["event_type"].as_str(), hello["version"].as_u64()),
        (Some("connected"), Some(7))
    );
    let full = w.recv().await;
    assert_eq!(full["event_type"], "full_sync");
    assert_eq!(full["data"]["all_models"].as_array().unwrap().len(), 4);
    catalog_send(
        &s,
        "PUT",
        "providers",
        "mistral",
        Some(provider("mistral", "Mistral", None, "m")),
    )
    .await;
    catalog_send(&s, "DELETE", "providers", "mistral", None).await;
    let a = w.recv().await;
    let d = w.recv().await;
    assert_eq!(
        (a["event_type"].as_str(), a["version"].as_u64()),
        (Some("provider_added"), Some(8))
    );
    assert_eq!(
        (d["event_type"].as_str(), d["data"].is_null()),
        (Some("provider_removed"), true)
    );
    // Resuming from a version gets just what was missed, then live events.
    let mut r = provider_ws(&s, &t, "&client_version=7").await;
    assert_eq!(r.recv().await["event_type"], "connected");
    let missed: Vec<Value> = vec![r.recv().await, r.recv().await];
    assert_eq!(
        missed
            .iter()
            .map(|e| e["version"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [8, 9]
    );
    r.send(json!({"type": "ping"})).await;
    assert_eq!(r.recv().await["event_type"], "pong");
    // A token is required.
    let host = s.base.trim_start_matches("http://");
    let refused = tokio_tungstenite::connect_async(format!("ws://{host}/provider-sync/ws")).await;
    assert!(refused.is_err());
}
