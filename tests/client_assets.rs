//! The server serves the browser client: every module of `clients/js/src/`
//! as it is on disk (a module added without a route fails here), the client
//! as one file at `/client/tidemark.js`, and nothing outside the table.

mod common;

use std::path::Path;

use common::{Backend, TestDb, TestServer, args, files_with_extension};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const JS: &str = "text/javascript; charset=utf-8";

/// A server of its own (with its database, which must live as long).
async fn start() -> (TestDb, TestServer) {
    let db = TestDb::new(Backend::Sqlite).await;
    let s = TestServer::start(&args(&db)).await;
    (db, s)
}

/// The body of `path`, checked to be JavaScript revalidated on every use;
/// `None` when it is not found.
async fn javascript(s: &TestServer, path: &str) -> Option<String> {
    let r = s.http.get(s.url(path)).send().await.expect("request");
    if r.status() == 404 {
        return None;
    }
    assert_eq!(r.status(), 200, "{path}");
    assert_eq!(r.headers()["content-type"], JS, "{path}");
    assert_eq!(r.headers()["cache-control"], "no-cache", "{path}");
    Some(r.text().await.unwrap())
}

/// The status line of a GET of `target` sent as it is (an HTTP client would
/// resolve `..` before sending).
async fn raw_status(s: &TestServer, target: &str) -> String {
    let mut sock = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let req = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        s.addr
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    sock.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    text.lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn every_client_module_is_served_as_it_is_on_disk() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/js");
    let mut files = vec![];
    files_with_extension(&root.join("src"), "js", &mut files);
    assert!(!files.is_empty(), "no modules under clients/js/src");
    let (_db, s) = start().await;
    for file in files {
        let rel = file.strip_prefix(&root).unwrap().to_str().unwrap();
        let body = javascript(&s, &format!("/client/{rel}"))
            .await
            .unwrap_or_else(|| {
                panic!("/client/{rel}: add it to CLIENT_MODULES in src/http/assets/mod.rs")
            });
        assert!(
            body == std::fs::read_to_string(&file).unwrap(),
            "{rel}: not the file on disk"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn the_client_is_served_as_one_file() {
    let (_db, s) = start().await;
    let body = javascript(&s, "/client/tidemark.js").await.unwrap();
    // Self-contained: a page (or an app shell caching this one file) needs nothing else.
    assert!(!body.lines().any(|l| l.starts_with("import")), "{body}");
    assert!(body.contains("class TidemarkClient"));
    assert!(
        body.trim_end().ends_with("TidemarkClient as default };"),
        "the entry's exports come last"
    );
    s.stop().await;
}

#[tokio::test]
async fn nothing_outside_the_client_is_served() {
    let (_db, s) = start().await;
    for target in [
        "/client/src/../../Cargo.toml",
        "/client/src/%2e%2e/%2e%2e/Cargo.toml",
        "/client/src/..%2f..%2fCargo.toml",
        "/client/../Cargo.toml",
        "/client/src/missing.js",
        "/client/src/",
        "/client/package.json",
    ] {
        let line = raw_status(&s, target).await;
        assert!(line.starts_with("HTTP/1.1 404"), "{target}: {line}");
    }
    s.stop().await;
}
