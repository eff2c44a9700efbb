//! The table of operations, part one: the `/v1` API (spaces, documents,
//! sync, the streaming transports), the lockbox, and the operational routes
//! (health, metrics, this document, the browser client, `--dev` helpers), and
//! the live inspector (`/admin` and its admin-only API).
//! The seeds' façades are in `seed.rs`.

use serde_json::{Value, json};

use super::{
    Op, Schemas, content_ok, errors, header_param, json_body, json_ok, json_ok_etag, object,
    path_param, query, string,
};
use crate::domain::lockbox::{LockboxEntry, LockboxList, ResolvedModelConfig, ValidateResponse};
use crate::domain::validate::SERVER_OWNED;
use crate::http::admin::{AdminEvents, EventsMessage, Overview, Stats};
use crate::protocol::{
    Doc, ErrorBody, MutationResult, PresenceList, SpaceState, SyncRequest, SyncResponse,
    VersionInfo,
};

/// A row with everything but the method, path and summary empty.
pub(crate) fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
) -> Op {
    Op {
        method,
        path,
        tag,
        summary,
        description: "",
        bearer: true,
        params: vec![],
        body: None,
        responses: vec![],
    }
}

impl Op {
    pub(crate) fn describe(mut self, d: &'static str) -> Self {
        self.description = d;
        self
    }
    pub(crate) fn public(mut self) -> Self {
        self.bearer = false;
        self
    }
    pub(crate) fn param(mut self, p: Value) -> Self {
        self.params.push(p);
        self
    }
    pub(crate) fn body(mut self, schema: Value) -> Self {
        self.body = Some(json_body(schema));
        self
    }
    pub(crate) fn ok(mut self, status: u16, response: Value) -> Self {
        self.responses.push((status, response));
        self
    }
    /// The error body for each of `statuses`, and 401 when a token is needed.
    pub(crate) fn fails(mut self, statuses: &[u16]) -> Self {
        let mut all = statuses.to_vec();
        if self.bearer && !all.contains(&401) {
            all.push(401);
        }
        if self.body.is_some() {
            // Not JSON; over the body limit; the wrong shape.
            for s in [400, 413, 422] {
                if !all.contains(&s) {
                    all.push(s);
                }
            }
        }
        all.sort_unstable();
        self.responses.extend(errors(&all));
        self
    }
}

/// A space name: `user:me` (the caller's own), `user:ID`, `catalog`, ...
fn space() -> Value {
    path_param(
        "space",
        "The space: `user:me` is the caller's own; others by their name (`catalog`, `user:ID` for admins).",
        "user:me",
    )
}

fn doc_params(o: Op) -> Op {
    let write = o.method != "get";
    let mut collection = json!({"type": "string", "pattern": "^[a-z0-9_]{1,64}$"});
    if write {
        // Read, never written, by clients.
        collection["not"] = json!({"enum": SERVER_OWNED});
    }
    o.param(space())
        .param(json!({
            "name": "collection", "in": "path", "required": true,
            "description": if write {
                "`[a-z0-9_]{1,64}`; not the collections only the server writes. The seeds' collections check their documents (422)."
            } else {
                "`[a-z0-9_]{1,64}`."
            },
            "schema": collection, "example": "notes",
        }))
        .param(json!({
            "name": "id", "in": "path", "required": true, "description": "1 to 512 bytes.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 512}, "example": "n1",
        }))
}

fn write_headers(o: Op) -> Op {
    o.param(json!({
        "name": "If-Match", "in": "header", "required": false,
        "description": "A document version such as `\"12\"`: the write applies only at that version (412 otherwise).",
        "schema": {"type": "string", "pattern": "^(W/)?\"?[0-9]{1,18}\"?$"},
    }))
    .param(json!({
        "name": "Tidemark-Client-Id", "in": "header", "required": false,
        "description": "Sent with Tidemark-Mutation-Id (both or neither, 400 otherwise): makes the write idempotent (a retry is answered, not applied again). Printable ASCII, 1 to 128 bytes.",
        "schema": {"type": "string", "pattern": "^[!-~]{1,128}$"},
    }))
    .param(json!({
        "name": "Tidemark-Mutation-Id", "in": "header", "required": false,
        "description": "A number, increasing per client id.",
        "schema": {"type": "string", "pattern": "^[0-9]{1,15}$"},
    }))
}

