//! `model_config/current` in a user's space (seed 004): the preferred provider
//! and a model per provider, validated against the catalog on every write.
//!
//! The catalog (`providers/{id}`, `models/{id}` in the `catalog` space) is
//! read from the engine's memory: [`CatalogView`] keeps that space loaded (it
//! holds a watch on it, so it is never idle) and lets the synchronous engine
//! validator look at it without awaiting.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::engine::space::{Space, SpaceData};
use crate::engine::{CATALOG, ChangeContext, Engine, EngineError, Validator};

pub const MODEL_CONFIG_COLLECTION: &str = "model_config";
/// `preferred_provider: "system"` (seed 004's third value): use the
/// server's keys, with the first catalog provider the server has a key for.
pub const SYSTEM_PROVIDER: &str = "system";
pub const MODEL_CONFIG_ID: &str = "current";

/// `model_config/current`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelConfigDoc {
    /// A catalog provider id (`openai`, `anthropic`, `openrouter`, ...), or
    /// `system`: the server's keys.
    #[serde(default)]
    pub preferred_provider: Option<String>,
    /// Provider id -> model id, both from the catalog (`models/{id}` whose
    /// `provider_id` is that provider). Model ids are not normalised.
    #[serde(default)]
    pub models: BTreeMap<String, String>,
    /// Free for clients to set, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// What resolution reads of `providers/{id}`; other fields are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CatalogProvider {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub fallback_provider_id: Option<String>,
    #[serde(default)]
    pub default_model_id: Option<String>,
}

impl CatalogProvider {
    /// Usable: not `status: unavailable` and not `enabled: false`
    /// (`degraded` still serves).
    pub fn available(&self) -> bool {
        self.unavailable_because().is_none()
    }

    pub fn unavailable_because(&self) -> Option<&'static str> {
        if self.enabled == Some(false) {
            Some("disabled in the catalog")
        } else if self.status.as_deref() == Some("unavailable") {
            Some("unavailable")
        } else {
            None
        }
    }
}

/// What resolution reads of `models/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CatalogModel {
    #[serde(default)]
    pub provider_id: Option<String>,
}

/// Read access to catalog entries (the in-memory space, or a map in tests).
pub trait CatalogLookup {
    fn provider(&self, id: &str) -> Option<CatalogProvider>;
    fn model(&self, id: &str) -> Option<CatalogModel>;
}

fn doc<T: for<'de> Deserialize<'de>>(data: &SpaceData, collection: &str, id: &str) -> Option<T> {
    let value = data.get(collection, id)?.value.as_ref()?;
    // A catalog entry of another shape counts as absent.
    serde_json::from_str(value.get()).ok()
}

impl CatalogLookup for SpaceData {
    fn provider(&self, id: &str) -> Option<CatalogProvider> {
        doc(self, "providers", id)
    }
    fn model(&self, id: &str) -> Option<CatalogModel> {
        doc(self, "models", id)
    }
}

/// The catalog space, kept in memory for the engine's lifetime. Cheap to clone.
#[derive(Clone, Default)]
pub struct CatalogView(Arc<OnceLock<Pinned>>);

struct Pinned {
    space: Arc<Space>,
    /// A receiver on the space's head: the engine never evicts a watched space.
    _watch: watch::Receiver<u64>,
}

impl CatalogView {
    /// Loads and pins the catalog. Call once the engine exists.
    pub async fn attach(&self, engine: &Engine) -> Result<(), EngineError> {
        loop {
            let space = engine.space(CATALOG).await?;
            let watch = space.head.subscribe();
            if space.is_evicted() {
                continue; // it left memory between loading and watching
            }
            let _ = self.0.set(Pinned {
                space,
                _watch: watch,
            });
            return Ok(());
        }
    }

    /// Runs `f` on the catalog's current state; `None` before [`attach`](Self::attach).
    pub fn read<R>(&self, f: impl FnOnce(&SpaceData) -> R) -> Option<R> {
        let pinned = self.0.get()?;
        let data = pinned.space.read();
        Some(f(&data))
    }
}

/// Engine validator for `model_config/*` in user spaces: one document,
/// `current`, of the documented shape, naming only catalog providers and
/// models of those providers.
pub fn validate_model_config_change(
    ctx: &ChangeContext<'_>,
    catalog: &CatalogView,
) -> Result<(), String> {
    if ctx.collection != MODEL_CONFIG_COLLECTION || !ctx.space.starts_with("user:") {
        return Ok(());
    }
    if ctx.id != MODEL_CONFIG_ID {
        return Err("model_config has one document: model_config/current".into());
    }
    let Some(value) = ctx.value else {
        return Ok(());
    };
    let config: ModelConfigDoc =
        serde_json::from_str(value.get()).map_err(|e| format!("model_config/current: {e}"))?;
    match catalog.read(|data| check_against_catalog(data, &config)) {
        Some(result) => result,
        None => Ok(()), // no catalog attached (an engine built without one)
    }
}

/// Every provider and model `config` names exists in the catalog.
pub fn check_against_catalog(
    catalog: &impl CatalogLookup,
    config: &ModelConfigDoc,
) -> Result<(), String> {
    if let Some(p) = &config.preferred_provider
        && p != SYSTEM_PROVIDER
        && catalog.provider(p).is_none()
    {
        return Err(format!(
            "model_config/current: preferred_provider '{p}' is not in the catalog"
        ));
    }
    for (provider, model) in &config.models {
        if catalog.provider(provider).is_none() {
            return Err(format!(
                "model_config/current: models.{provider}: provider '{provider}' is not in the catalog"
            ));
        }
        match catalog.model(model) {
            None => {
                return Err(format!(
                    "model_config/current: models.{provider}: model '{model}' is not in the catalog"
                ));
            }
            Some(m) if m.provider_id.as_deref() != Some(provider.as_str()) => {
                return Err(format!(
                    "model_config/current: models.{provider}: model '{model}' belongs to provider '{}', not '{provider}'",
                    m.provider_id.as_deref().unwrap_or("none")
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// `existing` (if any) followed by the lockbox and model-config validators.
pub fn compose_validator(existing: Option<Arc<Validator>>, catalog: CatalogView) -> Arc<Validator> {
    Arc::new(move |ctx: &ChangeContext<'_>| {
        if let Some(v) = &existing {
            v(ctx)?;
        }
        super::validate_lockbox_change(ctx)?;
        validate_model_config_change(ctx, &catalog)
    })
}
