use std::collections::HashMap;

use serde_json::{Value, json};

use super::*;
use crate::domain::lockbox::model_config::{CatalogModel, CatalogProvider, check_against_catalog};

#[derive(Default)]
struct Catalog {
    providers: HashMap<String, Value>,
    models: HashMap<String, Value>,
}

impl Catalog {
    fn provider(mut self, id: &str, status: &str, fallback: Option<&str>, default: &str) -> Self {
        self.providers.insert(
            id.into(),
            json!({"id": id, "display_name": id, "status": status, "enabled": true,
                   "fallback_provider_id": fallback, "default_model_id": default}),
        );
        self
    }
    fn model(mut self, id: &str, provider: &str) -> Self {
        self.models.insert(
            id.into(),
            json!({"id": id, "name": id, "provider_id": provider, "deprecation_status": "active"}),
        );
        self
    }
}

impl CatalogLookup for Catalog {
    fn provider(&self, id: &str) -> Option<CatalogProvider> {
        serde_json::from_value(self.providers.get(id)?.clone()).ok()
    }
    fn model(&self, id: &str) -> Option<CatalogModel> {
        serde_json::from_value(self.models.get(id)?.clone()).ok()
    }
}

fn catalog() -> Catalog {
    Catalog::default()
        .provider("openai", "available", Some("anthropic"), "gpt-4o")
        .provider("anthropic", "degraded", None, "claude-sonnet")
        .provider("openrouter", "available", None, "openai/gpt-4o")
        .model("gpt-4o", "openai")
        .model("gpt-4o-mini", "openai")
        .model("claude-sonnet", "anthropic")
        .model("claude-haiku", "anthropic")
        .model("openai/gpt-4o", "openrouter")
}

fn config(preferred: Option<&str>, models: &[(&str, &str)]) -> ModelConfigDoc {
    ModelConfigDoc {
        preferred_provider: preferred.map(str::to_string),
        models: models
            .iter()
            .map(|(p, m)| (p.to_string(), m.to_string()))
            .collect(),
        updated_at: None,
    }
}

fn kinds(plan: &Plan) -> Vec<FallbackKind> {
    plan.fallbacks.iter().map(|f| f.kind).collect()
}

#[test]
fn the_users_choice_stands_without_fallbacks() {
    let c = config(Some("openai"), &[("openai", "gpt-4o-mini")]);
    let p = plan(&catalog(), Some(&c), |_| true).unwrap();
    assert_eq!(
        (p.provider, p.model.as_str()),
        (Provider::OpenAi, "gpt-4o-mini")
    );
    assert!(p.fallbacks.is_empty());
}

#[test]
fn a_degraded_provider_still_serves() {
    let c = config(Some("anthropic"), &[("anthropic", "claude-haiku")]);
    let p = plan(&catalog(), Some(&c), |_| true).unwrap();
    assert_eq!(
        (p.provider, p.model.as_str()),
        (Provider::Anthropic, "claude-haiku")
    );
    assert!(p.fallbacks.is_empty());
}

#[test]
fn a_model_missing_from_the_catalog_falls_back_to_the_default() {
    let c = config(Some("openai"), &[("openai", "gpt-9-preview")]);
    let p = plan(&catalog(), Some(&c), |_| true).unwrap();
    assert_eq!(p.model, "gpt-4o");
    assert_eq!(kinds(&p), [FallbackKind::ModelNotInCatalog]);
    assert_eq!(p.fallbacks[0].from.as_deref(), Some("gpt-9-preview"));
    assert_eq!(p.fallbacks[0].to.as_deref(), Some("gpt-4o"));
}

#[test]
fn a_model_of_another_provider_counts_as_missing() {
    let c = config(Some("openai"), &[("openai", "claude-haiku")]);
    let p = plan(&catalog(), Some(&c), |_| true).unwrap();
    assert_eq!(p.model, "gpt-4o");
    assert_eq!(kinds(&p), [FallbackKind::ModelNotInCatalog]);
}

#[test]
fn no_model_chosen_uses_the_default() {
    let c = config(Some("openrouter"), &[]);
    let p = plan(&catalog(), Some(&c), |_| true).unwrap();
    assert_eq!(p.model, "openai/gpt-4o");
    assert_eq!(kinds(&p), [FallbackKind::DefaultModel]);
}

