//! `settings/ui` (seed 002): theme, language and a free-form preferences
//! object, merged field by field (the engine's `patch`).

use serde_json::{Value, json};

use super::check::{self, Checked, FieldError};

pub const COLLECTION: &str = "settings";
pub const ID: &str = "ui";
pub const THEMES: [&str; 3] = ["light", "dark", "system"];
const KNOWN: [&str; 3] = ["theme", "language", "preferences"];

/// What a user who never changed anything sees (seed 002's column defaults).
pub fn defaults() -> Value {
    json!({"theme": "light", "language": "en", "preferences": {}})
}

/// The stored document over the defaults.
pub fn effective(stored: Option<&Value>) -> Value {
    let mut out = defaults();
    if let Some(v) = stored {
        crate::engine::merge_patch(&mut out, v);
    }
    out
}

pub fn validate(v: &Value) -> Checked<()> {
    let m = check::object(v)?;
    check::only_known(m, &KNOWN).map_err(|e| {
        FieldError::new(
            e.field,
            "is not a known setting: use theme, language, or put it in preferences",
        )
    })?;
    check::one_of(m, "theme", &THEMES, false)?;
    if let Some(tag) = check::string(m, "language", false)?
        && !is_language_tag(tag)
    {
        return Err(FieldError::new(
            "language",
            format!(
                "must be a BCP 47 language tag such as en, pt-BR or zh-Hant-TW (got \"{tag}\")"
            ),
        ));
    }
    check::obj(m, "preferences", false)?;
    Ok(())
}

/// A syntactic BCP 47 check: a 2-3 or 5-8 letter language subtag (or the
/// private-use `x-...`), then 1-8 character alphanumeric subtags, at most 35
/// characters in all.
pub fn is_language_tag(tag: &str) -> bool {
    if tag.is_empty() || tag.len() > 35 {
        return false;
    }
    let mut parts = tag.split('-');
    let Some(first) = parts.next() else {
        return false;
    };
    let alpha = |s: &str| s.bytes().all(|b| b.is_ascii_alphabetic());
    let first_ok = (alpha(first) && matches!(first.len(), 2 | 3 | 5..=8))
        || first.eq_ignore_ascii_case("x")
        || first.eq_ignore_ascii_case("i");
    first_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags() {
        for ok in [
            "en",
            "en-US",
            "pt-BR",
            "zh-Hant-TW",
            "de-CH-1996",
            "sr-Latn",
            "x-klingon",
        ] {
            assert!(is_language_tag(ok), "{ok}");
        }
        for bad in [
            "",
            "e",
            "english-",
            "en_US",
            "en--US",
            "toolongsubtag-x",
            "1en",
        ] {
            assert!(!is_language_tag(bad), "{bad}");
        }
    }

    #[test]
    fn settings_are_checked_by_field() {
        assert!(validate(&json!({"theme": "dark", "language": "de"})).is_ok());
        assert!(validate(&json!({})).is_ok());
        assert_eq!(
            validate(&json!({"theme": "neon"})).unwrap_err().field,
            "theme"
        );
        assert_eq!(validate(&json!({"lang": "en"})).unwrap_err().field, "lang");
        assert_eq!(
            validate(&json!({"preferences": []})).unwrap_err().field,
            "preferences"
        );
    }
}
