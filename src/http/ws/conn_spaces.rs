//! A connection's spaces (the half of `conn.rs` about them): subscribing
//! with the catch-up rule, recovering a lagging space, presence, and
//! letting a space go when the token or the team no longer reaches it.

use std::time::Duration;

use super::{Conn, Flow, Sub};
use crate::protocol::{Cursor, ServerMsg};

impl Conn {
    /// The user was removed from team space `name`: unsubscribe it and say
    /// so (after whatever was queued for it, the removing event included).
    pub(super) fn revoke(&mut self, name: String) {
        if let Some(sub) = self.subs.remove(&name) {
            self.st.ws_hubs.leave(&sub.hub, &self.out);
        }
        self.send(ServerMsg::Revoked { space: name });
    }

    /// `presence_set`: in a space this connection subscribes, after `hello`.
    pub(super) fn on_presence(&mut self, space: &str, state: serde_json::Value) -> Flow {
        let Some(client_id) = self.client_id.clone() else {
            return self.bad(
                "bad_message",
                "send hello with your client_id before presence_set",
            );
        };
        let sub = self
            .who
            .resolve(space)
            .ok()
            .filter(|name| self.subs.contains_key(name));
        let Some(name) = sub else {
            return self.bad(
                "bad_message",
                format!("subscribe to `{space}` before setting presence in it"),
            );
        };
        if let Err(why) = crate::http::ws::presence::check_state(&state) {
            return self.bad("too_large", why);
        }
        self.st
            .ws_hubs
            .presence
            .set(&name, &self.out, &self.who.user, &client_id, state);
        Flow::Continue
    }

    /// After a token with fewer rights: the spaces it no longer reaches stop
    /// streaming, each with a `forbidden` error naming it.
    pub(super) fn drop_unreadable(&mut self) {
        let gone: Vec<String> = self
            .subs
            .keys()
            // A team's members decide its space, not the token's rights.
            .filter(|name| crate::engine::team_of(name).is_none() && !self.who.can_read(name))
            .cloned()
            .collect();
        for name in gone {
            if let Some(sub) = self.subs.remove(&name) {
                self.st.ws_hubs.leave(&sub.hub, &self.out);
            }
            self.send(ServerMsg::Error {
                code: "forbidden".into(),
                message: "the new token does not reach this space: unsubscribed".into(),
                space: Some(name),
            });
        }
    }

