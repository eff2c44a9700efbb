//! Every HTTP error body has the shape `proto-schema/http-error.json`
//! publishes: keys outside the schema's properties fail this test, so a
//! handler that builds its own body (with keys the schema lacks) shows here.

mod common;

use common::{Backend, TestDb, TestServer};
use serde_json::{Value, json};

fn schema() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/proto-schema/http-error.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The body's keys, at the top and inside `error`, are the schema's.
fn conforms(body: &Value) {
    let schema = schema();
    let top = schema["properties"].as_object().unwrap();
    let detail = schema["$defs"]["ErrorDetail"]["properties"]
        .as_object()
        .unwrap();
    for k in body.as_object().expect("an object").keys() {
        assert!(
            top.contains_key(k),
            "`{k}` is not in http-error.json: {body}"
        );
    }
    for k in body["error"].as_object().expect("an `error`").keys() {
        assert!(
            detail.contains_key(k),
            "error.`{k}` is not in http-error.json: {body}"
        );
    }
    assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string());
}

#[tokio::test]
async fn error_bodies_have_the_published_shape() {
    let db = TestDb::new(Backend::Sqlite).await;
    let s = TestServer::start(&common::args(&db)).await;
    let t = s.token("alice");

    // A façade's field error: `invalid` naming the field.
    let (st, v) = s.get(&t, "/api/chat/sync?since=yesterday").await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (422, Some("since")),
        "{v}"
    );
    conforms(&v);

    // A conflict carrying the current document.
    s.put(
        &t,
        "c",
        1,
        "user:alice",
        "settings",
        "ui",
        json!({"theme": "light"}),
    )
    .await;
    s.put(
        &t,
        "c",
        2,
        "user:alice",
        "settings",
        "ui",
        json!({"theme": "dark"}),
    )
    .await;
    let resp = s
        .http
        .put(s.url("/v1/spaces/user:alice/docs/settings/ui"))
        .bearer_auth(&t)
        .header("if-match", "\"1\"")
        .json(&json!({"theme": "system"}))
        .send()
        .await
        .unwrap();
    let (st, v) = common::decode(resp).await;
    assert_eq!(
        (st, v["current"]["value"].clone()),
        (412, json!({"theme": "dark"}))
    );
    conforms(&v);

    // Unauthenticated, forbidden, not found, bad request.
    let (st, v) = s.get("not-a-token", "/v1/spaces/user:alice/version").await;
    assert_eq!(st, 401);
    conforms(&v);
    let (st, v) = s.get(&t, "/v1/spaces/user:bob/version").await;
    assert_eq!(st, 403);
    conforms(&v);
    let (st, v) = s
        .get(&t, "/v1/spaces/user:alice/docs/settings/nothing")
        .await;
    assert_eq!(st, 404);
    conforms(&v);
    let (st, v) = s
        .send("POST", &t, "/v1/sync", Some(json!({"nope": 1})))
        .await;
    assert!((400..500).contains(&st), "{st} {v}");
    conforms(&v);
    s.stop().await;
}
