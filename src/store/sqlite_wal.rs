//! WAL checkpoints off the commit path.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its
//! threshold: with the default (every 1,000 pages) a quarter of the
//! committer's time under write load went to checkpoints, and a larger
//! threshold traded that for long stalls (a 10,000-page checkpoint held every
//! writer for ~50 ms: tabs p99 13 -> 45 ms). Here a background thread does
//! the copying with a connection of its own (`PASSIVE`: it never blocks the
//! writer), and the committer only finishes the job between two batches:
//!
//! * the writer's WAL hook (which replaces SQLite's autocheckpoint) records how
//!   many frames the WAL holds and wakes the checkpointer every
//!   [`BACKGROUND_EVERY`] new frames;
//! * past [`RESTART_AT`] frames the background thread stops and the committer
//!   runs a `PASSIVE` checkpoint itself before its next batch: the
//!   checkpointer has already copied almost everything, so this is short, and
//!   once every frame is in the database the next transaction starts the WAL
//!   over from its beginning, provided no reader is still on it (a background
//!   checkpoint alone rarely gets there under load: the writer has new frames
//!   by the time it finishes). A checkpoint that cannot finish is tried again
//!   [`BACKGROUND_EVERY`] frames later, not before every batch;
//! * past [`BLOCKING_AT`] frames the committer runs a `RESTART` checkpoint,
//!   which waits up to 100 ms for readers to leave the WAL; a reader that
//!   stays longer (a backup, a shell) is logged, and the WAL grows until it
//!   leaves. After a restart the file is cut back to 64 MiB
//!   (`journal_size_limit`).
//!
//! If the writer connection is ever replaced, the new one has no hook and
//! SQLite's own autocheckpoint (every 1,000 pages) takes over. The lockbox's
//! own small pool (rare writes) keeps SQLite's autocheckpoint.

