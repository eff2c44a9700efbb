//! One SQLite group-commit batch, written synchronously on the committer
//! thread through the writer connection's raw handle.
//!
//! sqlx runs every SQLite statement on a worker thread of its own and hands
//! each statement and each row across threads; a batch of a few dozen
//! statements spent more time in those hand-offs than in SQLite. Here the
//! committer locks the pool's one writer connection (sqlx's worker stays
//! parked while the lock is held) and runs the batch in place with rusqlite,
//! commit after commit, exactly as if they ran one after another: each reads
//! the rows the previous ones wrote.

use std::ptr::NonNull;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::sql::RESULTS_KEPT;
use super::sqlite_wal::WalState;
use super::{Commit, CommitOutcome, StoreResult, to_i64, to_u64};

/// Writes `jobs` in one `BEGIN IMMEDIATE` transaction and returns each one's
/// outcome. Nothing is written when an error is returned.
///
/// # Safety
/// `db` must be an open connection that nothing else uses until this returns
/// (the caller holds sqlx's `LockedSqliteHandle`).
pub(crate) unsafe fn run(
    db: NonNull<rusqlite::ffi::sqlite3>,
    wal: Option<&WalState>,
    jobs: &[Commit],
) -> StoreResult<Vec<CommitOutcome>> {
    // SAFETY: the caller guarantees the handle is open and exclusively ours;
    // a connection made from a handle does not close it when dropped.
    // Its statement cache lives as long as this batch: each statement is
    // prepared once per batch (a few µs against a batch of milliseconds).
    let mut conn = unsafe { Connection::from_handle(db.as_ptr()) }?;
    if let Some(wal) = wal {
        wal.before_batch(&conn);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    for c in jobs {
        outcomes.push(one(&tx, c)?);
    }
    tx.commit()?;
    Ok(outcomes)
}

fn one(db: &Connection, c: &Commit) -> StoreResult<CommitOutcome> {
    if let Some(cl) = &c.client {
        let last: Option<i64> = db
            .prepare_cached(
                "SELECT last_mutation_id FROM clients WHERE owner = ?1 AND client_id = ?2",
            )?
            .query_row(params![cl.owner, cl.client_id], |r| r.get(0))
            .optional()?;
        if let Some(last) = last {
            let last = to_u64(last, "last_mutation_id")?;
            if cl.mutation_id <= last {
                let stored: Option<String> = db
                    .prepare_cached(
                        "SELECT result FROM mutation_results \
                         WHERE owner = ?1 AND client_id = ?2 AND mutation_id = ?3",
                    )?
                    .query_row(
                        params![cl.owner, cl.client_id, to_i64(cl.mutation_id)],
                        |r| r.get(0),
                    )
                    .optional()?;
                return Ok(CommitOutcome::Duplicate(stored));
            }
            if cl.mutation_id > last + 1 {
                return Ok(CommitOutcome::OutOfOrder { last });
            }
        }
    }
    if let Some(s) = &c.space {
        let current = if s.new_version == s.base_version {
            db.prepare_cached(
                "SELECT 1 FROM spaces WHERE space = ?1 AND epoch = ?2 AND version = ?3",
            )?
            .exists(params![s.space, s.epoch, to_i64(s.base_version)])?
        } else {
            db.prepare_cached(
                "UPDATE spaces SET version = ?4 WHERE space = ?1 AND epoch = ?2 AND version = ?3",
            )?
            .execute(params![
                s.space,
                s.epoch,
                to_i64(s.base_version),
                to_i64(s.new_version)
            ])? == 1
        };
        if !current {
            return Ok(CommitOutcome::Stale);
        }
        let mut put = db.prepare_cached(
            "INSERT INTO docs (space, collection, id, version, value) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (space, collection, id) DO UPDATE \
             SET version = excluded.version, value = excluded.value",
        )?;
        for d in &s.docs {
            put.execute(params![
                s.space,
                d.collection,
                d.id,
                to_i64(d.version),
                d.value
            ])?;
        }
        let mut add =
            db.prepare_cached("INSERT INTO events (space, version, body) VALUES (?1, ?2, ?3)")?;
        for (v, body) in &s.events {
            add.execute(params![s.space, to_i64(*v), body.get()])?;
        }
    }
    if let Some(cl) = &c.client {
        let mid = to_i64(cl.mutation_id);
        db.prepare_cached(
            "INSERT INTO clients (owner, client_id, last_mutation_id) VALUES (?1, ?2, ?3) \
             ON CONFLICT (owner, client_id) DO UPDATE SET last_mutation_id = excluded.last_mutation_id",
        )?
        .execute(params![cl.owner, cl.client_id, mid])?;
        db.prepare_cached(
            "INSERT INTO mutation_results (owner, client_id, mutation_id, result) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (owner, client_id, mutation_id) DO NOTHING",
        )?
        .execute(params![cl.owner, cl.client_id, mid, cl.result])?;
        if mid % 100 == 0 && mid > RESULTS_KEPT {
            db.prepare_cached(
                "DELETE FROM mutation_results \
                 WHERE owner = ?1 AND client_id = ?2 AND mutation_id <= ?3",
            )?
            .execute(params![cl.owner, cl.client_id, mid - RESULTS_KEPT])?;
        }
    }
    Ok(CommitOutcome::Committed)
}
