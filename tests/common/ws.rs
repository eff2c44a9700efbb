//! A WebSocket test client over a real socket (tokio-tungstenite).
#![allow(dead_code)]

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async, connect_async_tls_with_config,
};

pub struct Ws {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Return `presence_state` / `presence_diff` frames (skipped by
    /// default: every subscription gets one, and most tests are about data).
    pub presence: bool,
}

pub async fn connect(
    base: &str,
    token: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    connect_via(base, token, None).await
}

/// [`connect`] to an `http://` or `https://` base (`ws://` / `wss://`),
/// with TLS settings for the latter (a test's own certificate authority).
pub async fn connect_via(
    base: &str,
    token: Option<&str>,
    tls: Option<tokio_tungstenite::Connector>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let (scheme, host) = match base.strip_prefix("https://") {
        Some(h) => ("wss", h),
        None => ("ws", base.trim_start_matches("http://")),
    };
    let url = match token {
        Some(t) => format!("{scheme}://{host}/v1/ws?access_token={t}"),
        None => format!("{scheme}://{host}/v1/ws"),
    };
    let mut req = url.into_client_request()?;
    req.headers_mut()
        .insert("sec-websocket-protocol", "tidemark.v1".parse().unwrap());
    let (ws, resp) = match tls {
        None => connect_async(req).await?,
        Some(c) => connect_async_tls_with_config(req, None, false, Some(c)).await?,
    };
    assert_eq!(
        resp.headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap()),
        Some("tidemark.v1")
    );
    Ok(Ws {
        ws,
        presence: false,
    })
}

impl Ws {
    /// Connects with a token and reads the welcome.
    pub async fn open(base: &str, token: &str) -> Ws {
        let mut w = connect(base, Some(token)).await.expect("connect");
        let welcome = w.recv().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        w
    }

    /// [`Ws::open`] over `wss://` (an `https://` base) with these TLS settings.
    pub async fn open_via(base: &str, token: &str, tls: tokio_tungstenite::Connector) -> Ws {
        let mut w = connect_via(base, Some(token), Some(tls))
            .await
            .expect("connect");
        let welcome = w.recv().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        w
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("send");
    }

    pub async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.expect("send");
    }

    pub async fn hello(&mut self, client_id: &str, subscribe: Value) {
        self.send(
            json!({"type": "hello", "protocol": 1, "client_id": client_id, "subscribe": subscribe}),
        )
        .await;
    }

    /// The next JSON frame (protocol pings are skipped), within 10 s.
    pub async fn recv(&mut self) -> Value {
        self.try_recv(Duration::from_secs(10))
            .await
            .expect("a frame within 10 s")
    }

    pub async fn try_recv(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let m = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match m {
                Ok(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(&t).expect("server frames are JSON");
                    let kind = v["type"].as_str().unwrap_or("");
                    if !self.presence && kind.starts_with("presence_") {
                        continue;
                    }
                    return Some(v);
                }
                Ok(Message::Close(f)) => panic!("closed unexpectedly: {f:?}"),
                Ok(_) => continue,
                Err(e) => panic!("socket error: {e}"),
            }
        }
    }

    /// Reads until the server closes; returns the close code and reason.
    pub async fn closed(&mut self, wait: Duration) -> Option<(u16, String)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => panic!("not closed within {wait:?}"),
                Ok(None) | Ok(Some(Err(_))) => return None,
                Ok(Some(Ok(Message::Close(f)))) => {
                    return f.map(|f| (u16::from(f.code), f.reason.to_string()));
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// `ping` / `pong` round trip: the connection is alive and in order.
    pub async fn roundtrip(&mut self, nonce: u64) {
        self.send(json!({"type": "ping", "nonce": nonce})).await;
        loop {
            let v = self.recv().await;
            if v["type"] == "pong" {
                assert_eq!(v["nonce"], nonce);
                return;
            }
        }
    }
}

/// What a subscriber holds of one space, applying frames as a client would,
/// and checking every version arrives exactly once and in order.
#[derive(Default, Debug, Clone)]
pub struct Replica {
    pub epoch: String,
    pub version: u64,
    pub docs: std::collections::BTreeMap<(String, String), Value>,
    /// Every version seen through `events`/`event` (snapshots reset nothing here).
    pub seen: Vec<u64>,
    pub snapshots: usize,
}

impl Replica {
    /// Applies a frame for this replica's space; panics on a gap or duplicate.
    pub fn apply(&mut self, f: &Value) {
        match f["type"].as_str().unwrap_or_default() {
            "snapshot" => {
                self.snapshots += 1;
                self.epoch = f["epoch"].as_str().unwrap().to_string();
                self.version = f["version"].as_u64().unwrap();
                self.docs.clear();
                for d in f["docs"].as_array().unwrap() {
                    self.docs.insert(key(d), d["value"].clone());
                }
            }
            "up_to_date" => {
                assert_eq!(
                    f["version"].as_u64().unwrap(),
                    self.version,
                    "up_to_date matches what we hold"
                );
            }
            "events" => {
                assert_eq!(
                    f["from"].as_u64().unwrap(),
                    self.version,
                    "events continue from our version: {f}"
                );
                for e in f["events"].as_array().unwrap() {
                    self.event(e);
                }
                assert_eq!(self.version, f["to"].as_u64().unwrap());
            }
            "event" => self.event(f),
            _ => {}
        }
    }

    fn event(&mut self, e: &Value) {
        let v = e["version"].as_u64().unwrap();
        assert_eq!(
            v,
            self.version + 1,
            "gap or duplicate: got {v} after {}",
            self.version
        );
        self.version = v;
        self.seen.push(v);
        if e["op"] == "delete" {
            self.docs.remove(&key(e));
        } else {
            self.docs.insert(key(e), e["value"].clone());
        }
    }
}

fn key(d: &Value) -> (String, String) {
    (
        d["collection"].as_str().unwrap().to_string(),
        d["id"].as_str().unwrap().to_string(),
    )
}

/// A raw WebSocket (no welcome read) over a socket whose receive buffer is
/// small, so the kernel absorbs little of what the server sends: the
/// client of the tests about what a server holds for a peer that does not
/// read.
pub async fn small_rcvbuf(addr: std::net::SocketAddr, token: &str) -> WebSocketStream<TcpStream> {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let tcp = sock.connect(addr).await.unwrap();
    let mut req = format!("ws://{addr}/v1/ws?access_token={token}")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "tidemark.v1".parse().unwrap());
    tokio_tungstenite::client_async(req, tcp).await.unwrap().0
}
