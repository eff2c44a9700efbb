//! The hostile clients of the `hostile` scenario (issue 20, point 2). Each
//! kind connects from a loopback address of its own (127.0.1.K), so the
//! server's per-address cap meets the flood and nothing else. Every loop is
//! bounded in count and in time; what the server did with each connection
//! is tallied as its client saw it (a status line, a close code and reason,
//! the socket ending, or nothing by the end).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::SinkExt;
use reqwest::header::AUTHORIZATION;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, In, Pace, Ws};
use crate::fleet::{Ctx, USER};
use crate::http1::{Fate, fate_of, status_of};
use crate::stats::Tally;

/// The kinds, in report order; kind `k` connects from 127.0.1.(k+1).
pub const KINDS: [&str; 6] = [
    "slowloris",
    "flood",
    "ws_hello",
    "ws_ping",
    "sse",
    "garbage",
];
const SLOWLORIS: usize = 0;
const FLOOD: usize = 1;
const WS_HELLO: usize = 2;
const WS_PING: usize = 3;
const SSE: usize = 4;
const GARBAGE: usize = 5;
/// The feeder (writes into the spaces the non-readers subscribe) connects
/// from 127.0.1.7.
const FEEDER_SOURCE: u8 = 7;

/// Hostile users are numbered from here (`Ctx::user`), 16 clients a user.
const FIRST_USER: usize = 1_000_000;
const CLIENTS_PER_USER: usize = 16;
/// Receive buffer of a client that does not read: the kernel absorbs little.
const SMALL_RCVBUF: u32 = 4096;
/// Documents each spied-on space starts with (8 x 128 KiB: a 1 MiB snapshot).
const PREFILL_DOCS: usize = 8;
const PREFILL_BYTES: usize = 128 * 1024;
/// What the feeder writes, per space: 10 documents/s of 32 KiB.
const FEED_RATE: f64 = 10.0;
const FEED_BYTES: usize = 32 * 1024;

/// Every hostile client of one run.
pub struct Hostile {
    /// Clients of each kind (slow-loris 4x, flood attempts 100x).
    pub per_kind: usize,
    /// Which kinds run, by index in [`KINDS`].
    on: Vec<bool>,
    pub tallies: Vec<Tally>,
    /// Feeder writes that landed, and those refused.
    pub fed: AtomicU64,
    pub feed_refused: AtomicU64,
}

impl Hostile {
    /// `kinds`: comma-separated names from [`KINDS`] (None: all).
    pub fn new(per_kind: usize, kinds: Option<&str>) -> Result<Hostile, String> {
        let names: Vec<&str> =
            kinds.map_or(KINDS.to_vec(), |k| k.split(',').map(str::trim).collect());
        if let Some(bad) = names.iter().find(|n| !KINDS.contains(n)) {
            return Err(format!(
                "--kinds: no kind `{bad}`; one of {}",
                KINDS.join(", ")
            ));
        }
        Ok(Hostile {
            per_kind,
            on: KINDS.iter().map(|k| names.contains(k)).collect(),
            tallies: KINDS.iter().map(|_| Tally::default()).collect(),
            fed: AtomicU64::new(0),
            feed_refused: AtomicU64::new(0),
        })
    }

    pub fn json(&self) -> Value {
        let mut m: Map<String, Value> = KINDS
            .iter()
            .zip(&self.tallies)
            .zip(&self.on)
            .filter(|(_, on)| **on)
            .map(|((k, t), _)| (k.to_string(), t.json()))
            .collect();
        m.insert(
            "feeder".into(),
            json!({"written": self.fed.load(Ordering::Relaxed), "refused": self.feed_refused.load(Ordering::Relaxed)}),
        );
        Value::Object(m)
    }

