use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// What a client already has of a space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Cursor {
    pub epoch: String,
    pub version: u64,
}

impl Cursor {
    /// `EPOCH:VERSION` (an SSE event id, `?cursor=`, an ETag's inside) ->
    /// cursor; the epoch is everything before the last `:`. The error is for
    /// people.
    pub fn parse(s: &str) -> Result<Cursor, &'static str> {
        let (epoch, version) = s
            .rsplit_once(':')
            .ok_or("cursor must look like EPOCH:VERSION")?;
        let version = version
            .parse()
            .map_err(|_| "cursor version must be a number")?;
        Ok(Cursor {
            epoch: epoch.to_string(),
            version,
        })
    }
}

/// `EPOCH:VERSION`, what [`Cursor::parse`] reads.
impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.epoch, self.version)
    }
}

/// One operation of a mutation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Replace the whole document.
    Put {
        collection: String,
        id: String,
        value: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        if_version: Option<u64>,
    },
    /// RFC 7396 JSON merge patch onto the current value (`{}` when absent).
    Patch {
        collection: String,
        id: String,
        value: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        if_version: Option<u64>,
    },
    /// Delete the document (leaves a tombstone until compaction).
    Delete {
        collection: String,
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        if_version: Option<u64>,
    },
}

impl Op {
    pub fn target(&self) -> (&str, &str) {
        match self {
            Op::Put { collection, id, .. }
            | Op::Patch { collection, id, .. }
            | Op::Delete { collection, id, .. } => (collection, id),
        }
    }
    pub fn if_version(&self) -> Option<u64> {
        match self {
            Op::Put { if_version, .. }
            | Op::Patch { if_version, .. }
            | Op::Delete { if_version, .. } => *if_version,
        }
    }
}

/// A client's atomic batch of ops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Mutation {
    /// Defaults to the request's `client_id` in `POST /v1/sync`.
    #[serde(default)]
    pub client_id: Option<String>,
    pub mutation_id: u64,
    pub space: String,
    pub ops: Vec<Op>,
}

/// A document as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Doc {
    pub collection: String,
    pub id: String,
    /// Space version of the document's last change (0: never written).
    pub version: u64,
    /// `null` for a deleted or missing document.
    pub value: Value,
}

/// Which client and mutation produced an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Origin {
    pub client_id: String,
    pub mutation_id: u64,
}

/// Longest client id: it is repeated in every event the client writes.
pub const MAX_CLIENT_ID_BYTES: usize = 128;
/// Largest mutation id (the stores keep it as a signed 64-bit integer).
pub const MAX_MUTATION_ID: u64 = i64::MAX as u64;

/// A client id every transport accepts: 1 to 128 bytes of printable ASCII.
pub fn check_client_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_CLIENT_ID_BYTES {
        return Err(format!(
            "client_id must be 1 to {MAX_CLIENT_ID_BYTES} bytes"
        ));
    }
    if !id.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err("client_id must be printable ASCII without spaces".into());
    }
    Ok(())
}

impl Origin {
    /// The client id as [`check_client_id`] wants it, and a mutation id the
    /// stores can hold exactly (a larger one would be saturated when stored
    /// and a retry of it applied twice).
    pub fn check(&self) -> Result<(), String> {
        check_client_id(&self.client_id)?;
        if self.mutation_id > MAX_MUTATION_ID {
            return Err(format!("mutation_id must be at most {MAX_MUTATION_ID}"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventOp {
    Upsert,
    Delete,
}

/// One committed change (docs/architecture.md, "Concepts"). An upsert carries the whole value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    pub space: String,
    pub version: u64,
    pub op: EventOp,
    pub collection: String,
    pub id: String,
    pub value: Value,
    /// Domain event name (`provider_added`, `model_deprecated`, ...).
    pub event: Option<String>,
    pub origin: Option<Origin>,
    /// RFC 3339 commit time.
    pub at: String,
}

/// Outcome of one mutation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MutationResult {
    Ack {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mutation_id: Option<u64>,
        version: u64,
        noop: bool,
    },
    Reject {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mutation_id: Option<u64>,
        code: RejectCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        current: Option<Doc>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    Conflict,
    Forbidden,
    Invalid,
    TooLarge,
    RateLimited,
    OutOfOrder,
    Unavailable,
    /// The database did not answer in time or refused the connection:
    /// nothing was applied; retry the same mutation id later.
    StoreUnavailable,
}

impl RejectCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::Conflict => "conflict",
            RejectCode::Forbidden => "forbidden",
            RejectCode::Invalid => "invalid",
            RejectCode::TooLarge => "too_large",
            RejectCode::RateLimited => "rate_limited",
            RejectCode::OutOfOrder => "out_of_order",
            RejectCode::Unavailable => "unavailable",
            RejectCode::StoreUnavailable => "store_unavailable",
        }
    }
}

/// An event already encoded as JSON; serialized verbatim.
#[derive(Debug, Clone)]
pub struct RawEvent(pub std::sync::Arc<RawValue>);

impl Serialize for RawEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl JsonSchema for RawEvent {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Event".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        Event::json_schema(generator)
    }
}

