//! A minimal server-sent events reader over a real HTTP response.
#![allow(dead_code)]

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use super::TestServer;

/// A minimal SSE reader over a real HTTP response.
pub struct Sse {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
    pub comments: usize,
    /// Return `presence_state` / `presence_diff` events (skipped by default).
    pub presence: bool,
}

#[derive(Debug)]
pub struct SseEvent {
    pub name: String,
    pub id: String,
    pub data: Value,
}

impl Sse {
    pub async fn open(s: &TestServer, token: &str, query: &str, last_id: Option<&str>) -> Sse {
        let mut rb = s
            .http
            .get(s.url(&format!("/v1/events?{query}")))
            .bearer_auth(token);
        if let Some(id) = last_id {
            rb = rb.header("last-event-id", id);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Sse {
            body: r.bytes_stream().boxed(),
            buf: String::new(),
            comments: 0,
            presence: false,
        }
    }

    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut name, mut id, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    } else if line.starts_with(':') {
                        self.comments += 1;
                    }
                }
                if name.is_empty() || (!self.presence && name.starts_with("presence_")) {
                    continue;
                }
                return Some(SseEvent {
                    name,
                    id,
                    data: serde_json::from_str(&data).expect("data is JSON"),
                });
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.body.next())
                .await
                .ok()??
                .ok()?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads until a heartbeat comment arrives.
    pub async fn next_comment(&mut self) -> bool {
        let before = self.comments;
        for _ in 0..20 {
            let Ok(Some(Ok(chunk))) =
                tokio::time::timeout(Duration::from_millis(500), self.body.next()).await
            else {
                return false;
            };
            let text = String::from_utf8_lossy(&chunk).to_string();
            if text.lines().any(|l| l.starts_with(':')) {
                self.comments += 1;
            }
            if self.comments > before {
                return true;
            }
        }
        false
    }
}
