use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::StoreResult;

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
            .connect_with(opts.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&write).await?;
        let read = if memory {
            write.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts.read_only(true))
                .await?
        };
        let pool = write.clone();
        let committer = super::group::Committer::spawn(512, 1, move |commits| {
            let pool = pool.clone();
            async move {
                let r = SqliteStore::run_batch(&pool, &commits).await;
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

super::sql::impl_sql_store!(SqliteStore, sqlx::Sqlite, "sqlite", "", false);
