//! Wiring the domain into the server: the engine hooks (validator, event
//! names), the default catalog and the provider health task.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::catalog::health::{self, HealthConfig};
use super::catalog::load;
use super::prefs::EnvKeys;
use crate::engine::{Engine, EngineConfig};

/// What the domain's HTTP façades need besides the engine.
#[derive(Debug, Clone, Default)]
pub struct Domain {
    /// Providers with a key in the server's environment (`apiKeyConfigured`).
    pub env_keys: EnvKeys,
}

/// Settings of the domain's background work.
#[derive(Debug, Clone)]
pub struct DomainConfig {
    pub default_catalog: bool,
    pub health: HealthConfig,
    pub env_keys: EnvKeys,
}

/// Installs the validator and the seed 001 event names.
pub fn install_hooks(cfg: &mut EngineConfig) {
    cfg.validator = Some(Arc::new(super::validate::validate));
    cfg.namer = Some(Arc::new(super::catalog::event_name));
}

/// Loads the default catalog into an empty catalog space and starts the
/// health task (it stops with `shutdown`). A default catalog that cannot be
/// written is logged, not fatal: the server still serves.
pub async fn start(engine: &Engine, cfg: &DomainConfig, shutdown: CancellationToken) -> Domain {
    if cfg.default_catalog {
        match load::ensure_default(engine).await {
            Ok(Some(r)) => tracing::info!(
                providers = r.providers_written,
                models = r.models_written,
                "loaded the default catalog"
            ),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "the default catalog was not loaded"),
        }
    }
    health::spawn(engine.clone(), cfg.health.clone(), shutdown);
    Domain {
        env_keys: cfg.env_keys.clone(),
    }
}