fn provider() -> Value {
    json!({
        "name": "provider", "in": "path", "required": true,
        "description": "`openai`, `anthropic` or `openrouter` (anything else: 404).",
        "schema": {"type": "string", "minLength": 1}, "example": "openai",
    })
}

fn user() -> Value {
    path_param("user", "The user the service acts for.", "alice")
}

pub fn all(s: &mut Schemas) -> Vec<Op> {
    let mut v = v1(s);
    v.extend(lockbox(s));
    v.extend(operations());
    v.extend(admin(s));
    v
}

fn v1(s: &mut Schemas) -> Vec<Op> {
    let if_none_match = header_param(
        "If-None-Match",
        "An ETag from an earlier answer: 304 when nothing changed.",
    );
    vec![
        op("get", "/v1/spaces/{space}/state", "v1", "The whole space")
            .describe("Every live document at the space's current version, with `ETag: \"EPOCH:VERSION\"`.")
            .param(space())
            .param(if_none_match.clone())
            .ok(200, json_ok_etag("The space.", s.of::<SpaceState>()))
            .ok(304, json!({"description": "Not modified: the If-None-Match tag is current."}))
            .fails(&[403, 404, 422, 503]),
        op("get", "/v1/spaces/{space}/version", "v1", "The space's version (long-poll)")
            .describe("Served from memory. With `since` and `wait`, waits up to `wait` seconds (at most TIDEMARK_LONG_POLL_MAX_SECS) for a version past `since`.")
            .param(space())
            .param(query("since", "A version the client holds.", json!({"type": "integer", "minimum": 0, "maximum": u64::MAX})))
            .param(query("wait", "Seconds to wait for a version past `since` (0 or less: no wait).", json!({"type": "number"})))
            .param(if_none_match)
            .ok(200, json_ok_etag("The version.", s.of::<VersionInfo>()))
            .ok(304, json!({"description": "Not modified: the If-None-Match tag is current."}))
            .fails(&[400, 403, 404, 422, 503]),
        op("get", "/v1/spaces/{space}/presence", "v1", "Who is present in a space")
            .describe("The WebSocket connections present in the space on this node (`presence_set`), as `presence_state` lists them. Not durable; never changes the space's version.")
            .param(space())
            .ok(200, json_ok("Present connections, in arrival order.", s.of::<PresenceList>()))
            .fails(&[403, 404, 422, 503]),
        doc_params(op("get", "/v1/spaces/{space}/docs/{collection}/{id}", "v1", "One document"))
            .ok(200, json_ok_etag("The document; `ETag` is its version.", s.of::<Doc>()))
            .fails(&[403, 404, 422, 503]),
        write_headers(doc_params(op("put", "/v1/spaces/{space}/docs/{collection}/{id}", "v1", "Replace a document")))
            .body(json!({"description": "The document's new value: any JSON but `null`.", "not": {"type": "null"}}))
            .ok(200, json_ok_etag("Applied: the ack, `ETag` the new version.", s.of::<MutationResult>()))
            .fails(&[403, 404, 409, 412, 429, 503]),
        write_headers(doc_params(op("patch", "/v1/spaces/{space}/docs/{collection}/{id}", "v1", "Merge-patch a document")))
            .describe("An RFC 7396 merge patch onto the current value (`{}` when absent).")
            .body(json!({"description": "A JSON merge patch: any JSON but `null`.", "not": {"type": "null"}}))
            .ok(200, json_ok_etag("Applied: the ack, `ETag` the new version.", s.of::<MutationResult>()))
            .fails(&[403, 404, 409, 412, 429, 503]),
        write_headers(doc_params(op("delete", "/v1/spaces/{space}/docs/{collection}/{id}", "v1", "Delete a document")))
            .ok(200, json_ok_etag("Applied: the ack, `ETag` the new version.", s.of::<MutationResult>()))
            .fails(&[400, 403, 404, 409, 412, 413, 422, 429, 503]),
        op("post", "/v1/sync", "v1", "Flush mutations, then catch up")
            .describe("Applies the mutations in order (each answered by an ack or a reject), then answers each cursor's space: a snapshot, the missed events, or up to date.")
            .body(s.of::<SyncRequest>())
            .ok(200, json_ok("Results in order, and each space's catch-up.", s.of::<SyncResponse>()))
            .fails(&[403, 404, 503]),
        op("get", "/v1/events", "v1", "Server-sent events of one space")
            .describe("The SSE transport: a catch-up, then live events, `id: EPOCH:VERSION` on each (Last-Event-ID resumes). EventSource cannot send headers: `?access_token=` is taken here. Frames are the WebSocket's server messages (proto-schema/ws-server-message.json).")
            .param(json!({"name": "space", "in": "query", "required": true, "description": "The space.", "schema": {"type": "string"}, "example": "user:me"}))
            .param(query("cursor", "`EPOCH:VERSION` the client holds.", string()))
            .param(query("access_token", "The token, for EventSource.", string()))
            .param(header_param("Last-Event-ID", "The last event id seen (the browser resends it)."))
            .ok(200, content_ok("The event stream.", "text/event-stream"))
            .fails(&[400, 403, 404, 422, 429, 503]),
        op("get", "/v1/ws", "v1", "The WebSocket transport")
            .describe("Upgrades to a WebSocket, subprotocol `tidemark.v1` (docs/protocol.md; messages in proto-schema/ws-client-message.json and ws-server-message.json). The token as a bearer header, `?access_token=`, or in the first `auth` message.")
            .param(query("access_token", "The token, for browsers.", string()))
            .ok(101, json!({"description": "Switching protocols: the WebSocket."}))
            .fails(&[400, 403, 426, 429]),
    ]
}

