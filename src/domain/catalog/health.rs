//! Provider health: a background task probes each provider's `health_url` on
//! an interval, with a timeout, and writes `status` only when it changes —
//! one `provider_status_changed` event per change, whatever the number of
//! probes. A 2xx or 3xx answer is `available`, 429 is `degraded`; anything
//! else (5xx, other 4xx, timeout, refused connection) is a failure, and
//! `failures` consecutive failures make the provider `unavailable`.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::PROVIDERS;
use super::load::server_admin;
use crate::domain::io::{self, Written};
use crate::engine::{CATALOG, Engine};
use crate::protocol::Op;

#[derive(Debug, Clone)]
pub struct HealthConfig {
    /// Time between rounds of probes; zero disables the task.
    pub interval: Duration,
    /// Longest wait for one probe's answer.
    pub timeout: Duration,
    /// Consecutive failed probes before a provider is `unavailable`.
    pub failures: u32,
}

/// What one probe saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Up,
    Degraded,
    Failed,
    /// The network, not the provider, is out of reach.
    Unreachable,
}

async fn probe(http: &reqwest::Client, url: &str) -> Probe {
    match http.get(url).send().await {
        Ok(r) if r.status().is_success() || r.status().is_redirection() => Probe::Up,
        Ok(r) if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => Probe::Degraded,
        Ok(_) => Probe::Failed,
        Err(e) if no_network(&e) => Probe::Unreachable,
        Err(_) => Probe::Failed,
    }
}

/// The request never left this machine's network: the name did not resolve,
/// or there is no route. (A refused connection or a silent host is the
/// provider's failure, not the network's.)
fn no_network(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::NetworkUnreachable
                    | std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::NetworkDown
            )
        {
            return true;
        }
        let text = err.to_string();
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Starts the task; it ends at its first wake-up after `shutdown` is cancelled.
pub fn spawn(engine: Engine, cfg: HealthConfig, shutdown: CancellationToken) {
    if cfg.interval.is_zero() {
        return;
    }
    tokio::spawn(async move {
        // Built on the first round that has something to probe: nothing at
        // startup competes with the server getting ready.
        let mut http: Option<reqwest::Client> = None;
        let mut failed: HashMap<String, u32> = HashMap::new();
        // The token is checked between rounds, not awaited: one more task
        // waking on it made `server::serve` more often take its unbiased
        // `served` branch at shutdown and return before the WebSockets were
        // closed with 1012 (the race is in `serve`'s select, not here).
        loop {
            tokio::time::sleep(cfg.interval).await;
            if shutdown.is_cancelled() {
                return;
            }
            round(&engine, &mut http, &cfg, &mut failed).await;
        }
    });
}

fn client(timeout: Duration) -> Option<reqwest::Client> {
    match reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!(error = %e, "provider health checks are off: no HTTP client");
            None
        }
    }
}

/// Probes every provider with a health URL, then writes the statuses that changed.
async fn round(
    engine: &Engine,
    http: &mut Option<reqwest::Client>,
    cfg: &HealthConfig,
    failed: &mut HashMap<String, u32>,
) {
    let providers = match io::read_one(engine, CATALOG, PROVIDERS).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "provider health: cannot read the catalog");
            return;
        }
    };
    let targets: Vec<(String, u64, String, String)> = providers
        .docs
        .iter()
        .filter_map(|d| {
            let url = d.value.get("health_url")?.as_str()?.to_string();
            let status = d.value.get("status")?.as_str()?.to_string();
            Some((d.id.clone(), d.version, url, status))
        })
        .collect();
    failed.retain(|id, _| targets.iter().any(|t| &t.0 == id));
    if targets.is_empty() {
        return;
    }
    if http.is_none() {
        *http = client(cfg.timeout);
    }
    let Some(http) = http.as_ref() else {
        return;
    };
    let probes =
        futures::future::join_all(targets.iter().map(|(_, _, url, _)| probe(http, url))).await;
    let mut ops = Vec::new();
    for ((id, version, _, status), seen) in targets.iter().zip(probes) {
        let next = match seen {
            Probe::Up => Some("available"),
            Probe::Degraded => Some("degraded"),
            // Says nothing about the provider: never lifts `unavailable`.
            Probe::Unreachable if status == "unavailable" => None,
            Probe::Unreachable => Some("unreachable"),
            Probe::Failed => {
                let n = failed.entry(id.clone()).or_insert(0);
                *n += 1;
                (*n >= cfg.failures.max(1)).then_some("unavailable")
            }
        };
        if matches!(seen, Probe::Up | Probe::Degraded) {
            failed.remove(id);
        }
        if let Some(next) = next.filter(|n| n != status) {
            tracing::info!(provider = %id, from = %status, to = next, "provider status changed");
            ops.push(Op::Patch {
                collection: PROVIDERS.into(),
                id: id.clone(),
                value: json!({"status": next}),
                if_version: Some(*version),
            });
        }
    }
    if ops.is_empty() {
        return;
    }
    // One mutation per provider: a conflict on one (an admin edit) does not
    // hold back the others; it is simply re-probed next round.
    for op in ops {
        match io::write(engine, &server_admin(), CATALOG, vec![op]).await {
            Ok(Written::Done { .. }) | Ok(Written::Conflict) => {}
            Err(e) => tracing::warn!(error = %e, "provider health: status not written"),
        }
    }
}
