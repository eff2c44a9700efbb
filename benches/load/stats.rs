//! Histograms (µs), error collection, /proc readings and the report.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use serde_json::{Map, Value, json};

pub fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("histogram bounds")
}

/// A histogram of microseconds shared by many tasks.
/// A latency histogram shared by many tasks: one part per runtime thread (so
/// recording never contends), merged when read.
pub struct Lat(Vec<Mutex<Histogram<u64>>>);

const LAT_PARTS: usize = 8;

impl Default for Lat {
    fn default() -> Self {
        Lat((0..LAT_PARTS).map(|_| Mutex::new(hist())).collect())
    }
}

fn part() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static PART: usize = NEXT.fetch_add(1, Ordering::Relaxed) % LAT_PARTS;
    }
    PART.with(|p| *p)
}

impl Lat {
    pub fn record(&self, us: u64) {
        let mut h = self.0[part()].lock().unwrap_or_else(|p| p.into_inner());
        h.saturating_record(us.max(1));
    }
    /// All parts merged.
    pub fn lock(&self) -> Histogram<u64> {
        let mut all = hist();
        for p in &self.0 {
            let _ = all.add(&*p.lock().unwrap_or_else(|p| p.into_inner()));
        }
        all
    }
    pub fn b64(&self) -> String {
        to_b64(&self.lock())
    }
}

pub fn to_b64(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    if V2Serializer::new().serialize(h, &mut buf).is_err() {
        return String::new();
    }
    base64::engine::general_purpose::STANDARD.encode(buf)
}

pub fn from_b64(s: &str) -> Option<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .ok()
}

/// Merges the histogram `key` of every worker result.
pub fn merged(results: &[Value], key: &str) -> Histogram<u64> {
    let mut h = hist();
    for r in results {
        if let Some(s) = r[key].as_str()
            && let Some(x) = from_b64(s)
        {
            let _ = h.add(&x);
        }
    }
    h
}

fn ms(us: u64) -> f64 {
    (us as f64 / 10.0).round() / 100.0
}

/// `{n, p50, p90, p99, p999, max, mean}` in milliseconds.
pub fn summary(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({"n": 0});
    }
    json!({
        "n": h.len(),
        "p50": ms(h.value_at_quantile(0.5)),
        "p90": ms(h.value_at_quantile(0.9)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p999": ms(h.value_at_quantile(0.999)),
        "max": ms(h.max()),
        "mean": (h.mean() / 10.0).round() / 100.0,
    })
}

/// `p50 / p99 / max ms` for the readable summary.
pub fn brief(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "no samples".into();
    }
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n={})",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max()),
        h.len()
    )
}

pub fn sum(results: &[Value], key: &str) -> u64 {
    results.iter().filter_map(|r| r[key].as_u64()).sum()
}

pub fn max_f(results: &[Value], key: &str) -> f64 {
    results
        .iter()
        .filter_map(|r| r[key].as_f64())
        .fold(0.0, f64::max)
}

/// Errors seen by many tasks: a count and the first few messages.
#[derive(Default)]
pub struct Errs {
    pub count: AtomicU64,
    samples: Mutex<Vec<String>>,
}

impl Errs {
    pub fn add(&self, msg: impl Into<String>) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let msg = msg.into();
        if s.len() < 5 && !s.contains(&msg) {
            s.push(msg);
        }
    }
    pub fn n(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
    pub fn samples(&self) -> Vec<String> {
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// What many subscribers of one worker counted: versions missed or seen
/// twice, and events delivered.
#[derive(Default)]
pub struct Counts {
    pub gaps: AtomicU64,
    pub dups: AtomicU64,
    pub deliveries: AtomicU64,
}

impl Counts {
    /// Adds one subscriber's gaps and duplicates.
    pub fn add_track(&self, tr: &crate::client::Track) {
        self.gaps.fetch_add(tr.gaps, Ordering::Relaxed);
        self.dups.fetch_add(tr.dups, Ordering::Relaxed);
    }

    /// `gaps`, `dups` and `deliveries`, for a worker's closing report.
    pub fn fields(&self) -> Map<String, Value> {
        let mut f = Map::new();
        f.insert("gaps".into(), self.gaps.load(Ordering::Relaxed).into());
        f.insert("dups".into(), self.dups.load(Ordering::Relaxed).into());
        let d = self.deliveries.load(Ordering::Relaxed);
        f.insert("deliveries".into(), d.into());
        f
    }
}

/// Memory and CPU time of a process, from /proc.
#[derive(Clone, Copy, Debug)]
pub struct ProcStat {
    pub rss_kib: u64,
    pub cpu_s: f64,
}

pub fn proc_stat(pid: &str) -> Option<ProcStat> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name: state is field 3; utime, stime are 14, 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ProcStat {
        rss_kib,
        cpu_s: ticks as f64 / 100.0, // USER_HZ is 100 on Linux
    })
}

