//! An accepted connection's byte stream: plain TCP, or TLS over it
//! (`tls.rs`). HTTP runs on either through [`super::ConnIo`]; an upgraded
//! WebSocket splits it into a read half (tungstenite's) and a write half
//! the outbox writes whole frames to, from the connection's task and from
//! the spaces' pushers.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::server::TlsStream;

pub enum Sock {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Calls the same method on either kind of stream.
macro_rules! either {
    ($self:expr, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Sock::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            Sock::Tls($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
        }
    };
}

impl AsyncRead for Sock {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        either!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Sock {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        either!(self, s => s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        either!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Sock::Plain(s) => s.is_write_vectored(),
            Sock::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        either!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        either!(self, s => s.poll_shutdown(cx))
    }
}

impl Sock {
    /// Read and write halves that work from different tasks at once.
    pub fn split(self) -> (ReadSide, WriteSide) {
        match self {
            Sock::Plain(tcp) => {
                let (r, w) = tcp.into_split();
                (ReadSide::Plain(r), WriteSide::Plain(w))
            }
            Sock::Tls(tls) => {
                let (r, w) = tokio::io::split(*tls);
                (ReadSide::Tls(r), WriteSide::Tls(w))
            }
        }
    }
}

pub enum ReadSide {
    Plain(OwnedReadHalf),
    Tls(ReadHalf<TlsStream<TcpStream>>),
}

impl AsyncRead for ReadSide {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadSide::Plain(r) => Pin::new(r).poll_read(cx, buf),
            ReadSide::Tls(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

/// The write half. Over TLS, bytes a write accepted may still sit
/// encrypted in the TLS layer until the socket takes them: the writer then
/// must flush ([`WriteSide::poll_flush`]) as well as write.
pub enum WriteSide {
    Plain(OwnedWriteHalf),
    Tls(WriteHalf<TlsStream<TcpStream>>),
}

impl WriteSide {
    /// Writes what the socket takes now, without registering any waker
    /// (`WouldBlock` when it takes nothing). Over TLS a waker registered
    /// earlier by the connection's task may be replaced by a no-op one, so
    /// a caller that gets `WouldBlock` or leaves bytes unflushed must wake
    /// that task to poll again (`Outbox` does).
    pub fn try_write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            WriteSide::Plain(w) => w.try_write_vectored(bufs),
            WriteSide::Tls(w) => {
                let mut cx = Context::from_waker(Waker::noop());
                match Pin::new(w).poll_write_vectored(&mut cx, bufs) {
                    Poll::Ready(r) => r,
                    Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
                }
            }
        }
    }

    /// [`WriteSide::poll_flush`] without a waker: true once nothing is left
    /// in the TLS layer.
    pub fn try_flush(&mut self) -> io::Result<bool> {
        let mut cx = Context::from_waker(Waker::noop());
        match self.poll_flush(&mut cx) {
            Poll::Ready(r) => r.map(|()| true),
            Poll::Pending => Ok(false),
        }
    }

    /// Over TLS, writes what the TLS layer holds; plain TCP holds nothing.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            WriteSide::Plain(_) => Poll::Ready(Ok(())),
            WriteSide::Tls(w) => Pin::new(w).poll_flush(cx),
        }
    }

    /// Whether writes can leave bytes behind that need a flush.
    pub fn buffers(&self) -> bool {
        matches!(self, WriteSide::Tls(_))
    }
}

impl AsyncWrite for WriteSide {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteSide::Plain(w) => Pin::new(w).poll_write(cx, buf),
            WriteSide::Tls(w) => Pin::new(w).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteSide::Plain(w) => Pin::new(w).poll_write_vectored(cx, bufs),
            WriteSide::Tls(w) => Pin::new(w).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        WriteSide::poll_flush(self.get_mut(), cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteSide::Plain(w) => Pin::new(w).poll_shutdown(cx),
            WriteSide::Tls(w) => Pin::new(w).poll_shutdown(cx),
        }
    }
}
