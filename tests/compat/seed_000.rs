//! Seed 000 (model preferences). The client's store (`loadPreferences`,
//! `toggleModel` with optimistic update and rollback, `isStale`,
//! `getLastSyncedRelative`, "Store Architecture") and its `SyncStatusBadge`
//! ("Sync Status UI": green "Synced just now" under 1 minute, green "Synced
//! 2m ago" under 5, yellow "Stale" after), against what tidemark answers,
//! across two tabs or devices ("Multi-tab sync").

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::common::ws::Ws;
use crate::common::{Backend, TestDb, TestServer, args};

both_stores!(
    the_badge_and_last_updated_hold_across_tabs_and_write_paths,
    optimistic_toggle_rolls_back_and_a_partial_put_keeps_the_rest,
);

fn ms(iso: &str) -> i128 {
    tidemark::domain::dates::parse_instant_ms(iso).unwrap_or_else(|| panic!("not a time: {iso}"))
}

fn now_ms() -> i128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i128
}

/// The seed's `getLastSyncedRelative()` and badge, at client time `now`.
fn badge(last_synced_ms: i128, now: i128) -> String {
    let age = now - last_synced_ms;
    if age > 5 * 60_000 {
        "yellow Stale".into()
    } else if age < 60_000 {
        "green Synced just now".into()
    } else {
        format!("green Synced {}m ago", age / 60_000)
    }
}

/// The seed store's state in one tab.
struct Tab {
    preferences: Value,
    last_synced: i128,
}

impl Tab {
    async fn load(s: &TestServer, t: &str) -> Tab {
        let (st, v) = s.get(t, "/api/user/model-preferences").await;
        assert_eq!(st, 200, "{v}");
        Tab {
            last_synced: ms(v["lastSynced"].as_str().expect("lastSynced")),
            preferences: v,
        }
    }
    fn provider(&self, id: &str) -> Value {
        self.preferences["providers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["provider"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    }
    fn last_updated(&self, id: &str) -> i128 {
        ms(self.provider(id)["metadata"]["lastUpdated"]
            .as_str()
            .expect("lastUpdated"))
    }
}

async fn the_badge_and_last_updated_hold_across_tabs_and_write_paths(b: Backend) {
    let db = TestDb::new(b).await;
    let s = TestServer::start(&args(&db)).await;
    let t = s.token("dana");
    let body = json!({"providers": [
        {"provider": "openai", "enabledModels": ["gpt-4o"], "isEnabled": true},
        {"provider": "anthropic", "enabledModels": ["claude-haiku-3"], "isEnabled": true}]});
    let (st, _) = s
        .send("PUT", &t, "/api/user/model-preferences", Some(body))
        .await;
    assert_eq!(st, 200);
    // Fresh sync: "Synced just now" on the server's clock as seen here.
    let a = Tab::load(&s, &t).await;
    assert!(
        (a.last_synced - now_ms()).abs() < 5_000,
        "lastSynced is now"
    );
    assert_eq!(badge(a.last_synced, now_ms()), "green Synced just now");
    assert_eq!(
        badge(a.last_synced, now_ms() + 2 * 60_000 + 1_000),
        "green Synced 2m ago"
    );
    assert_eq!(badge(a.last_synced, now_ms() + 6 * 60_000), "yellow Stale");
    let openai_at = a.last_updated("openai");
    let anthropic_at = a.last_updated("anthropic");

    // Another device changes openai over its WebSocket (the generic path,
    // with no `last_updated` of its own): the badge's lastUpdated moves.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let before = now_ms();
    let mut ws = Ws::open(&s.base, &t).await;
    ws.hello("device-b", json!({})).await;
    ws.send(
        json!({"type": "mutate", "mutation_id": 1, "space": "user:me",
        "ops": [{"op": "put", "collection": "model_preferences", "id": "openai",
                 "value": {"enabled_models": ["gpt-4o", "gpt-4o-mini"], "is_enabled": true}}]}),
    )
    .await;
    loop {
        let f = ws.recv().await;
        if f["type"] == "ack" {
            break;
        }
        assert_ne!(f["type"], "reject", "{f}");
    }
    // And the generic document API changes anthropic, with a stale time.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (st, v) = s
        .send("PUT", &t, "/v1/spaces/user:me/docs/model_preferences/anthropic",
              Some(json!({"enabled_models": [], "is_enabled": false, "last_updated": "2020-01-01T00:00:00Z"})))
        .await;
    assert_eq!(st, 200, "{v}");

    // Tab B refreshes ("Manual refresh"): both changes, with their real times.
    let b = Tab::load(&s, &t).await;
    assert_eq!(
        b.provider("openai")["enabledModels"],
        json!(["gpt-4o", "gpt-4o-mini"])
    );
    assert!(
        b.last_updated("openai") > openai_at,
        "a WebSocket change moves lastUpdated"
    );
    assert!(b.last_updated("openai") >= before - 1_000);
    assert!(
        b.last_updated("anthropic") > anthropic_at
            && b.last_updated("anthropic") > b.last_updated("openai"),
        "a generic write moves lastUpdated, whatever time it claims"
    );
    assert_eq!(badge(b.last_synced, now_ms()), "green Synced just now");
    // Nothing changed: a refresh keeps lastUpdated and only moves lastSynced.
    let c = Tab::load(&s, &t).await;
    assert_eq!(c.last_updated("openai"), b.last_updated("openai"));
    assert!(c.last_synced >= b.last_synced);
    s.stop().await;
}

async fn optimistic_toggle_rolls_back_and_a_partial_put_keeps_the_rest(b: Backend) {
    let db = TestDb::new(b).await;
    let s = TestServer::start(&args(&db)).await;
    let t = s.token("eli");
    let body = json!({"providers": [
        {"provider": "openai", "enabledModels": ["gpt-4o"], "isEnabled": true},
        {"provider": "anthropic", "enabledModels": ["claude-haiku-3"], "isEnabled": true}]});
    s.send("PUT", &t, "/api/user/model-preferences", Some(body))
        .await;
    let tab = Tab::load(&s, &t).await;
    // `toggleModel`: optimistic local change, then PUT; the server refuses
    // (here: a model id that is not a string), the store rolls back to
    // `previous`, and the server holds exactly what it held.
    let previous = tab.preferences.clone();
    let mut optimistic = previous.clone();
    optimistic["providers"][0]["enabledModels"] = json!(["gpt-4o", 42]);
    let (st, err) = s
        .send(
            "PUT",
            &t,
            "/api/user/model-preferences",
            Some(json!({"providers": optimistic["providers"]})),
        )
        .await;
    assert_eq!(
        (st, err["error"]["field"].as_str()),
        (422, Some("providers[0].enabledModels[1]"))
    );
    let after = Tab::load(&s, &t).await;
    assert_eq!(
        after.preferences["providers"], previous["providers"],
        "nothing half-applied"
    );
    // `setProviderModels` for one provider only: that provider is replaced,
    // the one the body omits is kept (docs/protocol.md, "Seed compatibility").
    let (st, v) = s
        .send(
            "PUT",
            &t,
            "/api/user/model-preferences",
            Some(json!({"providers": [
            {"provider": "openai", "enabledModels": ["gpt-4o-mini"], "isEnabled": true}]})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let now = Tab::load(&s, &t).await;
    assert_eq!(
        now.provider("openai")["enabledModels"],
        json!(["gpt-4o-mini"])
    );
    assert_eq!(
        now.provider("anthropic")["enabledModels"],
        json!(["claude-haiku-3"])
    );
    s.stop().await;
}
