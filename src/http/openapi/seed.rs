//! The table of operations, part two: the seeds' compatibility façades
//! (`http::facade`): model preferences and settings, chat sync and usage,
//! the catalog's admin load, and seed 001's provider sync under both of its
//! prefixes (`/provider-sync` and `/api/provider-sync`).

use serde_json::{Value, json};

use super::ops::op;
use super::{Op, Schemas, json_ok, json_ok_etag, object, path_param, query, string};
use crate::domain::catalog::load::LoadReport;
use crate::domain::chat::sync::SyncReport;
use crate::domain::docs::UiSettings;

pub fn all(s: &mut Schemas) -> Vec<Op> {
    let mut v = user(s);
    for prefix in [Prefix::Plain, Prefix::Api] {
        v.extend(provider_sync(prefix));
    }
    v
}

fn any_object(description: &str) -> Value {
    json!({"type": "object", "description": description})
}

fn user(s: &mut Schemas) -> Vec<Op> {
    let prefs = object(json!({
        "providers": {"type": "array", "items": {"type": "object"}},
        "lastSynced": string(),
    }));
    let date = json!({"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "description": "A date such as 2026-11-21."});
    vec![
        op("get", "/api/user/model-preferences", "seed", "Model preferences (seed 000)")
            .ok(200, json_ok("Every provider's preferences, camelCase.", prefs.clone()))
            .fails(&[403, 404, 422, 503]),
        op("put", "/api/user/model-preferences", "seed", "Replace providers' preferences (seed 000)")
            .describe("The listed providers' preferences, atomically (one mutation; omitted providers are kept). Answers the new state in the GET shape.")
            .body(json!({
                "type": "object", "required": ["providers"], "additionalProperties": false,
                "properties": {
                    "providers": {"type": "array", "maxItems": 64, "description": "Each provider at most once.", "items": {
                        "type": "object", "required": ["provider", "enabledModels", "isEnabled"], "additionalProperties": false,
                        "properties": {
                            "provider": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,63}$"},
                            "enabledModels": {"type": "array", "maxItems": 1000, "uniqueItems": true, "items": {"type": "string", "minLength": 1, "maxLength": 256}},
                            "isEnabled": {"type": "boolean"},
                            "metadata": {},
                        },
                    }},
                    "lastSynced": {},
                },
            }))
            .ok(200, json_ok("The new preferences.", prefs))
            .fails(&[403, 404, 409, 429, 503]),
        op("get", "/api/user/settings", "seed", "UI settings (seed 002)")
            .describe("What is stored over the defaults; `ETag` is the document's version (0 when nothing is stored).")
            .ok(200, json_ok_etag("The effective settings.", s.of::<UiSettings>()))
            .fails(&[403, 404, 422, 503]),
        op("patch", "/api/user/settings", "seed", "Change UI settings (seed 002)")
            .describe("An RFC 7396 merge patch onto `settings/ui`: two tabs changing different fields both keep their change; `null` removes a field.")
            .body(json!({
                "type": "object", "additionalProperties": false,
                "description": "A merge patch: `null` removes a field.",
                "properties": {
                    "theme": {"enum": ["light", "dark", "system", null]},
                    "language": {"type": ["string", "null"], "maxLength": 35, "pattern": "^([A-Za-z]{2,3}|[A-Za-z]{5,8}|[xXiI])(-[A-Za-z0-9]{1,8})*$", "description": "A BCP 47 language tag."},
                    "preferences": {"type": ["object", "null"]},
                },
            }))
            .ok(200, json_ok_etag("The effective settings.", s.of::<UiSettings>()))
            .fails(&[403, 404, 409, 429, 503]),
        op("get", "/api/chat/sync", "seed", "Chat history (seed 003)")
            .param(query("since", "A version from an earlier answer, or an ISO 8601 time with a zone.", string()))
            .param(query("limit", "Messages per page, 1 to 10000.", json!({"type": "integer", "minimum": 1, "maximum": 10000})))
            .param(query("cursor", "`nextCursor` from an earlier page.", string()))
            .ok(200, json_ok("Conversations with their messages, and what was deleted.", object(json!({
                "conversations": {"type": "array"},
                "deleted": object(json!({"conversations": {"type": "array"}, "messages": {"type": "array"}})),
                "version": {"type": "integer", "minimum": 0},
                "full": {"type": "boolean"},
            }))))
            .fails(&[403, 404, 422, 503]),
        op("post", "/api/chat/sync", "seed", "Sync the full chat history (seed 003)")
            .describe("Takes the full-history payload and writes only what changed, as one mutation.")
            .body(any_object("`{conversations: [...]}` as seed 003's client sends it."))
            .ok(200, json_ok("What was written.", s.of::<SyncReport>()))
            .fails(&[403, 404, 409, 429, 503]),
        op("get", "/api/usage/daily", "seed", "Daily usage counters (seed 003)")
            .param(query("from", "First day.", date.clone()))
            .param(query("to", "Last day.", date))
            .ok(200, json_ok("Days, oldest first, and their totals.", object(json!({
                "days": {"type": "array", "items": {"type": "object"}},
                "totals": object(json!({
                    "messages_sent": {"type": "integer"}, "messages_received": {"type": "integer"}, "tokens": {"type": "integer"},
                })),
            }))))
            .fails(&[403, 404, 422, 503]),
        op("post", "/api/admin/catalog", "seed", "Load a catalog file (admin)")
            .describe("What `tidemark catalog load FILE --server URL` calls: `{providers, models}`; subscribers get the events at once.")
            .body(any_object("`{providers: [...], models: [...]}`."))
            .ok(200, json_ok("What changed.", s.of::<LoadReport>()))
            .fails(&[403, 404, 409, 429, 503]),
    ]
}

#[derive(Clone, Copy)]
enum Prefix {
    Plain,
    Api,
}

/// `$p` under the prefix, as a `&'static str` (the table's paths are).
macro_rules! at {
    ($prefix:expr, $p:literal) => {
        match $prefix {
            Prefix::Plain => concat!("/provider-sync", $p),
            Prefix::Api => concat!("/api/provider-sync", $p),
        }
    };
}

fn provider_sync(p: Prefix) -> Vec<Op> {
    let tag = "provider-sync";
    let version = json!({"type": "integer", "minimum": 0});
    let nullable = json!({"type": ["string", "null"]});
    vec![
        op("get", at!(p, "/state"), tag, "The whole catalog (SyncState)")
            .ok(200, json_ok("Providers, models, the active provider and metadata.", object(json!({
                "providers": {"type": "array"},
                "all_models": {"type": "array"},
                "active_provider_id": nullable.clone(),
                "metadata": {"type": "object"},
            }))))
            .fails(&[403, 404, 503]),
        op("post", at!(p, "/sync"), tag, "Catch up from a version")
            .describe("`none` when the client is current, `incremental` with the missed events, `full` with the whole state.")
            .body(json!({
                "type": "object",
                "properties": {
                    "client_version": {"type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX},
                    "client_epoch": nullable.clone(),
                },
            }))
            .ok(200, json_ok("The catch-up.", object(json!({
                "sync_type": {"enum": ["none", "incremental", "full"]},
                "version": version.clone(),
                "epoch": string(),
                "events": {"type": "array"},
                "state": {"type": ["object", "null"]},
            }))))
            .fails(&[403, 404, 503]),
        op("get", at!(p, "/version"), tag, "The catalog's version")
            .ok(200, json_ok("From memory.", object(json!({
                "version": version.clone(), "epoch": string(), "server_time": string(),
            }))))
            .fails(&[403, 404, 503]),
        op("get", at!(p, "/models"), tag, "Models, optionally of one provider")
            .param(query("provider_id", "Only this provider's models.", string()))
            .param(query("include_deprecated", "Also deprecated and sunset models.", json!({"type": "string", "enum": ["true", "false", "1", "0"]})))
            .ok(200, json_ok("The models.", object(json!({
                "models": {"type": "array", "items": {"type": "object"}},
                "total": {"type": "integer", "minimum": 0},
                "version": version,
            }))))
            .fails(&[403, 404, 422, 503]),
        op("get", at!(p, "/providers/{id}/availability"), tag, "A provider's status and fallback")
            .param(path_param("id", "The provider id.", "openai"))
            .ok(200, json_ok("Availability.", object(json!({
                "provider_id": string(), "is_available": {"type": "boolean"},
            }))))
            .fails(&[403, 404, 503]),
        op("get", at!(p, "/models/{id}/availability"), tag, "A model's deprecation and replacement")
            .param(path_param("id", "The model id.", "gpt-4o"))
            .ok(200, json_ok("Availability.", object(json!({
                "model_id": string(), "is_available": {"type": "boolean"},
            }))))
            .fails(&[403, 404, 503]),
        op("get", at!(p, "/ws"), tag, "Catalog changes over a WebSocket")
            .describe("Seed 001's `SyncEvent`s: `connected`, then a `full_sync`, the missed events or nothing, then one frame per change. Resume with `client_version` (and `client_epoch`).")
            .param(query("access_token", "The token, for browsers.", string()))
            .param(query("client_version", "The version held.", json!({"type": "integer", "minimum": 0, "maximum": u64::MAX})))
            .param(query("client_epoch", "Its epoch.", string()))
            .ok(101, json!({"description": "Switching protocols: the WebSocket."}))
            .fails(&[400, 403, 426, 429]),
    ]
}
