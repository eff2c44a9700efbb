//! CORS allows only what the API uses, only for the configured origins, and
//! an origin that is not one stops the server at start with its name.

mod common;

use common::{Backend, TestDb, TestServer, args};

#[tokio::test]
async fn cors_allows_the_apis_methods_and_headers_for_listed_origins_only() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut a = args(&db);
    a.allowed_origins = vec!["https://app.example.com".into()];
    let s = TestServer::start(&a).await;
    let preflight = |origin: &'static str, method: &'static str, headers: &'static str| {
        s.http
            .request(
                reqwest::Method::OPTIONS,
                s.url("/v1/spaces/user:me/docs/settings/ui"),
            )
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", headers)
            .send()
    };
    let r = preflight(
        "https://app.example.com",
        "PUT",
        "authorization,content-type,if-match",
    )
    .await
    .unwrap();
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    let methods = h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for m in ["get", "post", "put", "patch", "delete"] {
        assert!(methods.contains(m), "{methods}");
    }
    assert!(
        !methods.contains("trace") && !methods.contains('*'),
        "{methods}"
    );
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        allowed.contains("authorization") && !allowed.contains('*'),
        "{allowed}"
    );
    // Another origin gets no CORS grant.
    let r = preflight("https://evil.example", "PUT", "authorization")
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    s.stop().await;
}

#[tokio::test]
async fn an_origin_that_is_not_one_stops_the_server_at_start() {
    let db = TestDb::new(Backend::Sqlite).await;
    for bad in [
        "app.example.com",
        "https://app.example.com/",
        "https://app.example.com/path",
        "https://exa mple.com",
    ] {
        let mut a = args(&db);
        a.allowed_origins = vec!["https://ok.example".into(), bad.into()];
        match tidemark::server::build(&a).await {
            Ok(_) => panic!("{bad:?} was accepted"),
            Err(e) => assert!(e.to_string().contains(bad), "{e}"),
        }
    }
    let mut a = args(&db);
    a.allowed_origins = vec![
        "http://127.0.0.1:8080".into(),
        "https://app.example.com".into(),
    ];
    assert!(tidemark::server::build(&a).await.is_ok());
}
