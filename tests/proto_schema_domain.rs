//! The committed `proto-schema/` matches the Rust types of the seeds'
//! documents and the lockbox's answers too, and holds nothing that no type
//! produces. After changing a type, run `cargo run -- schema proto-schema`
//! and commit the result.

use std::collections::BTreeSet;
use std::path::Path;

fn dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("proto-schema")
}

#[test]
fn committed_domain_schemas_match_the_code() {
    let mut stale = vec![];
    for (name, schema) in tidemark::domain::schema::all() {
        let committed = std::fs::read_to_string(dir().join(format!("{name}.json")));
        if committed.unwrap_or_default() != tidemark::protocol::schema::render(&schema) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "proto-schema/ is out of date for {stale:?}: run `cargo run -- schema proto-schema` and commit it"
    );
}

#[test]
fn every_committed_schema_comes_from_a_type() {
    let made: BTreeSet<String> = tidemark::protocol::schema::all()
        .into_iter()
        .chain(tidemark::domain::schema::all())
        .map(|(name, _)| format!("{name}.json"))
        // The OpenAPI document, made from the same types (tests/openapi.rs).
        .chain(["openapi.json".to_string()])
        .collect();
    let committed: BTreeSet<String> = std::fs::read_dir(dir())
        .expect("proto-schema/ exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    let orphans: Vec<_> = committed.difference(&made).collect();
    assert!(orphans.is_empty(), "no type produces {orphans:?}");
    let missing: Vec<_> = made.difference(&committed).collect();
    assert!(missing.is_empty(), "not committed: {missing:?}");
}
