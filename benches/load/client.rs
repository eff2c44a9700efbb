//! Protocol client: sockets bound to several loopback source addresses,
//! WebSocket connect with small buffers, a borrowed frame parser, and the
//! per-space version tracker that counts gaps and duplicates.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

pub type Ws = WebSocketStream<TcpStream>;

/// The server: `http://host:port`.
pub struct Target {
    pub base: String,
    pub hostport: String,
    pub addr: SocketAddr,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, String> {
        let hostport = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("--url must be http://HOST:PORT, not {url}"))?
            .trim_end_matches('/')
            .to_string();
        let addr = hostport
            .to_socket_addrs()
            .map_err(|e| format!("{hostport}: {e}"))?
            .next()
            .ok_or_else(|| format!("{hostport}: no address"))?;
        Ok(Target {
            base: format!("http://{hostport}"),
            hostport,
            addr,
        })
    }
}

/// Source addresses, used in turn; empty when the server is not on IPv4 loopback.
pub struct Sources {
    ips: Vec<IpAddr>,
    next: AtomicUsize,
}

impl Sources {
    pub fn new(target: &Target, count: usize) -> Sources {
        let ips = match target.addr.ip() {
            IpAddr::V4(v4) if v4.is_loopback() => (0..count.min(250))
                .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i as u8)))
                .collect(),
            _ => Vec::new(),
        };
        Sources {
            ips,
            next: AtomicUsize::new(0),
        }
    }
    pub fn pick(&self) -> Option<IpAddr> {
        if self.ips.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        Some(self.ips[i % self.ips.len()])
    }
    pub fn all(&self) -> &[IpAddr] {
        &self.ips
    }
}

/// Set from `--client-nagle`: client sockets keep Nagle's algorithm.
pub static CLIENT_NAGLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A TCP connection from the next source address, without Nagle (unless
/// `--client-nagle`).
pub async fn tcp(target: &Target, sources: &Sources) -> std::io::Result<TcpStream> {
    tcp_from(target, sources.pick(), None).await
}

/// A TCP connection from `source` (any address when None), with a receive
/// buffer of `recv_buffer` bytes when given (a client that reads little:
/// the kernel absorbs little on its behalf).
pub async fn tcp_from(
    target: &Target,
    source: Option<IpAddr>,
    recv_buffer: Option<u32>,
) -> std::io::Result<TcpStream> {
    let sock = if target.addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(n) = recv_buffer {
        sock.set_recv_buffer_size(n)?;
    }
    if let Some(ip) = source {
        sock.bind(SocketAddr::new(ip, 0))?;
    }
    let s = sock.connect(target.addr).await?;
    s.set_nodelay(!CLIENT_NAGLE.load(std::sync::atomic::Ordering::Relaxed))?;
    Ok(s)
}

/// Opens `/v1/ws` with the token in the query string (no frame read yet).
pub async fn connect(target: &Target, sources: &Sources, token: &str) -> Result<Ws, String> {
    let fut = async {
        let stream = tcp(target, sources)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        upgrade(target, stream, token).await
    };
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .map_err(|_| "connect: timed out after 30 s".to_string())?
}

/// The WebSocket handshake on an open socket, the token in the query string.
pub async fn upgrade(target: &Target, stream: TcpStream, token: &str) -> Result<Ws, String> {
    let mut req = format!("ws://{}/v1/ws?access_token={token}", target.hostport)
        .into_client_request()
        .map_err(|e| format!("request: {e}"))?;
    req.headers_mut().insert(
        "sec-websocket-protocol",
        tokio_tungstenite::tungstenite::http::HeaderValue::from_static("tidemark.v1"),
    );
    let cfg = WebSocketConfig::default()
        .read_buffer_size(2 * 1024)
        .write_buffer_size(0);
    let (ws, _) = client_async_with_config(req, stream, Some(cfg))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(ws)
}

/// What came in.
pub enum In {
    Text(tokio_tungstenite::tungstenite::Utf8Bytes),
    /// Closed by the server (code, reason) or the socket ended.
    Closed(String),
}

/// The next text frame; protocol pings are answered by the library.
pub async fn next_text(ws: &mut Ws) -> In {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return In::Text(t),
            Some(Ok(Message::Close(f))) => {
                return In::Closed(match f {
                    Some(f) => format!("closed by the server: {} {}", u16::from(f.code), f.reason),
                    None => "closed by the server".into(),
                });
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return In::Closed(format!("socket error: {e}")),
            None => return In::Closed("socket ended".into()),
        }
    }
}

