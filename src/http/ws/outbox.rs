//! A connection's bounded outbound queue of whole WebSocket frames.
//!
//! Frames are `Bytes` built once (a live event's frame is the same buffer for
//! every subscriber) and written with vectored writes straight to the socket
//! by the connection's one task: no per-connection write buffer, no copy, and
//! every frame queued since the last write goes out in one system call. Bytes
//! are counted from push until written, so a peer that stops reading shows up
//! as a full outbox whose last progress is old.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, Bytes};
use tokio::io::AsyncWrite;

use crate::protocol::wsframe;

/// Frames handed to one vectored write at most.
const MAX_IOV: usize = 64;

pub struct Outbox {
    inner: Mutex<Inner>,
    max_bytes: usize,
}

struct Inner {
    queue: VecDeque<Bytes>,
    /// Queued and not yet written.
    bytes: usize,
    last_progress: Instant,
    /// No more frames are accepted (a close frame was queued, or the socket failed).
    closed: bool,
}

impl Outbox {
    pub fn new(max_bytes: usize) -> Self {
        Outbox {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                bytes: 0,
                last_progress: Instant::now(),
                closed: false,
            }),
            max_bytes,
        }
    }

    // Only the connection's own task touches the queue, and never across an
    // await: an uncontended std Mutex.
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a whole frame; dropped once the outbox is closed.
    pub fn push(&self, frame: Bytes) {
        let mut i = self.lock();
        if i.closed || frame.is_empty() {
            return;
        }
        if i.bytes == 0 {
            i.last_progress = Instant::now();
        }
        i.bytes += frame.len();
        i.queue.push_back(frame);
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

    /// At or over the byte bound: live events wait and are caught up later.
    pub fn is_full(&self) -> bool {
        self.lock().bytes >= self.max_bytes
    }

    /// Below half the bound: room to catch a lagging space up.
    pub fn has_room(&self) -> bool {
        self.lock().bytes < self.max_bytes / 2
    }

    pub fn is_empty(&self) -> bool {
        self.lock().queue.is_empty()
    }

    /// Bytes are waiting and nothing was written for `limit`.
    pub fn stalled_for(&self, limit: std::time::Duration) -> bool {
        let i = self.lock();
        i.bytes > 0 && i.last_progress.elapsed() >= limit
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Stop accepting frames; what is queued is still written.
    pub fn close(&self) {
        self.lock().closed = true;
    }

    /// Writes queued frames to `io` until the queue is empty or the socket
    /// would block. Ready with the bytes written once there was progress;
    /// Pending (socket waker registered) when there was none.
    pub fn poll_write_to<W: AsyncWrite + Unpin>(
        &self,
        io: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<usize>> {
        let mut i = self.lock();
        let mut written = 0;
        while !i.queue.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let mut count = 0;
            for (slot, b) in slices.iter_mut().zip(i.queue.iter()) {
                *slot = IoSlice::new(b);
                count += 1;
            }
            let n = match Pin::new(&mut *io).poll_write_vectored(cx, &slices[..count]) {
                Poll::Pending if written > 0 => break,
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    i.closed = true;
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(0)) => {
                    i.closed = true;
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => n,
            };
            written += n;
            i.bytes -= n;
            let mut left = n;
            while left > 0 {
                let front = i.queue.front_mut().expect("written bytes were queued");
                if front.len() <= left {
                    left -= front.len();
                    i.queue.pop_front();
                } else {
                    front.advance(left);
                    left = 0;
                }
            }
        }
        i.last_progress = Instant::now();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(out: &Outbox, io: &mut Vec<u8>) -> usize {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        match out.poll_write_to(io, &mut cx) {
            Poll::Ready(Ok(n)) => n,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn frames_go_out_in_order_and_are_counted_until_written() {
        let out = Outbox::new(100);
        out.push(Bytes::from_static(b"ab"));
        out.text("x");
        assert!(!out.is_empty());
        let mut sink = Vec::new();
        assert_eq!(drain(&out, &mut sink), 5);
        assert_eq!(sink, b"ab\x81\x01x");
        assert!(out.is_empty() && out.has_room());
    }

    #[test]
    fn nothing_is_accepted_after_a_close() {
        let out = Outbox::new(100);
        out.close_with(1012, "restart");
        out.text("late");
        let mut sink = Vec::new();
        drain(&out, &mut sink);
        assert_eq!(sink[0], 0x88);
        assert_eq!(&sink[4..], b"restart");
        assert!(out.is_closed());
    }

    #[test]
    fn bounds() {
        let out = Outbox::new(10);
        out.push(Bytes::from(vec![0u8; 6]));
        assert!(!out.is_full() && !out.has_room());
        out.push(Bytes::from(vec![0u8; 6]));
        assert!(out.is_full());
        assert!(out.stalled_for(std::time::Duration::ZERO));
    }
}