fn lockbox(s: &mut Schemas) -> Vec<Op> {
    let key = json!({
        "type": "object", "additionalProperties": false, "required": ["api_key"],
        "properties": {"api_key": {"type": "string", "description": "The provider's API key; never echoed or logged."}},
    });
    vec![
        op("get", "/v1/lockbox", "lockbox", "The caller's stored keys, redacted")
            .ok(200, json_ok("Each provider's entry.", s.of::<LockboxList>()))
            .fails(&[403, 404, 422, 503]),
        op("put", "/v1/lockbox/{provider}", "lockbox", "Store an API key")
            .describe("Encrypted at rest; `?validate=true` first asks the provider.")
            .param(provider())
            .param(query("validate", "Check the key with the provider first.", json!({"type": "string", "enum": ["true", "false", "1", "0"]})))
            .body(key.clone())
            .ok(200, json_ok("The redacted entry.", s.of::<LockboxEntry>()))
            .fails(&[403, 404, 502, 503]),
        op("delete", "/v1/lockbox/{provider}", "lockbox", "Remove a stored key")
            .param(provider())
            .ok(200, json_ok("The entry, now empty.", s.of::<LockboxEntry>()))
            .fails(&[403, 404, 422, 503]),
        op("post", "/v1/lockbox/{provider}/validate", "lockbox", "Check a key with the provider")
            .describe("The key in the body, or the stored one when the body is empty or `{}`.")
            .param(provider())
            .body(json!({
                "type": "object", "additionalProperties": false,
                "properties": {"api_key": {"type": "string"}},
            }))
            .ok(200, json_ok("What the provider said.", s.of::<ValidateResponse>()))
            .fails(&[403, 404, 502, 503]),
        op("get", "/api/user/available-models", "lockbox", "Models the caller can use (seed 004)")
            .ok(200, json_ok("Providers with a usable key and their models.", json!({"type": "object"})))
            .fails(&[403, 404, 422, 503]),
        op("get", "/internal/v1/users/{user}/model-config", "lockbox", "Resolve a user's model configuration (service)")
            .describe("Provider, model and plaintext API key for a back-end service (`service` tokens only; `Cache-Control: no-store`). 422 with `no_provider`, `unknown_provider`, `provider_unavailable`, `unsupported_provider`, `no_model` or `no_api_key` when what the user stored does not resolve.")
            .param(user())
            .ok(200, json_ok("The resolution.", s.of::<ResolvedModelConfig>()))
            .fails(&[403, 404, 422, 503]),
        op("post", "/internal/v1/users/{user}/lockbox/{provider}/refused", "lockbox", "Report a refused key (service)")
            .param(user())
            .param(provider())
            .body(json!({
                "type": "object", "additionalProperties": false, "required": ["status"],
                "properties": {
                    "status": {"type": "integer", "enum": [401, 403], "description": "What the provider answered."},
                    "key_version": {"type": ["string", "null"], "description": "The resolution's `key_version`."},
                },
            }))
            .ok(200, json_ok("Whether a stored key was marked.", object(json!({
                "provider": string(), "refused": {"type": "boolean"},
            }))))
            .fails(&[403, 404, 503]),
    ]
}

