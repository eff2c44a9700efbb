//! The process's counters and connection gauges, read from what `obs`
//! records (the same Prometheus recorder `/metrics` renders): the inspector
//! counts nothing of its own.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Open connections by transport (`tidemark_connections`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Connections {
    pub ws: u64,
    pub sse: u64,
    pub long_poll: u64,
}

/// One reading of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Counters {
    /// `tidemark_events_committed_total`.
    pub events_committed: u64,
    /// `tidemark_live_frames_total`: live events written to WebSocket
    /// subscribers (one per event and subscriber).
    pub live_frames: u64,
    /// `tidemark_ws_bytes_sent_total`.
    pub ws_bytes_sent: u64,
}

/// Reads the counters and gauges now.
pub fn now() -> (Counters, Connections) {
    parse(&crate::obs::install().render())
}

/// The counters and gauges of a Prometheus text exposition.
pub fn parse(text: &str) -> (Counters, Connections) {
    let mut c = Counters::default();
    let mut n = Connections::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(v) = value.trim().parse::<f64>() else {
            continue;
        };
        let v = if v.is_finite() && v > 0.0 {
            v as u64
        } else {
            0
        };
        match name {
            "tidemark_events_committed_total" => c.events_committed = v,
            "tidemark_live_frames_total" => c.live_frames = v,
            "tidemark_ws_bytes_sent_total" => c.ws_bytes_sent = v,
            "tidemark_connections{transport=\"ws\"}" => n.ws = v,
            "tidemark_connections{transport=\"sse\"}" => n.sse = v,
            "tidemark_connections{transport=\"long_poll\"}" => n.long_poll = v,
            _ => {}
        }
    }
    (c, n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_exposition() {
        let text = "# TYPE tidemark_events_committed_total counter\n\
                    tidemark_events_committed_total 12\n\
                    tidemark_live_frames_total 30\n\
                    tidemark_connections{transport=\"ws\"} 2\n\
                    tidemark_connections{transport=\"sse\"} 1\n\
                    tidemark_connections{transport=\"long_poll\"} 0\n";
        let (c, n) = super::parse(text);
        assert_eq!(
            (c.events_committed, c.live_frames, c.ws_bytes_sent),
            (12, 30, 0)
        );
        assert_eq!((n.ws, n.sse, n.long_poll), (2, 1, 0));
    }
}
