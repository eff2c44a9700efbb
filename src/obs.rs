//! Metrics (docs/operations.md): what tidemark records, through
//! the `metrics` facade. Every label value comes from a fixed set (a
//! transport, a reject code, a reason): never a user, a space, a token or a
//! key, so the number of series does not grow with users.
//!
//! The hot paths use handles looked up once ([`Hot`]); a handle taken
//! before [`install`] records nothing, so the server installs the recorder
//! before it builds anything else.

use std::sync::OnceLock;

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder (once per process) and returns the
/// handle that renders it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full("tidemark_commit_seconds".into()),
                    &[
                        0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
                    ],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        metrics_exporter_prometheus::Matcher::Full(
                            "tidemark_commit_batch_size".into(),
                        ),
                        &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
                    )
                })
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder installed first (a test harness): render ours anyway.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Handles of the metrics recorded on hot paths.
pub struct Hot {
    pub mutations_applied: Counter,
    pub mutations_noop: Counter,
    pub mutations_deduplicated: Counter,
    pub events_committed: Counter,
    pub live_frames: Counter,
    pub ws_bytes_sent: Counter,
    pub commit_batch_size: Histogram,
    pub commit_seconds: Histogram,
    pub ws_connections: Gauge,
    pub sse_connections: Gauge,
    pub long_poll_waiters: Gauge,
}

pub fn hot() -> &'static Hot {
    static HOT: OnceLock<Hot> = OnceLock::new();
    HOT.get_or_init(|| Hot {
        mutations_applied: counter!("tidemark_mutations_total", "result" => "applied"),
        mutations_noop: counter!("tidemark_mutations_total", "result" => "noop"),
        mutations_deduplicated: counter!("tidemark_mutations_total", "result" => "deduplicated"),
        events_committed: counter!("tidemark_events_committed_total"),
        live_frames: counter!("tidemark_live_frames_total"),
        ws_bytes_sent: counter!("tidemark_ws_bytes_sent_total"),
        commit_batch_size: histogram!("tidemark_commit_batch_size"),
        commit_seconds: histogram!("tidemark_commit_seconds"),
        ws_connections: gauge!("tidemark_connections", "transport" => "ws"),
        sse_connections: gauge!("tidemark_connections", "transport" => "sse"),
        long_poll_waiters: gauge!("tidemark_connections", "transport" => "long_poll"),
    })
}

/// A rejected mutation, by its (fixed) code.
pub fn rejected(code: &'static str) {
    counter!("tidemark_mutations_total", "result" => "rejected", "code" => code).increment(1);
}

/// A catch-up answer, by where it came from: `memory`, `log`, `snapshot`
/// or `up_to_date`.
pub fn catch_up(source: &'static str) {
    counter!("tidemark_catchups_total", "source" => source).increment(1);
}

/// A store operation that failed (the database away or refusing).
pub fn store_error() {
    counter!("tidemark_store_errors_total").increment(1);
}

/// A connection closed for not reading (4009).
pub fn slow_consumer_close() {
    counter!("tidemark_slow_consumer_closes_total").increment(1);
}

/// A refused token, by a fixed reason.
pub fn auth_failure(reason: &'static str) {
    counter!("tidemark_auth_failures_total", "reason" => reason).increment(1);
}

/// A TLS certificate reload (SIGHUP or a changed file), by outcome.
pub fn tls_reload(ok: bool) {
    let result = if ok { "ok" } else { "error" };
    counter!("tidemark_tls_reloads_total", "result" => result).increment(1);
}

/// A connection to the TLS port that never became a TLS session, by a
/// fixed reason (`plaintext`, `handshake`, `timeout`).
pub fn tls_refused(reason: &'static str) {
    counter!("tidemark_tls_refused_total", "reason" => reason).increment(1);
}

/// A notice from another node on the same PostgreSQL.
pub fn cluster_notice() {
    counter!("tidemark_cluster_notices_total").increment(1);
}

/// Seconds from another node's commit to its events published here.
pub fn cluster_lag(seconds: f64) {
    histogram!("tidemark_cluster_catchup_lag_seconds").record(seconds);
}

/// Events read from the store into memory because memory was behind it
/// (other nodes' commits, or a commit whose outcome was unknown).
pub fn refresh_events(n: u64) {
    counter!("tidemark_refresh_events_total").increment(n);
}

/// Values read when the page is rendered.
pub fn set_loaded_spaces(n: usize, held_bytes: usize) {
    gauge!("tidemark_loaded_spaces").set(n as f64);
    gauge!("tidemark_memory_held_bytes").set(held_bytes as f64);
}

/// Bytes queued for all WebSocket and SSE clients (read at render).
pub fn set_outbound_queued(bytes: usize) {
    gauge!("tidemark_outbound_queued_bytes").set(bytes as f64);
}

/// Holds a gauge one higher while it lives.
pub struct Open(&'static Gauge);

impl Open {
    pub fn new(g: &'static Gauge) -> Open {
        g.increment(1.0);
        Open(g)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}
