//! The OpenAPI document (`GET /openapi.json`, `http::openapi`) and the
//! router agree: every route the code declares is documented, every
//! documented operation is served (and the methods it does not list answer
//! 405), the committed copy `proto-schema/openapi.json` is what the server
//! serves, and `/docs` renders it from the server alone. After changing a
//! route or a type, run `cargo run -- schema proto-schema` and commit.
//! scripts/api-check runs schemathesis against the same document.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{Backend, TestDb, TestServer};
use serde_json::Value;
use tidemark::engine::Role;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn documented() -> BTreeSet<(String, String)> {
    tidemark::http::openapi::operations().into_iter().collect()
}

fn documented_paths() -> BTreeSet<String> {
    documented().into_iter().map(|(_, p)| p).collect()
}

#[test]
fn committed_document_matches_the_code() {
    let committed = std::fs::read_to_string(Path::new(ROOT).join("proto-schema/openapi.json"))
        .unwrap_or_default();
    assert!(
        committed == tidemark::http::openapi::rendered(),
        "proto-schema/openapi.json is out of date: run `cargo run -- schema proto-schema` and commit it"
    );
}

#[test]
fn the_document_is_openapi_3_1_with_the_error_shape_and_bearer_auth() {
    let doc = tidemark::http::openapi::document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // The error body is the one proto-schema/http-error.json publishes.
    let http_error: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("proto-schema/http-error.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        doc["components"]["schemas"]["ErrorBody"]["properties"]["error"],
        http_error["properties"]["error"]
            .to_string()
            .replace("#/$defs/", "#/components/schemas/")
            .parse::<Value>()
            .unwrap()
    );
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2') || s == "101"),
                "{method} {path} documents no success"
            );
            for (status, r) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
            let bearer = op["security"] != serde_json::json!([]);
            assert_eq!(
                bearer,
                responses.contains_key("401"),
                "{method} {path}: a bearer operation documents 401, a public one does not"
            );
        }
    }
}

/// `(path, file)` of every `.route("literal", ...)` under `src/http/`.
fn routes_in_code() -> Vec<(String, String)> {
    let mut files = vec![];
    common::files_with_extension(&Path::new(ROOT).join("src/http"), "rs", &mut files);
    let mut out = vec![];
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let shown = f.strip_prefix(ROOT).unwrap().display().to_string();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + ".route(".len()..];
            let arg = rest.trim_start();
            if let Some(lit) = arg.strip_prefix('"') {
                let end = lit.find('"').unwrap();
                out.push((lit[..end].to_string(), shown.clone()));
            }
        }
    }
    out
}

#[test]
fn every_route_in_the_code_is_documented_and_every_documented_path_is_in_the_code() {
    let docs = documented_paths();
    let code = routes_in_code();
    assert!(
        code.len() > 30,
        "found only {} routes: {code:?}",
        code.len()
    );
    let mut served = BTreeSet::new();
    for (path, file) in &code {
        // `/demo/react/` is `/demo/react` with a slash, the same page.
        if path == "/demo/react/" {
            continue;
        }
        served.insert(path.clone());
        // facade/mod.rs nests seed 001's router under `/api` as well.
        if file.ends_with("facade/provider_sync.rs") || file.ends_with("facade/provider_ws.rs") {
            served.insert(format!("/api{path}"));
        }
    }
    let undocumented: Vec<_> = served.difference(&docs).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from src/http/openapi/: {undocumented:?}"
    );
    let unrouted: Vec<_> = docs.difference(&served).collect();
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
}

/// A documented path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{space}", "user:me")
        .replace("{collection}", "notes")
        .replace("{provider}", "openai")
        .replace("{user}", "alice")
        .replace("{id}", "openai")
}

