//! Wire types shared by every transport (docs/protocol.md). Serde shapes here are
//! what clients rely on; `proto-schema/` is generated from them.

pub mod schema;
mod wire;
mod ws;
pub mod wsframe;

pub use wire::*;
pub use ws::*;

/// Prefix of a WebSocket `event` frame; the event JSON follows without its `{`.
pub const EVENT_FRAME_PREFIX: &str = "{\"type\":\"event\",";

/// Turns an event's JSON object into its WebSocket `event` message, once per
/// event: the bytes are the whole WebSocket text frame (header included), and
/// the returned offset is where the JSON starts.
pub fn event_frame(event_json: &str) -> (bytes::Bytes, usize) {
    let body = event_json.strip_prefix('{').unwrap_or(event_json);
    let len = EVENT_FRAME_PREFIX.len() + body.len();
    let mut out = wsframe::Builder::text(len);
    out.push(EVENT_FRAME_PREFIX.as_bytes());
    out.push(body.as_bytes());
    out.finish()
}