pub fn self_cpu_s() -> f64 {
    proc_stat("self").map(|p| p.cpu_s).unwrap_or(0.0)
}

/// One run's outcome: the JSON line and the readable summary.
pub struct Report {
    pub fields: Map<String, Value>,
    pub lines: Vec<String>,
    pub gaps: u64,
    pub dups: u64,
    pub errors: u64,
    pub error_samples: Vec<String>,
}

impl Report {
    pub fn new() -> Report {
        Report {
            fields: Map::new(),
            lines: Vec::new(),
            gaps: 0,
            dups: 0,
            errors: 0,
            error_samples: Vec::new(),
        }
    }
    pub fn set(&mut self, k: &str, v: impl Into<Value>) {
        self.fields.insert(k.to_string(), v.into());
    }
    pub fn line(&mut self, s: impl Into<String>) {
        self.lines.push(s.into());
    }
    pub fn error(&mut self, msg: impl Into<String>) {
        self.errors += 1;
        let msg = msg.into();
        if self.error_samples.len() < 10 && !self.error_samples.contains(&msg) {
            self.error_samples.push(msg);
        }
    }
    /// Adds the gaps, duplicates and errors the workers counted.
    pub fn absorb(&mut self, results: &[Value]) {
        self.gaps += sum(results, "gaps");
        self.dups += sum(results, "dups");
        self.errors += sum(results, "errors");
        for r in results {
            for s in r["error_samples"].as_array().into_iter().flatten() {
                if let Some(s) = s.as_str()
                    && self.error_samples.len() < 10
                    && !self.error_samples.iter().any(|x| x == s)
                {
                    self.error_samples.push(s.to_string());
                }
            }
        }
    }
    pub fn ok(&self) -> bool {
        self.gaps == 0 && self.dups == 0 && self.errors == 0
    }
}

/// Server stats around a run, when `--pid` was given.
pub struct ServerWatch {
    pid: Option<String>,
    start: Option<ProcStat>,
}

impl ServerWatch {
    pub fn start(pid: Option<u32>) -> ServerWatch {
        let pid = pid.map(|p| p.to_string());
        let start = pid.as_deref().and_then(proc_stat);
        ServerWatch { pid, start }
    }
    pub fn now(&self) -> Option<ProcStat> {
        self.pid.as_deref().and_then(proc_stat)
    }
    pub fn start_stat(&self) -> Option<ProcStat> {
        self.start
    }
    /// Samples the server's RSS every `every` until [`RssTrace::finish`],
    /// each sample tagged with the phase set last (None without `--pid`).
    pub fn trace(&self, every: std::time::Duration) -> Option<RssTrace> {
        let pid = self.pid.clone()?;
        let samples = std::sync::Arc::new(Mutex::new(Vec::new()));
        let phase = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(0));
        let (s, ph) = (samples.clone(), phase.clone());
        let t0 = std::time::Instant::now();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Some(p) = proc_stat(&pid) {
                    let at = (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0;
                    let sample = RssSample {
                        at_s: at,
                        rss_kib: p.rss_kib,
                        phase: ph.load(Ordering::Relaxed),
                    };
                    s.lock().unwrap_or_else(|p| p.into_inner()).push(sample);
                }
            }
        });
        Some(RssTrace {
            samples,
            phase,
            task,
        })
    }

    /// Server CPU seconds and RSS since `start`, into the report.
    pub fn finish(&self, r: &mut Report) {
        let (Some(a), Some(b)) = (self.start, self.now()) else {
            return;
        };
        let cpu = ((b.cpu_s - a.cpu_s) * 100.0).round() / 100.0;
        r.set("server_cpu_s", cpu);
        r.set("server_rss_kib", b.rss_kib);
    }
}

