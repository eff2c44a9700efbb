//! Settings from flags or `TIDEMARK_*` environment variables (README, "Configuration").

use std::net::SocketAddr;
use std::time::Duration;

use clap::{ArgAction, Args};

use crate::engine::{EngineConfig, Limits};

mod net;
pub use net::NetArgs;

/// Every setting is `global`: it may come before or after the subcommand
/// (`tidemark --dev serve`, `tidemark serve --dev`, `tidemark migrate
/// --database-url ...`), and each subcommand's `--help` lists them.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,
    /// `sqlite://FILE` (created when missing) or `postgres://...`.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_DATABASE_URL",
        default_value = "sqlite://tidemark.db"
    )]
    pub database_url: String,
    /// HS256 secret for bearer tokens. Without one a random secret is used and
    /// only `--dev` tokens work.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_JWT_SECRET",
        hide_env_values = true
    )]
    pub jwt_secret: Option<String>,
    /// Expected `aud` claim: when set, every token must carry it.
    #[arg(global = true, long, env = "TIDEMARK_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Expected `iss` claim: when set, every token must carry it.
    #[arg(global = true, long, env = "TIDEMARK_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Earlier HS256 secrets, comma-separated: tokens signed with them are
    /// still accepted (never signed with), for rotating the secret.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_JWT_PREVIOUS_SECRETS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub jwt_previous_secrets: Vec<String>,
    /// Roles `POST /dev/token` may mint, comma-separated (user, admin,
    /// service); admin and service tokens are signed with the real secret.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_DEV_TOKEN_ROLES",
        value_delimiter = ',',
        default_value = "user"
    )]
    pub dev_token_roles: Vec<String>,
    /// Development mode (loopback only): `POST /dev/token` mints tokens.
    #[arg(global = true, long, env = "TIDEMARK_DEV", action = ArgAction::SetTrue)]
    pub dev: bool,
    /// With `--dev` and no `TIDEMARK_MASTER_KEYS`: generate a development
    /// lockbox key beside the database (`false`: run `--dev` without a lockbox).
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_DEV_MASTER_KEY",
        default_value_t = true,
        action = ArgAction::Set
    )]
    pub dev_master_key: bool,
    /// Origins allowed to call the HTTP API from a browser (comma-separated).
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// SQLite: the writer's page cache, MiB (what it does not hold is read
    /// from the OS file cache, outside the process).
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_SQLITE_CACHE_MIB",
        default_value_t = 16
    )]
    pub sqlite_cache_mib: u64,
    /// Largest HTTP request body.
    #[arg(global = true, long, env = "TIDEMARK_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest document (serialized JSON).
    #[arg(global = true, long, env = "TIDEMARK_MAX_DOC_BYTES", default_value_t = 256 * 1024)]
    pub max_doc_bytes: usize,
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_MAX_OPS_PER_MUTATION",
        default_value_t = 100
    )]
    pub max_ops_per_mutation: usize,
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_MAX_DOCS_PER_SPACE",
        default_value_t = 10_000
    )]
    pub max_docs_per_space: usize,
    /// Bytes of live documents' JSON one space may hold; a write past it
    /// gets `too_large`.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_MAX_SPACE_BYTES",
        default_value_t = 64 << 20
    )]
    pub max_space_bytes: usize,
    /// Bytes all loaded spaces may hold together (documents and recent
    /// events); past it idle spaces leave memory, then new loads and growing
    /// writes get `over_capacity` (0: half the machine's memory).
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_MEMORY_BUDGET_BYTES",
        default_value_t = 0
    )]
    pub memory_budget_bytes: usize,
    /// Mutations accepted in one `POST /v1/sync`.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_MAX_MUTATIONS_PER_SYNC",
        default_value_t = 500
    )]
    pub max_mutations_per_sync: usize,
    /// Recent events kept in memory per space.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_RING_EVENTS",
        default_value_t = 1024
    )]
    pub ring_events: usize,
    #[arg(global = true, long, env = "TIDEMARK_RING_BYTES", default_value_t = 1024 * 1024)]
    pub ring_bytes: usize,
    /// Events kept in the durable log per space (older ones are compacted).
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_LOG_RETENTION_EVENTS",
        default_value_t = 10_000
    )]
    pub log_retention_events: u64,
    /// Longest long-poll wait on `/version`, seconds.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_LONG_POLL_MAX_SECS",
        default_value_t = 30
    )]
    pub long_poll_max_secs: u64,
    /// Spaces unused this long leave memory, seconds.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_SPACE_IDLE_SECS",
        default_value_t = 300
    )]
    pub space_idle_secs: u64,
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_MAX_LOADED_SPACES",
        default_value_t = 100_000
    )]
    pub max_loaded_spaces: usize,
    /// WebSocket ping / SSE heartbeat interval, milliseconds.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_HEARTBEAT_MS",
        default_value_t = 25_000
    )]
    pub heartbeat_ms: u64,
    /// Largest WebSocket frame accepted from a client.
    #[arg(global = true, long, env = "TIDEMARK_WS_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub ws_max_frame_bytes: usize,
    /// Outbound bytes queued per connection before it is treated as lagging.
    #[arg(global = true, long, env = "TIDEMARK_WS_QUEUE_BYTES", default_value_t = 1024 * 1024)]
    pub ws_queue_bytes: usize,
    /// How often each node announces its presence entries to the other
    /// nodes on the same PostgreSQL (another node's entry is dropped after
    /// three intervals unheard), milliseconds.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_PRESENCE_INTERVAL_MS",
        default_value_t = 5_000
    )]
    pub presence_interval_ms: u64,
    /// Bytes queued for all WebSocket and SSE clients together: past a
    /// 64 KiB fair share a connection queues more only below it, and over
    /// it connections holding more than 64 KiB that make no progress for
    /// 1 s are closed as slow consumers (docs/security.md, "Memory").
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_OUTBOUND_BUDGET_BYTES",
        default_value_t = 8 * 1024 * 1024
    )]
    pub outbound_budget_bytes: usize,
    /// A connection that reads nothing for this long is closed with 4009, milliseconds.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_WS_SLOW_CONSUMER_MS",
        default_value_t = 10_000
    )]
    pub ws_slow_consumer_ms: u64,
    /// Time to send `auth` when no `access_token` was given, milliseconds.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_WS_AUTH_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub ws_auth_timeout_ms: u64,
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_WS_MAX_CONNS_PER_USER",
        default_value_t = 64
    )]
    pub ws_max_conns_per_user: usize,
    /// Messages per second per connection (burst: twice this).
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_WS_MSG_RATE",
        default_value_t = 200
    )]
    pub ws_msg_rate: u32,
    /// WebSocket connections one `admin` or `service` identity may hold at once.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_WS_TRUSTED_MAX_CONNS",
        default_value_t = 20_000
    )]
    pub ws_trusted_max_conns: usize,
    /// Messages per second per `admin` or `service` connection (burst: twice
    /// this): publishers are not throttled like browser tabs.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_WS_TRUSTED_MSG_RATE",
        default_value_t = 50_000
    )]
    pub ws_trusted_msg_rate: u32,
    /// Bad or excess messages within 10 s that close a connection with 4008.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_WS_ABUSE_THRESHOLD",
        default_value_t = 50
    )]
    pub ws_abuse_threshold: u32,
    /// A write the database has not answered within this fails with
    /// `store_unavailable` (503), milliseconds.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_WRITE_DEADLINE_MS",
        default_value_t = 2_000
    )]
    pub write_deadline_ms: u64,
    /// Time allowed for in-flight work at shutdown, seconds.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_SHUTDOWN_GRACE_SECS",
        default_value_t = 10
    )]
    pub shutdown_grace_secs: u64,
    /// Do not load the shipped catalog into an empty `catalog` space.
    #[arg(global = true, long, env = "TIDEMARK_NO_DEFAULT_CATALOG", action = ArgAction::SetTrue)]
    pub no_default_catalog: bool,
    /// Time between provider health probes (`health_url`), milliseconds; 0 = off.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_HEALTH_INTERVAL_MS",
        default_value_t = 30_000
    )]
    pub health_interval_ms: u64,
    /// Longest wait for one health probe, milliseconds.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_HEALTH_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub health_timeout_ms: u64,
    /// Consecutive failed probes before a provider is `unavailable`.
    #[arg(
        global = true,
        long,
        env = "TIDEMARK_HEALTH_FAILURES",
        default_value_t = 2
    )]
    pub health_failures: u32,
    /// Who may read `GET /metrics` (Prometheus): `admin` (an admin or
    /// service token), `public` (anyone who reaches the port), `off`.
    #[arg(global = true, long, env = "TIDEMARK_METRICS", default_value = "admin")]
    pub metrics: String,
    /// Connection caps and timeouts.
    #[command(flatten)]
    pub net: NetArgs,
    /// Lockbox: master keys (hidden values), server-wide provider keys, base URLs.
    #[command(flatten)]
    pub lockbox: crate::domain::lockbox::LockboxArgs,
}

