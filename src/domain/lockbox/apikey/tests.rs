use secrecy::{ExposeSecret, SecretString};

use super::*;

fn body(len: usize) -> String {
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
    (0..len)
        .map(|i| char::from(alphabet[(i * 7 + 3) % alphabet.len()]))
        .collect()
}

fn openai_legacy() -> String {
    format!("sk-{}", body(48))
}

fn openai_project() -> String {
    format!("sk-proj-{}", body(156))
}

fn anthropic() -> String {
    format!("sk-ant-api03-{}AA", body(93))
}

fn openrouter() -> String {
    format!("sk-or-v1-{}", "0123456789abcdef".repeat(4))
}

fn parse(provider: Provider, key: &str) -> Result<ApiKey, LockboxError> {
    ApiKey::parse(provider, SecretString::from(key))
}

#[test]
fn provider_names_round_trip() {
    for provider in Provider::ALL {
        assert_eq!(Provider::parse(provider.as_str()).unwrap(), provider);
        assert_eq!(provider.to_string().parse::<Provider>().unwrap(), provider);
        let json = serde_json::to_string(&provider).unwrap();
        assert_eq!(json, format!("\"{}\"", provider.as_str()));
        assert_eq!(serde_json::from_str::<Provider>(&json).unwrap(), provider);
    }
    assert_eq!(Provider::OpenAi.as_str(), "openai");
    assert_eq!(Provider::Anthropic.as_str(), "anthropic");
    assert_eq!(Provider::OpenRouter.as_str(), "openrouter");
}

#[test]
fn unknown_provider_is_rejected() {
    for name in ["", "OpenAI", "open_ai", "google", " openai"] {
        let err = Provider::parse(name).unwrap_err();
        assert!(matches!(err, LockboxError::UnknownProvider));
        assert_eq!(err.code(), "UNKNOWN_PROVIDER");
    }
}

#[test]
fn providers_name_their_environment_variables_and_default_urls() {
    let table = [
        (
            Provider::OpenAi,
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "https://api.openai.com/v1",
        ),
        (
            Provider::Anthropic,
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_BASE_URL",
            "https://api.anthropic.com",
        ),
        (
            Provider::OpenRouter,
            "OPENROUTER_API_KEY",
            "OPENROUTER_BASE_URL",
            "https://openrouter.ai/api/v1",
        ),
    ];
    for (provider, key_env, url_env, url) in table {
        assert_eq!(provider.api_key_env(), key_env);
        assert_eq!(provider.base_url_env(), url_env);
        assert_eq!(provider.default_base_url(), url);
    }
}

#[test]
fn well_formed_keys_are_accepted() {
    let table = [
        (Provider::OpenAi, openai_legacy()),
        (Provider::OpenAi, openai_project()),
        (Provider::OpenAi, format!("sk-svcacct-{}", body(60))),
        (Provider::Anthropic, anthropic()),
        (Provider::OpenRouter, openrouter()),
    ];
    for (provider, key) in table {
        let parsed = parse(provider, &key).unwrap_or_else(|e| panic!("{provider} rejected: {e}"));
        assert_eq!(parsed.expose_secret(), key);
    }
}

#[test]
fn surrounding_whitespace_is_dropped() {
    let key = anthropic();
    let parsed = parse(Provider::Anthropic, &format!("  {key}\n")).unwrap();
    assert_eq!(parsed.expose_secret(), key);
}

