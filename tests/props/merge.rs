//! RFC 7396 merge patch (`engine::merge_patch`, what a `patch` op applies):
//! its laws over random documents and patches.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tidemark::engine::merge_patch;

use super::support::json;

fn patched(target: &Value, patch: &Value) -> Value {
    let mut out = target.clone();
    merge_patch(&mut out, patch);
    out
}

/// The patch that turns `a` into `b`: members of `a` that `b` lacks set to
/// `null`, changed members diffed in turn, new ones as they are. Exact when
/// no object in `b` has a `null` member (RFC 7396 cannot write one).
fn diff(a: &Value, b: &Value) -> Value {
    let Value::Object(b) = b else {
        return b.clone();
    };
    let none = Map::new();
    let a = a.as_object().unwrap_or(&none);
    let mut patch = Map::new();
    for k in a.keys().filter(|k| !b.contains_key(*k)) {
        patch.insert(k.clone(), Value::Null);
    }
    for (k, bv) in b {
        match a.get(k) {
            Some(av) if av == bv => {}
            Some(av) => {
                patch.insert(k.clone(), diff(av, bv));
            }
            None => {
                patch.insert(k.clone(), diff(&Value::Null, bv));
            }
        }
    }
    Value::Object(patch)
}

/// `v` without `null` members in any object reached through objects.
fn without_null_members(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k, without_null_members(x)))
                .collect(),
        ),
        other => other,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_diff_of_a_and_b_patches_a_into_b(a in json(), b in json()) {
        let b = without_null_members(b);
        prop_assert_eq!(patched(&a, &diff(&a, &b)), b);
    }

    #[test]
    fn a_patch_applied_twice_is_applied_once(target in json(), patch in json()) {
        let once = patched(&target, &patch);
        prop_assert_eq!(patched(&once, &patch), once);
    }

    #[test]
    fn the_empty_patch_keeps_an_object_and_objectifies_the_rest(target in json()) {
        let out = patched(&target, &json!({}));
        if target.is_object() {
            prop_assert_eq!(out, target);
        } else {
            prop_assert_eq!(out, json!({}));
        }
    }

    #[test]
    fn null_members_delete(target in json(), patch in json(), key in "[a-d]") {
        let mut patch = match patch {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        patch.insert(key.clone(), Value::Null);
        let out = patched(&target, &Value::Object(patch));
        prop_assert!(out.get(&key).is_none(), "{} still has `{}`", out, key);
    }

    #[test]
    fn a_patch_that_is_no_object_replaces_the_target(target in json(), patch in json()) {
        prop_assume!(!patch.is_object());
        prop_assert_eq!(patched(&target, &patch), patch);
    }

    #[test]
    fn members_the_patch_does_not_name_are_kept(target in json(), patch in json()) {
        let (Some(t), Some(p)) = (target.as_object(), patch.as_object()) else {
            return Ok(());
        };
        let out = patched(&target, &patch);
        for (k, v) in t.iter().filter(|(k, _)| !p.contains_key(*k)) {
            prop_assert_eq!(out.get(k), Some(v));
        }
    }
}
