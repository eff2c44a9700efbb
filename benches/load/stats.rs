//! Histograms (µs), error collection, /proc readings and the report.

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
