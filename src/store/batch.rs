//! One PostgreSQL group-commit batch in one transaction, set-based: the
//! checks read all clients and space heads at once (`FOR UPDATE`, so nodes
//! sharing a database serialize), the writes are multi-row statements.
//! (SQLite writes its batches row by row in place: `sqlite_batch.rs`.)
//! The batch ends with one `NOTIFY` per moved space for the other nodes
//! (`notify.rs`).

use super::postgres::PostgresStore;

impl PostgresStore {
    pub(crate) async fn run_batch(
        pool: &sqlx::Pool<sqlx::Postgres>,
        node: &str,
        jobs: &[crate::store::Commit],
    ) -> crate::store::StoreResult<Vec<crate::store::CommitOutcome>> {
        use sqlx::Connection;
        // A database that stops answering (a black-holed network) must not
        // hold the committer: past the limit the batch fails as unavailable
        // and its connection is closed, not returned to the pool, where its
        // half-done transaction would hang the next user.
        let mut conn = pool.acquire().await?;
        let batch = async {
            let mut tx = conn.begin().await?;
            let outcomes = Self::write_batch(&mut tx, node, jobs).await?;
            tx.commit().await?;
            Ok(outcomes)
        };
        match tokio::time::timeout(crate::store::BATCH_TIMEOUT, batch).await {
            Ok(r) => r,
            Err(_) => {
                conn.close_on_drop();
                Err(crate::store::StoreError::Unavailable(format!(
                    "no answer within {} s",
                    crate::store::BATCH_TIMEOUT.as_secs()
                )))
            }
        }
    }

