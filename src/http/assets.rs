//! The browser client at `/client/tidemark.js` (always) and the demo settings
//! page at `/` (only with `--dev`). Both are compiled into the binary.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;

const CLIENT_JS: &str = include_str!("../../clients/js/tidemark.js");
const CLIENT_DTS: &str = include_str!("../../clients/js/tidemark.d.ts");
const DEMO_HTML: &str = include_str!("../../clients/demo/index.html");

pub fn router(dev: bool) -> Router<AppState> {
    let r = Router::new()
        .route("/client/tidemark.js", get(client_js))
        .route("/client/tidemark.d.ts", get(client_dts));
    if dev { r.route("/", get(demo)) } else { r }
}

async fn client_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        CLIENT_JS,
    )
}

async fn client_dts() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        CLIENT_DTS,
    )
}

async fn demo() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        DEMO_HTML,
    )
}
