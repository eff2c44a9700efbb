//! The WebSocket opening handshake (RFC 6455 §4.2), done here rather than by
//! axum's `WebSocketUpgrade` so the connection keeps its own stream (TCP, or
//! TLS over it): the read half goes to tungstenite (masked client frames,
//! control frames), the write half takes prebuilt frames with vectored
//! writes.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::SUBPROTOCOL;
use super::outbox::Replies;
use crate::http::error::ApiError;
use crate::http::listen::{ConnIo, ConnPermit, ReadSide, WriteSide};

/// A validated upgrade request: the 101 answer and the pending upgrade.
pub struct Accepted {
    pub response: Response,
    pub on_upgrade: OnUpgrade,
}

/// A refused handshake: the usual JSON error.
fn bad(status: StatusCode, message: &str) -> Box<Response> {
    let code = if status == StatusCode::UPGRADE_REQUIRED {
        "upgrade_required"
    } else {
        "bad_request"
    };
    Box::new(ApiError::new(status, code, message.to_string()).into_response())
}

/// A comma-separated header lists `token` (case-insensitively, as
/// `Connection` and `Upgrade` tokens are compared).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    lists(headers, name, |t| t.eq_ignore_ascii_case(token))
}

fn lists(headers: &HeaderMap, name: header::HeaderName, is: impl Fn(&str) -> bool) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .map(|s| s.split(',').any(|t| is(t.trim())))
            .unwrap_or(false)
    })
}

/// Checks the request is a WebSocket upgrade and builds the 101 answer,
/// choosing `tidemark.v1` when the client offers it. A refusal is a JSON
/// error: 400 for a malformed handshake, 426 (with `Sec-WebSocket-Version:
/// 13`, RFC 6455 §4.4) for another protocol version.
pub fn accept(req: &mut Request) -> Result<Accepted, Box<Response>> {
    let h = req.headers();
    if !has_token(h, header::CONNECTION, "upgrade") {
        return Err(bad(
            StatusCode::BAD_REQUEST,
            "expected `Connection: upgrade` (a WebSocket handshake)",
        ));
    }
    if !has_token(h, header::UPGRADE, "websocket") {
        return Err(bad(
            StatusCode::BAD_REQUEST,
            "expected `Upgrade: websocket` (a WebSocket handshake)",
        ));
    }
    match h.get(header::SEC_WEBSOCKET_VERSION) {
        None => {
            return Err(bad(
                StatusCode::BAD_REQUEST,
                "`Sec-WebSocket-Version` header missing (expected 13)",
            ));
        }
        Some(v) if v.as_bytes() != b"13" => {
            let mut refused = bad(
                StatusCode::UPGRADE_REQUIRED,
                "this server speaks WebSocket version 13 only",
            );
            refused.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            return Err(refused);
        }
        Some(_) => {}
    }
    // The key is 16 random bytes in base64 (RFC 6455 §4.1).
    let key = h
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|k| BASE64.decode(k.as_bytes()).is_ok_and(|b| b.len() == 16));
    let Some(key) = key else {
        return Err(bad(
            StatusCode::BAD_REQUEST,
            "`Sec-WebSocket-Key` must be 16 bytes in base64",
        ));
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    // Subprotocol tokens are case-sensitive (RFC 6455 §4.1).
    let offered = lists(h, header::SEC_WEBSOCKET_PROTOCOL, |t| t == SUBPROTOCOL);
    let Some(on_upgrade) = req.extensions_mut().remove::<OnUpgrade>() else {
        return Err(bad(
            StatusCode::UPGRADE_REQUIRED,
            "this connection cannot be upgraded to a WebSocket",
        ));
    };
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let rh = response.headers_mut();
    rh.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    rh.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        rh.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    if offered {
        rh.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(SUBPROTOCOL),
        );
    }
    Ok(Accepted {
        response,
        on_upgrade,
    })
}

/// The upgraded connection's stream, split, with any bytes the HTTP
/// layer read past the request put back in front of the read half. The read
/// half keeps the connection's place under the connection caps.
pub async fn socket(on_upgrade: OnUpgrade) -> Result<(Reader, WriteSide), String> {
    let upgraded = on_upgrade.await.map_err(|e| e.to_string())?;
    let parts = hyper_util::server::conn::auto::upgrade::downcast::<TokioIo<ConnIo>>(upgraded)
        .map_err(|_| "the upgraded connection is not a tidemark socket".to_string())?;
    let (sock, permit) = parts.io.into_inner().into_parts();
    let (rd, wr) = sock.split();
    let pre = parts.read_buf;
    Ok((
        Reader {
            pre: if pre.is_empty() { Bytes::new() } else { pre },
            rd,
            _permit: permit,
        },
        wr,
    ))
}

/// The read half, after the bytes read ahead during the handshake.
pub struct Reader {
    pre: Bytes,
    rd: ReadSide,
    _permit: ConnPermit,
}

impl AsyncRead for Reader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.pre.is_empty() {
            let n = self.pre.len().min(buf.remaining());
            buf.put_slice(&self.pre.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.rd).poll_read(cx, buf)
    }
}

/// What tungstenite runs on: it reads the socket, and what it writes (its
/// replies to the peer's control frames) joins the outbox.
pub struct Duplex {
    rd: Reader,
    wr: Replies,
}

impl Duplex {
    pub fn new(rd: Reader, wr: Replies) -> Duplex {
        Duplex { rd, wr }
    }
}

impl AsyncRead for Duplex {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.rd).poll_read(cx, buf)
    }
}

impl AsyncWrite for Duplex {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.wr).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.wr).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.wr).poll_shutdown(cx)
    }
}