#[test]
fn malformed_keys_are_rejected_with_a_clear_message() {
    use Provider::*;
    let table: Vec<(Provider, String, &str)> = vec![
        (OpenAi, String::new(), "is empty"),
        (OpenAi, "   ".into(), "is empty"),
        (OpenAi, format!("pk-{}", body(48)), "start with \"sk-\""),
        (
            OpenAi,
            format!("Bearer {}", openai_legacy()),
            "start with \"sk-\"",
        ),
        (OpenAi, anthropic(), "looks like an Anthropic API key"),
        (OpenAi, openrouter(), "looks like an OpenRouter API key"),
        (
            OpenAi,
            "sk-short1234".into(),
            "40 to 256 characters long, got 12",
        ),
        (OpenAi, format!("sk-{}", body(300)), "got 303"),
        (
            OpenAi,
            format!("sk-{} {}", body(20), body(20)),
            "position 24",
        ),
        (
            OpenAi,
            format!("sk-{}é{}", body(20), body(20)),
            "character other than",
        ),
        (
            Anthropic,
            openai_legacy(),
            "start with \"sk-ant-\"; this looks like an OpenAI",
        ),
        (Anthropic, openrouter(), "this looks like an OpenRouter"),
        (Anthropic, format!("sk-ant-{}", body(10)), "got 17"),
        (
            Anthropic,
            format!("sk-ant-api03-{}+{}", body(40), body(40)),
            "character other than",
        ),
        (
            Anthropic,
            format!("sk-ant-api03-{}.{}", body(40), body(40)),
            "position 54",
        ),
        (
            OpenRouter,
            openai_project(),
            "start with \"sk-or-\"; this looks like an OpenAI",
        ),
        (OpenRouter, anthropic(), "this looks like an Anthropic"),
        (OpenRouter, "sk-or-v1-abc".into(), "got 12"),
        (
            OpenRouter,
            format!("sk-or-v1-{}/", body(64)),
            "character other than",
        ),
    ];
    for (provider, key, expected) in table {
        let err = parse(provider, &key).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(expected), "{provider} {key:?}: {message}");
        assert!(message.contains(provider.display_name()) || message.contains("looks like"));
        assert!(
            matches!(err, LockboxError::InvalidFormat { provider: p, .. } if p == provider),
            "{err:?}"
        );
        assert_eq!(err.code(), "INVALID_FORMAT");
        let shown = format!("{err} {err:?}");
        if key.trim().len() >= 8 {
            assert!(!shown.contains(key.trim()), "key leaked: {shown}");
            // Not even a recognisable chunk of the key's body.
            let tail = &key.trim()[key.trim().len() - 8..];
            assert!(!shown.contains(tail), "key tail leaked: {shown}");
        }
    }
}

#[test]
fn length_bounds_are_inclusive() {
    let min = format!("sk-or-{}", body(34));
    let max = format!("sk-or-{}", body(250));
    assert_eq!((min.len(), max.len()), (40, 256));
    assert!(parse(Provider::OpenRouter, &min).is_ok());
    assert!(parse(Provider::OpenRouter, &max).is_ok());
    assert!(parse(Provider::OpenRouter, &min[..39]).is_err());
    assert!(parse(Provider::OpenRouter, &format!("{max}x")).is_err());
}

#[test]
fn last4_and_mask_show_only_the_tail() {
    let key = format!("sk-or-v1-{}1a2b", "0".repeat(60));
    let parsed = parse(Provider::OpenRouter, &key).unwrap();
    assert_eq!(parsed.last4().as_deref(), Some("1a2b"));
    assert_eq!(parsed.mask(), "****1a2b");
    assert_eq!(parsed.to_string(), "****1a2b");
    assert_eq!(format!("{parsed:?}"), "ApiKey(****1a2b)");
}

#[test]
fn short_unchecked_keys_reveal_nothing() {
    let short = ApiKey::from_secret(SecretString::from("abc12345"));
    assert_eq!(short.last4(), None);
    assert_eq!(short.mask(), "****");
    assert_eq!(format!("{short:?}"), "ApiKey(****)");
    assert_eq!(short.expose_secret(), "abc12345");
}

#[test]
fn formatting_an_api_key_never_shows_it() {
    for (provider, key) in [
        (Provider::OpenAi, openai_project()),
        (Provider::Anthropic, anthropic()),
        (Provider::OpenRouter, openrouter()),
    ] {
        let parsed = parse(provider, &key).unwrap();
        let shown = format!(
            "{parsed} {parsed:?} {parsed:#?} {:?} {:?}",
            parsed.as_secret(),
            Some(&parsed)
        );
        assert!(!shown.contains(&key), "{shown}");
        assert!(!shown.contains(&key[..12]), "{shown}");
    }
}

#[test]
fn seed_004_error_codes_are_spelled_as_in_the_seed() {
    use ApiKeyErrorCode::*;
    for (code, text) in [
        (InvalidFormat, "INVALID_FORMAT"),
        (Unauthorized, "UNAUTHORIZED"),
        (QuotaExceeded, "QUOTA_EXCEEDED"),
        (NetworkError, "NETWORK_ERROR"),
    ] {
        assert_eq!(code.as_str(), text);
        assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{text}\""));
    }
}
