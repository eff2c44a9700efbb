//! Every acknowledged change survives `kill -9` of the server process.

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::proc::spawn_server;
use common::{Backend, TestDb, token};
use serde_json::{Value, json};
use tidemark::engine::Role;

both_stores!(
    kill_9_loses_no_acknowledged_write,
    sigterm_closes_sockets_with_1012_and_exits_0
);

async fn kill_9_loses_no_acknowledged_write(b: Backend) {
    let db = TestDb::new(b).await;
    let mut p = spawn_server(&db).await;
    let t = token("alice", Role::User);
    let http = reqwest::Client::new();
    let (_, v) = common::decode(
        http.get(format!("{}/v1/spaces/user:me/version", p.base))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let epoch = v["epoch"].as_str().unwrap().to_string();
    // Four writers, each its own client id, each write a new document.
    let acked: Arc<Mutex<Vec<(String, u64, u64)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..4 {
        let (http, base, t, acked) = (http.clone(), p.base.clone(), t.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for mid in 1..=10_000u64 {
                let client = format!("writer{w}");
                let body = json!({"client_id": client, "mutations": [{"mutation_id": mid, "space": "user:me",
                    "ops": [{"op": "put", "collection": "items", "id": format!("{w}-{mid}"), "value": {"w": w, "mid": mid}}]}]});
                let Ok(r) = http.post(format!("{base}/v1/sync")).bearer_auth(&t).json(&body).send().await else {
                    return;
                };
                let Ok(v) = r.json::<Value>().await else { return };
                let res = &v["results"][0];
                assert_eq!(res["status"], "ack", "{v}");
                acked.lock().unwrap().push((client, mid, res["version"].as_u64().unwrap()));
            }
        }));
    }
    while acked.lock().unwrap().len() < 200 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    p.child.kill().expect("kill -9"); // SIGKILL on Unix
    let _ = p.child.wait();
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().unwrap().clone();
    let max_version = acked.iter().map(|a| a.2).max().unwrap();

    let mut p = spawn_server(&db).await;
    let (_, v) = common::decode(
        http.get(format!("{}/v1/spaces/user:me/version", p.base))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["epoch"], epoch, "the epoch survives");
    assert!(
        v["version"].as_u64().unwrap() >= max_version,
        "the version survives: {v} < {max_version}"
    );
    let (_, state) = common::decode(
        http.get(format!("{}/v1/spaces/user:me/state", p.base))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let docs = state["docs"].as_array().unwrap();
    for (client, mid, version) in &acked {
        let id = format!("{}-{mid}", &client["writer".len()..]);
        let d = docs.iter().find(|d| d["id"] == id.as_str());
        let d = d.unwrap_or_else(|| panic!("acknowledged write {id} (version {version}) was lost"));
        assert_eq!(d["version"].as_u64(), Some(*version));
    }
    // The idempotency records survived too: a retry is not applied again.
    let (client, mid, version) = acked[0].clone();
    let body = json!({"client_id": client, "mutations": [{"mutation_id": mid, "space": "user:me",
        "ops": [{"op": "put", "collection": "items", "id": "retry", "value": 1}]}]});
    let (_, r) = common::decode(
        http.post(format!("{}/v1/sync", p.base))
            .bearer_auth(&t)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r["results"][0]["version"].as_u64(), Some(version), "{r}");
    p.child.kill().unwrap();
    let _ = p.child.wait();
}

async fn sigterm_closes_sockets_with_1012_and_exits_0(b: Backend) {
    let db = TestDb::new(b).await;
    let mut p = spawn_server(&db).await;
    let t = token("alice", Role::User);
    let mut ws = common::ws::Ws::open(&p.base, &t).await;
    ws.hello("c", json!({"user:me": null})).await;
    ws.recv().await;
    let status = Command::new("kill")
        .args(["-TERM", &p.child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let (code, _) = ws
        .closed(Duration::from_secs(10))
        .await
        .expect("a close frame");
    assert_eq!(code, 1012);
    let started = std::time::Instant::now();
    loop {
        if let Some(st) = p.child.try_wait().unwrap() {
            assert!(st.success(), "exit status {st}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "did not exit within the grace period"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
