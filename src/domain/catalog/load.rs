//! Loading a catalog file (`tidemark catalog load FILE.json`, the admin
//! endpoint, the default catalog at startup). Idempotent: documents that
//! would not change are not written, so loading the same file twice emits
//! nothing.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use super::{MODELS, PROVIDERS, validate_model, validate_provider};
use crate::domain::check::{self, Checked, FieldError};
use crate::domain::docs::{ModelDoc, ProviderDoc};
use crate::domain::errors::DomainError;
use crate::domain::io::{self, Collection, Written};
use crate::engine::{CATALOG, Engine, Principal, Role};

/// The catalog shipped with the binary, loaded when the `catalog` space has
/// never been written.
pub const DEFAULT: &str = include_str!("default.json");

/// `{"providers": [...], "models": [...]}` after checking.
#[derive(Debug, Clone, Default)]
pub struct CatalogFile {
    pub providers: Vec<ProviderDoc>,
    pub models: Vec<ModelDoc>,
}

/// The answer of `POST /api/admin/catalog`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct LoadReport {
    pub providers_written: usize,
    pub models_written: usize,
    pub unchanged: usize,
    /// The catalog's version afterwards.
    pub version: u64,
}

/// The server itself, as the catalog's admin.
pub fn server_admin() -> Principal {
    Principal {
        user: "tidemark".into(),
        role: Role::Admin,
    }
}

fn list<'a>(m: &'a serde_json::Map<String, Value>, key: &str) -> Checked<&'a [Value]> {
    match m.get(key) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(FieldError::new(key, "must be a list")),
    }
}

/// Checks a catalog file; errors name the entry and field (`models[3].provider_id`).
pub fn parse_file(v: &Value) -> Checked<CatalogFile> {
    let m = check::object(v)?;
    check::only_known(m, &["providers", "models"])?;
    let mut out = CatalogFile::default();
    for (i, p) in list(m, PROVIDERS)?.iter().enumerate() {
        let at = format!("providers[{i}]");
        let id = p.get("id").and_then(Value::as_str).unwrap_or_default();
        validate_provider(id, p).map_err(|e| e.under(&at))?;
        let doc: ProviderDoc = serde_json::from_value(p.clone())
            .map_err(|e| FieldError::new(at.clone(), e.to_string()))?;
        if out.providers.iter().any(|q| q.id == doc.id) {
            return Err(FieldError::new(
                format!("{at}.id"),
                "repeats an earlier provider",
            ));
        }
        out.providers.push(doc);
    }
    for (i, x) in list(m, MODELS)?.iter().enumerate() {
        let at = format!("models[{i}]");
        let id = x.get("id").and_then(Value::as_str).unwrap_or_default();
        validate_model(id, x).map_err(|e| e.under(&at))?;
        let doc: ModelDoc = serde_json::from_value(x.clone())
            .map_err(|e| FieldError::new(at.clone(), e.to_string()))?;
        if out.models.iter().any(|q| q.id == doc.id) {
            return Err(FieldError::new(
                format!("{at}.id"),
                "repeats an earlier model",
            ));
        }
        out.models.push(doc);
    }
    Ok(out)
}

/// References must name a provider or model in the file or already in the catalog.
pub fn check_refs(f: &CatalogFile, providers: &Collection, models: &Collection) -> Checked<()> {
    let pids: BTreeSet<&str> = f.providers.iter().map(|p| p.id.as_str()).collect();
    let mids: BTreeSet<&str> = f.models.iter().map(|m| m.id.as_str()).collect();
    let provider = |id: &str| pids.contains(id) || providers.get(id).is_some();
    let model = |id: &str| mids.contains(id) || models.get(id).is_some();
    for (i, p) in f.providers.iter().enumerate() {
        if let Some(fb) = p.fallback_provider_id.as_deref().filter(|x| !provider(x)) {
            let field = format!("providers[{i}].fallback_provider_id");
            return Err(FieldError::new(
                field,
                format!("names an unknown provider \"{fb}\""),
            ));
        }
        if let Some(dm) = p.default_model_id.as_deref().filter(|x| !model(x)) {
            let field = format!("providers[{i}].default_model_id");
            return Err(FieldError::new(
                field,
                format!("names an unknown model \"{dm}\""),
            ));
        }
    }
    for (i, m) in f.models.iter().enumerate() {
        if !provider(&m.provider_id) {
            let field = format!("models[{i}].provider_id");
            let msg = format!("names an unknown provider \"{}\"", m.provider_id);
            return Err(FieldError::new(field, msg));
        }
        if let Some(r) = m.replacement_model_id.as_deref().filter(|x| !model(x)) {
            let field = format!("models[{i}].replacement_model_id");
            return Err(FieldError::new(
                field,
                format!("names an unknown model \"{r}\""),
            ));
        }
    }
    Ok(())
}

