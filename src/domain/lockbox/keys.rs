//! The master keyring from `TIDEMARK_MASTER_KEYS=kid:base64key[,kid:base64key...]`.
//!
//! The first key encrypts; every key decrypts, so rotation is: put the new key
//! first, keep the old ones behind it, run `tidemark lockbox rotate`, then drop
//! the old ones. Key bytes live only in [`SecretBox`]es (zeroed on drop) and
//! `Debug` prints key ids only.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::TryRng as _;
use secrecy::{ExposeSecret, ExposeSecretMut, SecretBox, SecretString};
use zeroize::Zeroizing;

use super::LockboxError;

/// The environment variable holding the keyring.
pub const MASTER_KEYS_ENV: &str = "TIDEMARK_MASTER_KEYS";
/// AES-256 key length in bytes.
pub const KEY_LEN: usize = 32;
/// Longest accepted key id. Short on purpose: a 32-byte key in base64 is 44
/// characters, so a key pasted where the id belongs is never a valid id and
/// never echoed in an error.
pub const MAX_KID_LEN: usize = 32;

/// One master key: its id and its bytes.
pub struct MasterKey {
    kid: String,
    key: SecretBox<[u8; KEY_LEN]>,
}

impl MasterKey {
    /// The key id, stored next to every ciphertext it seals.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The raw key, for the cipher only.
    pub(super) fn bytes(&self) -> &[u8; KEY_LEN] {
        self.key.expose_secret()
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The keyring: never empty, ids unique, first key encrypts. Cheap to clone.
#[derive(Clone)]
pub struct MasterKeys {
    keys: Arc<[MasterKey]>,
}

impl MasterKeys {
    /// Parses `kid:base64key[,kid:base64key...]`. Whitespace around entries,
    /// ids and keys is ignored. Errors name the entry (1-based), never the key.
    pub fn parse(value: &str) -> Result<Self, LockboxError> {
        if value.trim().is_empty() {
            return Err(LockboxError::EmptyKeyList);
        }
        let mut keys: Vec<MasterKey> = Vec::new();
        for (index, entry) in value.split(',').enumerate() {
            let position = index + 1;
            let entry = entry.trim();
            if entry.is_empty() {
                return Err(LockboxError::EmptyKeyEntry { position });
            }
            let Some((kid, encoded)) = entry.split_once(':') else {
                return Err(LockboxError::MissingSeparator { position });
            };
            let kid = kid.trim();
            if !valid_kid(kid) {
                return Err(LockboxError::InvalidKid {
                    position,
                    max: MAX_KID_LEN,
                });
            }
            if keys.iter().any(|k| k.kid == kid) {
                return Err(LockboxError::DuplicateKid {
                    position,
                    kid: kid.to_owned(),
                });
            }
            let key = decode_key(encoded.trim(), position, kid)?;
            keys.push(MasterKey {
                kid: kid.to_owned(),
                key,
            });
        }
        Ok(MasterKeys { keys: keys.into() })
    }

    /// Reads [`MASTER_KEYS_ENV`]. `Ok(None)` when unset (the lockbox is then
    /// unavailable); set but blank or malformed is an error, so a server can
    /// refuse to start and say why.
    pub fn from_env() -> Result<Option<Self>, LockboxError> {
        match std::env::var_os(MASTER_KEYS_ENV) {
            None => Ok(None),
            Some(raw) => match raw.to_str() {
                Some(value) => Self::parse(value).map(Some),
                None => Err(LockboxError::KeyListNotUtf8),
            },
        }
    }

    /// The key that encrypts: the first one listed.
    pub fn primary(&self) -> &MasterKey {
        // Invariant: `parse` never builds an empty keyring.
        &self.keys[0]
    }

    /// Id of the key that encrypts.
    pub fn primary_kid(&self) -> &str {
        self.primary().kid()
    }

    /// The key with this id, if the keyring holds it.
    pub fn get(&self, kid: &str) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// All key ids, primary first.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    /// Number of keys (at least one).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false; present for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// A new `kid:base64key` line for `tidemark keygen`: 32 bytes from the
    /// operating system's RNG, standard padded base64. The line is a secret.
    pub fn generate_key_line(kid: &str) -> Result<SecretString, LockboxError> {
        if !valid_kid(kid) {
            return Err(LockboxError::InvalidKidArgument { max: MAX_KID_LEN });
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        rand::rngs::SysRng
            .try_fill_bytes(key.as_mut())
            .map_err(|_| LockboxError::Rng)?;
        let mut line = Zeroizing::new(String::with_capacity(kid.len() + 1 + 44));
        line.push_str(kid);
        line.push(':');
        STANDARD.encode_string(key.as_ref(), &mut line);
        Ok(SecretString::from(line.as_str()))
    }
}

impl FromStr for MasterKeys {
    type Err = LockboxError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeys")
            .field("kids", &self.kids().collect::<Vec<_>>())
            .finish()
    }
}

/// Key ids: 1 to [`MAX_KID_LEN`] characters of `[A-Za-z0-9_-]`. No `.`, `:`
/// or `,`, so ids are safe inside the key list and the storage encoding.
pub fn valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn decode_key(
    encoded: &str,
    position: usize,
    kid: &str,
) -> Result<SecretBox<[u8; KEY_LEN]>, LockboxError> {
    // The decode error is dropped: its text can quote a byte of the key.
    let decoded =
        Zeroizing::new(
            STANDARD
                .decode(encoded)
                .map_err(|_| LockboxError::InvalidKeyEncoding {
                    position,
                    kid: kid.to_owned(),
                })?,
        );
    if decoded.len() != KEY_LEN {
        return Err(LockboxError::WrongKeyLength {
            position,
            kid: kid.to_owned(),
            expected: KEY_LEN,
            actual: decoded.len(),
        });
    }
    let mut key = SecretBox::new(Box::new([0u8; KEY_LEN]));
    key.expose_secret_mut().copy_from_slice(&decoded);
    Ok(key)
}

#[cfg(test)]
mod tests;
