//! Accepting connections: socket options, the connection caps, and the
//! timeouts that keep slow or idle clients from holding the server
//! (docs/security.md, "Limits"). Every connection runs on hyper with a
//! timer, so its header-read timeout applies; see [`NetConfig`].

mod body;
mod caps;
mod client;
mod io;
pub mod sock;
mod tls;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

pub use body::BodyTimeout;
pub use caps::{ConnCaps, ConnPermit, Refusal};
pub use client::{Client, TrustedProxies};
pub use io::ConnIo;
pub use sock::{ReadSide, Sock, WriteSide};
pub use tls::Tls;

/// Connection limits and timeouts.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// A request's head must arrive within this, counted from the
    /// connection's open or the end of the previous response (so it is also
    /// how long an idle keep-alive connection stays open).
    pub header_timeout: Duration,
    /// A request's body must arrive whole within this, from its first read.
    pub body_timeout: Duration,
    /// An HTTP connection (not a WebSocket) on which no byte moves either
    /// way this long is closed.
    pub idle_timeout: Duration,
    /// Open connections in all (0: no cap).
    pub max_connections: usize,
    /// Open connections from one IP address (0: no cap).
    pub max_connections_per_ip: usize,
    /// Serve HTTPS and `wss://` with this certificate (`None`: plain HTTP).
    pub tls: Option<std::sync::Arc<Tls>>,
    /// How often the certificate files are checked for a change (0: only
    /// on SIGHUP).
    pub tls_reload_interval: Duration,
    /// Proxies whose `X-Forwarded-For` names the client (`client.rs`).
    pub trusted_proxies: TrustedProxies,
}

/// Options every accepted socket gets, whatever it goes on to carry
/// (WebSocket, SSE, long-poll, plain HTTP):
///
/// - `TCP_NODELAY`: tidemark writes small frames, each whole, and waits for
///   the next request or ack; with Nagle's algorithm on, a frame written
///   while an earlier one is unacknowledged waits for the peer's delayed ACK
///   (~40 ms on Linux). Every ack and event would carry that wait.
/// - TCP keep-alive (first probe after 60 s idle, then every 10 s, 5 tries):
///   a peer that vanished without a FIN (power loss, a NAT or a load balancer
///   dropping state) is found by the kernel on connections that carry no
///   heartbeat of their own (HTTP keep-alive, a long-poll in its wait).
///
/// Left alone on purpose: `SO_REUSEPORT` (two processes on one port would
/// split clients between them without a word; run nodes on their own ports
/// behind the balancer) and the listen backlog (`server::bind`).
pub fn tune_accepted(tcp: &TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY on an accepted socket");
    }
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10));
    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "freebsd"))]
    let keepalive = keepalive.with_retries(5);
    if let Err(e) = socket2::SockRef::from(tcp).set_tcp_keepalive(&keepalive) {
        tracing::debug!(error = %e, "cannot set TCP keep-alive on an accepted socket");
    }
}

