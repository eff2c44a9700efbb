//! Seed 003's chat sync payload (`POST /api/chat/sync`): parsing and
//! checking (`domain::chat::parse`), then what the engine's validator says
//! of each document it would write, and the statistics kept over them.
//! Every document the parser accepts is one the validator accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tidemark::domain::chat::{self, MAX_TOKENS, MESSAGES};
use tidemark::domain::validate::validate;
use tidemark::engine::ChangeContext;
use tidemark_fuzz::json_of;

fuzz_target!(|data: &[u8]| {
    let Some(body) = json_of(data) else {
        return;
    };
    // The same value as a message, a conversation and a usage document.
    let _ = chat::validate_message(&body);
    let _ = chat::validate_conversation(&body);
    let _ = chat::validate_usage("2026-11-21", &body);
    let _ = chat::time_ms(body.get("timestamp"));
    let Ok(payload) = chat::parse(&body) else {
        return;
    };
    let mut ids = std::collections::HashSet::new();
    for item in &payload.items {
        assert!((1..=512).contains(&item.id.len()));
        assert!(
            ids.insert((item.collection, item.id.as_str())),
            "{} twice",
            item.id
        );
        let raw = serde_json::value::to_raw_value(&item.value).expect("prints");
        let ctx = ChangeContext {
            space: "user:alice",
            collection: item.collection,
            id: &item.id,
            value: Some(&raw),
            trusted: true,
        };
        if let Err(why) = validate(&ctx) {
            panic!("parsed, then refused by the validator: {why}");
        }
        if let Some((role, tokens)) = &item.usage {
            assert_eq!(item.collection, MESSAGES);
            assert!(chat::ROLES.contains(&role.as_str()));
            assert!(*tokens <= MAX_TOKENS);
        }
    }
    let messages: Vec<&Value> = payload
        .items
        .iter()
        .filter(|i| i.collection == MESSAGES)
        .map(|i| &i.value)
        .collect();
    let stats = chat::stats(messages.iter().copied());
    assert_eq!(stats["message_count"], messages.len());
    // The order messages come in changes nothing.
    assert_eq!(chat::stats(messages.iter().rev().copied()), stats);
});
