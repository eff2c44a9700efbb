//! Slow and idle clients, and clients that open connections until refused
//! (issue 20, point 1): header-read and body timeouts close a slow-loris
//! connection; past the global or per-address cap a new connection gets 503
//! `too_many_connections` at once while the open ones keep working, and a
//! closed one frees its place. WebSockets count too.
//!
//! Timeouts here are set short; the waits below only guard against a hang.

#[macro_use]
mod common;

use std::time::Duration;

use common::{Backend, TestDb, args};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const GUARD: Duration = Duration::from_secs(20);

/// Reads one HTTP/1.1 response with a Content-Length body; None on EOF.
async fn response(tcp: &mut TcpStream) -> Option<(u16, String)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(GUARD, tcp.read(&mut byte))
            .await
            .expect("no hang")
        {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8(buf).unwrap();
    let status: u16 = head[9..12].parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let l = l.to_ascii_lowercase();
            l.strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    tcp.read_exact(&mut body).await.ok()?;
    Some((status, String::from_utf8(body).unwrap()))
}

async fn healthz(tcp: &mut TcpStream) -> Option<(u16, String)> {
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .ok()?;
    response(tcp).await
}

/// True once the server closes the connection (EOF or reset).
async fn closed_by_server(tcp: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(GUARD, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_request_head_is_cut_off() {
    let (s, _db) =
        common::start_with(Backend::Sqlite, |a| a.net.http_header_timeout_ms = 300).await;
    let mut loris = TcpStream::connect(s.addr).await.unwrap();
    loris
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\nx-slow: ")
        .await
        .unwrap();
    let mut other = TcpStream::connect(s.addr).await.unwrap();
    assert_eq!(healthz(&mut other).await.unwrap().0, 200);
    assert!(closed_by_server(&mut loris).await, "slow head closed");
    // A connection that never sends a byte is cut by the same timeout.
    let mut silent = TcpStream::connect(s.addr).await.unwrap();
    assert!(
        closed_by_server(&mut silent).await,
        "silent connection closed"
    );
    // An idle keep-alive connection is closed by the same timer.
    assert!(closed_by_server(&mut other).await, "idle keep-alive closed");
    s.stop().await;
}

/// A body declared larger than the limit is refused before it is sent: the
/// server holds none of it (and does not wait for it: the body timeout is
/// long here, so only the early refusal can answer in time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_declared_too_large_is_refused_before_it_is_read() {
    let (s, _db) =
        common::start_with(Backend::Sqlite, |a| a.net.http_body_timeout_ms = 600_000).await;
    let token = s.token("alice");
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "PUT /v1/spaces/user:alice/docs/settings/main HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        4 << 20
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), response(&mut tcp))
        .await
        .expect("answered without the body")
        .expect("a response");
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("too_large"), "{body}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_off() {
    let (s, _db) = common::start_with(Backend::Sqlite, |a| a.net.http_body_timeout_ms = 300).await;
    let token = s.token("alice");
    let mut slow = TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "PUT /v1/spaces/user:alice/docs/settings/main HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"a\":"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    // Whatever answer comes first (an error status), the connection ends and
    // nothing was written.
    let answer = response(&mut slow).await;
    if let Some((status, _)) = &answer {
        assert!(*status >= 400, "a cut-off body is an error, got {status}");
    }
    assert!(closed_by_server(&mut slow).await, "slow body closed");
    let (status, _) = s
        .get(&token, "/v1/spaces/user:alice/docs/settings/main")
        .await;
    assert_eq!(status, 404, "nothing was written");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_per_address_cap_are_refused_at_once() {
    let (s, _db) = common::start_with(Backend::Sqlite, |a| a.net.max_connections_per_ip = 5).await;
    let mut open = Vec::new();
    for _ in 0..4 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        assert_eq!(healthz(&mut c).await.unwrap().0, 200);
        open.push(c);
    }
    // A WebSocket holds its place too.
    let ws = common::ws::Ws::open(&s.base, &s.token("alice")).await;
    let mut refused = TcpStream::connect(s.addr).await.unwrap();
    let (status, body) = response(&mut refused)
        .await
        .expect("a 503 before the close");
    assert_eq!(status, 503);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "too_many_connections");
    assert!(closed_by_server(&mut refused).await);
    // The open ones keep working.
    for c in &mut open {
        assert_eq!(healthz(c).await.unwrap().0, 200);
    }
    // Closing the WebSocket frees its place.
    drop(ws);
    let mut again = None;
    for _ in 0..100 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        if let Some((200, _)) = healthz(&mut c).await {
            again = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "a closed connection frees its place");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_server_cap_are_refused_until_one_closes() {
    let (s, _db) = common::start_with(Backend::Sqlite, |a| {
        a.net.max_connections = 3;
        a.net.max_connections_per_ip = 0;
    })
    .await;
    let mut open = Vec::new();
    let mut refusals = 0;
    // Open until refused, as a flood would.
    for _ in 0..10 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        match healthz(&mut c).await {
            Some((200, _)) => open.push(c),
            Some((503, _)) | None => refusals += 1,
            Some((other, _)) => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(open.len(), 3, "exactly the cap is admitted");
    assert_eq!(refusals, 7);
    for c in &mut open {
        assert_eq!(
            healthz(c).await.unwrap().0,
            200,
            "admitted ones keep working"
        );
    }
    drop(open.pop());
    let mut admitted = false;
    for _ in 0..100 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        if let Some((200, _)) = healthz(&mut c).await {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(admitted, "a closed connection frees its place");
    s.stop().await;
}

#[tokio::test]
async fn an_idle_timeout_shorter_than_a_long_poll_is_refused_at_start() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut a = args(&db);
    a.net.http_idle_timeout_ms = 10_000;
    let err = tidemark::server::build(&a).await.err().expect("refused");
    assert!(
        err.to_string().contains("TIDEMARK_HTTP_IDLE_TIMEOUT_MS"),
        "{err}"
    );
}