impl ServeArgs {
    /// Defaults, as if no flag or variable were given.
    pub fn defaults() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct P {
            #[command(flatten)]
            a: ServeArgs,
        }
        P::parse_from(["tidemark"]).a
    }

    /// Token checks and signing with `secret` and the token settings
    /// (audience, issuer, previous secrets).
    pub fn token_auth(&self, secret: &[u8]) -> crate::http::auth::Auth {
        crate::http::auth::Auth::new(secret, self.jwt_audience.clone())
            .with_issuer(self.jwt_issuer.clone())
            .with_previous(self.jwt_previous_secrets.iter().map(|s| s.as_bytes()))
    }

    /// The roles `/dev/token` may mint, or the entry that is not a role.
    pub fn dev_roles(&self) -> Result<Vec<crate::engine::Role>, String> {
        self.dev_token_roles
            .iter()
            .map(|r| {
                serde_json::from_value(serde_json::Value::String(r.trim().to_string())).map_err(
                    |_| format!("TIDEMARK_DEV_TOKEN_ROLES: `{r}` is not user, admin or service"),
                )
            })
            .collect()
    }

    pub fn ws_config(&self) -> crate::http::WsConfig {
        crate::http::WsConfig {
            heartbeat: Duration::from_millis(self.heartbeat_ms.max(10)),
            max_frame_bytes: self.ws_max_frame_bytes,
            max_queue_bytes: self.ws_queue_bytes,
            outbound_budget_bytes: self.outbound_budget_bytes,
            presence_interval: Duration::from_millis(self.presence_interval_ms),
            slow_consumer: Duration::from_millis(self.ws_slow_consumer_ms),
            auth_timeout: Duration::from_millis(self.ws_auth_timeout_ms),
            max_subscriptions: 16,
            user: crate::http::RoleLimits {
                max_conns: self.ws_max_conns_per_user,
                msg_rate: self.ws_msg_rate,
                msg_burst: self.ws_msg_rate.saturating_mul(2).max(1),
            },
            trusted: crate::http::RoleLimits {
                max_conns: self.ws_trusted_max_conns,
                msg_rate: self.ws_trusted_msg_rate,
                msg_burst: self.ws_trusted_msg_rate.saturating_mul(2).max(1),
            },
            abuse_threshold: self.ws_abuse_threshold,
            read_buffer_bytes: 1024,
        }
    }

    /// The domain's background work (default catalog, provider health).
    pub fn domain_config(&self) -> crate::domain::setup::DomainConfig {
        use crate::domain::catalog::health::HealthConfig;
        crate::domain::setup::DomainConfig {
            default_catalog: !self.no_default_catalog,
            health: HealthConfig {
                interval: Duration::from_millis(self.health_interval_ms),
                timeout: Duration::from_millis(self.health_timeout_ms.max(1)),
                failures: self.health_failures.max(1),
            },
            env_keys: crate::domain::prefs::EnvKeys::from_args(&self.lockbox),
        }
    }

    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            limits: Limits {
                max_doc_bytes: self.max_doc_bytes,
                max_ops_per_mutation: self.max_ops_per_mutation,
                max_docs_per_space: self.max_docs_per_space,
                max_space_bytes: self.max_space_bytes,
            },
            ring_max_events: self.ring_events,
            ring_max_bytes: self.ring_bytes,
            log_retention_events: self.log_retention_events,
            space_idle: Duration::from_secs(self.space_idle_secs),
            max_loaded_spaces: self.max_loaded_spaces,
            write_deadline: Duration::from_millis(self.write_deadline_ms.max(1)),
            memory_budget: match self.memory_budget_bytes {
                0 => half_of_memory(),
                n => n,
            },
            ..EngineConfig::default()
        }
    }
}

/// Half the machine's memory (`/proc/meminfo`), or 4 GiB where it cannot be read.
fn half_of_memory() -> usize {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            let line = t.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024 / 2)
        })
        .unwrap_or(4 << 30)
}
