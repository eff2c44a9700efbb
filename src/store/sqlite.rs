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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::value::RawValue;

    use super::{SqliteStore, write_batch};
    use crate::store::{ClientRecord, Commit, CommitOutcome, SpaceCommit, Store, StoredDoc};

    fn client(id: &str, mid: u64) -> Option<ClientRecord> {
        Some(ClientRecord {
            owner: "alice".into(),
            client_id: id.into(),
            mutation_id: mid,
            result: format!("{{\"mutation_id\":{mid}}}"),
        })
    }

    fn change(space: &str, epoch: &str, base: u64, new: u64) -> Option<SpaceCommit> {
        let events = (base + 1..=new)
            .map(|v| {
                (
                    v,
                    Arc::from(RawValue::from_string(format!("{{\"v\":{v}}}")).unwrap()),
                )
            })
            .collect();
        Some(SpaceCommit {
            space: space.into(),
            epoch: epoch.into(),
            base_version: base,
            new_version: new,
            docs: vec![StoredDoc {
                collection: "n".into(),
                id: "x".into(),
                version: new,
                value: Some(format!("{{\"at\":{new}}}")),
            }],
            events,
        })
    }

    async fn open() -> (tempfile::TempDir, SqliteStore, String) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let epoch = store.load_space("user:alice", "e1").await.unwrap().epoch;
        (dir, store, epoch)
    }

    /// One batch decides its commits in order, each seeing what the earlier
    /// ones wrote: a retry of a commit earlier in the batch gets its outcome.
    #[tokio::test]
    async fn a_batch_runs_its_commits_as_if_one_after_another() {
        let (_dir, store, e) = open().await;
        let s = "user:alice";
        let batch = vec![
            Commit {
                client: client("a", 1),
                space: change(s, &e, 0, 1),
            },
            Commit {
                client: client("a", 1),
                space: change(s, &e, 0, 1),
            },
            Commit {
                client: client("a", 3),
                space: change(s, &e, 1, 2),
            },
            Commit {
                client: client("b", 7),
                space: change(s, &e, 0, 1),
            },
            Commit {
                client: client("b", 7),
                space: change(s, &e, 1, 1),
            },
            Commit {
                client: client("a", 2),
                space: change(s, &e, 1, 3),
            },
            Commit {
                client: None,
                space: change(s, "other-epoch", 3, 4),
            },
        ];
        let out = write_batch(&store.write, &batch).await.unwrap();
        assert_eq!(
            out,
            vec![
                CommitOutcome::Committed,
                CommitOutcome::Duplicate(Some("{\"mutation_id\":1}".into())),
                CommitOutcome::OutOfOrder { last: 1 },
                CommitOutcome::Stale,
                CommitOutcome::Committed,
                CommitOutcome::Committed,
                CommitOutcome::Stale,
            ]
        );
        let head = store.head(s).await.unwrap().unwrap();
        assert_eq!(head.version, 3);
        let events: Vec<u64> = store
            .events(s, 0, 10, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|(v, _)| v)
            .collect();
        assert_eq!(events, vec![1, 2, 3]);
        // The no-op recorded client b's progress: its next id is 8.
        let next = vec![Commit {
            client: client("b", 9),
            space: None,
        }];
        assert_eq!(
            write_batch(&store.write, &next).await.unwrap(),
            vec![CommitOutcome::OutOfOrder { last: 7 }]
        );
    }

    /// A batch that fails writes nothing, not even its commits that came
    /// before the failing one (the group committer then retries them alone).
    #[tokio::test]
    async fn a_failed_batch_writes_nothing() {
        let (_dir, store, e) = open().await;
        let s = "user:alice";
        let mut bad = change(s, &e, 1, 2).unwrap();
        // Event 1 again: the events table's primary key refuses it.
        bad.events
            .push((1, Arc::from(RawValue::from_string("{}".into()).unwrap())));
        let batch = vec![
            Commit {
                client: client("a", 1),
                space: change(s, &e, 0, 1),
            },
            Commit {
                client: client("a", 2),
                space: Some(bad),
            },
        ];
        assert!(write_batch(&store.write, &batch).await.is_err());
        assert_eq!(store.head(s).await.unwrap().unwrap().version, 0);
        assert!(store.events(s, 0, 10, 10).await.unwrap().is_empty());
        // The same first commit alone still goes through: nothing half-written.
        let again = vec![Commit {
            client: client("a", 1),
            space: change(s, &e, 0, 1),
        }];
        assert_eq!(
            write_batch(&store.write, &again).await.unwrap(),
            vec![CommitOutcome::Committed]
        );
    }
}