#[test]
fn an_unavailable_provider_falls_back_and_keeps_the_models_choice_there() {
    let cat = catalog().provider("openai", "unavailable", Some("anthropic"), "gpt-4o");
    let c = config(
        Some("openai"),
        &[("openai", "gpt-4o"), ("anthropic", "claude-haiku")],
    );
    let p = plan(&cat, Some(&c), |_| true).unwrap();
    assert_eq!(
        (p.provider, p.model.as_str()),
        (Provider::Anthropic, "claude-haiku")
    );
    assert_eq!(kinds(&p), [FallbackKind::ProviderUnavailable]);
    assert_eq!(p.fallbacks[0].from.as_deref(), Some("openai"));
    assert_eq!(p.fallbacks[0].to.as_deref(), Some("anthropic"));
}

#[test]
fn a_disabled_provider_counts_as_unavailable() {
    let mut cat = catalog();
    cat.providers.insert(
        "openai".into(),
        json!({"id": "openai", "status": "available", "enabled": false,
               "fallback_provider_id": "openrouter", "default_model_id": "gpt-4o"}),
    );
    let p = plan(&cat, Some(&config(Some("openai"), &[])), |_| true).unwrap();
    assert_eq!(p.provider, Provider::OpenRouter);
    assert_eq!(
        kinds(&p),
        [
            FallbackKind::ProviderUnavailable,
            FallbackKind::DefaultModel
        ]
    );
}

#[test]
fn fallback_chains_are_followed_and_loops_are_errors() {
    let cat = catalog()
        .provider("openai", "unavailable", Some("anthropic"), "gpt-4o")
        .provider(
            "anthropic",
            "unavailable",
            Some("openrouter"),
            "claude-sonnet",
        );
    let p = plan(&cat, Some(&config(Some("openai"), &[])), |_| true).unwrap();
    assert_eq!(p.provider, Provider::OpenRouter);
    assert_eq!(
        kinds(&p),
        [
            FallbackKind::ProviderUnavailable,
            FallbackKind::ProviderUnavailable,
            FallbackKind::DefaultModel
        ]
    );
    let looped = cat.provider("openrouter", "unavailable", Some("openai"), "x");
    let e = plan(&looped, Some(&config(Some("openai"), &[])), |_| true).unwrap_err();
    assert_eq!(e.code(), "provider_unavailable");
    let dead_end = catalog().provider("openai", "unavailable", None, "gpt-4o");
    let e = plan(&dead_end, Some(&config(Some("openai"), &[])), |_| true).unwrap_err();
    assert!(e.to_string().contains("no fallback_provider_id"), "{e}");
}

#[test]
fn errors_name_what_is_missing() {
    let e = plan(&catalog(), Some(&config(Some("mistral"), &[])), |_| true).unwrap_err();
    assert_eq!(e.code(), "unknown_provider");
    assert!(
        e.to_string().contains("'mistral' is not in the catalog"),
        "{e}"
    );
    let cat = catalog().provider("google", "available", None, "gemini");
    let e = plan(&cat, Some(&config(Some("google"), &[])), |_| true).unwrap_err();
    assert_eq!(e.code(), "unsupported_provider");
    let cat = catalog().provider("openai", "available", None, "");
    let e = plan(&cat, Some(&config(Some("openai"), &[])), |_| true).unwrap_err();
    assert_eq!(e.code(), "no_model");
}

#[test]
fn without_a_preference_the_first_available_provider_with_a_key_is_used() {
    let p = plan(&catalog(), None, |p| p == Provider::Anthropic).unwrap();
    assert_eq!(p.provider, Provider::Anthropic);
    assert_eq!(
        kinds(&p),
        [
            FallbackKind::NoPreferredProvider,
            FallbackKind::DefaultModel
        ]
    );
    let e = plan(&catalog(), None, |_| false).unwrap_err();
    assert_eq!(e.code(), "no_provider");
}

#[test]
fn model_config_writes_are_checked_against_the_catalog() {
    let cat = catalog();
    assert!(check_against_catalog(&cat, &config(Some("openai"), &[("openai", "gpt-4o")])).is_ok());
    let e = check_against_catalog(&cat, &config(Some("mistral"), &[])).unwrap_err();
    assert!(e.contains("preferred_provider 'mistral'"), "{e}");
    let e = check_against_catalog(&cat, &config(None, &[("openai", "gpt-9")])).unwrap_err();
    assert!(e.contains("model 'gpt-9' is not in the catalog"), "{e}");
    let e = check_against_catalog(&cat, &config(None, &[("openai", "claude-haiku")])).unwrap_err();
    assert!(e.contains("belongs to provider 'anthropic'"), "{e}");
}
