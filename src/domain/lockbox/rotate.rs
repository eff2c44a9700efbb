//! `tidemark lockbox rotate` and `tidemark keygen`.
//!
//! Rotation walks the table in key order, a page at a time, and re-encrypts
//! each row not under the first master key with a conditional update (the row
//! must still hold the ciphertext that was read). Every row is its own
//! statement, so an interrupted run leaves each row either old or new — both
//! decryptable while the old key stays listed — and a second run finishes
//! the job; once done, a run rotates nothing.

use std::fmt;

use super::store::LockboxStore;
use super::{Aad, MasterKeys, needs_rotation, reseal};
use crate::store::StoreResult;

const PAGE: u32 = 200;

/// One row rotation could not re-encrypt. No key material, only names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotateFailure {
    pub owner: String,
    pub provider: String,
    pub kid: String,
    pub reason: String,
}

/// Counts of one rotation run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotateReport {
    /// The key that now encrypts.
    pub primary_kid: String,
    /// Rows looked at.
    pub scanned: u64,
    /// Rows re-encrypted under the primary key by this run.
    pub rotated: u64,
    /// Rows already under the primary key.
    pub current: u64,
    /// Rows replaced or deleted by a user meanwhile (left as they are).
    pub changed: u64,
    pub failed: Vec<RotateFailure>,
}

impl fmt::Display for RotateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lockbox rotate: {} keys scanned, {} re-encrypted under '{}', {} already current, \
             {} changed meanwhile, {} failed",
            self.scanned,
            self.rotated,
            self.primary_kid,
            self.current,
            self.changed,
            self.failed.len()
        )
    }
}

/// Re-encrypts every stored key under `keys`' first key.
pub async fn rotate(store: &LockboxStore, keys: &MasterKeys) -> StoreResult<RotateReport> {
    let mut report = RotateReport {
        primary_kid: keys.primary_kid().to_string(),
        ..RotateReport::default()
    };
    let mut after: Option<(String, String)> = None;
    loop {
        let cursor = after.as_ref().map(|(o, p)| (o.as_str(), p.as_str()));
        let page = store.page_after(cursor, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.owner.clone(), last.provider.as_str().to_string()));
        for row in page {
            report.scanned += 1;
            if !needs_rotation(keys, &row.sealed) {
                report.current += 1;
                continue;
            }
            match reseal(keys, &row.sealed, &Aad::new(&row.owner, row.provider)) {
                Ok(new) => {
                    if store
                        .replace_sealed(&row.owner, row.provider, &row.sealed, &new)
                        .await?
                    {
                        report.rotated += 1;
                    } else {
                        report.changed += 1;
                    }
                }
                Err(e) => report.failed.push(RotateFailure {
                    owner: row.owner.clone(),
                    provider: row.provider.as_str().to_string(),
                    kid: row.sealed.kid().to_string(),
                    reason: e.to_string(),
                }),
            }
        }
    }
    tracing::info!(
        primary_kid = %report.primary_kid,
        scanned = report.scanned,
        rotated = report.rotated,
        current = report.current,
        changed = report.changed,
        failed = report.failed.len(),
        "lockbox rotation finished"
    );
    Ok(report)
}

/// `kYYYYMMDDhhmmss` from the current time (UTC).
pub fn default_kid() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let date: String = now.chars().take(19).filter(char::is_ascii_digit).collect();
    format!("k{date}")
}
