//! `model_preferences/{provider}` (seed 000) and the seed's camelCase API
//! `GET|PUT /api/user/model-preferences`.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::check::{self, Checked, FieldError};
use super::errors::DomainError;
use super::io::{self, Collection, Written};
use crate::engine::{Engine, Principal};

pub const COLLECTION: &str = "model_preferences";
pub const LOCKBOX: &str = "lockbox";
const MAX_PROVIDERS: usize = 64;
const MAX_MODELS: usize = 1000;
const MAX_MODEL_ID: usize = 256;

/// Provider ids: `[a-z0-9][a-z0-9_.-]{0,63}`.
pub fn valid_provider_id(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_.-".contains(c))
}

/// The stored document (whatever wrote it).
pub fn validate(id: &str, v: &Value) -> Checked<()> {
    if !valid_provider_id(id) {
        return Err(FieldError::new(
            "",
            "the document id must be a provider id ([a-z0-9][a-z0-9_.-]{0,63})",
        ));
    }
    let m = check::object(v)?;
    check::only_known(m, &["enabled_models", "is_enabled", "last_updated"])?;
    check::string_list(m, "enabled_models", MAX_MODELS, MAX_MODEL_ID)?;
    check::boolean(m, "is_enabled", true)?;
    check::timestamp(m, "last_updated", false)?;
    Ok(())
}

/// Providers whose key is set in the server's environment
/// (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `OPENROUTER_API_KEY`).
#[derive(Debug, Clone, Default)]
pub struct EnvKeys(pub BTreeSet<String>);

impl EnvKeys {
    /// From the server's settings (the lockbox reads the same variables).
    pub fn from_args(args: &crate::domain::lockbox::LockboxArgs) -> Self {
        use crate::domain::lockbox::Provider;
        use secrecy::ExposeSecret;
        EnvKeys(
            Provider::ALL
                .iter()
                .filter(|p| {
                    args.env_key(**p)
                        .is_some_and(|k| !k.expose_secret().trim().is_empty())
                })
                .map(|p| p.as_str().to_string())
                .collect(),
        )
    }
}

/// One provider of a PUT body.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    pub provider: String,
    pub enabled_models: Vec<String>,
    pub is_enabled: bool,
}

/// Parses the seed's PUT body `{providers: [{provider, enabledModels, isEnabled}]}`.
pub fn parse_put(body: &Value) -> Checked<Vec<Wanted>> {
    let m = check::object(body)?;
    check::only_known(m, &["providers", "lastSynced"])?;
    let Some(Value::Array(list)) = m.get("providers") else {
        return Err(FieldError::new(
            "providers",
            "is required and must be a list",
        ));
    };
    if list.len() > MAX_PROVIDERS {
        return Err(FieldError::new(
            "providers",
            format!("holds more than {MAX_PROVIDERS} providers"),
        ));
    }
    let mut out: Vec<Wanted> = Vec::with_capacity(list.len());
    for (i, p) in list.iter().enumerate() {
        let at = format!("providers[{i}]");
        let w = parse_one(p).map_err(|e| e.under(&at))?;
        if out.iter().any(|o| o.provider == w.provider) {
            return Err(FieldError::new(
                format!("{at}.provider"),
                format!("repeats \"{}\"", w.provider),
            ));
        }
        out.push(w);
    }
    Ok(out)
}

fn parse_one(p: &Value) -> Checked<Wanted> {
    let m = check::object(p)?;
    check::only_known(m, &["provider", "enabledModels", "isEnabled", "metadata"])?;
    let provider = check::string(m, "provider", true)?.unwrap_or_default();
    if !valid_provider_id(provider) {
        return Err(FieldError::new(
            "provider",
            "must be a provider id such as openai ([a-z0-9][a-z0-9_.-]{0,63})",
        ));
    }
    Ok(Wanted {
        provider: provider.to_string(),
        enabled_models: check::string_list(m, "enabledModels", MAX_MODELS, MAX_MODEL_ID)?,
        is_enabled: check::boolean(m, "isEnabled", true)?.unwrap_or(false),
    })
}

