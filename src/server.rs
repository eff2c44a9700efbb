//! Builds the application from settings and runs it on a bound listener until
//! a shutdown future resolves. Tests start it on `127.0.0.1:0`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::ServeArgs;
use crate::engine::Engine;
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
    // Before anything records: handles taken earlier would record nothing.
    crate::obs::install();
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
    if let Some(short) = args.jwt_previous_secrets.iter().find(|s| s.len() < 16) {
        return Err(StartError::Config(format!(
            "TIDEMARK_JWT_PREVIOUS_SECRETS: every secret must be at least 16 bytes (one has {})",
            short.len()
        )));
    }
    crate::http::check_origins(&args.allowed_origins).map_err(StartError::Config)?;
    args.net
        .check(
            Duration::from_secs(args.long_poll_max_secs),
            args.ws_config().heartbeat,
        )
        .map_err(StartError::Config)?;
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
    let store = crate::store::connect_with(
        &args.database_url,
        crate::store::StoreOptions {
            sqlite_cache_kib: args.sqlite_cache_mib.saturating_mul(1024),
        },
    )
    .await?;
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
    let st = AppState {
        engine,
        auth: Arc::new(args.token_auth(&secret)),
        cfg: Arc::new(HttpConfig {
            dev: args.dev,
            dev_roles: args.dev_roles().map_err(StartError::Config)?,
            max_body_bytes: args.max_body_bytes,
            max_mutations_per_sync: args.max_mutations_per_sync,
            long_poll_max: Duration::from_secs(args.long_poll_max_secs),
            allowed_origins: args.allowed_origins.clone(),
            net: crate::http::listen::NetConfig {
                tls: args.net.tls().map_err(StartError::Config)?,
                trusted_proxies: args.net.trusted_proxies().map_err(StartError::Config)?,
                ..args.net.config()
            },
            metrics: args.metrics.parse().map_err(StartError::Config)?,
            ws: args.ws_config(),
        }),
        shutdown,
        tasks: tokio_util::task::TaskTracker::new(),
        ws_registry: Default::default(),
        ws_hubs: Default::default(),
        outbound: Arc::new(crate::http::pressure::Pressure::new(
            args.outbound_budget_bytes,
        )),
        grace: Duration::from_secs(args.shutdown_grace_secs),
        lockbox: Arc::new(lockbox),
        domain: Arc::new(domain),
    };
    // Presence between nodes on one PostgreSQL (a no-op on SQLite).
    crate::http::ws::relay::start(&st, st.cfg.ws.presence_interval);
    Ok(st)
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
    let net = state.cfg.net.clone();
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
    tokio::spawn(signal);
    let mut served = tokio::spawn(crate::http::listen::run(listener, app, net, token.clone()));
    tokio::select! {
        biased;
        _ = token.cancelled() => {}
        r = &mut served => {
            // The accept loop ended before any shutdown was asked for.
            token.cancel();
            return r.map_err(std::io::Error::other);
        }
    }
    tasks.close();
    let finished = tokio::time::timeout(grace, async {
        tasks.wait().await;
        served.await
    })
    .await;
    match finished {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(std::io::Error::other(e)),
        Err(_) => {
            tracing::warn!("shutdown grace period over; closing the remaining connections");
            Ok(())
        }
    }
}
