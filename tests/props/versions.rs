//! Version monotonicity: random writers on one space — new mutations (some
//! refused: bad names, `null` values, stale `if_version`), retries of ids
//! already sent, ids that skip ahead, two clients at once — against a real
//! engine over SQLite. A space's version only grows, by one per changed
//! document of an applied mutation (docs/architecture.md, "Concepts"); a
//! retry is answered with its first outcome and applied never again; a
//! refused or out-of-order mutation and a no-op change nothing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use proptest::prelude::*;
use serde_json::{Value, json};
use tidemark::engine::{Engine, EngineConfig};
use tidemark::protocol::{CatchUp, Cursor, MutationResult, Op, RejectCode};

use super::support::{Db, SPACE, answer, events, mutate, op, run, runtime};

const CLIENTS: usize = 3;

#[derive(Debug, Clone)]
enum Step {
    /// A client's next mutation.
    New(usize, Vec<Op>),
    /// One the client sent before (any of them), sent again.
    Retry(usize, usize),
    /// An id past the next one the client may send.
    Skip(usize, u64),
    /// Two clients' next mutations at once.
    Pair(usize, Vec<Op>, Vec<Op>),
}

fn step() -> impl Strategy<Value = Step> {
    let client = 0..CLIENTS;
    let ops = || prop::collection::vec(op(true), 1..=3);
    prop_oneof![
        5 => (client.clone(), ops()).prop_map(|(c, o)| Step::New(c, o)),
        2 => (client.clone(), any::<usize>()).prop_map(|(c, i)| Step::Retry(c, i)),
        1 => (client.clone(), 0u64..3).prop_map(|(c, n)| Step::Skip(c, n)),
        1 => (client, ops(), ops()).prop_map(|(c, a, b)| Step::Pair(c, a, b)),
    ]
}

/// How often each outcome was checked, over all cases.
static REFUSED: AtomicU32 = AtomicU32::new(0);
static NOOPS: AtomicU32 = AtomicU32::new(0);
static RETRIES: AtomicU32 = AtomicU32::new(0);
static SKIPS: AtomicU32 = AtomicU32::new(0);

/// What a client has sent: its next id, and each mutation with its outcome.
#[derive(Default)]
struct Client {
    next: u64,
    sent: Vec<(u64, Vec<Op>, MutationResult)>,
}

/// `(client, mutation_id)` of every mutation applied with changes, and the
/// version its ack named.
type Applied = BTreeMap<(String, u64), u64>;

async fn head(engine: &Engine) -> u64 {
    engine.head(SPACE).await.expect("head").1
}

/// Sends a client's next mutation and records it.
async fn send_new(engine: &Engine, name: &str, c: &mut Client, ops: Vec<Op>) -> MutationResult {
    let mid = c.next;
    let result = mutate(engine, name, mid, ops.clone()).await;
    match &result {
        MutationResult::Ack {
            mutation_id, noop, ..
        } => {
            assert_eq!(*mutation_id, Some(mid));
            if *noop {
                NOOPS.fetch_add(1, Ordering::Relaxed);
            }
        }
        MutationResult::Reject { code, .. } => {
            assert_ne!(*code, RejectCode::OutOfOrder, "the next id is in order");
            REFUSED.fetch_add(1, Ordering::Relaxed);
        }
    }
    c.next += 1;
    c.sent.push((mid, ops, result.clone()));
    result
}

fn applied_version(r: &MutationResult) -> Option<u64> {
    match r {
        MutationResult::Ack {
            version,
            noop: false,
            ..
        } => Some(*version),
        _ => None,
    }
}

