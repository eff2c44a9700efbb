//! Scale-out (docs/architecture.md, "Several nodes"): nodes sharing one PostgreSQL tell each other which
//! spaces moved. Every commit batch that moves a space sends
//! `NOTIFY tidemark, 'space:version:node'` inside its transaction (so it is
//! delivered at commit, never for a rolled-back batch); every node `LISTEN`s
//! and hands the other nodes' notices to the engine, which reads the events
//! from the database. A node's own notices are dropped here: its memory is
//! already ahead of them.

use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::mpsc;

use super::{Commit, CommitOutcome, Notice, StoreResult};

/// The one channel every node listens on.
pub(crate) const CHANNEL: &str = "tidemark";
/// Nodes' presence announcements (not tied to commits).
pub(crate) const PRESENCE_CHANNEL: &str = "tidemark_presence";

/// Notices buffered between the listener and the engine; a full buffer makes
/// the listener wait (PostgreSQL queues for it meanwhile).
const BUFFER: usize = 4096;

/// One payload per space a batch moved, at the newest version it reached.
pub(crate) fn payloads(node: &str, jobs: &[Commit], outcomes: &[CommitOutcome]) -> Vec<String> {
    let mut newest: Vec<(&str, u64)> = Vec::new();
    for (c, o) in jobs.iter().zip(outcomes) {
        let Some(s) = c.space.as_ref() else { continue };
        if *o != CommitOutcome::Committed || s.new_version == s.base_version {
            continue;
        }
        match newest.iter_mut().find(|(n, _)| *n == s.space) {
            Some(e) => e.1 = e.1.max(s.new_version),
            None => newest.push((&s.space, s.new_version)),
        }
    }
    newest
        .into_iter()
        .map(|(space, v)| format!("{space}:{v}:{node}"))
        .collect()
}

/// Reads a payload; `None` for this node's own notices and for anything
/// that is not ours (another program may use the channel).
pub(crate) fn parse(payload: &str, node: &str) -> Option<Notice> {
    let mut parts = payload.rsplitn(3, ':');
    let from = parts.next()?;
    let version = parts.next()?.parse().ok()?;
    let space = parts.next()?;
    if from == node || space.is_empty() {
        return None;
    }
    Some(Notice::Moved {
        space: space.to_string(),
        version,
    })
}

/// Starts listening (on a connection of its own, outside the pools) and
/// returns the feed of other nodes' notices. When the connection drops, the
/// listener connects again and then sends `Notice::Missed`: everything
/// committed before that moment is for the engine to read, everything after
/// is notified.
pub(crate) async fn listen(url: &str, node: &str) -> StoreResult<mpsc::Receiver<Notice>> {
    let first = subscribe(url).await?;
    let (tx, rx) = mpsc::channel(BUFFER);
    let (url, node) = (url.to_string(), node.to_string());
    tokio::spawn(async move {
        let mut listener = Some(first);
        loop {
            if listener.is_none() {
                tokio::select! {
                    _ = tx.closed() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                match subscribe(&url).await {
                    Ok(l) => {
                        tracing::info!("LISTEN connection to PostgreSQL is back");
                        if tx.send(Notice::Missed).await.is_err() {
                            return;
                        }
                        listener = Some(l);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot LISTEN on PostgreSQL; retrying in 1 s");
                        continue;
                    }
                }
            }
            let Some(l) = listener.as_mut() else { continue };
            let got = tokio::select! {
                _ = tx.closed() => return,
                got = l.try_recv() => got,
            };
            match got {
                Ok(Some(n)) if n.channel() == PRESENCE_CHANNEL => {
                    // Every node's, ours included: the reader drops its own.
                    if tx
                        .send(Notice::Presence(n.payload().to_string()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(Some(n)) => {
                    if let Some(notice) = parse(n.payload(), &node)
                        && tx.send(notice).await.is_err()
                    {
                        return;
                    }
                }
                // The connection dropped and sqlx connected again before
                // returning: anything committed in between was not heard.
                Ok(None) => {
                    tracing::warn!("LISTEN connection to PostgreSQL was lost and is back");
                    if tx.send(Notice::Missed).await.is_err() {
                        return;
                    }
                }
                // Terminated, or could not connect again: start over on a
                // fresh listener; other nodes' changes wait until it is back.
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN connection to PostgreSQL lost");
                    listener = None;
                }
            }
        }
    });
    Ok(rx)
}

async fn subscribe(url: &str) -> StoreResult<PgListener> {
    let mut l = PgListener::connect(url).await?;
    l.listen_all([CHANNEL, PRESENCE_CHANNEL]).await?;
    Ok(l)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::value::RawValue;

    use super::*;
    use crate::store::SpaceCommit;

    fn commit(space: &str, base: u64, new: u64) -> Commit {
        let events = (base + 1..=new)
            .map(|v| (v, Arc::from(RawValue::from_string("{}".into()).unwrap())))
            .collect();
        Commit {
            client: None,
            space: Some(SpaceCommit {
                space: space.into(),
                epoch: "e".into(),
                base_version: base,
                new_version: new,
                docs: vec![],
                events,
            }),
        }
    }

    #[test]
    fn one_payload_per_moved_space_at_its_newest_version() {
        let jobs = vec![
            commit("user:a", 0, 1),
            commit("user:b", 4, 4), // a no-op moves nothing
            commit("user:a", 1, 3),
            commit("user:c", 7, 8), // stale: written by nobody
            commit("user:d", 2, 3),
        ];
        let ok = CommitOutcome::Committed;
        let outcomes = vec![ok.clone(), ok.clone(), ok.clone(), CommitOutcome::Stale, ok];
        assert_eq!(
            payloads("n1", &jobs, &outcomes),
            vec!["user:a:3:n1".to_string(), "user:d:3:n1".to_string()]
        );
    }

    #[test]
    fn parse_reads_other_nodes_and_drops_its_own() {
        assert_eq!(
            parse("user:a:b:42:n2", "n1"),
            Some(Notice::Moved {
                space: "user:a:b".into(),
                version: 42
            })
        );
        assert_eq!(
            parse("catalog:7:n2", "n1"),
            Some(Notice::Moved {
                space: "catalog".into(),
                version: 7
            })
        );
        assert_eq!(parse("user:a:42:n1", "n1"), None);
        assert_eq!(parse("hello", "n1"), None);
        assert_eq!(parse("x:notanumber:n2", "n1"), None);
        assert_eq!(parse(":5:n2", "n1"), None);
    }
}
