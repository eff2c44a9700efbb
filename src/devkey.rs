//! `--dev` only: a lockbox master key for development, so that a fresh
//! `cargo run --release -- --dev` can store API keys (seeds 002 and 004)
//! without setting `TIDEMARK_MASTER_KEYS` first. Generated on the first
//! start, kept in a file beside the SQLite database (mode 0600) and read
//! back on later starts; the log names the file and says loudly that it is
//! for development. Without `--dev` nothing here runs.

use std::io::Write;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use crate::domain::lockbox::MasterKeys;

/// Where the key lives: beside a SQLite database file, else in the working
/// directory.
pub fn path_for(database_url: &str) -> PathBuf {
    const NAME: &str = "tidemark-dev-master.key";
    let file = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or(""))
        .filter(|f| !f.is_empty() && !f.starts_with(":memory:"));
    match file {
        Some(f) => {
            let db = Path::new(f);
            let name = db.file_name().map_or_else(
                || NAME.to_string(),
                |n| format!("{}.dev-master.key", n.to_string_lossy()),
            );
            db.with_file_name(name)
        }
        None => PathBuf::from(NAME),
    }
}

/// Reads the development key at `path`, creating it (0600) when missing.
/// The key is written to a temporary file first and linked into place, so
/// two servers starting at once agree on one key and a crash never leaves
/// an empty key file.
pub fn load_or_create(path: &Path) -> Result<MasterKeys, String> {
    let shown = path.display();
    if !path.exists() {
        create(path).map_err(|e| format!("{shown}: {e}"))?;
    }
    let line = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    let line = SecretString::from(line.trim());
    let keys = MasterKeys::parse(line.expose_secret())
        .map_err(|e| format!("{shown}: {e} (delete the file to generate a new development key)"))?;
    tracing::warn!(
        file = %shown,
        "--dev: the lockbox uses the DEVELOPMENT master key in this file (mode 0600); never use it in production (set TIDEMARK_MASTER_KEYS)"
    );
    Ok(keys)
}

fn create(path: &Path) -> std::io::Result<()> {
    let line = MasterKeys::generate_key_line("dev").map_err(std::io::Error::other)?;
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let written = opts.open(&tmp).and_then(|mut f| {
        f.write_all(format!("{}\n", line.expose_secret()).as_bytes())?;
        f.sync_all()
    });
    // Into place only if no other start put one there first.
    let linked = written.and_then(|()| match std::fs::hard_link(&tmp, path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    });
    let _ = std::fs::remove_file(&tmp);
    linked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_sits_beside_the_database() {
        assert_eq!(
            path_for("sqlite://data/tidemark.db?mode=rwc"),
            PathBuf::from("data/tidemark.db.dev-master.key")
        );
        assert_eq!(
            path_for("sqlite:///var/t.db"),
            PathBuf::from("/var/t.db.dev-master.key")
        );
        assert_eq!(
            path_for("postgres://localhost/x"),
            PathBuf::from("tidemark-dev-master.key")
        );
        assert_eq!(
            path_for("sqlite::memory:"),
            PathBuf::from("tidemark-dev-master.key")
        );
    }

    #[test]
    fn created_once_0600_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.db.dev-master.key");
        let a = load_or_create(&p).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let b = load_or_create(&p).unwrap();
        assert_eq!(a.primary_kid(), b.primary_kid());
        assert_eq!(a.primary().kid(), "dev");
    }
}
