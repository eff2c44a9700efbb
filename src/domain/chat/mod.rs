//! Chat history (seed 003): `conversations/{id}` and `messages/{id}` in the
//! user's space, written by `POST /api/chat/sync` from the seed's full-history
//! payload — only what changed is written — plus daily usage counters.
//!
//! - [`sync`]: the write path (what changed, usage counted once).
//! - [`view`]: `GET /api/chat/sync?since=` and `GET /api/usage/daily`.

pub mod sync;
pub mod view;

use serde_json::{Map, Value};

use super::check::{self, Checked, FieldError};

pub const CONVERSATIONS: &str = "conversations";
pub const MESSAGES: &str = "messages";
pub const USAGE: &str = "usage_daily";
pub const ROLES: [&str; 3] = ["user", "assistant", "system"];
/// Most tokens one message may count (clients send the number; usage sums it).
pub const MAX_TOKENS: u64 = 10_000_000;

/// `conversations/{id}` as stored.
pub fn validate_conversation(v: &Value) -> Checked<()> {
    let m = check::object(v)?;
    check::only_known(
        m,
        &[
            "title",
            "created_at",
            "updated_at",
            "model",
            "metadata",
            "stats",
        ],
    )?;
    check::string(m, "title", false)?;
    time_like(m, "created_at")?;
    time_like(m, "updated_at")?;
    check::text(m, "model", false, 256)?;
    check::obj(m, "metadata", false)?;
    check::obj(m, "stats", false)?;
    Ok(())
}

/// A message's time in epoch milliseconds: RFC 3339 / ISO 8601 text or a
/// number of milliseconds.
pub fn time_ms(v: Option<&Value>) -> Option<i128> {
    match v? {
        Value::Number(n) => n.as_f64().map(|f| f as i128),
        Value::String(s) => super::dates::parse_instant_ms(s),
        _ => None,
    }
}

/// A conversation's statistics (seed 003's `update_session_stats`: message
/// count, token total, last message time) over its stored messages. Derived
/// from the messages themselves, never incremented, so a history sent again
/// cannot count anything twice.
pub fn stats<'a>(messages: impl Iterator<Item = &'a Value>) -> Value {
    let (mut count, mut tokens, mut last) = (0u64, 0u64, None::<(i128, &Value)>);
    for m in messages {
        count += 1;
        tokens = tokens.saturating_add(m.get("tokens").and_then(Value::as_u64).unwrap_or(0));
        let at = m.get("timestamp");
        // Ties on the time go to the larger text, so the answer does not
        // depend on the order the messages come in.
        if let (Some(t), Some(a)) = (time_ms(at), at)
            && last.is_none_or(|(l, lv)| (t, a.to_string()) > (l, lv.to_string()))
        {
            last = Some((t, a));
        }
    }
    serde_json::json!({
        "message_count": count,
        "total_tokens": tokens,
        "last_message_at": last.map(|(_, v)| v.clone()),
    })
}

/// `messages/{id}` as stored; a failed message (`error: true`) never is.
pub fn validate_message(v: &Value) -> Checked<()> {
    let m = check::object(v)?;
    if m.get("error") == Some(&Value::Bool(true)) {
        return Err(FieldError::new("error", "failed messages are never stored"));
    }
    check::only_known(
        m,
        &[
            "conversation_id",
            "role",
            "content",
            "timestamp",
            "model",
            "tokens",
            "metadata",
        ],
    )?;
    check::text(m, "conversation_id", true, 512)?;
    check::one_of(m, "role", &ROLES, true)?;
    check::string(m, "content", true)?;
    time_like(m, "timestamp")?;
    check::text(m, "model", false, 256)?;
    if check::uint(m, "tokens", false)?.is_some_and(|t| t > MAX_TOKENS) {
        return Err(FieldError::new(
            "tokens",
            format!("must be at most {MAX_TOKENS}"),
        ));
    }
    check::obj(m, "metadata", false)?;
    Ok(())
}

/// `usage_daily/{date}`: the id is the date.
pub fn validate_usage(id: &str, v: &Value) -> Checked<()> {
    let m = check::object(v)?;
    check::only_known(m, &["date", "messages_sent", "messages_received", "tokens"])?;
    if check::string(m, "date", true)? != Some(id) || super::dates::parse_day(id).is_none() {
        return Err(FieldError::new("date", "must be the document id, a date"));
    }
    for k in ["messages_sent", "messages_received", "tokens"] {
        check::uint(m, k, true)?;
    }
    Ok(())
}

/// A time as clients send it: an RFC 3339 string or epoch milliseconds.
fn time_like(m: &Map<String, Value>, key: &str) -> Checked<()> {
    match m.get(key) {
        None | Some(Value::Null) | Some(Value::String(_)) => Ok(()),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() || n.is_f64() => Ok(()),
        Some(_) => Err(FieldError::new(
            key,
            "must be a time string or epoch milliseconds",
        )),
    }
}

/// One document the payload asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub collection: &'static str,
    pub id: String,
    pub value: Value,
    /// For messages: `(role, tokens)`, what usage counts when it is new.
    pub usage: Option<(String, u64)>,
}

