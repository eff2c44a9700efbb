//! A connection's bounded outbound queue of whole WebSocket frames, and the
//! socket's write half.
//!
//! Frames are `Bytes` built once (a live event's frame is the same buffer for
//! every subscriber) and written with vectored writes straight to the socket:
//! no per-connection write buffer, no copy, and every frame queued since the
//! last write goes out in one system call. Two parties write, always from the
//! head of the queue and under its lock, so order is kept: the connection's
//! task (answers, acks, errors, and whatever the socket did not take at once)
//! and its spaces' pushers (live events, `fanout.rs`). Bytes are counted from
//! push until written, so a peer that stops reading shows up as a full outbox
//! whose last progress is old.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, Bytes};
use tokio::io::AsyncWrite;
use tokio::sync::Notify;

use crate::engine::space::EventRec;
use crate::engine::team::removes;
use crate::http::listen::WriteSide;
use crate::http::pressure::Pressure;
use crate::protocol::wsframe;

/// Frames handed to one vectored write at most.
const MAX_IOV: usize = 64;

pub struct Outbox {
    inner: Mutex<Inner>,
    max_bytes: usize,
    /// No progress for this long with bytes waiting: a slow consumer.
    slow: std::time::Duration,
    /// Wakes the connection task: frames are left for it to write, or a space lags.
    pub kick: Notify,
    /// The reader's user id, for team spaces (`None`: a service, never removed).
    user: std::sync::OnceLock<Box<str>>,
    /// A link was revoked since the task last looked.
    revoked: std::sync::atomic::AtomicBool,
    /// An answer was not admitted (all clients' queues at their budget):
    /// the task tries again when this timer fires, not before.
    retry_armed: std::sync::atomic::AtomicBool,
    /// How many times in a row (the wait doubles, 250 ms to 1 s).
    retry_exp: std::sync::atomic::AtomicU32,
}

struct Inner {
    queue: VecDeque<Bytes>,
    /// Queued and not yet written.
    bytes: usize,
    last_progress: Instant,
    /// No more frames are accepted (a close frame was queued, or the socket failed).
    closed: bool,
    /// The head frame is partly written (what follows must be its rest).
    head_started: bool,
    wr: Option<WriteSide>,
    /// Over TLS: bytes the socket took into the TLS layer that it has not
    /// sent yet (the next write or a flush sends them).
    unflushed: bool,
    /// Where each subscribed space stands on this connection.
    links: Vec<Link>,
    /// The bytes queued for all connections, which `bytes` is part of.
    pressure: Arc<Pressure>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.pressure.sub(self.bytes);
    }
}

/// One subscribed space on one connection.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// The space's hub (`fanout::Hub::key`).
    pub hub: usize,
    /// The version the client holds (queued counts as held).
    pub delivered: u64,
    /// The first answer is queued: live events may follow.
    pub live: bool,
    /// Events were skipped (full outbox, gap, reload): catch up from the log.
    pub lagging: bool,
    /// A mutation of this connection to the space is in flight: its ack goes
    /// out before its own event, so pushers hold off until `resume`.
    pub paused: bool,
    /// The connection's user was removed from this team space: nothing
    /// after the removing event is pushed; the task unsubscribes it.
    pub revoked: bool,
}

