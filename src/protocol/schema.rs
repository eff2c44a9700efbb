//! JSON Schemas of every message, generated from the Rust types into
//! `proto-schema/` (`tidemark schema proto-schema`); a test fails on drift.

use schemars::{JsonSchema, Schema, SchemaGenerator};

use super::*;
use crate::domain::docs as domain_docs;
use crate::domain::lockbox;

fn schema_of<T: JsonSchema>() -> Schema {
    SchemaGenerator::default().into_root_schema_for::<T>()
}

/// `(file stem, schema)` for every wire type.
pub fn all() -> Vec<(&'static str, Schema)> {
    vec![
        ("ws-client-message", schema_of::<ClientMsg>()),
        ("ws-server-message", schema_of::<ServerMsg>()),
        ("ws-event-frame", schema_of::<EventFrame>()),
        ("event", schema_of::<Event>()),
        ("doc", schema_of::<Doc>()),
        ("op", schema_of::<Op>()),
        ("mutation", schema_of::<Mutation>()),
        ("mutation-result", schema_of::<MutationResult>()),
        ("cursor", schema_of::<Cursor>()),
        ("catch-up", schema_of::<CatchUp>()),
        ("http-sync-request", schema_of::<SyncRequest>()),
        ("http-sync-response", schema_of::<SyncResponse>()),
        ("http-version", schema_of::<VersionInfo>()),
        ("http-state", schema_of::<SpaceState>()),
        ("http-error", schema_of::<ErrorBody>()),
        // Lockbox: the redacted document, the HTTP answers, the
        // model config document and its service-only resolution.
        ("lockbox-doc", schema_of::<lockbox::LockboxDoc>()),
        ("http-lockbox-entry", schema_of::<lockbox::LockboxEntry>()),
        ("http-lockbox-list", schema_of::<lockbox::LockboxList>()),
        (
            "http-lockbox-validate",
            schema_of::<lockbox::ValidateResponse>(),
        ),
        ("model-config-doc", schema_of::<lockbox::ModelConfigDoc>()),
        (
            "http-model-config-resolved",
            schema_of::<lockbox::ResolvedModelConfig>(),
        ),
        // Seed domain documents: what each collection holds.
        ("settings-ui-doc", schema_of::<domain_docs::UiSettings>()),
        (
            "model-preference-doc",
            schema_of::<domain_docs::ModelPreference>(),
        ),
        ("provider-doc", schema_of::<domain_docs::ProviderDoc>()),
        ("model-doc", schema_of::<domain_docs::ModelDoc>()),
        (
            "conversation-doc",
            schema_of::<domain_docs::ConversationDoc>(),
        ),
        ("message-doc", schema_of::<domain_docs::MessageDoc>()),
        ("usage-day-doc", schema_of::<domain_docs::UsageDay>()),
    ]
}

/// The file contents: pretty JSON with a trailing newline.
pub fn render(schema: &Schema) -> String {
    let mut s = serde_json::to_string_pretty(schema).unwrap_or_default();
    s.push('\n');
    s
}

/// Writes every schema into `dir`.
pub fn write_all(dir: &std::path::Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let all = all();
    for (name, schema) in &all {
        std::fs::write(dir.join(format!("{name}.json")), render(schema))?;
    }
    Ok(all.len())
}
