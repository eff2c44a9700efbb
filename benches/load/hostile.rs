//! `hostile`: N normal subscribers (each on `catalog` and its user's space,
//! reading, gap- and duplicate-checked) while a publisher writes at a steady
//! rate and a feeder writes 32 KiB documents into the spaces the hostile
//! readers will subscribe (from before the baseline: that write traffic is
//! not the hostile part); after a baseline, hostile clients of every kind
//! (`abuse.rs`) run beside them for a bounded time. The server's RSS is sampled every 500 ms
//! from the baseline to the end and reported (baseline, most during the
//! hostile phase, end), with the subscribers' delivery latency before,
//! during and after, and what the server did with each hostile connection.
//! Nothing here asserts a memory figure: a subscriber's gap, duplicate,
//! disconnect or missing event fails the run, as in the other scenarios.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tidemark::engine::Role;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::abuse::{Hostile, KINDS};
use crate::client::{self, In, Track, Writer};
use crate::fleet::{
    Ctx, Fleet, Slice, USER, WorkerFn, WorkerLink, count_ready, done, report_ready, start_ready,
    user_of,
};
use crate::stats::{
    Counts, Errs, Lat, Report, RssSample, ServerWatch, brief, merged, sum, summary,
};

/// Before, during and after the hostile phase.
const PHASES: [&str; 3] = ["before", "during", "after"];

struct P {
    n: usize,
    per_user: usize,
    rate: f64,
    settle: f64,
    duration: f64,
    hostile: usize,
}

fn params(ctx: &Ctx) -> P {
    let a = &ctx.args;
    P {
        n: a.pick(a.n, 1000, 50),
        per_user: a.pick(a.conns_per_user, 50, 10),
        rate: a.pick(a.rate, 40.0, 20.0),
        // Long enough for the quiet RSS to settle (the feeder's writes fill
        // the store's cache and the rings in the first seconds).
        settle: a.pick(a.settle, 15.0, 1.0),
        duration: a.pick(a.duration, 20.0, 4.0),
        hostile: a.pick(a.hostile, 50, 4),
    }
}

pub async fn drive(ctx: &Arc<Ctx>) -> Result<Report, String> {
    let p = params(ctx);
    let users = p.n.div_ceil(p.per_user.max(1));
    let mut r = Report::new();
    r.set("n", p.n);
    r.set("users", users);
    r.set("rate", p.rate);
    r.set("hostile_s", p.duration);
    r.set("hostile_per_kind", p.hostile);
    let hostile = Arc::new(Hostile::new(p.hostile, ctx.args.kinds.as_deref())?);
    hostile.prefill(ctx).await?;
    let procs = ctx.procs(p.n);
    r.set("procs", procs);
    let (fleet, _, connected) = start_ready(ctx, procs, WORKER, p.n, &mut r).await?;
    let server = ServerWatch::start(ctx.args.pid);
    let trace = server.trace(Duration::from_millis(500));
    let queued = QueuedTrace::start(ctx)?;
    let publisher = Publisher::start(ctx, users, p.rate).await?;
    let mut feeders = hostile.start_feeding(ctx, ctx.until(p.settle + p.duration));
    tokio::time::sleep_until(ctx.until(p.settle)).await;
    let phase = |fleet: &Fleet, k: u8| {
        fleet.send_all(json!({"cmd": "phase", "phase": k}));
        if let Some(t) = &trace {
            t.phase(k);
        }
        queued.phase.store(k, Ordering::Relaxed);
    };
    phase(&fleet, 1);
    let t_hostile = Instant::now();
    hostile.run(ctx, ctx.until(p.duration)).await;
    let hostile_s = t_hostile.elapsed().as_secs_f64();
    while feeders.join_next().await.is_some() {}
    phase(&fleet, 2);
    tokio::time::sleep_until(ctx.until(p.settle)).await;
    let samples = trace.map(|t| t.finish()).unwrap_or_default();
    let queued = queued.finish();
    let finals = publisher.stop(&mut r).await;
    fleet.send_all(json!({"cmd": "finish", "catalog": finals.0, "users": finals.1}));
    let results = fleet.finish(ctx.until(60.0), &server, &mut r).await?;
    r.set("subscribers", connected);
    r.set("deliveries", sum(&results, "deliveries"));
    r.set("writes", publisher.writes.load(Ordering::Relaxed));
    r.set("write_ack_ms", summary(&publisher.acks.lock()));
    r.set("hostile", hostile.json());
    r.line(format!(
        "hostile: {connected} subscribers over {users} users (catalog + their own space), {} writes/s; hostile clients for {hostile_s:.1} s",
        p.rate
    ));
    let mut lat = Map::new();
    for name in PHASES {
        let h = merged(&results, &format!("h_{name}"));
        lat.insert(name.to_string(), summary(&h));
        r.line(format!(
            "  delivery {name:>6} the hostile phase: {}",
            brief(&h)
        ));
    }
    r.set("delivery_ms", Value::Object(lat));
    rss_report(&mut r, &samples);
    queued_report(&mut r, &queued);
    for (k, t) in KINDS.iter().zip(&hostile.tallies) {
        if hostile.runs(k) {
            r.line(format!("  {k}: {}", t.brief()));
        }
    }
    r.line(format!(
        "  feeder (32 KiB documents into the non-readers' spaces): {} written, {} refused",
        hostile.fed.load(Ordering::Relaxed),
        hostile.feed_refused.load(Ordering::Relaxed)
    ));
    Ok(r)
}

