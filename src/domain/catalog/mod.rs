//! The provider and model catalog (seed 001) in the `catalog` space:
//! `providers/{id}` and `models/{id}`, their checks, and the seed's event
//! names on catalog events.
//!
//! - [`load`]: loading a catalog file (idempotent), the default catalog.
//! - [`health`]: probing providers' health URLs into `status`.
//! - [`view`]: seed 001's read shapes (`SyncState`, availability, `SyncEvent`).
//! - [`cli`]: `tidemark catalog load FILE.json`.

pub mod health;
pub mod load;
pub mod view;

use serde_json::Value;

use super::check::{self, Checked, FieldError};
use super::prefs::valid_provider_id;
use crate::engine::{CATALOG, Change};

pub const PROVIDERS: &str = "providers";
pub const MODELS: &str = "models";
pub const STATUSES: [&str; 5] = [
    "available",
    "degraded",
    "unavailable",
    "unknown",
    "unreachable",
];
pub const DEPRECATION: [&str; 3] = ["active", "deprecated", "sunset"];

const PROVIDER_FIELDS: [&str; 7] = [
    "id",
    "display_name",
    "status",
    "enabled",
    "fallback_provider_id",
    "default_model_id",
    "health_url",
];
const MODEL_FIELDS: [&str; 13] = [
    "id",
    "name",
    "description",
    "provider_id",
    "context_window",
    "max_input_tokens",
    "max_output_tokens",
    "supports_streaming",
    "supports_vision",
    "deprecation_status",
    "deprecation_date",
    "sunset_date",
    "replacement_model_id",
];
const MAX_MODEL_ID: usize = 256;

fn same_id(m: &serde_json::Map<String, Value>, id: &str) -> Checked<()> {
    match check::string(m, "id", true)? {
        Some(s) if s == id => Ok(()),
        _ => Err(FieldError::new(
            "id",
            format!("must equal the document id \"{id}\""),
        )),
    }
}

/// `providers/{id}`.
pub fn validate_provider(id: &str, v: &Value) -> Checked<()> {
    if !valid_provider_id(id) {
        return Err(FieldError::new(
            "id",
            "a provider id must match [a-z0-9][a-z0-9_.-]{0,63}",
        ));
    }
    let m = check::object(v)?;
    check::only_known(m, &PROVIDER_FIELDS)?;
    same_id(m, id)?;
    check::text(m, "display_name", true, 128)?;
    check::one_of(m, "status", &STATUSES, true)?;
    check::boolean(m, "enabled", true)?;
    if let Some(f) = check::string(m, "fallback_provider_id", false)?
        && (!valid_provider_id(f) || f == id)
    {
        return Err(FieldError::new(
            "fallback_provider_id",
            "must be another provider's id",
        ));
    }
    check::text(m, "default_model_id", false, MAX_MODEL_ID)?;
    if let Some(u) = check::text(m, "health_url", false, 2048)? {
        let ok = reqwest::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !ok {
            return Err(FieldError::new("health_url", "must be an http(s) URL"));
        }
    }
    Ok(())
}

/// `models/{id}`.
pub fn validate_model(id: &str, v: &Value) -> Checked<()> {
    if id.len() > MAX_MODEL_ID {
        return Err(FieldError::new(
            "id",
            format!("a model id is at most {MAX_MODEL_ID} bytes"),
        ));
    }
    let m = check::object(v)?;
    check::only_known(m, &MODEL_FIELDS)?;
    same_id(m, id)?;
    check::text(m, "name", true, 256)?;
    check::text(m, "description", false, 1024)?;
    let provider = check::string(m, "provider_id", true)?.unwrap_or_default();
    if !valid_provider_id(provider) {
        return Err(FieldError::new("provider_id", "must be a provider id"));
    }
    let window = check::uint(m, "context_window", true)?.unwrap_or(0);
    for k in ["max_input_tokens", "max_output_tokens"] {
        if check::uint(m, k, true)?.unwrap_or(0) > window {
            return Err(FieldError::new(k, "must not exceed context_window"));
        }
    }
    check::boolean(m, "supports_streaming", true)?;
    check::boolean(m, "supports_vision", true)?;
    check::one_of(m, "deprecation_status", &DEPRECATION, true)?;
    let dep = check::date(m, "deprecation_date", false)?;
    let sunset = check::date(m, "sunset_date", false)?;
    if let (Some(d), Some(s)) = (dep, sunset)
        && s < d
    {
        return Err(FieldError::new(
            "sunset_date",
            "must not be before deprecation_date",
        ));
    }
    if let Some(r) = check::text(m, "replacement_model_id", false, MAX_MODEL_ID)?
        && r == id
    {
        return Err(FieldError::new(
            "replacement_model_id",
            "must name another model",
        ));
    }
    Ok(())
}

