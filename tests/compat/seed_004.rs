//! Seed 004 (user API keys and model config): `preferredProvider?: 'openai'
//! | 'anthropic' | 'system'` ("UserSettings Model"), `getAvailableModels(userId)`
//! returning `AvailableModels { openai: string[]; anthropic: string[] }`
//! with the seed's `SupportedModels` ids, names and descriptions ("Model
//! Configuration Types"), and "Fallback Strategy" 1: "User API Key Fails:
//! Fall back to system API key".

use secrecy::SecretString;
use serde_json::{Value, json};
use tidemark::engine::Role;

use crate::common::{Backend, TestDb, TestServer};
use crate::lockbox_support::{FakeProvider, lockbox_args, openai_key, put_key, tok};

both_stores!(
    preferred_provider_system_uses_the_servers_keys,
    available_models_in_the_seed_shape,
    a_refused_user_key_falls_back_to_the_system_key_and_says_why,
);

const SERVER_OPENAI: &str = "sk-serverOKAY000000000000000000000000000000000000e1e1";

async fn resolve(s: &TestServer, user: &str) -> (u16, Value) {
    s.get(
        &tok("backend", Role::Service),
        &format!("/internal/v1/users/{user}/model-config"),
    )
    .await
}

/// What a resolution says, without the key it carries.
fn said(v: &Value) -> (Option<&str>, Option<&str>, Vec<&str>) {
    (
        v["provider"].as_str(),
        v["source"].as_str(),
        v["fallbacks"]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f["kind"].as_str()).collect())
            .unwrap_or_default(),
    )
}

async fn preferred_provider_system_uses_the_servers_keys(b: Backend) {
    let db = TestDb::new(b).await;
    let mut a = lockbox_args(&db);
    a.lockbox.openai_api_key = Some(SecretString::from(SERVER_OPENAI));
    let s = TestServer::start(&a).await;
    let t = tok("ada", Role::User);
    // Her own OpenAI key too: `system` means the server's, not hers.
    let (st, _) = put_key(&s, &t, "openai", &openai_key("OKAY")).await;
    assert_eq!(st, 200);
    let (st, v) = s
        .send(
            "PUT",
            &t,
            "/v1/spaces/user:me/docs/model_config/current",
            Some(json!({"preferred_provider": "system", "models": {"openai": "gpt-4o"}})),
        )
        .await;
    assert_eq!(st, 200, "`system` is one of the seed's three values: {v}");
    let (st, v) = resolve(&s, "ada").await;
    assert_eq!(st, 200, "{}", v["error"]);
    assert_eq!(
        said(&v),
        (Some("openai"), Some("env"), vec!["system_provider"])
    );
    assert_eq!(v["model"], "gpt-4o");
    assert!(
        v["api_key"] == SERVER_OPENAI,
        "the server's key is the one handed out"
    );
    s.stop().await;
}

