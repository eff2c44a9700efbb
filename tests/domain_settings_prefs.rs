//! `settings/ui` (seed 002) and model preferences
//! with the seed 000 API, over real sockets on both stores.

mod common;
mod domain_util;

use common::Backend;
use common::ws::Ws;
use domain_util::{head, pin_time, start};
use secrecy::SecretString;
use serde_json::{Value, json};

both_stores!(
    settings_read_as_defaults_when_nothing_is_stored,
    settings_are_validated_on_every_transport,
    two_tabs_editing_different_settings_both_win,
    model_preferences_round_trip_in_the_seed_shape,
    put_replaces_the_listed_providers_in_one_mutation,
    bad_put_is_422_naming_the_field_and_changes_nothing,
    unchanged_put_writes_nothing,
    api_key_configured_follows_the_lockbox_and_the_environment,
    model_preferences_are_validated_through_the_generic_api,
);

async fn settings_read_as_defaults_when_nothing_is_stored(b: Backend) {
    let (_db, s) = start(b, |_| {}).await;
    let t = s.token("alice");
    let r = s
        .http
        .get(s.url("/api/user/settings"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["etag"], "\"0\"");
    let (st, v) = common::decode(r).await;
    assert_eq!(st, 200);
    assert_eq!(
        v,
        json!({"theme": "light", "language": "en", "preferences": {}})
    );
    let (st, v) = s
        .send(
            "PATCH",
            &t,
            "/api/user/settings",
            Some(json!({"theme": "dark"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v,
        json!({"theme": "dark", "language": "en", "preferences": {}})
    );
    // Only what was written is stored; defaults fill the rest on read.
    let (_, doc) = s.get(&t, "/v1/spaces/user:me/docs/settings/ui").await;
    assert_eq!(doc["value"], json!({"theme": "dark"}));
}

async fn settings_are_validated_on_every_transport(b: Backend) {
    let (_db, s) = start(b, |_| {}).await;
    let t = s.token("alice");
    let path = "/v1/spaces/user:me/docs/settings/ui";
    for (body, field) in [
        (json!({"theme": "neon"}), "`theme`"),
        (json!({"language": "en_US"}), "`language`"),
        (json!({"lang": "en"}), "`lang`"),
        (json!({"preferences": "compact"}), "`preferences`"),
    ] {
        let (st, v) = s.send("PUT", &t, path, Some(body.clone())).await;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (422, Some("invalid")),
            "{body}: {v}"
        );
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.starts_with("settings/ui: ") && msg.contains(field),
            "{msg}"
        );
    }
    let (st, v) = s
        .send(
            "PATCH",
            &t,
            "/api/user/settings",
            Some(json!({"theme": "neon"})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("invalid")),
        "{v}"
    );
    // POST /v1/sync
    let r = s
        .put(
            &t,
            "c1",
            1,
            "user:me",
            "settings",
            "ui",
            json!({"theme": "sepia"}),
        )
        .await;
    assert_eq!(
        (r["status"].as_str(), r["code"].as_str()),
        (Some("reject"), Some("invalid")),
        "{r}"
    );
    // WebSocket
    let mut w = Ws::open(&s.base, &t).await;
    w.hello("tab", json!({})).await;
    w.send(json!({"type": "mutate", "mutation_id": 1, "space": "user:me",
        "ops": [{"op": "patch", "collection": "settings", "id": "ui", "value": {"language": "x y"}}]}))
        .await;
    let f = w.recv().await;
    assert_eq!(
        (f["type"].as_str(), f["code"].as_str()),
        (Some("reject"), Some("invalid")),
        "{f}"
    );
    // Good values pass everywhere, and nothing bad was stored.
    let (st, _) = s
        .send("PUT", &t, path, Some(json!({"theme": "system", "language": "zh-Hant-TW", "preferences": {"density": "compact"}})))
        .await;
    assert_eq!(st, 200);
    assert_eq!(head(&s, &t, "user:me").await.1, 1);
}

async fn two_tabs_editing_different_settings_both_win(b: Backend) {
    let (_db, s) = start(b, |_| {}).await;
    let t = s.token("alice");
    let mut a = Ws::open(&s.base, &t).await;
    let mut c = Ws::open(&s.base, &t).await;
    a.hello("tab-a", json!({"user:me": null})).await;
    c.hello("tab-b", json!({"user:me": null})).await;
    assert_eq!(a.recv().await["type"], "snapshot");
    assert_eq!(c.recv().await["type"], "snapshot");
    let patch = |mid: u64, v: Value| {
        json!({"type": "mutate", "mutation_id": mid, "space": "user:me",
        "ops": [{"op": "patch", "collection": "settings", "id": "ui", "value": v}]})
    };
    a.send(patch(1, json!({"theme": "dark"}))).await;
    c.send(patch(1, json!({"preferences": {"fontSize": 14}})))
        .await;
    a.send(patch(2, json!({"language": "de"}))).await;
    let want = json!({"theme": "dark", "language": "de", "preferences": {"fontSize": 14}});
    for tab in [&mut a, &mut c] {
        let mut last = Value::Null;
        while last != want {
            let f = tab.recv().await;
            if f["type"] == "event" {
                last = f["value"].clone();
            }
        }
    }
    let (_, v) = s.get(&t, "/api/user/settings").await;
    assert_eq!(v, want);
}

fn seed_body() -> Value {
    json!({"providers": [
        {"provider": "openai", "enabledModels": ["gpt-4", "gpt-3.5-turbo"], "isEnabled": true},
        {"provider": "openrouter", "enabledModels": ["openai/gpt-4", "anthropic/claude-3.5-sonnet"], "isEnabled": false},
    ]})
}

/// The GET answer with its times checked and pinned.
async fn prefs(s: &common::TestServer, t: &str) -> Value {
    let (st, mut v) = s.get(t, "/api/user/model-preferences").await;
    assert_eq!(st, 200, "{v}");
    pin_time(&mut v, "/lastSynced");
    for i in 0..v["providers"].as_array().unwrap().len() {
        pin_time(&mut v, &format!("/providers/{i}/metadata/lastUpdated"));
    }
    v
}

async fn model_preferences_round_trip_in_the_seed_shape(b: Backend) {
    let (_db, s) = start(b, |_| {}).await;
    let t = s.token("alice");
    let (st, v) = s.get(&t, "/api/user/model-preferences").await;
    assert_eq!(st, 200);
    assert_eq!(v["providers"], json!([]));
    let (st, put) = s
        .send("PUT", &t, "/api/user/model-preferences", Some(seed_body()))
        .await;
    assert_eq!(st, 200, "{put}");
    let want = json!({"providers": [
        {"provider": "openai", "enabledModels": ["gpt-4", "gpt-3.5-turbo"], "isEnabled": true,
         "metadata": {"apiKeyConfigured": false, "lastUpdated": "<time>"}},
        {"provider": "openrouter", "enabledModels": ["openai/gpt-4", "anthropic/claude-3.5-sonnet"], "isEnabled": false,
         "metadata": {"apiKeyConfigured": false, "lastUpdated": "<time>"}},
    ], "lastSynced": "<time>"});
    assert_eq!(prefs(&s, &t).await, want);
    // Stored as the documented document, ids exactly as given.
    let (_, doc) = s
        .get(&t, "/v1/spaces/user:me/docs/model_preferences/openrouter")
        .await;
    let mut value = doc["value"].clone();
    pin_time(&mut value, "/last_updated");
    assert_eq!(
        value,
        json!({"enabled_models": ["openai/gpt-4", "anthropic/claude-3.5-sonnet"],
        "is_enabled": false, "last_updated": "<time>"})
    );
}

async fn put_replaces_the_listed_providers_in_one_mutation(b: Backend) {
    let (_db, s) = start(b, |_| {}).await;
    let t = s.token("alice");
    s.send("PUT", &t, "/api/user/model-preferences", Some(seed_body()))
        .await;
    let (epoch, v0) = head(&s, &t, "user:me").await;
    let body = json!({"providers": [
        {"provider": "openrouter", "enabledModels": ["openai/gpt-4"], "isEnabled": true},
        {"provider": "anthropic", "enabledModels": ["claude-3-5-sonnet-latest"], "isEnabled": true},
    ]});
    let (st, _) = s
        .send("PUT", &t, "/api/user/model-preferences", Some(body))
        .await;
    assert_eq!(st, 200);
    let evs = domain_util::events_since(&s, &t, "user:me", &epoch, v0).await;
    let got: Vec<(String, String)> = evs
        .iter()
        .map(|e| {
            (
                e["op"].as_str().unwrap().to_string(),
                e["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("upsert".to_string(), "openrouter".to_string()),
            ("upsert".to_string(), "anthropic".to_string()),
        ],
        "a provider the body omits is kept, not deleted"
    );
    // One mutation: consecutive versions, one commit time, no client origin.
    assert!(
        evs.iter()
            .all(|e| e["at"] == evs[0]["at"] && e["origin"].is_null())
    );
    let v = prefs(&s, &t).await;
    let names: Vec<&str> = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["provider"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["anthropic", "openai", "openrouter"]);
    assert_eq!(v["providers"][2]["enabledModels"], json!(["openai/gpt-4"]));
}

async fn bad_put_is_422_naming_the_field_and_changes_nothing(b: Backend) {
    let (_db, s) = start(b, |_| {}).await;
    let t = s.token("alice");
    s.send("PUT", &t, "/api/user/model-preferences", Some(seed_body()))
        .await;
    let before = head(&s, &t, "user:me").await;
    for (body, field) in [
        (
            json!({"providers": [{"provider": "openai", "enabledModels": ["gpt-4"], "isEnabled": true},
                              {"provider": "anthropic", "enabledModels": [42], "isEnabled": true}]}),
            "providers[1].enabledModels[0]",
        ),
        (
            json!({"providers": [{"provider": "openai", "enabledModels": ["gpt-4"], "isEnabled": "yes"}]}),
            "providers[0].isEnabled",
        ),
        (
            json!({"providers": [{"provider": "openai", "enabledModels": ["gpt-4", "gpt-4"], "isEnabled": true}]}),
            "providers[0].enabledModels[1]",
        ),
        (
            json!({"providers": [{"provider": "openai", "isEnabled": true}]}),
            "providers[0].enabledModels",
        ),
        (
            json!({"providers": [{"provider": "", "enabledModels": [], "isEnabled": true}]}),
            "providers[0].provider",
        ),
        (json!({"providers": {}}), "providers"),
    ] {
        let (st, v) = s
            .send("PUT", &t, "/api/user/model-preferences", Some(body.clone()))
            .await;
        assert_eq!(st, 422, "{body}: {v}");
        assert_eq!(v["error"]["code"], "invalid");
        assert_eq!(v["error"]["field"], field, "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(field),
            "{v}"
        );
    }
    assert_eq!(head(&s, &t, "user:me").await, before, "nothing was written");
}

async fn unchanged_put_writes_nothing(b: Backend) {
    let (_db, s) = start(b, |_| {}).await;
    let t = s.token("alice");
    s.send("PUT", &t, "/api/user/model-preferences", Some(seed_body()))
        .await;
    let before = head(&s, &t, "user:me").await;
    let (_, first) = s.get(&t, "/api/user/model-preferences").await;
    let (st, second) = s
        .send("PUT", &t, "/api/user/model-preferences", Some(seed_body()))
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        head(&s, &t, "user:me").await,
        before,
        "no event, no version"
    );
    assert_eq!(first["providers"], second["providers"], "lastUpdated kept");
}

async fn api_key_configured_follows_the_lockbox_and_the_environment(b: Backend) {
    let (_db, s) = start(b, |a| {
        a.lockbox.anthropic_api_key = Some(SecretString::from(
            "sk-ant-env-0123456789abcdefghijklmnopqrstuvwxyz",
        ));
        let key = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]);
        a.lockbox.master_keys = Some(SecretString::from(format!("k1:{key}")));
    })
    .await;
    let t = s.token("alice");
    let body = json!({"providers": [
        {"provider": "anthropic", "enabledModels": [], "isEnabled": true},
        {"provider": "openai", "enabledModels": ["gpt-4"], "isEnabled": true},
    ]});
    s.send("PUT", &t, "/api/user/model-preferences", Some(body))
        .await;
    let configured = |v: &Value| -> Vec<bool> {
        v["providers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["metadata"]["apiKeyConfigured"].as_bool().unwrap())
            .collect()
    };
    assert_eq!(
        configured(&prefs(&s, &t).await),
        [true, false],
        "anthropic from the environment"
    );
    // The lockbox writes the redacted lockbox/openai document.
    let key = format!("sk-proj-{}1a2b", "x".repeat(40));
    let (st, v) = s
        .send(
            "PUT",
            &t,
            "/v1/lockbox/openai",
            Some(json!({"api_key": key})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(configured(&prefs(&s, &t).await), [true, true]);
    let (st, _) = s.send("DELETE", &t, "/v1/lockbox/openai", None).await;
    assert_eq!(st, 200);
    assert_eq!(configured(&prefs(&s, &t).await), [true, false]);
}

async fn model_preferences_are_validated_through_the_generic_api(b: Backend) {
    let (_db, s) = start(b, |_| {}).await;
    let t = s.token("alice");
    let path = "/v1/spaces/user:me/docs/model_preferences/openai";
    for body in [
        json!({"enabled_models": "gpt-4", "is_enabled": true}),
        json!({"enabled_models": ["gpt-4"]}),
        json!({"enabled_models": ["gpt-4"], "is_enabled": true, "api_key": "sk-..."}),
    ] {
        let (st, v) = s.send("PUT", &t, path, Some(body.clone())).await;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (422, Some("invalid")),
            "{body}: {v}"
        );
    }
    let (st, v) = s
        .send(
            "PUT",
            &t,
            path,
            Some(json!({"enabled_models": ["gpt-4"], "is_enabled": true})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    // Server-owned documents cannot be written by a client.
    for p in [
        "/v1/spaces/user:me/docs/lockbox/openai",
        "/v1/spaces/user:me/docs/usage_daily/2026-11-21",
    ] {
        let (st, v) = s
            .send("PUT", &t, p, Some(json!({"configured": true})))
            .await;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (422, Some("invalid")),
            "{p}: {v}"
        );
    }
}
