//! The `lockbox` table (migration 0003): one sealed key per (owner, provider).
//!
//! Kept apart from the engine's [`Store`](crate::store::Store) trait: this is a
//! small pool of its own, opened from the same database URL, so the sync core
//! needs no lockbox knowledge. Rows hold ciphertext only (see [`super::crypto`]).

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{PgPool, Row, SqlitePool};

use super::{Provider, Sealed};
use crate::store::{StoreError, StoreResult};

/// One stored key. Not secret: `sealed` is ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockboxRow {
    pub owner: String,
    pub provider: Provider,
    pub sealed: Sealed,
    pub last4: Option<String>,
    /// RFC 3339 UTC, millisecond precision.
    pub updated_at: String,
    /// The provider refused this key: why and when, in words.
    pub refused: Option<String>,
}

/// Connection pools for the lockbox table. Cheap to clone.
#[derive(Clone)]
pub enum LockboxStore {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same statement on whichever pool this is: SQLite accepts the
/// `$N` placeholders PostgreSQL uses, so one text serves both.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            LockboxStore::Sqlite($pool) => $body,
            LockboxStore::Postgres($pool) => $body,
        }
    };
}

/// Runs a statement inside the owner's lock transaction when there is one
/// (PostgreSQL), else on the pool.
macro_rules! on_locked {
    ($store:expr, $lock:expr, $exec:ident => $body:expr) => {
        match ($store, $lock.0.as_mut()) {
            (_, Some(tx)) => {
                let $exec = &mut **tx;
                $body
            }
            (LockboxStore::Sqlite($exec), None) => $body,
            (LockboxStore::Postgres($exec), None) => $body,
        }
    };
}

/// The columns [`row_from`] reads.
macro_rules! columns {
    () => {
        "owner, provider, sealed, last4, updated_at, refused"
    };
}

