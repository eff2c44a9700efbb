//! The redacted view of a stored key: the `lockbox/{provider}` document in
//! the user's space (written by the server only) and the HTTP answers built
//! from it. Nothing here can hold key material: `last4` at most.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Provider;
use crate::engine::ChangeContext;

/// Collection of the redacted documents in a user's space.
pub const LOCKBOX_COLLECTION: &str = "lockbox";

/// Where a provider's key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeySource {
    /// The user's own key, sealed in the lockbox.
    Lockbox,
    /// The server's `{PROVIDER}_API_KEY` environment variable.
    Env,
}

/// `lockbox/{provider}` in `user:{id}`: "configured, ends in 1a2b".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LockboxDoc {
    /// A key is available for this provider (the user's or the server's).
    pub configured: bool,
    /// Last four characters of the user's key; always `null` for `env`.
    pub last4: Option<String>,
    /// `lockbox` when the user's key is used (or none is configured), `env`
    /// when only the server's key is.
    pub source: KeySource,
    /// When this view last changed, RFC 3339 UTC.
    pub updated_at: String,
}

impl LockboxDoc {
    /// Same state, ignoring when it was written.
    pub fn same_state(&self, other: &LockboxDoc) -> bool {
        self.configured == other.configured
            && self.last4 == other.last4
            && self.source == other.source
    }
}

/// One provider in `GET /v1/lockbox` and the answer of `PUT|DELETE
/// /v1/lockbox/{provider}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LockboxEntry {
    pub provider: Provider,
    #[serde(flatten)]
    pub doc: LockboxDoc,
    /// On `PUT ?validate=true`: the provider accepted the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validated: Option<bool>,
}

/// `GET /v1/lockbox`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LockboxList {
    /// Every provider, configured or not, in a stable order.
    pub providers: Vec<LockboxEntry>,
}

/// `POST /v1/lockbox/{provider}/validate` when the provider accepts the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ValidateResponse {
    pub provider: Provider,
    pub valid: bool,
    /// Which key was checked: the one in the request (`request`) or the
    /// stored one (`lockbox`).
    pub checked: CheckedKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckedKey {
    Request,
    Lockbox,
}

/// Engine validator for `lockbox/*`: clients may not write it (the server
/// does, through `PUT|DELETE /v1/lockbox/{provider}`), and server writes must
/// have the documented shape.
pub fn validate_lockbox_change(ctx: &ChangeContext<'_>) -> Result<(), String> {
    if ctx.collection != LOCKBOX_COLLECTION {
        return Ok(());
    }
    if !ctx.trusted {
        return Err(
            "lockbox/* is written by the server: use PUT or DELETE /v1/lockbox/{provider}".into(),
        );
    }
    if Provider::parse(ctx.id).is_err() {
        return Err("lockbox/{id}: id must be openai, anthropic or openrouter".into());
    }
    let Some(value) = ctx.value else {
        return Ok(());
    };
    let doc: LockboxDoc = serde_json::from_str(value.get())
        .map_err(|_| "lockbox/{provider} must be {configured, last4, source, updated_at}")?;
    let last4_ok = doc
        .last4
        .as_deref()
        .is_none_or(|l| l.chars().count() == 4 && doc.source == KeySource::Lockbox);
    if !last4_ok {
        return Err("lockbox/{provider}: last4 is four characters of a lockbox key or null".into());
    }
    Ok(())
}
