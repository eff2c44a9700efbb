//! The outbox's bounds: its own byte bound (4009 past twice it), the sum of
//! all clients' queues (`pressure.rs`: admission past a fair share, one
//! second of patience while over the budget), and the wait before an
//! answer that was not admitted is tried again.

use std::sync::Arc;

use bytes::Bytes;

use super::{Inner, Outbox};
use crate::http::pressure::FAIR_SHARE;
use crate::protocol::wsframe;

impl Outbox {
    /// Has the task catch lagging spaces up again after a wait (250 ms,
    /// doubling up to 1 s while answers keep being refused), so a client
    /// whose answer waits for the budget costs one catch-up per wait.
    pub fn retry_later(self: &Arc<Self>) {
        use std::sync::atomic::Ordering::SeqCst;
        if self.retry_armed.swap(true, SeqCst) {
            return;
        }
        let exp = self.retry_exp.fetch_add(1, SeqCst).min(2);
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(250 << exp)).await;
            if let Some(out) = me.upgrade() {
                out.retry_armed.store(false, SeqCst);
                out.kick.notify_one();
            }
        });
    }

    /// True (and the outbox closed with 4009) when `frame` would take the
    /// queue past twice the byte bound (see [`Outbox::push`]).
    pub(super) fn over_budget(&self, i: &mut Inner, frame: &Bytes) -> bool {
        if i.bytes == 0 || i.bytes + frame.len() <= self.max_bytes.saturating_mul(2) {
            return false;
        }
        crate::obs::slow_consumer_close();
        self.cut(
            i,
            4009,
            "too much unread: read what you asked for",
            self.max_bytes,
        );
        true
    }

    /// Closes a slow consumer: drops what it has not started to read and
    /// queues the close frame (behind the rest of a frame it started, when
    /// that is no more than 64 KiB; past it the connection goes without a
    /// close frame), so the server holds next to nothing more for it.
    pub fn cut_and_close(&self, code: u16, reason: &str) {
        let mut i = self.lock();
        if !i.closed {
            self.cut(&mut i, code, reason, FAIR_SHARE);
        }
    }

    pub(super) fn cut(&self, i: &mut Inner, code: u16, reason: &str, keep_max: usize) {
        // The rest of a frame the peer started to read cannot be dropped
        // (the close frame would land inside it): keep it when no larger
        // than `keep_max`, else give up on a clean close and let everything
        // go.
        let keep =
            usize::from(i.head_started && i.queue.front().is_some_and(|f| f.len() <= keep_max));
        let give_up = i.head_started && keep == 0;
        i.queue.truncate(keep);
        let kept = i.queue.front().map_or(0, |f| f.len()) * keep;
        i.pressure.sub(i.bytes - kept);
        i.bytes = kept;
        if give_up {
            i.closed = true;
            i.wr = None;
            self.kick.notify_one();
            return;
        }
        i.push(wsframe::close(code, reason));
        i.closed = true;
        let _ = i.try_write();
        self.kick.notify_one();
    }

    /// At or over the byte bound: live events wait and are caught up later.
    pub fn is_full(&self) -> bool {
        self.lock().bytes >= self.max_bytes
    }

    /// Below half the bound, and not waiting for the budget to free up
    /// ([`Outbox::retry_later`]): room to catch a lagging space up.
    pub fn has_room(&self) -> bool {
        self.lock().bytes < self.max_bytes / 2
            && !self.retry_armed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// `n` bytes reserved for an answer not built yet, when admitted
    /// (`Pressure::reserve`).
    pub fn reserve(&self, n: usize) -> Option<crate::http::pressure::Held> {
        let i = self.lock();
        i.pressure.reserve(i.bytes, n)
    }

    /// More than a fair share is queued (see `pressure.rs`).
    pub fn holds_over_share(&self) -> bool {
        self.lock().bytes > FAIR_SHARE
    }

    /// Bytes are waiting and nothing was written for `limit`.
    pub fn stalled_for(&self, limit: std::time::Duration) -> bool {
        let i = self.lock();
        i.bytes > 0 && i.last_progress.elapsed() >= i.pressure.patience(limit, i.bytes)
    }
}
