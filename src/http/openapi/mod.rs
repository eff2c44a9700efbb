//! `GET /openapi.json`: the HTTP API as an OpenAPI 3.1 document, and `GET
//! /docs`: a page that renders it (Redoc, served by the binary: no CDN).
//!
//! The document is assembled here from one table of operations
//! ([`ops::all`]: path, method, parameters, request body, responses by
//! status). Its `components/schemas` come from the same `schemars` derives
//! that write `proto-schema/` (JSON Schema 2020-12, which OpenAPI 3.1 uses
//! as it is), so the two cannot disagree; only the answers that handlers
//! build as `serde_json::Value` have their schemas written in the table.
//! `tidemark schema` also writes the document to `proto-schema/openapi.json`;
//! tests/openapi.rs fails when that copy drifts, when a route of the router
//! is not in the table, or when an operation of the table is not served.
//!
//! `redoc/redoc.standalone.js` is Redoc 2.5.4 (npm package `redoc`,
//! `bundles/redoc.standalone.js`, MIT licence in `redoc/LICENSE`, third-party
//! notices in `redoc/redoc.standalone.js.LICENSE.txt`), committed as
//! published; it is served without the one URL it would fetch from a CDN
//! (its footer's logo), and `/docs` carries a Content-Security-Policy that
//! allows nothing from elsewhere (clients/js/e2e/docs.test.mjs checks both
//! in Chromium).

mod ops;
mod seed;
mod teams;

use std::sync::LazyLock;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use super::AppState;

const REDOC: &str = include_str!("redoc/redoc.standalone.js");

/// The one thing Redoc loads from outside by itself: the logo of its "API
/// docs by Redocly" footer. Served without it (the `<img>` hides itself when
/// it has no source).
const REDOC_LOGO: &str = "https://cdn.redoc.ly/redoc/logo-mini.svg";
static REDOC_SERVED: LazyLock<String> = LazyLock::new(|| REDOC.replace(REDOC_LOGO, ""));

/// `/docs` may load nothing but the server's own script and document
/// (Redoc's styles are inline, its search runs in a `blob:` worker).
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:";

/// The page at `/docs`: Redoc over `/openapi.json`, system fonts (Redoc's
/// own example loads web fonts from a CDN; this page loads nothing from
/// outside the server).
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tidemark API</title>
<link rel="icon" href="data:,">
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="/docs/redoc.standalone.js"></script>
</body>
</html>
"#;

/// Built once: the document does not depend on the configuration (routes
/// that exist only with `--dev` or some `TIDEMARK_METRICS` say so).
static DOCUMENT: LazyLock<String> = LazyLock::new(|| render(&document()));

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/openapi.json",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    DOCUMENT.as_str(),
                )
            }),
        )
        .route(
            "/docs",
            get(|| async {
                (
                    [(header::CONTENT_SECURITY_POLICY, DOCS_CSP)],
                    asset("text/html; charset=utf-8", PAGE),
                )
            }),
        )
        .route(
            "/docs/redoc.standalone.js",
            get(|| async { asset("text/javascript; charset=utf-8", REDOC_SERVED.as_str()) }),
        )
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

/// Pretty JSON with a trailing newline: what `/openapi.json` serves and
/// `proto-schema/openapi.json` holds.
pub fn render(doc: &Value) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap_or_default();
    s.push('\n');
    s
}

/// The served document, rendered.
pub fn rendered() -> &'static str {
    DOCUMENT.as_str()
}

/// Schemas of the Rust types, as references into `components/schemas`.
pub(crate) struct Schemas(SchemaGenerator);

impl Schemas {
    fn new() -> Self {
        // The settings of `protocol::schema::schema_of` (draft 2020-12, the
        // deserialize contract), with definitions where OpenAPI keeps them.
        let settings = SchemaSettings::default()
            .with(|s| {
                s.definitions_path = "/components/schemas".into();
            })
            .with_transform(RecursiveTransform(integer_bounds as fn(&mut Schema)));
        Schemas(SchemaGenerator::new(settings))
    }

