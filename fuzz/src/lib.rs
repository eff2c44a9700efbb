//! What the fuzz targets share: JSON values built from the fuzzer's bytes
//! (structured, so merge patches and ops meet the same keys), and the
//! checks several targets make.

use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use serde_json::{Map, Number, Value};

/// Keys drawn mostly from a small set, so a patch and its target share
/// members and nested objects meet.
const KEYS: [&str; 6] = ["a", "b", "c", "theme", "x", ""];

/// A JSON value of bounded depth and width.
#[derive(Debug, Clone)]
pub struct Json(pub Value);

impl<'a> Arbitrary<'a> for Json {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        value(u, 4).map(Json)
    }
}

/// A short string: one of [`KEYS`] or whatever the bytes say.
pub fn key(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    let i = u.int_in_range(0..=KEYS.len())?;
    match KEYS.get(i) {
        Some(k) => Ok((*k).to_string()),
        None => u.arbitrary(),
    }
}

fn number(u: &mut Unstructured<'_>) -> arbitrary::Result<Number> {
    Ok(match u.int_in_range(0..=3)? {
        0 => Number::from(u.int_in_range(0..=9u64)?),
        1 => Number::from(u.arbitrary::<i64>()?),
        2 => Number::from(u.arbitrary::<u64>()?),
        // Finite, and never -0.0 (`+ 0.0`): `-0.0` and `0.0` are equal
        // values that print differently.
        _ => Number::from_f64(u.arbitrary::<f64>()? + 0.0).unwrap_or_else(|| Number::from(0)),
    })
}

/// A JSON value at most `depth` containers deep.
pub fn value(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Value> {
    let top = if depth == 0 { 4 } else { 6 };
    Ok(match u.int_in_range(0..=top)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::Number(number(u)?),
        3 => Value::String(key(u)?),
        4 => Value::String(u.arbitrary()?),
        5 => {
            let n = u.int_in_range(0..=4)?;
            let mut a = Vec::with_capacity(n);
            for _ in 0..n {
                a.push(value(u, depth - 1)?);
            }
            Value::Array(a)
        }
        _ => {
            let n = u.int_in_range(0..=5)?;
            let mut m = Map::new();
            for _ in 0..n {
                m.insert(key(u)?, value(u, depth - 1)?);
            }
            Value::Object(m)
        }
    })
}

/// Whether an object anywhere along objects (not inside arrays, whose
/// elements a merge patch copies as they are) has a `null` member.
pub fn has_null_member(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.values().any(|x| x.is_null() || has_null_member(x)),
        _ => false,
    }
}

/// The value printed and read back: what a store or a client would get.
pub fn reparsed(v: &Value) -> Value {
    let text = serde_json::to_string(v).expect("a JSON value prints");
    serde_json::from_str(&text).expect("printed JSON parses")
}

/// The fuzzer's bytes as a JSON document, when they are one.
pub fn json_of(data: &[u8]) -> Option<Value> {
    serde_json::from_slice(data).ok()
}