/// Server CPU microseconds per operation (from `server_cpu_s`), when measured.
pub fn per_op(r: &mut Report, key: &str, ops: u64) {
    if let Some(cpu) = r.fields.get("server_cpu_s").and_then(Value::as_f64)
        && ops > 0
    {
        r.set(key, (cpu * 1e6 / ops as f64 * 10.0).round() / 10.0);
    }
}

/// One reading of [`ServerWatch::trace`].
#[derive(Clone, Copy, Debug)]
pub struct RssSample {
    pub at_s: f64,
    pub rss_kib: u64,
    pub phase: u8,
}

/// The server's RSS over time (see [`ServerWatch::trace`]).
pub struct RssTrace {
    samples: std::sync::Arc<Mutex<Vec<RssSample>>>,
    phase: std::sync::Arc<std::sync::atomic::AtomicU8>,
    task: tokio::task::JoinHandle<()>,
}

impl RssTrace {
    /// Samples from now on belong to phase `p`.
    pub fn phase(&self, p: u8) {
        self.phase.store(p, Ordering::Relaxed);
    }

    /// Stops sampling; every sample taken.
    pub fn finish(self) -> Vec<RssSample> {
        self.task.abort();
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// What one kind of hostile client's connections met (`hostile`): how
/// each ended, as the client saw it.
#[derive(Default)]
pub struct Tally {
    outcomes: Mutex<BTreeMap<String, u64>>,
    pub connections: AtomicU64,
    /// From open until the client found the connection ended by the server
    /// (a non-reader finds out only when it reads, 2 s after its last ask).
    pub held: Lat,
    /// Most bytes found waiting on one connection once it read at last.
    pub unread: AtomicU64,
    /// Admitted and open now (the flood), and the most at once.
    pub open: AtomicU64,
    pub peak: AtomicU64,
}

impl Tally {
    pub fn saw(&self, outcome: impl Into<String>) {
        let mut o = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        *o.entry(outcome.into()).or_insert(0) += 1;
    }

    pub fn json(&self) -> Value {
        let o = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        let held = self.held.lock();
        json!({
            "connections": self.connections.load(Ordering::Relaxed),
            "outcomes": o.iter().map(|(k, v)| (k.clone(), Value::from(*v))).collect::<Map<_, _>>(),
            "found_ended_after_ms": summary(&held),
            "max_unread_kib": self.unread.load(Ordering::Relaxed) / 1024,
            "most_open_at_once": self.peak.load(Ordering::Relaxed),
        })
    }

    /// `N connections: K x outcome, ...; found ended after p50 .. s`.
    pub fn brief(&self) -> String {
        let o = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        let mut parts: Vec<String> = o.iter().map(|(k, v)| format!("{v} x {k}")).collect();
        let held = self.held.lock();
        if !held.is_empty() {
            parts.push(format!(
                "found ended by the server after p50 {:.1} s, max {:.1} s",
                held.value_at_quantile(0.5) as f64 / 1e6,
                held.max() as f64 / 1e6
            ));
        }
        let unread = self.unread.load(Ordering::Relaxed);
        if unread > 0 {
            parts.push(format!(
                "most read at the end on one: {} KiB",
                unread / 1024
            ));
        }
        let peak = self.peak.load(Ordering::Relaxed);
        if peak > 0 {
            parts.push(format!("most admitted at once: {peak}"));
        }
        let n = self.connections.load(Ordering::Relaxed);
        format!("{n} connections: {}", parts.join("; "))
    }
}
