//! The React demo page at `/demo/react` (only with `--dev`), beside the plain
//! one at `/`: `clients/demo/react/index.html` and its bundle `app.js`
//! (`clients/demo/react/app.jsx` built by `npm run build:demo` in
//! `clients/react`, committed), both compiled into the binary so that the
//! server never needs Node. The bundle imports `tidemark-client`, which the
//! page's import map points at `/client/tidemark.js`. Its stylesheet is the
//! plain demo's own `<style>` element, served as `/demo/react/demo.css`.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;

const PAGE: &str = include_str!("../../clients/demo/react/index.html");
const BUNDLE: &str = include_str!("../../clients/demo/react/app.js");
const PLAIN_DEMO: &str = include_str!("../../clients/demo/index.html");

pub fn router(dev: bool) -> Router<AppState> {
    if !dev {
        return Router::new();
    }
    let page = || async { asset("text/html; charset=utf-8", PAGE) };
    Router::new()
        .route("/demo/react", get(page))
        .route("/demo/react/", get(page))
        .route(
            "/demo/react/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", BUNDLE) }),
        )
        .route(
            "/demo/react/demo.css",
            get(|| async { asset("text/css; charset=utf-8", plain_demo_css()) }),
        )
}

/// The CSS of the plain demo page (its `<style>` element), so both pages share one stylesheet.
fn plain_demo_css() -> &'static str {
    PLAIN_DEMO
        .split_once("<style>")
        .and_then(|(_, rest)| rest.split_once("</style>"))
        .map_or("", |(css, _)| css)
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_plain_demo_has_a_stylesheet_to_share() {
        let css = super::plain_demo_css();
        assert!(
            css.contains(":root") && !css.contains("</style>"),
            "clients/demo/index.html should keep its CSS in one <style> element"
        );
    }
}
