//! README's first command on a fresh machine (`cargo run --release --
//! --dev`): the demo's API-key fields work (seeds 002 and 004) without
//! `TIDEMARK_MASTER_KEYS`, through a development key kept beside the SQLite
//! database; without `--dev` the lockbox stays off.

use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::proc::{Proc, wait_ready};

const KEY: &str = "sk-newcomer000000000000000000000000000000000001a2b";

async fn start(dir: &std::path::Path, dev: bool) -> Proc {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidemark"));
    if dev {
        cmd.arg("--dev");
    }
    #[allow(clippy::zombie_processes)] // Proc's Drop kills and waits.
    let child = cmd
        .env_remove("TIDEMARK_MASTER_KEYS")
        .env("TIDEMARK_JWT_SECRET", crate::common::SECRET)
        .env(
            "TIDEMARK_DATABASE_URL",
            format!("sqlite://{}/t.db?mode=rwc", dir.display()),
        )
        .env("TIDEMARK_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_ready(&base).await, "the server did not start");
    Proc { child, base }
}

async fn put_key(base: &str, key: &str) -> (u16, Value) {
    let t = crate::common::token("newcomer", tidemark::engine::Role::User);
    let r = reqwest::Client::new()
        .put(format!("{base}/v1/lockbox/openai"))
        .bearer_auth(t)
        .json(&json!({"api_key": key}))
        .send()
        .await
        .unwrap();
    crate::common::decode(r).await
}

#[tokio::test]
async fn dev_generates_a_master_key_beside_the_database_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("t.db.dev-master.key");
    // Without --dev: nothing changes, the lockbox is unavailable.
    let p = start(dir.path(), false).await;
    let (st, v) = put_key(&p.base, KEY).await;
    assert_eq!(st, 503, "{v}");
    assert!(!key_file.exists());
    drop(p);
    // With --dev: a key file, 0600, and the lockbox works.
    let p = start(dir.path(), true).await;
    let (st, v) = put_key(&p.base, KEY).await;
    assert_eq!((st, v["last4"].as_str()), (200, Some("1a2b")), "{v}");
    assert!(key_file.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let first = std::fs::read_to_string(&key_file).unwrap();
    drop(p);
    // A restart reads the same key back: the stored key still opens.
    let p = start(dir.path(), true).await;
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), first);
    // The back end's resolution opens the stored key with the key in the file.
    let t = crate::common::token("svc", tidemark::engine::Role::Service);
    let r = reqwest::Client::new()
        .get(format!(
            "{}/internal/v1/users/newcomer/model-config",
            p.base
        ))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    let (st, v) = crate::common::decode(r).await;
    // Never print the answer: it carries the key.
    assert_eq!(
        (st, v["source"].as_str(), v["api_key"].as_str() == Some(KEY)),
        (200, Some("lockbox"), true),
        "code {}",
        v["error"]["code"]
    );
}