/// The seed's payload, checked: the documents to hold, and how many failed
/// messages were skipped.
#[derive(Debug, Clone, Default)]
pub struct Payload {
    pub items: Vec<Item>,
    pub skipped_failed: usize,
}

fn copy(from: &Map<String, Value>, key: &str, to: &mut Map<String, Value>, as_key: &str) {
    if let Some(v) = from.get(key).filter(|v| !v.is_null()) {
        to.insert(as_key.to_string(), v.clone());
    }
}

fn id_of(m: &Map<String, Value>) -> Checked<String> {
    let id = check::string(m, "id", true)?.unwrap_or_default();
    if id.is_empty() || id.len() > 512 {
        return Err(FieldError::new("id", "must be 1 to 512 bytes"));
    }
    Ok(id.to_string())
}

/// Parses `{conversations: [{id, title, createdAt, updatedAt, model, messages:
/// [{id, role, content, timestamp, model, tokens, error}]}]}`. Fields the
/// server does not store (`userId`, `isStreaming`, ...) are ignored: the token
/// says whose history it is.
pub fn parse(body: &Value) -> Checked<Payload> {
    let m = check::object(body)?;
    let Some(Value::Array(convs)) = m.get("conversations") else {
        return Err(FieldError::new(
            "conversations",
            "is required and must be a list",
        ));
    };
    let mut out = Payload::default();
    let mut seen = std::collections::HashSet::new();
    for (i, c) in convs.iter().enumerate() {
        let at = format!("conversations[{i}]");
        let c = check::object(c).map_err(|e| e.under(&at))?;
        let cid = id_of(c).map_err(|e| e.under(&at))?;
        let mut doc = Map::new();
        copy(c, "title", &mut doc, "title");
        copy(c, "createdAt", &mut doc, "created_at");
        copy(c, "updatedAt", &mut doc, "updated_at");
        copy(c, "model", &mut doc, "model");
        copy(c, "metadata", &mut doc, "metadata");
        let doc = Value::Object(doc);
        validate_conversation(&doc).map_err(|e| e.under(&at))?;
        if !seen.insert((CONVERSATIONS, cid.clone())) {
            return Err(FieldError::new(
                format!("{at}.id"),
                "repeats an earlier conversation",
            ));
        }
        out.items.push(Item {
            collection: CONVERSATIONS,
            id: cid.clone(),
            value: doc,
            usage: None,
        });
        let msgs = match c.get("messages") {
            None | Some(Value::Null) => &Vec::new(),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(FieldError::new(format!("{at}.messages"), "must be a list")),
        };
        for (j, msg) in msgs.iter().enumerate() {
            let at = format!("{at}.messages[{j}]");
            let msg = check::object(msg).map_err(|e| e.under(&at))?;
            if msg.get("error") == Some(&Value::Bool(true)) {
                out.skipped_failed += 1;
                continue;
            }
            let item = message(&cid, msg).map_err(|e| e.under(&at))?;
            if !seen.insert((MESSAGES, item.id.clone())) {
                return Err(FieldError::new(
                    format!("{at}.id"),
                    "repeats an earlier message",
                ));
            }
            out.items.push(item);
        }
    }
    Ok(out)
}

fn message(cid: &str, msg: &Map<String, Value>) -> Checked<Item> {
    let id = id_of(msg)?;
    let mut doc = Map::new();
    doc.insert("conversation_id".into(), Value::String(cid.to_string()));
    for k in [
        "role",
        "content",
        "timestamp",
        "model",
        "tokens",
        "metadata",
    ] {
        copy(msg, k, &mut doc, k);
    }
    if !doc.contains_key("timestamp") {
        copy(msg, "createdAt", &mut doc, "timestamp");
    }
    let doc = Value::Object(doc);
    validate_message(&doc)?;
    let role = doc["role"].as_str().unwrap_or_default().to_string();
    let tokens = doc.get("tokens").and_then(Value::as_u64).unwrap_or(0);
    Ok(Item {
        collection: MESSAGES,
        id,
        value: doc,
        usage: Some((role, tokens)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payload_is_mapped_and_failed_messages_skipped() {
        let p = parse(&json!({"conversations": [{"id": "c1", "title": "Hi", "userId": "u", "updatedAt": 5,
            "messages": [{"id": "m1", "role": "user", "content": "hello", "timestamp": "2026-11-21T10:00:00Z", "tokens": 3},
                         {"id": "m2", "role": "user", "content": "oops", "error": true}]}]}))
        .unwrap();
        assert_eq!(p.skipped_failed, 1);
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.items[0].value, json!({"title": "Hi", "updated_at": 5}));
        assert_eq!(
            p.items[1].value,
            json!({"conversation_id": "c1", "role": "user", "content": "hello",
            "timestamp": "2026-11-21T10:00:00Z", "tokens": 3})
        );
        assert_eq!(p.items[1].usage, Some(("user".into(), 3)));
    }

    #[test]
    fn bad_messages_name_their_place() {
        let e = parse(
            &json!({"conversations": [{"id": "c1", "messages": [{"id": "m1", "role": "robot", "content": ""}]}]}),
        );
        assert_eq!(e.unwrap_err().field, "conversations[0].messages[0].role");
    }
}