    /// Fills the spaces the non-readers will subscribe (before the baseline,
    /// so the baseline holds them too).
    pub async fn prefill(&self, ctx: &Ctx) -> Result<(), String> {
        let http = http_client(ctx)?;
        let big = "x".repeat(PREFILL_BYTES);
        for user in self.fed_users() {
            let token = ctx.token(&ctx.user(user), USER)?;
            for d in 0..PREFILL_DOCS {
                put(
                    &http,
                    ctx,
                    &token,
                    &format!("big{d}"),
                    json!({ "big": big }),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Runs every kind beside each other until `until` (then each reads what
    /// it left unread, a few seconds at most).
    pub async fn run(self: &Arc<Self>, ctx: &Arc<Ctx>, until: Instant) {
        let mut set = JoinSet::new();
        let n = self.per_kind;
        for i in 0..4 * n * usize::from(self.on[SLOWLORIS]) {
            let (h, ctx) = (self.clone(), ctx.clone());
            set.spawn(async move { h.slowloris(&ctx, i, until).await });
        }
        if self.on[FLOOD] {
            let (h, c) = (self.clone(), ctx.clone());
            set.spawn(async move { h.flood(&c, until).await });
        }
        for i in 0..n {
            for kind in [WS_HELLO, WS_PING, SSE, GARBAGE] {
                if !self.on[kind] {
                    continue;
                }
                let (h, ctx) = (self.clone(), ctx.clone());
                set.spawn(async move {
                    match kind {
                        SSE => h.sse(&ctx, i, until).await,
                        GARBAGE => h.garbage(&ctx, i, until).await,
                        _ => h.ws_silent(&ctx, kind, i, until).await,
                    }
                });
            }
        }
        while set.join_next().await.is_some() {}
    }

    /// The writer that keeps the non-readers' spaces changing (32 KiB
    /// documents, 10 a second each) until `until`. Started before the
    /// baseline: it is the write traffic those spaces see whether or not
    /// anyone hostile reads them, so what it makes the server hold (each
    /// space's ring of recent events, the store's cache) is in the
    /// baseline, and the hostile phase adds only what the clients cause.
    pub fn start_feeding(self: &Arc<Self>, ctx: &Arc<Ctx>, until: Instant) -> JoinSet<()> {
        let mut set = JoinSet::new();
        for user in self.fed_users() {
            let (h, ctx) = (self.clone(), ctx.clone());
            set.spawn(async move { h.feed(&ctx, user, until).await });
        }
        set
    }

    /// Whether kind `name` runs.
    pub fn runs(&self, name: &str) -> bool {
        KINDS
            .iter()
            .position(|k| *k == name)
            .is_some_and(|i| self.on[i])
    }

    fn user(&self, kind: usize, i: usize) -> usize {
        FIRST_USER + kind * 1000 + i / CLIENTS_PER_USER
    }

    /// The users whose spaces the non-readers subscribe.
    fn fed_users(&self) -> Vec<usize> {
        let users = self.per_kind.div_ceil(CLIENTS_PER_USER);
        [WS_HELLO, SSE]
            .iter()
            .filter(|&&k| self.on[k])
            .flat_map(|&k| (0..users).map(move |u| FIRST_USER + k * 1000 + u))
            .collect()
    }

    /// (a) A request head sent one byte a second, again after each close.
    async fn slowloris(&self, ctx: &Ctx, i: usize, until: Instant) {
        let t = &self.tallies[SLOWLORIS];
        // Spread the starts over a second.
        tokio::time::sleep(Duration::from_millis((i % 100) as u64 * 10)).await;
        for _ in 0..50 {
            if Instant::now() >= until {
                return;
            }
            let Some(mut s) = open(ctx, t, SLOWLORIS, None).await else {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            let opened = Instant::now();
            let head = format!(
                "GET /healthz HTTP/1.1\r\nHost: {}\r\nX-Slow: ",
                ctx.target.hostport
            );
            let mut fate = if s.write_all(head.as_bytes()).await.is_err() {
                Fate::Closed
            } else {
                Fate::Open
            };
            while matches!(fate, Fate::Open) && Instant::now() < until {
                if s.write_all(b"a").await.is_err() {
                    fate = Fate::Closed;
                    break;
                }
                fate = fate_of(&mut s, until.min(Instant::now() + Duration::from_secs(1))).await;
            }
            record(t, fate, opened);
        }
    }

    /// (b) Connections opened at a steady rate and held, sending nothing:
    /// the server admits them until its per-address cap, then refuses.
    /// 100 attempts per client of a kind, spread over the phase.
    async fn flood(self: &Arc<Self>, ctx: &Arc<Ctx>, until: Instant) {
        let attempts = 100 * self.per_kind;
        let secs = until
            .saturating_duration_since(Instant::now())
            .as_secs_f64();
        let mut pace = Pace::new(attempts as f64 / secs.max(1.0));
        let mut each = JoinSet::new();
        for _ in 0..attempts {
            pace.wait().await;
            if Instant::now() >= until {
                break;
            }
            let (h, ctx) = (self.clone(), ctx.clone());
            each.spawn(async move { h.flood_one(&ctx, until).await });
        }
        while each.join_next().await.is_some() {}
    }

    async fn flood_one(&self, ctx: &Ctx, until: Instant) {
        let t = &self.tallies[FLOOD];
        let Some(mut s) = open(ctx, t, FLOOD, None).await else {
            return;
        };
        let opened = Instant::now();
        match fate_of(&mut s, Instant::now() + Duration::from_millis(300)).await {
            Fate::Open => {
                let now = t.open.fetch_add(1, Ordering::AcqRel) + 1;
                t.peak.fetch_max(now, Ordering::AcqRel);
                let fate = fate_of(&mut s, until).await;
                t.open.fetch_sub(1, Ordering::AcqRel);
                t.saw(format!("admitted, {}", fate.label()));
                if !matches!(fate, Fate::Open) {
                    t.held.record(opened.elapsed().as_micros() as u64);
                }
            }
            other => t.saw(other.label()),
        }
    }

    /// (c) A WebSocket that asks (hellos for a 1 MiB snapshot each, or a
    /// ping flood) and never reads; after 2 s it reads, to learn what the
    /// server did. Again until the end.
    async fn ws_silent(&self, ctx: &Ctx, kind: usize, i: usize, until: Instant) {
        let t = &self.tallies[kind];
        let Ok(token) = ctx.token(&ctx.user(self.user(kind, i)), USER) else {
            return;
        };
        for _ in 0..30 {
            if Instant::now() >= until {
                return;
            }
            let Some(mut ws) = open_ws(ctx, t, kind, &token, Some(SMALL_RCVBUF)).await else {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            let opened = Instant::now();
            if kind == WS_HELLO {
                for _ in 0..12 {
                    let hello = client::hello(&format!("h-{i}"), json!({"user:me": null}));
                    if !send_within(&mut ws, Message::Text(hello.into())).await {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            } else {
                for _ in 0..1000 {
                    if !send_within(&mut ws, Message::Ping(vec![7u8; 125].into())).await {
                        break;
                    }
                }
            }
            tokio::time::sleep_until(until.min(Instant::now() + Duration::from_secs(2))).await;
            drain_ws(t, &mut ws, opened).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// (d) One SSE stream on a space the feeder writes to, never read until
    /// the end; then read, to learn whether the server ended it.
    async fn sse(&self, ctx: &Ctx, i: usize, until: Instant) {
        let t = &self.tallies[SSE];
        let Ok(token) = ctx.token(&ctx.user(self.user(SSE, i)), USER) else {
            return;
        };
        let Some(mut s) = open(ctx, t, SSE, Some(SMALL_RCVBUF)).await else {
            return;
        };
        let opened = Instant::now();
        let req = format!(
            "GET /v1/events?space=user:me&access_token={token} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
            ctx.target.hostport
        );
        if s.write_all(req.as_bytes()).await.is_err() {
            return record(t, Fate::Closed, opened);
        }
        tokio::time::sleep_until(until).await;
        // Read what waits: the stream's end (the last chunk) or more events.
        let mut buf = vec![0u8; 64 * 1024];
        let (mut total, mut head, mut tail) = (0u64, Vec::new(), Vec::new());
        let stop = Instant::now() + Duration::from_secs(5);
        let outcome = loop {
            match tokio::time::timeout_at(stop, s.read(&mut buf)).await {
                Err(_) => break "still streaming at the end".to_string(),
                Ok(Ok(0)) | Ok(Err(_)) => break "ended by the server (socket closed)".into(),
                Ok(Ok(n)) => {
                    total += n as u64;
                    if head.len() < 16 {
                        head.extend_from_slice(&buf[..n.min(16)]);
                    }
                    tail.extend_from_slice(&buf[..n]);
                    let keep = tail.len().saturating_sub(8);
                    tail.drain(..keep);
                    if tail.ends_with(b"\r\n0\r\n\r\n") {
                        break "ended by the server (stream closed)".into();
                    }
                }
            }
        };
        let status = status_of(&head);
        if status != 200 {
            return t.saw(format!("answered {status}"));
        }
        t.unread.fetch_max(total, Ordering::Relaxed);
        if outcome.starts_with("ended") {
            t.held.record(opened.elapsed().as_micros() as u64);
        }
        t.saw(outcome);
    }

    /// (e) Oversize or garbage input, a different kind on each connection.
    async fn garbage(&self, ctx: &Ctx, i: usize, until: Instant) {
        let t = &self.tallies[GARBAGE];
        let Ok(token) = ctx.token(&ctx.user(self.user(GARBAGE, i)), USER) else {
            return;
        };
        for round in 0..40 {
            if Instant::now() >= until {
                return;
            }
            let mode = (i + round) % 6;
            if mode >= 4 {
                let Some(mut s) = open(ctx, t, GARBAGE, None).await else {
                    continue;
                };
                let fate = if mode == 4 {
                    let _ = s.write_all(b"\x16\x03\x01\x02\x00garbage\r\n\r\n").await;
                    fate_of(&mut s, Instant::now() + Duration::from_secs(2)).await
                } else {
                    oversize_body(&mut s, ctx, &token).await
                };
                let what = ["", "", "", "", "http_garbage", "http_4mib_body"][mode];
                t.saw(format!("{what}: {}", fate.label()));
            } else {
                let Some(mut ws) = open_ws(ctx, t, GARBAGE, &token, None).await else {
                    continue;
                };
                let (what, frame, count): (&str, Message, usize) = match mode {
                    0 => ("ws_not_json", Message::Text("{not json".into()), 100),
                    1 => ("ws_binary", Message::Binary(vec![0u8; 64].into()), 100),
                    2 => (
                        "ws_2mib_frame",
                        Message::Text("x".repeat(2 << 20).into()),
                        1,
                    ),
                    _ => (
                        "ws_100kib_frames",
                        Message::Text("y".repeat(100 << 10).into()),
                        60,
                    ),
                };
                // Reads what came back between frames, so it stops at the
                // server's close (its frames after that would go unread, and
                // the server's socket close would then reset the connection).
                let mut closed = None;
                for _ in 0..count {
                    if !send_within(&mut ws, frame.clone()).await {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    while let Ok(m) =
                        tokio::time::timeout(Duration::ZERO, client::next_text(&mut ws)).await
                    {
                        if let In::Closed(why) = m {
                            closed = Some(ended(why));
                            break;
                        }
                    }
                    if closed.is_some() {
                        break;
                    }
                }
                let outcome = match closed {
                    Some(c) => c,
                    None => drain_ws_outcome(&mut ws).await.0,
                };
                t.saw(format!("{what}: {outcome}"));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Writes 32 KiB documents into `user`'s space, 10 a second, until the end.
    async fn feed(&self, ctx: &Ctx, user: usize, until: Instant) {
        let (Ok(http), Ok(token)) = (http_client(ctx), ctx.token(&ctx.user(user), USER)) else {
            return;
        };
        let doc = "z".repeat(FEED_BYTES);
        let mut pace = Pace::new(FEED_RATE);
        let mut k = 0u64;
        while Instant::now() < until && k < 100_000 {
            pace.wait().await;
            k += 1;
            let id = format!("feed{}", k % 4);
            match put(&http, ctx, &token, &id, json!({ "k": k, "z": doc })).await {
                Ok(()) => self.fed.fetch_add(1, Ordering::Relaxed),
                Err(_) => self.feed_refused.fetch_add(1, Ordering::Relaxed),
            };
        }
    }
}

/// 127.0.1.`last` when the server is on IPv4 loopback (the normal clients
/// use 127.0.0.x), else any address.
fn source(ctx: &Ctx, last: u8) -> Option<IpAddr> {
    (!ctx.sources.all().is_empty()).then(|| IpAddr::V4(Ipv4Addr::new(127, 0, 1, last)))
}

/// A TCP connection of kind `kind`, counted; a failed connect is an outcome.
async fn open(ctx: &Ctx, t: &Tally, kind: usize, rcvbuf: Option<u32>) -> Option<TcpStream> {
    t.connections.fetch_add(1, Ordering::Relaxed);
    let src = source(ctx, kind as u8 + 1);
    let tcp = client::tcp_from(&ctx.target, src, rcvbuf);
    within(t, "connect", 5, async {
        tcp.await.map_err(|e| e.kind().to_string())
    })
    .await
}

async fn open_ws(
    ctx: &Ctx,
    t: &Tally,
    kind: usize,
    token: &str,
    rcvbuf: Option<u32>,
) -> Option<Ws> {
    let s = open(ctx, t, kind, rcvbuf).await?;
    within(t, "upgrade", 10, client::upgrade(&ctx.target, s, token)).await
}

/// `step`'s result, or None with its failure (or its timeout) tallied.
async fn within<T>(
    t: &Tally,
    step: &str,
    secs: u64,
    f: impl std::future::Future<Output = Result<T, String>>,
) -> Option<T> {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(Ok(x)) => Some(x),
        Ok(Err(e)) => {
            t.saw(format!("{step} failed: {e}"));
            None
        }
        Err(_) => {
            t.saw(format!("{step} timed out"));
            None
        }
    }
}

/// Sends one frame, giving up after 1 s (a server that stopped reading).
async fn send_within(ws: &mut Ws, m: Message) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(1), ws.send(m)).await,
        Ok(Ok(()))
    )
}

/// Reads everything the server queued, up to its close (5 s at most):
/// the outcome and the bytes read.
async fn drain_ws_outcome(ws: &mut Ws) -> (String, u64) {
    let stop = Instant::now() + Duration::from_secs(5);
    let mut bytes = 0u64;
    loop {
        match tokio::time::timeout_at(stop, client::next_text(ws)).await {
            Err(_) => return ("still open".into(), bytes),
            Ok(In::Text(t)) => bytes += t.len() as u64,
            Ok(In::Closed(why)) => return (ended(why), bytes),
        }
    }
}

/// `close CODE REASON`, or how the socket ended without a close frame.
fn ended(why: String) -> String {
    if let Some(c) = why.strip_prefix("closed by the server: ") {
        format!("close {c}")
    } else if why.starts_with("socket error") {
        "reset by the server (no close frame)".into()
    } else {
        why
    }
}

async fn drain_ws(t: &Tally, ws: &mut Ws, opened: Instant) {
    let (outcome, bytes) = drain_ws_outcome(ws).await;
    t.unread.fetch_max(bytes, Ordering::Relaxed);
    if outcome != "still open" {
        t.held.record(opened.elapsed().as_micros() as u64);
    }
    t.saw(outcome);
}

fn record(t: &Tally, fate: Fate, opened: Instant) {
    if !matches!(fate, Fate::Open) {
        t.held.record(opened.elapsed().as_micros() as u64);
    }
    t.saw(fate.label());
}

/// A 4 MiB body declared and sent (the limit is 1 MiB).
async fn oversize_body(s: &mut TcpStream, ctx: &Ctx, token: &str) -> Fate {
    let len = 4usize << 20;
    let head = format!(
        "POST /v1/sync HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n",
        ctx.target.hostport
    );
    if s.write_all(head.as_bytes()).await.is_err() {
        return Fate::Closed;
    }
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..len / chunk.len() {
        let w = tokio::time::timeout(Duration::from_millis(500), s.write_all(&chunk)).await;
        if !matches!(w, Ok(Ok(()))) {
            break;
        }
    }
    fate_of(s, Instant::now() + Duration::from_secs(2)).await
}

fn http_client(ctx: &Ctx) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .local_address(source(ctx, FEEDER_SOURCE))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("http client: {e}"))
}

/// `PUT` of one document into the caller's space.
async fn put(
    http: &reqwest::Client,
    ctx: &Ctx,
    token: &str,
    id: &str,
    v: Value,
) -> Result<(), String> {
    let url = format!("{}/v1/spaces/user:me/docs/junk/{id}", ctx.target.base);
    let resp = http
        .put(url)
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .json(&v)
        .send()
        .await
        .map_err(|e| format!("PUT {id}: {e}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("PUT {id}: {}", resp.status()))
    }
}