async fn available_models_in_the_seed_shape(b: Backend) {
    let db = TestDb::new(b).await;
    let mut a = lockbox_args(&db);
    a.lockbox.anthropic_api_key = Some(SecretString::from(
        "sk-ant-api03-serverOKAY0000000000000000000000000000000009z8y",
    ));
    let s = TestServer::start(&a).await;
    let t = tok("bo", Role::User);
    let ids = |v: &Value, p: &str| -> Vec<String> {
        v[p].as_array()
            .unwrap_or_else(|| panic!("{p} is a list: {v}"))
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect()
    };
    // No key of her own: OpenAI has none to offer (an empty list, not an
    // error); Anthropic's come with the server's key.
    let (st, v) = s.get(&t, "/api/user/available-models").await;
    assert_eq!(st, 200, "{v}");
    assert!(ids(&v, "openai").is_empty(), "{v}");
    let anthropic = ids(&v, "anthropic");
    for id in [
        "claude-opus-4-20250514",
        "claude-sonnet-3-5",
        "claude-haiku-3",
    ] {
        assert!(anthropic.contains(&id.to_string()), "{id} missing: {v}");
    }
    assert_eq!(v["sources"]["anthropic"], "env");
    // Her own OpenAI key: the seed's OpenAI models, with names and descriptions.
    put_key(&s, &t, "openai", &openai_key("OKAY")).await;
    let (_, v) = s.get(&t, "/api/user/available-models").await;
    let openai = ids(&v, "openai");
    for id in ["gpt-4o", "gpt-4o-mini", "gpt-4-turbo"] {
        assert!(openai.contains(&id.to_string()), "{id} missing: {v}");
    }
    assert_eq!(v["sources"]["openai"], "lockbox");
    let detail = |id: &str| {
        v["details"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no details for {id}: {v}"))
    };
    assert_eq!(
        detail("gpt-4o-mini"),
        json!({"id": "gpt-4o-mini", "provider": "openai", "name": "GPT-4o Mini", "description": "Fast and efficient"})
    );
    assert_eq!(
        detail("claude-opus-4-20250514")["description"],
        "Most capable model"
    );
    assert!(!v.to_string().contains("sk-"), "no key in the answer");
    s.stop().await;
}

async fn a_refused_user_key_falls_back_to_the_system_key_and_says_why(b: Backend) {
    let fake = FakeProvider::start().await;
    let db = TestDb::new(b).await;
    let mut a = lockbox_args(&db);
    a.lockbox.openai_api_key = Some(SecretString::from(SERVER_OPENAI));
    a.lockbox.openai_base_url = Some(fake.base.clone());
    let s = TestServer::start(&a).await;
    let t = tok("cy", Role::User);
    s.send(
        "PUT",
        &t,
        "/v1/spaces/user:me/docs/model_config/current",
        Some(json!({"preferred_provider": "openai", "models": {"openai": "gpt-4o"}})),
    )
    .await;
    // A key the provider refuses (the fake answers 401 to DENY keys).
    let (st, _) = put_key(&s, &t, "openai", &openai_key("DENY")).await;
    assert_eq!(st, 200);
    let (_, v) = resolve(&s, "cy").await;
    assert_eq!(
        said(&v).1,
        Some("lockbox"),
        "present and not yet refused: hers"
    );
    let old_version = v["key_version"].as_str().expect("key_version").to_string();
    // A live check finds it refused: from now on the server's key, and why.
    let (st, v) = s
        .send("POST", &t, "/v1/lockbox/openai/validate", Some(json!({})))
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (422, Some("UNAUTHORIZED"))
    );
    let (st, v) = resolve(&s, "cy").await;
    assert_eq!(st, 200, "{}", v["error"]);
    assert_eq!(said(&v), (Some("openai"), Some("env"), vec!["env_key"]));
    let reason = v["fallbacks"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("refused"), "{reason}");
    assert!(v["api_key"] == SERVER_OPENAI);
    // A new key clears it; a back-end service reporting a 401 marks it again
    // — but a late report about the old key does not mark the new one.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    put_key(&s, &t, "openai", &openai_key("OKAY")).await;
    let (_, v) = resolve(&s, "cy").await;
    assert_eq!(said(&v).1, Some("lockbox"));
    let new_version = v["key_version"].as_str().unwrap().to_string();
    assert_ne!(new_version, old_version);
    let svc = tok("backend", Role::Service);
    let report = |version: &str| json!({"status": 401, "key_version": version});
    let path = "/internal/v1/users/cy/lockbox/openai/refused";
    let (st, v) = s.send("POST", &svc, path, Some(report(&old_version))).await;
    assert_eq!((st, v["refused"].as_bool()), (200, Some(false)), "{v}");
    assert_eq!(
        said(&resolve(&s, "cy").await.1).1,
        Some("lockbox"),
        "the new key stands"
    );
    let (st, v) = s.send("POST", &svc, path, Some(report(&new_version))).await;
    assert_eq!((st, v["refused"].as_bool()), (200, Some(true)), "{v}");
    assert_eq!(said(&resolve(&s, "cy").await.1).1, Some("env"));
    // Only a service may report; only 401/403 count.
    let (st, _) = s
        .send(
            "POST",
            &t,
            "/internal/v1/users/cy/lockbox/openai/refused",
            Some(json!({"status": 401})),
        )
        .await;
    assert_eq!(st, 403);
    let (st, _) = s
        .send(
            "POST",
            &svc,
            "/internal/v1/users/cy/lockbox/openai/refused",
            Some(json!({"status": 500})),
        )
        .await;
    assert_eq!(st, 422);
    // Without a server key, the error says the user's key was refused.
    drop(s);
    let mut a = lockbox_args(&db);
    a.lockbox.openai_base_url = Some(fake.base.clone());
    let s = TestServer::start(&a).await;
    let (st, v) = resolve(&s, "cy").await;
    assert_eq!((st, v["error"]["code"].as_str()), (422, Some("no_api_key")));
    assert!(
        v["error"]["message"].as_str().unwrap().contains("refused"),
        "{v}"
    );
    s.stop().await;
}