    pub(super) async fn subscribe(&mut self, alias: &str, cursor: Option<Cursor>) {
        let name = match self.st.engine.readable(&self.who, alias).await {
            Ok(n) => n,
            Err(e) => {
                let code = if matches!(e, crate::engine::EngineError::Forbidden(_)) {
                    "forbidden"
                } else {
                    "not_found"
                };
                self.send(ServerMsg::Error {
                    code: code.into(),
                    message: e.to_string(),
                    space: Some(alias.to_string()),
                });
                return;
            }
        };
        if !self.subs.contains_key(&name) && self.subs.len() >= self.st.cfg.ws.max_subscriptions {
            let message = format!(
                "at most {} spaces per connection",
                self.st.cfg.ws.max_subscriptions
            );
            self.send(ServerMsg::Error {
                code: "too_large".into(),
                message,
                space: Some(name),
            });
            return;
        }
        if let Some(old) = self.subs.remove(&name) {
            self.st.ws_hubs.leave(&old.hub, &self.out);
        }
        // Join the space's subscribers before reading its state, so nothing
        // committed meanwhile is missed (see fanout.rs).
        let hub = loop {
            let space = match self.st.engine.space(&name).await {
                Ok(s) => s,
                Err(e) => {
                    self.send_failure(e, name);
                    return;
                }
            };
            let hub = self.st.ws_hubs.join(&space, &self.out);
            if !space.is_evicted() {
                break hub;
            }
            self.st.ws_hubs.leave(&hub, &self.out);
        };
        // Room for this answer in all clients' budget is reserved before it
        // is built (the space's documents and ring, an upper bound), so
        // clients asking at the same instant do not each build a large
        // answer against the same free room. None: do not even build it
        // now; the space is caught up from the client's cursor after a
        // wait, like an answer that was not admitted.
        let Some(reserved) = self.out.reserve(hub.space.answer_bound()) else {
            let (epoch, v) = cursor.map_or((String::new(), 0), |c| (c.epoch, c.version));
            self.out.set_delivered(hub.key(), v);
            self.out.retry_later();
            self.st.ws_hubs.presence.watch(&name, &self.out);
            self.subs.insert(name, Sub { hub, epoch });
            return;
        };
        let caught = self
            .st
            .engine
            .catch_up_as(&self.who, &hub.space, cursor.as_ref(), usize::MAX)
            .await;
        let answer = match caught {
            Ok((a, false)) => a,
            // Removed meanwhile: what came before the removal, then `revoked`.
            Ok((a, true)) => {
                self.st.ws_hubs.leave(&hub, &self.out);
                self.out.push(hub.answer_frame(&name, a));
                self.send(ServerMsg::Revoked { space: name });
                return;
            }
            Err(e) => {
                self.st.ws_hubs.leave(&hub, &self.out);
                self.send_failure(e, name);
                return;
            }
        };
        let mut epoch = answer.epoch().to_string();
        let version = answer.version();
        let frame = hub.answer_frame(&name, answer);
        if !self.out.go_live(
            hub.key(),
            Some(frame),
            version,
            &|| hub.pushed_upto(),
            Some(reserved),
        ) {
            // All clients' queues are at their budget: answer later, from
            // the client's own cursor (a snapshot without one).
            let (e, v) = cursor.map_or((String::new(), 0), |c| (c.epoch, c.version));
            epoch = e;
            self.out.set_delivered(hub.key(), v);
            self.out.retry_later();
        }
        self.st.ws_hubs.presence.watch(&name, &self.out);
        self.subs.insert(name, Sub { hub, epoch });
    }

    /// Catches lagging spaces up from the ring or the log (events or a
    /// superseding snapshot), while the outbox has room.
    pub(super) async fn recover(&mut self) {
        let names: Vec<String> = self.subs.keys().cloned().collect();
        for name in names {
            if !self.out.has_room() {
                return;
            }
            let Some(sub) = self.subs.get(&name) else {
                continue;
            };
            let hub = sub.hub.clone();
            let Some(link) = self.out.link(hub.key()).filter(|l| l.lagging) else {
                continue;
            };
            let Some(reserved) = self.out.reserve(hub.space.answer_bound()) else {
                self.out.retry_later();
                continue;
            };
            let cursor = Cursor {
                epoch: sub.epoch.clone(),
                version: link.delivered,
            };
            let caught = self
                .st
                .engine
                .catch_up_as(&self.who, &hub.space, Some(&cursor), usize::MAX)
                .await;
            if let Err(crate::engine::EngineError::Forbidden(_)) = caught {
                self.revoke(name);
                continue;
            }
            let Ok((answer, revoked)) = caught else {
                // The database is away: try again shortly (nothing else may
                // wake this task while the space lags).
                let out = self.out.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    out.kick.notify_one();
                });
                continue;
            };
            let epoch = answer.epoch().to_string();
            let version = answer.version();
            let frame = match answer {
                crate::protocol::CatchUp::UpToDate { .. } => None,
                a => Some(hub.answer_frame(&name, a)),
            };
            if revoked {
                // Up to the removing event, then nothing more.
                if let Some(f) = frame {
                    self.out.push(f);
                }
                self.revoke(name);
                continue;
            }
            if !self.out.go_live(
                hub.key(),
                frame,
                version,
                &|| hub.pushed_upto(),
                Some(reserved),
            ) {
                // Not admitted: the space lags on; again after a wait.
                self.out.retry_later();
                continue;
            }
            if let Some(sub) = self.subs.get_mut(&name) {
                sub.epoch = epoch;
            }
        }
    }
}
