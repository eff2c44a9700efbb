//! Two nodes on one PostgreSQL database: starting them, subscribing, writing,
//! and cutting their LISTEN connections.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::{Value, json};
use tidemark::config::ServeArgs;

use super::ws::{Replica, Ws};
use super::{Backend, TestDb, TestServer};

/// Two servers (nodes) on one fresh PostgreSQL database, each started with
/// `args(&db)`.
pub async fn two_nodes_with(
    args: impl Fn(&TestDb) -> ServeArgs,
) -> (TestDb, TestServer, TestServer) {
    let db = TestDb::new(Backend::Postgres).await;
    let a = TestServer::start(&args(&db)).await;
    let b = TestServer::start(&args(&db)).await;
    (db, a, b)
}

/// A subscriber of `user:me` that has its snapshot.
pub async fn subscriber(node: &TestServer, token: &str, client: &str) -> (Ws, Replica) {
    let mut ws = Ws::open(&node.base, token).await;
    ws.hello(client, json!({"user:me": null})).await;
    let mut rep = Replica::default();
    let snap = ws.recv().await;
    assert_eq!(snap["type"], "snapshot", "{snap}");
    rep.apply(&snap);
    (ws, rep)
}

/// Reads frames into `rep` until it holds `version`.
pub async fn until_version(ws: &mut Ws, rep: &mut Replica, version: u64) {
    while rep.version < version {
        let f = ws
            .try_recv(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("stuck at version {} waiting for {version}", rep.version));
        rep.apply(&f);
    }
}

/// Puts `notes/n{i}` = `{"i": i}` as mutation `i` of client `writer`; returns
/// the version it acked. A `store_unavailable` answer is retried with the same
/// mutation id, as a client does: while [`deafen`] refuses new connections a
/// busy node's pool may have none free for a moment (the retry is applied
/// once, never twice, whatever happened to the first attempt).
pub async fn note(node: &TestServer, token: &str, i: u64) -> u64 {
    let id = format!("n{i}");
    let mut tries = 0;
    loop {
        let r = node
            .put(
                token,
                "writer",
                i,
                "user:me",
                "notes",
                &id,
                json!({ "i": i }),
            )
            .await;
        if r["code"] == "store_unavailable" && tries < 50 {
            tries += 1;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        }
        assert_eq!(r["status"], "ack", "{r}");
        return r["version"].as_u64().expect("version");
    }
}

/// Runs one statement on the PostgreSQL server's admin database; returns
/// the first column of its first row, if any.
pub async fn admin(sql: String) -> Option<i64> {
    let pool = sqlx::PgPool::connect(&super::pg_admin_url())
        .await
        .expect("admin connection");
    let n = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_optional(&pool)
        .await
        .expect("admin statement");
    pool.close().await;
    n
}

pub fn db_name(db: &TestDb) -> String {
    db.url
        .rsplit('/')
        .next()
        .expect("database name")
        .to_string()
}

/// Closes the database to new connections and cuts every node's LISTEN
/// connection: no node hears another until [`reopen`]. Connections already
/// in the nodes' pools go on working.
pub async fn deafen(db: &TestDb) {
    let name = db_name(db);
    admin(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await;
    admin(format!(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = '{name}' AND query LIKE 'LISTEN %'"
    ))
    .await;
}

pub async fn reopen(db: &TestDb) {
    admin(format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS true",
        db_name(db)
    ))
    .await;
}

/// Two nodes (`args` each) where b holds alice's space in memory: b's
/// subscriber (which keeps it loaded) has version 1, written on a.
pub struct Following {
    pub db: TestDb,
    pub a: TestServer,
    pub b: TestServer,
    pub alice: String,
    pub ws_b: Ws,
    pub rep_b: Replica,
}

pub async fn b_follows_a(args: impl Fn(&TestDb) -> ServeArgs) -> Following {
    let (db, a, b) = two_nodes_with(args).await;
    let alice = a.token("alice");
    let (mut ws_b, mut rep_b) = subscriber(&b, &alice, "tab-b").await;
    assert_eq!(note(&a, &alice, 1).await, 1);
    until_version(&mut ws_b, &mut rep_b, 1).await;
    Following {
        db,
        a,
        b,
        alice,
        ws_b,
        rep_b,
    }
}

/// `POST {url}` (a node's `/v1/sync`) with `body`; `(status, answer)`.
pub async fn post_sync(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> (u16, Value) {
    let r = http
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("POST /v1/sync");
    super::decode(r).await
}
