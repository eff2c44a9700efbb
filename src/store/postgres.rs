use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::StoreResult;

/// PostgreSQL: one pool; the conditional version update orders writers, also
/// across nodes sharing the database.
pub struct PostgresStore {
    pub(crate) write: PgPool,
    pub(crate) read: PgPool,
    pub(crate) committer: super::group::Committer,
}

impl PostgresStore {
    pub async fn open(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        let writer = pool.clone();
        let committer = super::group::Committer::spawn(512, 2, move |commits| {
            let pool = writer.clone();
            async move {
                let r = PostgresStore::run_batch(&pool, &commits).await;
                (commits, r)
            }
        });
        Ok(PostgresStore {
            write: pool.clone(),
            read: pool,
            committer,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.read
    }
}

super::sql::impl_sql_store!(PostgresStore, sqlx::Postgres, "postgres");
