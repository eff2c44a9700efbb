//! The WebSocket protocol over real sockets.

mod common;

use std::time::Duration;

use common::ws::{Replica, Ws};
use common::{Backend, TestDb, TestServer, args};
use serde_json::{Value, json};

both_stores!(
    two_tabs_see_each_others_writes_in_order,
    reconnect_with_cursor_gets_exactly_what_was_missed,
    no_change_is_missed_while_clients_join,
);

async fn server(b: Backend) -> (TestDb, TestServer) {
    let db = TestDb::new(b).await;
    let s = TestServer::start(&args(&db)).await;
    (db, s)
}

fn put(mid: u64, id: &str, value: Value) -> Value {
    json!({"type": "mutate", "mutation_id": mid, "space": "user:me",
           "ops": [{"op": "put", "collection": "items", "id": id, "value": value}]})
}

async fn two_tabs_see_each_others_writes_in_order(b: Backend) {
    let (_db, s) = server(b).await;
    let t = s.token("alice");
    let mut tab1 = Ws::open(&s.base, &t).await;
    let mut tab2 = Ws::open(&s.base, &t).await;
    tab1.hello("tab1", json!({"user:me": null})).await;
    tab2.hello("tab2", json!({"user:me": null})).await;
    let snap = tab1.recv().await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["space"], "user:alice");
    assert_eq!(tab2.recv().await["type"], "snapshot");
    for i in 1..=5u64 {
        tab1.send(put(i, &format!("a{i}"), json!({"i": i}))).await;
    }
    tab2.send(put(1, "b1", json!({"from": "tab2"}))).await;
    // tab1: each ack precedes its own echo; tab2's write appears among them.
    let mut acks = 0;
    let mut seen = vec![];
    while seen.len() < 6 {
        let f = tab1.recv().await;
        match f["type"].as_str().unwrap() {
            "ack" => {
                acks += 1;
                assert_eq!(f["space"], "user:alice");
                let v = f["version"].as_u64().unwrap();
                assert!(!seen.contains(&v), "ack {v} came after its echo");
            }
            "event" => seen.push(f["version"].as_u64().unwrap()),
            other => panic!("unexpected {other}: {f}"),
        }
    }
    assert_eq!(acks, 5);
    assert_eq!(seen, (1..=6).collect::<Vec<_>>(), "in order, no gap");
    // tab2 sees all six with origin naming the writer.
    let mut rep = Replica {
        version: snap["version"].as_u64().unwrap(),
        ..Default::default()
    };
    let mut origins = vec![];
    while rep.version < 6 {
        let f = tab2.recv().await;
        if f["type"] == "event" {
            origins.push(f["origin"]["client_id"].as_str().unwrap().to_string());
            assert!(f.get("epoch").is_none(), "event frames carry no epoch");
        }
        // tab2 holds its live events back while its own write is in flight
        // (its ack goes first) and may then be caught up in one `events` frame.
        if f["type"] == "events" {
            for e in f["events"].as_array().unwrap() {
                origins.push(e["origin"]["client_id"].as_str().unwrap().to_string());
            }
        }
        rep.apply(&f);
    }
    assert_eq!(origins.iter().filter(|o| *o == "tab1").count(), 5);
    assert_eq!(origins.iter().filter(|o| *o == "tab2").count(), 1);
    assert_eq!(rep.docs[&("items".into(), "a3".into())], json!({"i": 3}));
}

async fn reconnect_with_cursor_gets_exactly_what_was_missed(b: Backend) {
    let db = TestDb::new(b).await;
    let mut a = args(&db);
    a.ring_events = 5;
    let s = TestServer::start(&a).await;
    let t = s.token("alice");
    let mut w = Ws::open(&s.base, &t).await;
    w.hello("writer", json!({})).await;
    let mut tab = Ws::open(&s.base, &t).await;
    tab.hello("reader", json!({"user:me": null})).await;
    let mut rep = Replica::default();
    rep.apply(&tab.recv().await);
    let mut mid = 0;
    let mut write = async |w: &mut Ws, n: u64| {
        for _ in 0..n {
            mid += 1;
            w.send(put(mid, &format!("d{}", mid % 7), json!({"mid": mid})))
                .await;
            assert_eq!(w.recv().await["type"], "ack");
        }
    };
    write(&mut w, 3).await;
    while rep.version < 3 {
        rep.apply(&tab.recv().await);
    }
    drop(tab);
    // Missed while away: 4 versions (in memory), then resume.
    write(&mut w, 4).await;
    let mut tab = Ws::open(&s.base, &t).await;
    tab.hello(
        "reader",
        json!({"user:me": {"epoch": rep.epoch, "version": rep.version}}),
    )
    .await;
    let f = tab.recv().await;
    assert_eq!(
        (f["type"].as_str(), f["from"].as_u64(), f["to"].as_u64()),
        (Some("events"), Some(3), Some(7))
    );
    rep.apply(&f);
    drop(tab);
    // Missed while away: 12 versions, more than the ring holds -> from the database.
    write(&mut w, 12).await;
    let mut tab = Ws::open(&s.base, &t).await;
    tab.hello(
        "reader",
        json!({"user:me": {"epoch": rep.epoch, "version": rep.version}}),
    )
    .await;
    let f = tab.recv().await;
    assert_eq!(
        (f["type"].as_str(), f["from"].as_u64(), f["to"].as_u64()),
        (Some("events"), Some(7), Some(19))
    );
    rep.apply(&f);
    assert_eq!(
        rep.seen,
        (1..=19).collect::<Vec<_>>(),
        "every version exactly once"
    );
    assert_eq!(rep.snapshots, 1);
    // Live continues right after the catch-up.
    write(&mut w, 1).await;
    rep.apply(&tab.recv().await);
    assert_eq!(rep.version, 20);
    let (_, state) = s.get(&t, "/v1/spaces/user:me/state").await;
    assert_eq!(state["docs"].as_array().unwrap().len(), rep.docs.len());
}

async fn no_change_is_missed_while_clients_join(b: Backend) {
    let (_db, s) = server(b).await;
    let t = s.token("alice");
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (base, t) = (s.base.clone(), t.clone());
            tokio::spawn(async move {
                let mut ws = Ws::open(&base, &t).await;
                ws.hello(&format!("w{w}"), json!({})).await;
                for mid in 1..=60u64 {
                    ws.send(put(mid, &format!("w{w}-{}", mid % 5), json!({"mid": mid})))
                        .await;
                    assert_eq!(ws.recv().await["type"], "ack");
                }
            })
        })
        .collect();
    // Clients join at staggered times while the writers run.
    let mut joiners = vec![];
    for j in 0..8u64 {
        let (base, t) = (s.base.clone(), t.clone());
        joiners.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(j * 15)).await;
            let mut ws = Ws::open(&base, &t).await;
            ws.hello(&format!("r{j}"), json!({"user:me": null})).await;
            let mut rep = Replica::default();
            rep.apply(&ws.recv().await);
            while rep.version < 180 {
                rep.apply(&ws.recv().await);
            }
            rep
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let (_, state) = s.get(&t, "/v1/spaces/user:me/state").await;
    for j in joiners {
        let rep = j.await.unwrap();
        assert_eq!(rep.version, 180);
        let docs: Vec<Value> = rep
            .docs
            .iter()
            .map(|((c, i), v)| json!({"collection": c, "id": i, "value": v}))
            .collect();
        let store: Vec<Value> = state["docs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| json!({"collection": d["collection"], "id": d["id"], "value": d["value"]}))
            .collect();
        assert_eq!(
            docs, store,
            "the subscriber holds exactly the store's state"
        );
    }
}
