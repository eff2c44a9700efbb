//! Encrypted API keys.
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
//! - [`settings`]: flags and variables (master keys, server-wide keys, base
//!   URLs), flattened into `tidemark serve`.
//! - [`store`]: the `lockbox` table (ciphertext only), its own pool.
//! - [`doc`]: the redacted `lockbox/{provider}` document and HTTP shapes; the
//!   validator that keeps clients from writing it.
//! - [`checker`]: live key checks against the provider's API.
//! - [`service`]: [`Lockbox`], set/remove/list/check, keeps the documents in
//!   step, resolves model configs.
//! - [`model_config`]: `model_config/current`, validated against the catalog.
//! - [`resolve`]: the fallback chain for back-end services.
//! - [`rotate`]: `tidemark lockbox rotate` and `tidemark keygen`.
//!
//! Plaintext keys only ever live in `secrecy`/`zeroize` types; every `Debug`
//! and `Display` here prints a mask, a key id or a size.

pub mod apikey;
pub mod checker;
pub mod crypto;
pub mod doc;
pub mod error;
pub mod keys;
pub mod model_config;
pub mod resolve;
pub mod rotate;
pub mod service;
pub mod settings;
pub mod store;

pub use apikey::{ApiKey, ApiKeyErrorCode, Provider};
pub use crypto::{Aad, Sealed, needs_rotation, open, reseal, seal};
pub use doc::{
    KeySource, LOCKBOX_COLLECTION, LockboxDoc, LockboxEntry, LockboxList, ValidateResponse,
    validate_lockbox_change,
};
pub use error::LockboxError;
pub use keys::{MASTER_KEYS_ENV, MasterKey, MasterKeys};
pub use model_config::{CatalogView, ModelConfigDoc, compose_validator};
pub use resolve::ResolvedModelConfig;
pub use service::{Lockbox, LockboxFailure, master_keys};
pub use settings::LockboxArgs;
