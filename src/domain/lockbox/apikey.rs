//! Providers, their environment variables, and the [`ApiKey`] secret with
//! per-provider format checks (seed 004's `INVALID_FORMAT`).

use std::fmt;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::LockboxError;

/// A model provider whose API key a user can store.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    OpenAi,
    Anthropic,
    OpenRouter,
}

impl Provider {
    /// Every provider, in a stable order.
    pub const ALL: [Provider; 3] = [Provider::OpenAi, Provider::Anthropic, Provider::OpenRouter];

    /// Parses the wire name (`openai`, `anthropic`, `openrouter`), exactly.
    pub fn parse(name: &str) -> Result<Self, LockboxError> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or(LockboxError::UnknownProvider)
    }

    /// The wire name, also used in collection ids (`lockbox/openai`).
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::OpenRouter => "openrouter",
        }
    }

    /// The name people know it by, for messages.
    pub fn display_name(self) -> &'static str {
        match self {
            Provider::OpenAi => "OpenAI",
            Provider::Anthropic => "Anthropic",
            Provider::OpenRouter => "OpenRouter",
        }
    }

    /// Server-wide fallback key (`source: env`).
    pub fn api_key_env(self) -> &'static str {
        match self {
            Provider::OpenAi => "OPENAI_API_KEY",
            Provider::Anthropic => "ANTHROPIC_API_KEY",
            Provider::OpenRouter => "OPENROUTER_API_KEY",
        }
    }

    /// Variable overriding the API base URL (tests point it at a fake).
    pub fn base_url_env(self) -> &'static str {
        match self {
            Provider::OpenAi => "OPENAI_BASE_URL",
            Provider::Anthropic => "ANTHROPIC_BASE_URL",
            Provider::OpenRouter => "OPENROUTER_BASE_URL",
        }
    }

    /// The base URL the official SDKs use when the variable is unset.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Provider::OpenAi => "https://api.openai.com/v1",
            Provider::Anthropic => "https://api.anthropic.com",
            Provider::OpenRouter => "https://openrouter.ai/api/v1",
        }
    }

    fn key_rules(self) -> KeyRules {
        match self {
            Provider::OpenAi => KeyRules {
                prefix: "sk-",
                min_len: 40,
                max_len: 256,
            },
            Provider::Anthropic => KeyRules {
                prefix: "sk-ant-",
                min_len: 40,
                max_len: 256,
            },
            Provider::OpenRouter => KeyRules {
                prefix: "sk-or-",
                min_len: 40,
                max_len: 256,
            },
        }
    }
}

impl FromStr for Provider {
    type Err = LockboxError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

struct KeyRules {
    prefix: &'static str,
    min_len: usize,
    max_len: usize,
}

/// Seed 004's API key error codes. Only `InvalidFormat` is decided here; the
/// others come from checking a key live against the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApiKeyErrorCode {
    InvalidFormat,
    Unauthorized,
    QuotaExceeded,
    NetworkError,
}

impl ApiKeyErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyErrorCode::InvalidFormat => "INVALID_FORMAT",
            ApiKeyErrorCode::Unauthorized => "UNAUTHORIZED",
            ApiKeyErrorCode::QuotaExceeded => "QUOTA_EXCEEDED",
            ApiKeyErrorCode::NetworkError => "NETWORK_ERROR",
        }
    }
}

/// Below this length `last4` reveals nothing: four characters would be too
/// large a share of the key.
const MIN_LEN_FOR_LAST4: usize = 16;

/// A provider API key. `Debug` and `Display` print a mask such as `****1a2b`;
/// the key itself is reachable only through [`ExposeSecret`].
#[derive(Clone)]
pub struct ApiKey(SecretString);

impl ApiKey {
    /// Checks `raw` against `provider`'s key format. Surrounding whitespace
    /// (a pasted newline) is dropped. The error message never quotes the key.
    pub fn parse(provider: Provider, raw: SecretString) -> Result<Self, LockboxError> {
        let key = raw.expose_secret().trim();
        if let Some(message) = format_problem(provider, key) {
            return Err(LockboxError::InvalidFormat { provider, message });
        }
        if key.len() == raw.expose_secret().len() {
            Ok(ApiKey(raw))
        } else {
            Ok(ApiKey(SecretString::from(key)))
        }
    }

    /// Wraps a key without checking it: a key decrypted from the lockbox
    /// (checked when stored) or one from the server's environment.
    pub fn from_secret(secret: SecretString) -> Self {
        ApiKey(secret)
    }

    /// The last four characters, for "ends in 1a2b"; `None` when the key is
    /// too short for that to be safe.
    pub fn last4(&self) -> Option<String> {
        let key = self.0.expose_secret();
        if key.chars().count() < MIN_LEN_FOR_LAST4 {
            return None;
        }
        let mut tail: Vec<char> = key.chars().rev().take(4).collect();
        tail.reverse();
        Some(tail.into_iter().collect())
    }

    /// `****` followed by [`ApiKey::last4`] when there is one.
    pub fn mask(&self) -> String {
        format!("****{}", self.last4().unwrap_or_default())
    }

    /// The secret, e.g. to seal it.
    pub fn as_secret(&self) -> &SecretString {
        &self.0
    }
}

impl ExposeSecret<str> for ApiKey {
    fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.mask())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.mask())
    }
}

/// What is wrong with `key` for `provider`, in words that never quote it.
fn format_problem(provider: Provider, key: &str) -> Option<String> {
    let name = provider.display_name();
    let rules = provider.key_rules();
    if key.is_empty() {
        return Some(format!("{name} API key is empty"));
    }
    match key_owner(key) {
        None => return Some(format!("{name} API keys start with \"{}\"", rules.prefix)),
        Some(owner) if owner == provider => {}
        Some(owner) if key.starts_with(rules.prefix) => {
            return Some(format!(
                "this looks like an {} API key, not an {name} one",
                owner.display_name()
            ));
        }
        Some(owner) => {
            return Some(format!(
                "{name} API keys start with \"{}\"; this looks like an {} API key",
                rules.prefix,
                owner.display_name()
            ));
        }
    }
    if let Some(index) = key
        .chars()
        .position(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        return Some(format!(
            "{name} API key contains a character other than A-Z, a-z, 0-9, '-' or '_' (at position {})",
            index + 1
        ));
    }
    // All ASCII from here on, so bytes are characters.
    let len = key.len();
    if len < rules.min_len || len > rules.max_len {
        return Some(format!(
            "{name} API key must be {} to {} characters long, got {len}",
            rules.min_len, rules.max_len
        ));
    }
    None
}

/// The provider whose prefix is the longest one `key` starts with
/// (`sk-ant-...` is Anthropic's even though it also starts with `sk-`).
fn key_owner(key: &str) -> Option<Provider> {
    Provider::ALL
        .into_iter()
        .filter(|p| key.starts_with(p.key_rules().prefix))
        .max_by_key(|p| p.key_rules().prefix.len())
}

#[cfg(test)]
mod tests;
