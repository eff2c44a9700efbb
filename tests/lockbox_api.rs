//! The lockbox over HTTP and WebSocket, on SQLite and PostgreSQL.

mod common;
mod lockbox_support;

use common::ws::Ws;
use common::{Backend, TestDb, TestServer};
use lockbox_support::*;
use secrecy::SecretString;
use serde_json::json;
use tidemark::engine::Role;

both_stores!(
    stored_key_round_trips_masked_and_never_in_plaintext,
    websocket_subscriber_sees_only_the_masked_document,
    other_users_and_clients_cannot_reach_the_lockbox,
    badly_formed_keys_get_invalid_format,
    keys_are_checked_live_against_the_provider,
    without_master_keys_the_lockbox_answers_503,
    environment_keys_are_listed_without_their_digits,
);

async fn stored_key_round_trips_masked_and_never_in_plaintext(b: Backend) {
    let (db, s) = start(b).await;
    let alice = s.token("alice");
    let key = openai_key("OKAY");

    let (st, v) = put_key(&s, &alice, "openai", &key).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["provider"], "openai");
    assert_eq!(v["configured"], true);
    assert_eq!(v["last4"], "1a2b");
    assert_eq!(v["source"], "lockbox");
    assert!(
        v["updated_at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{v}"
    );
    assert!(!v.to_string().contains(&key));

    let (st, list) = s.get(&alice, "/v1/lockbox").await;
    assert_eq!(st, 200);
    assert!(!list.to_string().contains(&key));
    let names: Vec<_> = list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["provider"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["openai", "anthropic", "openrouter"]);
    assert_eq!(listed(&s, &alice, "openai").await["last4"], "1a2b");
    let anthropic = listed(&s, &alice, "anthropic").await;
    assert_eq!(anthropic["configured"], false);
    assert_eq!(anthropic["last4"], json!(null));

    // The redacted document in the user's space says the same.
    let (st, doc) = s
        .get(&alice, "/v1/spaces/user:me/docs/lockbox/openai")
        .await;
    assert_eq!(st, 200, "{doc}");
    assert_eq!(
        doc["value"],
        json!({"configured": true, "last4": "1a2b", "source": "lockbox",
               "updated_at": v["updated_at"]})
    );

    // The database holds ciphertext that opens to the key, and no plaintext.
    let rows = lockbox_rows(&db).await;
    assert_eq!(rows.len(), 1);
    let (owner, provider, sealed) = &rows[0];
    assert_eq!((owner.as_str(), provider.as_str()), ("alice", "openai"));
    assert!(sealed.starts_with("v1.a."), "{sealed}");
    assert_eq!(
        open_row(&key_a(), owner, provider, sealed).as_deref(),
        Some(key.as_str())
    );
    assert!(
        open_row(&key_a(), "bob", provider, sealed).is_none(),
        "bound to the user"
    );
    let raw = raw_database_text(&db).await;
    assert!(raw.contains(sealed.as_str()), "the raw read sees the row");
    assert!(!raw.contains(&key), "plaintext key in the database");
    assert!(!raw.contains(&key[3..]), "key body in the database");

    // Replacing the key re-seals it; deleting it leaves a redacted "not configured".
    let key2 = openai_key("OKAY");
    let (st, _) = put_key(&s, &alice, "openai", &key2).await;
    assert_eq!(st, 200);
    let rows = lockbox_rows(&db).await;
    assert_eq!(
        open_row(&key_a(), "alice", "openai", &rows[0].2).as_deref(),
        Some(key2.as_str())
    );
    let (st, v) = s.send("DELETE", &alice, "/v1/lockbox/openai", None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["configured"].clone(), v["last4"].clone()),
        (json!(false), json!(null))
    );
    assert!(lockbox_rows(&db).await.is_empty());
    let (_, doc) = s
        .get(&alice, "/v1/spaces/user:me/docs/lockbox/openai")
        .await;
    assert_eq!(doc["value"]["configured"], false);
    let raw = raw_database_text(&db).await;
    assert!(!raw.contains(&key2) && !raw.contains(&key));
    s.stop().await;
}

