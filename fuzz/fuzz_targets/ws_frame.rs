//! A client's WebSocket text frame as the connection handler reads it
//! (`src/http/ws/conn.rs` calls these same functions): the full parse into a
//! `ClientMsg`, the lenient `mutate` head read when a frame is refused before
//! parsing, and the `hello` client id check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark::protocol::{ClientMsg, check_client_id, mutate_head, parse_client_msg};

fuzz_target!(|data: &[u8]| {
    // tungstenite hands over text frames as valid UTF-8 only.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let head = mutate_head(text);
    match parse_client_msg(text) {
        Ok(msg) => {
            let printed = serde_json::to_value(&msg).expect("a parsed message prints");
            let kind = printed["type"].as_str().expect("messages are tagged");
            assert!(ClientMsg::TYPES.contains(&kind), "type {kind}");
            // What the server understood, printed, reads back the same.
            let again = parse_client_msg(&printed.to_string()).expect("a printed message parses");
            assert_eq!(serde_json::to_value(&again).unwrap(), printed);
            match &msg {
                ClientMsg::Mutate {
                    mutation_id, space, ..
                } => {
                    // Both readings of one frame agree on what they both read.
                    if let Some((id, s)) = &head {
                        assert_eq!((id, s), (mutation_id, space));
                    }
                }
                ClientMsg::Hello { client_id, .. } => {
                    if check_client_id(client_id).is_ok() {
                        assert!((1..=128).contains(&client_id.len()));
                        assert!(client_id.bytes().all(|b| b.is_ascii_graphic()));
                    }
                }
                ClientMsg::Auth { .. } | ClientMsg::Ping { .. } | ClientMsg::PresenceSet { .. } => {
                }
            }
        }
        Err((code, message)) => {
            assert!(
                code == "bad_message" || code == "unknown_type",
                "code {code}"
            );
            assert!(!message.is_empty());
        }
    }
});
