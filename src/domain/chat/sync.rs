//! `POST /api/chat/sync`: hold what the payload says, writing only the
//! documents that differ, all in one mutation (seed 003: "use a single
//! transaction for all sync operations"). New messages and their usage
//! increment are written in that mutation, and every op names the version it was planned against
//! (0 for a message that does not exist), so a replay, or two tabs posting the
//! same history at once, can never count a message twice.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::{Item, MESSAGES, Payload, USAGE, stats};
use crate::domain::dates;
use crate::domain::errors::DomainError;
use crate::domain::io::{self, Collection, Written};
use crate::engine::{Engine, Principal};
use crate::protocol::Op;

/// The answer to the seed's client.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SyncReport {
    /// Conversations and messages written.
    pub written: usize,
    /// Conversations and messages already held exactly so (no write).
    pub unchanged: usize,
    /// Messages with `error: true`, never stored.
    pub skipped_failed: usize,
    /// The space's version afterwards.
    pub version: u64,
}

/// A planned write: the op, and what usage it counts if it creates a message.
struct Planned {
    op: Op,
    new_message: Option<(String, u64)>,
}

/// Every conversation's messages after this sync: those held, replaced or
/// joined by the payload's (a message the payload moves to another
/// conversation counts in that one only).
fn merged<'a>(
    items: &'a [Item],
    msgs: &'a Collection,
) -> HashMap<&'a str, HashMap<&'a str, &'a Value>> {
    let mut by_id: HashMap<&str, &Value> = msgs
        .docs
        .iter()
        .map(|h| (h.id.as_str(), &h.value))
        .collect();
    for it in items.iter().filter(|it| it.collection == MESSAGES) {
        by_id.insert(it.id.as_str(), &it.value);
    }
    let mut by_conv: HashMap<&str, HashMap<&str, &Value>> = HashMap::new();
    for (id, v) in by_id {
        let cid = v
            .get("conversation_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        by_conv.entry(cid).or_default().insert(id, v);
    }
    by_conv
}

fn plan(items: &[Item], convs: &Collection, msgs: &Collection) -> Vec<Planned> {
    let by_conv = merged(items, msgs);
    let mut out = Vec::new();
    for it in items {
        let (held, value) = if it.collection == MESSAGES {
            (msgs, it.value.clone())
        } else {
            // The conversation carries its statistics, computed from its
            // messages as they will be: the same history sent again gives
            // the same value, so nothing is written and nothing counted.
            let mut v = it.value.clone();
            let of = by_conv.get(it.id.as_str());
            v["stats"] = stats(of.into_iter().flat_map(|m| m.values().copied()));
            (convs, v)
        };
        let current = held.get(&it.id);
        if current.is_some_and(|c| c.value == value) {
            continue;
        }
        out.push(Planned {
            op: io::put(it.collection, &it.id, value, Some(held.version_of(&it.id))),
            new_message: if current.is_none() {
                it.usage.clone()
            } else {
                None
            },
        });
    }
    out
}

/// The usage document of `day` plus the new messages of one mutation.
fn usage_value(usage: &Collection, day: &str, new: &[(String, u64)]) -> Value {
    let held = usage.get(day).map(|h| &h.value);
    let n = |k: &str| {
        held.and_then(|v| v.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let sent = new.iter().filter(|(r, _)| r == "user").count() as u64;
    let received = new.iter().filter(|(r, _)| r == "assistant").count() as u64;
    // Each message's tokens are bounded (MAX_TOKENS); the sums saturate
    // rather than wrap.
    let tokens = new.iter().fold(0u64, |a, (_, t)| a.saturating_add(*t));
    json!({
        "date": day,
        "messages_sent": n("messages_sent").saturating_add(sent),
        "messages_received": n("messages_received").saturating_add(received),
        "tokens": n("tokens").saturating_add(tokens),
    })
}

/// Writes what differs as one mutation, with the usage increment of the
/// messages it creates: it commits whole or not at all, its events carry
/// consecutive versions and reach subscribers together, and no reader sees
/// a version in its middle. The history is read and compared once; on a
/// conflict (another writer moved a planned document) it is read again and
/// planned anew.
pub async fn apply(
    engine: &Engine,
    who: &Principal,
    space: &str,
    payload: &Payload,
) -> Result<SyncReport, DomainError> {
    let mut report = SyncReport {
        skipped_failed: payload.skipped_failed,
        ..Default::default()
    };
    for _ in 0..10 {
        let day = dates::format_day(dates::today());
        let mut cols = io::read(engine, space, &[super::CONVERSATIONS, MESSAGES, USAGE])
            .await?
            .into_iter();
        let (convs, msgs, usage) = (
            cols.next().unwrap_or_default(),
            cols.next().unwrap_or_default(),
            cols.next().unwrap_or_default(),
        );
        report.version = convs.space_version;
        let planned = plan(&payload.items, &convs, &msgs);
        drop((convs, msgs));
        if planned.is_empty() {
            report.unchanged = payload.items.len();
            return Ok(report);
        }
        let docs = planned.len();
        let new: Vec<(String, u64)> = planned
            .iter()
            .filter_map(|p| p.new_message.clone())
            .collect();
        let mut ops: Vec<Op> = planned.into_iter().map(|p| p.op).collect();
        if !new.is_empty() {
            let v = usage_value(&usage, &day, &new);
            ops.push(io::put(USAGE, &day, v, Some(usage.version_of(&day))));
        }
        match io::write(engine, who, space, ops).await? {
            Written::Done { version, .. } => {
                report.written = docs;
                report.unchanged = payload.items.len() - docs;
                report.version = version;
                return Ok(report);
            }
            Written::Conflict => continue,
        }
    }
    Err(DomainError::Busy(
        "the chat history kept changing during this sync; try again".into(),
    ))
}
