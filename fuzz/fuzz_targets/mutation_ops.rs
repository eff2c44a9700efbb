//! A mutation's ops applied to a space's documents (`engine::apply_ops`,
//! the one path every transport's writes take) and RFC 7396 merge patch.
//!
//! Never a panic; an accepted batch changes exactly the documents whose
//! value ends up different, to what the ops say, within the limits; a
//! refused one names a reason the ops hold.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tidemark::engine::space::{DocEntry, Ring, SpaceData};
use tidemark::engine::{Limits, apply_ops, merge_patch, valid_collection, valid_id};
use tidemark::protocol::{Op, RejectCode};
use tidemark_fuzz::{Json, has_null_member, reparsed};

/// Mostly valid names, so batches get past the checks.
const COLLECTIONS: [&str; 4] = ["settings", "notes", "Bad-Name", ""];
const IDS: [&str; 3] = ["ui", "a/b", ""];

fn pick(u: &mut Unstructured<'_>, from: &[&str]) -> arbitrary::Result<String> {
    let i = u.int_in_range(0..=from.len())?;
    match from.get(i) {
        Some(s) => Ok((*s).to_string()),
        None => u.arbitrary(),
    }
}

#[derive(Debug)]
struct Input {
    /// `(collection, id, version, value)`; `None` is a tombstone.
    stored: Vec<(String, String, u64, Option<Value>)>,
    ops: Vec<Op>,
    limits: Limits,
    /// A merge patch and its target, alone.
    target: Value,
    patch: Value,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut stored = Vec::new();
        for _ in 0..u.int_in_range(0..=4)? {
            let value = Json::arbitrary(u)?.0;
            stored.push((
                pick(u, &COLLECTIONS[..2])?,
                pick(u, &IDS[..2])?,
                u.int_in_range(1..=9)?,
                // The engine never holds a `null` document.
                (!value.is_null()).then_some(value),
            ));
        }
        let mut ops = Vec::new();
        for _ in 0..u.int_in_range(0..=6)? {
            let (collection, id) = (pick(u, &COLLECTIONS)?, pick(u, &IDS)?);
            let if_version = match u.int_in_range(0..=2)? {
                0 => None,
                1 => Some(u.int_in_range(0..=9)?),
                _ => Some(u.arbitrary()?),
            };
            ops.push(match u.int_in_range(0..=2)? {
                0 => Op::Put {
                    collection,
                    id,
                    value: Json::arbitrary(u)?.0,
                    if_version,
                },
                1 => Op::Patch {
                    collection,
                    id,
                    value: Json::arbitrary(u)?.0,
                    if_version,
                },
                _ => Op::Delete {
                    collection,
                    id,
                    if_version,
                },
            });
        }
        let limits = Limits {
            max_doc_bytes: u.int_in_range(1..=512)?,
            max_ops_per_mutation: u.int_in_range(1..=8)?,
            max_docs_per_space: u.int_in_range(1..=8)?,
            max_space_bytes: u.int_in_range(1..=2048)?,
        };
        Ok(Input {
            stored,
            ops,
            limits,
            target: Json::arbitrary(u)?.0,
            patch: Json::arbitrary(u)?.0,
        })
    }
}

type Key = (String, String);

fn space(stored: &[(String, String, u64, Option<Value>)]) -> SpaceData {
    let mut d = SpaceData {
        epoch: Arc::from("e"),
        version: 9,
        log_start: 0,
        docs: Default::default(),
        live_docs: 0,
        doc_bytes: 0,
        ring: Ring::new(4, 1 << 16),
    };
    for (c, id, version, value) in stored {
        let value = value
            .as_ref()
            .map(|v| Arc::from(serde_json::value::to_raw_value(v).expect("prints")));
        let version = *version;
        d.set(c, id, DocEntry { version, value });
    }
    d
}

/// What the ops leave of each document they touch, in first-touch order.
type Outcome = Vec<(Key, Option<Value>, Option<Value>)>;

/// The documents the ops leave, `(key, before, after)`, and the largest
/// value (printed) any op makes on the way.
fn expected(d: &SpaceData, ops: &[Op]) -> (Outcome, usize) {
    let held = |c: &str, id: &str| {
        d.get(c, id)
            .and_then(|e| e.value.as_ref())
            .map(|raw| serde_json::from_str::<Value>(raw.get()).expect("stored JSON"))
    };
    let mut out: Outcome = Vec::new();
    let mut largest = 0;
    for op in ops {
        let (c, id) = op.target();
        let key = (c.to_string(), id.to_string());
        let i = match out.iter().position(|(k, ..)| *k == key) {
            Some(i) => i,
            None => {
                out.push((key, held(c, id), held(c, id)));
                out.len() - 1
            }
        };
        let now = &mut out[i].2;
        *now = match op {
            Op::Put { value, .. } => Some(value.clone()),
            Op::Patch { value, .. } => {
                let mut base = now.take().unwrap_or(Value::Object(Default::default()));
                merge_patch(&mut base, value);
                Some(base)
            }
            Op::Delete { .. } => None,
        };
        let len = now.as_ref().map_or(0, |v| v.to_string().len());
        largest = largest.max(len);
    }
    (out, largest)
}

