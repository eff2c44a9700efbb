//! Seed 001's read shapes (snake_case) over a consistent snapshot of the
//! `catalog` space: `SyncState`, model lists, availability, and engine events
//! as `SyncEvent`s.

use serde_json::{Map, Value, json};

use super::{MODELS, PROVIDERS};
use crate::domain::dates;
use crate::protocol::{CatchUp, RawDoc};

/// The catalog at one version.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub epoch: String,
    pub version: u64,
    /// Provider documents in id order.
    pub providers: Vec<Value>,
    /// Model documents in id order.
    pub models: Vec<Value>,
}

impl Catalog {
    pub fn from_snapshot(epoch: String, version: u64, docs: &[RawDoc]) -> Self {
        let mut c = Catalog {
            epoch,
            version,
            ..Default::default()
        };
        for d in docs {
            let list = match d.collection.as_str() {
                PROVIDERS => &mut c.providers,
                MODELS => &mut c.models,
                _ => continue,
            };
            if let Ok(v) = serde_json::from_str(d.value.get()) {
                list.push(v);
            }
        }
        c
    }

    /// From a catch-up answer that is a snapshot.
    pub fn from_catch_up(c: &CatchUp) -> Option<Self> {
        match c {
            CatchUp::Snapshot {
                epoch,
                version,
                docs,
            } => Some(Self::from_snapshot(epoch.clone(), *version, docs)),
            _ => None,
        }
    }

    pub fn provider(&self, id: &str) -> Option<&Value> {
        self.providers.iter().find(|p| p["id"] == id)
    }

    pub fn model(&self, id: &str) -> Option<&Value> {
        self.models.iter().find(|m| m["id"] == id)
    }

    /// The first enabled provider that is available (else just enabled).
    pub fn active_provider_id(&self) -> Option<&str> {
        let enabled = |p: &&Value| p["enabled"] == true;
        self.providers
            .iter()
            .filter(enabled)
            .find(|p| p["status"] == "available")
            .or_else(|| self.providers.iter().find(enabled))
            .and_then(|p| p["id"].as_str())
    }

    /// `ProviderSyncInfo`: the provider document plus the ids of its models.
    fn provider_info(&self, p: &Value) -> Value {
        let mut out = p.as_object().cloned().unwrap_or_default();
        let ids: Vec<&Value> = self
            .models
            .iter()
            .filter(|m| m["provider_id"] == p["id"])
            .map(|m| &m["id"])
            .collect();
        out.insert("model_ids".into(), json!(ids));
        Value::Object(out)
    }

    /// `SyncState {providers, all_models, active_provider_id, metadata}`.
    pub fn state(&self) -> Value {
        json!({
            "providers": self.providers.iter().map(|p| self.provider_info(p)).collect::<Vec<_>>(),
            "all_models": self.models,
            "active_provider_id": self.active_provider_id(),
            "metadata": self.metadata(),
        })
    }

    pub fn metadata(&self) -> Value {
        json!({
            "version": self.version,
            "epoch": self.epoch,
            "provider_count": self.providers.len(),
            "model_count": self.models.len(),
            "server_time": dates::now_rfc3339(),
        })
    }

    /// Models, optionally of one provider; deprecated and sunset ones only
    /// when asked for.
    pub fn list_models(&self, provider_id: Option<&str>, include_deprecated: bool) -> Vec<&Value> {
        self.models
            .iter()
            .filter(|m| provider_id.is_none_or(|p| m["provider_id"] == p))
            .filter(|m| include_deprecated || m["deprecation_status"] == "active")
            .collect()
    }

    /// Status and fallback of a provider.
    pub fn provider_availability(&self, id: &str) -> Option<Value> {
        let p = self.provider(id)?;
        let fallback = p["fallback_provider_id"]
            .as_str()
            .and_then(|f| self.provider(f));
        Some(json!({
            "provider_id": id,
            "provider_name": p["display_name"],
            "status": p["status"],
            "enabled": p["enabled"],
            "is_available": p["enabled"] == true && p["status"] != "unavailable",
            "fallback_provider_id": p.get("fallback_provider_id").cloned().unwrap_or(Value::Null),
            "fallback_provider_name": fallback.map(|f| f["display_name"].clone()).unwrap_or(Value::Null),
            "fallback_status": fallback.map(|f| f["status"].clone()).unwrap_or(Value::Null),
        }))
    }

    /// Deprecation of a model, its replacement, and days until sunset
    /// (negative once past) counted from `today` (a day number).
    pub fn model_availability(&self, id: &str, today: i64) -> Option<Value> {
        let m = self.model(id)?;
        let replacement = m["replacement_model_id"]
            .as_str()
            .and_then(|r| self.model(r));
        let days = m["sunset_date"]
            .as_str()
            .and_then(dates::parse_day)
            .map(|d| d - today);
        let provider_ok = m["provider_id"]
            .as_str()
            .and_then(|p| self.provider_availability(p))
            .is_some_and(|a| a["is_available"] == true);
        let field = |k: &str| m.get(k).cloned().unwrap_or(Value::Null);
        Some(json!({
            "model_id": id,
            "model_name": m["name"],
            "provider_id": m["provider_id"],
            "is_available": provider_ok && m["deprecation_status"] != "sunset",
            "deprecation_status": m["deprecation_status"],
            "deprecation_date": field("deprecation_date"),
            "sunset_date": field("sunset_date"),
            "replacement_model_id": field("replacement_model_id"),
            "replacement_model_name": replacement.map(|r| r["name"].clone()).unwrap_or(Value::Null),
            "days_until_sunset": days,
        }))
    }
}

/// An engine event as seed 001's `SyncEvent`: `{event_type, entity_type,
/// entity_id, version, timestamp, data}`; `data` is the document after the
/// change (`null` once removed).
pub fn sync_event(ev: &Value) -> Value {
    let entity = match ev["collection"].as_str() {
        Some(PROVIDERS) => "provider",
        Some(MODELS) => "model",
        Some(other) => other,
        None => "unknown",
    };
    let mut m = Map::new();
    let name = ev["event"].as_str().unwrap_or("incremental_update");
    m.insert("event_type".into(), json!(name));
    m.insert("entity_type".into(), json!(entity));
    m.insert("entity_id".into(), ev["id"].clone());
    m.insert("version".into(), ev["version"].clone());
    m.insert("timestamp".into(), ev["at"].clone());
    m.insert("data".into(), ev["value"].clone());
    Value::Object(m)
}

/// `POST /provider-sync/sync`: `none` when the client is current,
/// `incremental` with the missed events when the log still has them, `full`
/// with the whole state otherwise.
pub fn sync_response(answer: &CatchUp) -> Value {
    match answer {
        CatchUp::UpToDate { epoch, version } => json!({
            "sync_type": "none", "version": version, "epoch": epoch, "events": [], "state": null,
        }),
        CatchUp::Events {
            epoch, to, events, ..
        } => {
            let evs: Vec<Value> = events
                .iter()
                .filter_map(|e| serde_json::from_str::<Value>(e.0.get()).ok())
                .map(|e| sync_event(&e))
                .collect();
            json!({"sync_type": "incremental", "version": to, "epoch": epoch, "events": evs, "state": null})
        }
        CatchUp::Snapshot {
            epoch,
            version,
            docs,
        } => {
            let c = Catalog::from_snapshot(epoch.clone(), *version, docs);
            json!({"sync_type": "full", "version": version, "epoch": epoch, "events": [], "state": c.state()})
        }
    }
}
