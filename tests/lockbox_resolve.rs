//! Seed 004: `model_config/current` validated against the catalog,
//! and the service-only resolution with each fallback of its chain.

mod common;
mod lockbox_support;

use common::{Backend, TestDb, TestServer};
use lockbox_support::*;
use secrecy::SecretString;
use serde_json::{Value, json};
use tidemark::engine::Role;

both_stores!(
    model_config_is_validated_against_the_catalog,
    the_users_lockbox_key_comes_first_then_the_environment_then_an_error,
    a_model_missing_from_the_catalog_falls_back_to_the_default,
    an_unavailable_provider_falls_back_to_its_fallback,
    without_a_preference_the_first_provider_with_a_key_is_used,
);

async fn set_config(s: &TestServer, token: &str, value: Value) -> (u16, Value) {
    s.send(
        "PUT",
        token,
        "/v1/spaces/user:me/docs/model_config/current",
        Some(value),
    )
    .await
}

async fn resolve(s: &TestServer, user: &str) -> (u16, Value) {
    let service = tok("summarizer", Role::Service);
    s.get(&service, &format!("/internal/v1/users/{user}/model-config"))
        .await
}

fn fallback_kinds(v: &Value) -> Vec<String> {
    v["fallbacks"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["kind"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn model_config_is_validated_against_the_catalog(b: Backend) {
    let (_db, s) = start(b).await;
    seed_catalog(&s).await;
    let alice = s.token("alice");
    for (value, says) in [
        (
            json!({"preferred_provider": "mistral"}),
            "preferred_provider 'mistral'",
        ),
        (
            json!({"models": {"openai": "gpt-9"}}),
            "model 'gpt-9' is not in the catalog",
        ),
        (
            json!({"models": {"openai": "claude-haiku"}}),
            "belongs to provider 'anthropic'",
        ),
        (
            json!({"models": {"google": "gemini"}}),
            "provider 'google' is not in the catalog",
        ),
        (json!({"preferredProvider": "openai"}), "unknown field"),
        (json!({"models": ["gpt-4o"]}), "model_config/current"),
    ] {
        let (st, v) = set_config(&s, &alice, value.clone()).await;
        assert_eq!(st, 422, "{value}: {v}");
        assert_eq!(v["error"]["code"], "invalid");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(says), "{value}: {msg}");
    }
    let (st, v) = s
        .send(
            "PUT",
            &alice,
            "/v1/spaces/user:me/docs/model_config/other",
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 422, "{v}");
    let good = json!({"preferred_provider": "anthropic",
                      "models": {"openai": "gpt-4o-mini", "anthropic": "claude-haiku"}});
    let (st, v) = set_config(&s, &alice, good.clone()).await;
    assert_eq!(st, 200, "{v}");
    let (_, doc) = s
        .get(&alice, "/v1/spaces/user:me/docs/model_config/current")
        .await;
    assert_eq!(doc["value"], good);
    // A patch is checked on its result.
    let (st, _) = s
        .send(
            "PATCH",
            &alice,
            "/v1/spaces/user:me/docs/model_config/current",
            Some(json!({"models": {"anthropic": "gpt-4o"}})),
        )
        .await;
    assert_eq!(st, 422);
    s.stop().await;
}

async fn the_users_lockbox_key_comes_first_then_the_environment_then_an_error(b: Backend) {
    let db = TestDb::new(b).await;
    let mut a = lockbox_args(&db);
    let env_key = openai_key("ENV");
    a.lockbox.openai_api_key = Some(SecretString::from(env_key.clone()));
    let s = TestServer::start(&a).await;
    seed_catalog(&s).await;
    let alice = s.token("alice");
    let (st, _) = set_config(
        &s,
        &alice,
        json!({"preferred_provider": "openai", "models": {"openai": "gpt-4o-mini"}}),
    )
    .await;
    assert_eq!(st, 200);
    let own = openai_key("OWN");
    assert_eq!(put_key(&s, &alice, "openai", &own).await.0, 200);

    let (st, mut v) = resolve(&s, "alice").await;
    assert_eq!(st, 200, "{v}");
    // Which of her keys it is (for a refusal report): the time it was set.
    let version = v.as_object_mut().unwrap().remove("key_version");
    assert!(version.is_some_and(|k| k.is_string()));
    assert_eq!(
        v,
        json!({"user": "alice", "provider": "openai", "model": "gpt-4o-mini",
               "api_key": own, "source": "lockbox", "fallbacks": []})
    );

    // No lockbox key: the server's environment key, and the fallback is reported.
    assert_eq!(
        s.send("DELETE", &alice, "/v1/lockbox/openai", None).await.0,
        200
    );
    let (st, v) = resolve(&s, "alice").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["api_key"].clone(), v["source"].clone()),
        (json!(env_key), json!("env"))
    );
    assert_eq!(fallback_kinds(&v), ["env_key"]);
    assert_eq!(v["fallbacks"][0]["to"], "OPENAI_API_KEY");
    s.stop().await;

    // Neither: a clear error naming what is missing.
    let mut a = lockbox_args(&db);
    a.lockbox.openai_api_key = None;
    let s = TestServer::start(&a).await;
    let (st, v) = resolve(&s, "alice").await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["error"]["code"], "no_api_key");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("OpenAI") && msg.contains("OPENAI_API_KEY"),
        "{msg}"
    );
    assert!(msg.contains("no key in the lockbox"), "{msg}");
    s.stop().await;
}