    /// `{"$ref": "#/components/schemas/T"}` (or the schema itself when
    /// schemars inlines it).
    pub(crate) fn of<T: JsonSchema>(&mut self) -> Value {
        self.0.subschema_for::<T>().to_value()
    }
}

/// Spells out the range an integer `format` implies (`uint64`: 0 to
/// 2^64-1): JSON Schema tools that do not know the format (schemathesis)
/// would otherwise send numbers no Rust integer holds.
fn integer_bounds(schema: &mut Schema) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let (min, max): (Value, Value) = match obj.get("format").and_then(Value::as_str) {
        Some("uint64" | "uint") => (0.into(), u64::MAX.into()),
        Some("uint32") => (0.into(), u32::MAX.into()),
        Some("uint16") => (0.into(), u16::MAX.into()),
        Some("uint8") => (0.into(), u8::MAX.into()),
        Some("int64" | "int") => (i64::MIN.into(), i64::MAX.into()),
        Some("int32") => (i32::MIN.into(), i32::MAX.into()),
        _ => return,
    };
    obj.entry("minimum").or_insert(min);
    obj.entry("maximum").or_insert(max);
}

/// One operation: the table's row.
pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    /// Needs a bearer token (`Authorization: Bearer`).
    pub bearer: bool,
    pub params: Vec<Value>,
    pub body: Option<Value>,
    /// `(status, response object)`.
    pub responses: Vec<(u16, Value)>,
}

impl Op {
    fn to_value(&self) -> Value {
        let mut o = Map::new();
        o.insert("tags".into(), json!([self.tag]));
        o.insert("summary".into(), json!(self.summary));
        if !self.description.is_empty() {
            o.insert("description".into(), json!(self.description));
        }
        o.insert(
            "operationId".into(),
            json!(operation_id(self.method, self.path)),
        );
        if !self.params.is_empty() {
            o.insert("parameters".into(), Value::Array(self.params.clone()));
        }
        if let Some(b) = &self.body {
            o.insert("requestBody".into(), b.clone());
        }
        let responses: Map<String, Value> = self
            .responses
            .iter()
            .map(|(s, r)| (s.to_string(), r.clone()))
            .collect();
        o.insert("responses".into(), Value::Object(responses));
        o.insert(
            "security".into(),
            if self.bearer {
                json!([{"bearer": []}])
            } else {
                json!([])
            },
        );
        Value::Object(o)
    }
}

/// `get /v1/spaces/{space}/state` -> `get_v1_spaces_space_state`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_string();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        id.push('_');
        id.extend(
            part.chars()
                .filter(|c| !matches!(c, '{' | '}'))
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
    }
    id
}

/// Every documented `(method, path)`, methods upper-case.
pub fn operations() -> Vec<(String, String)> {
    let mut s = Schemas::new();
    all(&mut s)
        .iter()
        .map(|o| (o.method.to_uppercase(), o.path.to_string()))
        .collect()
}

fn all(s: &mut Schemas) -> Vec<Op> {
    let mut v = ops::all(s);
    v.extend(seed::all(s));
    v.extend(teams::all());
    v
}

/// The whole document.
pub fn document() -> Value {
    let mut s = Schemas::new();
    let ops = all(&mut s);
    ops::register_error(&mut s);
    let mut paths: Map<String, Value> = Map::new();
    for op in &ops {
        let entry = paths
            .entry(op.path.to_string())
            .or_insert_with(|| json!({}));
        entry[op.method] = op.to_value();
    }
    let schemas = s.0.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "tidemark",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A real-time sync server: versioned per-user spaces of JSON documents over WebSocket, server-sent events and HTTP, and the seeds' compatibility APIs. Every error is `{\"error\":{\"code\",\"message\"}}`. The WebSocket protocol is in docs/protocol.md; the JSON Schemas of every wire message are in proto-schema/.",
            "license": {"name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0"},
        },
        "tags": [
            {"name": "v1", "description": "Spaces, documents, sync and the streaming transports."},
            {"name": "lockbox", "description": "Encrypted provider API keys and model configuration."},
            {"name": "teams", "description": "Team spaces: members, roles, revocation."},
            {"name": "seed", "description": "The seeds' compatibility APIs: preferences, settings, chat, usage."},
            {"name": "provider-sync", "description": "Seed 001's provider catalog API, under `/provider-sync` and `/api/provider-sync`."},
            {"name": "operations", "description": "Health, metrics, the API document, the browser client, development helpers."},
            {"name": "admin", "description": "The live inspector at `/admin` and the admin-only API it reads."},
        ],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An HS256 JWT signed with TIDEMARK_JWT_SECRET (`tidemark token`, or `POST /dev/token` with --dev): `sub` the user, `role` user, admin or service.",
                },
            },
        },
    })
}