impl LockboxStore {
    /// Opens pools on `url` (`sqlite:...` or `postgres://...`) and runs the
    /// migrations (a no-op when the engine's store already did).
    pub async fn open(url: &str) -> StoreResult<Self> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(2)
                .connect_with(opts)
                .await?;
            sqlx::migrate!("migrations/sqlite").run(&pool).await?;
            Ok(LockboxStore::Sqlite(pool))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            sqlx::migrate!("migrations/postgres").run(&pool).await?;
            Ok(LockboxStore::Postgres(pool))
        } else {
            Err(StoreError::BadUrl(url.to_string()))
        }
    }

    pub async fn get(&self, owner: &str, provider: Provider) -> StoreResult<Option<LockboxRow>> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM lockbox WHERE owner = $1 AND provider = $2"
        );
        let row = on_pool!(self, pool => {
            match sqlx::query(sql)
                .bind(owner)
                .bind(provider.as_str())
                .fetch_optional(pool)
                .await?
            {
                Some(r) => Some(row_from(&r)?),
                None => None,
            }
        });
        Ok(row)
    }

    /// The owner's rows, in provider order.
    pub async fn list(&self, owner: &str) -> StoreResult<Vec<LockboxRow>> {
        self.list_in(&mut OwnerLock(None), owner).await
    }

    /// [`list`](Self::list) inside the owner's lock: a lock holder needs no
    /// second connection from the small pool.
    pub async fn list_in(&self, lock: &mut OwnerLock, owner: &str) -> StoreResult<Vec<LockboxRow>> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM lockbox WHERE owner = $1 ORDER BY provider"
        );
        let rows = on_locked!(self, lock, exec => {
            let rows = sqlx::query(sql).bind(owner).fetch_all(exec).await?;
            rows.iter().map(row_from).collect::<StoreResult<Vec<_>>>()?
        });
        Ok(rows)
    }

    /// Inserts or replaces the owner's key for the row's provider, inside
    /// the owner's lock (it takes effect when the lock is committed).
    pub async fn upsert(&self, lock: &mut OwnerLock, row: &LockboxRow) -> StoreResult<()> {
        let sql = "INSERT INTO lockbox (owner, provider, kid, sealed, last4, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) \
                   ON CONFLICT (owner, provider) DO UPDATE SET kid = excluded.kid, \
                   sealed = excluded.sealed, last4 = excluded.last4, updated_at = excluded.updated_at, \
                   refused = NULL";
        let sealed = row.sealed.encode();
        on_locked!(self, lock, exec => {
            sqlx::query(sql)
                .bind(&row.owner)
                .bind(row.provider.as_str())
                .bind(row.sealed.kid())
                .bind(&sealed)
                .bind(&row.last4)
                .bind(&row.updated_at)
                .execute(exec)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Removes the owner's key, inside the owner's lock; true when there was one.
    pub async fn delete(
        &self,
        lock: &mut OwnerLock,
        owner: &str,
        provider: Provider,
    ) -> StoreResult<bool> {
        let sql = "DELETE FROM lockbox WHERE owner = $1 AND provider = $2";
        let n = on_locked!(self, lock, exec => {
            sqlx::query(sql)
                .bind(owner)
                .bind(provider.as_str())
                .execute(exec)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Up to `limit` rows after `(owner, provider)` in key order: how rotation
    /// walks the table without holding it.
    pub async fn page_after(
        &self,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> StoreResult<Vec<LockboxRow>> {
        let (owner, provider) = after.unwrap_or(("", ""));
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM lockbox WHERE owner > $1 OR (owner = $1 AND provider > $2) ",
            "ORDER BY owner, provider LIMIT $3"
        );
        let rows = on_pool!(self, pool => {
            let rows = sqlx::query(sql)
                .bind(owner)
                .bind(provider)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
            rows.iter().map(row_from).collect::<StoreResult<Vec<_>>>()?
        });
        Ok(rows)
    }

    /// Replaces a row's ciphertext only if it still holds `old` (a key set or
    /// deleted meanwhile wins). `updated_at` is left alone: the user's key did
    /// not change. True when the row was updated.
    pub async fn replace_sealed(
        &self,
        owner: &str,
        provider: Provider,
        old: &Sealed,
        new: &Sealed,
    ) -> StoreResult<bool> {
        let sql = "UPDATE lockbox SET kid = $1, sealed = $2 \
                   WHERE owner = $3 AND provider = $4 AND sealed = $5";
        let (old, encoded) = (old.encode(), new.encode());
        let n = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(new.kid())
                .bind(&encoded)
                .bind(owner)
                .bind(provider.as_str())
                .bind(&old)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// Marks the stored key refused (`Some(why)`) or accepted (`None`), only
    /// if the row still holds the key that was checked (a key set meanwhile
    /// is not touched). True when the row was updated.
    pub async fn set_refused(
        &self,
        owner: &str,
        provider: Provider,
        checked: &Sealed,
        why: Option<&str>,
    ) -> StoreResult<bool> {
        let sql = "UPDATE lockbox SET refused = $1 \
                   WHERE owner = $2 AND provider = $3 AND sealed = $4";
        let sealed = checked.encode();
        let n = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(why)
                .bind(owner)
                .bind(provider.as_str())
                .bind(&sealed)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    /// Serializes one owner's lockbox writes across every node sharing a
    /// PostgreSQL database: a transaction holding an advisory lock, in which
    /// the row writes run. [`OwnerLock::commit`] makes them take effect;
    /// dropping the guard instead (an error path) rolls them back and frees
    /// the lock (the pool rolls back on release). For SQLite, which one node
    /// owns, the guard is empty and the writes go straight to the pool.
    pub async fn lock_owner(&self, owner: &str) -> StoreResult<OwnerLock> {
        match self {
            LockboxStore::Sqlite(_) => Ok(OwnerLock(None)),
            LockboxStore::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                    .bind(format!("tidemark.lockbox:{owner}"))
                    .execute(&mut *tx)
                    .await?;
                Ok(OwnerLock(Some(tx)))
            }
        }
    }
}

/// Held while one owner's lockbox rows and documents are brought in step.
pub struct OwnerLock(Option<sqlx::Transaction<'static, sqlx::Postgres>>);

impl OwnerLock {
    /// Commits the row writes made under the lock and frees it.
    pub async fn commit(self) -> StoreResult<()> {
        if let Some(tx) = self.0 {
            tx.commit().await?;
        }
        Ok(())
    }
}

fn row_from<R: Row>(r: &R) -> StoreResult<LockboxRow>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let provider: String = r.try_get("provider")?;
    let sealed: String = r.try_get("sealed")?;
    Ok(LockboxRow {
        owner: r.try_get("owner")?,
        provider: Provider::parse(&provider)
            .map_err(|_| StoreError::Corrupt(format!("lockbox row with provider `{provider}`")))?,
        // The parse error names a reason only, never the text.
        sealed: Sealed::parse(&sealed)
            .map_err(|e| StoreError::Corrupt(format!("lockbox row: {e}")))?,
        last4: r.try_get("last4")?,
        updated_at: r.try_get("updated_at")?,
        refused: r.try_get("refused")?,
    })
}
