//! Shared test harness: a real server on 127.0.0.1:0 over a real database
//! (a fresh SQLite file or a fresh PostgreSQL database per test).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tidemark::config::ServeArgs;
use tidemark::engine::Role;
use tidemark::http::AppState;
use tokio::sync::oneshot;

pub const SECRET: &str = "test-secret-0123456789abcdef";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(Backend)` against SQLite and PostgreSQL.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A database of its own for one test; PostgreSQL ones are dropped at the end.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

pub fn pg_admin_url() -> String {
    std::env::var("TIDEMARK_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("tidemark.db").display());
                TestDb {
                    url,
                    backend,
                    _dir: Some(dir),
                    pg: None,
                }
            }
            Backend::Postgres => {
                let admin = pg_admin_url();
                let name = format!("tm_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = connect_pg(&admin).await;
                use sqlx::Executor;
                conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("create test database");
                let base = admin
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_string())
                    .unwrap_or(admin.clone());
                let url = format!("{base}/{name}");
                TestDb {
                    url,
                    backend,
                    _dir: None,
                    pg: Some((admin, name)),
                }
            }
        }
    }

    /// `SELECT COUNT(*)` of a table's rows for a space.
    pub async fn count(&self, table: &str, space: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE space = $1");
        self.scalar_i64(&sql, space).await
    }

    pub async fn scalar_i64(&self, sql: &str, arg: &str) -> i64 {
        use sqlx::Row;
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self.backend {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.url)
                    .await
                    .expect("open sqlite");
                let row = sqlx::query(sql)
                    .bind(arg)
                    .fetch_one(&pool)
                    .await
                    .expect("query");
                let n: i64 = row.try_get(0).expect("i64");
                pool.close().await;
                n
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.url).await.expect("open pg");
                let row = sqlx::query(sql)
                    .bind(arg)
                    .fetch_one(&pool)
                    .await
                    .expect("query");
                let n: i64 = row.try_get(0).expect("i64");
                pool.close().await;
                n
            }
        }
    }

    pub async fn execute(&self, sql: &str, arg: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self.backend {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.url)
                    .await
                    .expect("open sqlite");
                sqlx::query(sql)
                    .bind(arg)
                    .execute(&pool)
                    .await
                    .expect("execute");
                pool.close().await;
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.url).await.expect("open pg");
                sqlx::query(sql)
                    .bind(arg)
                    .execute(&pool)
                    .await
                    .expect("execute");
                pool.close().await;
            }
        }
    }
}

async fn connect_pg(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    match sqlx::PgConnection::connect(url).await {
        Ok(c) => c,
        Err(e) => panic!(
            "PostgreSQL is needed for this test and {url} does not answer ({e}). \
             Run `scripts/test` (it starts one), or set TIDEMARK_TEST_DATABASE_URL to a server \
             where this user may CREATE DATABASE."
        ),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg.take() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        use sqlx::{Connection, Executor};
                        if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                            let _ = c
                                .execute(sqlx::AssertSqlSafe(format!(
                                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                )))
                                .await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

/// Test defaults: the given database, a known secret, small and quick limits.
pub fn args(db: &TestDb) -> ServeArgs {
    let mut a = ServeArgs::defaults();
    a.listen = "127.0.0.1:0".parse().expect("addr");
    a.database_url = db.url.clone();
    a.jwt_secret = Some(SECRET.to_string());
    a.dev = false;
    // The shipped catalog's providers have health URLs; tests that count
    // catalog versions must not see a probe's status change (tests of the
    // probes turn them on).
    a.health_interval_ms = 0;
    a
}

/// A server on a fresh database of `backend`, its settings adjusted by `tune`.
pub async fn start_with(
    backend: Backend,
    tune: impl FnOnce(&mut ServeArgs),
) -> (TestServer, TestDb) {
    let db = TestDb::new(backend).await;
    let mut a = args(&db);
    tune(&mut a);
    (TestServer::start(&a).await, db)
}

/// A real server in this process, on its own port.
pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub state: AppState,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(args: &ServeArgs) -> Self {
        let state = tidemark::server::build(args).await.expect("server builds");
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(tidemark::server::serve(listener, state.clone(), async {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            base: format!("http://{addr}"),
            state,
            http: reqwest::Client::new(),
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stops accepting, waits for the server task to end.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
        }
    }

    pub fn token(&self, user: &str) -> String {
        token(user, Role::User)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        decode(r).await
    }

    pub async fn send(
        &self,
        method: &str,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self.http.request(m, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        decode(rb.send().await.expect("request")).await
    }

    /// `POST /v1/sync`.
    pub async fn sync(&self, token: &str, body: Value) -> Value {
        let (status, v) = self.send("POST", token, "/v1/sync", Some(body)).await;
        assert_eq!(status, 200, "sync failed: {v}");
        v
    }

    /// Puts one document through `/v1/sync` as `client_id`/`mutation_id`.
    #[allow(clippy::too_many_arguments)]
    pub async fn put(
        &self,
        token: &str,
        client: &str,
        mid: u64,
        space: &str,
        coll: &str,
        id: &str,
        value: Value,
    ) -> Value {
        let body = json!({"client_id": client, "mutations": [{"mutation_id": mid, "space": space,
            "ops": [{"op": "put", "collection": coll, "id": id, "value": value}]}]});
        self.sync(token, body).await["results"][0].clone()
    }
}

pub fn token(user: &str, role: Role) -> String {
    let auth = tidemark::http::auth::Auth::new(SECRET.as_bytes(), None);
    auth.mint(user, role, 3600).expect("mint").0
}

/// Appends every file under `dir` (recursively) whose extension is `ext`.
pub fn files_with_extension(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_with_extension(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

pub async fn decode(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v)
}
pub mod cluster;
pub mod proc;
pub mod sse;
pub mod teams;
pub mod ws;
