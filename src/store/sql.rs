//! The SQL both backends share. SQLite accepts `$N` placeholders too, so one
//! macro expands the same statements for `sqlx::Sqlite` and `sqlx::Postgres`.

/// Keep this many stored mutation outcomes per client (older retries get a plain ack).
pub(crate) const RESULTS_KEPT: i64 = 1000;

macro_rules! impl_sql_store {
    ($store:ident, $db:ty, $kind:literal) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            fn kind(&self) -> &'static str {
                $kind
            }

            async fn load_space(
                &self,
                space: &str,
                new_epoch: &str,
            ) -> $crate::store::StoreResult<$crate::store::LoadedSpace> {
                use sqlx::Row;
                use $crate::store::to_u64;
                sqlx::query(
                    "INSERT INTO spaces (space, epoch, version, log_start) VALUES ($1, $2, 0, 0) \
                     ON CONFLICT (space) DO NOTHING",
                )
                .bind(space)
                .bind(new_epoch)
                .execute(&self.write)
                .await?;
                // Read head and docs in one transaction so they agree.
                let mut tx = self.read.begin().await?;
                let row = sqlx::query("SELECT epoch, version, log_start FROM spaces WHERE space = $1")
                    .bind(space)
                    .fetch_one(&mut *tx)
                    .await?;
                let epoch: String = row.try_get("epoch")?;
                let version = to_u64(row.try_get("version")?, "version")?;
                let log_start = to_u64(row.try_get("log_start")?, "log_start")?;
                let rows = sqlx::query(
                    "SELECT collection, id, version, value FROM docs WHERE space = $1 \
                     ORDER BY collection, id",
                )
                .bind(space)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                let mut docs = Vec::with_capacity(rows.len());
                for r in rows {
                    docs.push($crate::store::StoredDoc {
                        collection: r.try_get("collection")?,
                        id: r.try_get("id")?,
                        version: to_u64(r.try_get("version")?, "doc version")?,
                        value: r.try_get("value")?,
                    });
                }
                Ok($crate::store::LoadedSpace { epoch, version, log_start, docs })
            }

            async fn head(
                &self,
                space: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::SpaceHead>> {
                use sqlx::Row;
                let row = sqlx::query("SELECT epoch, version FROM spaces WHERE space = $1")
                    .bind(space)
                    .fetch_optional(&self.read)
                    .await?;
                match row {
                    None => Ok(None),
                    Some(r) => Ok(Some($crate::store::SpaceHead {
                        epoch: r.try_get("epoch")?,
                        version: $crate::store::to_u64(r.try_get("version")?, "version")?,
                    })),
                }
            }

            async fn commit(
                &self,
                c: $crate::store::Commit,
            ) -> $crate::store::StoreResult<$crate::store::CommitOutcome> {
                self.committer.commit(c).await
            }

            async fn events(
                &self,
                space: &str,
                after: u64,
                upto: u64,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<(u64, String)>> {
                use sqlx::Row;
                use $crate::store::{to_i64, to_u64};
                let rows = sqlx::query(
                    "SELECT version, body FROM events WHERE space = $1 AND version > $2 AND version <= $3 \
                     ORDER BY version LIMIT $4",
                )
                .bind(space)
                .bind(to_i64(after))
                .bind(to_i64(upto))
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    out.push((to_u64(r.try_get("version")?, "event version")?, r.try_get("body")?));
                }
                Ok(out)
            }

            async fn compact(&self, space: &str, through: u64) -> $crate::store::StoreResult<()> {
                use $crate::store::to_i64;
                let mut tx = self.write.begin().await?;
                sqlx::query("UPDATE spaces SET log_start = $1 WHERE space = $2 AND log_start < $1")
                    .bind(to_i64(through))
                    .bind(space)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM events WHERE space = $1 AND version <= $2")
                    .bind(space)
                    .bind(to_i64(through))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM docs WHERE space = $1 AND value IS NULL AND version <= $2")
                    .bind(space)
                    .bind(to_i64(through))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn ping(&self) -> $crate::store::StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.read).await?;
                Ok(())
            }

            async fn lock_space(
                &self,
                space: &str,
                client: Option<(&str, &str)>,
            ) -> $crate::store::StoreResult<Option<Box<dyn $crate::store::SpaceLock>>> {
                self.lock_for_commit(space, client).await
            }

            async fn watch(
                &self,
            ) -> $crate::store::StoreResult<
                Option<tokio::sync::mpsc::Receiver<$crate::store::Notice>>,
            > {
                self.watch_others().await
            }

            async fn announce(&self, payload: &str) -> $crate::store::StoreResult<()> {
                self.announce_others(payload).await
            }
        }
    };
}

pub(crate) use impl_sql_store;
