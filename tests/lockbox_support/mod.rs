//! Shared by the `lockbox_*` tests: keys, a server with lockbox settings, a
//! fake provider API on 127.0.0.1:0, the catalog, and raw database reads.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine as _;
use secrecy::SecretString;
use serde_json::{Value, json};
use tidemark::config::ServeArgs;
use tidemark::engine::Role;

use crate::common::{self, Backend, TestDb, TestServer};

/// Master key line for id `a` (32 bytes of 0x41).
pub fn key_a() -> String {
    format!(
        "a:{}",
        base64::engine::general_purpose::STANDARD.encode([0x41u8; 32])
    )
}

/// Master key line for id `b` (32 bytes of 0x42).
pub fn key_b() -> String {
    format!(
        "b:{}",
        base64::engine::general_purpose::STANDARD.encode([0x42u8; 32])
    )
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A well-formed OpenAI key ending in `1a2b`; `marker` tells the fake
/// provider how to answer (`OKAY`, `DENY`, `QUOTA`, `SILENT`, `BOOM`).
pub fn openai_key(marker: &str) -> String {
    format!("sk-{marker}{}1a2b", unique())
}

pub fn anthropic_key(marker: &str) -> String {
    format!("sk-ant-api03-{marker}{}9z8y", unique())
}

pub fn openrouter_key(marker: &str) -> String {
    format!("sk-or-v1-{marker}{}7c6d", unique())
}

/// Test server settings with master key `a`, no server-wide provider keys
/// (whatever this process's environment holds) and a short check timeout.
pub fn lockbox_args(db: &TestDb) -> ServeArgs {
    let mut a = common::args(db);
    let l = &mut a.lockbox;
    l.master_keys = Some(SecretString::from(key_a()));
    l.openai_api_key = None;
    l.anthropic_api_key = None;
    l.openrouter_api_key = None;
    l.key_check_timeout_ms = 500;
    a
}

pub async fn start(b: Backend) -> (TestDb, TestServer) {
    let db = TestDb::new(b).await;
    let s = TestServer::start(&lockbox_args(&db)).await;
    (db, s)
}

pub fn tok(user: &str, role: Role) -> String {
    common::token(user, role)
}

/// `PUT /v1/lockbox/{provider}` with `{"api_key": key}`.
pub async fn put_key(s: &TestServer, token: &str, provider: &str, key: &str) -> (u16, Value) {
    s.send(
        "PUT",
        token,
        &format!("/v1/lockbox/{provider}"),
        Some(json!({"api_key": key})),
    )
    .await
}

/// The entry for `provider` in `GET /v1/lockbox`.
pub async fn listed(s: &TestServer, token: &str, provider: &str) -> Value {
    let (st, v) = s.get(token, "/v1/lockbox").await;
    assert_eq!(st, 200, "{v}");
    v["providers"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["provider"] == provider))
        .cloned()
        .unwrap_or_else(|| panic!("{provider} is not listed: {v}"))
}

