//! Model-config resolution for back-end services (seed 004's fallback
//! strategy): which provider, which model, which key, and every fallback
//! taken on the way.
//!
//! [`plan`] picks provider and model from the user's `model_config/current`
//! and the catalog, without touching any key; the caller then finds the key
//! (lockbox, else environment) and appends that fallback.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize, Serializer};

use super::model_config::{CatalogLookup, ModelConfigDoc};
use super::{ApiKey, KeySource, Provider};

/// One fallback taken while resolving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Fallback {
    pub kind: FallbackKind,
    /// What was asked for (a provider or model id), when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// What is used instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// In words, for logs and people.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FallbackKind {
    /// No preferred provider set: the first available provider with a key.
    NoPreferredProvider,
    /// The provider is unavailable: its `fallback_provider_id`.
    ProviderUnavailable,
    /// No model chosen for the provider: its `default_model_id`.
    DefaultModel,
    /// The chosen model is not in the catalog: the provider's default.
    ModelNotInCatalog,
    /// No usable key in the user's lockbox: the server's environment key.
    EnvKey,
    /// `preferred_provider: "system"`: the first available provider the
    /// server has a key for, with that key.
    SystemProvider,
}

/// Provider and model, before any key is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub provider: Provider,
    pub model: String,
    pub fallbacks: Vec<Fallback>,
}

/// Why no configuration could be resolved; the message names what is missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}")]
    NoProvider(String),
    #[error("{0}")]
    UnknownProvider(String),
    #[error("{0}")]
    ProviderUnavailable(String),
    #[error("{0}")]
    UnsupportedProvider(String),
    #[error("{0}")]
    NoModel(String),
    #[error("{0}")]
    NoApiKey(String),
}

impl ResolveError {
    pub fn code(&self) -> &'static str {
        match self {
            ResolveError::NoProvider(_) => "no_provider",
            ResolveError::UnknownProvider(_) => "unknown_provider",
            ResolveError::ProviderUnavailable(_) => "provider_unavailable",
            ResolveError::UnsupportedProvider(_) => "unsupported_provider",
            ResolveError::NoModel(_) => "no_model",
            ResolveError::NoApiKey(_) => "no_api_key",
        }
    }
}

/// `GET /internal/v1/users/{user}/model-config` (service tokens only, sent
/// with `Cache-Control: no-store`): the one answer that carries a plaintext key.
// `Debug` masks the key (`ApiKey`'s own `Debug`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ResolvedModelConfig {
    pub user: String,
    /// The provider to call, after any fallback.
    pub provider: Provider,
    /// The model to ask for, after any fallback.
    pub model: String,
    /// The key to call it with, in plaintext.
    #[serde(serialize_with = "expose_key")]
    #[schemars(with = "String")]
    pub api_key: ApiKey,
    pub source: KeySource,
    /// With `source: lockbox`: which of the user's keys this is (it changes
    /// whenever the user sets a key). Send it back when reporting the key
    /// refused, so that a key the user set since is not marked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_version: Option<String>,
    /// Every fallback taken, in order; empty when the user's choice stood.
    pub fallbacks: Vec<Fallback>,
}

fn expose_key<S: Serializer>(key: &ApiKey, s: S) -> Result<S::Ok, S::Error> {
    use secrecy::ExposeSecret;
    s.serialize_str(key.expose_secret())
}

fn fallback(kind: FallbackKind, from: Option<&str>, to: &str, reason: String) -> Fallback {
    Fallback {
        kind,
        from: from.map(str::to_string),
        to: Some(to.to_string()),
        reason,
    }
}

/// Picks provider and model. `has_key` says whether a provider has a key at
/// all (lockbox row or environment), used only when no provider is preferred.
pub fn plan(
    catalog: &impl CatalogLookup,
    config: Option<&ModelConfigDoc>,
    has_key: impl Fn(Provider) -> bool,
) -> Result<Plan, ResolveError> {
    let empty = ModelConfigDoc::default();
    let config = config.unwrap_or(&empty);
    let mut fallbacks = Vec::new();
    let mut current = match &config.preferred_provider {
        Some(p) => p.clone(),
        None => {
            let pick = Provider::ALL.into_iter().find(|p| {
                has_key(*p) && catalog.provider(p.as_str()).is_some_and(|c| c.available())
            });
            let Some(pick) = pick else {
                return Err(ResolveError::NoProvider(
                    "model_config/current names no preferred_provider, and no available catalog \
                     provider has an API key (in the lockbox or the server's environment)"
                        .into(),
                ));
            };
            fallbacks.push(fallback(
                FallbackKind::NoPreferredProvider,
                None,
                pick.as_str(),
                format!(
                    "model_config/current names no preferred_provider; using {pick}, the first \
                     available provider with an API key"
                ),
            ));
            pick.as_str().to_string()
        }
    };
    let mut tried: Vec<String> = Vec::new();
    let entry = loop {
        let Some(entry) = catalog.provider(&current) else {
            return Err(match tried.last() {
                None => ResolveError::UnknownProvider(format!(
                    "preferred provider '{current}' is not in the catalog"
                )),
                Some(prev) => ResolveError::ProviderUnavailable(format!(
                    "'{prev}' is unavailable and its fallback '{current}' is not in the catalog"
                )),
            });
        };
        let Some(why) = entry.unavailable_because() else {
            break entry;
        };
        tried.push(current.clone());
        let next = match entry.fallback_provider_id.as_deref() {
            None | Some("") => {
                return Err(ResolveError::ProviderUnavailable(format!(
                    "provider '{current}' is {why} and has no fallback_provider_id"
                )));
            }
            Some(next) if tried.iter().any(|t| t == next) => {
                return Err(ResolveError::ProviderUnavailable(format!(
                    "provider '{current}' is {why} and its fallbacks lead back to '{next}': \
                     no provider is available"
                )));
            }
            Some(next) => next.to_string(),
        };
        fallbacks.push(fallback(
            FallbackKind::ProviderUnavailable,
            Some(&current),
            &next,
            format!("provider '{current}' is {why}; using its fallback '{next}'"),
        ));
        current = next;
    };
    let provider = Provider::parse(&current).map_err(|_| {
        ResolveError::UnsupportedProvider(format!(
            "provider '{current}' is in the catalog, but the lockbox holds keys only for \
             openai, anthropic and openrouter"
        ))
    })?;
    let default = entry.default_model_id.filter(|d| !d.is_empty());
    let no_default = || {
        ResolveError::NoModel(format!(
            "the catalog gives provider '{current}' no default_model_id"
        ))
    };
    let model = match config.models.get(&current) {
        Some(m)
            if catalog
                .model(m)
                .is_some_and(|c| c.provider_id.as_deref() == Some(current.as_str())) =>
        {
            m.clone()
        }
        Some(m) => {
            let d = default.ok_or_else(|| {
                ResolveError::NoModel(format!(
                    "model '{m}' is not in the catalog for '{current}', and the catalog gives \
                     '{current}' no default_model_id"
                ))
            })?;
            fallbacks.push(fallback(
                FallbackKind::ModelNotInCatalog,
                Some(m),
                &d,
                format!(
                    "model '{m}' is not in the catalog for '{current}'; using its default '{d}'"
                ),
            ));
            d
        }
        None => {
            let d = default.ok_or_else(no_default)?;
            fallbacks.push(fallback(
                FallbackKind::DefaultModel,
                None,
                &d,
                format!(
                    "model_config/current chooses no model for '{current}'; using its default '{d}'"
                ),
            ));
            d
        }
    };
    Ok(Plan {
        provider,
        model,
        fallbacks,
    })
}

#[cfg(test)]
mod tests;
