//! Durable storage: one trait, two implementations (SQLite, PostgreSQL) that
//! share their reading SQL (`sql.rs`); each writes group-commit batches its
//! own way (`batch.rs` for PostgreSQL, `sqlite_batch.rs`). The store knows nothing of sockets or HTTP.

mod batch;
mod group;
mod lock;
mod notify;
mod postgres;
mod sql;
mod sqlite;
mod sqlite_batch;
mod sqlite_wal;

use async_trait::async_trait;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database url `{0}` (use sqlite://FILE or postgres://...)")]
    BadUrl(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database did not answer in time (retryable).
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Longest a group commit may take before it fails as unavailable (its
/// outcome then unknown to the engine, which re-reads the space).
pub(crate) const BATCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Longest wait for a pooled PostgreSQL connection.
pub(crate) const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl StoreError {
    /// The database could not be reached or did not answer (as opposed to
    /// refusing one statement): retrying commits one by one cannot help.
    pub fn is_outage(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Db(e) => !matches!(e, sqlx::Error::Database(_) | sqlx::Error::RowNotFound),
            _ => false,
        }
    }
}

/// A document row as stored; `value` is JSON text, `None` a tombstone.
#[derive(Debug, Clone)]
pub struct StoredDoc {
    pub collection: String,
    pub id: String,
    pub version: u64,
    pub value: Option<String>,
}

/// Everything the engine needs to bring a space into memory.
#[derive(Debug, Clone)]
pub struct LoadedSpace {
    pub epoch: String,
    pub version: u64,
    pub log_start: u64,
    pub docs: Vec<StoredDoc>,
}

/// The head of a space only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceHead {
    pub epoch: String,
    pub version: u64,
}

/// Records a mutation as processed for `(owner, client_id)`.
#[derive(Debug, Clone)]
pub struct ClientRecord {
    pub owner: String,
    pub client_id: String,
    pub mutation_id: u64,
    /// The outcome JSON repeated to a retry.
    pub result: String,
}

/// One transaction: client bookkeeping, version bump, doc rows, event rows.
#[derive(Debug, Clone)]
pub struct Commit {
    pub client: Option<ClientRecord>,
    /// `None` when only the client's progress is recorded (e.g. a forbidden mutation).
    pub space: Option<SpaceCommit>,
}

#[derive(Debug, Clone)]
pub struct SpaceCommit {
    pub space: String,
    pub epoch: String,
    /// The version the engine's memory holds; the commit fails as `Stale` otherwise.
    pub base_version: u64,
    /// Equal to `base_version` for a no-op or a rejection.
    pub new_version: u64,
    pub docs: Vec<StoredDoc>,
    /// `(version, event JSON)`, shared with the in-memory event record.
    pub events: Vec<(u64, std::sync::Arc<serde_json::value::RawValue>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed,
    /// The space moved on (another node, or a reset); nothing was written.
    Stale,
    /// `(owner, client_id, mutation_id)` was processed before; its stored outcome.
    Duplicate(Option<String>),
    /// The mutation id skips ahead of `last + 1`; nothing was written.
    OutOfOrder {
        last: u64,
    },
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn kind(&self) -> &'static str;
    /// Loads a space, creating its row (with a fresh epoch) when missing.
    async fn load_space(&self, space: &str, new_epoch: &str) -> StoreResult<LoadedSpace>;
    async fn head(&self, space: &str) -> StoreResult<Option<SpaceHead>>;
    /// Commits through the group committer; durable when it returns `Committed`.
    async fn commit(&self, commit: Commit) -> StoreResult<CommitOutcome>;
    /// Events with `after < version <= upto`, oldest first, at most `limit`.
    async fn events(
        &self,
        space: &str,
        after: u64,
        upto: u64,
        limit: u32,
    ) -> StoreResult<Vec<(u64, String)>>;
    /// Deletes events with version <= `through` and tombstones older than them.
    async fn compact(&self, space: &str, through: u64) -> StoreResult<()>;
    async fn ping(&self) -> StoreResult<()>;
    /// Holds `space` against other nodes' commits until the returned lock
    /// commits or is dropped, so a writer that keeps losing the space to
    /// other nodes wins the next time (PostgreSQL: the client's and the
    /// space's rows `FOR UPDATE` in an open transaction, in the order a batch
    /// locks them). `None` where one node owns the database (SQLite): its
    /// writer lock in memory already orders every commit.
    async fn lock_space(
        &self,
        space: &str,
        client: Option<(&str, &str)>,
    ) -> StoreResult<Option<Box<dyn SpaceLock>>>;
    /// Spaces moved by other nodes sharing this database, as they commit
    /// (PostgreSQL `LISTEN`/`NOTIFY`; docs/architecture.md, "Several nodes"); `None` where one node owns
    /// the database (SQLite). The feed ends when the receiver is dropped.
    async fn watch(&self) -> StoreResult<Option<tokio::sync::mpsc::Receiver<Notice>>>;
    /// Tells the other nodes sharing this database `payload` (presence:
    /// PostgreSQL `NOTIFY` on its own channel, heard as `Notice::Presence`);
    /// nothing where one node owns the database.
    async fn announce(&self, _payload: &str) -> StoreResult<()> {
        Ok(())
    }
}

/// A space held against other nodes' commits ([`Store::lock_space`]).
#[async_trait]
pub trait SpaceLock: Send {
    /// Commits in the held transaction (never `Stale` while the epoch
    /// holds), then lets the space go.
    async fn commit(self: Box<Self>, commit: Commit) -> StoreResult<CommitOutcome>;
}

/// What the store tells the engine of other nodes' commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Another node committed `space` up to `version`.
    Moved { space: String, version: u64 },
    /// The feed was interrupted (its connection dropped and came back):
    /// notices may have been missed, so every space may have moved.
    Missed,
    /// Another node's announcement (presence, `http/ws/presence_relay.rs`),
    /// as it sent it.
    Presence(String),
}

/// How a store is opened, beyond its URL.
#[derive(Clone, Copy, Debug)]
pub struct StoreOptions {
    /// SQLite: the writer connection's page cache, KiB. Pages it does not
    /// hold are read from the operating system's file cache, outside the
    /// process; a larger cache trades the server's own memory for fewer
    /// such reads.
    pub sqlite_cache_kib: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            sqlite_cache_kib: 16 * 1024,
        }
    }
}

/// Opens the store named by a URL: `sqlite://file.db`, `sqlite:///abs.db`,
/// `sqlite::memory:`, `postgres://...`. Runs migrations.
pub async fn connect(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    connect_with(url, StoreOptions::default()).await
}

/// [`connect`] with options.
pub async fn connect_with(
    url: &str,
    options: StoreOptions,
) -> StoreResult<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStore::open(url, options).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(PostgresStore::open(url).await?))
    } else {
        Err(StoreError::BadUrl(url.to_string()))
    }
}

pub(crate) fn to_u64(v: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative {what}: {v}")))
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
