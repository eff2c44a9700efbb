//! Group commit: concurrent commits (from many spaces) are gathered by one
//! task and written in one transaction (set-based statements on PostgreSQL,
//! row by row in place on SQLite), so the cost of a transaction is shared by
//! everyone waiting. Each commit still gets its
//! own outcome; if a batch fails, its commits are retried one by one so one bad
//! commit cannot fail the others.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

use super::{Commit, CommitOutcome, StoreError, StoreResult};

pub(crate) struct Job {
    commit: Commit,
    reply: oneshot::Sender<StoreResult<CommitOutcome>>,
}

/// Handle for submitting commits to the committer task.
#[derive(Clone)]
pub(crate) struct Committer {
    tx: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the committer; `run` writes one batch in one transaction. Up to
    /// `parallel` batches are written at once (1 for SQLite, which has one
    /// writer; PostgreSQL takes concurrent transactions, and a space's
    /// commits never share a batch with each other: its writer lock is held
    /// across the commit).
    pub(crate) fn spawn<F, Fut>(max_batch: usize, parallel: usize, run: F) -> Self
    where
        F: Fn(Vec<Commit>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = (Vec<Commit>, StoreResult<Vec<CommitOutcome>>)> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<Job>(max_batch * 4);
        let run = std::sync::Arc::new(run);
        let parallel = parallel.max(1);
        let committer = async move {
            let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(parallel));
            loop {
                // Wait for a free slot first: meanwhile the next batch grows.
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    break;
                };
                let Some(first) = rx.recv().await else {
                    break;
                };
                let mut jobs = vec![first];
                while jobs.len() < max_batch {
                    match rx.try_recv() {
                        Ok(j) => jobs.push(j),
                        Err(_) => break,
                    }
                }
                let run = run.clone();
                tokio::spawn(async move {
                    write_batch(&*run, jobs).await;
                    drop(slot);
                });
            }
            // Let the batches in flight finish before the runtime goes.
            let _ = slots.acquire_many(parallel as u32).await;
        };
        // The committer runs on a thread of its own: a PostgreSQL batch makes
        // several round trips to the database, and on the shared runtime each
        // one waited behind every connection task in the run queue (~6 ms of
        // a 9 ms batch under write load); a SQLite batch runs on this thread
        // outright. Here it is woken at once.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the committer thread");
        std::thread::Builder::new()
            .name("tidemark-commit".into())
            .spawn(move || rt.block_on(committer))
            .expect("the committer thread starts");
        Committer { tx }
    }

    pub(crate) async fn commit(&self, commit: Commit) -> StoreResult<CommitOutcome> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { commit, reply })
            .await
            .map_err(|_| StoreError::Corrupt("the committer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Corrupt("the committer dropped a commit".into()))?
    }
}

/// Writes one batch and answers each of its commits; a failed batch is
/// retried one commit at a time so one bad commit cannot fail the others.
async fn write_batch<F, Fut>(run: &F, jobs: Vec<Job>)
where
    F: Fn(Vec<Commit>) -> Fut,
    Fut: Future<Output = (Vec<Commit>, StoreResult<Vec<CommitOutcome>>)>,
{
    let (replies, commits): (Vec<_>, Vec<_>) =
        jobs.into_iter().map(|j| (j.reply, j.commit)).unzip();
    let n = commits.len();
    let started = std::time::Instant::now();
    let (commits, result) = run(commits).await;
    let hot = crate::obs::hot();
    hot.commit_batch_size.record(n as f64);
    hot.commit_seconds.record(started.elapsed().as_secs_f64());
    if result.is_err() {
        crate::obs::store_error();
    }
    tracing::trace!(
        batch = n,
        micros = started.elapsed().as_micros() as u64,
        "group commit"
    );
    match result {
        Ok(outcomes) => {
            for (reply, out) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(out));
            }
        }
        Err(e) if n == 1 || e.is_outage() => {
            // One commit, or the database is away: every commit gets the error.
            let why = e.to_string();
            let mut replies = replies.into_iter();
            if let Some(first) = replies.next() {
                let _ = first.send(Err(e));
            }
            for reply in replies {
                let _ = reply.send(Err(StoreError::Unavailable(why.clone())));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, batch = n, "group commit failed; retrying one by one");
            for (reply, c) in replies.into_iter().zip(commits) {
                let (_, r) = run(vec![c]).await;
                let _ = reply.send(r.map(|mut v| v.pop().unwrap_or(CommitOutcome::Stale)));
            }
        }
    }
}

/// A numbered bind placeholder (`$3`).
pub(crate) fn ph(n: usize) -> String {
    format!("${n}")
}

/// `VALUES (...), (...)` text for `rows` rows of `n` columns, numbered from 1.
pub(crate) fn values(rows: usize, n: usize) -> String {
    (0..rows)
        .map(|r| {
            let cols: Vec<String> = (1 + r * n..1 + (r + 1) * n).map(ph).collect();
            format!("({})", cols.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows per multi-row statement at most (well under both databases' parameter limits).
pub(crate) const CHUNK: usize = 256;

/// Splits `items` into pieces whose lengths are powers of two (largest first,
/// at most `CHUNK`), so batches of any size use a handful of distinct statement
/// texts, each parsed and planned once and then taken from the statement cache.
pub(crate) fn pow2_chunks<T>(items: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let mut n = CHUNK;
        while n > rest.len() {
            n /= 2;
        }
        let (head, tail) = rest.split_at(n);
        out.push(head);
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_numbered_row_after_row() {
        assert_eq!(super::values(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }

    #[test]
    fn chunks_are_powers_of_two_covering_everything_in_order() {
        let items: Vec<usize> = (0..1000).collect();
        let chunks = super::pow2_chunks(&items);
        let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![256, 256, 256, 128, 64, 32, 8]);
        assert_eq!(chunks.concat(), items);
        assert!(super::pow2_chunks::<u8>(&[]).is_empty());
    }
}
