//! The lockbox's one error type.
//!
//! No variant carries key material: neither a master key nor an API key nor a
//! decrypted plaintext ever reaches a message. Key-list errors name the entry
//! by position (and by key id once that id has passed validation, since a
//! valid id is short and cannot be a swapped-in key).

/// Everything the lockbox can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum LockboxError {
    /// `TIDEMARK_MASTER_KEYS` is not set: the lockbox cannot work at all.
    #[error(
        "no master key configured: set TIDEMARK_MASTER_KEYS=kid:base64key (generate one with `tidemark keygen`)"
    )]
    NoMasterKeys,

    /// The key list is present but holds nothing.
    #[error("TIDEMARK_MASTER_KEYS is empty: expected kid:base64key[,kid:base64key...]")]
    EmptyKeyList,

    /// The variable's value is not UTF-8.
    #[error("TIDEMARK_MASTER_KEYS is not valid UTF-8")]
    KeyListNotUtf8,

    /// An entry between commas is blank (for example a trailing comma).
    #[error("TIDEMARK_MASTER_KEYS entry {position} is empty (stray comma?)")]
    EmptyKeyEntry { position: usize },

    /// An entry has no `:` between key id and key.
    #[error("TIDEMARK_MASTER_KEYS entry {position} has no ':' between key id and key")]
    MissingSeparator { position: usize },

    /// A key id is empty, too long or uses characters outside `[A-Za-z0-9_-]`.
    #[error(
        "TIDEMARK_MASTER_KEYS entry {position}: key id must be 1 to {max} characters of A-Z, a-z, 0-9, '_' or '-'"
    )]
    InvalidKid { position: usize, max: usize },

    /// Two entries use the same key id.
    #[error("TIDEMARK_MASTER_KEYS entry {position}: key id '{kid}' appears more than once")]
    DuplicateKid { position: usize, kid: String },

    /// The key part is not standard (padded) base64.
    #[error(
        "TIDEMARK_MASTER_KEYS entry {position} (key id '{kid}'): key is not valid standard base64"
    )]
    InvalidKeyEncoding { position: usize, kid: String },

    /// The key decodes to the wrong number of bytes.
    #[error(
        "TIDEMARK_MASTER_KEYS entry {position} (key id '{kid}'): key must decode to {expected} bytes, got {actual}"
    )]
    WrongKeyLength {
        position: usize,
        kid: String,
        expected: usize,
        actual: usize,
    },

    /// A caller-supplied key id (e.g. for `tidemark keygen`) is invalid.
    #[error("key id must be 1 to {max} characters of A-Z, a-z, 0-9, '_' or '-'")]
    InvalidKidArgument { max: usize },

    /// A stored ciphertext names a key id the keyring does not hold.
    #[error("ciphertext was sealed with key id '{kid}', which is not in TIDEMARK_MASTER_KEYS")]
    UnknownKid { kid: String },

    /// Authentication failed: wrong key, wrong associated data or tampering.
    #[error("decryption failed: wrong key, wrong user/provider binding or corrupted ciphertext")]
    Decrypt,

    /// Encryption failed (only for absurdly large inputs).
    #[error("encryption failed")]
    Encrypt,

    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Rng,

    /// A stored ciphertext string does not parse.
    #[error("stored ciphertext is malformed: {reason}")]
    MalformedSealed { reason: &'static str },

    /// A provider name that is not one of ours.
    #[error("unknown provider: expected one of openai, anthropic, openrouter")]
    UnknownProvider,

    /// An API key does not have the provider's format (seed 004 `INVALID_FORMAT`).
    #[error("{message}")]
    InvalidFormat {
        provider: super::Provider,
        /// Built only from fixed text and numbers, never from the key.
        message: String,
    },
}

impl LockboxError {
    /// A stable, machine-readable code for the HTTP edge.
    pub fn code(&self) -> &'static str {
        use LockboxError::*;
        match self {
            NoMasterKeys => "LOCKBOX_UNAVAILABLE",
            EmptyKeyList
            | KeyListNotUtf8
            | EmptyKeyEntry { .. }
            | MissingSeparator { .. }
            | InvalidKid { .. }
            | DuplicateKid { .. }
            | InvalidKeyEncoding { .. }
            | WrongKeyLength { .. } => "INVALID_MASTER_KEYS",
            InvalidKidArgument { .. } => "INVALID_KID",
            UnknownKid { .. } | Decrypt | MalformedSealed { .. } => "DECRYPT_FAILED",
            Encrypt | Rng => "INTERNAL",
            UnknownProvider => "UNKNOWN_PROVIDER",
            InvalidFormat { .. } => super::ApiKeyErrorCode::InvalidFormat.as_str(),
        }
    }
}
