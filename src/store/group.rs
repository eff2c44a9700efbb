//! Group commit: concurrent commits (from many spaces) are gathered by one
//! task and written in one transaction with set-based statements, so the cost
//! of a transaction is shared by everyone waiting. Each commit still gets its
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
    /// Starts the committer task; `run` writes one batch in one transaction.
    pub(crate) fn spawn<F, Fut>(max_batch: usize, run: F) -> Self
    where
        F: Fn(Vec<Commit>) -> Fut + Send + 'static,
        Fut: Future<Output = (Vec<Commit>, StoreResult<Vec<CommitOutcome>>)> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<Job>(max_batch * 4);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut jobs = vec![first];
                while jobs.len() < max_batch {
                    match rx.try_recv() {
                        Ok(j) => jobs.push(j),
                        Err(_) => break,
                    }
                }
                let (replies, commits): (Vec<_>, Vec<_>) =
                    jobs.into_iter().map(|j| (j.reply, j.commit)).unzip();
                let n = commits.len();
                let (commits, result) = run(commits).await;
                match result {
                    Ok(outcomes) => {
                        for (reply, out) in replies.into_iter().zip(outcomes) {
                            let _ = reply.send(Ok(out));
                        }
                    }
                    Err(e) if n == 1 => {
                        if let Some(reply) = replies.into_iter().next() {
                            let _ = reply.send(Err(e));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, batch = n, "group commit failed; retrying one by one");
                        for (reply, c) in replies.into_iter().zip(commits) {
                            let (_, r) = run(vec![c]).await;
                            let _ =
                                reply.send(r.map(|mut v| v.pop().unwrap_or(CommitOutcome::Stale)));
                        }
                    }
                }
            }
        });
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

/// `$first, $first+1, ...` placeholders for one VALUES row of `n` columns.
pub(crate) fn row_placeholders(first: usize, n: usize) -> String {
    let cols: Vec<String> = (first..first + n).map(|i| format!("${i}")).collect();
    format!("({})", cols.join(", "))
}

/// `VALUES (...), (...)` text for `rows` rows of `n` columns starting at `$1`.
pub(crate) fn values(rows: usize, n: usize) -> String {
    (0..rows)
        .map(|r| row_placeholders(1 + r * n, n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows per multi-row statement (well under both databases' parameter limits).
pub(crate) const CHUNK: usize = 400;

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(super::values(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }
}