async fn a_model_missing_from_the_catalog_falls_back_to_the_default(b: Backend) {
    let (_db, s) = start(b).await;
    seed_catalog(&s).await;
    catalog_put(
        &s,
        "models",
        "gpt-4-legacy",
        model_doc("gpt-4-legacy", "openai"),
    )
    .await;
    let alice = s.token("alice");
    let own = openai_key("OWN");
    assert_eq!(put_key(&s, &alice, "openai", &own).await.0, 200);
    let (st, _) = set_config(
        &s,
        &alice,
        json!({"preferred_provider": "openai", "models": {"openai": "gpt-4-legacy"}}),
    )
    .await;
    assert_eq!(st, 200);
    let (_, v) = resolve(&s, "alice").await;
    assert_eq!(v["model"], "gpt-4-legacy");

    // The model leaves the catalog after the user chose it.
    catalog_delete(&s, "models", "gpt-4-legacy").await;
    let (st, v) = resolve(&s, "alice").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["provider"].clone(), v["model"].clone()),
        (json!("openai"), json!("gpt-4o"))
    );
    assert_eq!(fallback_kinds(&v), ["model_not_in_catalog"]);
    assert_eq!(
        (
            v["fallbacks"][0]["from"].clone(),
            v["fallbacks"][0]["to"].clone()
        ),
        (json!("gpt-4-legacy"), json!("gpt-4o"))
    );
    assert_eq!(v["api_key"], json!(own));

    // No model chosen at all: the default, also reported.
    let (st, _) = set_config(&s, &alice, json!({"preferred_provider": "openai"})).await;
    assert_eq!(st, 200);
    let (_, v) = resolve(&s, "alice").await;
    assert_eq!(v["model"], "gpt-4o");
    assert_eq!(fallback_kinds(&v), ["default_model"]);
    s.stop().await;
}

async fn an_unavailable_provider_falls_back_to_its_fallback(b: Backend) {
    let (_db, s) = start(b).await;
    seed_catalog(&s).await;
    let alice = s.token("alice");
    let oa = openai_key("OWN");
    let an = anthropic_key("OWN");
    assert_eq!(put_key(&s, &alice, "openai", &oa).await.0, 200);
    assert_eq!(put_key(&s, &alice, "anthropic", &an).await.0, 200);
    let (st, _) = set_config(
        &s,
        &alice,
        json!({"preferred_provider": "openai",
               "models": {"openai": "gpt-4o-mini", "anthropic": "claude-haiku"}}),
    )
    .await;
    assert_eq!(st, 200);

    catalog_put(
        &s,
        "providers",
        "openai",
        provider_doc("openai", "unavailable", Some("anthropic"), "gpt-4o"),
    )
    .await;
    let (st, v) = resolve(&s, "alice").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (
            v["provider"].clone(),
            v["model"].clone(),
            v["api_key"].clone(),
            v["source"].clone()
        ),
        (
            json!("anthropic"),
            json!("claude-haiku"),
            json!(an),
            json!("lockbox")
        )
    );
    assert_eq!(fallback_kinds(&v), ["provider_unavailable"]);
    assert_eq!(
        (
            v["fallbacks"][0]["from"].clone(),
            v["fallbacks"][0]["to"].clone()
        ),
        (json!("openai"), json!("anthropic"))
    );

    // The fallback is unavailable too, with nowhere to go: an error that says so.
    catalog_put(
        &s,
        "providers",
        "anthropic",
        provider_doc("anthropic", "unavailable", None, "claude-sonnet"),
    )
    .await;
    let (st, v) = resolve(&s, "alice").await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (422, json!("provider_unavailable")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("anthropic"),
        "{v}"
    );
    s.stop().await;
}

async fn without_a_preference_the_first_provider_with_a_key_is_used(b: Backend) {
    let (_db, s) = start(b).await;
    seed_catalog(&s).await;
    let alice = s.token("alice");
    let (st, v) = resolve(&s, "alice").await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (422, json!("no_provider")),
        "{v}"
    );
    let or = openrouter_key("OWN");
    assert_eq!(put_key(&s, &alice, "openrouter", &or).await.0, 200);
    let (st, v) = resolve(&s, "alice").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (
            v["provider"].clone(),
            v["model"].clone(),
            v["api_key"].clone()
        ),
        (json!("openrouter"), json!("openai/gpt-4o"), json!(or))
    );
    assert_eq!(
        fallback_kinds(&v),
        ["no_preferred_provider", "default_model"]
    );
    s.stop().await;
}
