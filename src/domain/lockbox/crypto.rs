//! AES-256-GCM sealing of API keys.
//!
//! Each seal draws a fresh 96-bit nonce from the operating system's RNG. The
//! associated data binds the user id, the provider and the key id, each
//! length-prefixed after a domain tag, so a ciphertext copied to another user
//! or provider, or relabelled with another key id, fails to open. Storage
//! form: `v1.<kid>.<base64 nonce>.<base64 ciphertext+tag>` (standard base64;
//! neither it nor a key id contains `.`).

use std::fmt;
use std::str::FromStr;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, AeadInOut, KeyInit, Nonce, Payload};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::TryRng as _;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::keys::{MasterKey, valid_kid};
use super::{LockboxError, MasterKeys, Provider};

/// Version tag of the storage encoding.
pub const SEALED_VERSION: &str = "v1";
/// AES-GCM nonce length (96 bits).
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length, appended to the ciphertext.
pub const TAG_LEN: usize = 16;
/// Separates this use of the master keys from any other.
const AAD_DOMAIN: &[u8] = b"tidemark.lockbox.v1";

/// Who and what a sealed key belongs to. The key id is added at seal/open
/// time from the key actually used, so it cannot disagree with the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aad {
    user_id: String,
    provider: Provider,
}

impl Aad {
    pub fn new(user_id: impl Into<String>, provider: Provider) -> Self {
        Aad {
            user_id: user_id.into(),
            provider,
        }
    }

    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Canonical bytes: every field (domain tag, user id, provider, kid) as a
    /// big-endian u64 length followed by its bytes. No two distinct triples
    /// encode alike, whatever characters the user id holds.
    fn encode(&self, kid: &str) -> Vec<u8> {
        let fields: [&[u8]; 4] = [
            AAD_DOMAIN,
            self.user_id.as_bytes(),
            self.provider.as_str().as_bytes(),
            kid.as_bytes(),
        ];
        let mut out = Vec::with_capacity(fields.iter().map(|f| 8 + f.len()).sum());
        for field in fields {
            out.extend_from_slice(&(field.len() as u64).to_be_bytes());
            out.extend_from_slice(field);
        }
        out
    }
}

/// A sealed secret: which key, which nonce, and the ciphertext with its tag.
/// Not secret itself; `Debug` shows the key id and sizes.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    kid: String,
    nonce: [u8; NONCE_LEN],
    /// Ciphertext followed by the 16-byte tag.
    ciphertext: Vec<u8>,
}

impl Sealed {
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn nonce(&self) -> &[u8; NONCE_LEN] {
        &self.nonce
    }

    /// Ciphertext followed by the tag.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    /// The storage string `v1.<kid>.<nonce>.<ciphertext>`.
    pub fn encode(&self) -> String {
        format!(
            "{SEALED_VERSION}.{}.{}.{}",
            self.kid,
            STANDARD.encode(self.nonce),
            STANDARD.encode(&self.ciphertext)
        )
    }

    /// Parses [`Sealed::encode`]'s output. Never panics on any input.
    pub fn parse(s: &str) -> Result<Self, LockboxError> {
        let malformed = |reason| LockboxError::MalformedSealed { reason };
        let mut parts = s.split('.');
        let (Some(version), Some(kid), Some(nonce), Some(ciphertext), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(malformed("expected four '.'-separated parts"));
        };
        if version != SEALED_VERSION {
            return Err(malformed("unknown version"));
        }
        if !valid_kid(kid) {
            return Err(malformed("invalid key id"));
        }
        let nonce = STANDARD
            .decode(nonce)
            .map_err(|_| malformed("nonce is not base64"))?;
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| malformed("nonce is not 12 bytes"))?;
        let ciphertext = STANDARD
            .decode(ciphertext)
            .map_err(|_| malformed("ciphertext is not base64"))?;
        if ciphertext.len() < TAG_LEN {
            return Err(malformed("ciphertext is shorter than its tag"));
        }
        Ok(Sealed {
            kid: kid.to_owned(),
            nonce,
            ciphertext,
        })
    }
}

impl fmt::Display for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl FromStr for Sealed {
    type Err = LockboxError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("kid", &self.kid)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

/// Encrypts `plaintext` under the keyring's first key with a fresh nonce.
pub fn seal(
    keys: &MasterKeys,
    plaintext: &SecretString,
    aad: &Aad,
) -> Result<Sealed, LockboxError> {
    let key = keys.primary();
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::SysRng
        .try_fill_bytes(&mut nonce)
        .map_err(|_| LockboxError::Rng)?;
    // `encrypt` copies the plaintext into a buffer it encrypts in place and
    // never grows (capacity includes the tag), so no plaintext copy is left.
    let ciphertext = cipher(key)
        .encrypt(
            &Nonce::<Aes256Gcm>::from(nonce),
            Payload {
                msg: plaintext.expose_secret().as_bytes(),
                aad: &aad.encode(key.kid()),
            },
        )
        .map_err(|_| LockboxError::Encrypt)?;
    Ok(Sealed {
        kid: key.kid().to_owned(),
        nonce,
        ciphertext,
    })
}

/// Decrypts `sealed` with the key it names, checking the binding to `aad`.
pub fn open(keys: &MasterKeys, sealed: &Sealed, aad: &Aad) -> Result<SecretString, LockboxError> {
    let key = keys
        .get(&sealed.kid)
        .ok_or_else(|| LockboxError::UnknownKid {
            kid: sealed.kid.clone(),
        })?;
    // Decrypted in a buffer zeroed on drop; the secret gets its own copy.
    let mut buffer = Zeroizing::new(sealed.ciphertext.clone());
    cipher(key)
        .decrypt_in_place(
            &Nonce::<Aes256Gcm>::from(sealed.nonce),
            &aad.encode(&sealed.kid),
            &mut *buffer,
        )
        .map_err(|_| LockboxError::Decrypt)?;
    // Authentic but not UTF-8 cannot come from `seal`: treat it as corrupt.
    let text = std::str::from_utf8(&buffer).map_err(|_| LockboxError::Decrypt)?;
    Ok(SecretString::from(text))
}

/// True when `sealed` is not under the keyring's first key.
pub fn needs_rotation(keys: &MasterKeys, sealed: &Sealed) -> bool {
    sealed.kid != keys.primary_kid()
}

/// Opens `sealed` and seals it again under the first key with a fresh nonce.
/// Always re-encrypts; check [`needs_rotation`] first to skip current rows.
pub fn reseal(keys: &MasterKeys, sealed: &Sealed, aad: &Aad) -> Result<Sealed, LockboxError> {
    let plaintext = open(keys, sealed, aad)?;
    seal(keys, &plaintext, aad)
}

fn cipher(key: &MasterKey) -> Aes256Gcm {
    Aes256Gcm::new(key.bytes().into())
}

#[cfg(test)]
mod tests;