fn parse(raw: &Option<std::sync::Arc<serde_json::value::RawValue>>) -> Option<Value> {
    raw.as_ref()
        .and_then(|r| serde_json::from_str(r.get()).ok())
}

/// Seed 001's event names for catalog changes. A status change is named
/// `provider_status_changed` even when other fields changed with it; a model
/// leaving `active` (or moving from `deprecated` to `sunset`) is
/// `model_deprecated`.
pub fn event_name(space: &str, ch: &Change) -> Option<String> {
    if space != CATALOG {
        return None;
    }
    let (prev, next) = (parse(&ch.previous), parse(&ch.value));
    let name = match (ch.collection.as_str(), prev, next) {
        (_, None, None) => return None,
        (PROVIDERS, None, Some(_)) => "provider_added",
        (PROVIDERS, Some(_), None) => "provider_removed",
        (PROVIDERS, Some(p), Some(n)) if p.get("status") != n.get("status") => {
            "provider_status_changed"
        }
        (PROVIDERS, Some(_), Some(_)) => "provider_updated",
        (MODELS, None, Some(_)) => "model_added",
        (MODELS, Some(_), None) => "model_removed",
        (MODELS, Some(p), Some(n)) => {
            let (was, now) = (p.get("deprecation_status"), n.get("deprecation_status"));
            let active = Some(&Value::String("active".into()));
            if was != now && now != active {
                "model_deprecated"
            } else {
                "model_updated"
            }
        }
        _ => return None,
    };
    Some(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model() -> Value {
        json!({"id": "gpt-4o", "name": "GPT-4o", "provider_id": "openai", "context_window": 128000,
            "max_input_tokens": 128000, "max_output_tokens": 16384, "supports_streaming": true,
            "supports_vision": true, "deprecation_status": "active", "deprecation_date": null,
            "sunset_date": null, "replacement_model_id": null})
    }

    #[test]
    fn models_are_checked_by_field() {
        assert_eq!(validate_model("gpt-4o", &model()), Ok(()));
        let mut m = model();
        m["max_output_tokens"] = json!(200000);
        assert_eq!(
            validate_model("gpt-4o", &m).unwrap_err().field,
            "max_output_tokens"
        );
        let mut m = model();
        m["deprecation_status"] = json!("retired");
        assert_eq!(
            validate_model("gpt-4o", &m).unwrap_err().field,
            "deprecation_status"
        );
        assert_eq!(validate_model("other", &model()).unwrap_err().field, "id");
        let mut m = model();
        m["deprecation_date"] = json!("2026-12-01");
        m["sunset_date"] = json!("2026-06-01");
        assert_eq!(
            validate_model("gpt-4o", &m).unwrap_err().field,
            "sunset_date"
        );
    }

    fn change(coll: &str, prev: Option<Value>, next: Option<Value>) -> Change {
        let raw = |v: Value| std::sync::Arc::from(serde_json::value::to_raw_value(&v).unwrap());
        Change {
            collection: coll.into(),
            id: "x".into(),
            value: next.map(raw),
            previous: prev.map(raw),
        }
    }

    #[test]
    fn events_are_named_like_the_seed() {
        let name = |c: &Change| event_name(CATALOG, c);
        let p = json!({"status": "available", "display_name": "A"});
        let q = json!({"status": "unavailable", "display_name": "A"});
        let r = json!({"status": "available", "display_name": "B"});
        assert_eq!(
            name(&change(PROVIDERS, None, Some(p.clone()))).as_deref(),
            Some("provider_added")
        );
        assert_eq!(
            name(&change(PROVIDERS, Some(p.clone()), Some(q))).as_deref(),
            Some("provider_status_changed")
        );
        assert_eq!(
            name(&change(PROVIDERS, Some(p.clone()), Some(r))).as_deref(),
            Some("provider_updated")
        );
        assert_eq!(
            name(&change(PROVIDERS, Some(p), None)).as_deref(),
            Some("provider_removed")
        );
        let mut d = model();
        d["deprecation_status"] = json!("deprecated");
        assert_eq!(
            name(&change(MODELS, None, Some(model()))).as_deref(),
            Some("model_added")
        );
        assert_eq!(
            name(&change(MODELS, Some(model()), Some(d.clone()))).as_deref(),
            Some("model_deprecated")
        );
        assert_eq!(
            name(&change(MODELS, Some(d), Some(model()))).as_deref(),
            Some("model_updated")
        );
        assert_eq!(
            name(&change(MODELS, Some(model()), None)).as_deref(),
            Some("model_removed")
        );
        assert_eq!(
            event_name("user:a", &change(MODELS, None, Some(model()))),
            None
        );
    }
}
