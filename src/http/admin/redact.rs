//! What the inspector may show of an event's value. Values of the
//! secret-bearing collections are never shown; in every other collection,
//! fields named like a credential and strings shaped like one are masked.
//!
//! Secret-bearing collections:
//! - `lockbox` ([`LOCKBOX_COLLECTION`]): the server-written view of a
//!   user's stored API key (`last4`, its source). The key itself and its
//!   ciphertext live in the lockbox table (`domain::lockbox::store`), which
//!   the inspector never reads.
//! - any collection whose name has a word such as `secret`, `key(s)`,
//!   `token(s)`, `password`, `credential(s)`, `cipher`, `sealed` or
//!   `lockbox` (`api_keys`, `oauth_tokens`, ...): a collection a client
//!   invents for such data is treated as one.

use serde_json::Value;

use crate::domain::lockbox::LOCKBOX_COLLECTION;

/// What a masked string becomes.
pub const MASK: &str = "[redacted]";

/// Collections whose values are never shown.
pub const SECRET_COLLECTIONS: &[&str] = &[LOCKBOX_COLLECTION];

/// Words that make a collection secret-bearing.
const SECRET_COLLECTION_WORDS: &[&str] = &[
    "secret",
    "secrets",
    "key",
    "keys",
    "apikey",
    "apikeys",
    "token",
    "tokens",
    "password",
    "passwords",
    "credential",
    "credentials",
    "cipher",
    "ciphertext",
    "sealed",
    "lockbox",
];

/// Words that make a field a credential wherever it appears.
const SECRET_FIELD_WORDS: &[&str] = &[
    "secret",
    "password",
    "passwd",
    "token",
    "apikey",
    "ciphertext",
    "sealed",
    "credential",
    "credentials",
    "authorization",
    "nonce",
];

/// Whether every value of `collection` is withheld.
pub fn secret_collection(collection: &str) -> bool {
    SECRET_COLLECTIONS.contains(&collection)
        || words(collection).any(|w| SECRET_COLLECTION_WORDS.contains(&w.as_str()))
}

/// The value as the inspector shows it, and whether anything was withheld.
pub fn redact(collection: &str, value: Value) -> (Value, bool) {
    if secret_collection(collection) {
        let withheld = !value.is_null();
        return (Value::Null, withheld);
    }
    let mut v = value;
    let masked = mask(&mut v);
    (v, masked)
}

/// Masks credential-named fields and credential-shaped strings in place.
fn mask(v: &mut Value) -> bool {
    match v {
        Value::String(s) if looks_secret(s) => {
            *s = MASK.to_string();
            true
        }
        Value::Array(items) => items.iter_mut().fold(false, |any, x| mask(x) | any),
        Value::Object(m) => {
            let mut any = false;
            for (k, x) in m.iter_mut() {
                // A flag (`apiKeyConfigured: true`) holds no secret.
                if secret_field(k) && !x.is_null() && !x.is_boolean() {
                    *x = Value::String(MASK.into());
                    any = true;
                } else {
                    any |= mask(x);
                }
            }
            any
        }
        _ => false,
    }
}

/// `api_key`, `apiKey`, `access_token`, `client_secret`, `password`, ...
/// (not `max_tokens` or `key_version`).
fn secret_field(name: &str) -> bool {
    let w: Vec<String> = words(name).collect();
    w.iter().any(|x| SECRET_FIELD_WORDS.contains(&x.as_str()))
        || w.windows(2)
            .any(|p| matches!(p[0].as_str(), "api" | "private" | "secret") && p[1] == "key")
        || (w.len() == 1 && w[0] == "key")
}

/// Strings shaped like an API key (`sk-...`), a sealed lockbox value
/// (`v1.` followed by base64), a JWT or a bearer header.
fn looks_secret(s: &str) -> bool {
    let long = s.len() >= 20;
    let lower = s.get(..7).unwrap_or("").to_ascii_lowercase();
    (long && (s.starts_with("sk-") || s.starts_with("sk_")))
        || (long && s.starts_with("v1.") && !s.contains(' '))
        || (s.starts_with("eyJ") && s.matches('.').count() == 2)
        || lower == "bearer "
}

/// Lower-case words of an identifier: split at `_`, `-`, `.`, spaces and
/// lower-to-upper case changes (`apiKey` -> `api`, `key`).
fn words(name: &str) -> impl Iterator<Item = String> + '_ {
    let mut out = vec![];
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_collections_show_nothing() {
        for c in [
            "lockbox",
            "api_keys",
            "oauthTokens",
            "user-secrets",
            "sealed",
        ] {
            let (v, r) = redact(c, json!({"last4": "1a2b", "configured": true}));
            assert_eq!((v, r), (Value::Null, true), "{c}");
        }
        // A deletion (no value) withholds nothing.
        assert_eq!(redact("lockbox", Value::Null), (Value::Null, false));
        for c in [
            "settings",
            "model_preferences",
            "messages",
            "keyboard_layouts",
        ] {
            assert!(!secret_collection(c), "{c}");
        }
    }

    #[test]
    fn credential_fields_and_shapes_are_masked_elsewhere() {
        let (v, r) = redact(
            "settings",
            json!({
                "theme": "dark", "apiKey": "abc", "nested": [{"client_secret": "x", "max_tokens": 5}],
                "note": "sk-proj-0123456789abcdefghij", "key_version": "k1", "sealed": "v1.AAAA",
                "jwt": "eyJhbGciOi.eyJzdWIi.sig", "auth": "Bearer abc", "apiKeyConfigured": true,
            }),
        );
        assert!(r);
        assert_eq!(
            v,
            json!({
                "theme": "dark", "apiKey": MASK, "nested": [{"client_secret": MASK, "max_tokens": 5}],
                "note": MASK, "key_version": "k1", "sealed": MASK,
                "jwt": MASK, "auth": MASK, "apiKeyConfigured": true,
            })
        );
        let plain = json!({"theme": "light", "model": "gpt-4o", "count": 3});
        assert_eq!(redact("settings", plain.clone()), (plain, false));
    }
}
