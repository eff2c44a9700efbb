//! HTTP surface, auth and isolation, long-poll, limits and errors.

mod common;

use std::time::Duration;

use common::{Backend, TestDb, TestServer, args, token};
use serde_json::json;
use tidemark::engine::Role;

both_stores!(
    one_user_cannot_reach_another_users_space,
    catalog_is_read_by_all_and_written_by_admin,
    version_has_etag_and_answers_304,
    long_poll_returns_on_change,
    long_poll_times_out_without_change,
    bad_requests_get_documented_errors,
    limits_have_clear_errors,
    health_and_readiness,
);

async fn server(b: Backend) -> (TestDb, TestServer) {
    let db = TestDb::new(b).await;
    let mut a = args(&db);
    a.max_body_bytes = 64 * 1024;
    a.max_doc_bytes = 1024;
    a.max_ops_per_mutation = 5;
    a.max_docs_per_space = 3;
    a.long_poll_max_secs = 2;
    let s = TestServer::start(&a).await;
    (db, s)
}

async fn one_user_cannot_reach_another_users_space(b: Backend) {
    let (_db, s) = server(b).await;
    let alice = s.token("alice");
    let bob = s.token("bob");
    s.put(
        &bob,
        "b",
        1,
        "user:me",
        "settings",
        "ui",
        json!({"theme": "dark"}),
    )
    .await;
    for path in [
        "/v1/spaces/user:bob/state",
        "/v1/spaces/user:bob/version",
        "/v1/spaces/user:bob/docs/settings/ui",
        "/v1/spaces/user:nobody/docs/settings/ui",
    ] {
        let (st, v) = s.get(&alice, path).await;
        assert_eq!(st, 403, "{path}: {v}");
        assert_eq!(v["error"]["code"], "forbidden");
        // Nothing about the space leaks: the same message whether it exists or not.
        assert_eq!(
            v["error"]["message"],
            "this token may not access that space"
        );
    }
    let (st, _) = s
        .send(
            "PUT",
            &alice,
            "/v1/spaces/user:bob/docs/settings/ui",
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 403);
    let (st, _) = s
        .send(
            "POST",
            &alice,
            "/v1/sync",
            Some(json!({"client_id": "c", "cursors": {"user:bob": null}})),
        )
        .await;
    assert_eq!(st, 403);
    let r = s
        .put(&alice, "c", 1, "user:bob", "settings", "ui", json!({}))
        .await;
    assert_eq!(r["code"], "forbidden");
    let (_, doc) = s.get(&bob, "/v1/spaces/user:me/docs/settings/ui").await;
    assert_eq!(
        doc["value"],
        json!({"theme": "dark"}),
        "bob's data is untouched"
    );
}

async fn catalog_is_read_by_all_and_written_by_admin(b: Backend) {
    let (_db, s) = server(b).await;
    let user = s.token("alice");
    let admin = token("root", Role::Admin);
    // A valid provider document: catalog documents are checked.
    let doc =
        json!({"id": "openai", "display_name": "OpenAI", "status": "available", "enabled": true});
    let (st, v) = s
        .send(
            "PUT",
            &user,
            "/v1/spaces/catalog/docs/providers/openai",
            Some(doc.clone()),
        )
        .await;
    assert_eq!((st, v["error"]["code"].as_str()), (403, Some("forbidden")));
    let (st, _) = s
        .send(
            "PUT",
            &admin,
            "/v1/spaces/catalog/docs/providers/openai",
            Some(doc.clone()),
        )
        .await;
    assert_eq!(st, 200);
    let (st, v) = s
        .get(&user, "/v1/spaces/catalog/docs/providers/openai")
        .await;
    assert_eq!((st, v["value"].clone()), (200, doc));
    // Admin is no super-user of user spaces.
    let (st, _) = s.get(&admin, "/v1/spaces/user:alice/state").await;
    assert_eq!(st, 403);
}

