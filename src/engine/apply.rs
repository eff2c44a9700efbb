//! Applying a mutation's ops to a space's documents, in memory and all or
//! nothing. Pure: no I/O, no locks.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;

use super::space::SpaceData;
use crate::protocol::{Doc, Op, RejectCode};

/// Size and count limits a mutation is checked against.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest document (serialized JSON bytes).
    pub max_doc_bytes: usize,
    pub max_ops_per_mutation: usize,
    /// Live documents a space may hold.
    pub max_docs_per_space: usize,
    /// Bytes of live documents' JSON a space may hold.
    pub max_space_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_doc_bytes: 256 * 1024,
            max_ops_per_mutation: 100,
            max_docs_per_space: 10_000,
            max_space_bytes: 64 << 20,
        }
    }
}

/// A document value within a batch; `None` is absent.
type Value0 = Option<Arc<RawValue>>;

/// One changed document after the whole batch; `value: None` deletes it.
#[derive(Debug, Clone)]
pub struct Change {
    pub collection: String,
    pub id: String,
    pub value: Option<Arc<RawValue>>,
    /// The value before the batch, for domain event naming.
    pub previous: Option<Arc<RawValue>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub code: RejectCode,
    pub message: String,
    pub current: Option<Doc>,
}

impl Rejection {
    pub fn new(code: RejectCode, message: impl Into<String>) -> Self {
        Rejection {
            code,
            message: message.into(),
            current: None,
        }
    }
}

pub fn valid_collection(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= 64
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 512
}

/// RFC 7396 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    if let Value::Object(map) = target {
        for (k, v) in patch_map {
            if v.is_null() {
                map.remove(k);
            } else {
                merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn doc_of(collection: &str, id: &str, version: u64, value: Option<&RawValue>) -> Doc {
    let value = value
        .and_then(|v| serde_json::from_str(v.get()).ok())
        .unwrap_or(Value::Null);
    Doc {
        collection: collection.to_string(),
        id: id.to_string(),
        version,
        value,
    }
}

/// Applies `ops` to `data`. Returns the changed documents in first-touch order
/// (one per document; a document that ends where it started is no change), or
/// the reason the whole batch is rejected.
pub fn apply_ops(data: &SpaceData, ops: &[Op], limits: &Limits) -> Result<Vec<Change>, Rejection> {
    if ops.is_empty() {
        return Err(Rejection::new(
            RejectCode::Invalid,
            "a mutation needs at least one op",
        ));
    }
    if ops.len() > limits.max_ops_per_mutation {
        return Err(Rejection::new(
            RejectCode::TooLarge,
            format!(
                "{} ops in one mutation; the limit is {}",
                ops.len(),
                limits.max_ops_per_mutation
            ),
        ));
    }
    // (collection, id) -> (original, current) within this batch.
    let mut touched: Vec<(String, String)> = Vec::new();
    let mut state: HashMap<(String, String), (Value0, Value0)> = HashMap::new();
    for op in ops {
        let (collection, id) = op.target();
        if !valid_collection(collection) {
            return Err(Rejection::new(
                RejectCode::Invalid,
                format!("collection `{collection}` must match [a-z0-9_]{{1,64}}"),
            ));
        }
        if !valid_id(id) {
            return Err(Rejection::new(
                RejectCode::Invalid,
                "document id must be 1 to 512 bytes",
            ));
        }
        let key = (collection.to_string(), id.to_string());
        let entry = data.get(collection, id);
        if !state.contains_key(&key) {
            let original = entry.and_then(|e| e.value.clone());
            state.insert(key.clone(), (original.clone(), original));
            touched.push(key.clone());
        }
        if let Some(expected) = op.if_version() {
            let actual = entry.map(|e| e.version).unwrap_or(0);
            if actual != expected {
                let mut r = Rejection::new(
                    RejectCode::Conflict,
                    format!("{collection}/{id} is at version {actual}, not {expected}"),
                );
                r.current = Some(doc_of(
                    collection,
                    id,
                    actual,
                    entry.and_then(|e| e.value.as_deref()),
                ));
                return Err(r);
            }
        }
        let slot = state.get_mut(&key).map(|s| &mut s.1);
        let Some(current) = slot else { continue };
        let next: Option<Value> = match op {
            Op::Put { value, .. } => {
                if value.is_null() {
                    return Err(Rejection::new(
                        RejectCode::Invalid,
                        "put needs a non-null value (use delete)",
                    ));
                }
                Some(value.clone())
            }
            Op::Patch { value, .. } => {
                let mut base = match current.as_deref() {
                    Some(raw) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
                    None => Value::Object(Default::default()),
                };
                merge_patch(&mut base, value);
                if base.is_null() {
                    return Err(Rejection::new(
                        RejectCode::Invalid,
                        "patch would leave a null document",
                    ));
                }
                Some(base)
            }
            Op::Delete { .. } => None,
        };
        *current = match next {
            None => None,
            Some(v) => {
                let raw = serde_json::value::to_raw_value(&v)
                    .map_err(|e| Rejection::new(RejectCode::Invalid, e.to_string()))?;
                if raw.get().len() > limits.max_doc_bytes {
                    return Err(Rejection::new(
                        RejectCode::TooLarge,
                        format!(
                            "{collection}/{id} would be {} bytes; the limit is {}",
                            raw.get().len(),
                            limits.max_doc_bytes
                        ),
                    ));
                }
                Some(Arc::from(raw))
            }
        };
    }
    let mut changes = Vec::new();
    let mut live = data.live_docs as i64;
    let mut bytes = data.doc_bytes as i64;
    for key in touched {
        let Some((original, current)) = state.remove(&key) else {
            continue;
        };
        let same = match (&original, &current) {
            (None, None) => true,
            (Some(a), Some(b)) => a.get() == b.get(),
            _ => false,
        };
        if same {
            continue;
        }
        live += i64::from(current.is_some()) - i64::from(original.is_some());
        let len = |v: &Value0| v.as_ref().map_or(0, |v| v.get().len() as i64);
        bytes += len(&current) - len(&original);
        changes.push(Change {
            collection: key.0,
            id: key.1,
            value: current,
            previous: original,
        });
    }
    if bytes > limits.max_space_bytes as i64 && bytes > data.doc_bytes as i64 {
        return Err(Rejection::new(
            RejectCode::TooLarge,
            format!(
                "the space would hold {bytes} bytes of documents; the limit is {}",
                limits.max_space_bytes
            ),
        ));
    }
    if live > limits.max_docs_per_space as i64 {
        return Err(Rejection::new(
            RejectCode::TooLarge,
            format!(
                "the space would hold {live} documents; the limit is {}",
                limits.max_docs_per_space
            ),
        ));
    }
    Ok(changes)
}

#[cfg(test)]
mod tests;
