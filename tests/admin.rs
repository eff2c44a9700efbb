//! The live inspector's API (issue 22, point 4): admin tokens only (401
//! without a token, 403 for any other role, the usual error body), lockbox
//! values that never reach it (not the key, not its ciphertext, not its last
//! 4), an overview that counts a live WebSocket, and a stream that carries a
//! write's event and count within a second.

mod common;
mod lockbox_support;

use std::time::{Duration, Instant};

use common::ws::Ws;
use common::{Backend, TestServer, token};
use futures::StreamExt;
use lockbox_support::{lockbox_rows, openai_key, put_key};
use serde_json::{Value, json};
use tidemark::engine::Role;

both_stores!(
    only_admin_tokens_are_answered,
    lockbox_values_never_reach_the_inspector,
    overview_counts_a_live_websocket_and_the_stream_a_write,
);

/// A reader of `GET /v1/admin/stream`: `(event name, data)` messages.
struct Stream {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
    /// Every byte read, for leak checks.
    all: String,
}

impl Stream {
    async fn open(s: &TestServer, tok: &str, query: &str) -> Stream {
        let r = s
            .http
            .get(s.url(&format!("/v1/admin/stream?{query}")))
            .bearer_auth(tok)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        Stream {
            body: r.bytes_stream().boxed(),
            buf: String::new(),
            all: String::new(),
        }
    }

    /// The next message, waiting at most `wait`.
    async fn next(&mut self, wait: Duration) -> Option<(String, Value)> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut name = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        name = v.to_string();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if !name.is_empty() {
                    return Some((name, serde_json::from_str(&data).expect("JSON data")));
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(until, self.body.next())
                .await
                .ok()??
                .ok()?;
            let text = String::from_utf8_lossy(&chunk).to_string();
            self.all.push_str(&text);
            self.buf.push_str(&text);
        }
    }

    /// The first message within `wait` that `pick` accepts.
    async fn find(&mut self, wait: Duration, pick: impl Fn(&str, &Value) -> bool) -> Option<Value> {
        let end = Instant::now() + wait;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let (name, data) = self.next(left).await?;
            if pick(&name, &data) {
                return Some(data);
            }
        }
        None
    }
}

