//! The catalog in the `catalog` space — checks, the seed 001
//! event names, idempotent loading (HTTP and CLI), the default catalog, and
//! live delivery of `model_deprecated`.

mod common;
mod domain_util;

use common::ws::Ws;
use common::{Backend, TestServer};
use domain_util::{admin, catalog_send, events_since, head, load_catalog, small_catalog, start};
use serde_json::{Value, json};

both_stores!(
    default_catalog_is_loaded_once_into_an_empty_catalog,
    loading_the_same_catalog_twice_emits_no_event,
    catalog_load_cli_is_idempotent,
    admin_writes_carry_the_seed_event_names,
    deprecating_a_model_pushes_model_deprecated_to_a_subscribed_tab,
    catalog_documents_are_validated,
);

async fn default_catalog_is_loaded_once_into_an_empty_catalog(b: Backend) {
    let db = common::TestDb::new(b).await;
    let mut a = common::args(&db);
    a.health_interval_ms = 0;
    let s = TestServer::start(&a).await;
    let t = s.token("alice");
    let (_, state) = s.get(&t, "/provider-sync/state").await;
    let ids: Vec<&str> = state["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["anthropic", "openai", "openrouter"]);
    assert!(
        state["all_models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "openai/gpt-4")
    );
    let first = head(&s, &t, "catalog").await;
    assert!(first.1 > 0);
    s.stop().await;
    // A restart finds the catalog written and loads nothing.
    let s = TestServer::start(&a).await;
    assert_eq!(head(&s, &t, "catalog").await, first);
    // An admin's change survives restarts: the default is never re-applied.
    let (st, _) = catalog_send(&s, "DELETE", "models", "gpt-4o", None).await;
    assert_eq!(st, 200);
    let after = head(&s, &t, "catalog").await;
    s.stop().await;
    let s = TestServer::start(&a).await;
    assert_eq!(head(&s, &t, "catalog").await, after);
}

async fn loading_the_same_catalog_twice_emits_no_event(b: Backend) {
    let (_db, s) = start(b, |a| a.max_ops_per_mutation = 3).await;
    let t = s.token("alice");
    let mut w = Ws::open(&s.base, &t).await;
    w.hello("tab", json!({"catalog": null})).await;
    assert_eq!(w.recv().await["version"], 0);
    let r = load_catalog(&s, &small_catalog()).await;
    assert_eq!(
        r,
        json!({"providers_written": 3, "models_written": 4, "unchanged": 0, "version": 7})
    );
    for v in 1..=7 {
        let f = w.recv().await;
        assert_eq!(
            (f["type"].as_str(), f["version"].as_u64()),
            (Some("event"), Some(v)),
            "{f}"
        );
        let want = if v <= 3 {
            "provider_added"
        } else {
            "model_added"
        };
        assert_eq!(f["event"], want);
    }
    let r = load_catalog(&s, &small_catalog()).await;
    assert_eq!(
        r,
        json!({"providers_written": 0, "models_written": 0, "unchanged": 7, "version": 7})
    );
    // Nothing reached the subscriber: the next frame is the pong.
    w.send(json!({"type": "ping", "nonce": 1})).await;
    assert_eq!(w.recv().await["type"], "pong");
    // A changed entry is written alone.
    let mut file = small_catalog();
    file["models"][0]["max_output_tokens"] = json!(4096);
    let r = load_catalog(&s, &file).await;
    assert_eq!(
        (r["models_written"].as_u64(), r["unchanged"].as_u64()),
        (Some(1), Some(6))
    );
    let f = w.recv().await;
    assert_eq!(
        (f["event"].as_str(), f["id"].as_str()),
        (Some("model_updated"), Some("gpt-4o"))
    );
}

fn run_cli(db: &common::TestDb, file: &std::path::Path) -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .args(["catalog", "load"])
        .arg(file)
        .env("TIDEMARK_DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run tidemark catalog load");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON report")
}

async fn catalog_load_cli_is_idempotent(b: Backend) {
    let db = common::TestDb::new(b).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog.json");
    std::fs::write(&file, small_catalog().to_string()).unwrap();
    let first = run_cli(&db, &file);
    assert_eq!(
        first,
        json!({"providers_written": 3, "models_written": 4, "unchanged": 0, "version": 7})
    );
    let second = run_cli(&db, &file);
    assert_eq!(
        second,
        json!({"providers_written": 0, "models_written": 0, "unchanged": 7, "version": 7})
    );
    // A server on that database serves it, event names included.
    let mut a = common::args(&db);
    a.health_interval_ms = 0;
    let s = TestServer::start(&a).await;
    let t = s.token("alice");
    let (epoch, v) = head(&s, &t, "catalog").await;
    assert_eq!(
        v, 7,
        "the default catalog is not added to a written catalog"
    );
    let evs = events_since(&s, &t, "catalog", &epoch, 0).await;
    assert!(evs[..3].iter().all(|e| e["event"] == "provider_added"));
    // A bad file is refused with the entry and field, and writes nothing.
    std::fs::write(&file, json!({"models": [{"id": "x"}]}).to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .args(["catalog", "load"])
        .arg(&file)
        .env("TIDEMARK_DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`models[0].name` is required"));
    assert_eq!(head(&s, &t, "catalog").await.1, 7);
}

async fn admin_writes_carry_the_seed_event_names(b: Backend) {
    let (_db, s) = start(b, |_| {}).await;
    let t = s.token("alice");
    load_catalog(&s, &small_catalog()).await;
    let (epoch, v0) = head(&s, &t, "catalog").await;
    let p = domain_util::provider("mistral", "Mistral", Some("openai"), "mistral-large");
    let m = domain_util::model("mistral-large", "Mistral Large", "mistral");
    let steps: Vec<(&str, &str, &str, Option<Value>)> = vec![
        ("PUT", "providers", "mistral", Some(p.clone())),
        (
            "PATCH",
            "providers",
            "mistral",
            Some(json!({"display_name": "Mistral AI"})),
        ),
        (
            "PATCH",
            "providers",
            "mistral",
            Some(json!({"status": "degraded"})),
        ),
        ("PUT", "models", "mistral-large", Some(m.clone())),
        (
            "PATCH",
            "models",
            "mistral-large",
            Some(json!({"max_output_tokens": 8192})),
        ),
        (
            "PATCH",
            "models",
            "mistral-large",
            Some(json!({"deprecation_status": "deprecated", "deprecation_date": "2026-12-01"})),
        ),
        ("DELETE", "models", "mistral-large", None),
        ("DELETE", "providers", "mistral", None),
    ];
    for (method, coll, id, body) in steps {
        let (st, v) = catalog_send(&s, method, coll, id, body).await;
        assert_eq!(st, 200, "{method} {coll}/{id}: {v}");
    }
    let evs = events_since(&s, &t, "catalog", &epoch, v0).await;
    let got: Vec<&str> = evs
        .iter()
        .map(|e| e["event"].as_str().unwrap_or("null"))
        .collect();
    assert_eq!(
        got,
        [
            "provider_added",
            "provider_updated",
            "provider_status_changed",
            "model_added",
            "model_updated",
            "model_deprecated",
            "model_removed",
            "provider_removed",
        ]
    );
    let (_, v) = catalog_send(
        &s,
        "PUT",
        "providers",
        "openai",
        Some(domain_util::provider(
            "openai",
            "OpenAI",
            Some("anthropic"),
            "gpt-4o",
        )),
    )
    .await;
    assert_eq!(v["noop"], true, "the same value is no event");
}

async fn deprecating_a_model_pushes_model_deprecated_to_a_subscribed_tab(b: Backend) {
    let (_db, s) = start(b, |_| {}).await;
    let t = s.token("alice");
    load_catalog(&s, &small_catalog()).await;
    let mut tab = Ws::open(&s.base, &t).await;
    tab.hello("tab", json!({"catalog": null})).await;
    let snap = tab.recv().await;
    assert_eq!(snap["type"], "snapshot");
    let mut seed_tab = provider_ws(&s, &t, "").await;
    let hello = seed_tab.recv().await;
    assert_eq!(hello["event_type"], "connected");
    assert_eq!(seed_tab.recv().await["event_type"], "full_sync");
    let patch = json!({"deprecation_status": "deprecated", "deprecation_date": "2026-12-01",
        "sunset_date": "2027-03-01", "replacement_model_id": "gpt-4o"});
    let (st, v) = catalog_send(&s, "PATCH", "models", "openai/gpt-4", Some(patch)).await;
    assert_eq!(st, 200, "{v}");
    let f = tab.recv().await;
    assert_eq!(
        (f["type"].as_str(), f["event"].as_str(), f["id"].as_str()),
        (
            Some("event"),
            Some("model_deprecated"),
            Some("openai/gpt-4")
        ),
        "{f}"
    );
    assert_eq!(f["value"]["deprecation_status"], "deprecated");
    assert_eq!(f["version"], snap["version"].as_u64().unwrap() + 1);
    let e = seed_tab.recv().await;
    assert_eq!(
        (
            e["event_type"].as_str(),
            e["entity_type"].as_str(),
            e["entity_id"].as_str()
        ),
        (
            Some("model_deprecated"),
            Some("model"),
            Some("openai/gpt-4")
        ),
        "{e}"
    );
    assert_eq!(e["data"]["replacement_model_id"], "gpt-4o");
}

/// A `/provider-sync/ws` client (JSON frames, no subprotocol).
pub async fn provider_ws(s: &TestServer, token: &str, query: &str) -> Ws {
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

async fn catalog_documents_are_validated(b: Backend) {
    let (_db, s) = start(b, |_| {}).await;
    let user = s.token("alice");
    let mut bad_model = domain_util::model("gpt-x", "GPT X", "openai");
    bad_model["deprecation_status"] = json!("retired");
    let mut wrong_id = domain_util::model("gpt-x", "GPT X", "openai");
    wrong_id["id"] = json!("gpt-y");
    let cases = [
        ("models", "gpt-x", bad_model, "`deprecation_status`"),
        ("models", "gpt-x", wrong_id, "`id`"),
        ("providers", "openai", json!({"x": 1}), "`x`"),
        (
            "providers",
            "openai",
            json!({"id": "openai", "display_name": "OpenAI", "status": "up", "enabled": true}),
            "`status`",
        ),
    ];
    for (coll, id, body, field) in cases {
        let (st, v) = catalog_send(&s, "PUT", coll, id, Some(body)).await;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (422, Some("invalid")),
            "{v}"
        );
        assert!(
            v["error"]["message"].as_str().unwrap().contains(field),
            "{v}"
        );
    }
    let (st, v) = s
        .send(
            "PUT",
            &user,
            "/v1/spaces/catalog/docs/models/gpt-x",
            Some(domain_util::model("gpt-x", "X", "openai")),
        )
        .await;
    assert_eq!((st, v["error"]["code"].as_str()), (403, Some("forbidden")));
    let (st, _) = s
        .send("POST", &user, "/api/admin/catalog", Some(small_catalog()))
        .await;
    assert_eq!(st, 403);
    let mut file = small_catalog();
    file["models"][0]["provider_id"] = json!("nobody");
    let (st, v) = s
        .send("POST", &admin(), "/api/admin/catalog", Some(file))
        .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (422, Some("models[0].provider_id")),
        "{v}"
    );
    assert_eq!(head(&s, &user, "catalog").await.1, 0);
}
