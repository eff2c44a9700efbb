//! `POST /api/chat/sync`: hold what the payload says, writing only the
//! documents that differ. A new message and its usage increment are written in
//! the same mutation, and every op names the version it was planned against
//! (0 for a message that does not exist), so a replay, or two tabs posting the
//! same history at once, can never count a message twice.

use serde::Serialize;
use serde_json::{Value, json};

use super::{Item, MESSAGES, Payload, USAGE};
use crate::domain::dates;
use crate::domain::errors::DomainError;
use crate::domain::io::{self, Collection, Written};
use crate::engine::{Engine, Principal};
use crate::protocol::Op;

/// The answer to the seed's client.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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

fn plan(items: &[Item], convs: &Collection, msgs: &Collection) -> Vec<Planned> {
    let mut out = Vec::new();
    for it in items {
        let held = if it.collection == MESSAGES {
            msgs
        } else {
            convs
        };
        let current = held.get(&it.id);
        if current.is_some_and(|c| c.value == it.value) {
            continue;
        }
        out.push(Planned {
            op: io::put(
                it.collection,
                &it.id,
                it.value.clone(),
                Some(held.version_of(&it.id)),
            ),
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
    let tokens: u64 = new.iter().map(|(_, t)| *t).sum();
    json!({
        "date": day,
        "messages_sent": n("messages_sent") + sent,
        "messages_received": n("messages_received") + received,
        "tokens": n("tokens") + tokens,
    })
}

/// Writes what differs, in mutations within the engine's op limit (each with
/// its own usage increment). The history is read and compared once; on a
/// conflict (another writer moved a planned document) it is read again and
/// what is left is planned anew.
pub async fn apply(
    engine: &Engine,
    who: &Principal,
    space: &str,
    payload: &Payload,
) -> Result<SyncReport, DomainError> {
    let per_mutation = engine
        .cfg()
        .limits
        .max_ops_per_mutation
        .saturating_sub(1)
        .max(1);
    let mut report = SyncReport {
        skipped_failed: payload.skipped_failed,
        ..Default::default()
    };
    let mut conflicts = 0;
    'plan: loop {
        let day = dates::format_day(dates::today());
        let mut cols = io::read(engine, space, &[super::CONVERSATIONS, MESSAGES, USAGE])
            .await?
            .into_iter();
        let (convs, msgs, mut usage) = (
            cols.next().unwrap_or_default(),
            cols.next().unwrap_or_default(),
            cols.next().unwrap_or_default(),
        );
        report.version = convs.space_version;
        let mut planned = plan(&payload.items, &convs, &msgs).into_iter().peekable();
        drop((convs, msgs));
        while planned.peek().is_some() {
            let chunk: Vec<Planned> = planned.by_ref().take(per_mutation).collect();
            let docs = chunk.len();
            let new: Vec<(String, u64)> =
                chunk.iter().filter_map(|p| p.new_message.clone()).collect();
            let mut ops: Vec<Op> = chunk.into_iter().map(|p| p.op).collect();
            let counted = (!new.is_empty()).then(|| usage_value(&usage, &day, &new));
            if let Some(v) = &counted {
                ops.push(io::put(
                    USAGE,
                    &day,
                    v.clone(),
                    Some(usage.version_of(&day)),
                ));
            }
            match io::write(engine, who, space, ops).await? {
                Written::Done { version, .. } => {
                    report.written += docs;
                    report.version = version;
                    if let Some(v) = counted {
                        usage.set(&day, version, v); // the last op of the mutation
                    }
                }
                Written::Conflict if conflicts < 10 => {
                    conflicts += 1;
                    continue 'plan;
                }
                Written::Conflict => {
                    return Err(DomainError::Busy(
                        "the chat history kept changing during this sync; try again".into(),
                    ));
                }
            }
        }
        break;
    }
    report.unchanged = payload.items.len().saturating_sub(report.written);
    Ok(report)
}
