//! Reading chat history back in the seed's shape (`GET /api/chat/sync`,
//! optionally only what changed after a version) and the usage counters.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{CONVERSATIONS, MESSAGES, USAGE};
use crate::domain::dates;
use crate::domain::io::{self, Held};
use crate::engine::{Engine, EngineError};

/// A message's place in its conversation: its time when it has one (RFC 3339
/// or epoch milliseconds), then the order it was stored in, then its id.
type Place = (i128, u64, String);

fn place(h: &Held) -> Place {
    let ms = super::time_ms(h.value.get("timestamp")).unwrap_or(i128::MAX);
    (ms, h.version, h.id.clone())
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

/// What `since` asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Since {
    /// A version from an earlier answer.
    Version(u64),
    /// An ISO 8601 time (epoch milliseconds): what changed after it.
    Time { text: String, ms: i128 },
}

impl Since {
    /// `?since=`: a version number, else an ISO 8601 time with a zone.
    pub fn parse(s: &str) -> Option<Since> {
        match s.parse::<u64>() {
            Ok(v) => Some(Since::Version(v)),
            Err(_) => Some(Since::Time {
                ms: dates::parse_instant_ms(s)?,
                text: s.to_string(),
            }),
        }
    }
}

/// Where a page of history starts: after this conversation and, within it,
/// after this message (`None`: after its header, before its messages).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cursor {
    conversation: String,
    message: Option<Place>,
}

impl Cursor {
    /// Opaque to clients: base64url of JSON.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }
    pub fn decode(s: &str) -> Option<Cursor> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).ok()?).ok()
    }
}

/// How much of the history one answer holds: at most `limit` messages
/// (a conversation's header rides along with its first message on the page,
/// and an empty conversation counts as none), starting after `after`.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub limit: Option<usize>,
    pub after: Option<Cursor>,
}

const CONVERSATION_FIELDS: &[(&str, &str)] = &[
    ("title", "title"),
    ("created_at", "createdAt"),
    ("updated_at", "updatedAt"),
    ("model", "model"),
    ("metadata", "metadata"),
];

const MESSAGE_FIELDS: &[(&str, &str)] = &[
    ("role", "role"),
    ("content", "content"),
    ("timestamp", "timestamp"),
    ("model", "model"),
    ("tokens", "tokens"),
    ("metadata", "metadata"),
];

/// The conversation's header in the seed's shape, with its statistics.
fn header(convs: &io::Collection, cid: &str, owner: &Value) -> Map<String, Value> {
    let blank = Held {
        id: cid.to_string(),
        version: 0,
        value: Value::Null,
    };
    let held = convs.get(cid).unwrap_or(&blank);
    let mut c = camel(held, CONVERSATION_FIELDS);
    if let Some(st) = held.value.get("stats") {
        c.insert(
            "stats".into(),
            json!({
                "messageCount": st.get("message_count").cloned().unwrap_or(json!(0)),
                "totalTokens": st.get("total_tokens").cloned().unwrap_or(json!(0)),
                "lastMessageAt": st.get("last_message_at").cloned().unwrap_or(Value::Null),
            }),
        );
    }
    // Seed 003's client keeps only `conv.userId === user.id`: every
    // conversation carries the id of the user whose space holds it.
    c.insert("userId".into(), owner.clone());
    c
}

/// `{conversations: [{id, title, createdAt, updatedAt, model, userId, stats,
/// messages: [...]}], deleted: {conversations, messages}, version, full,
/// since, nextCursor}`. With `since`, only documents changed after it (a
/// conversation is listed with just its changed messages); when `since` is
/// ahead of the space or older than its compacted log, the whole history is
/// answered with `full: true`. With a `page`, at most `limit` messages in a
/// stable order (conversation id, then message time, then storage order),
/// and `nextCursor` while more remain.
pub async fn history(
    engine: &Engine,
    space: &str,
    since: Option<Since>,
    page: Page,
) -> Result<Value, EngineError> {
    let asked = since.clone();
    let since = match since {
        None => None,
        Some(Since::Version(v)) => {
            // A version acknowledged on another node: read the database first.
            engine.space_at(space, None, v).await?;
            Some(v)
        }
        Some(Since::Time { ms, .. }) => engine.version_at(space, ms).await?,
    };
    let mut cols = io::read(engine, space, &[CONVERSATIONS, MESSAGES])
        .await?
        .into_iter();
    let (convs, msgs) = (
        cols.next().unwrap_or_default(),
        cols.next().unwrap_or_default(),
    );
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
    for c in convs.docs.iter().filter(|c| c.version > after) {
        by_conv.entry(c.id.clone()).or_default();
    }
    let mut left = page.limit.unwrap_or(usize::MAX);
    let mut last = page.after.clone();
    let mut next = None;
    let mut conversations = Vec::new();
    for (cid, mut list) in by_conv {
        let resumed = match &page.after {
            Some(a) if cid < a.conversation => continue,
            Some(a) => a.conversation == cid,
            None => false,
        };
        list.sort_by_cached_key(|h| place(h));
        let todo: Vec<(Place, &Held)> = list
            .into_iter()
            .map(|h| (place(h), h))
            .filter(|(p, _)| {
                !resumed
                    || page
                        .after
                        .as_ref()
                        .is_none_or(|a| a.message.as_ref() < Some(p))
            })
            .collect();
        if resumed && todo.is_empty() {
            continue; // finished on an earlier page
        }
        if left == 0 {
            next = last.take();
            break;
        }
        let take = todo.len().min(left);
        left -= take;
        let mut c = header(&convs, &cid, &owner);
        let more = take < todo.len();
        let mut messages = Vec::with_capacity(take);
        let mut at = None;
        for (p, h) in todo.into_iter().take(take) {
            messages.push(Value::Object(camel(h, MESSAGE_FIELDS)));
            at = Some(p);
        }
        c.insert("messages".into(), Value::Array(messages));
        conversations.push(Value::Object(c));
        last = Some(Cursor {
            conversation: cid,
            message: at,
        });
        if more {
            next = last.take();
            break;
        }
    }
    let gone = |c: &io::Collection| -> Vec<String> {
        c.tombstones
            .iter()
            .filter(|(_, v)| *v > after && since.is_some())
            .map(|(id, _)| id.clone())
            .collect()
    };
    let since_out = asked.map(|s| match s {
        Since::Version(v) => json!({"kind": "version", "value": v, "version": since}),
        Since::Time { text, .. } => json!({"kind": "time", "value": text, "version": since}),
    });
    let mut out = json!({
        "conversations": conversations,
        "deleted": {"conversations": gone(&convs), "messages": gone(&msgs)},
        "version": convs.space_version,
        "full": since.is_none(),
    });
    if let Some(s) = since_out {
        out["since"] = s;
    }
    if page.limit.is_some() {
        out["nextCursor"] = json!(next.map(|c| c.encode()));
    }
    Ok(out)
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
                *t = t.saturating_add(d.value.get(k).and_then(Value::as_u64).unwrap_or(0));
            }
            d.value.clone()
        })
        .collect();
    Ok(json!({
        "days": list,
        "totals": {"messages_sent": totals[0], "messages_received": totals[1], "tokens": totals[2]},
    }))
}