/// The next text frame before `until`.
pub async fn next_text_until(ws: &mut Ws, until: Instant) -> Result<In, String> {
    tokio::time::timeout_at(until, next_text(ws))
        .await
        .map_err(|_| "timed out waiting for a frame".to_string())
}

pub async fn send(ws: &mut Ws, text: String) -> Result<(), String> {
    ws.send(Message::Text(text.into()))
        .await
        .map_err(|e| format!("send: {e}"))
}

/// Any server frame, parsed without copying what it does not need.
#[derive(Deserialize)]
pub struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub space: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub epoch: Option<Cow<'a, str>>,
    #[serde(default)]
    pub version: Option<u64>,
    #[serde(default)]
    pub from: Option<u64>,
    #[serde(default)]
    pub to: Option<u64>,
    #[serde(default, borrow)]
    pub events: Vec<Ev<'a>>,
    #[serde(default, borrow)]
    pub value: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub origin: Option<OriginRef<'a>>,
    #[serde(default)]
    pub mutation_id: Option<u64>,
    #[serde(default, borrow)]
    pub code: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub message: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub struct Ev<'a> {
    pub version: u64,
    #[serde(default, borrow)]
    pub value: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub origin: Option<OriginRef<'a>>,
}

#[derive(Deserialize)]
pub struct OriginRef<'a> {
    #[serde(borrow)]
    pub client_id: Cow<'a, str>,
}

pub fn parse(text: &str) -> Result<Frame<'_>, String> {
    serde_json::from_str(text).map_err(|e| format!("unparsable frame: {e}"))
}

impl Frame<'_> {
    /// `code: message` of an error or reject frame.
    pub fn describe(&self) -> String {
        format!(
            "{} {}: {}",
            self.kind,
            self.code.as_deref().unwrap_or("?"),
            self.message.as_deref().unwrap_or("")
        )
    }
}

/// Microseconds since the Unix epoch (shared by every process on the machine).
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The send time the generator embeds in values as `"t"`.
pub fn stamp(value: Option<&RawValue>) -> Option<u64> {
    #[derive(Deserialize)]
    struct S {
        t: u64,
    }
    serde_json::from_str::<S>(value?.get()).ok().map(|s| s.t)
}

/// A newly applied event: version, value, origin client.
pub struct Applied<'f, 'a> {
    pub version: u64,
    pub value: Option<&'a RawValue>,
    pub origin: Option<&'f OriginRef<'a>>,
}

/// What a client holds of one space; counts every version that arrives twice
/// or not at all (snapshots supersede, they are not gaps).
#[derive(Default, Debug, Clone)]
pub struct Track {
    pub epoch: String,
    pub version: u64,
    /// Holds a first answer.
    pub started: bool,
    pub gaps: u64,
    pub dups: u64,
    pub snapshots: u64,
    pub events: u64,
}

