//! A lean HTTP/1.1 keep-alive client for the poll scenario: one connection per
//! poller, requests written from a prebuilt head, responses parsed just enough
//! (status, ETag, Content-Length, body). A general client (reqwest) cost the
//! generator more CPU per request than the server spends answering it, on the
//! same two cores. Also what a raw connection was answered, if anything
//! ([`fate_of`]: the hostile scenario's slow and flooding clients).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::client::{Sources, Target, tcp};

pub struct Http1 {
    s: TcpStream,
    host: String,
    buf: Vec<u8>,
}

pub struct Resp {
    pub status: u16,
    pub etag: Option<String>,
    pub body: Vec<u8>,
}

fn find(h: &[u8], pat: &[u8]) -> Option<usize> {
    h.windows(pat.len()).position(|w| w == pat)
}

impl Http1 {
    pub async fn open(target: &Target, sources: &Sources) -> Result<Http1, String> {
        let s = tcp(target, sources)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        Ok(Http1 {
            s,
            host: target.hostport.clone(),
            buf: Vec::with_capacity(1024),
        })
    }

    /// `GET path` with extra header lines (each `Name: value`).
    pub async fn get(&mut self, path: &str, headers: &[&str]) -> Result<Resp, String> {
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for h in headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        self.s
            .write_all(req.as_bytes())
            .await
            .map_err(|e| format!("send: {e}"))?;
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| "response head is not UTF-8".to_string())?;
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| format!("bad status line in {head:?}"))?;
        let mut len = 0usize;
        let mut etag = None;
        for l in lines {
            let Some((name, value)) = l.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                len = value
                    .parse()
                    .map_err(|_| format!("bad content-length {value}"))?;
            } else if name.eq_ignore_ascii_case("etag") {
                etag = Some(value.to_string());
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(format!("transfer-encoding {value} is not supported here"));
            }
        }
        while self.buf.len() < head_end + len {
            self.fill().await?;
        }
        let body = self.buf[head_end..head_end + len].to_vec();
        self.buf.drain(..head_end + len);
        Ok(Resp { status, etag, body })
    }

    async fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 2048];
        let n = self
            .s
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// What the server did with a connection, as its client saw it.
pub enum Fate {
    /// Nothing yet.
    Open,
    /// Ended without a word.
    Closed,
    /// A response: its status.
    Answer(u16),
}

impl Fate {
    pub fn label(&self) -> String {
        match self {
            Fate::Open => "open at the end".into(),
            Fate::Closed => "closed by the server".into(),
            Fate::Answer(503) => "refused: 503 too_many_connections".into(),
            Fate::Answer(s) => format!("answered {s}"),
        }
    }
}

/// The first answer on `s` before `until`.
pub async fn fate_of(s: &mut TcpStream, until: Instant) -> Fate {
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    loop {
        match tokio::time::timeout_at(until, s.read(&mut buf)).await {
            Err(_) if got.is_empty() => return Fate::Open,
            Ok(Ok(0)) | Ok(Err(_)) if got.is_empty() => return Fate::Closed,
            Ok(Ok(n)) if got.len() + n < 12 => got.extend_from_slice(&buf[..n]),
            Ok(Ok(n)) => {
                got.extend_from_slice(&buf[..n]);
                return Fate::Answer(status_of(&got));
            }
            _ => return Fate::Answer(status_of(&got)),
        }
    }
}

/// `HTTP/1.1 503 ...` -> 503 (0 when it is not a status line).
pub fn status_of(head: &[u8]) -> u16 {
    std::str::from_utf8(head.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