async fn version_has_etag_and_answers_304(b: Backend) {
    let (_db, s) = server(b).await;
    let t = s.token("alice");
    let r = s
        .http
        .get(s.url("/v1/spaces/user:me/version"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(etag, format!("\"{}:0\"", body["epoch"].as_str().unwrap()));
    let r = s
        .http
        .get(s.url("/v1/spaces/user:me/version"))
        .bearer_auth(&t)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    s.put(&t, "c", 1, "user:me", "a", "1", json!(1)).await;
    let r = s
        .http
        .get(s.url("/v1/spaces/user:me/version"))
        .bearer_auth(&t)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn long_poll_returns_on_change(b: Backend) {
    let (_db, s) = server(b).await;
    let t = s.token("alice");
    s.get(&t, "/v1/spaces/user:me/version").await;
    let poll = {
        let http = s.http.clone();
        let url = s.url("/v1/spaces/user:me/version?since=0&wait=30");
        let t = t.clone();
        tokio::spawn(async move {
            http.get(url)
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!poll.is_finished(), "nothing changed yet: the poll waits");
    s.put(&t, "c", 1, "user:me", "a", "1", json!(1)).await;
    let v = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .expect("returns on change")
        .unwrap()
        .unwrap();
    assert_eq!(v["version"], 1);
}

async fn long_poll_times_out_without_change(b: Backend) {
    let (_db, s) = server(b).await;
    let t = s.token("alice");
    // wait=30 is clamped to the configured maximum (2 s).
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        s.get(&t, "/v1/spaces/user:me/version?since=0&wait=30"),
    )
    .await
    .expect("the wait is clamped");
    assert_eq!(r.0, 200);
    assert_eq!(r.1["version"], 0);
}

async fn bad_requests_get_documented_errors(b: Backend) {
    let (_db, s) = server(b).await;
    let t = s.token("alice");
    // 401: missing, garbage, wrong signature, expired.
    let (st, v) = common::decode(
        s.http
            .get(s.url("/v1/spaces/user:me/state"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (st, _) = s.get("garbage", "/v1/spaces/user:me/state").await;
    assert_eq!(st, 401);
    let other = tidemark::http::auth::Auth::new(b"another-secret-entirely", None)
        .mint("alice", Role::User, 60)
        .unwrap()
        .0;
    let (st, v) = s.get(&other, "/v1/spaces/user:me/state").await;
    assert_eq!(
        (st, v["error"]["message"].as_str()),
        (401, Some("token signature is invalid"))
    );
    let expired = expired_token("alice");
    let (st, v) = s.get(&expired, "/v1/spaces/user:me/state").await;
    assert_eq!(
        (st, v["error"]["message"].as_str()),
        (401, Some("token expired"))
    );
    assert!(
        !v.to_string().contains(&expired),
        "the token is never echoed"
    );
    // 400: not JSON.
    let r = s
        .http
        .post(s.url("/v1/sync"))
        .bearer_auth(&t)
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (st, v) = common::decode(r).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
    // 422: JSON of the wrong shape.
    let (st, v) = s
        .send("POST", &t, "/v1/sync", Some(json!({"cursors": {}})))
        .await;
    assert_eq!((st, v["error"]["code"].as_str()), (422, Some("invalid")));
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("client_id"),
        "{v}"
    );
    let (st, _) = s
        .send(
            "PUT",
            &t,
            "/v1/spaces/user:me/docs/Bad%20Coll/x",
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 422);
    // 404: unknown space, unknown route.
    let (st, v) = s.get(&t, "/v1/spaces/nonsense/state").await;
    assert_eq!((st, v["error"]["code"].as_str()), (404, Some("not_found")));
    let (st, _) = s.get(&t, "/v1/nothing-here").await;
    assert_eq!(st, 404);
    // 413: a body over the limit.
    let big = "x".repeat(100 * 1024);
    let r = s
        .http
        .post(s.url("/v1/sync"))
        .bearer_auth(&t)
        .body(format!("\"{big}\""))
        .send()
        .await
        .unwrap();
    let (st, v) = common::decode(r).await;
    assert_eq!((st, v["error"]["code"].as_str()), (413, Some("too_large")));
    // 400: a bad If-Match.
    let r = s
        .http
        .put(s.url("/v1/spaces/user:me/docs/a/b"))
        .bearer_auth(&t)
        .header("if-match", "banana")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

async fn limits_have_clear_errors(b: Backend) {
    let (_db, s) = server(b).await;
    let t = s.token("alice");
    let (st, v) = s
        .send(
            "PUT",
            &t,
            "/v1/spaces/user:me/docs/a/big",
            Some(json!({"s": "y".repeat(2000)})),
        )
        .await;
    assert_eq!((st, v["error"]["code"].as_str()), (413, Some("too_large")));
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit is 1024"),
        "{v}"
    );
    let ops: Vec<_> = (0..6)
        .map(|i| json!({"op": "put", "collection": "a", "id": i.to_string(), "value": i}))
        .collect();
    let r = s
        .sync(&t, json!({"client_id": "c", "mutations": [{"mutation_id": 1, "space": "user:me", "ops": ops}]}))
        .await;
    assert_eq!(r["results"][0]["code"], "too_large");
    for i in 0..3 {
        let (st, _) = s
            .send(
                "PUT",
                &t,
                &format!("/v1/spaces/user:me/docs/a/{i}"),
                Some(json!(i)),
            )
            .await;
        assert_eq!(st, 200);
    }
    let (st, v) = s
        .send("PUT", &t, "/v1/spaces/user:me/docs/a/4", Some(json!(4)))
        .await;
    assert_eq!(st, 413, "documents per space: {v}");
    // Replacing an existing document is still fine at the limit.
    let (st, _) = s
        .send("PUT", &t, "/v1/spaces/user:me/docs/a/0", Some(json!(10)))
        .await;
    assert_eq!(st, 200);
}

async fn health_and_readiness(b: Backend) {
    let (_db, s) = server(b).await;
    let r = s.http.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (st, v) = common::decode(s.http.get(s.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(st, 200);
    assert_eq!(
        v["store"],
        if b == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
}

fn expired_token(user: &str) -> String {
    use jsonwebtoken::{EncodingKey, Header, encode};
    let now = tidemark::http::auth::now_secs();
    let claims = json!({"sub": user, "role": "user", "exp": now - 120});
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(common::SECRET.as_bytes()),
    )
    .unwrap()
}
