//! Reading chat history back in the seed's shape (`GET /api/chat/sync`,
//! optionally only what changed after a version) and the usage counters.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{CONVERSATIONS, MESSAGES, USAGE};
use crate::domain::dates;
use crate::domain::io::{self, Held};
use crate::engine::{Engine, EngineError};

/// A message's place in its conversation: its time when it has one (RFC 3339
/// or epoch milliseconds), then the order it was first stored in.
fn order_key(h: &Held) -> (i128, u64) {
    let ms = match h.value.get("timestamp") {
        Some(Value::Number(n)) => n.as_f64().map(|f| f as i128),
        Some(Value::String(s)) => humantime::parse_rfc3339_weak(s).ok().and_then(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_millis() as i128)
        }),
        _ => None,
    };
    (ms.unwrap_or(i128::MAX), h.version)
}

fn camel(h: &Held, pairs: &[(&str, &str)]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), Value::String(h.id.clone()));
    for (from, to) in pairs {
        if let Some(v) = h.value.get(*from) {
            m.insert((*to).to_string(), v.clone());
        }
    }
    m
}

/// `{conversations: [{id, title, createdAt, updatedAt, model, userId, messages: [...]}],
/// deleted: {conversations, messages}, version, full}`. With `since`, only
/// documents changed after it (a conversation is listed with just its changed
/// messages); when `since` is ahead of the space or older than its compacted
/// log, the whole history is answered with `full: true`.
pub async fn history(
    engine: &Engine,
    space: &str,
    since: Option<u64>,
) -> Result<Value, EngineError> {
    if let Some(v) = since {
        // A version acknowledged on another node: read the database first.
        engine.space_at(space, None, v).await?;
    }
    let mut cols = io::read(engine, space, &[CONVERSATIONS, MESSAGES])
        .await?
        .into_iter();
    let (convs, msgs) = (
        cols.next().unwrap_or_default(),
        cols.next().unwrap_or_default(),
    );
    // Seed 003's client keeps only `conv.userId === user.id`: every
    // conversation carries the id of the user whose space holds it.
    let owner = Value::String(space.strip_prefix("user:").unwrap_or(space).to_string());
    let since = since.filter(|s| *s <= convs.space_version && *s >= convs.log_start);
    let after = since.unwrap_or(0);
    let mut by_conv: BTreeMap<String, Vec<&Held>> = BTreeMap::new();
    for m in msgs.docs.iter().filter(|m| m.version > after) {
        let cid = m
            .value
            .get("conversation_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        by_conv.entry(cid.to_string()).or_default().push(m);
    }
    let mut ids: Vec<String> = convs
        .docs
        .iter()
        .filter(|c| c.version > after)
        .map(|c| c.id.clone())
        .collect();
    ids.extend(by_conv.keys().cloned());
    ids.sort_unstable();
    ids.dedup();
    let conversations: Vec<Value> = ids
        .into_iter()
        .map(|cid| {
            let cid = cid.as_str();
            let mut c = match convs.get(cid) {
                Some(h) => camel(
                    h,
                    &[
                        ("title", "title"),
                        ("created_at", "createdAt"),
                        ("updated_at", "updatedAt"),
                        ("model", "model"),
                        ("metadata", "metadata"),
                    ],
                ),
                None => camel(
                    &Held {
                        id: cid.to_string(),
                        version: 0,
                        value: Value::Null,
                    },
                    &[],
                ),
            };
            let mut list = by_conv.remove(cid).unwrap_or_default();
            list.sort_by_key(|h| order_key(h));
            let messages: Vec<Value> = list
                .into_iter()
                .map(|h| {
                    Value::Object(camel(
                        h,
                        &[
                            ("role", "role"),
                            ("content", "content"),
                            ("timestamp", "timestamp"),
                            ("model", "model"),
                            ("tokens", "tokens"),
                            ("metadata", "metadata"),
                        ],
                    ))
                })
                .collect();
            c.insert("userId".into(), owner.clone());
            c.insert("messages".into(), Value::Array(messages));
            Value::Object(c)
        })
        .collect();
    let gone = |c: &io::Collection| -> Vec<String> {
        c.tombstones
            .iter()
            .filter(|(_, v)| *v > after && since.is_some())
            .map(|(id, _)| id.clone())
            .collect()
    };
    Ok(json!({
        "conversations": conversations,
        "deleted": {"conversations": gone(&convs), "messages": gone(&msgs)},
        "version": convs.space_version,
        "full": since.is_none(),
    }))
}

/// `{days: [{date, messages_sent, messages_received, tokens}], totals}` for
/// the days in `[from, to]` (dates, both optional), oldest first.
pub async fn usage(
    engine: &Engine,
    space: &str,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Value, EngineError> {
    let days = io::read_one(engine, space, USAGE).await?;
    let mut totals = [0u64; 3];
    let keys = ["messages_sent", "messages_received", "tokens"];
    let list: Vec<Value> = days
        .docs
        .iter()
        .filter(|d| {
            let day = dates::parse_day(&d.id);
            day.is_some_and(|x| from.is_none_or(|f| x >= f) && to.is_none_or(|t| x <= t))
        })
        .map(|d| {
            for (t, k) in totals.iter_mut().zip(keys) {
                *t += d.value.get(k).and_then(Value::as_u64).unwrap_or(0);
            }
            d.value.clone()
        })
        .collect();
    Ok(json!({
        "days": list,
        "totals": {"messages_sent": totals[0], "messages_received": totals[1], "tokens": totals[2]},
    }))
}