/// Baseline (the last sample before the hostile phase), the most during it,
/// the end; growth in KiB and as a ratio. Reported, never asserted.
fn rss_report(r: &mut Report, samples: &[RssSample]) {
    let before = samples.iter().rfind(|s| s.phase == 0);
    let max = samples
        .iter()
        .filter(|s| s.phase == 1)
        .max_by_key(|s| s.rss_kib);
    let (Some(base), Some(max), Some(end)) = (before, max, samples.last()) else {
        r.line("  no --pid (or too short a run): server memory not measured");
        return;
    };
    // Whether the phase plateaus or keeps growing: the mean of its second
    // half over the mean of its first.
    let during: Vec<u64> = samples
        .iter()
        .filter(|s| s.phase == 1)
        .map(|s| s.rss_kib)
        .collect();
    let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len().max(1) as f64;
    let (first, second) = during.split_at(during.len() / 2);
    let (m1, m2) = (mean(first), mean(second));
    let drift = (m2 / m1.max(1.0) * 1000.0).round() / 1000.0;
    let growth = max.rss_kib as i64 - base.rss_kib as i64;
    let ratio = (max.rss_kib as f64 / base.rss_kib.max(1) as f64 * 1000.0).round() / 1000.0;
    r.set(
        "rss_kib",
        json!({
            "baseline": base.rss_kib, "hostile_max": max.rss_kib, "end": end.rss_kib,
            "growth": growth, "growth_ratio": ratio,
            "end_growth": end.rss_kib as i64 - base.rss_kib as i64,
            "phase_mean_halves": [m1.round(), m2.round()], "phase_drift": drift,
        }),
    );
    let trace: Vec<Value> = samples
        .iter()
        .map(|s| json!([s.at_s, s.rss_kib, s.phase]))
        .collect();
    r.set("rss_samples", trace);
    r.line(format!(
        "  server RSS: baseline {} KiB, most during the hostile phase {} KiB (at {:.1} s; {growth:+} KiB, x{ratio}), end {} KiB ({:+} KiB); {} samples, 500 ms apart",
        base.rss_kib,
        max.rss_kib,
        max.at_s,
        end.rss_kib,
        end.rss_kib as i64 - base.rss_kib as i64,
        samples.len()
    ));
    r.line(format!(
        "  server RSS during the hostile phase: mean {:.0} KiB in its first half, {:.0} KiB in its second (x{drift}: a plateau near 1, growth above it)",
        m1, m2
    ));
}

/// The server's own counts, from `/metrics` every 500 ms: the bytes queued
/// for all clients (`tidemark_outbound_queued_bytes`) and the bytes the
/// engine holds for loaded spaces (`tidemark_memory_held_bytes`), so RSS
/// growth can be told apart from what the server knows it holds.
struct QueuedTrace {
    samples: Counts2,
    phase: Arc<std::sync::atomic::AtomicU8>,
    task: tokio::task::JoinHandle<()>,
}

/// (phase, [queued, held]) samples.
type Counts2 = Arc<std::sync::Mutex<Vec<(u8, [u64; 2])>>>;

const TRACED: [&str; 2] = [
    "tidemark_outbound_queued_bytes ",
    "tidemark_memory_held_bytes ",
];

