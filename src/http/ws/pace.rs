//! How fast one WebSocket connection may send: a token bucket over incoming
//! frames (control frames included), a count of bad or excess messages in a
//! 10 s window (past the threshold: close 4008), and a cap on `hello`
//! messages, each of which may answer with whole snapshots.

use std::time::{Duration, Instant};

use crate::http::RoleLimits;

/// `hello` messages per 10 s window.
pub const MAX_HELLOS_PER_WINDOW: u32 = 10;

const WINDOW: Duration = Duration::from_secs(10);

pub struct Pace {
    tokens: f64,
    refilled: Instant,
    violations: u32,
    window: Instant,
    hellos: u32,
    hello_window: Instant,
}

impl Pace {
    pub fn new(burst: u32) -> Pace {
        let now = Instant::now();
        Pace {
            tokens: burst as f64,
            refilled: now,
            violations: 0,
            window: now,
            hellos: 0,
            hello_window: now,
        }
    }

    /// Takes a token for one incoming frame; true when none is left.
    pub fn over_rate(&mut self, l: RoleLimits) -> bool {
        let now = Instant::now();
        let dt = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + dt * l.msg_rate as f64).min(l.msg_burst as f64);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            false
        } else {
            true
        }
    }

    /// Counts a bad or excess message; true past `threshold` in the window.
    pub fn violation(&mut self, threshold: u32) -> bool {
        if self.window.elapsed() > WINDOW {
            self.window = Instant::now();
            self.violations = 0;
        }
        self.violations += 1;
        self.violations > threshold
    }

    /// Counts a `hello`; returns how many this window holds, this one included.
    pub fn hello(&mut self) -> u32 {
        if self.hello_window.elapsed() > WINDOW {
            self.hello_window = Instant::now();
            self.hellos = 0;
        }
        self.hellos += 1;
        self.hellos
    }
}
