//! JSON Schemas of the wire messages, generated from the Rust types into
//! `proto-schema/` (`tidemark schema proto-schema`); a test fails on drift.
//! The documents of the seeds' collections have theirs in
//! `domain::schema`, which writes into the same directory.

use schemars::{JsonSchema, Schema, SchemaGenerator};

use super::*;

/// The root schema of one type.
pub fn schema_of<T: JsonSchema>() -> Schema {
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
    ]
}

/// The file contents: pretty JSON with a trailing newline.
pub fn render(schema: &Schema) -> String {
    let mut s = serde_json::to_string_pretty(schema).unwrap_or_default();
    s.push('\n');
    s
}

/// Writes `schemas` into `dir`, one `{stem}.json` each.
pub fn write_all(dir: &std::path::Path, schemas: &[(&str, Schema)]) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    for (name, schema) in schemas {
        std::fs::write(dir.join(format!("{name}.json")), render(schema))?;
    }
    Ok(schemas.len())
}
