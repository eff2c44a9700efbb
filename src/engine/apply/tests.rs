use serde_json::json;

use super::*;
use crate::engine::space::{DocEntry, Ring};

fn empty() -> SpaceData {
    SpaceData {
        epoch: "e".into(),
        version: 0,
        log_start: 0,
        docs: Default::default(),
        live_docs: 0,
        doc_bytes: 0,
        ring: Ring::new(10, 1 << 20),
    }
}

fn put(c: &str, id: &str, v: Value) -> Op {
    Op::Put {
        collection: c.into(),
        id: id.into(),
        value: v,
        if_version: None,
    }
}

#[test]
fn merge_patch_follows_rfc_7396() {
    let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
    merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
    assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
    let mut t = json!([1, 2]);
    merge_patch(&mut t, &json!({"a": 1}));
    assert_eq!(t, json!({"a": 1}));
    let mut t = json!({"a": 1});
    merge_patch(&mut t, &json!("x"));
    assert_eq!(t, json!("x"));
}

#[test]
fn writing_the_stored_value_is_no_change() {
    let mut d = empty();
    let raw = serde_json::value::to_raw_value(&json!({"b": 1, "a": 2})).unwrap();
    d.set(
        "settings",
        "ui",
        DocEntry {
            version: 3,
            value: Some(Arc::from(raw)),
        },
    );
    let ch = apply_ops(
        &d,
        &[put("settings", "ui", json!({"a": 2, "b": 1}))],
        &Limits::default(),
    )
    .unwrap();
    assert!(ch.is_empty());
}

#[test]
fn one_bad_op_rejects_the_batch() {
    let d = empty();
    let ops = vec![
        put("settings", "ui", json!({"a": 1})),
        put("Bad-Name", "x", json!(1)),
    ];
    let r = apply_ops(&d, &ops, &Limits::default()).unwrap_err();
    assert_eq!(r.code, RejectCode::Invalid);
}

#[test]
fn conflict_carries_current_document() {
    let mut d = empty();
    let raw = serde_json::value::to_raw_value(&json!({"theme": "dark"})).unwrap();
    d.set(
        "settings",
        "ui",
        DocEntry {
            version: 7,
            value: Some(Arc::from(raw)),
        },
    );
    let op = Op::Put {
        collection: "settings".into(),
        id: "ui".into(),
        value: json!({}),
        if_version: Some(3),
    };
    let r = apply_ops(&d, &[op], &Limits::default()).unwrap_err();
    assert_eq!(r.code, RejectCode::Conflict);
    let cur = r.current.unwrap();
    assert_eq!(cur.version, 7);
    assert_eq!(cur.value, json!({"theme": "dark"}));
}

#[test]
fn two_ops_on_one_document_make_one_change() {
    let d = empty();
    let ops = vec![
        put("settings", "ui", json!({"a": 1})),
        Op::Patch {
            collection: "settings".into(),
            id: "ui".into(),
            value: json!({"b": 2}),
            if_version: None,
        },
    ];
    let ch = apply_ops(&d, &ops, &Limits::default()).unwrap();
    assert_eq!(ch.len(), 1);
    assert_eq!(ch[0].value.as_ref().unwrap().get(), r#"{"a":1,"b":2}"#);
}

#[test]
fn limits_are_enforced() {
    let d = empty();
    let limits = Limits {
        max_doc_bytes: 10,
        max_ops_per_mutation: 2,
        max_docs_per_space: 1,
        max_space_bytes: 1 << 20,
    };
    let big = apply_ops(&d, &[put("c", "x", json!("0123456789abc"))], &limits).unwrap_err();
    assert_eq!(big.code, RejectCode::TooLarge);
    let many = vec![
        put("c", "a", json!(1)),
        put("c", "b", json!(1)),
        put("c", "c", json!(1)),
    ];
    assert_eq!(
        apply_ops(&d, &many, &limits).unwrap_err().code,
        RejectCode::TooLarge
    );
    let two = vec![put("c", "a", json!(1)), put("c", "b", json!(1))];
    assert_eq!(
        apply_ops(&d, &two, &limits).unwrap_err().code,
        RejectCode::TooLarge
    );
}

/// Found by fuzzing (`fuzz/fuzz_targets/mutation_ops.rs`): serde_json read
/// `1.5509011162120869e-264` back as `1.5509011162120866e-264` until its
/// `float_roundtrip` feature was enabled, so a patch of one field rewrote
/// another field's float (and counted as a change where there was none).
#[test]
fn a_patch_leaves_the_other_fields_floats_as_they_were() {
    let mut d = empty();
    let stored = r#"{"f":1.5509011162120869e-264,"g":1}"#;
    let raw = serde_json::value::RawValue::from_string(stored.to_string()).unwrap();
    d.set(
        "c",
        "x",
        DocEntry {
            version: 1,
            value: Some(Arc::from(raw)),
        },
    );
    let patch = |value: Value| Op::Patch {
        collection: "c".into(),
        id: "x".into(),
        value,
        if_version: None,
    };
    let ch = apply_ops(&d, &[patch(json!({"g": 2}))], &Limits::default()).unwrap();
    let written = ch[0].value.as_ref().unwrap().get();
    assert_eq!(written, r#"{"f":1.5509011162120869e-264,"g":2}"#);
    // An empty patch rewrites nothing.
    assert!(
        apply_ops(&d, &[patch(json!({}))], &Limits::default())
            .unwrap()
            .is_empty()
    );
}
