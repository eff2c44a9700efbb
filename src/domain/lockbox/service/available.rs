//! [`Lockbox::available_models`]: seed 004's `getAvailableModels(userId)`.
//! For each provider, the catalog's models the user can call now: with their
//! own key when they have a usable one, else with the server's; a provider
//! with neither lists none (an empty list, not an error). Which key would be
//! used is said per provider, never the key itself.

use serde_json::{Map, Value, json};

use super::{Lockbox, LockboxFailure};
use crate::domain::lockbox::model_config::CatalogLookup;
use crate::domain::lockbox::{KeySource, Provider};
use crate::engine::{CATALOG, Engine};

impl Lockbox {
    /// `{"openai": [ids], "anthropic": [ids], "openrouter": [ids],
    /// "details": [{id, provider, name, description}], "sources": {provider:
    /// "lockbox" | "env" | null}}`.
    pub async fn available_models(
        &self,
        engine: &Engine,
        user: &str,
    ) -> Result<Value, LockboxFailure> {
        let rows = self.store.list(user).await?;
        let source = |p: Provider| -> Option<KeySource> {
            let own = rows.iter().any(|r| r.provider == p && r.refused.is_none());
            if own && self.keys.is_some() {
                Some(KeySource::Lockbox)
            } else if self.env_key(p).is_some() {
                Some(KeySource::Env)
            } else {
                None
            }
        };
        let catalog = engine.space(CATALOG).await?;
        let data = catalog.read();
        let mut out = Map::new();
        let mut details = Vec::new();
        let mut sources = Map::new();
        for p in Provider::ALL {
            let src = source(p);
            sources.insert(p.as_str().into(), json!(src));
            let usable = src.is_some() && data.provider(p.as_str()).is_some_and(|c| c.available());
            let mut ids = Vec::new();
            if usable {
                for (id, entry) in data.docs.get("models").into_iter().flatten() {
                    let Some(raw) = &entry.value else { continue };
                    let Ok(m) = serde_json::from_str::<Value>(raw.get()) else {
                        continue;
                    };
                    if m["provider_id"] != p.as_str() || m["deprecation_status"] == "sunset" {
                        continue;
                    }
                    ids.push(Value::String(id.clone()));
                    details.push(json!({
                        "id": id,
                        "provider": p.as_str(),
                        "name": m["name"],
                        "description": m.get("description").cloned().unwrap_or(Value::Null),
                    }));
                }
            }
            out.insert(p.as_str().into(), Value::Array(ids));
        }
        out.insert("details".into(), Value::Array(details));
        out.insert("sources".into(), Value::Object(sources));
        Ok(Value::Object(out))
    }
}