    /// Decides and writes a batch in the caller's transaction (which it
    /// leaves open): the group committer's, or a held space's (`lock.rs`).
    pub(crate) async fn write_batch(
        tx: &mut sqlx::PgConnection,
        node: &str,
        jobs: &[crate::store::Commit],
    ) -> crate::store::StoreResult<Vec<crate::store::CommitOutcome>> {
        use std::collections::HashMap;

        use sqlx::{AssertSqlSafe, Row};

        use crate::store::group::{ph, pow2_chunks, values};
        use crate::store::{CommitOutcome, to_i64, to_u64};

        // Where each client stands.
        let mut keys: Vec<(&str, &str)> = Vec::new();
        for c in jobs {
            if let Some(cl) = &c.client {
                let k = (cl.owner.as_str(), cl.client_id.as_str());
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
        let mut last: HashMap<(String, String), u64> = HashMap::new();
        for chunk in pow2_chunks(&keys) {
            let cond: Vec<String> = (0..chunk.len())
                .map(|i| {
                    format!(
                        "(owner = {} AND client_id = {})",
                        ph(2 * i + 1),
                        ph(2 * i + 2)
                    )
                })
                .collect();
            let sql = format!(
                "SELECT owner, client_id, last_mutation_id FROM clients WHERE {} ORDER BY owner, client_id{}",
                cond.join(" OR "),
                " FOR UPDATE"
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (o, c) in chunk {
                q = q.bind(*o).bind(*c);
            }
            for r in q.fetch_all(&mut *tx).await? {
                let k = (r.try_get("owner")?, r.try_get("client_id")?);
                last.insert(
                    k,
                    to_u64(r.try_get("last_mutation_id")?, "last_mutation_id")?,
                );
            }
        }
        // Where each space stands.
        let mut names: Vec<&str> = Vec::new();
        for c in jobs {
            if let Some(s) = &c.space
                && !names.contains(&s.space.as_str())
            {
                names.push(&s.space);
            }
        }
        let mut heads: HashMap<String, (String, u64)> = HashMap::new();
        for chunk in pow2_chunks(&names) {
            let marks: Vec<String> = (1..=chunk.len()).map(ph).collect();
            let sql = format!(
                "SELECT space, epoch, version FROM spaces WHERE space IN ({}) ORDER BY space{}",
                marks.join(", "),
                " FOR UPDATE"
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for n in chunk {
                q = q.bind(*n);
            }
            for r in q.fetch_all(&mut *tx).await? {
                let v = to_u64(r.try_get("version")?, "version")?;
                heads.insert(r.try_get("space")?, (r.try_get("epoch")?, v));
            }
        }
        // Decide each commit in order, as if they ran one after another.
        let mut outcomes = Vec::with_capacity(jobs.len());
        let mut dups = Vec::new();
        let mut accepted = Vec::new();
        for (i, c) in jobs.iter().enumerate() {
            if let Some(cl) = &c.client
                && let Some(&l) = last.get(&(cl.owner.clone(), cl.client_id.clone()))
            {
                if cl.mutation_id <= l {
                    dups.push((i, cl));
                    outcomes.push(CommitOutcome::Duplicate(None));
                    continue;
                }
                if cl.mutation_id > l + 1 {
                    outcomes.push(CommitOutcome::OutOfOrder { last: l });
                    continue;
                }
            }
            if let Some(s) = &c.space {
                let current = heads
                    .get(&s.space)
                    .is_some_and(|(e, v)| *e == s.epoch && *v == s.base_version);
                if !current {
                    outcomes.push(CommitOutcome::Stale);
                    continue;
                }
                heads.insert(s.space.clone(), (s.epoch.clone(), s.new_version));
            }
            if let Some(cl) = &c.client {
                last.insert((cl.owner.clone(), cl.client_id.clone()), cl.mutation_id);
            }
            outcomes.push(CommitOutcome::Committed);
            accepted.push(c);
        }
        // Version bumps.
        let bumps: Vec<(&str, i64)> = accepted
            .iter()
            .filter_map(|c| c.space.as_ref())
            .filter(|s| s.new_version != s.base_version)
            .map(|s| (s.space.as_str(), to_i64(s.new_version)))
            .collect();
        for chunk in pow2_chunks(&bumps) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    format!(
                        "(CAST({} AS TEXT), CAST({} AS BIGINT))",
                        ph(2 * i + 1),
                        ph(2 * i + 2)
                    )
                })
                .collect();
            let sql = format!(
                "WITH v(space, version) AS (VALUES {}) \
                 UPDATE spaces SET version = v.version FROM v WHERE spaces.space = v.space",
                rows.join(", ")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (s, v) in chunk {
                q = q.bind(*s).bind(*v);
            }
            q.execute(&mut *tx).await?;
        }
        // Document rows.
        let docs: Vec<(&str, &crate::store::StoredDoc)> = accepted
            .iter()
            .filter_map(|c| c.space.as_ref())
            .flat_map(|s| s.docs.iter().map(move |d| (s.space.as_str(), d)))
            .collect();
        for chunk in pow2_chunks(&docs) {
            let sql = format!(
                "INSERT INTO docs (space, collection, id, version, value) VALUES {} \
                 ON CONFLICT (space, collection, id) DO UPDATE SET version = excluded.version, value = excluded.value",
                values(chunk.len(), 5)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (s, d) in chunk {
                q = q
                    .bind(*s)
                    .bind(d.collection.as_str())
                    .bind(d.id.as_str())
                    .bind(to_i64(d.version))
                    .bind(d.value.as_deref());
            }
            q.execute(&mut *tx).await?;
        }
        // Event rows.
        let events: Vec<(&str, i64, &str)> = accepted
            .iter()
            .filter_map(|c| c.space.as_ref())
            .flat_map(|s| {
                s.events
                    .iter()
                    .map(move |(v, b)| (s.space.as_str(), to_i64(*v), b.get()))
            })
            .collect();
        for chunk in pow2_chunks(&events) {
            let sql = format!(
                "INSERT INTO events (space, version, body) VALUES {}",
                values(chunk.len(), 3)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (s, v, b) in chunk {
                q = q.bind(*s).bind(*v).bind(*b);
            }
            q.execute(&mut *tx).await?;
        }
        // Client progress (the last per client wins) and stored outcomes.
        let mut progress: Vec<&crate::store::ClientRecord> = Vec::new();
        for cl in accepted.iter().filter_map(|c| c.client.as_ref()) {
            progress.retain(|p| !(p.owner == cl.owner && p.client_id == cl.client_id));
            progress.push(cl);
        }
        for chunk in pow2_chunks(&progress) {
            let sql = format!(
                "INSERT INTO clients (owner, client_id, last_mutation_id) VALUES {} \
                 ON CONFLICT (owner, client_id) DO UPDATE SET last_mutation_id = excluded.last_mutation_id",
                values(chunk.len(), 3)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for cl in chunk {
                q = q
                    .bind(cl.owner.as_str())
                    .bind(cl.client_id.as_str())
                    .bind(to_i64(cl.mutation_id));
            }
            q.execute(&mut *tx).await?;
        }
        let results: Vec<&crate::store::ClientRecord> =
            accepted.iter().filter_map(|c| c.client.as_ref()).collect();
        for chunk in pow2_chunks(&results) {
            let sql = format!(
                "INSERT INTO mutation_results (owner, client_id, mutation_id, result) VALUES {} \
                 ON CONFLICT (owner, client_id, mutation_id) DO NOTHING",
                values(chunk.len(), 4)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for cl in chunk {
                q = q
                    .bind(cl.owner.as_str())
                    .bind(cl.client_id.as_str())
                    .bind(to_i64(cl.mutation_id))
                    .bind(cl.result.as_str());
            }
            q.execute(&mut *tx).await?;
        }
        let kept = crate::store::sql::RESULTS_KEPT;
        for cl in &results {
            let mid = to_i64(cl.mutation_id);
            if mid % 100 == 0 && mid > kept {
                sqlx::query(
                    "DELETE FROM mutation_results WHERE owner = $1 AND client_id = $2 AND mutation_id <= $3",
                )
                .bind(cl.owner.as_str())
                .bind(cl.client_id.as_str())
                .bind(mid - kept)
                .execute(&mut *tx)
                .await?;
            }
        }
        // Retries get the stored outcome (also of a commit earlier in this batch).
        for (i, cl) in dups {
            let stored: Option<String> = sqlx::query(
                "SELECT result FROM mutation_results WHERE owner = $1 AND client_id = $2 AND mutation_id = $3",
            )
            .bind(cl.owner.as_str())
            .bind(cl.client_id.as_str())
            .bind(to_i64(cl.mutation_id))
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("result"))
            .transpose()?;
            outcomes[i] = CommitOutcome::Duplicate(stored);
        }
        // Other nodes hear of the moved spaces when (and only if) this commits.
        let moved = crate::store::notify::payloads(node, jobs, &outcomes);
        if !moved.is_empty() {
            sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
                .bind(crate::store::notify::CHANNEL)
                .bind(&moved)
                .execute(&mut *tx)
                .await?;
        }
        Ok(outcomes)
    }
}