async fn websocket_subscriber_sees_only_the_masked_document(b: Backend) {
    let (_db, s) = start(b).await;
    let alice = s.token("alice");
    let mut tab = Ws::open(&s.base, &alice).await;
    tab.hello("tab-2", json!({"user:me": null})).await;
    let snap = tab.recv().await;
    assert_eq!(snap["type"], "snapshot", "{snap}");

    let key = anthropic_key("OKAY");
    let (st, v) = put_key(&s, &alice, "anthropic", &key).await;
    assert_eq!(st, 200, "{v}");
    let ev = tab.recv().await;
    assert_eq!(ev["type"], "event", "{ev}");
    assert_eq!(
        (ev["collection"].clone(), ev["id"].clone()),
        (json!("lockbox"), json!("anthropic"))
    );
    assert_eq!(ev["value"]["configured"], true);
    assert_eq!(ev["value"]["last4"], "9z8y");
    assert_eq!(ev["value"]["source"], "lockbox");
    assert_eq!(ev["origin"], json!(null), "a server write");
    assert!(!ev.to_string().contains(&key));

    let (st, _) = s
        .send("DELETE", &alice, "/v1/lockbox/anthropic", None)
        .await;
    assert_eq!(st, 200);
    let ev = tab.recv().await;
    assert_eq!(ev["value"]["configured"], false, "{ev}");

    // A new tab's snapshot holds the masked document only.
    let (st, _) = put_key(&s, &alice, "anthropic", &key).await;
    assert_eq!(st, 200);
    let mut tab3 = Ws::open(&s.base, &alice).await;
    tab3.hello("tab-3", json!({"user:me": null})).await;
    let snap = tab3.recv().await;
    assert_eq!(snap["type"], "snapshot");
    assert!(snap.to_string().contains("9z8y") && !snap.to_string().contains(&key));
    s.stop().await;
}

async fn other_users_and_clients_cannot_reach_the_lockbox(b: Backend) {
    let (_db, s) = start(b).await;
    let alice = s.token("alice");
    let bob = s.token("bob");
    let key = openai_key("OKAY");
    assert_eq!(put_key(&s, &alice, "openai", &key).await.0, 200);

    // Bob reaches neither alice's document nor her keys.
    let (st, v) = s
        .get(&bob, "/v1/spaces/user:alice/docs/lockbox/openai")
        .await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(listed(&s, &bob, "openai").await["configured"], false);
    let mut ws = Ws::open(&s.base, &bob).await;
    ws.hello("bob-tab", json!({"user:alice": null})).await;
    let e = ws.recv().await;
    assert_eq!(
        (e["type"].clone(), e["code"].clone()),
        (json!("error"), json!("forbidden"))
    );

    // Only a service token resolves keys; alice's own and an admin's get 403.
    for who in [alice.clone(), bob.clone(), tok("root", Role::Admin)] {
        let (st, v) = s.get(&who, "/internal/v1/users/alice/model-config").await;
        assert_eq!(st, 403, "{v}");
        assert_eq!(v["error"]["code"], "forbidden");
        assert!(!v.to_string().contains(&key));
    }

    // Clients cannot write the redacted document themselves, by any path.
    let (st, v) = s
        .send(
            "PUT",
            &alice,
            "/v1/spaces/user:me/docs/lockbox/openai",
            Some(
                json!({"configured": true, "last4": "0000", "source": "lockbox",
                        "updated_at": "2026-01-01T00:00:00Z"}),
            ),
        )
        .await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["error"]["code"], "invalid");
    let (st, _) = s
        .send(
            "DELETE",
            &alice,
            "/v1/spaces/user:me/docs/lockbox/openai",
            None,
        )
        .await;
    assert_eq!(st, 422);
    let r = s
        .put(
            &alice,
            "c1",
            1,
            "user:me",
            "lockbox",
            "anthropic",
            json!({"configured": true}),
        )
        .await;
    assert_eq!(
        (r["status"].clone(), r["code"].clone()),
        (json!("reject"), json!("invalid"))
    );
    assert_eq!(listed(&s, &alice, "openai").await["last4"], "1a2b");
    s.stop().await;
}