/// When each provider's preferences last changed, by any path (this API, the
/// generic document API, a WebSocket mutation): the commit time of the
/// document's version, else (its event long compacted) the `last_updated`
/// the document carries.
pub async fn changed_at(
    engine: &Engine,
    space: &str,
    prefs: &Collection,
) -> Result<std::collections::HashMap<String, String>, crate::engine::EngineError> {
    let mut out = std::collections::HashMap::new();
    for d in &prefs.docs {
        let at = engine.committed_at(space, d.version).await?.or_else(|| {
            d.value
                .get("last_updated")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        if let Some(at) = at {
            out.insert(d.id.clone(), at);
        }
    }
    Ok(out)
}

/// The seed's GET shape, from the stored documents, when each last changed,
/// the user's lockbox view and the server's environment.
pub fn view(
    prefs: &Collection,
    changed: &std::collections::HashMap<String, String>,
    lockbox: &Collection,
    env: &EnvKeys,
    now: &str,
) -> Value {
    let providers: Vec<Value> = prefs
        .docs
        .iter()
        .map(|d| {
            let configured = lockbox
                .get(&d.id)
                .is_some_and(|l| l.value["configured"] == Value::Bool(true))
                || env.0.contains(&d.id);
            json!({
                "provider": d.id,
                "enabledModels": d.value.get("enabled_models").cloned().unwrap_or(json!([])),
                "isEnabled": d.value.get("is_enabled").cloned().unwrap_or(Value::Bool(false)),
                "metadata": {
                    "apiKeyConfigured": configured,
                    "lastUpdated": changed.get(&d.id).map_or(Value::Null, |t| json!(t)),
                },
            })
        })
        .collect();
    json!({"providers": providers, "lastSynced": now})
}

/// Replaces the listed providers' preferences in one mutation (seed 000:
/// "Updates all provider settings atomically"); providers the body omits
/// are left as they are, so a tab holding an older list never erases a
/// provider another device added. Every op names the version it was planned
/// against, so a concurrent change is never silently overwritten: the plan
/// is redone. Unchanged providers are re-put as they are (the engine writes
/// nothing for them) only to pin their version.
pub async fn replace(
    engine: &Engine,
    who: &Principal,
    space: &str,
    wanted: &[Wanted],
    now: &str,
) -> Result<(), DomainError> {
    for _ in 0..5 {
        let current = io::read_one(engine, space, COLLECTION).await?;
        let mut ops = Vec::new();
        for w in wanted {
            let held = current.get(&w.provider);
            let same = held.is_some_and(|h| {
                h.value.get("enabled_models") == Some(&json!(w.enabled_models))
                    && h.value.get("is_enabled") == Some(&Value::Bool(w.is_enabled))
            });
            let value = match held {
                Some(h) if same => h.value.clone(),
                _ => {
                    let mut m = Map::new();
                    m.insert("enabled_models".into(), json!(w.enabled_models));
                    m.insert("is_enabled".into(), Value::Bool(w.is_enabled));
                    m.insert("last_updated".into(), Value::String(now.to_string()));
                    Value::Object(m)
                }
            };
            let v = current.version_of(&w.provider);
            ops.push(io::put(COLLECTION, &w.provider, value, Some(v)));
        }
        if ops.is_empty() {
            return Ok(());
        }
        match io::write(engine, who, space, ops).await? {
            Written::Done { .. } => return Ok(()),
            Written::Conflict => continue,
        }
    }
    Err(DomainError::Busy(
        "model preferences kept changing during this write; try again".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_body_errors_name_the_field() {
        let e = parse_put(
            &json!({"providers": [{"provider": "openai", "enabledModels": ["gpt-4", 3], "isEnabled": true}]}),
        );
        assert_eq!(e.unwrap_err().field, "providers[0].enabledModels[1]");
        let e = parse_put(&json!({"providers": [{"provider": "openai", "enabledModels": []}]}));
        assert_eq!(e.unwrap_err().field, "providers[0].isEnabled");
        let e = parse_put(
            &json!({"providers": [{"provider": "Open AI", "enabledModels": [], "isEnabled": true}]}),
        );
        assert_eq!(e.unwrap_err().field, "providers[0].provider");
        let e = parse_put(&json!({"provider": []}));
        assert_eq!(e.unwrap_err().field, "provider");
    }

    #[test]
    fn model_ids_are_kept_as_given() {
        let w = parse_put(&json!({"providers": [{"provider": "openrouter", "enabledModels": ["openai/gpt-4", "GPT-4 "], "isEnabled": true}]})).unwrap();
        assert_eq!(w[0].enabled_models, vec!["openai/gpt-4", "GPT-4 "]);
    }
}
