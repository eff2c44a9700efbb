//! Connection caps and the timeouts for slow or idle clients
//! (docs/security.md, "Limits").

use std::time::Duration;

use clap::Args;

use crate::http::listen::NetConfig;

/// Head room kept below the open-file limit for the store, logs and
/// outgoing requests when `TIDEMARK_MAX_CONNECTIONS` is 0.
const FD_RESERVE: u64 = 256;

#[derive(Args, Clone, Debug)]
pub struct NetArgs {
    /// Open connections in all; past it new ones are refused at once with
    /// 503 (0: the open-file limit less 256).
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_MAX_CONNECTIONS",
        default_value_t = 0
    )]
    pub max_connections: usize,
    /// Open connections from one IP address; behind a proxy every client
    /// has the proxy's address, so raise it there (0: no cap).
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_MAX_CONNECTIONS_PER_IP",
        default_value_t = 1024
    )]
    pub max_connections_per_ip: usize,
    /// A request's head must arrive within this, from the connection's open
    /// or the end of the previous response (also the keep-alive idle time),
    /// milliseconds.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_HTTP_HEADER_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub http_header_timeout_ms: u64,
    /// A request's body must arrive whole within this, milliseconds.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_HTTP_BODY_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub http_body_timeout_ms: u64,
    /// An HTTP connection on which no byte moves either way this long is
    /// closed (longer than the long-poll wait and the heartbeat), milliseconds.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_HTTP_IDLE_TIMEOUT_MS",
        default_value_t = 120_000
    )]
    pub http_idle_timeout_ms: u64,
    /// Serve HTTPS and `wss://` with this PEM certificate chain (leaf
    /// first); needs `TIDEMARK_TLS_KEY`. Unset: plain HTTP.
    #[arg(global = true, long, env = "TIDEMARK_TLS_CERT")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The certificate's PEM private key (PKCS#8, PKCS#1 or SEC1).
    #[arg(global = true, long, env = "TIDEMARK_TLS_KEY")]
    pub tls_key: Option<std::path::PathBuf>,
    /// How often the certificate and key files are checked for a change
    /// and reloaded (SIGHUP reloads at once), milliseconds (0: SIGHUP only).
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_TLS_RELOAD_INTERVAL_MS",
        default_value_t = 5_000
    )]
    pub tls_reload_interval_ms: u64,
    /// Proxies (addresses or networks, comma-separated) whose
    /// `X-Forwarded-For` names the client; from anyone else it is ignored.
    /// Their connections count in the total only; each WebSocket or SSE
    /// stream they forward counts under its client's address.
    #[arg(global = true, long, env = "TIDEMARK_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
}

impl NetArgs {
    pub fn config(&self) -> NetConfig {
        NetConfig {
            header_timeout: Duration::from_millis(self.http_header_timeout_ms.max(1)),
            body_timeout: Duration::from_millis(self.http_body_timeout_ms.max(1)),
            idle_timeout: Duration::from_millis(self.http_idle_timeout_ms.max(1)),
            max_connections: match self.max_connections {
                0 => open_file_limit().map_or(0, |n| n.saturating_sub(FD_RESERVE).max(1) as usize),
                n => n,
            },
            max_connections_per_ip: self.max_connections_per_ip,
            tls: None,
            tls_reload_interval: Duration::from_millis(self.tls_reload_interval_ms),
            trusted_proxies: Default::default(),
        }
    }

    /// The trusted proxies; an entry that does not parse stops the server.
    pub fn trusted_proxies(&self) -> Result<crate::http::listen::TrustedProxies, String> {
        let list: Vec<String> = self.trusted_proxies.iter().cloned().collect();
        crate::http::listen::TrustedProxies::parse(&list)
    }

    /// The TLS setup, loaded from the files (`None` without them); a
    /// missing half or a file that does not load stops the server at start.
    pub fn tls(&self) -> Result<Option<std::sync::Arc<crate::http::listen::Tls>>, String> {
        match (&self.tls_cert, &self.tls_key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => crate::http::listen::Tls::load(cert, key).map(Some),
            (Some(_), None) => Err("TIDEMARK_TLS_CERT is set without TIDEMARK_TLS_KEY".into()),
            (None, Some(_)) => Err("TIDEMARK_TLS_KEY is set without TIDEMARK_TLS_CERT".into()),
        }
    }

    /// The idle timeout must outlast a long-poll wait and a heartbeat, or
    /// healthy clients would be cut off.
    pub fn check(&self, long_poll_max: Duration, heartbeat: Duration) -> Result<(), String> {
        let idle = Duration::from_millis(self.http_idle_timeout_ms);
        let floor = (long_poll_max + Duration::from_secs(5)).max(heartbeat * 2);
        if idle < floor {
            return Err(format!(
                "TIDEMARK_HTTP_IDLE_TIMEOUT_MS ({} ms) must be at least {} ms: longer than the long-poll wait plus 5 s and twice the heartbeat",
                idle.as_millis(),
                floor.as_millis()
            ));
        }
        Ok(())
    }
}

/// The soft limit on open files, where the platform has one.
fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let text = std::fs::read_to_string("/proc/self/limits").ok()?;
        let line = text.lines().find(|l| l.starts_with("Max open files"))?;
        line.split_whitespace().nth(3)?.parse().ok()
    }
    #[cfg(not(unix))]
    {
        None
    }
}
