//! The lockbox service: set, remove, list and check a user's keys, keep the
//! redacted `lockbox/{provider}` documents in step, and resolve model configs
//! for back-end services. Knows no HTTP.
//!
//! Changes of one user are serialized (a striped mutex), so the row and its
//! document always end in the same state on this node.

mod available;
mod refusal;
mod resolution;

use std::hash::{Hash, Hasher};
use std::time::SystemTime;

use secrecy::SecretString;

use super::checker::{CheckFailure, KeyChecker};
use super::doc::{CheckedKey, LOCKBOX_COLLECTION, LockboxDoc, LockboxEntry, ValidateResponse};
use super::resolve::ResolveError;
use super::settings::LockboxArgs;
use super::store::{LockboxRow, LockboxStore};
use super::{Aad, ApiKey, KeySource, LockboxError, MasterKeys, Provider};
use crate::engine::{Engine, EngineError, MutationInput, Principal, Role};
use crate::protocol::{MutationResult, Op};
use crate::store::StoreError;

const STRIPES: usize = 64;

/// What the lockbox can fail at; no variant holds key material.
#[derive(Debug, thiserror::Error)]
pub enum LockboxFailure {
    /// No `TIDEMARK_MASTER_KEYS`: nothing is stored, not even in plaintext.
    #[error(
        "the lockbox is not configured on this server (TIDEMARK_MASTER_KEYS is not set); \
         API keys cannot be stored"
    )]
    Unavailable,
    /// `INVALID_FORMAT`, or another [`LockboxError`] (decryption, ...).
    #[error(transparent)]
    Lockbox(#[from] LockboxError),
    /// The provider did not accept the key (seed 004 codes).
    #[error("{}", .0.message)]
    Check(CheckFailure),
    #[error("no {} key is stored in your lockbox", .0.display_name())]
    NothingStored(Provider),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// See the module docs. One per server.
pub struct Lockbox {
    keys: Option<MasterKeys>,
    store: LockboxStore,
    env_keys: Vec<(Provider, ApiKey)>,
    checker: KeyChecker,
    stripes: Vec<tokio::sync::Mutex<()>>,
}

/// Parses the master keys, so a server can refuse to start before anything else.
pub fn master_keys(args: &LockboxArgs) -> Result<Option<MasterKeys>, LockboxError> {
    use secrecy::ExposeSecret;
    args.master_keys
        .as_ref()
        .map(|s| MasterKeys::parse(s.expose_secret()))
        .transpose()
}

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

fn service() -> Principal {
    Principal {
        user: "tidemark-lockbox".into(),
        role: Role::Service,
    }
}

impl Lockbox {
    pub async fn open(
        args: &LockboxArgs,
        keys: Option<MasterKeys>,
        database_url: &str,
    ) -> Result<Self, String> {
        let store = LockboxStore::open(database_url)
            .await
            .map_err(|e| format!("lockbox: {e}"))?;
        let env_keys = Provider::ALL
            .into_iter()
            .filter_map(|p| args.env_key(p).map(|k| (p, ApiKey::from_secret(k.clone()))))
            .collect();
        Ok(Lockbox {
            keys,
            store,
            env_keys,
            checker: KeyChecker::new(args)?,
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        })
    }

    /// False without master keys: the `/v1/lockbox` endpoints answer 503.
    pub fn available(&self) -> bool {
        self.keys.is_some()
    }

    pub fn store(&self) -> &LockboxStore {
        &self.store
    }

    /// The server's key for `provider` (`source: env`), if configured.
    pub fn env_key(&self, provider: Provider) -> Option<&ApiKey> {
        self.env_keys
            .iter()
            .find(|(p, _)| *p == provider)
            .map(|(_, k)| k)
    }

    fn keys(&self) -> Result<&MasterKeys, LockboxFailure> {
        self.keys.as_ref().ok_or(LockboxFailure::Unavailable)
    }

    fn stripe(&self, user: &str) -> &tokio::sync::Mutex<()> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        user.hash(&mut h);
        &self.stripes[(h.finish() as usize) % self.stripes.len()]
    }

    /// Stores `raw` as the user's key for `provider` (after checking it live
    /// when `validate`), and returns the masked view.
    pub async fn set(
        &self,
        engine: &Engine,
        user: &str,
        provider: Provider,
        raw: SecretString,
        validate: bool,
    ) -> Result<LockboxEntry, LockboxFailure> {
        let keys = self.keys()?;
        let key = ApiKey::parse(provider, raw)?;
        if validate {
            self.checker
                .check(provider, &key)
                .await
                .map_err(LockboxFailure::Check)?;
        }
        let sealed = super::seal(keys, key.as_secret(), &Aad::new(user, provider))?;
        let row = LockboxRow {
            owner: user.to_string(),
            provider,
            sealed,
            last4: key.last4(),
            updated_at: now(),
            refused: None,
        };
        drop(key);
        // One writer per user: on this node (the stripe), and across nodes
        // sharing PostgreSQL (the owner lock, in whose transaction the row is
        // written), so the row and its redacted document end in step.
        let _serial = self.stripe(user).lock().await;
        let mut owner = self.store.lock_owner(user).await?;
        self.store.upsert(&mut owner, &row).await?;
        let kid = row.sealed.kid().to_string();
        let mut entries = self
            .reconcile(engine, user, &[(provider, Some(row))])
            .await?;
        owner.commit().await?;
        tracing::info!(user, provider = provider.as_str(), kid, "lockbox key set");
        let mut entry = entries
            .pop()
            .ok_or_else(|| EngineError::Internal("lockbox: no view after storing a key".into()))?;
        entry.validated = validate.then_some(true);
        Ok(entry)
    }

    /// Removes the user's key for `provider` (if any) and returns the view.
    pub async fn remove(
        &self,
        engine: &Engine,
        user: &str,
        provider: Provider,
    ) -> Result<LockboxEntry, LockboxFailure> {
        self.keys()?;
        let _serial = self.stripe(user).lock().await;
        let mut owner = self.store.lock_owner(user).await?;
        let existed = self.store.delete(&mut owner, user, provider).await?;
        let mut entries = self.reconcile(engine, user, &[(provider, None)]).await?;
        owner.commit().await?;
        tracing::info!(
            user,
            provider = provider.as_str(),
            existed,
            "lockbox key removed"
        );
        entries.pop().ok_or_else(|| {
            LockboxFailure::Engine(EngineError::Internal(
                "lockbox: no view after delete".into(),
            ))
        })
    }

    /// Every provider's view, bringing the documents in step on the way (for
    /// example after the server's environment keys changed).
    pub async fn list(
        &self,
        engine: &Engine,
        user: &str,
    ) -> Result<Vec<LockboxEntry>, LockboxFailure> {
        self.keys()?;
        let _serial = self.stripe(user).lock().await;
        let mut owner = self.store.lock_owner(user).await?;
        let rows = self.store.list_in(&mut owner, user).await?;
        let wanted: Vec<(Provider, Option<LockboxRow>)> = Provider::ALL
            .into_iter()
            .map(|p| (p, rows.iter().find(|r| r.provider == p).cloned()))
            .collect();
        let entries = self.reconcile(engine, user, &wanted).await?;
        owner.commit().await?;
        Ok(entries)
    }

    /// Checks a key live: `raw` when given, else the stored one.
    pub async fn check(
        &self,
        user: &str,
        provider: Provider,
        raw: Option<SecretString>,
    ) -> Result<ValidateResponse, LockboxFailure> {
        let keys = self.keys()?;
        let (key, checked, stored) = match raw {
            Some(raw) => (ApiKey::parse(provider, raw)?, CheckedKey::Request, None),
            None => {
                let row = self
                    .store
                    .get(user, provider)
                    .await?
                    .ok_or(LockboxFailure::NothingStored(provider))?;
                let plain = super::open(keys, &row.sealed, &Aad::new(user, provider))?;
                (ApiKey::from_secret(plain), CheckedKey::Lockbox, Some(row))
            }
        };
        let result = self.checker.check(provider, &key).await;
        drop(key);
        // A stored key the provider refuses is marked, so resolution falls
        // back to the server's key; one it accepts again is unmarked.
        if let Some(row) = stored {
            self.note_check(user, &row, &result).await?;
        }
        result.map_err(LockboxFailure::Check)?;
        Ok(ValidateResponse {
            provider,
            valid: true,
            checked,
        })
    }

    /// The view a provider should show given its row (if any).
    fn desired(
        &self,
        provider: Provider,
        row: Option<&LockboxRow>,
        old: Option<&LockboxDoc>,
    ) -> LockboxDoc {
        if let Some(row) = row {
            return LockboxDoc {
                configured: true,
                last4: row.last4.clone(),
                source: KeySource::Lockbox,
                updated_at: row.updated_at.clone(),
            };
        }
        let env = self.env_key(provider).is_some();
        let mut doc = LockboxDoc {
            configured: env,
            last4: None,
            source: if env {
                KeySource::Env
            } else {
                KeySource::Lockbox
            },
            updated_at: String::new(),
        };
        // Keep the time of the last real change, so rewriting it is a no-op.
        doc.updated_at = match old {
            Some(old) if old.same_state(&doc) => old.updated_at.clone(),
            _ => now(),
        };
        doc
    }

    /// Writes the redacted documents that differ from `wanted` (one mutation,
    /// through the engine, so every subscriber sees it) and returns the views.
    async fn reconcile(
        &self,
        engine: &Engine,
        user: &str,
        wanted: &[(Provider, Option<LockboxRow>)],
    ) -> Result<Vec<LockboxEntry>, LockboxFailure> {
        let space = format!("user:{user}");
        // Another node may have written these documents a moment ago: read
        // its changes first, so the comparison below sees them.
        engine.catch_up_with_store(&space).await?;
        let current: Vec<Option<LockboxDoc>> = {
            let s = engine.space(&space).await?;
            let data = s.read();
            wanted
                .iter()
                .map(|(p, _)| {
                    let entry = data.get(LOCKBOX_COLLECTION, p.as_str())?;
                    serde_json::from_str(entry.value.as_ref()?.get()).ok()
                })
                .collect()
        };
        let mut ops = Vec::new();
        let mut entries = Vec::new();
        for ((provider, row), old) in wanted.iter().zip(&current) {
            let doc = self.desired(*provider, row.as_ref(), old.as_ref());
            if old.as_ref() != Some(&doc) {
                ops.push(Op::Put {
                    collection: LOCKBOX_COLLECTION.into(),
                    id: provider.as_str().into(),
                    value: serde_json::to_value(&doc)
                        .map_err(|e| EngineError::Internal(e.to_string()))?,
                    if_version: None,
                });
            }
            entries.push(LockboxEntry {
                provider: *provider,
                doc,
                validated: None,
            });
        }
        if !ops.is_empty() {
            let input = MutationInput {
                origin: None,
                space,
                ops,
                trusted: true,
            };
            if let (_, MutationResult::Reject { message, .. }) =
                engine.mutate(&service(), input).await?
            {
                return Err(
                    EngineError::Internal(format!("lockbox document rejected: {message}")).into(),
                );
            }
        }
        Ok(entries)
    }
}
