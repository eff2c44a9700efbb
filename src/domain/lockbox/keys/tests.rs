use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret;

use super::*;

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Asserts the error's Debug and Display mention none of `secrets`.
fn assert_no_leak(err: &LockboxError, secrets: &[&str]) {
    let shown = format!("{err} {err:?}");
    for secret in secrets {
        assert!(!shown.contains(secret), "error leaks {secret:?}: {shown}");
    }
}

#[test]
fn first_key_is_primary_and_all_keys_are_kept() {
    let line = format!("new:{},old:{}", b64(&[2; 32]), b64(&[1; 32]));
    let keys = MasterKeys::parse(&line).unwrap();
    assert_eq!(keys.primary_kid(), "new");
    assert_eq!(keys.kids().collect::<Vec<_>>(), ["new", "old"]);
    assert_eq!(keys.len(), 2);
    assert_eq!(keys.get("old").unwrap().bytes(), &[1; 32]);
    assert!(keys.get("missing").is_none());
}

#[test]
fn whitespace_around_entries_is_ignored() {
    let line = format!(" a : {} ,\n b:{} ", b64(&[1; 32]), b64(&[2; 32]));
    let keys: MasterKeys = line.parse().unwrap();
    assert_eq!(keys.kids().collect::<Vec<_>>(), ["a", "b"]);
}

#[test]
fn empty_key_list_is_rejected() {
    for value in ["", "   ", "\n"] {
        assert!(matches!(
            MasterKeys::parse(value),
            Err(LockboxError::EmptyKeyList)
        ));
    }
}

#[test]
fn blank_entry_is_rejected_with_its_position() {
    let line = format!("a:{},", b64(&[1; 32]));
    let err = MasterKeys::parse(&line).unwrap_err();
    assert!(matches!(err, LockboxError::EmptyKeyEntry { position: 2 }));
    assert!(err.to_string().contains("entry 2"));
}

#[test]
fn entry_without_colon_is_rejected_without_echoing_it() {
    let key = b64(&[7; 32]);
    let err = MasterKeys::parse(&key).unwrap_err();
    assert!(matches!(
        err,
        LockboxError::MissingSeparator { position: 1 }
    ));
    assert!(err.to_string().contains("no ':'"));
    assert_no_leak(&err, &[&key]);
}

#[test]
fn invalid_kids_are_rejected_without_echoing_them() {
    let key = b64(&[1; 32]);
    let long = "k".repeat(MAX_KID_LEN + 1);
    for kid in ["", "has space", "dot.ted", "ünï", "a/b", long.as_str()] {
        let err = MasterKeys::parse(&format!("{kid}:{key}")).unwrap_err();
        assert!(
            matches!(err, LockboxError::InvalidKid { position: 1, .. }),
            "{kid:?}: {err:?}"
        );
        if !kid.is_empty() {
            assert_no_leak(&err, &[kid]);
        }
    }
}

#[test]
fn key_pasted_as_kid_is_not_echoed() {
    let key = b64(&[9; 32]);
    let err = MasterKeys::parse(&format!("{key}:{key}")).unwrap_err();
    assert!(matches!(err, LockboxError::InvalidKid { .. }));
    assert_no_leak(&err, &[&key]);
}

#[test]
fn duplicate_kid_is_rejected() {
    let line = format!("a:{},a:{}", b64(&[1; 32]), b64(&[2; 32]));
    let err = MasterKeys::parse(&line).unwrap_err();
    assert!(matches!(err, LockboxError::DuplicateKid { position: 2, ref kid } if kid == "a"));
}

#[test]
fn bad_base64_is_rejected_without_echoing_the_key() {
    for bad in ["not base64!!", "AAAA*AAA", "QUJD", "QUJDRA"] {
        let err = MasterKeys::parse(&format!("a:{bad}")).unwrap_err();
        match err {
            LockboxError::InvalidKeyEncoding { position: 1, .. } => {}
            // "QUJD" is valid base64 for 3 bytes: a length error instead.
            LockboxError::WrongKeyLength { actual: 3, .. } => {}
            ref other => panic!("{bad:?}: unexpected {other:?}"),
        }
        assert_no_leak(&err, &[bad]);
    }
}

#[test]
fn url_safe_and_unpadded_base64_are_rejected() {
    // 32 bytes whose standard encoding contains '+' and '/'.
    let bytes = [0xfb; 32];
    let standard = b64(&bytes);
    assert!(standard.contains('+') || standard.contains('/'));
    let url_safe = standard.replace('+', "-").replace('/', "_");
    let unpadded = standard.trim_end_matches('=').to_owned();
    for bad in [url_safe, unpadded] {
        let err = MasterKeys::parse(&format!("a:{bad}")).unwrap_err();
        assert!(
            matches!(err, LockboxError::InvalidKeyEncoding { .. }),
            "{err:?}"
        );
    }
    assert!(MasterKeys::parse(&format!("a:{standard}")).is_ok());
}

#[test]
fn short_or_long_key_is_rejected_with_its_length() {
    for len in [0usize, 16, 31, 33, 64] {
        let key = b64(&vec![5; len]);
        let err = MasterKeys::parse(&format!("k1:{key}")).unwrap_err();
        match &err {
            LockboxError::WrongKeyLength {
                position: 1,
                kid,
                expected: 32,
                actual,
            } => {
                assert_eq!(kid, "k1");
                assert_eq!(*actual, len);
            }
            other => panic!("len {len}: unexpected {other:?}"),
        }
        assert!(err.to_string().contains(&format!("got {len}")));
        if !key.is_empty() {
            assert_no_leak(&err, &[&key]);
        }
    }
}

#[test]
fn every_key_list_error_has_the_master_keys_code() {
    let err = MasterKeys::parse("nocolon").unwrap_err();
    assert_eq!(err.code(), "INVALID_MASTER_KEYS");
    assert!(err.to_string().starts_with(MASTER_KEYS_ENV));
}

#[test]
fn debug_prints_only_kids() {
    let key_a = b64(&[0xaa; 32]);
    let key_b = b64(&[0xbb; 32]);
    let keys = MasterKeys::parse(&format!("a:{key_a},b:{key_b}")).unwrap();
    let shown = format!("{keys:?} {:?} {:#?}", keys.primary(), keys);
    assert!(
        shown.contains("\"a\"") && shown.contains("\"b\""),
        "{shown}"
    );
    for secret in [&key_a, &key_b] {
        assert!(!shown.contains(secret.as_str()), "{shown}");
    }
    assert!(!shown.contains("170"), "raw key bytes printed: {shown}");
}

#[test]
fn generated_key_line_parses_back_into_a_keyring() {
    let line = MasterKeys::generate_key_line("k2026").unwrap();
    let keys = MasterKeys::parse(line.expose_secret()).unwrap();
    assert_eq!(keys.primary_kid(), "k2026");
    let (_, encoded) = line.expose_secret().split_once(':').unwrap();
    assert_eq!(encoded.len(), 44);
    assert_eq!(STANDARD.decode(encoded).unwrap().len(), KEY_LEN);
}

#[test]
fn generated_keys_differ() {
    let a = MasterKeys::generate_key_line("k").unwrap();
    let b = MasterKeys::generate_key_line("k").unwrap();
    assert_ne!(a.expose_secret(), b.expose_secret());
}

#[test]
fn generate_key_line_rejects_a_bad_kid() {
    for kid in ["", "a:b", "a,b", "a.b"] {
        let err = MasterKeys::generate_key_line(kid).unwrap_err();
        assert!(matches!(err, LockboxError::InvalidKidArgument { .. }));
    }
}
