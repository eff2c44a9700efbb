//! Shared by the `domain_*` tests: a server with or without the default
//! catalog, a small catalog, admin writes, and event reading.
#![allow(dead_code)]

use serde_json::{Value, json};
use tidemark::config::ServeArgs;
use tidemark::engine::Role;

use crate::common::{self, Backend, TestDb, TestServer};

/// A server on a fresh database; `tweak` adjusts the settings. The default
/// catalog is off unless the tweak turns it back on.
pub async fn start(b: Backend, tweak: impl FnOnce(&mut ServeArgs)) -> (TestDb, TestServer) {
    let db = TestDb::new(b).await;
    let mut a = common::args(&db);
    a.no_default_catalog = true;
    a.health_interval_ms = 0;
    a.lockbox.openai_api_key = None;
    a.lockbox.anthropic_api_key = None;
    a.lockbox.openrouter_api_key = None;
    tweak(&mut a);
    let s = TestServer::start(&a).await;
    (db, s)
}

pub fn admin() -> String {
    common::token("root", Role::Admin)
}

pub fn encode(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub fn provider(id: &str, name: &str, fallback: Option<&str>, default_model: &str) -> Value {
    json!({"id": id, "display_name": name, "status": "available", "enabled": true,
           "fallback_provider_id": fallback, "default_model_id": default_model, "health_url": null})
}

pub fn model(id: &str, name: &str, provider: &str) -> Value {
    json!({"id": id, "name": name, "provider_id": provider, "context_window": 128000,
           "max_input_tokens": 128000, "max_output_tokens": 16384, "supports_streaming": true,
           "supports_vision": true, "deprecation_status": "active", "deprecation_date": null,
           "sunset_date": null, "replacement_model_id": null})
}

/// openai (falls back to anthropic) with gpt-4o and a deprecated gpt-3.5-turbo,
/// anthropic, and openrouter with `openai/gpt-4`.
pub fn small_catalog() -> Value {
    let mut old = model("gpt-3.5-turbo", "GPT-3.5 Turbo", "openai");
    old["deprecation_status"] = json!("deprecated");
    old["deprecation_date"] = json!("2026-06-01");
    old["sunset_date"] = json!("2027-01-01");
    old["replacement_model_id"] = json!("gpt-4o");
    json!({
        "providers": [
            provider("openai", "OpenAI", Some("anthropic"), "gpt-4o"),
            provider("anthropic", "Anthropic", Some("openai"), "claude-sonnet"),
            provider("openrouter", "OpenRouter", None, "openai/gpt-4"),
        ],
        "models": [
            model("gpt-4o", "GPT-4o", "openai"),
            old,
            model("claude-sonnet", "Claude Sonnet", "anthropic"),
            model("openai/gpt-4", "OpenAI: GPT-4", "openrouter"),
        ]
    })
}

/// `POST /api/admin/catalog`; returns the load report.
pub async fn load_catalog(s: &TestServer, file: &Value) -> Value {
    let (st, v) = s
        .send("POST", &admin(), "/api/admin/catalog", Some(file.clone()))
        .await;
    assert_eq!(st, 200, "catalog load: {v}");
    v
}

/// Writes a catalog document as admin through the generic API.
pub async fn catalog_send(
    s: &TestServer,
    method: &str,
    coll: &str,
    id: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let path = format!("/v1/spaces/catalog/docs/{coll}/{}", encode(id));
    s.send(method, &admin(), &path, body).await
}

/// `(epoch, version)` of a space.
pub async fn head(s: &TestServer, token: &str, space: &str) -> (String, u64) {
    let (st, v) = s.get(token, &format!("/v1/spaces/{space}/version")).await;
    assert_eq!(st, 200, "{v}");
    (
        v["epoch"].as_str().unwrap().to_string(),
        v["version"].as_u64().unwrap(),
    )
}

/// The events of `space` after `(epoch, version)`, through `POST /v1/sync`.
pub async fn events_since(
    s: &TestServer,
    token: &str,
    space: &str,
    epoch: &str,
    version: u64,
) -> Vec<Value> {
    let v = s
        .sync(token, json!({"client_id": "reader", "cursors": {space: {"epoch": epoch, "version": version}}}))
        .await;
    let answer = v["spaces"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    match answer["kind"].as_str() {
        Some("up_to_date") => vec![],
        Some("events") => answer["events"].as_array().unwrap().clone(),
        other => panic!("expected events, got {other:?}: {answer}"),
    }
}

/// `RFC 3339` check for a volatile field, then a fixed placeholder in its place.
pub fn pin_time(v: &mut Value, pointer: &str) {
    let slot = v
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer} missing"));
    let s = slot
        .as_str()
        .unwrap_or_else(|| panic!("{pointer} is not a string: {slot}"));
    assert!(
        humantime::parse_rfc3339(s).is_ok(),
        "{pointer} = {s} is not RFC 3339"
    );
    *slot = json!("<time>");
}
