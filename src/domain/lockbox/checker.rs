//! Checks a key live against its provider's API (seed 004's
//! `validateApiKey`): one authenticated, read-only `GET` with a short
//! timeout, its answer mapped to `UNAUTHORIZED`, `QUOTA_EXCEEDED` or
//! `NETWORK_ERROR`.
//!
//! The key travels only in a header marked sensitive (hyper leaves it out of
//! its debug output); redirects are not followed, so no other host ever sees
//! it; failures are described by status or error kind, never by echoing the
//! request.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use super::settings::LockboxArgs;
use super::{ApiKey, ApiKeyErrorCode, Provider};

/// Why a key did not pass the live check; the message never quotes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    pub code: ApiKeyErrorCode,
    pub message: String,
}

/// HTTP client and per-provider base URLs for live checks.
pub struct KeyChecker {
    client: reqwest::Client,
    base_urls: Vec<(Provider, String)>,
    timeout: Duration,
}

impl KeyChecker {
    pub fn new(args: &LockboxArgs) -> Result<Self, String> {
        let timeout = args.key_check_timeout();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client for key checks: {e}"))?;
        Ok(KeyChecker {
            client,
            base_urls: Provider::ALL
                .into_iter()
                .map(|p| (p, args.base_url(p)))
                .collect(),
            timeout,
        })
    }

    fn base_url(&self, provider: Provider) -> &str {
        self.base_urls
            .iter()
            .find(|(p, _)| *p == provider)
            .map(|(_, url)| url.as_str())
            .unwrap_or(provider.default_base_url())
    }

    /// Asks the provider whether it accepts `key`.
    pub async fn check(&self, provider: Provider, key: &ApiKey) -> Result<(), CheckFailure> {
        let name = provider.display_name();
        let base = self.base_url(provider);
        let (path, header, value) = match provider {
            Provider::OpenAi => ("/models", AUTHORIZATION, bearer(key)),
            Provider::Anthropic => (
                "/v1/models",
                HeaderName::from_static("x-api-key"),
                plain(key),
            ),
            Provider::OpenRouter => ("/key", AUTHORIZATION, bearer(key)),
        };
        let Some(value) = value else {
            return Err(CheckFailure {
                code: ApiKeyErrorCode::InvalidFormat,
                message: format!("{name} API key cannot be sent in an HTTP header"),
            });
        };
        let mut request = self
            .client
            .get(format!("{base}{path}"))
            .header(header, value);
        if provider == Provider::Anthropic {
            request = request.header("anthropic-version", "2023-06-01");
        }
        let outcome = request.send().await;
        let result = match outcome {
            Ok(response) => map_status(provider, response.status().as_u16()),
            Err(e) => Err(network_failure(provider, &e, self.timeout)),
        };
        tracing::debug!(
            provider = provider.as_str(),
            outcome = result.as_ref().map_or_else(|f| f.code.as_str(), |()| "OK"),
            "live api key check"
        );
        result
    }
}

/// `Bearer <key>`, built in a buffer zeroed on drop, marked sensitive.
fn bearer(key: &ApiKey) -> Option<HeaderValue> {
    let mut text = Zeroizing::new(String::with_capacity(7 + key.expose_secret().len()));
    text.push_str("Bearer ");
    text.push_str(key.expose_secret());
    sensitive(&text)
}

fn plain(key: &ApiKey) -> Option<HeaderValue> {
    sensitive(key.expose_secret())
}

fn sensitive(text: &str) -> Option<HeaderValue> {
    // The error would say nothing about the text, but it is dropped anyway.
    let mut value = HeaderValue::from_str(text).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// 2xx accepts the key; 401/403 reject it; 429 is quota or rate limit;
/// anything else means the check could not be made.
pub fn map_status(provider: Provider, status: u16) -> Result<(), CheckFailure> {
    let name = provider.display_name();
    let (code, message) = match status {
        200..=299 => return Ok(()),
        401 | 403 => (
            ApiKeyErrorCode::Unauthorized,
            format!("{name} rejected this API key (HTTP {status})"),
        ),
        429 => (
            ApiKeyErrorCode::QuotaExceeded,
            format!("{name} says this key is over its quota or rate limit (HTTP 429)"),
        ),
        500..=599 => (
            ApiKeyErrorCode::NetworkError,
            format!("{name} answered HTTP {status}; try again later"),
        ),
        _ => (
            ApiKeyErrorCode::NetworkError,
            format!(
                "{name} answered HTTP {status}, which says nothing about the key; check {}",
                provider.base_url_env()
            ),
        ),
    };
    Err(CheckFailure { code, message })
}

fn network_failure(provider: Provider, e: &reqwest::Error, timeout: Duration) -> CheckFailure {
    let name = provider.display_name();
    let message = if e.is_timeout() {
        format!(
            "no answer from {name} within {} ms; try again later",
            timeout.as_millis()
        )
    } else if e.is_connect() {
        format!(
            "could not connect to {name}; check the network or {}",
            provider.base_url_env()
        )
    } else {
        format!("the request to {name} failed before an answer arrived")
    };
    CheckFailure {
        code: ApiKeyErrorCode::NetworkError,
        message,
    }
}
