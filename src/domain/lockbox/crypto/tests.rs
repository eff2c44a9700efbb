use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};

use super::*;

const PLAINTEXT: &str = "sk-ant-api03-PLAINTEXTmarker0123456789abcdefghijklmnop";

fn keyring(entries: &[(&str, u8)]) -> MasterKeys {
    let line = entries
        .iter()
        .map(|(kid, byte)| format!("{kid}:{}", STANDARD.encode([*byte; 32])))
        .collect::<Vec<_>>()
        .join(",");
    MasterKeys::parse(&line).unwrap()
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s)
}

fn alice_anthropic() -> Aad {
    Aad::new("alice", Provider::Anthropic)
}

fn sealed_by_a() -> (MasterKeys, Sealed) {
    let keys = keyring(&[("a", 1)]);
    let sealed = seal(&keys, &secret(PLAINTEXT), &alice_anthropic()).unwrap();
    (keys, sealed)
}

fn assert_decrypt_error(result: Result<SecretString, LockboxError>) {
    match result {
        Err(err @ LockboxError::Decrypt) => {
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(PLAINTEXT), "{shown}");
            assert_eq!(err.code(), "DECRYPT_FAILED");
        }
        Err(other) => panic!("expected Decrypt, got {other:?}"),
        Ok(_) => panic!("expected Decrypt, but it opened"),
    }
}

#[test]
fn sealed_key_opens_to_the_same_plaintext() {
    let (keys, sealed) = sealed_by_a();
    assert_eq!(sealed.kid(), "a");
    assert_eq!(sealed.ciphertext().len(), PLAINTEXT.len() + TAG_LEN);
    let opened = open(&keys, &sealed, &alice_anthropic()).unwrap();
    assert_eq!(opened.expose_secret(), PLAINTEXT);
}

#[test]
fn empty_and_non_ascii_plaintexts_round_trip() {
    let keys = keyring(&[("a", 1)]);
    for text in ["", "ключ-🔑-鍵", &"x".repeat(4096)] {
        let sealed = seal(&keys, &secret(text), &alice_anthropic()).unwrap();
        let opened = open(&keys, &sealed, &alice_anthropic()).unwrap();
        assert_eq!(opened.expose_secret(), text);
    }
}

#[test]
fn nonces_are_unique_over_10000_seals() {
    let keys = keyring(&[("a", 1)]);
    let aad = alice_anthropic();
    let plaintext = secret(PLAINTEXT);
    let mut nonces = HashSet::new();
    let mut ciphertexts = HashSet::new();
    for _ in 0..10_000 {
        let sealed = seal(&keys, &plaintext, &aad).unwrap();
        assert!(nonces.insert(*sealed.nonce()), "nonce repeated");
        ciphertexts.insert(sealed.ciphertext().to_vec());
    }
    assert_eq!(
        ciphertexts.len(),
        10_000,
        "same plaintext gave equal ciphertexts"
    );
}

#[test]
fn ciphertext_does_not_contain_the_plaintext() {
    let (_, sealed) = sealed_by_a();
    let stored = sealed.encode();
    assert!(!stored.contains(PLAINTEXT));
    assert!(!stored.contains(&STANDARD.encode(PLAINTEXT)));
    assert!(
        !sealed
            .ciphertext()
            .windows(8)
            .any(|w| PLAINTEXT.as_bytes().windows(8).any(|p| p == w))
    );
}

#[test]
fn tampered_ciphertext_fails_to_open() {
    let (keys, sealed) = sealed_by_a();
    // Every byte position, body and tag alike.
    for i in 0..sealed.ciphertext.len() {
        let mut bad = sealed.clone();
        bad.ciphertext[i] ^= 0x01;
        assert_decrypt_error(open(&keys, &bad, &alice_anthropic()));
    }
    let mut truncated = sealed.clone();
    truncated.ciphertext.pop();
    assert_decrypt_error(open(&keys, &truncated, &alice_anthropic()));
    let mut tagless = sealed;
    tagless.ciphertext.truncate(3);
    assert_decrypt_error(open(&keys, &tagless, &alice_anthropic()));
}

#[test]
fn tampered_nonce_fails_to_open() {
    let (keys, sealed) = sealed_by_a();
    for i in 0..NONCE_LEN {
        let mut bad = sealed.clone();
        bad.nonce[i] ^= 0x80;
        assert_decrypt_error(open(&keys, &bad, &alice_anthropic()));
    }
}

#[test]
fn ciphertext_copied_to_another_user_fails_to_open() {
    let (keys, sealed) = sealed_by_a();
    for user in ["bob", "alice ", "Alice", ""] {
        assert_decrypt_error(open(&keys, &sealed, &Aad::new(user, Provider::Anthropic)));
    }
}

#[test]
fn ciphertext_copied_to_another_provider_fails_to_open() {
    let (keys, sealed) = sealed_by_a();
    for provider in [Provider::OpenAi, Provider::OpenRouter] {
        assert_decrypt_error(open(&keys, &sealed, &Aad::new("alice", provider)));
    }
}

#[test]
fn relabelling_with_another_kid_of_the_same_key_fails() {
    // Same key bytes under two ids: only the kid in the AAD differs.
    let keys = keyring(&[("a", 1), ("b", 1)]);
    let mut sealed = seal(&keys, &secret(PLAINTEXT), &alice_anthropic()).unwrap();
    sealed.kid = String::from("b");
    assert_decrypt_error(open(&keys, &sealed, &alice_anthropic()));
}

