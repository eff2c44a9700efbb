//! The lockbox through the real binary: refusing bad master keys, `keygen`,
//! `lockbox rotate` from key A to key B, and the server's own log output
//! never holding a key.

mod common;
mod lockbox_support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{Backend, TestDb, TestServer};
use lockbox_support::*;
use serde_json::json;
use tidemark::domain::lockbox::MasterKeys;
use tidemark::engine::Role;

both_stores!(
    rotation_moves_every_key_from_a_to_b_and_a_rerun_rotates_nothing,
    server_and_rotation_logs_never_contain_a_key,
);

const BIN: &str = env!("CARGO_BIN_EXE_tidemark");

fn tidemark(db: &TestDb, master_keys: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("TIDEMARK_DATABASE_URL", &db.url)
        .env("TIDEMARK_MASTER_KEYS", master_keys)
        .env("RUST_LOG", "debug")
        .output()
        .expect("run the tidemark binary")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn a_malformed_master_key_stops_the_server_with_the_reason() {
    let db = TestDb::new(Backend::Sqlite).await;
    let short = format!("a:{}", base64_of(&[7u8; 16]));
    let cases = [
        (short.clone(), "must decode to 32 bytes, got 16"),
        (
            "a:not*base64*at*all".to_string(),
            "not valid standard base64",
        ),
        (key_a().replace(':', ""), "has no ':'"),
        (format!("{},{}", key_a(), key_a()), "appears more than once"),
        (format!("{},", key_a()), "entry 2 is empty"),
        (String::new(), "TIDEMARK_MASTER_KEYS is empty"),
    ];
    for (keys, says) in cases {
        let out = Command::new(BIN)
            .env("TIDEMARK_DATABASE_URL", &db.url)
            .env("TIDEMARK_JWT_SECRET", common::SECRET)
            .env("TIDEMARK_LISTEN", "127.0.0.1:0")
            .env("TIDEMARK_MASTER_KEYS", &keys)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .output()
            .expect("run tidemark");
        let shown = text(&out);
        assert!(!out.status.success(), "started with {keys:?}: {shown}");
        assert!(shown.contains(says), "{keys:?} -> {shown}");
        assert!(shown.contains("TIDEMARK_MASTER_KEYS"), "{shown}");
        for material in [base64_of(&[0x41u8; 32]), base64_of(&[7u8; 16])] {
            assert!(!shown.contains(&material), "the key is echoed: {shown}");
        }
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn keygen_prints_a_new_usable_key_each_time() {
    let run = |args: &[&str]| {
        let out = Command::new(BIN).args(args).output().expect("keygen");
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let one = run(&["keygen", "--kid", "k1"]);
    let two = run(&["keygen", "--kid", "k2"]);
    assert!(
        one.starts_with("k1:") && two.starts_with("k2:"),
        "{one} {two}"
    );
    let ring = MasterKeys::parse(&format!("{one},{two}")).expect("keygen output parses");
    assert_eq!(ring.primary_kid(), "k1");
    assert_ne!(one[3..], two[3..]);
    let default = run(&["keygen"]);
    assert!(MasterKeys::parse(&default).is_ok(), "{default}");
    let bad = Command::new(BIN)
        .args(["keygen", "--kid", "no spaces"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

/// Stores keys for three users under key A through the HTTP API.
async fn store_keys_under_a(db: &TestDb) -> Vec<(String, String, String)> {
    let s = TestServer::start(&lockbox_args(db)).await;
    let mut stored = Vec::new();
    for user in ["alice", "bob", "carol"] {
        let t = s.token(user);
        for (provider, key) in [
            ("openai", openai_key("ROT")),
            ("anthropic", anthropic_key("ROT")),
        ] {
            let (st, v) = put_key(&s, &t, provider, &key).await;
            assert_eq!(st, 200, "{v}");
            stored.push((user.to_string(), provider.to_string(), key));
        }
    }
    s.stop().await;
    stored
}

async fn rotation_moves_every_key_from_a_to_b_and_a_rerun_rotates_nothing(b: Backend) {
    let db = TestDb::new(b).await;
    let stored = store_keys_under_a(&db).await;
    let rows = lockbox_rows(&db).await;
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r.2.starts_with("v1.a.")));

    // An interrupted earlier run: one row already under B.
    let b_then_a = format!("{},{}", key_b(), key_a());
    {
        use tidemark::domain::lockbox::{Aad, Provider, Sealed, reseal, store::LockboxStore};
        let keys = MasterKeys::parse(&b_then_a).unwrap();
        let store = LockboxStore::open(&db.url).await.unwrap();
        let (owner, provider, sealed) = &rows[0];
        let old = Sealed::parse(sealed).unwrap();
        let p = Provider::parse(provider).unwrap();
        let new = reseal(&keys, &old, &Aad::new(owner.as_str(), p)).unwrap();
        assert!(store.replace_sealed(owner, p, &old, &new).await.unwrap());
        // A stale conditional update (the row moved on) changes nothing.
        assert!(!store.replace_sealed(owner, p, &old, &new).await.unwrap());
        store.close().await;
    }

    let out = tidemark(&db, &b_then_a, &["lockbox", "rotate"]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("6 keys scanned, 5 re-encrypted under 'b', 1 already current, 0 changed meanwhile, 0 failed"),
        "{shown}"
    );
    let rows = lockbox_rows(&db).await;
    assert_eq!(rows.len(), 6);
    for (owner, provider, sealed) in &rows {
        assert!(
            sealed.starts_with("v1.b."),
            "{owner}/{provider} still under A: {sealed}"
        );
        let want = stored
            .iter()
            .find(|s| &s.0 == owner && &s.1 == provider)
            .map(|s| s.2.as_str());
        assert_eq!(
            open_row(&key_b(), owner, provider, sealed).as_deref(),
            want,
            "B alone opens it"
        );
    }

    let again = tidemark(&db, &b_then_a, &["lockbox", "rotate"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("6 keys scanned, 0 re-encrypted under 'b', 6 already current"),
        "{}",
        text(&again)
    );

    // A server holding only B serves every key.
    let mut a = lockbox_args(&db);
    a.lockbox.master_keys = Some(key_b().into());
    let s = TestServer::start(&a).await;
    seed_catalog(&s).await;
    let (st, v) = s
        .send(
            "PUT",
            &s.token("bob"),
            "/v1/spaces/user:me/docs/model_config/current",
            Some(json!({"preferred_provider": "anthropic"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s
        .get(
            &tok("svc", Role::Service),
            "/internal/v1/users/bob/model-config",
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let want = stored
        .iter()
        .find(|s| s.0 == "bob" && s.1 == "anthropic")
        .unwrap();
    assert_eq!(v["api_key"], json!(want.2));
    s.stop().await;

    // Without the old key listed, a row still under A is reported, not lost.
    let db2 = TestDb::new(b).await;
    store_keys_under_a(&db2).await;
    let out = tidemark(&db2, &key_b(), &["lockbox", "rotate"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("6 failed") && text(&out).contains("key id 'a'"),
        "{}",
        text(&out)
    );
    assert!(
        lockbox_rows(&db2)
            .await
            .iter()
            .all(|r| r.2.starts_with("v1.a."))
    );
}

struct Proc {
    child: std::process::Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn server_and_rotation_logs_never_contain_a_key(b: Backend) {
    let db = TestDb::new(b).await;
    let fake = FakeProvider::start().await;
    let logs = tempfile::tempdir().unwrap();
    let env_key = anthropic_key("ENVOKAY");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = std::fs::File::create(logs.path().join("out")).unwrap();
    let err = std::fs::File::create(logs.path().join("err")).unwrap();
    #[allow(clippy::zombie_processes)] // Proc's Drop kills and waits.
    let child = Command::new(BIN)
        .env("TIDEMARK_DATABASE_URL", &db.url)
        .env("TIDEMARK_JWT_SECRET", common::SECRET)
        .env("TIDEMARK_LISTEN", format!("127.0.0.1:{port}"))
        .env("TIDEMARK_MASTER_KEYS", key_a())
        .env("ANTHROPIC_API_KEY", &env_key)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENROUTER_API_KEY")
        .env("OPENAI_BASE_URL", format!("{}/v1", fake.base))
        .env("ANTHROPIC_BASE_URL", &fake.base)
        .env("RUST_LOG", "debug")
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("start tidemark");
    let mut proc = Proc { child };
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    assert!(
        common::proc::wait_ready(&base).await,
        "the server did not become ready"
    );
    let call = |method: &str, token: &str, path: &str, body: Option<serde_json::Value>| {
        let mut rb = http
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .bearer_auth(token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        async move { common::decode(rb.send().await.expect("request")).await }
    };
    let admin = tok("root", Role::Admin);
    let alice = tok("alice", Role::User);
    let service = tok("svc", Role::Service);
    let key = openai_key("OKAY");
    let bad = openai_key("DENY");
    let refused = openai_key("tooshort").replace("sk-", "xx-");

    // Set (checked live), list, refuse, validate, resolve, delete.
    let (st, v) = call(
        "PUT",
        &alice,
        "/v1/lockbox/openai?validate=true",
        Some(json!({"api_key": key})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (st, _) = call(
        "PUT",
        &alice,
        "/v1/lockbox/openai?validate=true",
        Some(json!({"api_key": bad})),
    )
    .await;
    assert_eq!(st, 422);
    let (st, _) = call(
        "PUT",
        &alice,
        "/v1/lockbox/openai",
        Some(json!({"api_key": refused})),
    )
    .await;
    assert_eq!(st, 422);
    assert_eq!(call("GET", &alice, "/v1/lockbox", None).await.0, 200);
    assert_eq!(
        call("POST", &alice, "/v1/lockbox/openai/validate", None)
            .await
            .0,
        200
    );
    for (c, id, v) in [
        (
            "providers",
            "openai",
            provider_doc("openai", "available", None, "gpt-4o"),
        ),
        (
            "providers",
            "anthropic",
            provider_doc("anthropic", "available", None, "claude-sonnet"),
        ),
        ("models", "gpt-4o", model_doc("gpt-4o", "openai")),
    ] {
        let (st, v) = call(
            "PUT",
            &admin,
            &format!("/v1/spaces/catalog/docs/{c}/{id}"),
            Some(v),
        )
        .await;
        assert_eq!(st, 200, "{v}");
    }
    let (st, _) = call(
        "PUT",
        &alice,
        "/v1/spaces/user:me/docs/model_config/current",
        Some(json!({"preferred_provider": "openai", "models": {"openai": "gpt-4o"}})),
    )
    .await;
    assert_eq!(st, 200);
    let (st, v) = call(
        "GET",
        &service,
        "/internal/v1/users/alice/model-config",
        None,
    )
    .await;
    assert_eq!((st, v["api_key"].clone()), (200, json!(key)), "{v}");
    // Bob has no key: the environment's is resolved.
    let (st, _) = call(
        "PUT",
        &tok("bob", Role::User),
        "/v1/spaces/user:me/docs/model_config/current",
        Some(json!({"preferred_provider": "anthropic"})),
    )
    .await;
    assert_eq!(st, 200);
    let (st, v) = call("GET", &service, "/internal/v1/users/bob/model-config", None).await;
    assert_eq!((st, v["source"].clone()), (200, json!("env")), "{v}");
    let ant = anthropic_key("OKAY");
    assert_eq!(
        call(
            "PUT",
            &alice,
            "/v1/lockbox/anthropic",
            Some(json!({"api_key": ant}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call("DELETE", &alice, "/v1/lockbox/anthropic", None)
            .await
            .0,
        200
    );
    let _ = proc.child.kill();
    let _ = proc.child.wait();

    // Rotation, also at debug level.
    let rotation = tidemark(
        &db,
        &format!("{},{}", key_b(), key_a()),
        &["lockbox", "rotate"],
    );
    assert!(rotation.status.success(), "{}", text(&rotation));

    let mut captured = std::fs::read_to_string(logs.path().join("out")).unwrap();
    captured.push_str(&std::fs::read_to_string(logs.path().join("err")).unwrap());
    captured.push_str(&text(&rotation));
    // The capture is real: it holds the debug lines of each step.
    for line in [
        "lockbox key set",
        "live api key check",
        "model config resolved",
        "lockbox key removed",
        "lockbox rotation finished",
        "DEBUG",
    ] {
        assert!(
            captured.contains(line),
            "no `{line}` in the logs:\n{captured}"
        );
    }
    let master_a = key_a();
    let master_b = key_b();
    for secret in [&key, &bad, &refused, &ant, &env_key] {
        assert!(!captured.contains(secret.as_str()), "a key is in the logs");
        // Nor its distinctive middle (e.g. split across a formatted field).
        let middle = &secret[8..secret.len() - 6];
        assert!(!captured.contains(middle), "part of a key is in the logs");
    }
    for master in [&master_a, &master_b] {
        let (_, material) = master.split_once(':').unwrap();
        assert!(!captured.contains(material), "a master key is in the logs");
    }
    assert!(Path::new(&logs.path().join("out")).exists());
}
