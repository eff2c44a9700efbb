use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{Commit, CommitOutcome, StoreResult};

/// SQLite in WAL mode: one writer connection (SQLite serializes writers anyway,
/// and one connection avoids busy errors), a small pool of readers.
pub struct SqliteStore {
    pub(crate) write: SqlitePool,
    pub(crate) read: SqlitePool,
    pub(crate) committer: super::group::Committer,
}

impl SqliteStore {
    pub async fn open(url: &str) -> StoreResult<Self> {
        let memory = url.contains(":memory:");
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(if memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            // WAL + NORMAL is durable against process crashes (kill -9); only an
            // OS crash or power loss can lose the last transactions.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            // The writer keeps the hot pages of every active space in a 64 MiB
            // cache and checkpoints every 10,000 WAL pages (~40 MiB) instead of
            // 1,000: a page written by many commits reaches the database file
            // once per checkpoint, so fewer checkpoints write fewer pages
            // (writes bench: 8,500 -> 11,400 mutations/s).
            .connect_with(
                opts.clone()
                    .pragma("cache_size", "-65536")
                    .pragma("wal_autocheckpoint", "10000"),
            )
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&write).await?;
        let read = if memory {
            write.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts.clone().read_only(true))
                .await?
        };
        let pool = write.clone();
        let committer = super::group::Committer::spawn(512, 1, move |commits| {
            let pool = pool.clone();
            async move {
                let r = write_batch(&pool, &commits).await;
                (commits, r)
            }
        });
        Ok(SqliteStore {
            write,
            read,
            committer,
        })
    }
}

/// Locks the one writer connection and writes the batch in place on this
/// (the committer's) thread; see `sqlite_batch.rs`.
async fn write_batch(pool: &SqlitePool, commits: &[Commit]) -> StoreResult<Vec<CommitOutcome>> {
    let mut conn = pool.acquire().await?;
    let mut handle = conn.lock_handle().await?;
    // SAFETY: the locked handle is open, and sqlx leaves the connection alone
    // until `handle` is dropped, after `run` returns.
    unsafe { super::sqlite_batch::run(handle.as_raw_handle(), commits) }
}

super::sql::impl_sql_store!(SqliteStore, sqlx::Sqlite, "sqlite");
