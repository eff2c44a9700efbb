//! Writers on two nodes to one space, unevenly: three clients on node a
//! write back to back, one on node b. b's writes keep finding the space moved
//! by a; after two losses a write holds the space (`store/lock.rs`) and wins.
//! Every write is acknowledged, every version is used once, and both nodes
//! end with every document.

mod common;

use std::collections::BTreeSet;

use common::TestServer;
use serde_json::json;

const WRITES: u64 = 120;

/// `client` writes `WRITES` documents of its own to alice's space through
/// `/v1/sync` on `node`, one after another; returns the versions acked.
fn writer(
    node: &TestServer,
    token: &str,
    client: &'static str,
) -> tokio::task::JoinHandle<Vec<u64>> {
    let (http, url, token) = (node.http.clone(), node.url("/v1/sync"), token.to_string());
    tokio::spawn(async move {
        let mut acked = Vec::new();
        for mid in 1..=WRITES {
            let body = json!({"client_id": client, "mutations": [{"mutation_id": mid, "space": "user:me",
            "ops": [{"op": "put", "collection": "w", "id": format!("{client}-{mid}"), "value": mid}]}]});
            let (status, v) = common::cluster::post_sync(&http, &url, &token, &body).await;
            let res = &v["results"][0];
            assert!(
                status == 200 && res["status"] == "ack",
                "{client} #{mid}: {status} {v}"
            );
            acked.push(res["version"].as_u64().expect("version"));
        }
        acked
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_writer_on_one_node_is_not_starved_by_busy_writers_on_another() {
    let (_db, a, b) = common::cluster::two_nodes_with(common::args).await;
    let alice = a.token("alice");
    let tasks = [
        writer(&a, &alice, "a1"),
        writer(&a, &alice, "a2"),
        writer(&a, &alice, "a3"),
        writer(&b, &alice, "b1"),
    ];
    let mut versions = BTreeSet::new();
    for t in tasks {
        for v in t.await.expect("writer") {
            assert!(versions.insert(v), "version {v} acked twice");
        }
    }
    let total = 4 * WRITES;
    assert_eq!(
        versions,
        (1..=total).collect(),
        "one version per write, none skipped"
    );
    for n in [&a, &b] {
        let (_, v) = n
            .get(&alice, &format!("/v1/spaces/user:me/version?since={total}"))
            .await;
        assert_eq!(v["version"].as_u64(), Some(total), "{v}");
        let (_, s) = n.get(&alice, "/v1/spaces/user:me/state").await;
        assert_eq!(s["docs"].as_array().map(Vec::len), Some(total as usize));
    }
    a.stop().await;
    b.stop().await;
}
