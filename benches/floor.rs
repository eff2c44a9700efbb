//! The floor for fan-out figures: a minimal tokio-tungstenite broadcast
//! server with no store, no auth and no protocol beyond what the load
//! generator needs to drive it exactly as it drives tidemark (`welcome`; a
//! `hello` that subscribes gets an empty `snapshot`; a `mutate` gets an `ack`
//! and its ops' values go to every subscriber as `event` frames). Each event
//! frame is encoded once and shared; accepted sockets get TCP_NODELAY; a
//! connection's pending frames go out in one flush. `scripts/bench --floor`
//! runs it beside tidemark in the same run and reports the ratio.
//!
//!   cargo bench --bench floor -- --listen 127.0.0.1:9000
//!
//! Without `--listen` it prints how to run it and exits (`cargo test
//! --all-targets` runs every bench target).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, broadcast, mpsc};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Frames buffered per subscriber before it lags (and is dropped).
const LIVE_BUFFER: usize = 1 << 16;
/// Frames written before one flush.
const BATCH: usize = 256;

struct Hub {
    /// The last version; subscribing and publishing hold it.
    version: Mutex<u64>,
    live: broadcast::Sender<Utf8Bytes>,
    lagged: AtomicU64,
}

enum Out {
    Frame(Utf8Bytes),
    Live(broadcast::Receiver<Utf8Bytes>),
}

fn main() {
    let mut listen = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = Some(args.next().expect("--listen ADDR")),
            "--bench" => {} // passed by `cargo bench`
            other => panic!("floor: unknown argument {other} (use --listen ADDR)"),
        }
    }
    // `cargo test --all-targets` and a plain `cargo bench` run every bench
    // target: without an address to serve on, this one says how and ends.
    let Some(listen) = listen else {
        eprintln!("floor: a server for scripts/bench --floor; run it with --listen ADDR");
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(&listen).await.expect("bind");
        eprintln!("floor: listening on {listen}");
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        let hub = Arc::new(Hub {
            version: Mutex::new(0),
            live,
            lagged: AtomicU64::new(0),
        });
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            tokio::spawn(connection(tcp, hub.clone()));
        }
    });
}

/// The handshake callback: answers with the subprotocol the generator asks for.
#[allow(clippy::result_large_err)] // the signature tungstenite asks for
fn echo_subprotocol(_: &Request, mut resp: Response) -> Result<Response, ErrorResponse> {
    resp.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("tidemark.v1"),
    );
    Ok(resp)
}

async fn connection(tcp: TcpStream, hub: Arc<Hub>) {
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, echo_subprotocol).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    let hub_w = hub.clone();
    let writer = tokio::spawn(async move {
        let mut live: Option<broadcast::Receiver<Utf8Bytes>> = None;
        loop {
            let first = tokio::select! {
                m = rx.recv() => match m {
                    Some(Out::Frame(f)) => f,
                    Some(Out::Live(r)) => { live = Some(r); continue; }
                    None => return,
                },
                f = recv_live(&mut live, &hub_w) => match f { Some(f) => f, None => return },
            };
            if sink.feed(Message::Text(first)).await.is_err() {
                return;
            }
            // Everything else already waiting goes out in the same flush.
            for _ in 0..BATCH {
                let next = match rx.try_recv() {
                    Ok(Out::Frame(f)) => f,
                    Ok(Out::Live(r)) => {
                        live = Some(r);
                        continue;
                    }
                    Err(_) => match live.as_mut().map(|l| l.try_recv()) {
                        Some(Ok(f)) => f,
                        _ => break,
                    },
                };
                if sink.feed(Message::Text(next)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    let _ = tx.send(Out::Frame(
        json!({"type": "welcome", "session": "floor", "heartbeat_ms": 25_000, "limits": {}})
            .to_string()
            .into(),
    ));
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else { continue };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        match v["type"].as_str() {
            Some("hello") => {
                let subscribes = v["subscribe"].as_object().is_some_and(|m| !m.is_empty());
                if subscribes {
                    let at = hub.version.lock().await;
                    let rx = hub.live.subscribe();
                    let snap = json!({"type": "snapshot", "space": "catalog", "epoch": "floor",
                        "version": *at, "docs": []});
                    let _ = tx.send(Out::Frame(snap.to_string().into()));
                    let _ = tx.send(Out::Live(rx));
                }
            }
            Some("mutate") => {
                let mut at = hub.version.lock().await;
                let ops = v["ops"].as_array().cloned().unwrap_or_default();
                for op in &ops {
                    *at += 1;
                    let ev = json!({"type": "event", "space": "catalog", "version": *at,
                        "op": "upsert", "collection": op["collection"], "id": op["id"],
                        "value": op["value"]});
                    let _ = hub.live.send(ev.to_string().into());
                }
                let ack = json!({"type": "ack", "mutation_id": v["mutation_id"],
                    "space": "catalog", "version": *at, "noop": ops.is_empty()});
                let _ = tx.send(Out::Frame(ack.to_string().into()));
            }
            Some("ping") => {
                let _ = tx.send(Out::Frame(
                    json!({"type": "pong", "nonce": v["nonce"]})
                        .to_string()
                        .into(),
                ));
            }
            _ => {}
        }
    }
    drop(tx);
    let _ = writer.await;
}

async fn recv_live(
    live: &mut Option<broadcast::Receiver<Utf8Bytes>>,
    hub: &Hub,
) -> Option<Utf8Bytes> {
    let Some(rx) = live.as_mut() else {
        return std::future::pending().await;
    };
    match rx.recv().await {
        Ok(f) => Some(f),
        Err(broadcast::error::RecvError::Lagged(n)) => {
            let total = hub.lagged.fetch_add(n, Ordering::Relaxed) + n;
            eprintln!("floor: a subscriber lagged, {total} frames lost in all; closing it");
            None
        }
        Err(broadcast::error::RecvError::Closed) => None,
    }
}