/// A fake provider API: answers by the marker in the key it is sent.
pub struct FakeProvider {
    pub base: String,
    /// `(path, credential)` of every request: the Bearer token or `x-api-key`.
    pub seen: Arc<Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeProvider {
    pub async fn start() -> Self {
        let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |req: Request| {
            let log = log.clone();
            // Read what is needed before any await: a request is not `Sync`.
            let header = |name: &str| {
                req.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string()
            };
            let credential = match header("authorization").strip_prefix("Bearer ") {
                Some(t) => t.to_string(),
                None => header("x-api-key"),
            };
            let path = req.uri().path().to_string();
            async move {
                log.lock().unwrap().push((path, credential.clone()));
                if credential.contains("SILENT") {
                    std::future::pending::<()>().await;
                }
                let status = if credential.contains("OKAY") {
                    StatusCode::OK
                } else if credential.contains("QUOTA") {
                    StatusCode::TOO_MANY_REQUESTS
                } else if credential.contains("BOOM") {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::UNAUTHORIZED
                };
                (status, axum::Json(json!({"data": []}))).into_response()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake provider");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeProvider { base, seen, task }
    }
}

/// A local port nobody listens on (bound, then released).
pub fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

pub fn provider_doc(id: &str, status: &str, fallback: Option<&str>, default_model: &str) -> Value {
    json!({"id": id, "display_name": id, "status": status, "enabled": true,
           "fallback_provider_id": fallback, "default_model_id": default_model, "health_url": null})
}

pub fn model_doc(id: &str, provider: &str) -> Value {
    json!({"id": id, "name": id, "provider_id": provider, "context_window": 8192,
           "max_input_tokens": 8192, "max_output_tokens": 4096, "supports_streaming": true,
           "supports_vision": false, "deprecation_status": "active", "deprecation_date": null,
           "sunset_date": null, "replacement_model_id": null})
}

fn encode(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Writes a catalog document with an admin token.
pub async fn catalog_put(s: &TestServer, collection: &str, id: &str, value: Value) {
    let admin = tok("root", Role::Admin);
    let path = format!("/v1/spaces/catalog/docs/{collection}/{}", encode(id));
    let (st, v) = s.send("PUT", &admin, &path, Some(value)).await;
    assert_eq!(st, 200, "PUT {path}: {v}");
}

pub async fn catalog_delete(s: &TestServer, collection: &str, id: &str) {
    let admin = tok("root", Role::Admin);
    let path = format!("/v1/spaces/catalog/docs/{collection}/{}", encode(id));
    let (st, v) = s.send("DELETE", &admin, &path, None).await;
    assert_eq!(st, 200, "DELETE {path}: {v}");
}

/// openai (falls back to anthropic), anthropic, openrouter, two models each.
pub async fn seed_catalog(s: &TestServer) {
    for (p, fallback, default) in [
        ("openai", Some("anthropic"), "gpt-4o"),
        ("anthropic", None, "claude-sonnet"),
        ("openrouter", None, "openai/gpt-4o"),
    ] {
        catalog_put(
            s,
            "providers",
            p,
            provider_doc(p, "available", fallback, default),
        )
        .await;
    }
    for (m, p) in [
        ("gpt-4o", "openai"),
        ("gpt-4o-mini", "openai"),
        ("claude-sonnet", "anthropic"),
        ("claude-haiku", "anthropic"),
        ("openai/gpt-4o", "openrouter"),
    ] {
        catalog_put(s, "models", m, model_doc(m, p)).await;
    }
}

/// Everything the database holds, as text: for SQLite every file next to the
/// database (main file, WAL, shared memory) read as bytes; for PostgreSQL
/// every row of the tables that could hold a key, cast to text.
pub async fn raw_database_text(db: &TestDb) -> String {
    match db.backend {
        Backend::Sqlite => {
            let path = db.url.trim_start_matches("sqlite://");
            let dir = std::path::Path::new(path).parent().expect("db dir");
            let mut all = Vec::new();
            for entry in std::fs::read_dir(dir).expect("read db dir") {
                let p = entry.expect("entry").path();
                if p.is_file() {
                    all.extend(std::fs::read(&p).expect("read db file"));
                }
            }
            String::from_utf8_lossy(&all).into_owned()
        }
        Backend::Postgres => {
            use sqlx::Row;
            let pool = sqlx::PgPool::connect(&db.url).await.expect("open pg");
            let mut all = String::new();
            for table in ["lockbox", "docs", "events", "mutation_results", "spaces"] {
                let sql = format!("SELECT t::text AS row FROM {table} t");
                for r in sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&pool)
                    .await
                    .expect("select")
                {
                    all.push_str(&r.try_get::<String, _>("row").expect("text"));
                    all.push('\n');
                }
            }
            pool.close().await;
            all
        }
    }
}

/// `(owner, provider, sealed)` of every lockbox row.
pub async fn lockbox_rows(db: &TestDb) -> Vec<(String, String, String)> {
    use sqlx::Row;
    let sql = "SELECT owner, provider, sealed FROM lockbox ORDER BY owner, provider";
    match db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.expect("open");
            let r = sqlx::query(sql).fetch_all(&pool).await.expect("select");
            let out = r
                .iter()
                .map(|r| (r.get("owner"), r.get("provider"), r.get("sealed")))
                .collect();
            pool.close().await;
            out
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("open");
            let r = sqlx::query(sql).fetch_all(&pool).await.expect("select");
            let out = r
                .iter()
                .map(|r| (r.get("owner"), r.get("provider"), r.get("sealed")))
                .collect();
            pool.close().await;
            out
        }
    }
}

/// Opens a stored row with `keys` (a `TIDEMARK_MASTER_KEYS` line).
pub fn open_row(keys: &str, owner: &str, provider: &str, sealed: &str) -> Option<String> {
    use secrecy::ExposeSecret;
    use tidemark::domain::lockbox::{Aad, MasterKeys, Provider, Sealed, open};
    let keys = MasterKeys::parse(keys).ok()?;
    let sealed = Sealed::parse(sealed).ok()?;
    let aad = Aad::new(owner, Provider::parse(provider).ok()?);
    open(&keys, &sealed, &aad)
        .ok()
        .map(|s| s.expose_secret().to_string())
}
