//! JSON Schemas of the documents the seeds' collections hold and of the
//! lockbox's HTTP answers, written beside the wire schemas into
//! `proto-schema/` (`tidemark schema proto-schema`); a test fails on drift.

use schemars::Schema;

use super::docs as domain_docs;
use super::lockbox;
use crate::protocol::schema::schema_of;

/// `(file stem, schema)` for every domain document and answer.
pub fn all() -> Vec<(&'static str, Schema)> {
    vec![
        // Lockbox: the redacted document, the HTTP answers, the
        // model config document and its service-only resolution.
        ("lockbox-doc", schema_of::<lockbox::LockboxDoc>()),
        ("http-lockbox-entry", schema_of::<lockbox::LockboxEntry>()),
        ("http-lockbox-list", schema_of::<lockbox::LockboxList>()),
        (
            "http-lockbox-validate",
            schema_of::<lockbox::ValidateResponse>(),
        ),
        ("model-config-doc", schema_of::<lockbox::ModelConfigDoc>()),
        (
            "http-model-config-resolved",
            schema_of::<lockbox::ResolvedModelConfig>(),
        ),
        // Seed domain documents: what each collection holds.
        ("settings-ui-doc", schema_of::<domain_docs::UiSettings>()),
        (
            "model-preference-doc",
            schema_of::<domain_docs::ModelPreference>(),
        ),
        ("provider-doc", schema_of::<domain_docs::ProviderDoc>()),
        ("model-doc", schema_of::<domain_docs::ModelDoc>()),
        (
            "conversation-doc",
            schema_of::<domain_docs::ConversationDoc>(),
        ),
        ("message-doc", schema_of::<domain_docs::MessageDoc>()),
        ("usage-day-doc", schema_of::<domain_docs::UsageDay>()),
    ]
}
