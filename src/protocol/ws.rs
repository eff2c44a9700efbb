//! WebSocket (and SSE) messages, docs/protocol.md.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::wire::{CatchUp, Cursor, Doc, Op, RawDoc, RawEvent, RejectCode};

/// Client -> server.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Opens the session and (re)subscribes spaces with their cursors.
    Hello {
        protocol: u32,
        client_id: String,
        #[serde(default)]
        subscribe: BTreeMap<String, Option<Cursor>>,
    },
    /// First message when no `access_token` was given; later, a token refresh.
    Auth { token: String },
    Mutate {
        mutation_id: u64,
        space: String,
        ops: Vec<Op>,
    },
    /// For clients that cannot see protocol pings; answered with `pong`.
    Ping {
        #[serde(default)]
        nonce: Value,
    },
    /// This connection's presence in a space it subscribes: a small state
    /// of the client's choosing (at most 1 KiB of JSON), shown to every
    /// subscriber until changed or the connection ends.
    PresenceSet { space: String, state: Value },
}

impl ClientMsg {
    pub const TYPES: [&'static str; 5] = ["hello", "auth", "mutate", "ping", "presence_set"];
}

/// `GET /v1/spaces/{space}/presence`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PresenceList {
    pub space: String,
    pub members: Vec<PresenceMember>,
}

/// One connection's presence in a space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PresenceMember {
    pub user: String,
    pub client_id: String,
    pub state: Value,
}

/// A client's text frame as the WebSocket handler reads it: JSON, an object
/// with a known string `type`, then that message's fields. The error is the
/// `error` frame's `(code, message)`: `bad_message` or `unknown_type`.
pub fn parse_client_msg(text: &str) -> Result<ClientMsg, (&'static str, String)> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| ("bad_message", format!("not JSON: {e}")))?;
    let Some(kind) = v.get("type").and_then(Value::as_str) else {
        let why = "expected a JSON object with a string `type`";
        return Err(("bad_message", why.to_string()));
    };
    if !ClientMsg::TYPES.contains(&kind) {
        return Err(("unknown_type", format!("unknown message type `{kind}`")));
    }
    let kind = kind.to_string();
    serde_json::from_value(v).map_err(|e| ("bad_message", format!("bad `{kind}` message: {e}")))
}

/// `(mutation_id, space)` of a frame that looks like a `mutate`, read
/// leniently (only those fields): a frame refused before it is parsed
/// (too large, rate limited) is still answered with a `reject` naming them.
pub fn mutate_head(text: &str) -> Option<(u64, String)> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "type")]
        kind: String,
        mutation_id: Option<u64>,
        space: Option<String>,
    }
    let head = serde_json::from_str::<Head>(text).ok()?;
    if head.kind != "mutate" {
        return None;
    }
    Some((head.mutation_id?, head.space?))
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WsLimits {
    /// Largest frame the server accepts from the client.
    pub max_frame_bytes: usize,
}

/// Server -> client. Live `event` frames are the event JSON with
/// `"type":"event"` first (see [`EventFrame`]); they are encoded once.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    Welcome {
        session: String,
        heartbeat_ms: u64,
        limits: WsLimits,
    },
    Snapshot {
        space: String,
        epoch: String,
        version: u64,
        docs: Vec<RawDoc>,
    },
    Events {
        space: String,
        epoch: String,
        from: u64,
        to: u64,
        events: Vec<RawEvent>,
    },
    UpToDate {
        space: String,
        epoch: String,
        version: u64,
    },
    Ack {
        mutation_id: u64,
        space: String,
        version: u64,
        noop: bool,
    },
    Reject {
        mutation_id: u64,
        space: String,
        code: RejectCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        current: Option<Doc>,
    },
    Pong {
        nonce: Value,
    },
    Error {
        code: String,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        space: Option<String>,
    },
    /// The caller was removed from this team space: its subscription ended
    /// (after the event that removed them; nothing later is sent). Other
    /// spaces on the connection keep flowing.
    Revoked {
        space: String,
    },
    /// Who is present in a space, sent after the space's first answer.
    PresenceState {
        space: String,
        members: Vec<PresenceMember>,
    },
    /// Presence changes since: a changed state is a leave of the old and a
    /// join of the new (Phoenix's shape).
    PresenceDiff {
        space: String,
        joins: Vec<PresenceMember>,
        leaves: Vec<PresenceMember>,
    },
}

impl ServerMsg {
    /// A space's first answer (or a catch-up) as a frame.
    pub fn from_catch_up(space: &str, c: CatchUp) -> Self {
        let space = space.to_string();
        match c {
            CatchUp::Snapshot {
                epoch,
                version,
                docs,
            } => ServerMsg::Snapshot {
                space,
                epoch,
                version,
                docs,
            },
            CatchUp::Events {
                epoch,
                from,
                to,
                events,
            } => ServerMsg::Events {
                space,
                epoch,
                from,
                to,
                events,
            },
            CatchUp::UpToDate { epoch, version } => ServerMsg::UpToDate {
                space,
                epoch,
                version,
            },
        }
    }

    pub fn error(code: &str, message: impl Into<String>) -> Self {
        ServerMsg::Error {
            code: code.to_string(),
            message: message.into(),
            space: None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| ENCODING_FAILED.into())
    }

    /// The JSON appended to `out` (which should have the room for it).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let at = out.len();
        if serde_json::to_writer(&mut *out, self).is_err() {
            out.truncate(at);
            out.extend_from_slice(ENCODING_FAILED.as_bytes());
        }
    }
}

const ENCODING_FAILED: &str = r#"{"type":"error","code":"internal","message":"encoding"}"#;

/// Schema of a live `event` frame: `{"type":"event", ...event fields}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EventFrame {
    /// Always `"event"`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub event: super::wire::Event,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (`fuzz/fuzz_targets/ws_frame.rs`): a float in a frame
    /// was read as a neighbouring float (`1455555555550000…5620`, 70 digits, read
    /// as `1.45555555555e69`, printed back and read as `1.4555555555499999e69`) until serde_json's `float_roundtrip` was on.
    #[test]
    fn a_parsed_frame_prints_back_to_the_same_message() {
        let frame = r#"{"type":"mutate","mutation_id":8,"space":"user:me","ops":[{"op":"put","collection":"setings","id":"ui","value":{"theme":null,"font":{"size":1455555555550000000000000000000000000000000000000000928742323155515620}}},{"op":"delete","collection":"notes","id":"a/b"}]}"#;
        let msg = parse_client_msg(frame).unwrap();
        let printed = serde_json::to_string(&msg).unwrap();
        let again = parse_client_msg(&printed).unwrap();
        assert_eq!(
            serde_json::to_value(&again).unwrap(),
            serde_json::to_value(&msg).unwrap()
        );
    }

    #[test]
    fn frame_errors_name_their_code() {
        assert_eq!(parse_client_msg("nope").unwrap_err().0, "bad_message");
        assert_eq!(parse_client_msg("[1]").unwrap_err().0, "bad_message");
        let unknown = parse_client_msg(r#"{"type":"subscribe"}"#).unwrap_err();
        assert_eq!(unknown.0, "unknown_type");
        let head = mutate_head(r#"{"type":"mutate","mutation_id":3,"space":"s","ops":7}"#);
        assert_eq!(head, Some((3, "s".to_string())));
        assert_eq!(
            mutate_head(r#"{"type":"ping","mutation_id":3,"space":"s"}"#),
            None
        );
    }
}
