//! The domain documents as stored (README, "Seed features"). These types document the
//! shapes (their JSON Schemas are in `proto-schema/domain-*.json`); the checks
//! that guard every write, whatever the transport, are in [`super::validate`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `settings/ui` in a user's space (seed 002). Every field is optional: a
/// missing one reads as its default (`light`, `en`, `{}`). Edit it with
/// `patch` so two tabs changing different fields both keep their change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UiSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<Theme>,
    /// A BCP 47 language tag (`en`, `pt-BR`, `zh-Hant-TW`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Free-form settings of the application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferences: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    Light,
    Dark,
    System,
}

/// `model_preferences/{provider}` in a user's space (seed 000). Model ids are
/// kept exactly as given (`gpt-4` for OpenAI, `openai/gpt-4` for OpenRouter).
/// Whether an API key is configured is not stored here: it is read from
/// `lockbox/{provider}` or the server's environment when answering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelPreference {
    pub enabled_models: Vec<String>,
    pub is_enabled: bool,
    /// RFC 3339 time of the last change, set by `PUT /api/user/model-preferences`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
}

/// `providers/{id}` in the `catalog` space (seed 001).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderDoc {
    /// Equal to the document id.
    pub id: String,
    pub display_name: String,
    pub status: ProviderStatus,
    pub enabled: bool,
    /// Provider to suggest while this one is unavailable.
    #[serde(default)]
    pub fallback_provider_id: Option<String>,
    /// Model used when a requested one is unknown.
    #[serde(default)]
    pub default_model_id: Option<String>,
    /// Probed by the server's health task; its answer sets `status`.
    #[serde(default)]
    pub health_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderStatus {
    Available,
    Degraded,
    Unavailable,
    /// No health probe has answered yet (the shipped catalog starts here).
    Unknown,
    /// The server could not reach the network to probe it; says nothing
    /// about the provider and blocks nothing.
    Unreachable,
}

impl ProviderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderStatus::Available => "available",
            ProviderStatus::Degraded => "degraded",
            ProviderStatus::Unavailable => "unavailable",
            ProviderStatus::Unknown => "unknown",
            ProviderStatus::Unreachable => "unreachable",
        }
    }
}

/// `models/{id}` in the `catalog` space (seed 001's `ModelSpecification`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelDoc {
    /// Equal to the document id, exactly as the provider names it.
    pub id: String,
    pub name: String,
    /// One line for people (seed 004's `description`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub provider_id: String,
    pub context_window: u64,
    pub max_input_tokens: u64,
    pub max_output_tokens: u64,
    pub supports_streaming: bool,
    pub supports_vision: bool,
    pub deprecation_status: DeprecationStatus,
    /// `2026-12-01` (or an RFC 3339 time).
    #[serde(default)]
    pub deprecation_date: Option<String>,
    #[serde(default)]
    pub sunset_date: Option<String>,
    #[serde(default)]
    pub replacement_model_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeprecationStatus {
    Active,
    Deprecated,
    Sunset,
}

/// `conversations/{id}` in a user's space (seed 003).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// As the client sent it (RFC 3339 string or epoch milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

/// `messages/{id}` in a user's space (seed 003). Failed messages
/// (`error: true`) are never stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageDoc {
    pub conversation_id: String,
    pub role: ChatRole,
    pub content: String,
    /// As the client sent it (RFC 3339 string or epoch milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    User,
    Assistant,
    System,
}

/// `usage_daily/{YYYY-MM-DD}` in a user's space, written only by the server in
/// the same mutation that first stores a message, so it counts each message
/// once (UTC day of first storage) and never a replay.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageDay {
    pub date: String,
    /// Messages with role `user`.
    pub messages_sent: u64,
    /// Messages with role `assistant`.
    pub messages_received: u64,
    pub tokens: u64,
}