async fn only_admin_tokens_are_answered(b: Backend) {
    let (s, _db) = common::start_with(b, |_| {}).await;
    let admin = token("root", Role::Admin);
    let paths = [
        "/v1/admin/overview",
        "/v1/admin/spaces/user:alice/events",
        "/v1/admin/spaces/catalog/events?limit=3",
    ];
    for path in paths {
        let r = s.http.get(s.url(path)).send().await.unwrap();
        let (st, v) = common::decode(r).await;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "{path}: {v}"
        );
        for role in [Role::User, Role::Service] {
            let (st, v) = s.get(&token("alice", role), path).await;
            assert_eq!(st, 403, "{path} as {role:?}: {v}");
            assert_eq!(v["error"]["code"], "forbidden");
            assert_eq!(v.as_object().unwrap().len(), 1, "only the error: {v}");
        }
        let (st, v) = s.get(&admin, path).await;
        assert_eq!(st, 200, "{path}: {v}");
    }
    // Only the stream takes a token in the URL.
    let r = s
        .http
        .get(s.url(&format!("/v1/admin/overview?access_token={admin}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    for (tok, status) in [
        (None, 401),
        (Some(s.token("alice")), 403),
        (Some(admin.clone()), 200),
    ] {
        let q = tok.map_or(String::new(), |t| format!("?access_token={t}"));
        let r = s
            .http
            .get(s.url(&format!("/v1/admin/stream{q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "stream with {q}");
    }
    let (st, v) = s
        .get(&admin, "/v1/admin/spaces/user:alice/events?limit=0")
        .await;
    assert_eq!((st, v["error"]["code"].as_str()), (422, Some("invalid")));

    // The page itself is public and holds no data; it loads nothing from elsewhere.
    let r = s.http.get(s.url("/admin")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    assert!(r.text().await.unwrap().contains("/admin/admin.js"));
    s.stop().await;
}

async fn lockbox_values_never_reach_the_inspector(b: Backend) {
    let (db, s) = lockbox_support::start(b).await;
    let alice = s.token("alice");
    let admin = token("root", Role::Admin);
    let mut live = Stream::open(&s, &admin, "space=user:alice").await;
    assert!(
        live.find(Duration::from_secs(5), |n, d| n == "events"
            && d["reset"] == true)
            .await
            .is_some()
    );

    let key = openai_key("OKAY");
    let (st, v) = put_key(&s, &alice, "openai", &key).await;
    assert_eq!(st, 200, "{v}");
    // The same key pasted into an ordinary collection, as a field and as text.
    let note =
        json!({"text": "hello", "api_key": key, "pasted": key, "nested": [{"client_secret": "x"}]});
    let (st, v) = s
        .send(
            "PUT",
            &alice,
            "/v1/spaces/user:me/docs/notes/n1",
            Some(note),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let rows = lockbox_rows(&db).await;
    assert_eq!(rows.len(), 1);
    let sealed = rows[0].2.clone();
    assert!(
        live.find(Duration::from_secs(5), |n, d| n == "events"
            && d["version"] == 2)
            .await
            .is_some()
    );

    let (st, events) = s.get(&admin, "/v1/admin/spaces/user:alice/events").await;
    assert_eq!(st, 200, "{events}");
    let evs = events["events"].as_array().unwrap();
    assert_eq!(evs.len(), 2, "{events}");
    let lockbox = evs.iter().find(|e| e["collection"] == "lockbox").unwrap();
    assert_eq!(
        (&lockbox["value"], &lockbox["redacted"]),
        (&Value::Null, &json!(true))
    );
    let n1 = evs.iter().find(|e| e["collection"] == "notes").unwrap();
    assert_eq!(n1["redacted"], true);
    assert_eq!(
        n1["value"],
        json!({"text": "hello", "api_key": "[redacted]", "pasted": "[redacted]", "nested": [{"client_secret": "[redacted]"}]})
    );
    let (_, overview) = s.get(&admin, "/v1/admin/overview").await;
    // The sealed value's body (after `v1.KID.`) and the key's last 4 too.
    let body = sealed.rsplit('.').next().unwrap();
    for text in [events.to_string(), overview.to_string(), live.all.clone()] {
        assert!(!text.contains(&key), "the key reached the inspector");
        assert!(!text.contains(body), "the ciphertext reached the inspector");
        assert!(
            !text.contains("\"1a2b\""),
            "the key's last 4 reached the inspector"
        );
    }
    s.stop().await;
}

async fn overview_counts_a_live_websocket_and_the_stream_a_write(b: Backend) {
    let (s, _db) = common::start_with(b, |_| {}).await;
    let admin = token("root", Role::Admin);
    let bob = s.token("bob");
    let mut w = Ws::open(&s.base, &bob).await;
    w.hello("tab1", json!({"user:me": null})).await;
    let first = w.recv().await;
    assert!(
        first["type"] == "snapshot" || first["type"] == "events",
        "{first}"
    );

    let (st, o) = s.get(&admin, "/v1/admin/overview").await;
    assert_eq!(st, 200, "{o}");
    assert!(o["connections"]["ws"].as_u64().unwrap() >= 1, "{o}");
    let bob_space = o["spaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["space"] == "user:bob")
        .unwrap_or_else(|| panic!("user:bob is not listed: {o}"));
    assert_eq!(bob_space["subscribers"]["ws"], 1, "{o}");
    assert!(o["totals"]["loaded_spaces"].as_u64().unwrap() >= 2, "{o}");
    let providers = o["catalog"]["providers"].as_array().unwrap();
    assert!(
        providers
            .iter()
            .any(|p| p["id"] == "openai" && p["status"].is_string()),
        "{o}"
    );

    let mut live = Stream::open(&s, &admin, "space=user:bob").await;
    assert!(
        live.find(Duration::from_secs(5), |n, d| n == "events"
            && d["reset"] == true)
            .await
            .is_some()
    );
    assert!(
        live.find(Duration::from_secs(2), |n, _| n == "stats")
            .await
            .is_some()
    );
    let wrote = Instant::now();
    let ack = s
        .put(
            &bob,
            "cli",
            1,
            "user:me",
            "notes",
            "n1",
            json!({"text": "hi"}),
        )
        .await;
    assert_eq!(ack["status"], "ack", "{ack}");
    let ev = live
        .find(Duration::from_secs(1), |n, d| {
            n == "events" && d["reset"] == false
        })
        .await
        .expect("the write's event within a second");
    assert_eq!(ev["events"][0]["collection"], "notes");
    assert_eq!(ev["events"][0]["value"], json!({"text": "hi"}));
    let left = Duration::from_secs(1).saturating_sub(wrote.elapsed());
    let stats = live
        .find(left, |n, d| {
            n == "stats" && d["counted"]["events_committed"].as_u64() >= Some(1)
        })
        .await
        .expect("the write counted within a second");
    assert!(stats["connections"]["ws"].as_u64().unwrap() >= 1, "{stats}");
    // The WebSocket subscriber got it too, and the stream counts deliveries.
    assert_eq!(w.recv().await["type"], "event");
    s.stop().await;
}