async fn badly_formed_keys_get_invalid_format(b: Backend) {
    let (db, s) = start(b).await;
    let alice = s.token("alice");
    let anthropic = anthropic_key("OKAY");
    let cases = [
        ("openai", "sk-tooshort1a2b".to_string()),
        (
            "openai",
            "pk-0123456789012345678901234567890123456789".to_string(),
        ),
        ("openai", anthropic.clone()),
        ("anthropic", openai_key("OKAY")),
        (
            "openrouter",
            format!("sk-or-v1-{} spaces {}", "x".repeat(30), "y".repeat(10)),
        ),
    ];
    for (provider, key) in cases {
        let (st, v) = put_key(&s, &alice, provider, &key).await;
        assert_eq!(st, 422, "{provider}: {v}");
        assert_eq!(v["error"]["code"], "INVALID_FORMAT", "{v}");
        assert!(!v.to_string().contains(&key), "error quotes the key: {v}");
    }
    let (st, v) = s
        .send(
            "PUT",
            &alice,
            "/v1/lockbox/openai",
            Some(json!({"key": "sk-x"})),
        )
        .await;
    assert_eq!((st, v["error"]["code"].clone()), (422, json!("invalid")));
    let (st, v) = put_key(&s, &alice, "mistral", &openai_key("OKAY")).await;
    assert_eq!((st, v["error"]["code"].clone()), (404, json!("not_found")));
    let (st, _) = s
        .send("PUT", "not-a-token", "/v1/lockbox/openai", Some(json!({})))
        .await;
    assert_eq!(st, 401);
    assert!(lockbox_rows(&db).await.is_empty());
    s.stop().await;
}

async fn keys_are_checked_live_against_the_provider(b: Backend) {
    let fake = FakeProvider::start().await;
    let db = TestDb::new(b).await;
    let mut a = lockbox_args(&db);
    a.lockbox.openai_base_url = Some(format!("{}/v1", fake.base));
    a.lockbox.anthropic_base_url = Some(fake.base.clone());
    a.lockbox.openrouter_base_url = Some(closed_port_url());
    let s = TestServer::start(&a).await;
    let alice = s.token("alice");

    let good = openai_key("OKAY");
    let (st, v) = s
        .send(
            "PUT",
            &alice,
            "/v1/lockbox/openai?validate=true",
            Some(json!({"api_key": good})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["validated"].clone(), v["last4"].clone()),
        (json!(true), json!("1a2b"))
    );
    assert!(
        fake.seen
            .lock()
            .unwrap()
            .contains(&("/v1/models".to_string(), good.clone()))
    );

    for (marker, status, code) in [
        ("DENY", 422, "UNAUTHORIZED"),
        ("QUOTA", 422, "QUOTA_EXCEEDED"),
        ("BOOM", 502, "NETWORK_ERROR"),
        ("SILENT", 502, "NETWORK_ERROR"),
    ] {
        let key = openai_key(marker);
        let (st, v) = s
            .send(
                "PUT",
                &alice,
                "/v1/lockbox/openai?validate=true",
                Some(json!({"api_key": key})),
            )
            .await;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{marker}: {v}"
        );
        assert!(!v.to_string().contains(&key));
        // A key that fails the check is not stored: the good one stays.
        let rows = lockbox_rows(&db).await;
        assert_eq!(
            open_row(&key_a(), "alice", "openai", &rows[0].2).as_deref(),
            Some(good.as_str())
        );
    }

    // Anthropic gets its key in `x-api-key`.
    let ant = anthropic_key("DENY");
    let (st, v) = s
        .send(
            "POST",
            &alice,
            "/v1/lockbox/anthropic/validate",
            Some(json!({"api_key": ant})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (422, json!("UNAUTHORIZED")),
        "{v}"
    );
    assert!(
        fake.seen
            .lock()
            .unwrap()
            .contains(&("/v1/models".to_string(), ant.clone()))
    );
    let ant = anthropic_key("OKAY");
    let (st, v) = s
        .send(
            "POST",
            &alice,
            "/v1/lockbox/anthropic/validate",
            Some(json!({"api_key": ant})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v,
        json!({"provider": "anthropic", "valid": true, "checked": "request"})
    );
    assert_eq!(
        listed(&s, &alice, "anthropic").await["configured"],
        false,
        "validate stores nothing"
    );

    // With no body, the stored key is checked.
    let (st, v) = s
        .send("POST", &alice, "/v1/lockbox/openai/validate", None)
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["checked"], "lockbox");
    let (st, v) = s
        .send("POST", &alice, "/v1/lockbox/anthropic/validate", None)
        .await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (404, json!("not_found")),
        "{v}"
    );

    // Nobody listening: a network error, and the key is still stored without ?validate.
    let or = openrouter_key("OKAY");
    let (st, v) = s
        .send(
            "PUT",
            &alice,
            "/v1/lockbox/openrouter?validate=true",
            Some(json!({"api_key": or})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (502, json!("NETWORK_ERROR")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not connect"),
        "{v}"
    );
    let (st, v) = put_key(&s, &alice, "openrouter", &or).await;
    assert_eq!((st, v["validated"].clone()), (200, json!(null)));
    s.stop().await;
}

async fn without_master_keys_the_lockbox_answers_503(b: Backend) {
    let db = TestDb::new(b).await;
    let mut a = lockbox_args(&db);
    a.lockbox.master_keys = None;
    let s = TestServer::start(&a).await;
    let alice = s.token("alice");
    let key = openai_key("OKAY");
    for (method, path, body) in [
        ("GET", "/v1/lockbox", None),
        ("PUT", "/v1/lockbox/openai", Some(json!({"api_key": key}))),
        ("DELETE", "/v1/lockbox/openai", None),
        (
            "POST",
            "/v1/lockbox/openai/validate",
            Some(json!({"api_key": key})),
        ),
    ] {
        let (st, v) = s.send(method, &alice, path, body).await;
        assert_eq!(st, 503, "{method} {path}: {v}");
        assert_eq!(v["error"]["code"], "unavailable");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains("TIDEMARK_MASTER_KEYS"), "{msg}");
    }
    assert!(
        lockbox_rows(&db).await.is_empty(),
        "nothing stored, not even in plaintext"
    );
    assert!(!raw_database_text(&db).await.contains(&key));
    s.stop().await;
}

