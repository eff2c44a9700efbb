use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::StoreResult;

/// PostgreSQL: one pool; the conditional version update orders writers, also
/// across nodes sharing the database.
pub struct PostgresStore {
    pub(crate) write: PgPool,
    pub(crate) read: PgPool,
}

impl PostgresStore {
    pub async fn open(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(PostgresStore {
            write: pool.clone(),
            read: pool,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.read
    }
}

super::sql::impl_sql_store!(PostgresStore, "postgres");
