//! The catch-up rule (docs/architecture.md, "Catch-up"): from any cursor —
//! any epoch string, any version, 0, the head, ahead of it, behind the
//! compacted log — the engine answers a snapshot of the current version or
//! the gap-free suffix of the log from the cursor to the head: never a gap,
//! a duplicate, or an older state. Over random histories on a real SQLite
//! store, with a ring and a log small enough that every answer occurs, from
//! memory and (after a restart) from the database.

use std::sync::atomic::{AtomicU32, Ordering};

use proptest::prelude::*;
use serde_json::{Value, json};
use tidemark::engine::Engine;
use tidemark::protocol::{CatchUp, Cursor, Op};

use super::support::{
    Db, answer, events, mutate, op, replay, run, runtime, small_engine_config, snapshot_state,
};

/// Which epoch a cursor names.
#[derive(Debug, Clone)]
enum Epoch {
    Current,
    Other(String),
}

/// Which version a cursor names, relative to the head when it is asked.
#[derive(Debug, Clone)]
enum At {
    Zero,
    Head,
    Behind(u64),
    Ahead(u64),
    Any(u64),
}

type Probe = (Epoch, At);

#[derive(Debug, Clone)]
struct Case {
    /// Each mutation's ops, and a cursor asked about right after it.
    steps: Vec<(Vec<Op>, Probe)>,
    /// Whether the engine restarts (empty ring, log read from the database)
    /// before the last probes.
    restart: bool,
    last: Vec<Probe>,
}

fn probe() -> impl Strategy<Value = Probe> {
    let epoch = prop_oneof![
        3 => Just(Epoch::Current),
        1 => ".{0,12}".prop_map(Epoch::Other),
    ];
    let at = prop_oneof![
        Just(At::Zero),
        Just(At::Head),
        (1u64..40).prop_map(At::Behind),
        (1u64..5).prop_map(At::Ahead),
        any::<u64>().prop_map(At::Any),
    ];
    (epoch, at)
}

fn case() -> impl Strategy<Value = Case> {
    let step = (prop::collection::vec(op(false), 1..=3), probe());
    (
        prop::collection::vec(step, 1..=30),
        any::<bool>(),
        prop::collection::vec(probe(), 1..=8),
    )
        .prop_map(|(steps, restart, last)| Case {
            steps,
            restart,
            last,
        })
}

/// How often each answer was checked, over all cases.
static SNAPSHOTS_BEHIND_LOG: AtomicU32 = AtomicU32::new(0);
static EVENTS_FROM_RING: AtomicU32 = AtomicU32::new(0);
static EVENTS_FROM_DATABASE: AtomicU32 = AtomicU32::new(0);
static UP_TO_DATE: AtomicU32 = AtomicU32::new(0);

/// Asks about one cursor and checks the answer against the whole history
/// (`log`: every event, version 1 first).
async fn check(engine: &Engine, epoch: &str, log: &[Value], (e, at): &Probe) {
    let head = log.len() as u64;
    let version = match at {
        At::Zero => 0,
        At::Head => head,
        At::Behind(n) => head.saturating_sub(*n),
        At::Ahead(n) => head + n,
        At::Any(v) => *v,
    };
    let cursor = Cursor {
        epoch: match e {
            Epoch::Current => epoch.to_string(),
            Epoch::Other(s) => s.clone(),
        },
        version,
    };
    let same = cursor.epoch == epoch;
    let (log_start, ring_first) = {
        let space = engine.space(super::support::SPACE).await.unwrap();
        let d = space.read();
        (d.log_start, d.ring.first_version().unwrap_or(head + 1))
    };
    let got = answer(engine, Some(&cursor)).await;
    assert_eq!(
        (got.epoch(), got.version()),
        (epoch, head),
        "{cursor:?}: {got:?}"
    );
    let held = same && version <= head;
    match &got {
        CatchUp::UpToDate { .. } => {
            assert!(held && version == head, "{cursor:?}");
            UP_TO_DATE.fetch_add(1, Ordering::Relaxed);
        }
        CatchUp::Events { from, to, .. } => {
            assert!(
                held,
                "{cursor:?}: events for a cursor this space never held"
            );
            assert_eq!((*from, *to), (version, head));
            let evs = events(&got);
            assert_eq!(
                evs,
                log[version as usize..],
                "{cursor:?}: not the log's suffix"
            );
            let counter = if version + 1 >= ring_first {
                &EVENTS_FROM_RING
            } else {
                &EVENTS_FROM_DATABASE
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        CatchUp::Snapshot { .. } => {
            assert_eq!(
                snapshot_state(&got),
                replay(log),
                "{cursor:?}: not the current state"
            );
            let within_log = version >= log_start && head.saturating_sub(version) <= 16;
            assert!(
                !(held && (version == head || within_log)),
                "{cursor:?}: a snapshot where events were due (log from {log_start})"
            );
            if held {
                SNAPSHOTS_BEHIND_LOG.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn one_case(case: Case) {
    runtime().block_on(async {
        let db = Db::new();
        let mut engine = db.engine(small_engine_config()).await;
        let epoch = answer(&engine, None).await.epoch().to_string();
        let mut log: Vec<Value> = Vec::new();
        for (i, (ops, probe)) in case.steps.iter().enumerate() {
            mutate(&engine, "writer", i as u64 + 1, ops.clone()).await;
            // The writer's own cursor reads the new events: the whole log.
            let before = Cursor {
                epoch: epoch.clone(),
                version: log.len() as u64,
            };
            let got = answer(&engine, Some(&before)).await;
            assert!(
                !matches!(got, CatchUp::Snapshot { .. }),
                "the writer's cursor: {got:?}"
            );
            let new = events(&got);
            for (j, ev) in new.iter().enumerate() {
                assert_eq!(ev["version"], json!(before.version + 1 + j as u64));
            }
            log.extend(new);
            assert_eq!(snapshot_state(&answer(&engine, None).await), replay(&log));
            check(&engine, &epoch, &log, probe).await;
        }
        if case.restart {
            drop(engine);
            engine = db.engine(small_engine_config()).await;
        }
        for probe in &case.last {
            check(&engine, &epoch, &log, probe).await;
        }
    });
}

#[test]
fn from_any_cursor_a_snapshot_or_the_gap_free_suffix() {
    run(64, case(), one_case);
    for (what, n) in [
        (
            "snapshots of a cursor behind the log",
            &SNAPSHOTS_BEHIND_LOG,
        ),
        ("events from the ring", &EVENTS_FROM_RING),
        ("events from the database", &EVENTS_FROM_DATABASE),
        ("up to date", &UP_TO_DATE),
    ] {
        assert!(n.load(Ordering::Relaxed) > 0, "no case checked {what}");
    }
}
