//! An event is encoded once; every subscriber gets the same bytes.

mod common;

use std::sync::Arc;

use common::{Backend, TestDb, TestServer, args};
use serde_json::json;
use tidemark::engine::space::Live;
use tidemark::engine::{MutationInput, Principal, Role};
use tidemark::protocol::Op;

#[tokio::test]
async fn every_subscriber_shares_one_encoding_of_an_event() {
    let db = TestDb::new(Backend::Sqlite).await;
    let s = TestServer::start(&args(&db)).await;
    let engine = &s.state.engine;
    let space = engine.space("user:alice").await.unwrap();
    let mut a = space.live.subscribe();
    let mut b = space.live.subscribe();
    let who = Principal {
        user: "alice".into(),
        role: Role::User,
    };
    let op = Op::Put {
        collection: "settings".into(),
        id: "ui".into(),
        value: json!({"theme": "dark"}),
        if_version: None,
    };
    engine
        .mutate(
            &who,
            MutationInput {
                origin: None,
                space: "user:me".into(),
                ops: vec![op],
                trusted: false,
            },
        )
        .await
        .unwrap();
    let (Live::Batch(x), Live::Batch(y)) = (a.recv().await.unwrap(), b.recv().await.unwrap())
    else {
        panic!("expected event batches");
    };
    assert!(Arc::ptr_eq(&x[0], &y[0]), "one event record for all");
    assert_eq!(
        x[0].wire.as_ptr(),
        y[0].wire.as_ptr(),
        "one frame buffer for all"
    );
    let frame: serde_json::Value = serde_json::from_slice(&x[0].frame()).unwrap();
    assert_eq!(frame["type"], "event");
    assert_eq!(frame["value"], json!({"theme": "dark"}));
    // The ring holds the same record that was broadcast.
    let ring = space.read().ring.since(0).unwrap();
    assert!(Arc::ptr_eq(&ring[0], &x[0]));
}