/// `(collection, id, value, if_version)` for every document that would change.
fn plan(
    f: &CatalogFile,
    providers: &Collection,
    models: &Collection,
) -> Vec<(bool, crate::protocol::Op)> {
    let mut ops = Vec::new();
    for p in &f.providers {
        let mut value = serde_json::to_value(p).unwrap_or(Value::Null);
        let held = providers.get(&p.id);
        // The health task owns `status` of a provider it probes.
        if let (Some(h), Some(_)) = (held, &p.health_url)
            && let Some(s) = h.value.get("status")
        {
            value["status"] = s.clone();
        }
        if held.is_none_or(|h| h.value != value) {
            let v = providers.version_of(&p.id);
            ops.push((true, io::put(PROVIDERS, &p.id, value, Some(v))));
        }
    }
    for m in &f.models {
        let value = serde_json::to_value(m).unwrap_or(Value::Null);
        if models.get(&m.id).is_none_or(|h| h.value != value) {
            let v = models.version_of(&m.id);
            ops.push((false, io::put(MODELS, &m.id, value, Some(v))));
        }
    }
    ops
}

/// Writes what differs, in mutations of at most the engine's op limit; each
/// op names the version it was planned against and is replanned on conflict.
pub async fn load(engine: &Engine, f: &CatalogFile) -> Result<LoadReport, DomainError> {
    let who = server_admin();
    let chunk = engine.cfg().limits.max_ops_per_mutation.max(1);
    let mut report = LoadReport::default();
    let mut conflicts = 0;
    loop {
        let mut cols = io::read(engine, CATALOG, &[PROVIDERS, MODELS])
            .await?
            .into_iter();
        let (providers, models) = (
            cols.next().unwrap_or_default(),
            cols.next().unwrap_or_default(),
        );
        check_refs(f, &providers, &models)?;
        let mut ops = plan(f, &providers, &models);
        if ops.is_empty() {
            report.version = providers.space_version;
            break;
        }
        ops.truncate(chunk);
        let written_p = ops.iter().filter(|(p, _)| *p).count();
        let written_m = ops.len() - written_p;
        let ops = ops.into_iter().map(|(_, op)| op).collect();
        match io::write(engine, &who, CATALOG, ops).await? {
            Written::Done { .. } => {
                report.providers_written += written_p;
                report.models_written += written_m;
            }
            Written::Conflict if conflicts < 10 => conflicts += 1,
            Written::Conflict => {
                return Err(DomainError::Busy(
                    "the catalog kept changing during the load; run it again".into(),
                ));
            }
        }
    }
    report.unchanged = (f.providers.len() + f.models.len())
        .saturating_sub(report.providers_written + report.models_written);
    Ok(report)
}

/// Loads the shipped catalog when the `catalog` space has never been written.
pub async fn ensure_default(engine: &Engine) -> Result<Option<LoadReport>, DomainError> {
    let (_, version) = engine.head(CATALOG).await?;
    if version > 0 {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(DEFAULT)
        .map_err(|e| DomainError::Invalid(FieldError::new("", format!("default catalog: {e}"))))?;
    let f = parse_file(&v)?;
    load(engine, &f).await.map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_catalog_is_valid_and_consistent() {
        let v: Value = serde_json::from_str(DEFAULT).unwrap();
        let f = parse_file(&v).unwrap();
        assert!(f.providers.len() >= 3 && f.models.len() >= 6);
        check_refs(&f, &Collection::default(), &Collection::default()).unwrap();
        assert!(f.models.iter().any(|m| m.id == "openai/gpt-4"));
    }

    #[test]
    fn file_errors_name_entry_and_field() {
        let v = serde_json::json!({"providers": [{"id": "openai", "display_name": "OpenAI", "status": "up", "enabled": true}]});
        assert_eq!(parse_file(&v).unwrap_err().field, "providers[0].status");
    }
}
