//! One WebSocket connection: authentication, subscriptions, mutations, live
//! fan-out with lag recovery, heartbeat, rate limits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::fanout::Hub;
use super::handshake::{Duplex, Reader};
use super::outbox::{Outbox, Replies};
use super::pace::{MAX_HELLOS_PER_WINDOW, Pace};

#[path = "conn_spaces.rs"]
mod spaces;
use crate::engine::{MutationInput, Principal};
use crate::http::AppState;
use crate::http::auth::expiry_instant;
use crate::protocol::{ClientMsg, MutationResult, Origin, RejectCode, ServerMsg, WsLimits};

/// One subscribed space (where the client stands is in the outbox's link).
struct Sub {
    hub: Arc<Hub>,
    epoch: String,
}

enum Flow {
    Continue,
    Close(u16, &'static str),
    Drop,
}

struct Conn {
    st: AppState,
    who: Principal,
    expires_at: u64,
    client_id: Option<String>,
    subs: HashMap<String, Sub>,
    out: Arc<Outbox>,
    last_seen: Instant,
    /// This connection's role's connection and rate limits.
    limits: crate::http::RoleLimits,
    pace: Pace,
}

type Stream = WebSocketStream<Duplex>;

/// One task per connection: it reads the peer's frames, answers them, and
/// writes what the socket did not take at once; live events are written by
/// the spaces' pushers (`fanout.rs`).
pub async fn run(
    rd: Reader,
    wr: crate::http::listen::WriteSide,
    st: AppState,
    auth: Option<(Principal, u64)>,
) {
    let out = Arc::new(Outbox::new(
        st.cfg.ws.max_queue_bytes,
        st.cfg.ws.slow_consumer,
        st.outbound.clone(),
    ));
    out.attach(wr);
    let cfg = &st.cfg.ws;
    let hard_cap = (cfg.max_frame_bytes * 4).max(1 << 20);
    let ws_cfg = WebSocketConfig::default()
        .read_buffer_size(cfg.read_buffer_bytes)
        .write_buffer_size(0)
        .max_message_size(Some(hard_cap))
        .max_frame_size(Some(hard_cap));
    let duplex = Duplex::new(rd, Replies(out.clone()));
    let mut stream = WebSocketStream::from_raw_socket(duplex, Role::Server, Some(ws_cfg)).await;
    // After a close, linger this long for a peer that resumes reading, so it
    // still receives the close frame (4009 included).
    let linger = st.cfg.ws.slow_consumer + Duration::from_secs(5);
    let auth = match auth {
        Some(a) => Some(a),
        None => first_auth(&st, &mut stream, &out).await,
    };
    if let Some((who, expires_at)) = auth {
        let limits = st.cfg.ws.limits(who.role);
        match st.ws_registry.take(&who.user, limits.max_conns) {
            None => out.close_with(4008, "too many connections for this user"),
            Some(_slot) => {
                let _open = crate::obs::Open::new(&crate::obs::hot().ws_connections);
                if who.role != crate::engine::Role::Service {
                    out.set_user(&who.user);
                }
                let mut c = Conn {
                    pace: Pace::new(limits.msg_burst),
                    limits,
                    st,
                    who,
                    expires_at,
                    client_id: None,
                    subs: HashMap::new(),
                    out: out.clone(),
                    last_seen: Instant::now(),
                };
                c.welcome();
                c.serve(&mut stream).await;
            }
        }
    }
    out.close();
    // Deliver what is queued (the close frame last), but not forever.
    let drain = futures::future::poll_fn(|cx| {
        while !out.is_empty() {
            match out.poll_write(cx) {
                std::task::Poll::Ready(Ok(_)) => {}
                std::task::Poll::Ready(Err(_)) => break,
                std::task::Poll::Pending => return std::task::Poll::Pending,
            }
        }
        std::task::Poll::Ready(())
    });
    let _ = tokio::time::timeout(linger, drain).await;
    if let Some(mut wr) = out.detach() {
        let _ = tokio::time::timeout(Duration::from_secs(1), wr.shutdown()).await;
    }
    // Lingering close: read (and drop) what the peer still sends, briefly.
    // Closing a socket with unread bytes resets it, and a reset discards the
    // close frame (4008, 4009) the peer has not read yet.
    let _ = tokio::time::timeout(LINGER_READ, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
}

/// How long a closed connection keeps reading what its peer still sends.
const LINGER_READ: Duration = Duration::from_secs(2);

/// Without a query token the first message must be `auth`, within the timeout.
async fn first_auth(st: &AppState, stream: &mut Stream, out: &Outbox) -> Option<(Principal, u64)> {
    let first = tokio::time::timeout(st.cfg.ws.auth_timeout, stream.next()).await;
    let reason = match first {
        Err(_) => "no auth message within the time allowed",
        Ok(Some(Ok(Message::Text(t)))) => match crate::protocol::parse_client_msg(&t) {
            Ok(ClientMsg::Auth { token }) => match st.auth.verify(&token) {
                Ok(p) => return Some((p, st.auth.expiry(&token).unwrap_or(u64::MAX))),
                Err(_) => "invalid token",
            },
            _ => "the first message must be auth {token}",
        },
        Ok(_) => "the first message must be auth {token}",
    };
    out.close_with(4001, reason);
    None
}

impl Conn {
    fn send(&self, m: ServerMsg) {
        self.out.text(&m.to_json());
    }

    /// An engine failure as clients may see it: the same codes and words as
    /// over HTTP; a store's or an internal cause is logged, never sent.
    fn send_failure(&self, e: crate::engine::EngineError, space: String) {
        let api = crate::http::error::ApiError::from(e);
        self.send(ServerMsg::Error {
            code: api.code.into(),
            message: api.message,
            space: Some(space),
        });
    }

    fn welcome(&self) {
        self.send(ServerMsg::Welcome {
            session: format!("s-{}", uuid::Uuid::new_v4().simple()),
            heartbeat_ms: self.st.cfg.ws.heartbeat.as_millis() as u64,
            limits: WsLimits {
                max_frame_bytes: self.st.cfg.ws.max_frame_bytes,
            },
        });
    }

    async fn serve(&mut self, stream: &mut Stream) {
        let hb = self.st.cfg.ws.heartbeat;
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + hb, hb);
        let shutdown = self.st.shutdown.clone();
        // Built once, not per wake-up.
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        let mut expires_at = self.expires_at;
        let expiry = tokio::time::sleep_until(expiry_instant(expires_at));
        tokio::pin!(expiry);
        loop {
            if self.expires_at != expires_at {
                expires_at = self.expires_at; // refreshed by an `auth` message
                expiry.as_mut().reset(expiry_instant(expires_at));
            }
            if self.out.lagging() && self.out.has_room() {
                Box::pin(self.recover()).await;
            }
            let queued = !self.out.is_empty();
            // Holding more than a fair share: look again within a second
            // even if nothing else happens, so a stalled holder is found
            // while all clients' queues are over their budget (`pressure.rs`).
            let holding = self.out.holds_over_share();
            let recheck = futures::future::OptionFuture::from(
                holding.then(|| tokio::time::sleep(crate::http::pressure::PRESSED_PATIENCE)),
            );
            let flow = tokio::select! {
                biased;
                _ = &mut cancelled => Flow::Close(1012, "server restarting: reconnect with your cursor"),
                _ = &mut expiry => Flow::Close(4001, "token expired"),
                w = futures::future::poll_fn(|cx| self.out.poll_write(cx)), if queued => match w {
                    Ok(_) => Flow::Continue,
                    Err(_) => Flow::Drop,
                },
                m = stream.next() => match m {
                    Some(Ok(m)) => {
                        self.last_seen = Instant::now();
                        // A peer that keeps sending but reads nothing is a
                        // slow consumer too (found out here, not only at
                        // the next kick or heartbeat).
                        match Box::pin(self.on_frame(m)).await {
                            Flow::Continue => self.on_kick(),
                            other => other,
                        }
                    }
                    _ => Flow::Drop,
                },
                _ = self.out.kick.notified() => self.on_kick(),
                _ = recheck, if holding => self.on_kick(),
                _ = tick.tick() => self.on_tick(),
            };
            if self.out.is_closed() {
                return;
            }
            match flow {
                Flow::Continue => {}
                // A slow consumer gets its close frame without waiting behind
                // everything it did not read.
                Flow::Close(4009, reason) => {
                    self.out.cut_and_close(4009, reason);
                    return;
                }
                Flow::Close(code, reason) => {
                    self.out.close_with(code, reason);
                    return;
                }
                Flow::Drop => return,
            }
        }
    }

    /// A pusher left frames for this task to write, or marked a space lagging.
    fn on_kick(&mut self) -> Flow {
        if self.out.stalled_for(self.st.cfg.ws.slow_consumer) {
            crate::obs::slow_consumer_close();
            return Flow::Close(4009, "slow consumer: reconnect with your cursor");
        }
        if self.out.take_revoked() {
            let gone: Vec<String> = self
                .subs
                .iter()
                .filter(|(_, s)| self.out.link(s.hub.key()).is_some_and(|l| l.revoked))
                .map(|(n, _)| n.clone())
                .collect();
            for name in gone {
                self.revoke(name);
            }
        }
        Flow::Continue
    }

    fn on_tick(&mut self) -> Flow {
        let hb = self.st.cfg.ws.heartbeat;
        // A peer that does not read cannot pong either: name it a slow consumer first.
        if let Flow::Close(code, reason) = self.on_kick() {
            return Flow::Close(code, reason);
        }
        if self.last_seen.elapsed() >= hb * 2 {
            return Flow::Drop; // dead peer: nothing, not even a pong, for two intervals
        }
        self.out.push(crate::protocol::wsframe::ping());
        Flow::Continue
    }

    fn over_rate(&mut self) -> bool {
        self.pace.over_rate(self.limits)
    }

    fn violation(&mut self) -> bool {
        self.pace.violation(self.st.cfg.ws.abuse_threshold)
    }

    fn bad(&mut self, code: &str, message: impl Into<String>) -> Flow {
        self.send(ServerMsg::error(code, message));
        if self.violation() {
            Flow::Close(4008, "too many bad or excess messages")
        } else {
            Flow::Continue
        }
    }

    /// A frame refused before it is processed: a `mutate` gets a `reject`
    /// naming its id (not recorded as processed: the client sends it again
    /// later), anything else an `error`.
    fn refuse(&mut self, text: &str, code: RejectCode, message: String) -> Flow {
        if let Some((mutation_id, space)) = crate::protocol::mutate_head(text) {
            self.send(ServerMsg::Reject {
                mutation_id,
                space,
                code,
                message,
                current: None,
            });
            return if self.violation() {
                Flow::Close(4008, "too many bad or excess messages")
            } else {
                Flow::Continue
            };
        }
        self.bad(code.as_str(), message)
    }

    async fn on_frame(&mut self, m: Message) -> Flow {
        let t = match m {
            Message::Text(t) => t,
            Message::Binary(_) => {
                return self.bad(
                    "bad_message",
                    "binary frames are not supported; send JSON text",
                );
            }
            Message::Close(_) => return Flow::Drop,
            // Control frames count against the message rate too: each ping
            // makes the server queue a pong.
            Message::Ping(_) | Message::Pong(_) => {
                if self.over_rate() && self.violation() {
                    return Flow::Close(4008, "too many bad or excess messages");
                }
                return Flow::Continue;
            }
            Message::Frame(_) => return Flow::Continue,
        };
        if self.over_rate() {
            let message = "too many messages; slow down".to_string();
            return self.refuse(&t, RejectCode::RateLimited, message);
        }
        let max = self.st.cfg.ws.max_frame_bytes;
        if t.len() > max {
            let message = format!("frame of {} bytes; the limit is {max}", t.len());
            return self.refuse(&t, RejectCode::TooLarge, message);
        }
        let msg = match crate::protocol::parse_client_msg(&t) {
            Ok(m) => m,
            Err((code, message)) => return self.bad(code, message),
        };
        match msg {
            ClientMsg::Ping { nonce } => {
                self.send(ServerMsg::Pong { nonce });
                Flow::Continue
            }
            ClientMsg::Auth { token } => self.on_auth(&token),
            ClientMsg::Hello {
                protocol,
                client_id,
                subscribe,
            } => {
                if protocol != 1 {
                    return self.bad(
                        "bad_message",
                        format!("protocol {protocol} is not supported; this server speaks 1"),
                    );
                }
                if let Err(why) = crate::protocol::check_client_id(&client_id) {
                    return self.bad("bad_message", why);
                }
                // Each hello may answer with whole snapshots: a few per
                // window, then `rate_limited`.
                if self.pace.hello() > MAX_HELLOS_PER_WINDOW {
                    return self.bad(
                        "rate_limited",
                        format!("at most {MAX_HELLOS_PER_WINDOW} hello messages per 10 s"),
                    );
                }
                self.client_id = Some(client_id);
                for (alias, cursor) in subscribe {
                    self.subscribe(&alias, cursor).await;
                }
                Flow::Continue
            }
            ClientMsg::Mutate {
                mutation_id,
                space,
                ops,
            } => self.on_mutate(mutation_id, space, ops).await,
            ClientMsg::PresenceSet { space, state } => self.on_presence(&space, state),
        }
    }

    fn on_auth(&mut self, token: &str) -> Flow {
        match self.st.auth.verify(token) {
            Ok(p) if p.user == self.who.user => {
                self.expires_at = self.st.auth.expiry(token).unwrap_or(u64::MAX);
                self.who = p;
                self.drop_unreadable();
                Flow::Continue
            }
            Ok(_) => Flow::Close(4001, "the new token is for another user"),
            Err(_) => Flow::Close(4001, "invalid token"),
        }
    }

    async fn on_mutate(
        &mut self,
        mutation_id: u64,
        space: String,
        ops: Vec<crate::protocol::Op>,
    ) -> Flow {
        let Some(client_id) = self.client_id.clone() else {
            return self.bad(
                "bad_message",
                "send hello with your client_id before mutate",
            );
        };
        let input = MutationInput {
            origin: Some(Origin {
                client_id,
                mutation_id,
            }),
            space: space.clone(),
            ops,
            trusted: false,
        };
        // Our own event must not overtake our ack on this connection.
        let held = self
            .who
            .writable(&input.space)
            .ok()
            .and_then(|name| self.subs.get(&name))
            .map(|sub| sub.hub.clone());
        if let Some(hub) = &held {
            self.out.pause(hub.key());
        }
        let result = self.st.engine.mutate(&self.who, input).await;
        let msg = match result {
            Ok((space, MutationResult::Ack { version, noop, .. })) => ServerMsg::Ack {
                mutation_id,
                space,
                version,
                noop,
            },
            Ok((
                space,
                MutationResult::Reject {
                    code,
                    message,
                    current,
                    ..
                },
            )) => ServerMsg::Reject {
                mutation_id,
                space,
                code,
                message,
                current,
            },
            Err(e) => {
                tracing::warn!(error = %e, "mutation failed");
                let message = "the database is unavailable; retry this mutation".to_string();
                ServerMsg::Reject {
                    mutation_id,
                    space,
                    code: RejectCode::StoreUnavailable,
                    message,
                    current: None,
                }
            }
        };
        self.send(msg);
        if let Some(hub) = held {
            let from = self.out.link(hub.key()).map_or(0, |l| l.delivered);
            let events = hub.space.read().ring.since(from);
            self.out
                .resume(hub.key(), events.as_deref(), &|| hub.pushed_upto());
        }
        Flow::Continue
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        for sub in self.subs.values() {
            self.st.ws_hubs.leave(&sub.hub, &self.out);
        }
    }
}