fn one_case((firsts, steps): (Vec<u64>, Vec<Step>)) {
    runtime().block_on(async {
        let db = Db::new();
        let engine = db.engine(EngineConfig::default()).await;
        let epoch = answer(&engine, None).await.epoch().to_string();
        let names: Vec<String> = (0..CLIENTS).map(|i| format!("c{i}")).collect();
        let mut clients: Vec<Client> = firsts
            .iter()
            .map(|&next| Client { next, sent: vec![] })
            .collect();
        let mut applied = Applied::new();
        for step in steps {
            let before = head(&engine).await;
            // The mutations this step applies, `(client, id, acked version)`.
            let mut acked: Vec<(String, u64, u64)> = Vec::new();
            match step {
                Step::New(i, ops) => {
                    let r = send_new(&engine, &names[i], &mut clients[i], ops).await;
                    let mid = clients[i].next - 1;
                    acked.extend(applied_version(&r).map(|v| (names[i].clone(), mid, v)));
                    if let MutationResult::Ack { version, .. } = r {
                        assert_eq!(version, head(&engine).await, "an ack names the new head");
                    }
                }
                Step::Retry(i, pick) => {
                    let c = &clients[i];
                    let Some((mid, ops, first)) = c.sent.get(pick % c.sent.len().max(1)).cloned()
                    else {
                        continue;
                    };
                    let again = mutate(&engine, &names[i], mid, ops).await;
                    assert_eq!(
                        again, first,
                        "a retry of {}/{mid} answers as the first time",
                        names[i]
                    );
                    RETRIES.fetch_add(1, Ordering::Relaxed);
                }
                Step::Skip(i, ahead) => {
                    let c = &clients[i];
                    if c.sent.is_empty() {
                        continue; // a client's first id may be any
                    }
                    let mid = c.next + 1 + ahead;
                    let put = Op::Put {
                        collection: "notes".into(),
                        id: "skipped".into(),
                        value: json!({"n": mid}),
                        if_version: None,
                    };
                    let r = mutate(&engine, &names[i], mid, vec![put]).await;
                    let MutationResult::Reject { code, .. } = r else {
                        panic!("{}/{mid} skips ahead of {}: {r:?}", names[i], c.next);
                    };
                    assert_eq!(code, RejectCode::OutOfOrder);
                    SKIPS.fetch_add(1, Ordering::Relaxed);
                }
                Step::Pair(i, a, b) => {
                    let j = (i + 1) % CLIENTS;
                    let [ci, cj] = clients.get_disjoint_mut([i, j]).expect("two clients");
                    let (ra, rb) = tokio::join!(
                        send_new(&engine, &names[i], ci, a),
                        send_new(&engine, &names[j], cj, b),
                    );
                    acked.extend(applied_version(&ra).map(|v| (names[i].clone(), ci.next - 1, v)));
                    acked.extend(applied_version(&rb).map(|v| (names[j].clone(), cj.next - 1, v)));
                }
            }
            let after = head(&engine).await;
            assert!(
                after >= before,
                "the version went back from {before} to {after}"
            );
            // What moved the version: exactly the applied mutations, each
            // event once, in consecutive versions up to its ack's.
            let cursor = Cursor {
                epoch: epoch.clone(),
                version: before,
            };
            let got = answer(&engine, Some(&cursor)).await;
            assert!(!matches!(got, CatchUp::Snapshot { .. }), "{got:?}");
            let evs = events(&got);
            assert_eq!(evs.len() as u64, after - before, "one version per event");
            for (k, ev) in evs.iter().enumerate() {
                assert_eq!(ev["version"], json!(before + 1 + k as u64));
                let origin = (
                    ev["origin"]["client_id"].as_str().unwrap().to_string(),
                    ev["origin"]["mutation_id"].as_u64().unwrap(),
                );
                let ack = acked
                    .iter()
                    .find(|(c, m, _)| (c, m) == (&origin.0, &origin.1));
                let (_, _, v) =
                    ack.unwrap_or_else(|| panic!("event {ev} from no mutation applied now"));
                assert!(
                    before + 1 + k as u64 <= *v,
                    "an event after its mutation's ack version"
                );
            }
            for (c, m, v) in acked {
                assert!(
                    evs.iter()
                        .any(|e| e["origin"] == json!({"client_id": c, "mutation_id": m}))
                );
                assert!(applied.insert((c, m), v).is_none(), "applied twice");
            }
        }
        whole_log_once(&engine, &epoch, &applied).await;
    });
}

/// The whole log: every applied mutation's events, once, each block ending at
/// its ack's version.
async fn whole_log_once(engine: &Engine, epoch: &str, applied: &Applied) {
    let from_start = Cursor {
        epoch: epoch.to_string(),
        version: 0,
    };
    let all = events(&answer(engine, Some(&from_start)).await);
    let mut last: BTreeMap<(String, u64), u64> = BTreeMap::new();
    for ev in &all {
        let o: &Value = &ev["origin"];
        let key = (
            o["client_id"].as_str().unwrap().to_string(),
            o["mutation_id"].as_u64().unwrap(),
        );
        last.insert(key, ev["version"].as_u64().unwrap());
    }
    assert_eq!(&last, applied, "the log's mutations are the applied ones");
}

#[test]
fn versions_grow_by_one_per_change_and_retries_apply_once() {
    let firsts = prop::collection::vec(prop_oneof![Just(1u64), 2u64..1000], CLIENTS);
    run(
        64,
        (firsts, prop::collection::vec(step(), 1..=40)),
        one_case,
    );
    for (what, n) in [
        ("refused mutations", &REFUSED),
        ("no-op mutations", &NOOPS),
        ("retries", &RETRIES),
        ("ids that skip ahead", &SKIPS),
    ] {
        assert!(n.load(Ordering::Relaxed) > 0, "no case checked {what}");
    }
}