async fn environment_keys_are_listed_without_their_digits(b: Backend) {
    let db = TestDb::new(b).await;
    let mut a = lockbox_args(&db);
    let env_key = openai_key("ENV");
    a.lockbox.openai_api_key = Some(SecretString::from(env_key.clone()));
    let s = TestServer::start(&a).await;
    let alice = s.token("alice");

    let (_, list) = s.get(&alice, "/v1/lockbox").await;
    assert!(!list.to_string().contains("1a2b") && !list.to_string().contains(&env_key));
    let openai = listed(&s, &alice, "openai").await;
    assert_eq!(
        (
            openai["configured"].clone(),
            openai["last4"].clone(),
            openai["source"].clone()
        ),
        (json!(true), json!(null), json!("env"))
    );
    assert_eq!(listed(&s, &alice, "anthropic").await["configured"], false);
    let (_, doc) = s
        .get(&alice, "/v1/spaces/user:me/docs/lockbox/openai")
        .await;
    assert_eq!(doc["value"]["source"], "env", "{doc}");
    let version = doc["version"].clone();
    // Listing again changes nothing: no new version.
    let _ = s.get(&alice, "/v1/lockbox").await;
    let (_, doc) = s
        .get(&alice, "/v1/spaces/user:me/docs/lockbox/openai")
        .await;
    assert_eq!(doc["version"], version);

    // The user's own key wins over the environment; deleting it goes back.
    let own = openai_key("OWN");
    let (_, v) = put_key(&s, &alice, "openai", &own).await;
    assert_eq!(
        (v["source"].clone(), v["last4"].clone()),
        (json!("lockbox"), json!("1a2b"))
    );
    let (_, v) = s.send("DELETE", &alice, "/v1/lockbox/openai", None).await;
    assert_eq!(
        (
            v["configured"].clone(),
            v["source"].clone(),
            v["last4"].clone()
        ),
        (json!(true), json!("env"), json!(null))
    );
    s.stop().await;
}
