//! The bytes of a server-sent events stream: each message built once at its
//! exact size (`event:`, `id:`, `data:` lines), and the response body that
//! yields them, with a `: heartbeat` comment after each quiet interval.
//!
//! Built here rather than with axum's `Event` so that what a stream holds is
//! what its budget counts: `Event` grows a buffer by doubling, so a queued
//! message held up to twice its size (found by heaptrack under
//! `scripts/bench hostile --kinds sse`).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::{Instant, Sleep};

const HEARTBEAT: &[u8] = b": heartbeat\n\n";

/// What a queued message holds until the HTTP layer takes it: its share of
/// the stream's byte budget and of the sum over all clients.
pub type Queued = (OwnedSemaphorePermit, super::pressure::Held);

/// One SSE message. `data` may hold line breaks (a document's raw JSON
/// keeps the client's whitespace): each line becomes its own `data:` line,
/// which the reader joins back with `\n`.
pub fn message(kind: &str, id: Option<&str>, data: &[u8]) -> Bytes {
    Bytes::from(build(kind, id, data))
}

/// One SSE message whose data `write` appends (JSON from the serializer),
/// written into a buffer allocated once at about `hint` bytes. JSON with a
/// line break inside (a raw document may keep one) goes through
/// [`message`] instead, to become `data:` lines.
pub fn message_with(
    kind: &str,
    id: Option<&str>,
    hint: usize,
    write: impl FnOnce(&mut Vec<u8>),
) -> Bytes {
    let mut out = Vec::with_capacity(hint + 32 + kind.len() + id.map_or(0, str::len));
    head(&mut out, kind, id);
    out.extend_from_slice(b"data: ");
    let at = out.len();
    write(&mut out);
    if out[at..].iter().any(|&b| b == b'\n' || b == b'\r') {
        return message(kind, id, &out[at..]);
    }
    out.extend_from_slice(b"\n\n");
    crate::protocol::wsframe::fit(&mut out);
    Bytes::from(out)
}

/// The `event:` line and, with an id, the `id:` line.
fn head(out: &mut Vec<u8>, kind: &str, id: Option<&str>) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.push(b'\n');
    if let Some(id) = id {
        out.extend_from_slice(b"id: ");
        out.extend_from_slice(id.as_bytes());
        out.push(b'\n');
    }
}

fn build(kind: &str, id: Option<&str>, data: &[u8]) -> Vec<u8> {
    let lines = data.split(|&b| b == b'\n').count();
    let dropped = (lines - 1) + data.iter().filter(|&&b| b == b'\r').count();
    let mut out = Vec::with_capacity(
        8 + kind.len() + id.map_or(0, |i| 5 + i.len()) + data.len() - dropped + 7 * lines + 1,
    );
    head(&mut out, kind, id);
    for line in data.split(|&b| b == b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend(line.iter().filter(|&&b| b != b'\r'));
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// The response body: messages as the stream's task queues them, and a
/// heartbeat comment when none came for `every`. Each message holds its
/// share of the stream's budget and of the sum over all clients until the
/// HTTP layer asks for the next one: hyper asks only once what it buffered
/// is below its own bound (`max_buf_size`, 64 KiB), so a message counts
/// until it is (nearly all) in the kernel's hands, not only until hyper
/// took it — a snapshot hyper holds for a reader that stopped reading is
/// counted, and that reader is found stalled.
pub struct Frames {
    rx: mpsc::Receiver<(Bytes, Queued)>,
    every: Duration,
    quiet: Pin<Box<Sleep>>,
    handed: Option<Queued>,
}

impl Frames {
    pub fn new(rx: mpsc::Receiver<(Bytes, Queued)>, every: Duration) -> Self {
        Frames {
            rx,
            every,
            quiet: Box::pin(tokio::time::sleep(every)),
            handed: None,
        }
    }
}

impl Stream for Frames {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let every = self.every;
        // Asked for more: what was handed over last has left hyper's buffer.
        self.handed = None;
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some((bytes, queued))) => {
                self.handed = Some(queued);
                self.quiet.as_mut().reset(Instant::now() + every);
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.quiet.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.quiet.as_mut().reset(Instant::now() + every);
                    Poll::Ready(Some(Ok(Bytes::from_static(HEARTBEAT))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Bytes, Frames, build, message};
    use crate::http::pressure::{Held, Pressure};
    use futures::{FutureExt, StreamExt};
    use std::sync::Arc;
    use tokio::sync::{Semaphore, mpsc};

    #[tokio::test]
    async fn a_message_counts_until_the_next_one_is_asked_for() {
        let pressure = Arc::new(Pressure::new(1 << 20));
        let budget = Arc::new(Semaphore::new(1000));
        let (tx, rx) = mpsc::channel(4);
        let mut body = Frames::new(rx, std::time::Duration::from_secs(60));
        let queue = |n: usize| {
            let permit = budget.clone().try_acquire_many_owned(n as u32).unwrap();
            (
                Bytes::from(vec![b'x'; n]),
                (permit, Held::new(&pressure, n)),
            )
        };
        tx.send(queue(300)).await.unwrap();
        tx.send(queue(200)).await.unwrap();
        let first = body.next().now_or_never().flatten().unwrap().unwrap();
        assert_eq!(first.len(), 300);
        // Handed to the HTTP layer, not yet asked past: still counted (hyper
        // may hold it for a reader that stopped reading).
        assert_eq!(pressure.queued(), 500);
        assert_eq!(budget.available_permits(), 500);
        let second = body.next().now_or_never().flatten().unwrap().unwrap();
        assert_eq!(second.len(), 200);
        assert_eq!(pressure.queued(), 200, "the first is given back");
        assert_eq!(budget.available_permits(), 800);
        // Asked again with nothing queued: the last one is given back too.
        assert!(body.next().now_or_never().is_none());
        assert_eq!(pressure.queued(), 0);
        assert_eq!(budget.available_permits(), 1000);
    }

    #[test]
    fn one_line_of_data() {
        let m = message("event", Some("e:3"), br#"{"a":1}"#);
        assert_eq!(&m[..], b"event: event\nid: e:3\ndata: {\"a\":1}\n\n");
        // Built at its exact size: no spare capacity held while queued.
        for (kind, id, data) in [
            ("event", Some("e:3"), &b"{}"[..]),
            ("snapshot", None, &b"{\n1\n}"[..]),
            ("up_to_date", Some("x:1"), &b""[..]),
        ] {
            let v = build(kind, id, data);
            assert_eq!(v.capacity(), v.len(), "{kind}");
        }
    }

    #[test]
    fn a_message_written_in_place_is_the_same_message() {
        for data in [&b"{}"[..], br#"{"a":[1,2,3]}"#, b"{\"a\":\r\n 1}", b""] {
            for hint in [0, 4, 1000] {
                let m = super::message_with("snapshot", Some("e:1"), hint, |out| {
                    out.extend_from_slice(data)
                });
                assert_eq!(m, message("snapshot", Some("e:1"), data), "{hint}");
            }
        }
    }

    #[test]
    fn line_breaks_become_data_lines() {
        let m = message("snapshot", None, b"{\"a\":\r\n 1,\n\"b\":2}");
        assert_eq!(
            &m[..],
            b"event: snapshot\ndata: {\"a\":\ndata:  1,\ndata: \"b\":2}\n\n"
        );
    }
}
