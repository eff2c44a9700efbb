//! `tidemark watch SPACE`: a real process following a real server prints
//! every version of the space once, in order, across a server restart.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::proc::{spawn_server, spawn_server_on};
use common::ws::Replica;
use common::{Backend, TestDb, token};
use serde_json::{Value, json};
use tidemark::engine::Role;

both_stores!(watch_prints_every_version_once_across_a_restart);

/// Kills the watcher if the test ends early.
struct Killed(Option<std::process::Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits up to 15 s for `c` to exit; kills it and returns `None` past that.
fn exit_within_15s(c: &mut std::process::Child) -> Option<std::process::ExitStatus> {
    for _ in 0..150 {
        if let Ok(Some(s)) = c.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = c.kill();
    let _ = c.wait();
    None
}

/// The next line `tidemark watch` printed, as JSON.
async fn next(lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> Value {
    let l = tokio::time::timeout(Duration::from_secs(15), lines.recv())
        .await
        .expect("a line within 15 s")
        .expect("watch still running");
    serde_json::from_str(&l).expect("each line is JSON")
}

async fn put(base: &str, tok: &str, i: u64) {
    let r = reqwest::Client::new()
        .put(format!("{base}/v1/spaces/user:me/docs/notes/n{i}"))
        .bearer_auth(tok)
        .json(&json!({"i": i}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 200);
}

async fn watch_prints_every_version_once_across_a_restart(b: Backend) {
    let db = TestDb::new(b).await;
    let mut server = spawn_server(&db).await;
    let alice = token("alice", Role::User);
    put(&server.base, &alice, 1).await;
    // Watch as the service role (the default token), by alice's real name.
    let mut watch = Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .args([
            "watch",
            "user:alice",
            "--server",
            &server.base,
            "--count",
            "3",
        ])
        .env("TIDEMARK_JWT_SECRET", common::SECRET)
        .env_remove("TIDEMARK_TOKEN")
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tidemark watch");
    let stdout = watch.stdout.take().expect("stdout");
    let mut watch = Killed(Some(watch));
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut rep = Replica::default();
    let first = next(&mut lines).await;
    assert_eq!(first["type"], "snapshot", "{first}");
    assert_eq!(first["space"], "user:alice");
    rep.apply(&first);
    put(&server.base, &alice, 2).await;
    rep.apply(&next(&mut lines).await);
    assert_eq!(rep.version, 2);

    // The server dies and comes back on the same port; writes go on.
    let port: u16 = server.base.rsplit(':').next().unwrap().parse().unwrap();
    server.child.kill().expect("kill -9");
    let _ = server.child.wait();
    let server = spawn_server_on(&db, port).await;
    put(&server.base, &alice, 3).await;
    put(&server.base, &alice, 4).await;
    while rep.version < 4 {
        rep.apply(&next(&mut lines).await);
    }
    assert_eq!(
        rep.seen,
        vec![2, 3, 4],
        "every version after the snapshot once, in order"
    );
    assert_eq!(
        rep.snapshots, 1,
        "resumed from its cursor, not a new snapshot"
    );
    let mut child = watch.0.take().expect("child");
    let status = tokio::task::spawn_blocking(move || exit_within_15s(&mut child))
        .await
        .expect("join")
        .expect("watch exits within 15 s of its last change");
    assert!(status.success(), "watch exits 0 after --count (3) changes");
    drop(server);
}
