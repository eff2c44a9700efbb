//! `tidemark catalog load FILE.json [--server URL]`: straight into the
//! database, or through a running server's admin endpoint (so its
//! subscribers get the events at once).

use std::path::Path;

use serde_json::Value;

use crate::config::ServeArgs;
use crate::domain::catalog::load::{load, parse_file};
use crate::engine::{Engine, Role};

/// Loads the file; returns the report as one JSON line.
pub async fn load_file(
    args: &ServeArgs,
    path: &Path,
    server: Option<&str>,
    token: Option<String>,
) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let file = parse_file(&v).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(base) = server {
        return post(args, base, token, &v).await;
    }
    let store = crate::store::connect(&args.database_url)
        .await
        .map_err(|e| e.to_string())?;
    let mut cfg = args.engine_config();
    crate::domain::setup::install_hooks(&mut cfg);
    let engine = Engine::new(store, cfg);
    let report = load(&engine, &file).await.map_err(|e| e.to_string())?;
    serde_json::to_string(&report).map_err(|e| e.to_string())
}

async fn post(
    args: &ServeArgs,
    base: &str,
    token: Option<String>,
    body: &Value,
) -> Result<String, String> {
    let token = match token {
        Some(t) => t,
        None => {
            let secret = args
                .jwt_secret
                .as_deref()
                .ok_or("give --token or set TIDEMARK_JWT_SECRET to sign an admin token")?;
            let auth = args.token_auth(secret.as_bytes());
            auth.mint("tidemark-cli", Role::Admin, 300)?.0
        }
    };
    let url = format!("{}/api/admin/catalog", base.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .post(&url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| format!("{url}: {e}"))?;
    if status.is_success() {
        Ok(text)
    } else {
        Err(format!("{url}: {status}: {text}"))
    }
}
