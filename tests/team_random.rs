//! Randomized convergence in a team space (issue 21): three users with two
//! tabs each write random puts, patches and deletes to one team space over
//! WebSockets while reading it, and a fourth user is added mid-run and
//! removed again. Every tab sees a gap-free, duplicate-free version sequence
//! and ends holding exactly the store's state; the fourth user's sequence is
//! gap-free from the version they joined at up to the event that removed
//! them, then `revoked`, then nothing.

#[macro_use]
mod common;

use std::time::Duration;

use common::Backend;
use common::teams::team_with;
use common::ws::{Replica, Ws};
use serde_json::{Value, json};

both_stores!(three_users_in_two_tabs_converge_while_a_fourth_comes_and_goes);

const WRITES: u64 = 40;

/// Small deterministic PRNG (xorshift), so a failure can be replayed by seed.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn three_users_in_two_tabs_converge_while_a_fourth_comes_and_goes(backend: Backend) {
    let (s, _db) = common::start_with(backend, |a| {
        a.ring_events = 16; // catch-ups hit both memory and the database
        a.ws_queue_bytes = 16 * 1024;
    })
    .await;
    const USERS: [&str; 3] = ["alice", "bob", "carol"];
    let alice = s.token("alice");
    let (id, space) = team_with(&s, &alice, &["bob", "carol"]).await;
    let (target_tx, target_rx) = tokio::sync::watch::channel(u64::MAX);
    let mut tabs = vec![];
    for (u, user) in USERS.iter().enumerate() {
        for tab in 0..2u64 {
            let (base, t, space, target) = (
                s.base.clone(),
                s.token(user),
                space.clone(),
                target_rx.clone(),
            );
            let seed = 0x7ea_u64 + u as u64 * 10 + tab;
            tabs.push(tokio::spawn(async move {
                tab_run(&base, &t, &space, seed, &format!("{user}-{tab}"), target).await
            }));
        }
    }
    // The fourth user: added while the others write, then removed.
    tokio::time::sleep(Duration::from_millis(60)).await;
    let path = format!("/v1/teams/{id}/members/dave");
    let (st, _) = s
        .send("PUT", &alice, &path, Some(json!({"role": "viewer"})))
        .await;
    assert_eq!(st, 200);
    let mut dave = Ws::open(&s.base, &s.token("dave")).await;
    dave.hello("dave-tab", json!({ space.clone(): null })).await;
    let mut rep = Replica::default();
    rep.apply(&dave.recv().await);
    let joined_at = rep.version;
    // Read a little of the live stream, then the owner removes him.
    for _ in 0..5 {
        if let Some(f) = dave.try_recv(Duration::from_millis(30)).await {
            rep.apply(&f);
        }
    }
    assert_eq!(s.send("DELETE", &alice, &path, None).await.0, 204);
    let removal = loop {
        let f = dave.recv().await;
        assert_ne!(f["type"], "revoked", "revoked before the removal event");
        rep.apply(&f);
        if f["type"] == "event" && f["collection"] == "_members" && f["id"] == "dave" {
            break rep.version;
        }
    };
    assert_eq!(dave.recv().await["type"], "revoked");
    // Every tab's writes done: then the store holds the final state.
    let mut acked = 0;
    let mut replicas = vec![];
    for t in tabs {
        let (last_ack, handle) = t.await.unwrap();
        acked = acked.max(last_ack);
        replicas.push(handle);
    }
    let (_, state) = s.get(&alice, &format!("/v1/spaces/{space}/state")).await;
    let final_version = state["version"].as_u64().unwrap();
    assert!(final_version >= acked && final_version > WRITES);
    assert!(
        final_version > removal,
        "the others wrote on after the removal ({final_version} > {removal})"
    );
    target_tx.send_replace(final_version);
    let expected: Vec<Value> = state["docs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| json!([d["collection"], d["id"], d["value"]]))
        .collect();
    for r in replicas {
        let rep = tokio::time::timeout(Duration::from_secs(60), r)
            .await
            .expect("converges")
            .unwrap();
        let got: Vec<Value> = rep
            .docs
            .iter()
            .map(|((c, i), v)| json!([c, i, v]))
            .collect();
        assert_eq!(got, expected, "a tab holds exactly the store's state");
    }
    // Dave: gap-free from his snapshot to the removal (Replica checks
    // every step), nothing after.
    assert!(rep.seen.iter().all(|v| *v > joined_at && *v <= removal));
    assert!(dave.try_recv(Duration::from_millis(300)).await.is_none());
    s.stop().await;
}

/// One tab: subscribes, writes `WRITES` random changes (reading every frame
/// into its replica while waiting for each ack), then reads until the
/// target version. Returns its last acked version and a handle that ends
/// with its replica.
async fn tab_run(
    base: &str,
    token: &str,
    space: &str,
    seed: u64,
    client: &str,
    target: tokio::sync::watch::Receiver<u64>,
) -> (u64, tokio::task::JoinHandle<Replica>) {
    let mut rng = Rng(seed);
    let mut ws = Ws::open(base, token).await;
    ws.hello(client, json!({ space: null })).await;
    let mut rep = Replica::default();
    rep.apply(&ws.recv().await);
    let mut last = 0;
    for mid in 1..=WRITES {
        let id = format!("d{}", rng.below(10));
        let op = match rng.below(10) {
            0 => json!({"op": "delete", "collection": "docs", "id": id}),
            1..=4 => {
                json!({"op": "patch", "collection": "docs", "id": id, "value": {client: mid}})
            }
            _ => json!({"op": "put", "collection": "docs", "id": id,
                        "value": {"by": client, "mid": mid, "pad": "p".repeat(rng.below(2000) as usize)}}),
        };
        ws.send(json!({"type": "mutate", "mutation_id": mid, "space": space, "ops": [op]}))
            .await;
        loop {
            let f = ws.recv().await;
            if f["type"] == "ack" && f["mutation_id"] == mid {
                last = f["version"].as_u64().unwrap();
                break;
            }
            assert_ne!(f["type"], "reject", "{f}");
            rep.apply(&f);
        }
    }
    let handle = tokio::spawn(async move {
        loop {
            if rep.version >= *target.borrow() {
                return rep;
            }
            if let Some(f) = ws.try_recv(Duration::from_millis(100)).await {
                rep.apply(&f);
            }
        }
    });
    (last, handle)
}