// ── Helpers the tables share ──────────────────────────────────────────

/// A path parameter (a string).
pub(crate) fn path_param(name: &str, description: &str, example: &str) -> Value {
    json!({
        "name": name, "in": "path", "required": true, "description": description,
        "schema": {"type": "string", "minLength": 1}, "example": example,
    })
}

/// An optional query parameter.
pub(crate) fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

/// An optional request header.
pub(crate) fn header_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "header", "required": false, "description": description, "schema": {"type": "string"}})
}

/// A required JSON request body.
pub(crate) fn json_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

/// A JSON answer.
pub(crate) fn json_ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// A JSON answer with an `ETag` header.
pub(crate) fn json_ok_etag(description: &str, schema: Value) -> Value {
    let mut v = json_ok(description, schema);
    v["headers"] = json!({"ETag": {"description": "The version read, for If-None-Match / If-Match.", "schema": {"type": "string"}}});
    v
}

/// A non-JSON answer.
pub(crate) fn content_ok(description: &str, media: &str) -> Value {
    let mut content = Map::new();
    content.insert(media.into(), json!({"schema": {"type": "string"}}));
    json!({"description": description, "content": content})
}

/// The error body, for each of `statuses`.
pub(crate) fn errors(statuses: &[u16]) -> Vec<(u16, Value)> {
    statuses
        .iter()
        .map(|&s| {
            (
                s,
                json!({
                    "description": error_description(s),
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                }),
            )
        })
        .collect()
}

fn error_description(status: u16) -> &'static str {
    match status {
        400 => "`bad_request`: the request is malformed (not JSON, a bad header or query).",
        401 => "`unauthorized`: no token, or one that is invalid or expired.",
        403 => "`forbidden`: the token's user or role may not do this.",
        404 => "`not_found`: no such space, document, provider or model.",
        405 => "`method_not_allowed`.",
        409 => "`conflict`: the document changed, or a concurrent change won.",
        412 => "`conflict`: `If-Match` names another version; `current` holds the document.",
        413 => "`too_large`: the body, a document or a mutation is over a limit.",
        415 => "`unsupported_media_type`.",
        422 => {
            "`invalid` (or a seed's code): the body or a parameter has the wrong shape; `field` names it."
        }
        429 => "`rate_limited` or `too_many_connections`.",
        502 => "`NETWORK_ERROR`: the provider could not be reached.",
        503 => "`store_unavailable`, `unavailable` or `over_capacity`: try again later.",
        _ => "An error.",
    }
}

/// The `string` schema with no more said.
pub(crate) fn string() -> Value {
    json!({"type": "string"})
}

/// The answer built as `serde_json::Value` by a handler: an object,
/// described by `properties` (every one present).
pub(crate) fn object(properties: Value) -> Value {
    let required: Vec<&String> = properties
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    json!({"type": "object", "properties": properties, "required": required})
}

#[cfg(test)]
mod tests {
    #[test]
    fn redoc_is_served_without_the_logo_it_would_fetch_from_a_cdn() {
        assert!(
            super::REDOC.contains(super::REDOC_LOGO),
            "Redoc changed: check what it loads"
        );
        assert!(!super::REDOC_SERVED.contains("cdn."));
    }
}
