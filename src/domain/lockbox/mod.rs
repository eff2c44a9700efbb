//! Encrypted API keys (issue 6): the cryptographic core.
//!
//! # Layout
//! - [`keys`]: the master keyring from `TIDEMARK_MASTER_KEYS` (first key
//!   encrypts, all decrypt) and `tidemark keygen` lines.
//! - [`crypto`]: AES-256-GCM seal/open with associated data binding user,
//!   provider and key id; the `v1.` storage encoding; rotation helpers.
//! - [`apikey`]: providers, their environment variables, and the masked
//!   [`ApiKey`] with per-provider format checks.
//! - [`error`]: [`LockboxError`], the one error type; no variant carries key
//!   material.
//!
//! Plaintext keys only ever live in `secrecy`/`zeroize` types; every `Debug`
//! and `Display` here prints a mask, a key id or a size.

pub mod apikey;
pub mod crypto;
pub mod error;
pub mod keys;

pub use apikey::{ApiKey, ApiKeyErrorCode, Provider};
pub use crypto::{Aad, Sealed, needs_rotation, open, reseal, seal};
pub use error::LockboxError;
pub use keys::{MASTER_KEYS_ENV, MasterKey, MasterKeys};