use std::ffi::{c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use rusqlite::ffi;

/// How long a SQLite connection waits for another's lock before failing
/// (the pool's and the checkpointer's connections alike).
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// New frames between two background checkpoints (~4 MiB).
pub(crate) const BACKGROUND_EVERY: u64 = 1_000;
/// WAL frames from which the committer completes a checkpoint (~32 MiB).
pub(crate) const RESTART_AT: u64 = 8_000;
/// WAL frames from which the committer waits for a full checkpoint (~160 MiB).
pub(crate) const BLOCKING_AT: u64 = 40_000;
/// How long that full checkpoint waits for readers to move on.
const RESTART_WAIT_MS: u64 = 100;

/// Shared by the writer's WAL hook, the checkpointer thread and the committer.
#[derive(Default)]
pub(crate) struct WalState {
    /// Frames in the WAL after the last commit (from the WAL hook).
    frames: AtomicU64,
    /// Where the last background checkpoint left the WAL.
    backfilled: AtomicU64,
    /// The committer tries again from this many frames after a checkpoint
    /// that could not finish (a reader held an old snapshot, or was busy).
    retry_at: AtomicU64,
    /// Checkpoints the committer completed: every frame was in the database
    /// file, so the next transaction can start the WAL over (unless a reader
    /// is still on it at that moment).
    pub(crate) completed: AtomicU64,
    stop: AtomicBool,
    thread: OnceLock<Thread>,
}

impl WalState {
    /// Starts the checkpointer for the database at `path` and installs the
    /// WAL hook on the writer connection `db`.
    ///
    /// # Safety
    /// `db` must be an open connection that nothing else uses during this call.
    pub(crate) unsafe fn start(db: NonNull<ffi::sqlite3>, path: PathBuf) -> Arc<WalState> {
        let state = Arc::new(WalState::default());
        let bg = state.clone();
        let handle = std::thread::Builder::new()
            .name("tidemark-ckpt".into())
            .spawn(move || checkpointer(&bg, &path))
            .expect("the checkpoint thread starts");
        let _ = state.thread.set(handle.thread().clone());
        // The hook keeps one reference for as long as the connection may call
        // it, which can be after this store is dropped: it is never released.
        let arg = Arc::into_raw(state.clone()) as *mut c_void;
        // SAFETY: the caller guarantees `db`; `arg` stays valid for ever.
        unsafe { ffi::sqlite3_wal_hook(db.as_ptr(), Some(wal_hook), arg) };
        state
    }

    /// Called by the committer before each batch (the previous batch's
    /// commits have had their answers); see the module docs.
    pub(crate) fn before_batch(&self, db: &rusqlite::Connection) {
        let frames = self.frames.load(Ordering::Relaxed);
        if frames < RESTART_AT.max(self.retry_at.load(Ordering::Relaxed)) {
            return;
        }
        let blocking = frames >= BLOCKING_AT;
        let mode = if blocking { "RESTART" } else { "PASSIVE" };
        // RESTART waits for readers through the busy handler: a short wait
        // only, so a long-lived reader (a backup, a shell) never holds every
        // batch for the connection's full busy timeout.
        if blocking {
            let _ = db.busy_timeout(Duration::from_millis(RESTART_WAIT_MS));
        }
        let started = std::time::Instant::now();
        let r = db.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        });
        if blocking {
            let _ = db.busy_timeout(BUSY_TIMEOUT);
        }
        let micros = started.elapsed().as_micros() as u64;
        match r {
            // Every frame is in the database file: the next commit's hook
            // reports the WAL afresh (if the hook is gone, SQLite's own
            // autocheckpoint has taken over).
            Ok((0, log, done)) if log == done => {
                tracing::debug!(mode, log, micros, "committer checkpoint");
                self.frames.store(0, Ordering::Relaxed);
                self.retry_at.store(0, Ordering::Relaxed);
                self.completed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok((busy, log, done)) if blocking => tracing::warn!(
                mode,
                busy,
                log,
                done,
                micros,
                "WAL checkpoint could not finish; a reader holds an old snapshot"
            ),
            Ok((busy, log, done)) => {
                tracing::debug!(
                    mode,
                    busy,
                    log,
                    done,
                    micros,
                    "committer checkpoint unfinished"
                )
            }
            Err(e) => tracing::warn!(error = %e, mode, "committer checkpoint failed"),
        }
        // Not all of it (busy, or a reader on an old snapshot): try again only
        // after more frames, not before every batch.
        self.retry_at
            .store(frames + BACKGROUND_EVERY, Ordering::Relaxed);
    }

    /// Frames in the WAL after the last commit.
    #[cfg(test)]
    pub(crate) fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    /// Stops the checkpointer thread (after a checkpoint in progress).
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }
}

unsafe extern "C" fn wal_hook(
    arg: *mut c_void,
    _db: *mut ffi::sqlite3,
    _name: *const c_char,
    frames: c_int,
) -> c_int {
    // SAFETY: `arg` is the never-released `Arc<WalState>` given with the hook.
    let state = unsafe { &*(arg as *const WalState) };
    let frames = u64::try_from(frames).unwrap_or(0);
    state.frames.store(frames, Ordering::Relaxed);
    let done = state.backfilled.load(Ordering::Relaxed);
    // A restarted WAL counts from zero again.
    if frames < RESTART_AT
        && (frames < done || frames - done >= BACKGROUND_EVERY)
        && let Some(t) = state.thread.get()
    {
        t.unpark();
    }
    ffi::SQLITE_OK
}

fn checkpointer(state: &WalState, path: &Path) {
    let conn = match rusqlite::Connection::open(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "the checkpointer cannot open the database; the committer checkpoints alone");
            return;
        }
    };
    let _ = conn.busy_timeout(Duration::from_secs(1));
    while !state.stop.load(Ordering::Acquire) {
        std::thread::park_timeout(Duration::from_secs(5));
        let frames = state.frames.load(Ordering::Relaxed);
        let done = state.backfilled.load(Ordering::Relaxed);
        if frames >= done && frames - done < BACKGROUND_EVERY {
            continue;
        }
        let r = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(2));
        match r {
            Ok(done) => state
                .backfilled
                .store(u64::try_from(done).unwrap_or(0), Ordering::Relaxed),
            Err(e) => tracing::debug!(error = %e, "background checkpoint"),
        }
    }
}
