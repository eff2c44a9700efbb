//! Token hardening (issue 20, point 5): audience and issuer required when
//! configured; previous secrets accepted for rotation (signing with the
//! current one); `access_token` in the URL only on the streaming routes;
//! `/dev/token` mints user tokens unless told otherwise; a refresh to fewer
//! rights ends the subscriptions it no longer reaches; SSE streams end when
//! their token expires and share the per-identity cap.

#[macro_use]
mod common;

use common::ws::Ws;
use common::{Backend, SECRET, TestDb, TestServer, args};
use serde_json::{Value, json};
use tidemark::engine::Role;

fn sign(secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn exp() -> u64 {
    tidemark::http::auth::now_secs() + 3600
}

async fn status(s: &TestServer, token: &str) -> u16 {
    s.get(token, "/v1/spaces/user:me/version").await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audience_and_issuer_are_required_when_configured() {
    let (s, _db) = common::start_with(Backend::Sqlite, |a| {
        a.jwt_audience = Some("tidemark".into());
        a.jwt_issuer = Some("https://id.example".into());
    })
    .await;
    let good =
        json!({"sub": "alice", "exp": exp(), "aud": "tidemark", "iss": "https://id.example"});
    assert_eq!(status(&s, &sign(SECRET, good.clone())).await, 200);
    for (drop, why) in [("aud", "no audience"), ("iss", "no issuer")] {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove(drop);
        assert_eq!(status(&s, &sign(SECRET, c)).await, 401, "{why}");
    }
    for (key, bad) in [("aud", "other"), ("iss", "https://evil.example")] {
        let mut c = good.clone();
        c[key] = json!(bad);
        assert_eq!(status(&s, &sign(SECRET, c)).await, 401, "wrong {key}");
    }
    // What the server mints itself carries both.
    let minted = s.state.auth.mint("alice", Role::User, 60).unwrap().0;
    assert_eq!(status(&s, &minted).await, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previous_secrets_verify_and_the_current_one_signs() {
    const OLD: &str = "the-old-secret-0123456789";
    const NEW: &str = "the-new-secret-9876543210";
    let (s, _db) = common::start_with(Backend::Sqlite, |a| {
        a.jwt_secret = Some(NEW.into());
        a.jwt_previous_secrets = vec![OLD.into()];
    })
    .await;
    let claims = json!({"sub": "alice", "exp": exp()});
    assert_eq!(
        status(&s, &sign(OLD, claims.clone())).await,
        200,
        "old secret"
    );
    assert_eq!(
        status(&s, &sign(NEW, claims.clone())).await,
        200,
        "new secret"
    );
    assert_eq!(
        status(&s, &sign("some-other-secret-0000", claims)).await,
        401
    );
    let minted = s.state.auth.mint("alice", Role::User, 60).unwrap().0;
    let only_new = tidemark::http::auth::Auth::new(NEW.as_bytes(), None);
    assert!(
        only_new.verify(&minted).is_ok(),
        "signed with the current secret"
    );
    s.stop().await;

    let db = TestDb::new(Backend::Sqlite).await;
    let mut a = args(&db);
    a.jwt_previous_secrets = vec!["short".into()];
    let err = tidemark::server::build(&a).await.err().expect("refused");
    assert!(
        err.to_string().contains("TIDEMARK_JWT_PREVIOUS_SECRETS"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_tokens_only_open_streams() {
    let (s, _db) = common::start_with(Backend::Sqlite, |_| {}).await;
    let t = s.token("alice");
    let r = s
        .http
        .get(s.url(&format!("/v1/spaces/user:me/version?access_token={t}")))
        .send()
        .await
        .unwrap();
    let (st, body) = common::decode(r).await;
    assert_eq!(st, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Authorization"),
        "{body}"
    );
    assert!(!body.to_string().contains(&t), "the token is not echoed");
    // SSE and WebSocket take it.
    let r = s
        .http
        .get(s.url(&format!("/v1/events?space=user:me&access_token={t}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(r);
    let _ws = Ws::open(&s.base, &t).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_tokens_are_user_tokens_unless_allowed() {
    let mint = |s: &TestServer, role: &str| {
        s.http
            .post(s.url("/dev/token"))
            .json(&json!({"user": "ops", "role": role}))
            .send()
    };
    let (s, _db) = common::start_with(Backend::Sqlite, |a| a.dev = true).await;
    assert_eq!(mint(&s, "user").await.unwrap().status(), 200);
    for role in ["admin", "service"] {
        let (st, body) = common::decode(mint(&s, role).await.unwrap()).await;
        assert_eq!(st, 403, "{role}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("TIDEMARK_DEV_TOKEN_ROLES")
        );
    }
    s.stop().await;
    let (s, _db) = common::start_with(Backend::Sqlite, |a| {
        a.dev = true;
        a.dev_token_roles = vec!["user".into(), "admin".into()];
    })
    .await;
    assert_eq!(mint(&s, "admin").await.unwrap().status(), 200);
    assert_eq!(mint(&s, "service").await.unwrap().status(), 403);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrowing_refresh_ends_the_subscriptions_it_no_longer_reaches() {
    let (s, _db) = common::start_with(Backend::Sqlite, |_| {}).await;
    let svc = common::token("svc", Role::Service);
    let mut ws = Ws::open(&s.base, &svc).await;
    ws.hello("c1", json!({"user:bob": null, "user:svc": null}))
        .await;
    let mut answers = 0;
    while answers < 2 {
        let f = ws.recv().await;
        if f["type"] == "snapshot" || f["type"] == "up_to_date" {
            answers += 1;
        }
    }
    // The same identity, now as a user: it may no longer read user:bob.
    let user = common::token("svc", Role::User);
    ws.send(json!({"type": "auth", "token": user})).await;
    // The refresh is answered by an error naming the space it drops.
    loop {
        let f = ws.recv().await;
        if f["type"] == "error" {
            assert_eq!(
                (&f["code"], &f["space"]),
                (&json!("forbidden"), &json!("user:bob")),
                "{f}"
            );
            break;
        }
    }
    let bob = s.token("bob");
    s.put(&bob, "w1", 1, "user:bob", "notes", "n", json!({"x": 1}))
        .await;
    s.put(&user, "w2", 1, "user:svc", "notes", "n", json!({"y": 1}))
        .await;
    // user:svc keeps flowing; nothing of user:bob arrives before it.
    loop {
        let f = ws.recv().await;
        assert_ne!(
            f["space"], "user:bob",
            "no user:bob frame after the refresh: {f}"
        );
        if f["space"] == "user:svc" && f["type"] != "ack" {
            break;
        }
    }
    s.stop().await;
}
