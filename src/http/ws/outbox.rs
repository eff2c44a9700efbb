//! A connection's bounded outbound queue and the task that writes it.
//!
//! The connection task pushes frames; the writer task takes everything queued,
//! writes it with one flush, and reports progress. Bytes are counted from push
//! until flushed, so a peer that stops reading shows up as a full outbox whose
//! last progress is old.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::ws::{Message, WebSocket};
use futures::SinkExt;
use futures::stream::SplitSink;
use tokio::sync::Notify;

pub struct Outbox {
    inner: Mutex<Inner>,
    /// Wakes the writer.
    wake: Notify,
    /// Wakes the connection when the queue drained below half its bound.
    pub drained: Notify,
    max_bytes: usize,
}

struct Inner {
    queue: VecDeque<Message>,
    /// Queued plus being written.
    bytes: usize,
    last_progress: Instant,
    /// The writer has ended (socket error or close sent).
    closed: bool,
}

fn size(m: &Message) -> usize {
    match m {
        Message::Text(t) => t.len(),
        Message::Binary(b) => b.len(),
        _ => 16,
    }
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
            wake: Notify::new(),
            drained: Notify::new(),
            max_bytes,
        }
    }

    // The lock is never held across an await: plain std Mutex is fine.
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn push(&self, m: Message) {
        {
            let mut i = self.lock();
            if i.closed {
                return;
            }
            if i.bytes == 0 {
                i.last_progress = Instant::now();
            }
            i.bytes += size(&m);
            i.queue.push_back(m);
        }
        self.wake.notify_one();
    }

    /// At or over the byte bound: live events wait and are caught up later.
    pub fn is_full(&self) -> bool {
        self.lock().bytes >= self.max_bytes
    }

    /// Below half the bound: room to catch a lagging space up.
    pub fn has_room(&self) -> bool {
        self.lock().bytes < self.max_bytes / 2
    }

    /// Bytes are waiting and nothing was written for `limit`.
    pub fn stalled_for(&self, limit: std::time::Duration) -> bool {
        let i = self.lock();
        i.bytes > 0 && i.last_progress.elapsed() >= limit
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Stop accepting frames; the writer ends after what is queued.
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
    }

    fn take(&self) -> Option<(Vec<Message>, usize)> {
        let mut i = self.lock();
        if i.queue.is_empty() {
            return if i.closed {
                None
            } else {
                Some((Vec::new(), 0))
            };
        }
        let batch: Vec<Message> = i.queue.drain(..).collect();
        let bytes = batch.iter().map(size).sum();
        Some((batch, bytes))
    }

    fn written(&self, bytes: usize) {
        let half = {
            let mut i = self.lock();
            i.bytes = i.bytes.saturating_sub(bytes);
            i.last_progress = Instant::now();
            i.bytes < self.max_bytes / 2
        };
        if half {
            self.drained.notify_one();
        }
    }

    fn ended(&self) {
        let mut i = self.lock();
        i.closed = true;
        i.queue.clear();
        drop(i);
        self.drained.notify_one();
    }
}

/// Writes queued frames until the outbox is closed and empty, a close frame
/// was sent, or the socket fails. Several frames go out with one flush.
pub async fn writer(mut sink: SplitSink<WebSocket, Message>, outbox: std::sync::Arc<Outbox>) {
    loop {
        let Some((batch, bytes)) = outbox.take() else {
            break;
        };
        if batch.is_empty() {
            outbox.wake.notified().await;
            continue;
        }
        let mut closing = false;
        let mut failed = false;
        for m in batch {
            closing |= matches!(m, Message::Close(_));
            if sink.feed(m).await.is_err() {
                failed = true;
                break;
            }
        }
        if failed || sink.flush().await.is_err() {
            break;
        }
        outbox.written(bytes);
        if closing {
            break;
        }
    }
    outbox.ended();
    let _ = sink.close().await;
}
