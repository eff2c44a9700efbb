//! Several writers and subscribers; subscribers disconnect, stall and
//! resume mid-stream. Every subscriber ends holding exactly the store's state,
//! having seen a gap-free version sequence.

mod common;

use std::time::Duration;

use common::ws::{Replica, Ws};
use common::{Backend, TestDb, TestServer, args};
use serde_json::{Value, json};

both_stores!(random_writers_and_flaky_subscribers_converge);

/// The same across two nodes on one PostgreSQL database: writers on both,
/// and every subscriber's reconnect goes to the other node (lag is not the
/// future: docs/architecture.md, "Several nodes").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_writers_and_flaky_subscribers_converge_across_two_nodes() {
    let db = TestDb::new(Backend::Postgres).await;
    let a = TestServer::start(&node_args(&db)).await;
    let b = TestServer::start(&node_args(&db)).await;
    converge(&[&a, &b], 0x2_0de5).await;
    a.stop().await;
    b.stop().await;
}

fn node_args(db: &TestDb) -> tidemark::config::ServeArgs {
    let mut a = args(db);
    a.ring_events = 16; // resumes hit both memory and the database
    a.ws_queue_bytes = 16 * 1024;
    a
}

/// Small deterministic PRNG (xorshift), so a failure can be replayed by seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WRITERS: u64 = 3;
const WRITES: u64 = 80;

async fn random_writers_and_flaky_subscribers_converge(b: Backend) {
    let db = TestDb::new(b).await;
    let s = TestServer::start(&node_args(&db)).await;
    converge(&[&s], 0x5eed_1234_u64 ^ (b as u64)).await;
}

/// Writers and flaky subscribers on `nodes`: writer `w` writes on node
/// `w % n`, a subscriber's every reconnect goes to the next node.
async fn converge(nodes: &[&TestServer], seed: u64) {
    let s = nodes[0];
    let t = s.token("alice");
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let mut writers = vec![];
    for w in 0..WRITERS {
        let (base, t) = (bases[w as usize % bases.len()].clone(), t.clone());
        writers.push(tokio::spawn(async move {
            let mut rng = Rng(seed + w + 1);
            let mut ws = Ws::open(&base, &t).await;
            ws.hello(&format!("writer{w}"), json!({})).await;
            let mut last = 0;
            for mid in 1..=WRITES {
                let id = format!("d{}", rng.below(12));
                let op = match rng.below(10) {
                    0 => json!({"op": "delete", "collection": "docs", "id": id}),
                    1..=4 => json!({"op": "patch", "collection": "docs", "id": id, "value": {format!("w{w}"): mid}}),
                    _ => json!({"op": "put", "collection": "docs", "id": id,
                                "value": {"w": w, "mid": mid, "pad": "p".repeat(rng.below(3000) as usize)}}),
                };
                ws.send(json!({"type": "mutate", "mutation_id": mid, "space": "user:me", "ops": [op]})).await;
                let f = ws.recv().await;
                assert_eq!(f["type"], "ack", "{f}");
                last = f["version"].as_u64().expect("acked version");
                if rng.below(4) == 0 {
                    tokio::time::sleep(Duration::from_millis(rng.below(5))).await;
                }
            }
            last
        }));
    }
    // The final version is known once the writers are done (no-op writes bump nothing).
    let (target_tx, target_rx) = tokio::sync::watch::channel(u64::MAX);
    let mut subs = vec![];
    for r in 0..5u64 {
        let (bases, t, target) = (bases.clone(), t.clone(), target_rx.clone());
        subs.push(tokio::spawn(async move {
            let mut rng = Rng(seed * 31 + r + 100);
            let mut rep = Replica::default();
            let mut cursor = Value::Null;
            let mut reconnects = 0;
            loop {
                let base = &bases[(r + reconnects) as usize % bases.len()];
                let mut ws = Ws::open(base, &t).await;
                ws.hello(&format!("reader{r}"), json!({"user:me": cursor}))
                    .await;
                let frames = 5 + rng.below(40);
                let mut done = false;
                for _ in 0..frames {
                    if rep.version >= *target.borrow() {
                        done = true;
                        break;
                    }
                    let Some(f) = ws.try_recv(Duration::from_millis(200)).await else {
                        continue;
                    };
                    rep.apply(&f);
                    if rng.below(8) == 0 {
                        tokio::time::sleep(Duration::from_millis(rng.below(30))).await; // stall
                    }
                }
                if done {
                    return (rep, reconnects);
                }
                // Disconnect mid-stream and resume from the cursor.
                cursor = json!({"epoch": rep.epoch, "version": rep.version});
                drop(ws);
                reconnects += 1;
            }
        }));
    }
    let mut acked = 0;
    for w in writers {
        acked = acked.max(w.await.unwrap());
    }
    // The newest acked version, read where the first node has it (another
    // node's last write may not have reached it yet).
    let (_, v) = s
        .get(&t, &format!("/v1/spaces/user:me/version?since={acked}"))
        .await;
    assert_eq!(v["version"].as_u64(), Some(acked), "{v}");
    let (_, state) = s.get(&t, "/v1/spaces/user:me/state").await;
    let final_version = state["version"].as_u64().unwrap();
    assert!(
        final_version > WRITES,
        "the writers changed things: {final_version}"
    );
    target_tx.send_replace(final_version);
    let expected: Vec<Value> = state["docs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| json!([d["collection"], d["id"], d["value"]]))
        .collect();
    for sub in subs {
        let (rep, reconnects) = tokio::time::timeout(Duration::from_secs(60), sub)
            .await
            .expect("converges")
            .unwrap();
        assert!(reconnects > 0, "the subscriber did disconnect and resume");
        assert_eq!(
            rep.snapshots, 1,
            "every resume was answered with events, never a snapshot"
        );
        let got: Vec<Value> = rep
            .docs
            .iter()
            .map(|((c, i), v)| json!([c, i, v]))
            .collect();
        assert_eq!(got, expected, "subscriber holds exactly the store's state");
    }
}
