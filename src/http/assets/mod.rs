//! The browser client (always) and the demo settings page at `/` with its
//! team panel module `/demo/teams.js` (only with `--dev`), all compiled into
//! the binary.
//!
//! `/client/tidemark.js` is the client as one file (`bundle`): the entry
//! module and the modules it imports. Each module is also served as it is,
//! under `/client/src/...`. tests/client_assets.rs checks that every module of
//! `clients/js/src/` is in [`CLIENT_MODULES`].

mod bundle;

use std::sync::LazyLock;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;

/// `(path under clients/js/, source)` for each module the client's entry needs.
macro_rules! client_modules {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../../clients/js/", $path)))),*]
    };
}

const CLIENT_ENTRY: &str = "tidemark.js";
const CLIENT_MODULES: &[(&str, &str)] = client_modules![
    "tidemark.js",
    "src/apply.js",
    "src/client.js",
    "src/constants.js",
    "src/errors.js",
    "src/page.js",
    "src/patch.js",
    "src/queue.js",
    "src/results.js",
    "src/slots.js",
    "src/space.js",
    "src/state.js",
    "src/status.js",
    "src/storage.js",
    "src/tabs.js",
    "src/time.js",
    "src/token.js",
    "src/util.js",
    "src/writes.js",
    "src/transports/fallback.js",
    "src/transports/http.js",
    "src/transports/sse.js",
    "src/transports/websocket.js",
];
const CLIENT_DTS: &str = include_str!("../../../clients/js/tidemark.d.ts");
const DEMO_HTML: &str = include_str!("../../../clients/demo/index.html");
const DEMO_TEAMS_JS: &str = include_str!("../../../clients/demo/teams.js");

/// Built once, when the first router is made (so a module the bundler refuses
/// stops the server at start); the unit test below bundles the same modules.
static CLIENT_BUNDLE: LazyLock<String> = LazyLock::new(|| {
    bundle::bundle(CLIENT_ENTRY, CLIENT_MODULES)
        .unwrap_or_else(|e| panic!("the browser client does not bundle: {e}"))
});

pub fn router(dev: bool) -> Router<AppState> {
    LazyLock::force(&CLIENT_BUNDLE);
    let mut r = Router::new()
        .route(
            "/client/tidemark.js",
            get(|| async { javascript(&CLIENT_BUNDLE) }),
        )
        .route("/client/tidemark.d.ts", get(client_dts));
    for &(path, source) in CLIENT_MODULES {
        if path.starts_with("src/") {
            r = r.route(
                &format!("/client/{path}"),
                get(move || async move { javascript(source) }),
            );
        }
    }
    if dev {
        r.route("/", get(demo)).route(
            "/demo/teams.js",
            get(|| async { javascript(DEMO_TEAMS_JS) }),
        )
    } else {
        r
    }
}

fn javascript(source: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        source,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_client_bundles_into_one_self_contained_module() {
        let out = bundle::bundle(CLIENT_ENTRY, CLIENT_MODULES).unwrap();
        assert!(
            !out.lines().any(|l| l.starts_with("import")),
            "the bundle still imports"
        );
        // Every embedded module is reached from the entry.
        for (path, _) in CLIENT_MODULES {
            assert!(
                out.contains(&format!("// ── {path}\n")),
                "{path} is not bundled"
            );
        }
        let exports = out.lines().last().unwrap();
        for name in [
            "TidemarkClient as default",
            "MutationQueue",
            "mergePatch",
            "DEFAULTS",
        ] {
            assert!(exports.contains(name), "{exports}");
        }
    }
}
