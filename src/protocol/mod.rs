//! Wire types shared by every transport (design.md §10). Serde shapes here are
//! what clients rely on; `proto-schema/` is generated from them.

pub mod schema;
mod wire;
mod ws;

pub use wire::*;
pub use ws::*;

/// Prefix of a WebSocket `event` frame; the event JSON follows without its `{`.
pub const EVENT_FRAME_PREFIX: &str = "{\"type\":\"event\",";

/// Turns an event's JSON object into its WebSocket frame, once per event.
pub fn event_frame(event_json: &str) -> bytes::Bytes {
    let body = event_json.strip_prefix('{').unwrap_or(event_json);
    let mut out = String::with_capacity(EVENT_FRAME_PREFIX.len() + body.len());
    out.push_str(EVENT_FRAME_PREFIX);
    out.push_str(body);
    bytes::Bytes::from(out)
}
