//! The committed `proto-schema/` matches the Rust wire types. After changing a
//! wire type, run `cargo run -- schema proto-schema` and commit the result.

use std::path::Path;

#[test]
fn committed_schemas_match_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("proto-schema");
    let mut stale = vec![];
    for (name, schema) in tidemark::protocol::schema::all() {
        let path = dir.join(format!("{name}.json"));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != tidemark::protocol::schema::render(&schema) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "proto-schema/ is out of date for {stale:?}: run `cargo run -- schema proto-schema` and commit it"
    );
}

#[test]
fn schemas_describe_the_documented_shapes() {
    let all: std::collections::HashMap<_, _> =
        tidemark::protocol::schema::all().into_iter().collect();
    let server = serde_json::to_value(&all["ws-server-message"])
        .unwrap()
        .to_string();
    for t in [
        "welcome",
        "snapshot",
        "events",
        "up_to_date",
        "ack",
        "reject",
        "pong",
        "error",
    ] {
        assert!(
            server.contains(&format!("\"{t}\"")),
            "ws-server-message lacks `{t}`"
        );
    }
    let client = serde_json::to_value(&all["ws-client-message"])
        .unwrap()
        .to_string();
    for t in ["hello", "auth", "mutate", "ping"] {
        assert!(
            client.contains(&format!("\"{t}\"")),
            "ws-client-message lacks `{t}`"
        );
    }
}
