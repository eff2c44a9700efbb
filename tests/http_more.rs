//! Dev tokens, REST idempotency and ordering, store outage (503).

mod common;

use common::{Backend, TestDb, TestServer, args};
use serde_json::json;

#[tokio::test]
async fn dev_mode_mints_tokens_and_is_off_by_default() {
    let db = TestDb::new(Backend::Sqlite).await;
    let s = TestServer::start(&args(&db)).await;
    let r = s
        .http
        .post(s.url("/dev/token"))
        .json(&json!({"user": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "no /dev/token without --dev");
    for page in ["/demo/react", "/demo/react/app.js", "/demo/teams.js"] {
        let r = s.http.get(s.url(page)).send().await.unwrap();
        assert_eq!(r.status(), 404, "no {page} without --dev");
    }
    s.stop().await;

    let mut a = args(&db);
    a.dev = true;
    let s = TestServer::start(&a).await;
    let (st, v) = common::decode(
        s.http
            .post(s.url("/dev/token"))
            .json(&json!({"user": "alice"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let tok = v["token"].as_str().unwrap();
    let (st, v) = s.get(tok, "/v1/spaces/user:me/version").await;
    assert_eq!((st, v["space"].as_str()), (200, Some("user:alice")));
    for (page, kind) in [
        ("/demo/react", "text/html"),
        ("/demo/react/app.js", "text/javascript"),
        ("/demo/teams.js", "text/javascript"),
    ] {
        let r = s.http.get(s.url(page)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{page} with --dev");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
    }
    let (st, _) = common::decode(
        s.http
            .post(s.url("/dev/token"))
            .json(&json!({"user": "has space"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 422);
}

#[tokio::test]
async fn dev_mode_is_refused_off_loopback() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut a = args(&db);
    a.dev = true;
    a.listen = "0.0.0.0:0".parse().unwrap();
    let err = tidemark::server::build(&a).await.err().expect("refused");
    assert!(err.to_string().contains("--dev"), "{err}");
}

#[tokio::test]
async fn rest_writes_are_idempotent_with_client_headers() {
    let db = TestDb::new(Backend::Sqlite).await;
    let s = TestServer::start(&args(&db)).await;
    let t = s.token("alice");
    let put = |mid: u64, v: i64| {
        s.http
            .put(s.url("/v1/spaces/user:me/docs/a/x"))
            .bearer_auth(&t)
            .header("tidemark-client-id", "rest")
            .header("tidemark-mutation-id", mid.to_string())
            .json(&json!({"v": v}))
    };
    let (st, first) = common::decode(put(1, 1).send().await.unwrap()).await;
    assert_eq!((st, first["version"].as_u64()), (200, Some(1)));
    let (st, again) = common::decode(put(1, 99).send().await.unwrap()).await;
    assert_eq!(st, 200);
    assert_eq!(
        again, first,
        "a retry gets the stored outcome and is not applied"
    );
    let (st, v) = common::decode(put(5, 5).send().await.unwrap()).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("out_of_order"))
    );
    let (_, doc) = s.get(&t, "/v1/spaces/user:me/docs/a/x").await;
    assert_eq!(doc["value"], json!({"v": 1}));
}

#[tokio::test]
async fn a_store_outage_answers_503_and_loses_nothing_acknowledged() {
    let db = TestDb::new(Backend::Postgres).await;
    let s = TestServer::start(&args(&db)).await;
    let t = s.token("alice");
    let (st, _) = s
        .send("PUT", &t, "/v1/spaces/user:me/docs/a/x", Some(json!(1)))
        .await;
    assert_eq!(st, 200);
    // Take the database away underneath the server.
    let admin = common::pg_admin_url();
    let name = db.url.rsplit('/').next().unwrap().to_string();
    {
        use sqlx::{Connection, Executor};
        let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
        c.execute(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS false"
        )))
        .await
        .unwrap();
        c.execute(sqlx::AssertSqlSafe(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        )))
        .await
        .unwrap();
    }
    let (st, v) = common::decode(s.http.get(s.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (503, Some("unavailable"))
    );
    let (st, v) = s
        .send("PUT", &t, "/v1/spaces/user:me/docs/a/y", Some(json!(2)))
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (503, Some("store_unavailable")),
        "{v}"
    );
    assert!(
        !v.to_string().contains("postgres://"),
        "no internals leak: {v}"
    );
    // Back again: the acknowledged write is there, the failed one is not.
    {
        use sqlx::{Connection, Executor};
        let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
        c.execute(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS true"
        )))
        .await
        .unwrap();
    }
    let (st, _) = common::decode(s.http.get(s.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(st, 200);
    let (st, doc) = s.get(&t, "/v1/spaces/user:me/docs/a/x").await;
    assert_eq!((st, doc["value"].clone()), (200, json!(1)));
    let (st, _) = s.get(&t, "/v1/spaces/user:me/docs/a/y").await;
    assert_eq!(st, 404);
    let (st, _) = s
        .send("PUT", &t, "/v1/spaces/user:me/docs/a/y", Some(json!(3)))
        .await;
    assert_eq!(st, 200, "writes work again");
}

#[tokio::test]
async fn idle_spaces_leave_memory_on_their_own() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut a = args(&db);
    a.space_idle_secs = 1;
    let s = TestServer::start(&a).await;
    for u in 0..5 {
        let t = s.token(&format!("u{u}"));
        s.send("PUT", &t, "/v1/spaces/user:me/docs/a/x", Some(json!(u)))
            .await;
    }
    let engine = &s.state.engine;
    assert!((0..5).all(|u| engine.is_loaded(&format!("user:u{u}"))));
    // A subscribed space stays; the others leave within a few sweeps.
    let mut ws = common::ws::Ws::open(&s.base, &s.token("u0")).await;
    ws.hello("c", json!({"user:me": null})).await;
    ws.recv().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while (1..5).any(|u| engine.is_loaded(&format!("user:u{u}"))) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "idle spaces were not evicted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(engine.is_loaded("user:u0"), "the subscribed space stays");
    // An evicted space loads again on use, with its data.
    let (_, doc) = s.get(&s.token("u3"), "/v1/spaces/user:me/docs/a/x").await;
    assert_eq!(doc["value"], json!(3));
    ws.roundtrip(1).await;
    assert_eq!(s.state.ws_hubs.len(), 1, "one pusher: user:u0");
    // Once its last subscriber is gone, the pusher ends and the space may leave too.
    drop(ws);
    while engine.is_loaded("user:u0") || !s.state.ws_hubs.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline + std::time::Duration::from_secs(20),
            "the space of a closed subscriber stayed in memory (hubs: {})",
            s.state.ws_hubs.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn loaded_spaces_are_capped() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut a = args(&db);
    a.max_loaded_spaces = 2;
    let s = TestServer::start(&a).await;
    for u in 0..6 {
        let t = s.token(&format!("u{u}"));
        s.send("PUT", &t, "/v1/spaces/user:me/docs/a/x", Some(json!(u)))
            .await;
    }
    s.state.engine.evict_idle(false);
    let user_spaces = (0..6)
        .filter(|u| s.state.engine.is_loaded(&format!("user:u{u}")))
        .count();
    assert!(
        s.state.engine.loaded_spaces() <= 2,
        "{user_spaces} user spaces still loaded"
    );
}
