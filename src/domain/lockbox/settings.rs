//! Lockbox settings, flattened into `tidemark serve`'s flags. Secret values
//! are `SecretString`s from the moment clap reads them, and hidden from
//! `--help` (`hide_env_values`); `Debug` prints whether each one is set.

use std::fmt;
use std::time::Duration;

use clap::Args;
use secrecy::SecretString;

use super::Provider;

fn secret(s: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(s))
}

#[derive(Args, Clone)]
pub struct LockboxArgs {
    /// Lockbox master keys, `kid:base64key[,kid:base64key...]`: the first
    /// encrypts, all decrypt. Without them the lockbox answers 503. Generate
    /// one with `tidemark keygen`. Prefer the variable to the flag.
    #[arg(global = true, long, env = "TIDEMARK_MASTER_KEYS", hide_env_values = true, value_parser = secret)]
    pub master_keys: Option<SecretString>,
    /// Server-wide OpenAI key, used when a user has none (`source: env`).
    #[arg(global = true, long, env = "OPENAI_API_KEY", hide = true, hide_env_values = true, value_parser = secret)]
    pub openai_api_key: Option<SecretString>,
    /// Server-wide Anthropic key, used when a user has none (`source: env`).
    #[arg(global = true, long, env = "ANTHROPIC_API_KEY", hide = true, hide_env_values = true, value_parser = secret)]
    pub anthropic_api_key: Option<SecretString>,
    /// Server-wide OpenRouter key, used when a user has none (`source: env`).
    #[arg(global = true, long, env = "OPENROUTER_API_KEY", hide = true, hide_env_values = true, value_parser = secret)]
    pub openrouter_api_key: Option<SecretString>,
    /// OpenAI API base URL for key checks (default https://api.openai.com/v1).
    #[arg(global = true, long, env = "OPENAI_BASE_URL")]
    pub openai_base_url: Option<String>,
    /// Anthropic API base URL for key checks (default https://api.anthropic.com).
    #[arg(global = true, long, env = "ANTHROPIC_BASE_URL")]
    pub anthropic_base_url: Option<String>,
    /// OpenRouter API base URL for key checks (default https://openrouter.ai/api/v1).
    #[arg(global = true, long, env = "OPENROUTER_BASE_URL")]
    pub openrouter_base_url: Option<String>,
    /// How long a live key check waits for the provider, milliseconds.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_KEY_CHECK_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub key_check_timeout_ms: u64,
}

impl LockboxArgs {
    /// The server-wide key variable's value for `provider`, if set.
    pub fn env_key(&self, provider: Provider) -> Option<&SecretString> {
        match provider {
            Provider::OpenAi => self.openai_api_key.as_ref(),
            Provider::Anthropic => self.anthropic_api_key.as_ref(),
            Provider::OpenRouter => self.openrouter_api_key.as_ref(),
        }
    }

    /// Base URL for `provider`'s API, without a trailing slash.
    pub fn base_url(&self, provider: Provider) -> String {
        let set = match provider {
            Provider::OpenAi => self.openai_base_url.as_deref(),
            Provider::Anthropic => self.anthropic_base_url.as_deref(),
            Provider::OpenRouter => self.openrouter_base_url.as_deref(),
        };
        set.filter(|s| !s.trim().is_empty())
            .unwrap_or(provider.default_base_url())
            .trim()
            .trim_end_matches('/')
            .to_string()
    }

    pub fn key_check_timeout(&self) -> Duration {
        Duration::from_millis(self.key_check_timeout_ms.max(1))
    }
}

impl fmt::Debug for LockboxArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |s: &Option<SecretString>| if s.is_some() { "set" } else { "unset" };
        f.debug_struct("LockboxArgs")
            .field("master_keys", &set(&self.master_keys))
            .field("openai_api_key", &set(&self.openai_api_key))
            .field("anthropic_api_key", &set(&self.anthropic_api_key))
            .field("openrouter_api_key", &set(&self.openrouter_api_key))
            .field("openai_base_url", &self.openai_base_url)
            .field("anthropic_base_url", &self.anthropic_base_url)
            .field("openrouter_base_url", &self.openrouter_base_url)
            .field("key_check_timeout_ms", &self.key_check_timeout_ms)
            .finish()
    }
}
