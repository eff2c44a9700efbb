//! `tidemark watch SPACE`: follows one space over the WebSocket protocol, as
//! any client would, and prints each frame about it as one JSON line: the
//! snapshot or catch-up first, then every event. After a dropped connection
//! it connects again with its cursor, so the lines carry every version once,
//! in order, across server restarts and failovers.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

pub struct WatchArgs {
    /// `http://HOST:PORT` (or `ws://`).
    pub server: String,
    pub token: String,
    pub space: String,
    /// Stop after this many events (versions); `None` runs until interrupted.
    pub count: Option<u64>,
}

/// Where the watcher stands: the cursor it resumes from.
#[derive(Default)]
struct Cursor {
    epoch: Option<String>,
    version: u64,
    /// Versions printed so far (for `count`).
    seen: u64,
}

/// Why one connection ended.
enum End {
    /// `count` versions were printed.
    Done,
    /// The server refused for good (bad token, forbidden space).
    Refused(String),
    /// Anything else: connect again.
    Lost(String),
}

/// Runs until `count` versions were printed, or the server refuses us for
/// good; `print` gets each line.
pub async fn watch(args: &WatchArgs, mut print: impl FnMut(&str)) -> Result<(), String> {
    let url = ws_url(&args.server)?;
    let mut cur = Cursor::default();
    let mut pause = Duration::from_millis(250);
    loop {
        match follow(&url, args, &mut cur, &mut print).await {
            End::Done => return Ok(()),
            End::Refused(why) => return Err(why),
            End::Lost(why) => {
                tracing::warn!("watch: {why}; connecting again in {pause:?}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

fn ws_url(server: &str) -> Result<String, String> {
    let base = server.trim_end_matches('/');
    let rest = if let Some(r) = base.strip_prefix("http://") {
        r
    } else if let Some(r) = base.strip_prefix("ws://") {
        r
    } else {
        return Err(format!(
            "--server must be http://HOST:PORT or ws://HOST:PORT (no TLS here), not {server}"
        ));
    };
    Ok(format!("ws://{rest}/v1/ws"))
}

/// One connection: authenticate (first message, so the token stays out of
/// URLs and logs), subscribe from the cursor, print what arrives.
async fn follow(
    url: &str,
    args: &WatchArgs,
    cur: &mut Cursor,
    print: &mut impl FnMut(&str),
) -> End {
    let mut req = match url.into_client_request() {
        Ok(r) => r,
        Err(e) => return End::Refused(format!("{url}: {e}")),
    };
    req.headers_mut().insert(
        "sec-websocket-protocol",
        tokio_tungstenite::tungstenite::http::HeaderValue::from_static(
            crate::http::ws::SUBPROTOCOL,
        ),
    );
    // TCP_NODELAY (the last argument): each frame goes out at once.
    let mut ws = match tokio_tungstenite::connect_async_with_config(req, None, true).await {
        Ok((ws, _)) => ws,
        Err(e) => return End::Lost(format!("{url}: {e}")),
    };
    let cursor = match &cur.epoch {
        Some(epoch) => json!({"epoch": epoch, "version": cur.version}),
        None => Value::Null,
    };
    let hello = json!({"type": "hello", "protocol": 1,
        "client_id": format!("watch-{}", uuid::Uuid::new_v4().simple()),
        "subscribe": {args.space.as_str(): cursor}});
    for m in [json!({"type": "auth", "token": args.token}), hello] {
        if let Err(e) = ws.send(Message::Text(m.to_string().into())).await {
            return End::Lost(e.to_string());
        }
    }
    while let Some(m) = ws.next().await {
        let text = match m {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(f)) => {
                let (code, reason) = f.map_or((None, String::new()), |f| {
                    (Some(f.code), f.reason.to_string())
                });
                return match code {
                    Some(CloseCode::Library(4001 | 4003)) => {
                        End::Refused(format!("the server refused: {reason}"))
                    }
                    _ => End::Lost(format!("closed: {code:?} {reason}")),
                };
            }
            Ok(_) => continue,
            Err(e) => return End::Lost(e.to_string()),
        };
        let Ok(f) = serde_json::from_str::<Value>(&text) else {
            return End::Lost("a frame that is not JSON".into());
        };
        match f["type"].as_str().unwrap_or_default() {
            "snapshot" | "up_to_date" => {
                cur.epoch = f["epoch"].as_str().map(str::to_string);
                cur.version = f["version"].as_u64().unwrap_or(0);
            }
            "events" => {
                cur.epoch = f["epoch"].as_str().map(str::to_string);
                let to = f["to"].as_u64().unwrap_or(cur.version);
                cur.seen += to.saturating_sub(cur.version);
                cur.version = to;
            }
            "event" => {
                cur.version = f["version"].as_u64().unwrap_or(cur.version);
                cur.seen += 1;
            }
            "error" => {
                return End::Refused(format!("the server said: {}", f["message"]));
            }
            _ => continue, // welcome, pong
        }
        print(&text);
        if args.count.is_some_and(|n| cur.seen >= n) {
            let _ = ws.close(None).await;
            return End::Done;
        }
    }
    End::Lost("the connection ended".into())
}
