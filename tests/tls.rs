//! HTTPS and `wss://` served by tidemark itself (`TIDEMARK_TLS_CERT` /
//! `TIDEMARK_TLS_KEY`): certificates made here with rcgen, real TLS
//! clients (rustls under reqwest and tungstenite) that trust only the
//! test's own authority, reloads on file change and on SIGHUP without
//! dropping open connections, plain HTTP refused with a readable answer.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::sse::Sse;
use common::ws::{Replica, Ws, connect_via};
use common::{Backend, TestDb, TestServer, args};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::{Value, json};

both_stores!(wss_https_and_sse_over_tls);

/// A certificate authority of the test's own, and a leaf it signed for
/// 127.0.0.1 / localhost.
struct Pki {
    ca_der: Vec<u8>,
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki(name: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, name);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    Pki {
        ca_der: ca_cert.der().to_vec(),
        ca_pem: ca_cert.pem(),
        cert_pem: leaf.pem(),
        key_pem: key.serialize_pem(),
    }
}

impl Pki {
    fn write(&self, dir: &Path) {
        // Key first: a reload between the two writes sees a mismatched pair
        // and keeps the old certificate (the next change check reads both).
        std::fs::write(dir.join("key.pem"), &self.key_pem).unwrap();
        std::fs::write(dir.join("cert.pem"), &self.cert_pem).unwrap();
    }

    /// An HTTPS client trusting this authority only.
    fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap())
            .build()
            .unwrap()
    }

    /// The same trust for a `wss://` client.
    fn ws(&self) -> tokio_tungstenite::Connector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone().into()).unwrap();
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        tokio_tungstenite::Connector::Rustls(Arc::new(cfg))
    }
}

/// A server on `db` with TLS from `dir`; `base` and `http` speak HTTPS.
async fn tls_server(db: &TestDb, dir: &Path, ca: &Pki, reload_ms: u64) -> TestServer {
    let mut a = args(db);
    a.net.tls_cert = Some(dir.join("cert.pem"));
    a.net.tls_key = Some(dir.join("key.pem"));
    a.net.tls_reload_interval_ms = reload_ms;
    let mut s = TestServer::start(&a).await;
    s.base = format!("https://127.0.0.1:{}", s.addr.port());
    s.http = ca.http();
    s
}

fn put(mid: u64, id: &str, value: Value) -> Value {
    json!({"type": "mutate", "mutation_id": mid, "space": "user:me",
           "ops": [{"op": "put", "collection": "items", "id": id, "value": value}]})
}