/// The next connection, tuned ([`tune_accepted`]). Errors that concern one
/// connection are skipped; running out of file descriptors waits a moment
/// (as axum's own loop does) rather than spinning.
pub async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                tune_accepted(&tcp);
                return (tcp, peer);
            }
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// Serves `app` on `listener` until `stop` is cancelled, then stops
/// accepting and waits for the open HTTP exchanges to finish (upgraded
/// WebSockets are the caller's: they run as tasks of their own).
pub async fn run(listener: TcpListener, app: Router, cfg: NetConfig, stop: CancellationToken) {
    let caps = ConnCaps::new(cfg.max_connections, cfg.max_connections_per_ip);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.header_timeout)
        // What hyper buffers per connection: a response body it has taken
        // from a stream (SSE) but the socket has not, and a request head.
        // hyper's default (~400 KiB) came on top of each SSE stream's own
        // byte budget; 64 KiB still takes any request head we accept.
        .max_buf_size(64 * 1024);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    match &cfg.tls {
        Some(tls) => tls.watch(cfg.tls_reload_interval, stop.clone()),
        None => tls::ignore_hangup(stop.clone()),
    }
    let serve = std::sync::Arc::new(Serve {
        app,
        builder,
        cfg,
        caps: caps.clone(),
    });
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            c = accept(&listener) => c,
        };
        let proxy = serve.cfg.trusted_proxies.contains(peer.ip());
        let permit = match caps.admit_as(peer.ip(), !proxy) {
            Ok(p) => p,
            Err(why) => {
                tokio::spawn(refuse(tcp, why));
                continue;
            }
        };
        let watcher = graceful.watcher();
        match serve.cfg.tls.clone() {
            None => serve.conn(Sock::Plain(tcp), permit, peer, watcher),
            // The handshake runs on the connection's own task: a slow one
            // holds up nobody else's accept.
            Some(tls) => {
                let serve = serve.clone();
                tokio::spawn(async move {
                    if let Some(sock) = tls.accept(tcp, serve.cfg.header_timeout).await {
                        serve.conn(sock, permit, peer, watcher);
                    }
                });
            }
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

/// What serving one connection needs.
struct Serve {
    app: Router,
    builder: Builder<TokioExecutor>,
    cfg: NetConfig,
    caps: std::sync::Arc<ConnCaps>,
}

impl Serve {
    /// Runs HTTP on an accepted (and, on the TLS port, decrypted) stream.
    fn conn(
        &self,
        sock: Sock,
        permit: ConnPermit,
        peer: SocketAddr,
        watcher: hyper_util::server::graceful::Watcher,
    ) {
        let cfg = &self.cfg;
        let io = TokioIo::new(ConnIo::new(
            sock,
            permit,
            cfg.header_timeout,
            cfg.idle_timeout,
        ));
        let body_timeout = cfg.body_timeout;
        let cut = Cut(CancellationToken::new());
        let cut_here = cut.0.clone();
        let app = self.app.clone();
        let (trusted, caps) = (cfg.trusted_proxies.clone(), self.caps.clone());
        let svc =
            hyper::service::service_fn(move |req: axum::http::Request<hyper::body::Incoming>| {
                let mut req =
                    req.map(|b| axum::body::Body::new(body::DeadlineBody::new(b, body_timeout)));
                let client = Client::new(peer.ip(), &trusted, req.headers(), &caps);
                req.extensions_mut().insert(client);
                req.extensions_mut().insert(ConnectInfo(peer));
                req.extensions_mut().insert(cut.clone());
                app.clone().oneshot(req)
            });
        let conn = self
            .builder
            .serve_connection_with_upgrades(io, svc)
            .into_owned();
        let conn = watcher.watch(conn);
        tokio::spawn(async move {
            tokio::select! {
                r = conn => if let Err(e) = r {
                    tracing::trace!(error = %e, %peer, "connection ended with an error");
                },
                // Dropping the connection closes its socket and frees what
                // hyper held for it.
                _ = cut_here.cancelled() => {}
            }
        });
    }
}

/// Ends the HTTP connection a request came on, at once, whatever hyper
/// still holds for it (a request extension). For a stream whose reader
/// stopped reading: its queued bytes and socket are let go now, not when
/// the peer finally reads or the connection times out.
#[derive(Clone, Debug)]
pub struct Cut(pub CancellationToken);

/// [`Client::hold`] for a request (none without the extension, as in
/// tests that call the router directly), refused as the caps refuse.
pub fn hold_client(
    client: Option<&Client>,
) -> Result<Option<ConnPermit>, crate::http::error::ApiError> {
    match client.map(Client::hold) {
        None | Some(Ok(None)) => Ok(None),
        Some(Ok(Some(p))) => Ok(Some(p)),
        Some(Err(_)) => Err(crate::http::error::ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "too_many_connections",
            "too many connections from this address; close some and retry".to_string(),
        )),
    }
}

/// A whole HTTP/1.1 error answer written straight to a socket that hyper
/// never saw (refused at accept, or plain HTTP on the TLS port), in the
/// usual `{"error":{"code","message"}}` shape; the connection closes after.
pub(crate) fn raw_error(status: &str, extra_headers: &str, code: &str, message: &str) -> Vec<u8> {
    let body = format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#);
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra_headers}connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Over a cap: a short 503 if the socket takes it at once, then close.
async fn refuse(mut tcp: TcpStream, why: Refusal) {
    let message = match why {
        Refusal::Server => "the server holds as many connections as it allows; retry later",
        Refusal::Address => "too many connections from this address; close some and retry",
    };
    let answer = raw_error(
        "503 Service Unavailable",
        "retry-after: 1\r\n",
        "too_many_connections",
        message,
    );
    let _ = tokio::time::timeout(Duration::from_millis(100), async {
        tcp.write_all(&answer).await?;
        tcp.shutdown().await
    })
    .await;
}