impl Track {
    /// Applies a frame about this space; `on_event` sees each new event.
    pub fn apply<'a>(&mut self, f: &Frame<'a>, mut on_event: impl FnMut(Applied<'_, 'a>)) {
        match &*f.kind {
            "snapshot" => {
                self.snapshots += 1;
                self.set_epoch(f);
                self.version = f.version.unwrap_or(0);
                self.started = true;
            }
            "up_to_date" => {
                let v = f.version.unwrap_or(0);
                if self.started && v != self.version {
                    if v > self.version {
                        self.gaps += v - self.version;
                    } else {
                        self.dups += self.version - v;
                    }
                }
                self.set_epoch(f);
                self.version = v;
                self.started = true;
            }
            "events" => {
                let from = f.from.unwrap_or(0);
                if !self.started {
                    self.version = from;
                    self.started = true;
                } else if from > self.version {
                    self.gaps += from - self.version;
                    self.version = from;
                }
                self.set_epoch(f);
                for e in &f.events {
                    self.event(e.version, e.value, e.origin.as_ref(), &mut on_event);
                }
                if let Some(to) = f.to
                    && to > self.version
                {
                    self.gaps += to - self.version;
                    self.version = to;
                }
            }
            "event" => {
                if let Some(v) = f.version {
                    self.event(v, f.value, f.origin.as_ref(), &mut on_event);
                }
            }
            _ => {}
        }
    }

    fn set_epoch(&mut self, f: &Frame) {
        if let Some(e) = &f.epoch
            && **e != *self.epoch
        {
            self.epoch = e.to_string();
        }
    }

    fn event<'f, 'a>(
        &mut self,
        v: u64,
        value: Option<&'a RawValue>,
        origin: Option<&'f OriginRef<'a>>,
        on_event: &mut impl FnMut(Applied<'f, 'a>),
    ) {
        if v <= self.version {
            self.dups += 1;
            return;
        }
        if v > self.version + 1 {
            self.gaps += v - self.version - 1;
        }
        self.version = v;
        self.events += 1;
        on_event(Applied {
            version: v,
            value,
            origin,
        });
    }

    /// The cursor to resume with.
    pub fn cursor(&self) -> serde_json::Value {
        if self.started {
            serde_json::json!({"epoch": self.epoch, "version": self.version})
        } else {
            serde_json::Value::Null
        }
    }
}

/// Keeps one connection under a message rate (the server's token bucket).
pub struct Pace {
    gap: Option<Duration>,
    next: Instant,
}

impl Pace {
    pub fn new(per_sec: f64) -> Pace {
        Pace {
            gap: (per_sec > 0.0).then(|| Duration::from_secs_f64(1.0 / per_sec)),
            next: Instant::now(),
        }
    }
    pub async fn wait(&mut self) {
        let Some(gap) = self.gap else { return };
        let now = Instant::now();
        if self.next > now {
            tokio::time::sleep_until(self.next).await;
        }
        self.next = self.next.max(now) + gap;
    }
}

/// Reads frames until `welcome`.
pub async fn welcome(ws: &mut Ws, until: Instant) -> Result<(), String> {
    loop {
        match next_text_until(ws, until).await? {
            In::Text(t) => {
                let f = parse(&t)?;
                match &*f.kind {
                    "welcome" => return Ok(()),
                    "error" => return Err(f.describe()),
                    _ => {}
                }
            }
            In::Closed(why) => return Err(why),
        }
    }
}

/// Connects, says `hello` subscribing `spaces` (each from scratch) and reads
/// until each has its first answer: the socket and a tracker per space,
/// named as the server names it (`user:me` resolved).
pub async fn subscribed(
    target: &Target,
    sources: &Sources,
    token: &str,
    client_id: &str,
    spaces: &[String],
    until: Instant,
) -> Result<(Ws, Vec<(String, Track)>), String> {
    let mut ws = connect(target, sources, token).await?;
    welcome(&mut ws, until).await?;
    let sub: serde_json::Map<String, serde_json::Value> = spaces
        .iter()
        .map(|s| (s.clone(), serde_json::Value::Null))
        .collect();
    send(&mut ws, hello(client_id, sub.into())).await?;
    let mut tracks: Vec<(String, Track)> = Vec::new();
    while tracks.len() < spaces.len() {
        match next_text_until(&mut ws, until).await? {
            In::Text(t) => {
                let f = parse(&t)?;
                if f.kind == "error" {
                    return Err(f.describe());
                }
                // A space's first answer (presence and other messages of
                // the space may come too: not answers).
                let answer = matches!(&*f.kind, "snapshot" | "events" | "up_to_date");
                if let Some(s) = f.space.as_deref().filter(|_| answer)
                    && !tracks.iter().any(|(n, _)| n == s)
                {
                    let mut tr = Track::default();
                    tr.apply(&f, |_| {});
                    tracks.push((s.to_string(), tr));
                }
            }
            In::Closed(why) => return Err(why),
        }
    }
    Ok((ws, tracks))
}

pub fn hello(client_id: &str, subscribe: serde_json::Value) -> String {
    serde_json::json!({"type": "hello", "protocol": 1, "client_id": client_id, "subscribe": subscribe})
        .to_string()
}

