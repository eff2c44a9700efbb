use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::StoreResult;

/// PostgreSQL: one pool; the conditional version update orders writers, also
/// across nodes sharing the database.
pub struct PostgresStore {
    pub(crate) write: PgPool,
    pub(crate) read: PgPool,
    pub(crate) committer: super::group::Committer,
    /// This node's id in the notices it sends (`notify.rs`).
    pub(crate) node: String,
    /// Spaces held against other nodes' commits now (`lock.rs`).
    pub(crate) held: std::sync::Arc<tokio::sync::Semaphore>,
    url: String,
}

impl PostgresStore {
    pub async fn open(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(super::ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        let writer = pool.clone();
        let node = uuid::Uuid::new_v4().simple().to_string();
        let me: std::sync::Arc<str> = node.as_str().into();
        let committer = super::group::Committer::spawn(512, 2, move |commits| {
            let pool = writer.clone();
            let me = me.clone();
            async move {
                let r = PostgresStore::run_batch(&pool, &me, &commits).await;
                (commits, r)
            }
        });
        Ok(PostgresStore {
            write: pool.clone(),
            read: pool,
            committer,
            node,
            held: Self::new_held(),
            url: url.to_string(),
        })
    }

    /// Other nodes' commits, from `LISTEN` (`notify.rs`).
    async fn watch_others(
        &self,
    ) -> StoreResult<Option<tokio::sync::mpsc::Receiver<super::Notice>>> {
        Ok(Some(super::notify::listen(&self.url, &self.node).await?))
    }

    /// Presence to the other nodes (`NOTIFY` on its own channel).
    async fn announce_others(&self, payload: &str) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(super::notify::PRESENCE_CHANNEL)
            .bind(payload)
            .execute(&self.read)
            .await?;
        Ok(())
    }

    pub fn pool(&self) -> &PgPool {
        &self.read
    }
}

super::sql::impl_sql_store!(PostgresStore, sqlx::Postgres, "postgres");