async fn wss_https_and_sse_over_tls(b: Backend) {
    let db = TestDb::new(b).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = pki("tidemark test CA");
    ca.write(dir.path());
    let s = tls_server(&db, dir.path(), &ca, 0).await;
    let t = s.token("alice");

    let r = s.http.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "HTTPS answers");

    // A real wss:// client: subscribe, write over the socket, get the ack.
    let mut tab = connect_via(&s.base, Some(&t), Some(ca.ws()))
        .await
        .expect("wss:// connects with the test's CA");
    assert_eq!(tab.recv().await["type"], "welcome");
    tab.hello("tab1", json!({"user:me": null})).await;
    let snap = tab.recv().await;
    assert_eq!(snap["type"], "snapshot", "{snap}");
    let mut rep = Replica::default();
    rep.apply(&snap);
    tab.send(put(1, "first", json!({"n": 1}))).await;
    let mut acked = false;
    while !(acked && rep.version >= 1) {
        let f = tab.recv().await;
        if f["type"] == "ack" {
            acked = true;
        }
        rep.apply(&f);
    }

    // An SSE reader over HTTPS sees the same space.
    let mut sse = Sse::open(&s, &t, "space=user:me", None).await;

    // A burst written over HTTPS while the WebSocket reads nothing: 8 MB,
    // more than the socket buffers and the TLS layer hold, so writes block,
    // the space falls behind and is caught up as the reader drains, and
    // whatever the TLS layer holds at the end must still be flushed.
    let big = "x".repeat(40_000);
    for r in 0..40u64 {
        let mutations: Vec<Value> = (0..5u64)
            .map(|k| {
                let i = r * 5 + k;
                json!({"mutation_id": 100 + i, "space": "user:me", "ops": [{"op": "put",
                    "collection": "items", "id": format!("b{i}"), "value": {"pad": big, "i": i}}]})
            })
            .collect();
        let res = s
            .sync(&t, json!({"client_id": "writer", "mutations": mutations}))
            .await;
        for m in res["results"].as_array().unwrap() {
            assert_eq!(m["status"], "ack", "{m}");
        }
    }
    // Read slowly, so the server's socket stays full to the last frame.
    while rep.version < 201 {
        let f = tab.recv().await;
        rep.apply(&f);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    assert_eq!(rep.docs.len(), 201, "every write arrived over wss://");
    let first = sse.next().await.expect("an SSE event over HTTPS");
    assert!(
        ["snapshot", "events", "event"].contains(&first.name.as_str()),
        "{first:?}"
    );
    drop(sse);

    // Plain HTTP to the TLS port: a readable 400, not a hang or garbage.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/readyz", s.addr.port()))
        .send()
        .await
        .expect("the plaintext request gets an answer");
    assert_eq!(plain.status(), 400);
    let body: Value = plain.json().await.unwrap();
    assert_eq!(body["error"]["code"], "tls_required", "{body}");
    // A plain ws:// client is refused the same way.
    let refused = connect_via(
        &format!("http://127.0.0.1:{}", s.addr.port()),
        Some(&t),
        None,
    )
    .await;
    assert!(refused.is_err(), "ws:// to the TLS port must fail");
    // A client that trusts another authority fails its handshake.
    let other = pki("someone else");
    assert!(
        other.http().get(s.url("/readyz")).send().await.is_err(),
        "a certificate from an unknown authority is refused by the client"
    );
    // None of this hurt the open connection.
    tab.roundtrip(7).await;
    let text = metrics(&s.http, &s).await;
    assert!(
        text.contains(r#"tidemark_tls_refused_total{reason="plaintext"}"#),
        "plaintext refusals are counted"
    );
    s.stop().await;
}

/// Polls until a client trusting `ca` gets through (a reload happened).
async fn until_trusted(ca: &Pki, url: &str) -> bool {
    let http = ca.http();
    for _ in 0..100 {
        if http.get(url).send().await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_changed_certificate_is_served_without_dropping_connections() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (pki("authority A"), pki("authority B"));
    a.write(dir.path());
    let s = tls_server(&db, dir.path(), &a, 100).await;
    let t = s.token("alice");
    let ready = s.url("/readyz");
    let mut tab = Ws::open_via(&s.base, &t, a.ws()).await;
    tab.hello("tab", json!({"user:me": null})).await;
    let mut rep = Replica::default();
    rep.apply(&tab.recv().await);

    b.write(dir.path());
    assert!(
        until_trusted(&b, &ready).await,
        "the new certificate is served"
    );
    assert!(
        a.http().get(&ready).send().await.is_err(),
        "the old one is not served to new connections"
    );
    // The connection opened under the old certificate still works.
    let r = b
        .http()
        .post(s.url("/v1/sync"))
        .bearer_auth(&t)
        .json(
            &json!({"client_id": "w", "mutations": [{"mutation_id": 1, "space": "user:me",
        "ops": [{"op": "put", "collection": "items", "id": "after-reload", "value": {}}]}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    while rep.version < 1 {
        rep.apply(&tab.recv().await);
    }
    assert!(
        rep.docs
            .contains_key(&("items".to_string(), "after-reload".to_string()))
    );

    // A file that does not load leaves the served certificate in place.
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    let http = b.http();
    let mut errors = 0.0;
    for _ in 0..100 {
        let text = metrics(&http, &s).await;
        errors = metric(&text, r#"tidemark_tls_reloads_total{result="error"}"#);
        if errors >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(errors >= 1.0, "the failed reload is counted");
    assert_eq!(http.get(&ready).send().await.unwrap().status(), 200);
    tab.roundtrip(1).await;
    s.stop().await;
}

/// `/metrics` as an operator reads it (an admin token).
async fn metrics(http: &reqwest::Client, s: &TestServer) -> String {
    let token = common::token("ops", tidemark::engine::Role::Admin);
    let r = http.get(s.url("/metrics")).bearer_auth(token).send().await;
    r.unwrap().text().await.unwrap()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The real binary, reloading on SIGHUP only (no file polling).
#[tokio::test]
async fn sighup_reloads_the_certificate() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (pki("authority A"), pki("authority B"));
    a.write(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .env("TIDEMARK_DATABASE_URL", &db.url)
        .env("TIDEMARK_JWT_SECRET", common::SECRET)
        .env("TIDEMARK_LISTEN", format!("127.0.0.1:{port}"))
        .env("TIDEMARK_HEALTH_INTERVAL_MS", "0")
        .env("TIDEMARK_TLS_CERT", dir.path().join("cert.pem"))
        .env("TIDEMARK_TLS_KEY", dir.path().join("key.pem"))
        .env("TIDEMARK_TLS_RELOAD_INTERVAL_MS", "0")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the tidemark binary");
    let _proc = common::proc::Proc {
        child,
        base: format!("https://127.0.0.1:{port}"),
    };
    let pid = _proc.child.id();
    let ready = format!("https://127.0.0.1:{port}/readyz");
    assert!(until_trusted(&a, &ready).await, "the binary serves HTTPS");
    let base = format!("https://127.0.0.1:{port}");
    let t = common::token("alice", tidemark::engine::Role::User);
    let mut tab = Ws::open_via(&base, &t, a.ws()).await;

    b.write(dir.path());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        b.http().get(&ready).send().await.is_err(),
        "without SIGHUP (and with polling off) the old certificate is still served"
    );
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    assert!(until_trusted(&b, &ready).await, "SIGHUP loads the new one");
    tab.roundtrip(3).await;

    // Without TLS, SIGHUP (`systemctl reload`) must not end the server.
    let plain = common::proc::spawn_server(&db).await;
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &plain.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        common::proc::wait_ready(&plain.base).await,
        "still serving after SIGHUP"
    );
}

#[tokio::test]
async fn bad_tls_settings_stop_the_server_at_start() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (pki("A"), pki("B"));
    a.write(dir.path());
    let start = |tune: &dyn Fn(&mut tidemark::config::ServeArgs)| {
        let mut args = args(&db);
        tune(&mut args);
        async move {
            match tidemark::server::build(&args).await {
                Ok(_) => String::new(),
                Err(e) => e.to_string(),
            }
        }
    };
    let e = start(&|a| a.net.tls_cert = Some(dir.path().join("cert.pem"))).await;
    assert!(e.contains("without TIDEMARK_TLS_KEY"), "{e}");
    // B's key with A's certificate.
    std::fs::write(dir.path().join("other.key"), &b.key_pem).unwrap();
    let e = start(&|a| {
        a.net.tls_cert = Some(dir.path().join("cert.pem"));
        a.net.tls_key = Some(dir.path().join("other.key"));
    })
    .await;
    assert!(e.contains("does not fit"), "{e}");
    assert!(
        !e.contains("PRIVATE KEY"),
        "no key material in the error: {e}"
    );
    let e = start(&|a| {
        a.net.tls_cert = Some(dir.path().join("missing.pem"));
        a.net.tls_key = Some(dir.path().join("key.pem"));
    })
    .await;
    assert!(e.contains("missing.pem"), "{e}");
}