/// The ack of one mutation.
pub struct Ack {
    pub version: u64,
    pub noop: bool,
    /// From the send to the ack.
    pub latency_us: u64,
    /// When it was sent, µs since the epoch.
    pub sent_us: u64,
}

/// A connection that writes and waits for each ack (subscribes nothing).
pub struct Writer {
    pub ws: Ws,
    next_mid: u64,
    pace: Pace,
    unacked: std::collections::VecDeque<Sent>,
}

impl Writer {
    pub async fn open(
        target: &Target,
        sources: &Sources,
        token: &str,
        client_id: String,
        rate: f64,
    ) -> Result<Writer, String> {
        let mut ws = connect(target, sources, token).await?;
        welcome(&mut ws, Instant::now() + Duration::from_secs(30)).await?;
        let mut pace = Pace::new(rate);
        pace.wait().await;
        send(&mut ws, hello(&client_id, serde_json::json!({}))).await?;
        Ok(Writer {
            ws,
            next_mid: 1,
            pace,
            unacked: Default::default(),
        })
    }

    /// Sends one mutation and waits for its ack. `ops` builds the JSON array
    /// of ops from the send time (µs since the epoch), taken after pacing.
    pub async fn mutate(
        &mut self,
        space: &str,
        ops: impl FnOnce(u64) -> String,
    ) -> Result<Ack, String> {
        let sent = self.send(space, ops).await?;
        self.ack(Some(sent.mid), sent.at + Duration::from_secs(30))
            .await
            .map(|(_, a)| a)
    }

    /// Sends one mutation without waiting for its ack.
    pub async fn send(
        &mut self,
        space: &str,
        ops: impl FnOnce(u64) -> String,
    ) -> Result<Sent, String> {
        self.pace.wait().await;
        let mid = self.next_mid;
        self.next_mid += 1;
        let sent_us = now_us();
        let msg = format!(
            r#"{{"type":"mutate","mutation_id":{mid},"space":{},"ops":{}}}"#,
            serde_json::Value::from(space),
            ops(sent_us)
        );
        let at = Instant::now();
        send(&mut self.ws, msg).await?;
        let sent = Sent { mid, sent_us, at };
        self.unacked.push_back(sent);
        Ok(sent)
    }

    /// Mutations sent and not acknowledged yet.
    pub fn unacked(&self) -> usize {
        self.unacked.len()
    }

    /// Waits for the next ack (of `mid`, when given; acks come in send order).
    /// A reject or error frame is an error.
    pub async fn ack(&mut self, mid: Option<u64>, until: Instant) -> Result<(u64, Ack), String> {
        loop {
            match next_text_until(&mut self.ws, until).await? {
                In::Text(t) => {
                    let f = parse(&t)?;
                    match &*f.kind {
                        "ack" if mid.is_none() || f.mutation_id == mid => {
                            let got = f.mutation_id.unwrap_or(0);
                            let Some(s) = self.unacked.pop_front() else {
                                return Err(format!("ack of {got} for nothing sent"));
                            };
                            if s.mid != got {
                                return Err(format!(
                                    "ack of {got} while {} was the oldest sent",
                                    s.mid
                                ));
                            }
                            return Ok((
                                got,
                                Ack {
                                    version: f.version.unwrap_or(0),
                                    noop: t.contains("\"noop\":true"),
                                    latency_us: s.at.elapsed().as_micros() as u64,
                                    sent_us: s.sent_us,
                                },
                            ));
                        }
                        "reject" => return Err(f.describe()),
                        "error" => return Err(f.describe()),
                        _ => {}
                    }
                }
                In::Closed(why) => return Err(why),
            }
        }
    }
}

/// A mutation sent and not yet acknowledged.
#[derive(Clone, Copy)]
pub struct Sent {
    pub mid: u64,
    pub sent_us: u64,
    pub at: Instant,
}

/// `[{"op":"put","collection":C,"id":I,"value":{"t":T,...extra}}]`.
pub fn put_stamped(collection: &str, id: &str, t: u64, extra: &str) -> String {
    format!(
        r#"[{{"op":"put","collection":"{collection}","id":"{id}","value":{{"t":{t}{extra}}}}}]"#
    )
}
