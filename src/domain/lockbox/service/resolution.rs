//! [`Lockbox::resolve`]: the service-only model-config resolution.

use super::{Lockbox, LockboxFailure};
use crate::domain::lockbox::model_config::{
    CatalogLookup, MODEL_CONFIG_COLLECTION, MODEL_CONFIG_ID, ModelConfigDoc, SYSTEM_PROVIDER,
};
use crate::domain::lockbox::resolve::{
    Fallback, FallbackKind, ResolveError, ResolvedModelConfig, plan,
};
use crate::domain::lockbox::store::LockboxRow;
use crate::domain::lockbox::{Aad, ApiKey, KeySource, Provider};
use crate::engine::{CATALOG, Engine};

impl Lockbox {
    /// Provider, model and key for `user`, with every fallback taken.
    pub async fn resolve(
        &self,
        engine: &Engine,
        user: &str,
    ) -> Result<ResolvedModelConfig, LockboxFailure> {
        let rows = self.store.list(user).await?;
        let config: Option<ModelConfigDoc> = {
            let s = engine.space(&format!("user:{user}")).await?;
            let data = s.read();
            data.get(MODEL_CONFIG_COLLECTION, MODEL_CONFIG_ID)
                .and_then(|e| e.value.as_ref())
                .and_then(|v| serde_json::from_str(v.get()).ok())
        };
        let system = config
            .as_ref()
            .is_some_and(|c| c.preferred_provider.as_deref() == Some(SYSTEM_PROVIDER));
        let mut plan = {
            let catalog = engine.space(CATALOG).await?;
            let data = catalog.read();
            if system {
                // The server's keys: the first available provider it has one for.
                let pick = Provider::ALL.into_iter().find(|p| {
                    self.env_key(*p).is_some()
                        && data.provider(p.as_str()).is_some_and(|c| c.available())
                });
                let Some(pick) = pick else {
                    return Err(ResolveError::NoApiKey(
                        "preferred_provider is 'system', and the server has no API key for an \
                         available catalog provider (set OPENAI_API_KEY, ANTHROPIC_API_KEY or \
                         OPENROUTER_API_KEY)"
                            .into(),
                    )
                    .into());
                };
                let mut cfg = config.clone().unwrap_or_default();
                cfg.preferred_provider = Some(pick.as_str().to_string());
                let mut plan = plan(&*data, Some(&cfg), |_| true)?;
                plan.fallbacks.insert(
                    0,
                    Fallback {
                        kind: FallbackKind::SystemProvider,
                        from: Some(SYSTEM_PROVIDER.to_string()),
                        to: Some(pick.as_str().to_string()),
                        reason: format!(
                            "preferred_provider is 'system': the server's keys; using {pick}, the \
                             first available provider the server has a key for"
                        ),
                    },
                );
                plan
            } else {
                plan(&*data, config.as_ref(), |p| {
                    rows.iter().any(|r| r.provider == p && r.refused.is_none())
                        || self.env_key(p).is_some()
                })?
            }
        };
        let provider = plan.provider;
        let row = rows.into_iter().find(|r| r.provider == provider);
        let chosen = if system {
            Err("preferred_provider is 'system'".to_string())
        } else {
            self.user_key(user, row.as_ref())
        };
        let key_version = row.as_ref().map(|r| r.updated_at.clone());
        let (api_key, source, key_version) = match chosen {
            Ok(key) => (key, KeySource::Lockbox, key_version),
            Err(why) => {
                let Some(env) = self.env_key(provider) else {
                    return Err(ResolveError::NoApiKey(format!(
                        "no {} API key: {why}, and {} is not set on the server",
                        provider.display_name(),
                        provider.api_key_env()
                    ))
                    .into());
                };
                if !system {
                    plan.fallbacks.push(Fallback {
                        kind: FallbackKind::EnvKey,
                        from: None,
                        to: Some(provider.api_key_env().to_string()),
                        reason: format!("{why}; using the server's {}", provider.api_key_env()),
                    });
                }
                (env.clone(), KeySource::Env, None)
            }
        };
        tracing::info!(
            user,
            provider = provider.as_str(),
            model = %plan.model,
            source = ?source,
            fallbacks = plan.fallbacks.len(),
            "model config resolved"
        );
        Ok(ResolvedModelConfig {
            user: user.to_string(),
            provider,
            model: plan.model,
            api_key,
            source,
            key_version,
            fallbacks: plan.fallbacks,
        })
    }

    /// The user's own key, or why there is none usable (in words).
    fn user_key(&self, user: &str, row: Option<&LockboxRow>) -> Result<ApiKey, String> {
        let Some(row) = row else {
            return Err("the user has no key in the lockbox".into());
        };
        if let Some(why) = &row.refused {
            return Err(format!(
                "the user's {} key was refused: {why}",
                row.provider.display_name()
            ));
        }
        let Some(keys) = &self.keys else {
            return Err(
                "the user's lockbox key cannot be read: TIDEMARK_MASTER_KEYS is not set".into(),
            );
        };
        match crate::domain::lockbox::open(keys, &row.sealed, &Aad::new(user, row.provider)) {
            Ok(plain) => Ok(ApiKey::from_secret(plain)),
            Err(e) => {
                tracing::warn!(user, provider = row.provider.as_str(), kid = row.sealed.kid(), error = %e, "lockbox key unreadable");
                Err(format!("the user's lockbox key cannot be decrypted ({e})"))
            }
        }
    }
}