fn operations() -> Vec<Op> {
    let js = "text/javascript; charset=utf-8";
    vec![
        op("get", "/healthz", "operations", "Liveness")
            .public()
            .ok(200, json_ok("The server accepts requests.", object(json!({"status": {"const": "ok"}}))))
            .fails(&[]),
        op("get", "/readyz", "operations", "Readiness")
            .public()
            .ok(200, json_ok("The store answers.", object(json!({"status": {"const": "ready"}, "store": string()}))))
            .fails(&[503]),
        op("get", "/metrics", "operations", "Prometheus metrics")
            .describe("Text exposition format. TIDEMARK_METRICS: `admin` (default) needs an admin or service token, `public` none, `off` serves nothing (404).")
            .ok(200, content_ok("The metrics.", "text/plain"))
            .fails(&[403, 404]),
        op("get", "/openapi.json", "operations", "This document")
            .public()
            .ok(200, json_ok("OpenAPI 3.1.", json!({"type": "object"})))
            .fails(&[]),
        op("get", "/docs", "operations", "This document, rendered (Redoc)")
            .public()
            .ok(200, content_ok("An HTML page.", "text/html"))
            .fails(&[]),
        op("get", "/docs/redoc.standalone.js", "operations", "Redoc, served by the server")
            .public()
            .ok(200, content_ok("Redoc 2.5.4 (MIT).", js))
            .fails(&[]),
        op("get", "/client/tidemark.js", "operations", "The browser client, one ES module")
            .describe("Its modules are also served one by one under `/client/src/`.")
            .public()
            .ok(200, content_ok("JavaScript.", js))
            .fails(&[]),
        op("get", "/client/tidemark.d.ts", "operations", "The browser client's TypeScript types")
            .public()
            .ok(200, content_ok("TypeScript declarations.", "text/plain"))
            .fails(&[]),
        op("post", "/dev/token", "operations", "Mint a token (--dev only)")
            .describe("Only with --dev (which listens on loopback only); 404 otherwise. Roles other than `user` only when TIDEMARK_DEV_TOKEN_ROLES lists them.")
            .public()
            .body(json!({
                "type": "object", "required": ["user"],
                "properties": {
                    "user": {"type": "string", "pattern": "^[^\\s\\x00-\\x1f\\x7f-\\x9f]{1,128}$", "description": "1 to 128 bytes, no spaces or control characters."},
                    "role": {"type": ["string", "null"], "enum": ["user", "admin", "service", null]},
                    "ttl_secs": {"type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX, "description": "Seconds (default a day, at most 30 days)."},
                },
            }))
            .ok(200, json_ok("The token.", object(json!({
                "token": string(), "user": string(),
                "role": {"enum": ["user", "admin", "service"]},
                "expires_at": {"type": "integer", "description": "Unix seconds."},
            }))))
            .fails(&[403, 404]),
        op("get", "/", "operations", "The demo page (--dev only)")
            .public()
            .ok(200, content_ok("HTML.", "text/html"))
            .fails(&[404]),
        op("get", "/demo/teams.js", "operations", "The demo page's team panel module (--dev only)")
            .public()
            .ok(200, content_ok("JavaScript.", js))
            .fails(&[404]),
        op("get", "/demo/react", "operations", "The React demo page (--dev only)")
            .public()
            .ok(200, content_ok("HTML.", "text/html"))
            .fails(&[404]),
        op("get", "/demo/react/app.js", "operations", "The React demo's bundle (--dev only)")
            .public()
            .ok(200, content_ok("JavaScript.", js))
            .fails(&[404]),
        op("get", "/demo/react/demo.css", "operations", "The demo pages' stylesheet (--dev only)")
            .public()
            .ok(200, content_ok("CSS.", "text/css"))
            .fails(&[404]),
    ]
}

/// The live inspector (`http::admin`): its page and the admin-only API it reads.
fn admin(s: &mut Schemas) -> Vec<Op> {
    let js = "text/javascript; charset=utf-8";
    // Named in the document although only the stream sends them.
    s.of::<Stats>();
    s.of::<EventsMessage>();
    vec![
        op("get", "/admin", "admin", "The live inspector page")
            .describe("Static HTML, served to anyone: it shows nothing until the admin API below accepts the admin token pasted into it.")
            .public()
            .ok(200, content_ok("HTML.", "text/html"))
            .fails(&[]),
        op("get", "/admin/admin.js", "admin", "The inspector's script")
            .public()
            .ok(200, content_ok("JavaScript.", js))
            .fails(&[]),
        op("get", "/admin/chart.js", "admin", "The inspector's chart")
            .public()
            .ok(200, content_ok("JavaScript.", js))
            .fails(&[]),
        op("get", "/v1/admin/overview", "admin", "Connections, loaded spaces, totals, the catalog (admin)")
            .describe("Open connections of this process by transport (WebSocket, SSE, long-poll), the spaces this node holds in memory (version, documents, subscribers; the 200 most subscribed), counters and memory totals, and the catalog's providers with their health status. An `admin` token only: 403 for any other role.")
            .ok(200, json_ok("The overview.", s.of::<Overview>()))
            .fails(&[403, 503]),
        op("get", "/v1/admin/spaces/{space}/events", "admin", "A space's recent events, redacted (admin)")
            .describe("The last `limit` events of any space, oldest first. Values of secret-bearing collections (`lockbox`, and any collection named like `api_keys`, `tokens`, `secrets`) are withheld (`value: null`, `redacted: true`); elsewhere, credential-named fields and strings shaped like a key, a sealed value or a JWT are masked as `[redacted]`. An `admin` token only.")
            .param(path_param("space", "The space: `user:ID`, `user:me`, `team:ID` or `catalog`.", "user:alice"))
            .param(query("limit", "How many (default 50).", json!({"type": "integer", "minimum": 1, "maximum": 500})))
            .ok(200, json_ok("The events.", s.of::<AdminEvents>()))
            .fails(&[400, 403, 404, 422, 503]),
        op("get", "/v1/admin/stream", "admin", "The inspector's live feed (admin, server-sent events)")
            .describe("`stats` every 250 ms: the current second (Unix), what it counted so far (events committed, live frames delivered, WebSocket bytes) and open connections by transport (`Stats`); with `space`, `events`: that space's recent events at once (`reset: true`), then each commit as it happens, redacted as in `/v1/admin/spaces/{space}/events` (`EventsMessage`). EventSource cannot send headers: `?access_token=` is taken here. An `admin` token only.")
            .param(query("space", "A space to follow.", string()))
            .param(query("access_token", "The token, for EventSource.", string()))
            .ok(200, content_ok("The event stream.", "text/event-stream"))
            .fails(&[403, 404, 503]),
    ]
}

/// The error body's schema, named so the rest of the document can refer to
/// it as `#/components/schemas/ErrorBody`.
pub(crate) fn register_error(s: &mut Schemas) {
    s.of::<ErrorBody>();
}
