//! The `Origin` check of the streaming routes (WebSocket upgrades and SSE):
//! browsers send `Origin` on them but CORS does not guard them, so a page on
//! another site could open one with a token it got hold of. Allowed: a
//! request without `Origin` (not a browser), one from the server's own
//! origin (its `Host`; the `--dev` page), and one of
//! `TIDEMARK_ALLOWED_ORIGINS`. Anything else gets 403 before the upgrade or
//! the stream.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri, header};

use super::AppState;
use super::error::ApiError;

pub fn check(headers: &HeaderMap, allowed: &[String]) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let refused = |shown: &str| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "origin `{shown}` may not open this stream; add it to TIDEMARK_ALLOWED_ORIGINS"
            ),
        )
    };
    let Ok(origin) = origin.to_str() else {
        return Err(refused("(not ASCII)"));
    };
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return Ok(());
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let same = origin
        .parse::<Uri>()
        .ok()
        .and_then(|u| u.authority().cloned())
        .zip(host)
        .is_some_and(|(a, h)| a.as_str().eq_ignore_ascii_case(h));
    if same { Ok(()) } else { Err(refused(origin)) }
}

/// The check as an extractor, for handlers that take typed arguments.
pub struct AllowedOrigin;

impl FromRequestParts<AppState> for AllowedOrigin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        check(&parts.headers, &st.cfg.allowed_origins).map(|()| AllowedOrigin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn origins() {
        let allowed = vec!["https://app.example.com".to_string()];
        let host = "sync.example.com";
        assert!(check(&headers(None, host), &allowed).is_ok(), "no Origin");
        assert!(check(&headers(Some("https://app.example.com"), host), &allowed).is_ok());
        assert!(check(&headers(Some("https://sync.example.com"), host), &allowed).is_ok());
        assert!(
            check(
                &headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"),
                &[]
            )
            .is_ok()
        );
        for bad in [
            "https://evil.example",
            "null",
            "https://app.example.com.evil.example",
            "http://127.0.0.1:8081",
        ] {
            let e = check(&headers(Some(bad), host), &allowed).expect_err(bad);
            assert_eq!(e.status, StatusCode::FORBIDDEN);
        }
    }
}
