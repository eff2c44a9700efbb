//! The socket under every HTTP connection: it carries the connection's
//! [`ConnPermit`] and closes the connection when no byte has moved either
//! way for the idle timeout (a client that stopped reading a response, or
//! stopped sending one it began). A WebSocket upgrade takes the socket and
//! the permit out ([`ConnIo::into_parts`]): WebSockets have their own
//! heartbeat and slow-consumer rules.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::caps::ConnPermit;
use super::sock::Sock;

pub struct ConnIo {
    tcp: Sock,
    permit: ConnPermit,
    /// The limit now: the header timeout until the first byte arrives (a
    /// connection that says nothing is cut as a slow head is; hyper's own
    /// header timer starts only with a request), then the idle timeout.
    idle: Duration,
    after_first: Option<Duration>,
    last: Instant,
    /// Fires at most once per idle period: when it does and bytes moved
    /// since, it is set again from the last movement.
    timer: Pin<Box<Sleep>>,
}

impl ConnIo {
    /// `first` bounds the wait for the connection's first byte, `idle` every
    /// silence after it.
    pub fn new(tcp: Sock, permit: ConnPermit, first: Duration, idle: Duration) -> ConnIo {
        let last = Instant::now();
        ConnIo {
            tcp,
            permit,
            idle: first,
            after_first: Some(idle),
            last,
            timer: Box::pin(tokio::time::sleep_until(last + first)),
        }
    }

    pub fn into_parts(self) -> (Sock, ConnPermit) {
        (self.tcp, self.permit)
    }

    fn moved(&mut self) {
        self.last = Instant::now();
    }

    /// Called when the socket would block: an error once the connection has
    /// been idle too long.
    fn idle_check(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let due = self.last + self.idle;
            if Instant::now() >= due {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle past the idle timeout",
                ));
            }
            self.timer.as_mut().reset(due);
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.tcp).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before
                    && let Some(idle) = this.after_first.take()
                {
                    this.idle = idle;
                }
                this.moved();
                Poll::Ready(r)
            }
            Poll::Pending => this.idle_check(cx).map(Err),
        }
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.tcp).poll_write(cx, buf) {
            Poll::Ready(r) => {
                this.moved();
                Poll::Ready(r)
            }
            Poll::Pending => this.idle_check(cx).map(Err),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                this.moved();
                Poll::Ready(r)
            }
            Poll::Pending => this.idle_check(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn pair(idle: Duration) -> (ConnIo, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        let permit = super::super::ConnCaps::new(0, 0).admit(peer.ip()).unwrap();
        (ConnIo::new(Sock::Plain(server), permit, idle, idle), client)
    }

    #[tokio::test]
    async fn a_silent_peer_times_out_and_a_talking_one_does_not() {
        let (mut io, mut client) = pair(Duration::from_millis(300)).await;
        // Bytes every 100 ms keep it open past several idle periods.
        let talker = tokio::spawn(async move {
            for _ in 0..10 {
                client.write_all(b"x").await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            client
        });
        let mut got = 0;
        let mut buf = [0u8; 16];
        while got < 10 {
            got += io
                .read(&mut buf)
                .await
                .expect("no timeout while bytes move");
        }
        let _client = talker.await.unwrap();
        // Then silence: the read fails with TimedOut.
        let err = io.read(&mut buf).await.expect_err("idle");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn a_connection_that_never_speaks_gets_the_first_byte_limit() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        let permit = super::super::ConnCaps::new(0, 0).admit(peer.ip()).unwrap();
        let mut io = ConnIo::new(
            Sock::Plain(server),
            permit,
            Duration::from_millis(200),
            Duration::from_secs(3600),
        );
        let mut buf = [0u8; 16];
        let err = io.read(&mut buf).await.expect_err("silent");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        // One that speaks at once gets the long idle limit afterwards.
        let (mut io, mut client2) = {
            let c = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (s, p) = listener.accept().await.unwrap();
            let permit = super::super::ConnCaps::new(0, 0).admit(p.ip()).unwrap();
            (
                ConnIo::new(
                    Sock::Plain(s),
                    permit,
                    Duration::from_millis(200),
                    Duration::from_secs(3600),
                ),
                c,
            )
        };
        client2.write_all(b"x").await.unwrap();
        assert_eq!(io.read(&mut buf).await.unwrap(), 1);
        let quiet = tokio::time::timeout(Duration::from_millis(600), io.read(&mut buf)).await;
        assert!(
            quiet.is_err(),
            "no timeout after the first byte within the idle limit"
        );
        client.write_all(b"").await.unwrap();
    }

    #[tokio::test]
    async fn a_peer_that_stops_reading_times_out_the_writer() {
        let (mut io, _client) = pair(Duration::from_millis(300)).await;
        let chunk = vec![0u8; 64 * 1024];
        let err = loop {
            if let Err(e) = io.write(&chunk).await {
                break e;
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