impl QueuedTrace {
    fn start(ctx: &Arc<Ctx>) -> Result<QueuedTrace, String> {
        let token = ctx.token("lb-metrics", Role::Admin)?;
        let url = format!("{}/metrics", ctx.target.base);
        let samples: Counts2 = Default::default();
        let phase: Arc<std::sync::atomic::AtomicU8> = Default::default();
        let (s, ph) = (samples.clone(), phase.clone());
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tick.tick().await;
                let Ok(r) = http.get(&url).bearer_auth(&token).send().await else {
                    continue;
                };
                let Ok(text) = r.text().await else { continue };
                let value = |name: &str| {
                    text.lines()
                        .find_map(|l| l.strip_prefix(name))
                        .and_then(|v| v.trim().parse::<f64>().ok())
                };
                if let (Some(q), Some(h)) = (value(TRACED[0]), value(TRACED[1])) {
                    let p = ph.load(Ordering::Relaxed);
                    s.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((p, [q as u64, h as u64]));
                }
            }
        });
        Ok(QueuedTrace {
            samples,
            phase,
            task,
        })
    }

    fn finish(self) -> Vec<(u8, [u64; 2])> {
        self.task.abort();
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn queued_report(r: &mut Report, samples: &[(u8, [u64; 2])]) {
    let max = |ph: u8, k: usize| {
        samples
            .iter()
            .filter(|s| s.0 == ph)
            .map(|s| s.1[k])
            .max()
            .unwrap_or(0)
    };
    for (k, (key, what)) in [
        ("queued_bytes_max", "bytes queued for all clients"),
        ("held_bytes_max", "bytes held for loaded spaces"),
    ]
    .into_iter()
    .enumerate()
    {
        let (before, during, after) = (max(0, k), max(1, k), max(2, k));
        r.set(
            key,
            json!({"before": before, "during": during, "after": after}),
        );
        r.line(format!(
            "  {what} (the server's count, most): before {} KiB, during {} KiB, after {} KiB",
            before / 1024,
            during / 1024,
            after / 1024
        ));
    }
}

/// The steady writer: an admin on `catalog` and a service on the
/// subscribers' spaces, each at half the rate, every value stamped.
struct Publisher {
    on: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The last acknowledged version of `catalog`, then of each user's space.
    acked: Arc<Vec<AtomicU64>>,
    writes: Arc<AtomicU64>,
    acks: Arc<Lat>,
    errs: Arc<Errs>,
}

impl Publisher {
    async fn start(ctx: &Arc<Ctx>, users: usize, rate: f64) -> Result<Publisher, String> {
        let on = Arc::new(AtomicBool::new(true));
        let acked: Arc<Vec<AtomicU64>> = Arc::new((0..=users).map(|_| AtomicU64::new(0)).collect());
        let (writes, acks, errs) = Default::default();
        let mut me = Publisher {
            on,
            tasks: Vec::new(),
            acked,
            writes,
            acks,
            errs,
        };
        for (role, who) in [(Role::Admin, usize::MAX), (Role::Service, usize::MAX - 1)] {
            let token = ctx.token(&ctx.user(who), role)?;
            let cid = format!("lb-{}-hostile-{who}", ctx.run);
            let w = Writer::open(&ctx.target, &ctx.sources, &token, cid, rate / 2.0).await?;
            let spaces: Vec<(usize, String)> = if role == Role::Admin {
                vec![(0, "catalog".to_string())]
            } else {
                (0..users)
                    .map(|u| (u + 1, format!("user:{}", ctx.user(u))))
                    .collect()
            };
            let (on, acked, writes, acks, errs) = (
                me.on.clone(),
                me.acked.clone(),
                me.writes.clone(),
                me.acks.clone(),
                me.errs.clone(),
            );
            let deadline = ctx.deadline;
            me.tasks.push(tokio::spawn(async move {
                let mut w = w;
                let mut k = 0usize;
                while on.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let (slot, space) = &spaces[k % spaces.len()];
                    k += 1;
                    let extra = format!(r#","k":{k}"#);
                    match w
                        .mutate(space, |t| {
                            client::put_stamped("bench", "hostile", t, &extra)
                        })
                        .await
                    {
                        Ok(a) => {
                            acked[*slot].fetch_max(a.version, Ordering::Relaxed);
                            writes.fetch_add(1, Ordering::Relaxed);
                            acks.record(a.latency_us);
                        }
                        Err(e) => {
                            errs.add(format!("publisher: {e}"));
                            return;
                        }
                    }
                }
            }));
        }
        Ok(me)
    }

    /// Stops writing: the last versions of `catalog` and of each user's space.
    async fn stop(&self, r: &mut Report) -> (u64, Vec<u64>) {
        self.on.store(false, Ordering::Relaxed);
        for t in &self.tasks {
            while !t.is_finished() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        for s in self.errs.samples() {
            r.error(s);
        }
        let v: Vec<u64> = self
            .acked
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect();
        (v[0], v[1..].to_vec())
    }
}

struct Shared {
    errs: Errs,
    /// Send to receipt, per phase.
    lat: [Lat; 3],
    phase: AtomicUsize,
    counts: Counts,
}

/// The versions every subscriber must reach before it stops, and by when.
#[derive(Clone, Default)]
struct Finals {
    catalog: u64,
    users: Arc<Vec<u64>>,
    by: Option<Instant>,
}

pub const WORKER: WorkerFn = |c, s, l| Box::pin(worker(c, s, l));

async fn worker(ctx: Arc<Ctx>, slice: Slice, mut link: WorkerLink) {
    let p = params(&ctx);
    let range = slice.range(p.n);
    let sh = Arc::new(Shared {
        errs: Errs::default(),
        lat: Default::default(),
        phase: AtomicUsize::new(0),
        counts: Counts::default(),
    });
    let (fin_tx, fin_rx) = watch::channel(Finals::default());
    let (ready_tx, mut ready_rx) = mpsc::channel::<bool>(1024);
    let mut tasks = Vec::new();
    for i in range.clone() {
        let (ctx, sh, fin, ready_tx) = (ctx.clone(), sh.clone(), fin_rx.clone(), ready_tx.clone());
        let user = user_of(i, p.per_user);
        tasks.push(tokio::spawn(subscriber(ctx, sh, fin, ready_tx, i, user)));
    }
    drop(ready_tx);
    let ok = count_ready(&mut ready_rx, range.len(), ctx.deadline).await;
    link.emit(json!({"ev": "ready", "connected": ok}));
    while let Some(cmd) = link.cmd(ctx.deadline).await {
        if cmd["cmd"] == "phase" {
            let k = cmd["phase"].as_u64().unwrap_or(0) as usize;
            sh.phase.store(k.min(2), Ordering::Relaxed);
        } else if cmd["cmd"] == "finish" {
            let users = cmd["users"].as_array().into_iter().flatten();
            let _ = fin_tx.send(Finals {
                catalog: cmd["catalog"].as_u64().unwrap_or(0),
                users: Arc::new(users.map(|v| v.as_u64().unwrap_or(0)).collect()),
                by: Some(ctx.until(30.0)),
            });
            break;
        }
    }
    for t in tasks {
        let _ = tokio::time::timeout_at(ctx.until(40.0), t).await;
    }
    let mut f = sh.counts.fields();
    for (k, name) in PHASES.iter().enumerate() {
        f.insert(format!("h_{name}"), sh.lat[k].b64().into());
    }
    link.emit(done(&sh.errs, f));
}

/// One normal subscriber: `catalog` and its user's space, read until it
/// holds the final versions; a close, an error frame or falling short is
/// an error.
async fn subscriber(
    ctx: Arc<Ctx>,
    sh: Arc<Shared>,
    mut fin: watch::Receiver<Finals>,
    ready_tx: mpsc::Sender<bool>,
    i: usize,
    user: usize,
) {
    let spaces = ["catalog".to_string(), "user:me".to_string()];
    let opened = async {
        let token = ctx.token(&ctx.user(user), USER)?;
        let _permit = ctx.connecting.acquire().await.map_err(|e| e.to_string())?;
        let cid = format!("lb-{}-h{i}", ctx.run);
        client::subscribed(
            &ctx.target,
            &ctx.sources,
            &token,
            &cid,
            &spaces,
            ctx.until(60.0),
        )
        .await
    };
    let Some((mut ws, mut tracks)) = report_ready(opened.await, &sh.errs, ready_tx).await else {
        return;
    };
    loop {
        let f = fin.borrow().clone();
        if let Some(by) = f.by {
            let target = |name: &str| {
                if name == "catalog" {
                    f.catalog
                } else {
                    f.users.get(user).copied().unwrap_or(0)
                }
            };
            if tracks.iter().all(|(name, tr)| tr.version >= target(name)) {
                break;
            }
            if Instant::now() >= by {
                let held: Vec<String> = tracks
                    .iter()
                    .map(|(n, t)| format!("{n} at {}", t.version))
                    .collect();
                sh.errs.add(format!(
                    "subscriber {i} fell short of the last writes: {}",
                    held.join(", ")
                ));
                break;
            }
        }
        let by = f.by.unwrap_or(ctx.deadline);
        tokio::select! {
            _ = tokio::time::sleep_until(by) => {}
            changed = fin.changed() => if changed.is_err() { break },
            m = client::next_text(&mut ws) => match m {
                In::Text(t) => on_text(&sh, &mut tracks, &t),
                In::Closed(why) => {
                    sh.errs.add(format!("subscriber {i}: {why}"));
                    break;
                }
            },
        }
    }
    for (_, tr) in &tracks {
        sh.counts.add_track(tr);
    }
}

fn on_text(sh: &Shared, tracks: &mut [(String, Track)], text: &str) {
    let now = client::now_us();
    let f = match client::parse(text) {
        Ok(f) => f,
        Err(e) => return sh.errs.add(e),
    };
    if f.kind == "error" {
        return sh.errs.add(f.describe());
    }
    let Some((_, tr)) = tracks
        .iter_mut()
        .find(|(s, _)| Some(s.as_str()) == f.space.as_deref())
    else {
        return;
    };
    let lat = &sh.lat[sh.phase.load(Ordering::Relaxed)];
    tr.apply(&f, |a| {
        sh.counts.deliveries.fetch_add(1, Ordering::Relaxed);
        if let Some(t) = client::stamp(a.value) {
            lat.record(now.saturating_sub(t));
        }
    });
}