/// A live document with its value already encoded (snapshots).
#[derive(Debug, Clone, Serialize)]
pub struct RawDoc {
    pub collection: String,
    pub id: String,
    pub version: u64,
    pub value: std::sync::Arc<RawValue>,
}

impl JsonSchema for RawDoc {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Doc".into()
    }
    /// The same schema as `Doc`, so a message holding both names one `Doc`
    /// (not `Doc` and `Doc2`).
    fn schema_id() -> std::borrow::Cow<'static, str> {
        Doc::schema_id()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        Doc::json_schema(generator)
    }
}

/// The answer for one space: what the client needs to reach the current version.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CatchUp {
    Snapshot {
        epoch: String,
        version: u64,
        docs: Vec<RawDoc>,
    },
    Events {
        epoch: String,
        /// Exclusive.
        from: u64,
        /// Inclusive.
        to: u64,
        events: Vec<RawEvent>,
    },
    UpToDate {
        epoch: String,
        version: u64,
    },
}

impl CatchUp {
    /// About the length of this answer's JSON (a little over, never far
    /// under): what a buffer for it is allocated at, so a large snapshot is
    /// serialized into one allocation instead of a doubling series of them.
    pub fn json_len_hint(&self) -> usize {
        const ENVELOPE: usize = 128;
        match self {
            CatchUp::Snapshot { docs, .. } => {
                docs.iter()
                    .map(|d| d.value.get().len() + d.collection.len() + d.id.len() + 64)
                    .sum::<usize>()
                    + ENVELOPE
            }
            CatchUp::Events { events, .. } => {
                events.iter().map(|e| e.0.get().len() + 1).sum::<usize>() + ENVELOPE
            }
            CatchUp::UpToDate { .. } => ENVELOPE,
        }
    }

    pub fn epoch(&self) -> &str {
        match self {
            CatchUp::Snapshot { epoch, .. }
            | CatchUp::Events { epoch, .. }
            | CatchUp::UpToDate { epoch, .. } => epoch,
        }
    }
    /// The version the client holds after applying this answer.
    pub fn version(&self) -> u64 {
        match self {
            CatchUp::Snapshot { version, .. } | CatchUp::UpToDate { version, .. } => *version,
            CatchUp::Events { to, .. } => *to,
        }
    }
}

/// `POST /v1/sync` request.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct SyncRequest {
    /// 1 to 128 bytes of printable ASCII ([`check_client_id`]).
    #[schemars(regex(pattern = r"^[!-~]{1,128}$"))]
    pub client_id: String,
    #[serde(default)]
    pub cursors: BTreeMap<String, Option<Cursor>>,
    #[serde(default)]
    pub mutations: Vec<Mutation>,
}

/// `POST /v1/sync` response; `spaces` is keyed by the real space name.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SyncResponse {
    pub results: Vec<MutationResult>,
    pub spaces: BTreeMap<String, CatchUp>,
}

/// `GET /v1/spaces/{space}/version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VersionInfo {
    pub space: String,
    pub epoch: String,
    pub version: u64,
}

/// `GET /v1/spaces/{space}/state`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SpaceState {
    pub space: String,
    pub epoch: String,
    pub version: u64,
    pub docs: Vec<RawDoc>,
}

/// Every HTTP error body: `{"error":{"code","message"}}`, built by the
/// HTTP edge from this type only.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// On a conflict: the document as it is now (absent when it was deleted
    /// or never existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Doc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `bad_request`, `unauthorized`, `forbidden`,
    /// `not_found`, `conflict`, `invalid`, `too_large`, `rate_limited`,
    /// `unavailable`, `store_unavailable`, `too_many_connections`, ...
    pub code: String,
    /// For people; never carries a secret or an internal cause.
    pub message: String,
    /// On `invalid`: the offending field of the request body, as a path
    /// (`providers[0].enabledModels[1]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}