#[tokio::test]
async fn every_documented_operation_is_served_and_no_other_method() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut args = common::args(&db);
    args.dev = true;
    let s = TestServer::start(&args).await;
    let token = common::token("alice", Role::Admin);

    // The served document is the committed one.
    let r = s.http.get(s.url("/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.text().await.unwrap(), tidemark::http::openapi::rendered());

    // /docs loads Redoc from the server and nothing from elsewhere.
    let page = s.http.get(s.url("/docs")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("spec-url=\"/openapi.json\""), "{html}");
    assert!(html.contains("src=\"/docs/redoc.standalone.js\""), "{html}");
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"));
    let js = s
        .http
        .get(s.url("/docs/redoc.standalone.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.text().await.unwrap().len() > 500_000);

    let docs = documented();
    let methods = ["GET", "PUT", "POST", "PATCH", "DELETE"];
    for path in documented_paths() {
        for m in methods {
            let url = s.url(&concrete(&path));
            let rb = s
                .http
                .request(reqwest::Method::from_bytes(m.as_bytes()).unwrap(), &url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{}");
            // Long-polls answer at once without `wait`; the streams are
            // answered with their headers and then dropped.
            let resp = rb.send().await.unwrap();
            let status = resp.status().as_u16();
            let allow = resp
                .headers()
                .get("allow")
                .map(|v| v.to_str().unwrap().to_string());
            let body = if resp
                .headers()
                .get("content-type")
                .is_some_and(|c| c.to_str().unwrap().starts_with("application/json"))
            {
                resp.json::<Value>().await.unwrap_or(Value::Null)
            } else {
                Value::Null
            };
            if docs.contains(&(m.to_string(), path.clone())) {
                assert!(
                    status != 405 && body["error"]["message"] != "no such endpoint",
                    "{m} {path} is documented but not served: {status} {body}"
                );
            } else {
                assert_eq!(
                    status, 405,
                    "{m} {path} is served but not documented (or answers {status}): {body}"
                );
                assert_eq!(body["error"]["code"], "method_not_allowed", "{m} {path}");
                assert!(
                    allow.is_some(),
                    "{m} {path}: a 405 names the allowed methods"
                );
            }
        }
    }
    s.stop().await;
}

#[tokio::test]
async fn what_axum_answers_by_itself_has_the_error_shape() {
    let db = TestDb::new(Backend::Sqlite).await;
    let s = TestServer::start(&common::args(&db)).await;
    let t = s.token("alice");
    // A query string that does not parse.
    let (status, v) = s.get(&t, "/v1/spaces/user:me/version?since=-1").await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{v}"
    );
    // A WebSocket route asked without the upgrade.
    let (status, v) = s.get(&t, "/v1/ws").await;
    assert!(status >= 400, "{status}");
    assert!(v["error"]["code"].is_string(), "{v}");
    s.stop().await;
}

/// What schemathesis found in request bodies, fixed: a whole float where an
/// integer goes is that integer (JSON Schema says so), without rewriting
/// the floats of documents that parse as sent; an array is not an object.
#[tokio::test]
async fn bodies_as_json_schema_reads_them() {
    let db = TestDb::new(Backend::Sqlite).await;
    let s = TestServer::start(&common::args(&db)).await;
    let t = s.token("alice");
    let body = serde_json::json!({"client_id": "c", "mutations": [{"mutation_id": 3.0, "space": "user:me",
        "ops": [{"op": "put", "collection": "notes", "id": "a", "value": {"x": 1.0}}]}]});
    let v = s.sync(&t, body).await;
    assert_eq!(v["results"][0]["status"], "ack", "{v}");
    let r = s
        .http
        .get(s.url("/v1/spaces/user:me/docs/notes/a"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    // That body was read again with its whole numbers as integers: the
    // document's `1.0` is now `1` (the same number to JSON and to every
    // JavaScript client); without the retry the request was refused.
    let text = r.text().await.unwrap();
    assert!(text.contains("\"x\":1}"), "{text}");
    // A document body that parses as sent keeps its floats.
    let (status, _) = s
        .send(
            "PUT",
            &t,
            "/v1/spaces/user:me/docs/notes/b",
            Some(serde_json::json!({"y": 2.0})),
        )
        .await;
    assert_eq!(status, 200);
    let r = s
        .http
        .get(s.url("/v1/spaces/user:me/docs/notes/b"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("\"y\":2.0"));
    let (status, v) = s
        .send(
            "POST",
            &t,
            "/provider-sync/sync",
            Some(serde_json::json!([null, null])),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("invalid")),
        "{v}"
    );
    let (status, v) = s
        .send(
            "POST",
            &t,
            "/provider-sync/sync",
            Some(serde_json::json!({"client_version": 0.0})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    s.stop().await;
}
