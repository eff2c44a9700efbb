//! A stored key the provider refuses (seed 004, "User API Key Fails: fall
//! back to system API key"). It is marked refused when a live check of it
//! answers 401/403, or when a back-end service that called the provider with
//! it reports so; resolution then uses the server's key where there is one,
//! and says why. Setting a new key clears the mark, and so does a later
//! check the provider accepts.

use super::{Lockbox, LockboxFailure, now};
use crate::domain::lockbox::checker::CheckFailure;
use crate::domain::lockbox::store::LockboxRow;
use crate::domain::lockbox::{ApiKeyErrorCode, Provider};

impl Lockbox {
    /// Records what a live check of the stored `row` found.
    pub(super) async fn note_check(
        &self,
        user: &str,
        row: &LockboxRow,
        result: &Result<(), CheckFailure>,
    ) -> Result<(), LockboxFailure> {
        let why = match result {
            Err(f) if f.code == ApiKeyErrorCode::Unauthorized => Some(format!(
                "{} refused it on a live check at {}",
                row.provider.display_name(),
                now()
            )),
            Ok(()) => None,
            // Quota or network: says nothing about the key itself.
            Err(_) => return Ok(()),
        };
        if why.is_some() || row.refused.is_some() {
            self.store
                .set_refused(user, row.provider, &row.sealed, why.as_deref())
                .await?;
            tracing::info!(
                user,
                provider = row.provider.as_str(),
                refused = why.is_some(),
                "lockbox key checked"
            );
        }
        Ok(())
    }

    /// A back-end service called `provider` with the user's stored key and
    /// got `status` (401 or 403). `key_version` is the resolution's (the key
    /// the service used); false when the user has set another key since.
    pub async fn report_refused(
        &self,
        user: &str,
        provider: Provider,
        status: u16,
        key_version: Option<&str>,
    ) -> Result<bool, LockboxFailure> {
        self.keys()?;
        let row = self
            .store
            .get(user, provider)
            .await?
            .ok_or(LockboxFailure::NothingStored(provider))?;
        if key_version.is_some_and(|v| v != row.updated_at) {
            return Ok(false);
        }
        let why = format!(
            "{} answered {status} to a call with it (reported at {})",
            provider.display_name(),
            now()
        );
        tracing::info!(
            user,
            provider = provider.as_str(),
            status,
            "lockbox key reported refused"
        );
        Ok(self
            .store
            .set_refused(user, provider, &row.sealed, Some(&why))
            .await?)
    }
}