#[test]
fn wrong_key_under_the_same_kid_fails() {
    let (_, sealed) = sealed_by_a();
    let impostor = keyring(&[("a", 2)]);
    assert_decrypt_error(open(&impostor, &sealed, &alice_anthropic()));
}

#[test]
fn unknown_kid_fails_with_a_clear_error() {
    let (_, sealed) = sealed_by_a();
    let other = keyring(&[("b", 1)]);
    let err = open(&other, &sealed, &alice_anthropic()).unwrap_err();
    assert!(matches!(err, LockboxError::UnknownKid { ref kid } if kid == "a"));
    assert!(err.to_string().contains("'a'"));
    assert!(!format!("{err:?}").contains(PLAINTEXT));
}

#[test]
fn aad_encoding_is_unambiguous() {
    let cases = [
        (Aad::new("ab", Provider::OpenAi), "c"),
        (Aad::new("a", Provider::OpenAi), "bc"),
        (Aad::new("abopenai", Provider::OpenAi), ""),
        (Aad::new("ab", Provider::OpenRouter), "c"),
        (Aad::new("ab\0openai", Provider::OpenAi), "c"),
    ];
    let encoded: HashSet<Vec<u8>> = cases.iter().map(|(aad, kid)| aad.encode(kid)).collect();
    assert_eq!(encoded.len(), cases.len());
}

#[test]
fn storage_encoding_round_trips() {
    let (keys, sealed) = sealed_by_a();
    let stored = sealed.encode();
    assert!(stored.starts_with("v1.a."), "{stored}");
    assert_eq!(stored, sealed.to_string());
    let parsed: Sealed = stored.parse().unwrap();
    assert_eq!(parsed, sealed);
    let opened = open(&keys, &parsed, &alice_anthropic()).unwrap();
    assert_eq!(opened.expose_secret(), PLAINTEXT);
}

#[test]
fn malformed_storage_strings_are_rejected() {
    let (_, sealed) = sealed_by_a();
    let nonce = STANDARD.encode(sealed.nonce());
    let ct = STANDARD.encode(sealed.ciphertext());
    let cases = [
        String::new(),
        String::from("v1"),
        format!("v1.a.{nonce}"),
        format!("v1.a.{nonce}.{ct}.extra"),
        format!("v2.a.{nonce}.{ct}"),
        format!("v1..{nonce}.{ct}"),
        format!("v1.a b.{nonce}.{ct}"),
        format!("v1.a.!!!.{ct}"),
        format!("v1.a.{}.{ct}", STANDARD.encode([0u8; 11])),
        format!("v1.a.{nonce}.%%%"),
        format!("v1.a.{nonce}.{}", STANDARD.encode([0u8; TAG_LEN - 1])),
    ];
    for case in cases {
        let err = Sealed::parse(&case).unwrap_err();
        assert!(
            matches!(err, LockboxError::MalformedSealed { .. }),
            "{case:?}: {err:?}"
        );
    }
}

#[test]
fn rotation_moves_every_key_to_the_first_master_key() {
    let old = keyring(&[("A", 1)]);
    let aads = [
        Aad::new("alice", Provider::OpenAi),
        Aad::new("bob", Provider::Anthropic),
        Aad::new("carol", Provider::OpenRouter),
    ];
    let rows: Vec<Sealed> = aads
        .iter()
        .map(|aad| seal(&old, &secret(PLAINTEXT), aad).unwrap())
        .collect();

    let both = keyring(&[("B", 2), ("A", 1)]);
    let mut rotated = Vec::new();
    for (row, aad) in rows.iter().zip(&aads) {
        assert!(needs_rotation(&both, row));
        let new_row = reseal(&both, row, aad).unwrap();
        assert_eq!(new_row.kid(), "B");
        assert!(!needs_rotation(&both, &new_row));
        rotated.push(new_row);
    }

    // Key A can now be dropped: everything opens under B alone.
    let only_b = keyring(&[("B", 2)]);
    for (row, aad) in rotated.iter().zip(&aads) {
        assert_eq!(open(&only_b, row, aad).unwrap().expose_secret(), PLAINTEXT);
    }
}

#[test]
fn reseal_with_the_wrong_aad_fails_and_produces_nothing() {
    let (_, sealed) = sealed_by_a();
    let both = keyring(&[("B", 2), ("a", 1)]);
    let err = reseal(&both, &sealed, &Aad::new("mallory", Provider::Anthropic)).unwrap_err();
    assert!(matches!(err, LockboxError::Decrypt));
}

#[test]
fn resealing_a_current_row_gives_a_fresh_nonce() {
    let (keys, sealed) = sealed_by_a();
    assert!(!needs_rotation(&keys, &sealed));
    let again = reseal(&keys, &sealed, &alice_anthropic()).unwrap();
    assert_eq!(again.kid(), "a");
    assert_ne!(again.nonce(), sealed.nonce());
}

#[test]
fn formatting_sealed_values_and_secrets_never_shows_the_plaintext() {
    let (keys, sealed) = sealed_by_a();
    let opened = open(&keys, &sealed, &alice_anthropic()).unwrap();
    let shown = format!(
        "{sealed} {sealed:?} {sealed:#?} {opened:?} {keys:?} {:?}",
        alice_anthropic()
    );
    assert!(!shown.contains(PLAINTEXT), "{shown}");
    assert!(!shown.contains("PLAINTEXTmarker"), "{shown}");
}