/// The first frames of the queue, for one vectored write.
fn head_slices(queue: &VecDeque<Bytes>) -> ([IoSlice<'_>; MAX_IOV], usize) {
    let mut slices = [IoSlice::new(&[]); MAX_IOV];
    let mut count = 0;
    for (slot, b) in slices.iter_mut().zip(queue.iter()) {
        *slot = IoSlice::new(b);
        count += 1;
    }
    (slices, count)
}

impl Inner {
    fn link(&mut self, hub: usize) -> Option<&mut Link> {
        self.links.iter_mut().find(|l| l.hub == hub)
    }

    fn push(&mut self, frame: Bytes) {
        if self.closed || frame.is_empty() {
            return;
        }
        if self.bytes == 0 {
            self.last_progress = Instant::now();
        }
        self.bytes += frame.len();
        self.pressure.add(frame.len());
        self.queue.push_back(frame);
    }

    /// Drops `n` written bytes from the head of the queue.
    fn advance(&mut self, n: usize) {
        crate::obs::hot().ws_bytes_sent.increment(n as u64);
        self.bytes -= n;
        self.pressure.sub(n);
        self.last_progress = Instant::now();
        let mut left = n;
        while left > 0 {
            let front = self.queue.front_mut().expect("written bytes were queued");
            if front.len() <= left {
                left -= front.len();
                self.queue.pop_front();
                self.head_started = false;
            } else {
                front.advance(left);
                self.head_started = true;
                left = 0;
            }
        }
    }

    fn failed(&mut self) {
        self.closed = true;
        self.unflushed = false;
        self.queue.clear();
        self.pressure.sub(self.bytes);
        self.bytes = 0;
    }

    /// Writes what the socket takes without waiting. True when the
    /// connection's task must look (over TLS: bytes are left, and the
    /// attempt may have replaced the task's socket waker, see
    /// [`WriteSide::try_write_vectored`]).
    fn try_write(&mut self) -> bool {
        while !self.queue.is_empty() {
            let Some(wr) = &mut self.wr else { return false };
            let (slices, count) = head_slices(&self.queue);
            match wr.try_write_vectored(&slices[..count]) {
                Ok(0) => {
                    self.failed();
                    return false;
                }
                Ok(n) => self.advance(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.failed();
                    return false;
                }
            }
        }
        let Some(wr) = &mut self.wr else { return false };
        if !wr.buffers() {
            return false;
        }
        match wr.try_flush() {
            Ok(done) => self.unflushed = !done,
            Err(_) => {
                self.failed();
                return false;
            }
        }
        self.unflushed || !self.queue.is_empty()
    }
}

impl Outbox {
    pub fn new(max_bytes: usize, slow: std::time::Duration, pressure: Arc<Pressure>) -> Self {
        Outbox {
            slow,
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                bytes: 0,
                last_progress: Instant::now(),
                closed: false,
                head_started: false,
                wr: None,
                unflushed: false,
                links: Vec::new(),
                pressure,
            }),
            max_bytes,
            kick: Notify::new(),
            user: std::sync::OnceLock::new(),
            revoked: std::sync::atomic::AtomicBool::new(false),
            retry_armed: std::sync::atomic::AtomicBool::new(false),
            retry_exp: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// The socket's write half, for the pushers and the connection task.
    pub fn attach(&self, wr: WriteSide) {
        self.lock().wr = Some(wr);
    }

    /// Takes the write half back (to shut it down).
    pub fn detach(&self) -> Option<WriteSide> {
        self.lock().wr.take()
    }

    // Held only for queue bookkeeping and non-blocking writes, never across
    // an await: a std Mutex.
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whose connection this is, for team spaces (`team.rs`): events stop
    /// at the one that removes this user.
    pub fn set_user(&self, user: &str) {
        let _ = self.user.set(user.into());
    }

    /// True once after a link was revoked (the task then unsubscribes it).
    pub fn take_revoked(&self) -> bool {
        self.revoked
            .swap(false, std::sync::atomic::Ordering::SeqCst)
    }

    pub fn add_link(&self, hub: usize) {
        let mut i = self.lock();
        i.links.retain(|l| l.hub != hub);
        i.links.push(Link {
            hub,
            delivered: 0,
            live: false,
            lagging: false,
            paused: false,
            revoked: false,
        });
    }

    pub fn remove_link(&self, hub: usize) {
        self.lock().links.retain(|l| l.hub != hub);
    }

    pub fn link(&self, hub: usize) -> Option<Link> {
        self.lock().link(hub).copied()
    }

    /// Some subscribed space must catch up.
    pub fn lagging(&self) -> bool {
        self.lock().links.iter().any(|l| l.lagging)
    }

    /// Queues a space's answer (first, or a catch-up) and makes it live at
    /// `version`; it stays lagging when a pusher pass beyond `version` may
    /// have skipped it meanwhile (`pushed_upto`). False when the answer was
    /// not admitted (`Pressure::admits`): nothing was queued, the space
    /// lags, and the caller tries again later ([`Outbox::retry_later`]).
    /// An answer built under a reservation ([`Outbox::reserve`]) was
    /// admitted then; the reservation is given back once it is queued.
    #[must_use]
    pub fn go_live(
        &self,
        hub: usize,
        answer: Option<Bytes>,
        version: u64,
        pushed_upto: &dyn Fn() -> u64,
        reserved: Option<crate::http::pressure::Held>,
    ) -> bool {
        let mut i = self.lock();
        if let Some(a) = answer {
            if reserved.is_none() && !i.pressure.admits(i.bytes, a.len()) {
                if let Some(l) = i.link(hub) {
                    l.lagging = true;
                }
                return false;
            }
            if self.over_budget(&mut i, &a) {
                return true;
            }
            self.retry_exp.store(0, std::sync::atomic::Ordering::SeqCst);
            i.push(a);
            if i.try_write() {
                self.kick.notify_one();
            }
        }
        let behind = pushed_upto() > version;
        if let Some(l) = i.link(hub) {
            l.delivered = version;
            l.live = true;
            l.lagging = behind;
        }
        drop(i);
        if behind {
            // A pass went past `version` while this space caught up: catch
            // up again on the task's next turn (a pusher skips lagging links
            // without waking anyone).
            self.kick.notify_one();
        }
        true
    }

    /// Where a space whose first answer was not admitted stands: the
    /// client's own cursor (0 without one), to be caught up from later.
    pub fn set_delivered(&self, hub: usize, version: u64) {
        if let Some(l) = self.lock().link(hub) {
            l.delivered = version;
            l.lagging = true;
        }
    }

    /// Holds live events of this space back (see `Link::paused`).
    pub fn pause(&self, hub: usize) {
        if let Some(l) = self.lock().link(hub) {
            l.paused = true;
        }
    }

    /// Lets live events through again, after the ack: `events` (from the ring,
    /// `None` when it no longer reaches back) are queued now, and the space
    /// lags when a pusher pass beyond them may have skipped it meanwhile.
    pub fn resume(
        &self,
        hub: usize,
        events: Option<&[Arc<EventRec>]>,
        pushed_upto: &dyn Fn() -> u64,
    ) {
        {
            let mut i = self.lock();
            let Some(l) = i.link(hub) else { return };
            l.paused = false;
            if events.is_none() && l.live {
                l.lagging = true;
            }
        }
        self.deliver(hub, events.unwrap_or(&[]), false);
        let mut i = self.lock();
        let upto = pushed_upto();
        let Some(l) = i.link(hub) else { return };
        let behind = l.live && !l.lagging && upto > l.delivered;
        if behind {
            l.lagging = true;
        }
        let lagging = l.lagging;
        drop(i);
        if lagging {
            self.kick.notify_one();
        }
    }

    /// A pusher's delivery of consecutive `events` (or of a reset) to this
    /// connection: queued and written at once when the socket takes them.
    pub fn deliver(&self, hub: usize, events: &[Arc<EventRec>], reset: bool) {
        let mut i = self.lock();
        if i.closed {
            return;
        }
        let full = i.bytes >= self.max_bytes;
        let stalled =
            i.bytes > 0 && i.last_progress.elapsed() >= i.pressure.patience(self.slow, i.bytes);
        let Some(l) = i.link(hub) else { return };
        if !l.live || l.lagging || l.paused {
            // Joining, catching up, or waiting for its own ack: its answer
            // covers these. A peer that stopped reading is told now, not at
            // the next heartbeat.
            drop(i);
            if stalled {
                self.kick.notify_one();
            }
            return;
        }
        // The ring's events are consecutive: send those after `delivered`.
        let from = l.delivered;
        let send = match events.iter().position(|e| e.version > from) {
            Some(k) => &events[k..],
            None => &[][..],
        };
        // Past a fair share, live events are queued only within the budget
        // of all clients' queues; else they wait in the log (the space lags).
        let size: usize = send.iter().map(|e| e.wire.len()).sum();
        let full = full || !i.pressure.admits(i.bytes, size);
        let lagging = reset || (!send.is_empty() && (send[0].version != from + 1 || full));
        // A reader removed from the team gets the removing event, then
        // nothing more from this space.
        let user = self.user.get().map(|u| &**u);
        let (send, revoked) = match send.iter().position(|e| removes(e, user)) {
            Some(k) if !lagging => (&send[..=k], true),
            _ => (send, false),
        };
        if let Some(l) = i.link(hub) {
            if lagging {
                l.lagging = true;
            } else if let Some(last) = send.last() {
                l.delivered = last.version;
            }
            if revoked {
                l.live = false;
                l.revoked = true;
            }
        }
        if revoked {
            self.revoked
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        if !lagging {
            for ev in send {
                i.push(ev.wire.clone());
            }
        }
        let task = i.try_write();
        let kick = lagging || stalled || revoked || task || !i.queue.is_empty();
        drop(i);
        if kick {
            self.kick.notify_one();
        }
    }

    /// Queues a whole frame (dropped once the outbox is closed) and writes
    /// what the socket takes at once. (When it would block, tokio knows
    /// without a system call, so trying costs nothing.)
    ///
    /// Answers, acks, errors and pongs count like live events: a peer that
    /// asks for more than twice the byte bound without reading it (one frame
    /// into an empty queue always fits) is closed with 4009, keeping only
    /// the frame being written, so what it makes the server hold stays
    /// bounded.
    pub fn push(&self, frame: Bytes) {
        let mut i = self.lock();
        if self.over_budget(&mut i, &frame) {
            return;
        }
        i.push(frame);
        if i.try_write() {
            self.kick.notify_one();
        }
    }

    /// Queues a text message.
    pub fn text(&self, json: &str) {
        self.push(wsframe::text(json));
    }

    /// Queues a close frame; nothing is accepted after it.
    pub fn close_with(&self, code: u16, reason: &str) {
        self.push(wsframe::close(code, reason));
        self.close();
    }

    /// Nothing left to write (over TLS: nor to flush).
    pub fn is_empty(&self) -> bool {
        let i = self.lock();
        i.queue.is_empty() && !i.unflushed
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Stop accepting frames; what is queued is still written.
    pub fn close(&self) {
        self.lock().closed = true;
    }

    /// Writes queued frames until the queue is empty or the socket would
    /// block. Ready with the bytes written once there was progress; Pending
    /// (socket waker registered) when there was none.
    pub fn poll_write(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let mut guard = self.lock();
        let i = &mut *guard;
        let mut written = 0;
        while !i.queue.is_empty() {
            let (slices, count) = head_slices(&i.queue);
            let Some(wr) = i.wr.as_mut() else {
                return Poll::Ready(Err(std::io::ErrorKind::NotConnected.into()));
            };
            let n = match Pin::new(wr).poll_write_vectored(cx, &slices[..count]) {
                Poll::Pending if written > 0 => break,
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    i.failed();
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(0)) => {
                    i.failed();
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => n,
            };
            written += n;
            i.advance(n);
        }
        if let Some(wr) = i.wr.as_mut()
            && wr.buffers()
            && (i.unflushed || written > 0)
        {
            match wr.poll_flush(cx) {
                Poll::Ready(Ok(())) => i.unflushed = false,
                Poll::Ready(Err(e)) => {
                    i.failed();
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => {
                    i.unflushed = true;
                    if written == 0 {
                        return Poll::Pending;
                    }
                }
            }
        }
        if i.queue.capacity() > 64 && i.queue.is_empty() {
            i.queue = VecDeque::new(); // a burst's queue is not kept by an idle connection
        }
        Poll::Ready(Ok(written))
    }
}

/// The write side tungstenite sees: what it writes (pong and close replies to
/// the peer's control frames) is queued in order with everything else.
pub struct Replies(pub Arc<Outbox>);

impl AsyncWrite for Replies {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.push(Bytes::copy_from_slice(buf));
        // The connection task may be inside its read: have it look at the queue.
        cx.waker().wake_by_ref();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[path = "outbox_limits.rs"]
mod limits;

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "outbox_tls_tests.rs"]
mod tls_tests;
