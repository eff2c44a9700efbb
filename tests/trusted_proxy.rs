//! Behind a proxy (issue 22, point 3): `X-Forwarded-For` is believed only
//! from the proxies in `TIDEMARK_TRUSTED_PROXIES`. Their connections count
//! in the total, not under their own address; each WebSocket or SSE stream
//! they forward counts under the address of the client it is for. From
//! anyone else the header changes nothing.

#[macro_use]
mod common;

use common::ws::Ws;
use common::{Backend, TestServer};
use futures::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

both_stores!(streams_through_a_trusted_proxy_count_per_client);

/// A WebSocket as a proxy opens it for `client` (the header a proxy
/// appends to whatever the client sent).
async fn ws_for(s: &TestServer, forwarded: &str) -> Result<Ws, u16> {
    let t = s.token("alice");
    let host = s.base.trim_start_matches("http://");
    let mut req = format!("ws://{host}/v1/ws?access_token={t}")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("x-forwarded-for", forwarded.parse().unwrap());
    req.headers_mut()
        .insert("sec-websocket-protocol", "tidemark.v1".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => {
            let mut w = Ws {
                ws,
                presence: false,
            };
            assert_eq!(w.recv().await["type"], "welcome");
            Ok(w)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

async fn sse_for(s: &TestServer, forwarded: &str) -> (u16, Option<Value>) {
    let r = s
        .http
        .get(s.url("/v1/events?space=user:me"))
        .bearer_auth(s.token("alice"))
        .header("x-forwarded-for", forwarded)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    if status == 200 {
        // Keep the stream open by leaking it into a task for the test's life.
        let mut body = r.bytes_stream();
        tokio::spawn(async move { while body.next().await.is_some() {} });
        return (status, None);
    }
    (status, r.json().await.ok())
}

async fn streams_through_a_trusted_proxy_count_per_client(b: Backend) {
    let (s, _db) = common::start_with(b, |a| {
        a.net.max_connections_per_ip = 2;
        a.net.trusted_proxies = Some("10.0.0.0/8, 127.0.0.1".into());
    })
    .await;
    // Client .7 gets two streams (a WebSocket and an SSE), not a third.
    let _w1 = ws_for(&s, "203.0.113.7").await.expect("first stream of .7");
    assert_eq!(sse_for(&s, "203.0.113.7").await.0, 200);
    assert_eq!(ws_for(&s, "203.0.113.7").await.err(), Some(503));
    let (status, body) = sse_for(&s, "203.0.113.7").await;
    assert_eq!(status, 503);
    assert_eq!(body.unwrap()["error"]["code"], "too_many_connections");
    // A client that forges the left of the header is still itself (.8).
    let _w2 = ws_for(&s, "203.0.113.7, 203.0.113.8")
        .await
        .expect(".8 has its own places");
    let _w3 = ws_for(&s, "203.0.113.8, 10.1.2.3")
        .await
        .expect("a second proxy hop is skipped: .8's second place");
    assert_eq!(ws_for(&s, "203.0.113.8").await.err(), Some(503));
    // The proxy's own connections (all from 127.0.0.1, five open now) are
    // not held to the per-address cap of 2: plain requests keep working.
    for _ in 0..5 {
        let r = reqwest::Client::new()
            .get(s.url("/readyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    s.stop().await;
}

/// Without the setting the header is nobody's word: the per-address cap
/// counts the TCP peer, whatever the header claims.
#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_changes_nothing() {
    let (s, _db) = common::start_with(Backend::Sqlite, |a| a.net.max_connections_per_ip = 2).await;
    let _a = ws_for(&s, "203.0.113.1").await.unwrap();
    let _b = ws_for(&s, "203.0.113.2").await.unwrap();
    assert_eq!(
        ws_for(&s, "203.0.113.3").await.err(),
        Some(503),
        "a third connection from 127.0.0.1 is refused whatever it claims"
    );
    s.stop().await;
}

#[tokio::test]
async fn an_unparseable_proxy_list_stops_the_server() {
    let db = common::TestDb::new(Backend::Sqlite).await;
    let mut a = common::args(&db);
    a.net.trusted_proxies = Some("10.0.0.0/8, proxy.internal".into());
    let e = tidemark::server::build(&a).await.err().expect("refused");
    assert!(e.to_string().contains("proxy.internal"), "{e}");
}
