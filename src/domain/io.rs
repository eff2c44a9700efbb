//! Reading documents from a space's memory and writing through the engine.
//! Every domain change goes through [`Engine::mutate`], so it is versioned,
//! durable and pushed live like any client write.

use serde_json::Value;

use super::errors::DomainError;
use crate::engine::{Engine, EngineError, MutationInput, Principal};
use crate::protocol::{MutationResult, Op, RejectCode};

/// A live document: id, version, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub id: String,
    pub version: u64,
    pub value: Value,
}

/// One collection of a space: the space version and its live documents in id
/// order, plus the versions of tombstones (for `if_version` on re-creation).
#[derive(Debug, Clone, Default)]
pub struct Collection {
    pub space_version: u64,
    /// Tombstones and events at or below this version may have been compacted.
    pub log_start: u64,
    pub docs: Vec<Held>,
    pub tombstones: Vec<(String, u64)>,
}

impl Collection {
    pub fn get(&self, id: &str) -> Option<&Held> {
        self.docs
            .binary_search_by(|d| d.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.docs[i])
    }
    /// Records a document this process just wrote (keeps id order).
    pub fn set(&mut self, id: &str, version: u64, value: Value) {
        self.tombstones.retain(|(t, _)| t != id);
        let held = Held {
            id: id.to_string(),
            version,
            value,
        };
        match self.docs.binary_search_by(|d| d.id.as_str().cmp(id)) {
            Ok(i) => self.docs[i] = held,
            Err(i) => self.docs.insert(i, held),
        }
        self.space_version = self.space_version.max(version);
    }
    /// The version an op on `id` must name as `if_version` (0: never existed).
    pub fn version_of(&self, id: &str) -> u64 {
        self.get(id).map(|d| d.version).unwrap_or_else(|| {
            self.tombstones
                .iter()
                .find(|(t, _)| t == id)
                .map(|(_, v)| *v)
                .unwrap_or(0)
        })
    }
}

/// Reads collections of a (resolved, authorized) space from memory.
pub async fn read(
    engine: &Engine,
    space: &str,
    collections: &[&str],
) -> Result<Vec<Collection>, EngineError> {
    let s = engine.space(space).await?;
    let d = s.read();
    Ok(collections
        .iter()
        .map(|c| {
            let mut out = Collection {
                space_version: d.version,
                log_start: d.log_start,
                ..Default::default()
            };
            for (id, e) in d.docs.get(*c).into_iter().flatten() {
                match &e.value {
                    Some(raw) => out.docs.push(Held {
                        id: id.clone(),
                        version: e.version,
                        value: serde_json::from_str(raw.get()).unwrap_or(Value::Null),
                    }),
                    None => out.tombstones.push((id.clone(), e.version)),
                }
            }
            out
        })
        .collect())
}

/// One collection.
pub async fn read_one(
    engine: &Engine,
    space: &str,
    collection: &str,
) -> Result<Collection, EngineError> {
    Ok(read(engine, space, &[collection])
        .await?
        .pop()
        .unwrap_or_default())
}

/// What a server-side write came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// Committed (or nothing changed): the space's version after it.
    Done { version: u64, noop: bool },
    /// Another writer moved a document this write was planned against.
    Conflict,
}

/// Applies `ops` as one server-side mutation (`origin: None`, trusted).
pub async fn write(
    engine: &Engine,
    who: &Principal,
    space: &str,
    ops: Vec<Op>,
) -> Result<Written, DomainError> {
    let input = MutationInput {
        origin: None,
        space: space.to_string(),
        ops,
        trusted: true,
    };
    match engine.mutate(who, input).await? {
        (_, MutationResult::Ack { version, noop, .. }) => Ok(Written::Done { version, noop }),
        (
            _,
            MutationResult::Reject {
                code: RejectCode::Conflict,
                ..
            },
        ) => Ok(Written::Conflict),
        (_, MutationResult::Reject { code, message, .. }) => {
            Err(DomainError::Rejected { code, message })
        }
    }
}

pub fn put(collection: &str, id: &str, value: Value, if_version: Option<u64>) -> Op {
    Op::Put {
        collection: collection.to_string(),
        id: id.to_string(),
        value,
        if_version,
    }
}

pub fn delete(collection: &str, id: &str, if_version: Option<u64>) -> Op {
    Op::Delete {
        collection: collection.to_string(),
        id: id.to_string(),
        if_version,
    }
}
