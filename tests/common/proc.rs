//! A tidemark server as a real process of its own (the built binary), for
//! tests that kill it or run several nodes.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::TestDb;

pub struct Proc {
    pub child: Child,
    pub base: String,
}

impl Drop for Proc {
    /// Never leave a server behind, whatever the test's outcome.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on a free port over `db`; returns once `/readyz` answers.
pub async fn spawn_server(db: &TestDb) -> Proc {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    spawn_server_on(db, port).await
}

/// [`spawn_server`] on a given port (a restart where clients expect it).
pub async fn spawn_server_on(db: &TestDb, port: u16) -> Proc {
    #[allow(clippy::zombie_processes)] // Proc's Drop kills and waits.
    let child = Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .env("TIDEMARK_DATABASE_URL", &db.url)
        .env("TIDEMARK_JWT_SECRET", super::SECRET)
        .env("TIDEMARK_LISTEN", format!("127.0.0.1:{port}"))
        .env("TIDEMARK_HEALTH_INTERVAL_MS", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the tidemark binary");
    let base = format!("http://127.0.0.1:{port}");
    if wait_ready(&base).await {
        return Proc { child, base };
    }
    panic!("the server did not become ready");
}

/// Polls `/readyz` for up to 10 s; true once it answers 200.
pub async fn wait_ready(base: &str) -> bool {
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
