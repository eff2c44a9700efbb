//! The bytes queued for all clients at once — every WebSocket outbox and
//! every SSE stream — against one budget (`TIDEMARK_OUTBOUND_BUDGET_BYTES`).
//!
//! Each connection is bounded on its own (`TIDEMARK_WS_QUEUE_BYTES`), but
//! many connections that each stay within that bound and read nothing
//! would add up. While the sum is over the budget, a connection holding
//! more than a fair share (64 KiB) is given one second without progress
//! instead of the slow-consumer time before it is closed (WebSocket 4009,
//! SSE stream ended): the stalled ones go first, readers that make progress
//! and connections with little queued are not touched.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Bytes a connection may hold queued without ever counting as pressing.
pub const FAIR_SHARE: usize = 64 * 1024;

/// The slow-consumer time of a connection over its fair share while the
/// sum is over the budget.
pub const PRESSED_PATIENCE: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Pressure {
    queued: AtomicUsize,
    budget: usize,
}

impl Pressure {
    pub fn new(budget: usize) -> Self {
        Pressure {
            queued: AtomicUsize::new(0),
            budget,
        }
    }

    pub fn add(&self, n: usize) {
        if n > 0 {
            self.queued.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn sub(&self, n: usize) {
        if n > 0 {
            self.queued.fetch_sub(n, Ordering::Relaxed);
        }
    }

    /// Bytes queued for all clients now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// How long a connection holding `own` queued bytes may go without
    /// progress before it is closed as a slow consumer.
    pub fn patience(&self, normal: Duration, own: usize) -> Duration {
        if own > FAIR_SHARE && self.queued() > self.budget {
            normal.min(PRESSED_PATIENCE)
        } else {
            normal
        }
    }
}

/// A share of the sum, given back when dropped.
pub struct Held {
    pressure: Arc<Pressure>,
    n: usize,
}

impl Held {
    pub fn new(pressure: &Arc<Pressure>, n: usize) -> Self {
        pressure.add(n);
        Held {
            pressure: pressure.clone(),
            n,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.pressure.sub(self.n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_big_holders_are_pressed_and_only_over_the_budget() {
        let p = Arc::new(Pressure::new(1000));
        let normal = Duration::from_secs(10);
        p.add(900);
        assert_eq!(p.patience(normal, 1 << 20), normal, "under the budget");
        p.add(200);
        assert_eq!(p.patience(normal, 1 << 20), PRESSED_PATIENCE);
        assert_eq!(p.patience(normal, FAIR_SHARE), normal, "a fair share");
        p.sub(200);
        assert_eq!(p.patience(normal, 1 << 20), normal);
        {
            let _h = Held::new(&p, 500);
            assert_eq!(p.queued(), 1400);
        }
        assert_eq!(p.queued(), 900);
    }
}
