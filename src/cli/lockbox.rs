//! `tidemark lockbox rotate` and `tidemark keygen`.

use secrecy::ExposeSecret;

use crate::domain::lockbox::rotate::{RotateReport, default_kid, rotate};
use crate::domain::lockbox::settings::LockboxArgs;
use crate::domain::lockbox::store::LockboxStore;
use crate::domain::lockbox::{MasterKeys, master_keys};

/// `tidemark lockbox rotate`: prints the counts; an error when keys are
/// missing or malformed, or when any row could not be re-encrypted.
pub async fn rotate_command(
    args: &LockboxArgs,
    database_url: &str,
) -> Result<RotateReport, String> {
    let keys = master_keys(args)
        .map_err(|e| e.to_string())?
        .ok_or("set TIDEMARK_MASTER_KEYS (new key first, old keys after it) to rotate")?;
    let store = LockboxStore::open(database_url)
        .await
        .map_err(|e| format!("lockbox: {e}"))?;
    let report = rotate(&store, &keys).await.map_err(|e| e.to_string());
    store.close().await;
    let report = report?;
    println!("{report}");
    for f in &report.failed {
        eprintln!(
            "  not rotated: user '{}', provider {}, key id '{}': {}",
            f.owner, f.provider, f.kid, f.reason
        );
    }
    if report.failed.is_empty() {
        Ok(report)
    } else {
        Err(format!(
            "{} keys could not be re-encrypted (listed above); keep their key ids in \
             TIDEMARK_MASTER_KEYS or have those users set their keys again",
            report.failed.len()
        ))
    }
}

/// `tidemark keygen [--kid K]`: prints a new `kid:base64key` line.
pub fn keygen_command(kid: Option<&str>) -> Result<(), String> {
    let kid = match kid {
        Some(k) => k.to_string(),
        None => default_kid(),
    };
    let line = MasterKeys::generate_key_line(&kid).map_err(|e| e.to_string())?;
    println!("{}", line.expose_secret());
    eprintln!(
        "put it first in TIDEMARK_MASTER_KEYS (keep older keys after it), restart, then run \
         `tidemark lockbox rotate`"
    );
    Ok(())
}
