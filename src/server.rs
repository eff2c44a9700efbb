//! Builds the application from settings and runs it on a bound listener until
//! a shutdown future resolves. Tests start it on `127.0.0.1:0`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::ServeArgs;
use crate::engine::Engine;
use crate::http::auth::Auth;
use crate::http::{AppState, HttpConfig};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Connects the store, starts the engine and prepares the shared state.
pub async fn build(args: &ServeArgs) -> Result<AppState, StartError> {
    if args.dev && !args.listen.ip().is_loopback() {
        return Err(StartError::Config(format!(
            "--dev mints tokens for anyone and is refused on {}; listen on 127.0.0.1 or drop --dev",
            args.listen
        )));
    }
    let secret = match &args.jwt_secret {
        Some(s) if s.len() < 16 => {
            return Err(StartError::Config(
                "TIDEMARK_JWT_SECRET must be at least 16 bytes".into(),
            ));
        }
        Some(s) => s.as_bytes().to_vec(),
        None => {
            tracing::warn!(
                "TIDEMARK_JWT_SECRET is not set: using a random secret; only --dev tokens will work"
            );
            uuid::Uuid::new_v4()
                .as_bytes()
                .iter()
                .chain(uuid::Uuid::new_v4().as_bytes())
                .copied()
                .collect()
        }
    };
    crate::http::check_origins(&args.allowed_origins).map_err(StartError::Config)?;
    // Refuse a malformed or short master key before anything else; its error
    // names the entry, never the key.
    let master_keys = crate::domain::lockbox::master_keys(&args.lockbox)
        .map_err(|e| StartError::Config(e.to_string()))?;
    // `--dev` on a fresh machine: a development key in a file beside the
    // database, so the demo's API-key fields work (src/devkey.rs).
    let master_keys = match master_keys {
        None if args.dev && args.dev_master_key => Some(
            crate::devkey::load_or_create(&crate::devkey::path_for(&args.database_url))
                .map_err(StartError::Config)?,
        ),
        keys => keys,
    };
    let store = crate::store::connect(&args.database_url).await?;
    let mut engine_cfg = args.engine_config();
    // Seed domain checks and event names.
    crate::domain::setup::install_hooks(&mut engine_cfg);
    // Lockbox and model_config checks run after any validator installed above.
    let catalog = crate::domain::lockbox::CatalogView::default();
    engine_cfg.validator = Some(crate::domain::lockbox::compose_validator(
        engine_cfg.validator.take(),
        catalog.clone(),
    ));
    // Other nodes on the same PostgreSQL (docs/architecture.md, "Several nodes"); SQLite has none.
    let others = store.watch().await?;
    let engine = Engine::new(store, engine_cfg);
    if let Some(feed) = others {
        crate::cluster::follow(&engine, feed);
    }
    catalog
        .attach(&engine)
        .await
        .map_err(|e| StartError::Config(format!("cannot load the catalog: {e}")))?;
    if master_keys.is_none() {
        tracing::warn!(
            "TIDEMARK_MASTER_KEYS is not set: the lockbox answers 503 and stores nothing"
        );
    }
    let lockbox =
        crate::domain::lockbox::Lockbox::open(&args.lockbox, master_keys, &args.database_url)
            .await
            .map_err(StartError::Config)?;
    // Default catalog and provider health task; stops at shutdown.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let domain_cfg = args.domain_config();
    let domain = crate::domain::setup::start(&engine, &domain_cfg, shutdown.clone()).await;
    Ok(AppState {
        engine,
        auth: Arc::new(Auth::new(&secret, args.jwt_audience.clone())),
        cfg: Arc::new(HttpConfig {
            dev: args.dev,
            max_body_bytes: args.max_body_bytes,
            max_mutations_per_sync: args.max_mutations_per_sync,
            long_poll_max: Duration::from_secs(args.long_poll_max_secs),
            allowed_origins: args.allowed_origins.clone(),
            ws: args.ws_config(),
        }),
        shutdown,
        tasks: tokio_util::task::TaskTracker::new(),
        ws_registry: Default::default(),
        ws_hubs: Default::default(),
        grace: Duration::from_secs(args.shutdown_grace_secs),
        lockbox: Arc::new(lockbox),
        domain: Arc::new(domain),
    })
}

/// Binds the listener with a deep accept backlog: after a network blip
/// thousands of clients reconnect at once, and connections dropped from a
/// full backlog are only retried by the kernel after a second.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
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
/// behind the balancer) and the listen backlog, set in [`bind`].
pub fn tune_accepted(tcp: &tokio::net::TcpStream) {
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

/// The listener as [`serve`] accepts from it: every accepted socket goes
/// through [`tune_accepted`] first.
pub fn accepting(listener: TcpListener) -> Accepting {
    use axum::serve::ListenerExt;
    fn tap(tcp: &mut tokio::net::TcpStream) {
        tune_accepted(tcp)
    }
    listener.tap_io(tap)
}

/// What [`accepting`] returns.
pub type Accepting = axum::serve::TapIo<TcpListener, fn(&mut tokio::net::TcpStream)>;

/// Serves until `shutdown` resolves; then stops accepting, lets in-flight
/// requests and writes finish, closes WebSockets with 1012 and ends SSE
/// streams, all within the grace period.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let token = state.shutdown.clone();
    let tasks = state.tasks.clone();
    let grace = state.grace;
    let app = crate::http::router(state);
    let signal = {
        let token = token.clone();
        async move {
            tokio::select! {
                _ = shutdown => {}
                _ = token.cancelled() => {}
            }
            token.cancel();
        }
    };
    let server = axum::serve(
        accepting(listener),
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(signal);
    let mut served = tokio::spawn(async move { server.await });
    tokio::select! {
        biased;
        _ = token.cancelled() => {}
        r = &mut served => {
            // The listener failed before any shutdown was asked for.
            token.cancel();
            return r.map_err(std::io::Error::other)?;
        }
    }
    tasks.close();
    let finished = tokio::time::timeout(grace, async {
        tasks.wait().await;
        served.await
    })
    .await;
    match finished {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(std::io::Error::other(e)),
        Err(_) => {
            tracing::warn!("shutdown grace period over; closing the remaining connections");
            Ok(())
        }
    }
}