fn check_batch(input: &Input) {
    let d = space(&input.stored);
    let version_of = |c: &str, id: &str| d.get(c, id).map_or(0, |e| e.version);
    let (want, largest) = expected(&d, &input.ops);
    let live_after = want
        .iter()
        .fold(d.live_docs as i64, |n, (_, before, after)| {
            n + i64::from(after.is_some()) - i64::from(before.is_some())
        });
    let len = |v: &Option<Value>| v.as_ref().map_or(0, |v| v.to_string().len() as i64);
    let bytes_after = want
        .iter()
        .fold(d.doc_bytes as i64, |n, (_, before, after)| {
            n + len(after) - len(before)
        });
    // A space over its byte budget may still shrink.
    let over_bytes =
        bytes_after > input.limits.max_space_bytes as i64 && bytes_after > d.doc_bytes as i64;
    let limits = &input.limits;
    match apply_ops(&d, &input.ops, &input.limits) {
        Ok(changes) => {
            assert!(!input.ops.is_empty() && input.ops.len() <= limits.max_ops_per_mutation);
            assert!(
                largest <= limits.max_doc_bytes,
                "a {largest}-byte document accepted"
            );
            assert!(live_after <= limits.max_docs_per_space as i64);
            assert!(!over_bytes, "a space grown to {bytes_after} bytes accepted");
            for op in &input.ops {
                let (c, id) = op.target();
                assert!(valid_collection(c) && valid_id(id), "{c}/{id} accepted");
                if let Some(v) = op.if_version() {
                    assert_eq!(v, version_of(c, id), "a stale if_version accepted");
                }
                assert!(!nulls(op), "a null put or patch accepted");
            }
            let changed: Vec<_> = want
                .iter()
                .filter(|(_, before, after)| before != after)
                .collect();
            assert_eq!(
                changes.len(),
                changed.len(),
                "changes {changes:?}, expected {changed:?}"
            );
            for (ch, (key, before, after)) in changes.iter().zip(changed) {
                assert_eq!((&ch.collection, &ch.id), (&key.0, &key.1));
                let value = ch.value.as_ref().map(|raw| {
                    assert!(raw.get().len() <= input.limits.max_doc_bytes);
                    serde_json::from_str::<Value>(raw.get()).expect("a change is JSON")
                });
                assert!(value.as_ref().is_none_or(|v| !v.is_null()));
                assert_eq!(&value, after);
                let previous = ch
                    .previous
                    .as_ref()
                    .map(|raw| serde_json::from_str(raw.get()).unwrap());
                assert_eq!(&previous, before);
            }
        }
        Err(r) => match r.code {
            RejectCode::Conflict => {
                let cur = r.current.expect("a conflict carries the current document");
                assert_eq!(cur.version, version_of(&cur.collection, &cur.id));
                assert!(input.ops.iter().any(|op| {
                    op.target() == (cur.collection.as_str(), cur.id.as_str())
                        && op.if_version().is_some_and(|v| v != cur.version)
                }));
            }
            RejectCode::Invalid => assert!(
                input.ops.is_empty()
                    || input.ops.iter().any(|op| {
                        let (c, id) = op.target();
                        !valid_collection(c) || !valid_id(id) || nulls(op)
                    }),
                "invalid: {}",
                r.message
            ),
            RejectCode::TooLarge => assert!(
                input.ops.len() > limits.max_ops_per_mutation
                    || largest > limits.max_doc_bytes
                    || live_after > limits.max_docs_per_space as i64
                    || over_bytes,
                "too large: {}",
                r.message
            ),
            other => panic!("apply_ops answered {other:?}: {}", r.message),
        },
    }
}

/// A put or patch whose value is `null` (a patch `null` nulls the document).
fn nulls(op: &Op) -> bool {
    matches!(op, Op::Put { value, .. } | Op::Patch { value, .. } if value.is_null())
}

/// RFC 7396: what a patch leaves, member by member.
fn check_merge_patch(target: &Value, patch: &Value) {
    let mut out = target.clone();
    merge_patch(&mut out, patch);
    assert_eq!(reparsed(&out), out, "the result is JSON that reads back");
    let Value::Object(p) = patch else {
        assert_eq!(&out, patch, "a patch that is no object replaces the target");
        return;
    };
    let Value::Object(o) = &out else {
        panic!("an object patch leaves an object, not {out}");
    };
    for (k, v) in p {
        match (v, o.get(k)) {
            (Value::Null, got) => assert!(got.is_none(), "`{k}`: null deletes"),
            (Value::Object(_), got) => assert!(got.is_some_and(Value::is_object), "`{k}`"),
            (v, got) => assert_eq!(got, Some(v), "`{k}` is replaced"),
        }
    }
    let untouched = target.as_object().into_iter().flatten();
    for (k, v) in untouched.filter(|(k, _)| !p.contains_key(*k)) {
        assert_eq!(o.get(k), Some(v), "`{k}` is not in the patch: kept");
    }
    assert!(
        o.keys()
            .all(|k| p.contains_key(k) || target.get(k).is_some())
    );
    if !has_null_member(target) {
        assert!(!has_null_member(&out), "no nulls left in objects: {out}");
    }
    let mut twice = out.clone();
    merge_patch(&mut twice, patch);
    assert_eq!(twice, out, "a patch applied twice is applied once");
}

fuzz_target!(|input: Input| {
    check_batch(&input);
    check_merge_patch(&input.target, &input.patch);
});
