//! WebSocket upgrades and SSE streams check `Origin` (issue 20, point 4): a
//! browser page on a foreign site gets 403 before the upgrade or the
//! stream; no `Origin` (a non-browser client), the server's own origin and
//! the allowed origins pass. Every streaming route: `/v1/ws`, `/v1/events`,
//! `/provider-sync/ws`.

#[macro_use]
mod common;

use common::{Backend, TestDb, TestServer, args};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const ALLOWED: &str = "https://app.example.com";
const FOREIGN: &str = "https://evil.example";

async fn server() -> (TestServer, TestDb) {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut a = args(&db);
    a.allowed_origins = vec![ALLOWED.to_string()];
    (TestServer::start(&a).await, db)
}

/// The status of a WebSocket handshake on `path` with `origin`: 101 when it
/// upgraded, else the refusal's status (and its error code).
async fn ws_status(s: &TestServer, path: &str, origin: Option<&str>) -> (u16, String) {
    let host = s.base.trim_start_matches("http://");
    let mut req = format!("ws://{host}{path}").into_client_request().unwrap();
    if path.starts_with("/v1/") {
        req.headers_mut()
            .insert("sec-websocket-protocol", "tidemark.v1".parse().unwrap());
    }
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((_, resp)) => (resp.status().as_u16(), String::new()),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp.body().clone().unwrap_or_default();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            (
                resp.status().as_u16(),
                v["error"]["code"].as_str().unwrap_or("").to_string(),
            )
        }
        Err(e) => panic!("handshake failed: {e}"),
    }
}

async fn sse_status(s: &TestServer, token: &str, origin: Option<&str>) -> u16 {
    let mut req = s
        .http
        .get(s.url("/v1/events?space=user:alice"))
        .bearer_auth(token);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_refuse_a_foreign_origin_and_admit_the_rest() {
    let (s, _db) = server().await;
    let token = s.token("alice");
    let own = s.base.clone();
    for path in [
        format!("/v1/ws?access_token={token}"),
        format!("/provider-sync/ws?access_token={token}"),
    ] {
        assert_eq!(
            ws_status(&s, &path, Some(FOREIGN)).await,
            (403, "forbidden".to_string()),
            "{path}: a foreign origin is refused before the upgrade"
        );
        assert_eq!(ws_status(&s, &path, Some("null")).await.0, 403, "{path}");
        for ok in [None, Some(ALLOWED), Some(own.as_str())] {
            assert_eq!(ws_status(&s, &path, ok).await.0, 101, "{path} from {ok:?}");
        }
    }
    assert_eq!(sse_status(&s, &token, Some(FOREIGN)).await, 403);
    for ok in [None, Some(ALLOWED), Some(own.as_str())] {
        assert_eq!(sse_status(&s, &token, ok).await, 200, "SSE from {ok:?}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_allowed_origins_only_the_own_origin_passes() {
    let db = TestDb::new(Backend::Sqlite).await;
    let s = TestServer::start(&args(&db)).await;
    let token = s.token("alice");
    let path = format!("/v1/ws?access_token={token}");
    assert_eq!(ws_status(&s, &path, Some(ALLOWED)).await.0, 403);
    assert_eq!(ws_status(&s, &path, Some(&s.base.clone())).await.0, 101);
    assert_eq!(ws_status(&s, &path, None).await.0, 101);
    s.stop().await;
}
