//! Field-by-field checks of JSON documents, with errors that name the field
//! (`providers[0].enabledModels[1]`), so a 422 tells the client what to fix.

use std::fmt;

use serde_json::{Map, Value};

/// What is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the offending field (`theme`, `enabled_models[2]`); empty for
    /// the document itself.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error under `prefix` (`providers[0]` + `isEnabled`).
    pub fn under(mut self, prefix: &str) -> Self {
        self.field = match (prefix.is_empty(), self.field.is_empty()) {
            (true, _) => self.field,
            (false, true) => prefix.to_string(),
            (false, false) if self.field.starts_with('[') => format!("{prefix}{}", self.field),
            (false, false) => format!("{prefix}.{}", self.field),
        };
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}` {}", self.field, self.message)
        }
    }
}

pub type Checked<T> = Result<T, FieldError>;

/// The document as an object.
pub fn object(v: &Value) -> Checked<&Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| FieldError::new("", "must be a JSON object"))
}

/// Refuses fields outside `known`.
pub fn only_known(m: &Map<String, Value>, known: &[&str]) -> Checked<()> {
    match m.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(FieldError::new(
            k.as_str(),
            format!("is not a known field (known: {})", known.join(", ")),
        )),
    }
}

/// A field's value; absent and `null` are `None`. Required ones must be present.
fn field<'a>(m: &'a Map<String, Value>, key: &str, required: bool) -> Checked<Option<&'a Value>> {
    match m.get(key) {
        Some(Value::Null) | None if required => Err(FieldError::new(key, "is required")),
        Some(Value::Null) | None => Ok(None),
        Some(v) => Ok(Some(v)),
    }
}

pub fn string<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    required: bool,
) -> Checked<Option<&'a str>> {
    match field(m, key, required)? {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(FieldError::new(key, "must be a string")),
    }
}

/// A string of 1 to `max` bytes.
pub fn text<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    required: bool,
    max: usize,
) -> Checked<Option<&'a str>> {
    let s = string(m, key, required)?;
    if let Some(s) = s
        && (s.is_empty() || s.len() > max)
    {
        return Err(FieldError::new(key, format!("must be 1 to {max} bytes")));
    }
    Ok(s)
}

pub fn boolean(m: &Map<String, Value>, key: &str, required: bool) -> Checked<Option<bool>> {
    match field(m, key, required)? {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(FieldError::new(key, "must be true or false")),
    }
}

pub fn uint(m: &Map<String, Value>, key: &str, required: bool) -> Checked<Option<u64>> {
    match field(m, key, required)? {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| FieldError::new(key, "must be a non-negative integer")),
    }
}

pub fn one_of<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    allowed: &[&str],
    required: bool,
) -> Checked<Option<&'a str>> {
    let s = string(m, key, required)?;
    match s {
        Some(s) if !allowed.contains(&s) => Err(FieldError::new(
            key,
            format!("must be one of {} (got \"{s}\")", allowed.join(", ")),
        )),
        _ => Ok(s),
    }
}

pub fn obj<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    required: bool,
) -> Checked<Option<&'a Map<String, Value>>> {
    match field(m, key, required)? {
        None => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(FieldError::new(key, "must be a JSON object")),
    }
}

/// A date (`2026-12-01`) or an RFC 3339 time (`2026-12-01T10:00:00Z`).
pub fn date(m: &Map<String, Value>, key: &str, required: bool) -> Checked<Option<i64>> {
    match string(m, key, required)? {
        None => Ok(None),
        Some(s) => super::dates::parse_day(s).map(Some).ok_or_else(|| {
            FieldError::new(key, "must be a date such as 2026-12-01 or an RFC 3339 time")
        }),
    }
}

/// An RFC 3339 UTC time (`2026-11-21T10:30:00Z`).
pub fn timestamp(m: &Map<String, Value>, key: &str, required: bool) -> Checked<Option<()>> {
    match string(m, key, required)? {
        None => Ok(None),
        Some(s) if humantime::parse_rfc3339(s).is_ok() => Ok(Some(())),
        Some(_) => Err(FieldError::new(
            key,
            "must be an RFC 3339 UTC time such as 2026-11-21T10:30:00Z",
        )),
    }
}

/// A list of distinct strings of 1 to `max_len` bytes, at most `max_items`.
pub fn string_list(
    m: &Map<String, Value>,
    key: &str,
    max_items: usize,
    max_len: usize,
) -> Checked<Vec<String>> {
    let Some(v) = field(m, key, true)? else {
        return Ok(vec![]);
    };
    let Value::Array(items) = v else {
        return Err(FieldError::new(key, "must be a list of strings"));
    };
    if items.len() > max_items {
        return Err(FieldError::new(
            key,
            format!("holds more than {max_items} items"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{key}[{i}]");
        let Value::String(s) = item else {
            return Err(FieldError::new(at, "must be a string"));
        };
        if s.is_empty() || s.len() > max_len {
            return Err(FieldError::new(at, format!("must be 1 to {max_len} bytes")));
        }
        if out.contains(s) {
            return Err(FieldError::new(at, format!("repeats \"{s}\"")));
        }
        out.push(s.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_field_and_nest() {
        let v = json!({"a": [1]});
        let m = object(&v).unwrap();
        let e = string_list(m, "a", 10, 10)
            .unwrap_err()
            .under("providers[0]");
        assert_eq!(e.field, "providers[0].a[0]");
        assert_eq!(e.to_string(), "`providers[0].a[0]` must be a string");
        let e = only_known(m, &["b"]).unwrap_err();
        assert_eq!(e.field, "a");
    }

    #[test]
    fn null_is_absent_for_optional_fields_only() {
        let v = json!({"x": null});
        let m = object(&v).unwrap();
        assert_eq!(string(m, "x", false).unwrap(), None);
        assert_eq!(string(m, "x", true).unwrap_err().message, "is required");
    }
}
