//! The bytes queued for all clients at once — every WebSocket outbox and
//! every SSE stream — against one budget (`TIDEMARK_OUTBOUND_BUDGET_BYTES`).
//!
//! Each connection is bounded on its own (`TIDEMARK_WS_QUEUE_BYTES`), but
//! many connections that each stay within that bound and read nothing
//! would add up. So the budget is a cap on the sum, kept two ways:
//!
//! - **Admission** ([`Pressure::admits`]): a connection may always hold a
//!   fair share (64 KiB); past it, bytes are queued only while the sum stays
//!   within the budget. What is not admitted waits where it costs nothing: a
//!   WebSocket's live events lag and are caught up from the log later, a
//!   subscription's answer is computed again later, an SSE stream waits
//!   before reading further.
//! - **Eviction**: while the sum is over the budget, a connection holding
//!   more than a fair share is given one second without progress instead of
//!   the slow-consumer time before it is closed (WebSocket 4009, SSE stream
//!   ended): the stalled ones go first, readers that make progress and
//!   connections with little queued are not touched.

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

    /// Whether a connection holding `own` queued bytes may queue `n` more:
    /// within its fair share always, past it only while the sum is below the
    /// budget (so a frame larger than the whole budget still goes, alone).
    pub fn admits(&self, own: usize, n: usize) -> bool {
        own.saturating_add(n) <= FAIR_SHARE || self.queued() < self.budget
    }

    /// [`Pressure::admits`], and the bytes taken at once when admitted: a
    /// reservation for something not built yet (an answer whose size is
    /// only bounded until it is serialized). Admissions that race each other
    /// see each other's reservations, so many connections asking at the
    /// same instant cannot all pass a check of the same free sum and then
    /// each build a large answer.
    pub fn reserve(self: &Arc<Self>, own: usize, n: usize) -> Option<Held> {
        if own.saturating_add(n) > FAIR_SHARE {
            let mut now = self.queued();
            loop {
                if now >= self.budget {
                    return None;
                }
                match self.queued.compare_exchange_weak(
                    now,
                    now.saturating_add(n),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(seen) => now = seen,
                }
            }
        } else {
            self.add(n);
        }
        Some(Held {
            pressure: self.clone(),
            n,
        })
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

    /// Holds `n` bytes instead (what was built, in place of the bound that
    /// was reserved for it).
    pub fn resize(&mut self, n: usize) {
        if n > self.n {
            self.pressure.add(n - self.n);
        } else {
            self.pressure.sub(self.n - n);
        }
        self.n = n;
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

    #[test]
    fn past_a_fair_share_only_within_the_budget() {
        let p = Arc::new(Pressure::new(1 << 20));
        assert!(p.admits(0, FAIR_SHARE), "a fair share, always");
        assert!(
            p.admits(0, 4 << 20),
            "more than the budget, while it is free"
        );
        p.add(900 << 10);
        assert!(p.admits(FAIR_SHARE, 200 << 10), "below the budget");
        p.add(200 << 10);
        assert!(p.admits(FAIR_SHARE / 2, FAIR_SHARE / 2));
        assert!(!p.admits(FAIR_SHARE, 1), "at the budget, past a fair share");
        assert!(
            !p.admits(0, 200 << 10),
            "an empty queue too, for a big frame"
        );
        assert!(p.admits(0, 1024), "a small frame into an empty queue");
    }

    #[test]
    fn reservations_see_each_other() {
        let p = Arc::new(Pressure::new(1 << 20));
        // Three connections ask at once for 600 KiB answers against a 1 MiB
        // budget: the first two are reserved (the sum was below it), the
        // third sees them and waits (a check of the free sum alone would
        // have let all three build theirs).
        let first = p.reserve(0, 600 << 10).expect("the sum is free");
        assert_eq!(p.queued(), 600 << 10);
        let other = p.reserve(0, 600 << 10).expect("below the budget");
        assert!(p.reserve(0, 600 << 10).is_none(), "over the budget");
        drop(other);
        // Within a fair share, always (and counted).
        let small = p.reserve(0, 1024).expect("a fair share");
        assert_eq!(p.queued(), (600 << 10) + 1024);
        drop(small);
        // What was built is held in place of the bound.
        let mut built = first;
        built.resize(100 << 10);
        assert_eq!(p.queued(), 100 << 10);
        let second = p.reserve(0, 600 << 10).expect("room again");
        built.resize(700 << 10);
        assert_eq!(p.queued(), 1300 << 10);
        drop((built, second));
        assert_eq!(p.queued(), 0);
    }
}
