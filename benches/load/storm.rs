//! `storm`: N subscribers (several per user, each on its user's space) are
//! dropped at once while HTTP writes to those spaces go on; every one
//! reconnects with its cursor. Time until all are caught up; every version
//! must arrive exactly once across the reconnect.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::client::{self, In, Track, Ws};
use crate::fleet::{
    Ctx, Slice, USER, WorkerFn, WorkerLink, done, report_ready, start_ready, user_of,
};
use crate::stats::{Counts, Errs, Lat, Report, ServerWatch, brief, merged, sum, summary};

struct P {
    n: usize,
    per_user: usize,
    rate: f64,
    writers: usize,
    settle: f64,
}

fn params(ctx: &Ctx) -> P {
    let a = &ctx.args;
    P {
        n: a.pick(a.n, 10_000, 50),
        per_user: a.pick(a.conns_per_user, 4, 5),
        rate: a.pick(a.rate, 500.0, 50.0),
        writers: a.pick(a.writers, 16, 2),
        settle: a.pick(a.settle, 2.0, 0.5),
    }
}

pub async fn drive(ctx: &Arc<Ctx>) -> Result<Report, String> {
    let p = params(ctx);
    let users = p.n.div_ceil(p.per_user.max(1));
    let mut r = Report::new();
    r.set("n", p.n);
    r.set("users", users);
    r.set("rate", p.rate);
    let procs = ctx.procs(p.n + p.writers * ctx.args.sources.max(1));
    r.set("procs", procs);
    let (mut fleet, _, connected) = start_ready(ctx, procs, WORKER, p.n, &mut r).await?;
    let server = ServerWatch::start(ctx.args.pid);
    // Writes to every user's space, all through the storm.
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..users).map(|_| AtomicU64::new(0)).collect());
    let on = Arc::new(AtomicBool::new(true));
    let wlat = Arc::new(Lat::default());
    let werrs = Arc::new(Errs::default());
    let writes = Arc::new(AtomicU64::new(0));
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..users)
            .map(|u| ctx.token(&ctx.user(u), USER))
            .collect::<Result<_, _>>()?,
    );
    let mut wtasks = Vec::new();
    let nw = p.writers.clamp(1, users.max(1));
    for w in 0..nw {
        let (ctx, acked, on, wlat, werrs, writes, tokens) = (
            ctx.clone(),
            acked.clone(),
            on.clone(),
            wlat.clone(),
            werrs.clone(),
            writes.clone(),
            tokens.clone(),
        );
        let rate = p.rate / nw as f64;
        wtasks.push(tokio::spawn(async move {
            http_writer(
                &ctx, w, nw, rate, &tokens, &acked, &on, &wlat, &werrs, &writes,
            )
            .await;
        }));
    }
    tokio::time::sleep_until(ctx.until(p.settle)).await;
    let snapshot =
        |a: &Vec<AtomicU64>| -> Vec<u64> { a.iter().map(|x| x.load(Ordering::Relaxed)).collect() };
    let targets = snapshot(&acked);
    let writes_before = writes.load(Ordering::Relaxed);
    fleet.send_all(json!({"cmd": "drop", "targets": targets}));
    let caught = fleet.gather("caught", ctx.until(60.0), |_, _| {}).await?;
    tokio::time::sleep_until(ctx.until(p.settle)).await;
    on.store(false, Ordering::Relaxed);
    for t in wtasks {
        let _ = tokio::time::timeout_at(ctx.until(30.0), t).await;
    }
    let finals = snapshot(&acked);
    fleet.send_all(json!({"cmd": "finish", "finals": finals}));
    let results = fleet.finish(ctx.until(60.0), &server, &mut r).await?;
    for s in werrs.samples() {
        r.error(format!("writer: {s}"));
    }
    let resumed = sum(&caught, "resumed");
    let caught_n = sum(&caught, "caught");
    let resume = merged(&caught, "h_resume");
    let caught_h = merged(&caught, "h_caught");
    let all_caught_ms = caught_h.max() as f64 / 1000.0;
    let live = merged(&results, "h_live");
    let wh = wlat.lock().clone();
    r.set("subscribers", connected);
    r.set("resumed", resumed);
    r.set("caught_up", caught_n);
    r.set("all_caught_up_ms", all_caught_ms);
    r.set("resume_ms", summary(&resume));
    r.set("caught_up_ms", summary(&caught_h));
    r.set("resume_snapshots", sum(&results, "resume_snapshots"));
    r.set("writes", writes.load(Ordering::Relaxed));
    r.set("writes_before_drop", writes_before);
    r.set("write_ms", summary(&wh));
    r.set("live_ms", summary(&live));
    r.set("deliveries", sum(&results, "deliveries"));
    if caught_n < connected {
        r.error(format!(
            "{} subscribers did not catch up",
            connected - caught_n
        ));
    }
    r.line(format!(
        "storm: {connected} subscribers over {users} users dropped at once with {:.0} writes/s going on",
        p.rate
    ));
    r.line(format!(
        "  all {caught_n} caught up after {all_caught_ms:.0} ms (target < 3,000 ms); first answer {}",
        brief(&resume)
    ));
    r.line(format!(
        "  {} resumed with a snapshot; live events send to receipt {}; writes {}",
        sum(&results, "resume_snapshots"),
        brief(&live),
        brief(&wh)
    ));
    Ok(r)
}

#[allow(clippy::too_many_arguments)]
async fn http_writer(
    ctx: &Ctx,
    w: usize,
    nw: usize,
    rate: f64,
    tokens: &[String],
    acked: &[AtomicU64],
    on: &AtomicBool,
    lat: &Lat,
    errs: &Errs,
    writes: &AtomicU64,
) {
    let cl = match reqwest::Client::builder()
        .local_address(ctx.sources.pick())
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
    {
        Ok(c) => c,
        Err(e) => return errs.add(format!("http client: {e}")),
    };
    let mine: Vec<usize> = (w..tokens.len()).step_by(nw).collect();
    if mine.is_empty() {
        return;
    }
    let mut pace = client::Pace::new(rate);
    let mut k = 0usize;
    while on.load(Ordering::Relaxed) && Instant::now() < ctx.deadline && k < 10_000_000 {
        pace.wait().await;
        let u = mine[k % mine.len()];
        k += 1;
        let url = format!("{}/v1/spaces/user:me/docs/bench/storm", ctx.target.base);
        let t = Instant::now();
        let sent = cl
            .patch(url)
            .header(AUTHORIZATION, format!("Bearer {}", tokens[u]))
            .json(&json!({"t": client::now_us(), "k": k}))
            .send()
            .await;
        let body: Result<Value, String> = match sent {
            Ok(resp) if resp.status().is_success() => resp.json().await.map_err(|e| e.to_string()),
            Ok(resp) => Err(format!("PATCH: {}", resp.status())),
            Err(e) => Err(format!("PATCH: {e}")),
        };
        match body {
            Ok(v) => {
                lat.record(t.elapsed().as_micros() as u64);
                writes.fetch_add(1, Ordering::Relaxed);
                acked[u].fetch_max(v["version"].as_u64().unwrap_or(0), Ordering::Relaxed);
            }
            Err(e) => {
                errs.add(e);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

struct Shared {
    errs: Errs,
    live: Lat,
    resume: Lat,
    caught: Lat,
    counts: Counts,
    resume_snapshots: AtomicU64,
    dropped_at: OnceLock<Instant>,
}

/// Phases a subscriber goes through, driven by the worker.
#[derive(Clone, Default)]
struct Plan {
    /// Versions acked before the drop, per user; set when dropping.
    targets: Option<Arc<Vec<u64>>>,
    /// Versions acked when writes stopped, per user, and how long to wait for them.
    finals: Option<Arc<Vec<u64>>>,
    finish_by: Option<Instant>,
}

fn versions(v: &Value, key: &str) -> Arc<Vec<u64>> {
    Arc::new(
        v[key]
            .as_array()
            .map(|a| a.iter().map(|x| x.as_u64().unwrap_or(0)).collect())
            .unwrap_or_default(),
    )
}

pub const WORKER: WorkerFn = |c, s, l| Box::pin(worker(c, s, l));

async fn worker(ctx: Arc<Ctx>, slice: Slice, mut link: WorkerLink) {
    let p = params(&ctx);
    let range = slice.range(p.n);
    let sh = Arc::new(Shared {
        errs: Errs::default(),
        live: Lat::default(),
        resume: Lat::default(),
        caught: Lat::default(),
        counts: Counts::default(),
        resume_snapshots: AtomicU64::new(0),
        dropped_at: OnceLock::new(),
    });
    let (plan_tx, plan_rx) = watch::channel(Plan::default());
    let (ready_tx, mut ready_rx) = mpsc::channel::<bool>(1024);
    let (caught_tx, mut caught_rx) = mpsc::channel::<bool>(1024);
    let mut tasks = Vec::new();
    for i in range.clone() {
        let (ctx, sh, plan, ready_tx, caught_tx) = (
            ctx.clone(),
            sh.clone(),
            plan_rx.clone(),
            ready_tx.clone(),
            caught_tx.clone(),
        );
        tasks.push(tokio::spawn(async move {
            sub(
                ctx,
                sh,
                plan,
                ready_tx,
                caught_tx,
                i,
                user_of(i, p.per_user),
            )
            .await;
        }));
    }
    drop((ready_tx, caught_tx));
    let ok = crate::fleet::count_ready(&mut ready_rx, range.len(), ctx.deadline).await;
    link.emit(json!({"ev": "ready", "connected": ok}));
    let Some(cmd) = link.expect("drop", ctx.deadline).await else {
        return;
    };
    let _ = sh.dropped_at.set(Instant::now());
    plan_tx.send_modify(|p| p.targets = Some(versions(&cmd, "targets")));
    // Every subscriber that was connected reports once: caught up or failed.
    let mut caught = 0u64;
    let until = ctx.until(45.0);
    for _ in 0..ok {
        match tokio::time::timeout_at(until, caught_rx.recv()).await {
            Ok(Some(good)) => caught += u64::from(good),
            _ => break,
        }
    }
    let resumed = sh.resume.lock().len();
    link.emit(json!({
        "ev": "caught", "caught": caught, "resumed": resumed,
        "h_resume": sh.resume.b64(), "h_caught": sh.caught.b64(),
    }));
    let Some(cmd) = link.expect("finish", ctx.deadline).await else {
        return;
    };
    plan_tx.send_modify(|p| {
        p.finals = Some(versions(&cmd, "finals"));
        p.finish_by = Some(ctx.until(30.0));
    });
    for t in tasks {
        let _ = tokio::time::timeout_at(ctx.until(40.0), t).await;
    }
    let mut f = sh.counts.fields();
    f.insert(
        "resume_snapshots".into(),
        sh.resume_snapshots.load(Ordering::Relaxed).into(),
    );
    f.insert("h_live".into(), sh.live.b64().into());
    link.emit(done(&sh.errs, f));
}

/// Connects and subscribes `user:me` with `cursor`; returns after the first answer.
async fn open(ctx: &Ctx, i: usize, token: &str, tr: &mut Track) -> Result<(Ws, String), String> {
    let _permit = ctx.connecting.acquire().await.map_err(|e| e.to_string())?;
    let until = ctx.until(60.0);
    let mut ws = client::connect(&ctx.target, &ctx.sources, token).await?;
    client::welcome(&mut ws, until).await?;
    let cid = format!("lb-{}-s{i}", ctx.run);
    client::send(
        &mut ws,
        client::hello(&cid, json!({"user:me": tr.cursor()})),
    )
    .await?;
    loop {
        match client::next_text_until(&mut ws, until).await? {
            In::Text(t) => {
                let f = client::parse(&t)?;
                match &*f.kind {
                    "error" => return Err(f.describe()),
                    "snapshot" | "events" | "up_to_date" => {
                        let kind = f.kind.to_string();
                        tr.apply(&f, |_| {});
                        return Ok((ws, kind));
                    }
                    _ => {}
                }
            }
            In::Closed(why) => return Err(why),
        }
    }
}

async fn sub(
    ctx: Arc<Ctx>,
    sh: Arc<Shared>,
    mut plan: watch::Receiver<Plan>,
    ready_tx: mpsc::Sender<bool>,
    caught_tx: mpsc::Sender<bool>,
    i: usize,
    user: usize,
) {
    let mut tr = Track::default();
    let opened = async {
        let token = ctx.token(&ctx.user(user), USER)?;
        let (ws, _) = open(&ctx, i, &token, &mut tr).await?;
        Ok((token, ws))
    };
    let Some((token, mut ws)) = report_ready(opened.await, &sh.errs, ready_tx).await else {
        return;
    };
    // Live until the drop.
    let targets = loop {
        tokio::select! {
            changed = plan.changed() => {
                if changed.is_err() { return; }
                if let Some(t) = plan.borrow_and_update().targets.clone() { break t; }
            }
            m = client::next_text(&mut ws) => {
                if !on_frame(&sh, &mut tr, m) {
                    let _ = caught_tx.send(false).await;
                    return;
                }
            }
        }
    };
    // The drop: the socket closes under the server, no close frame.
    drop(ws);
    let dropped_at = *sh.dropped_at.get().unwrap_or(&Instant::now());
    let target = targets.get(user).copied().unwrap_or(0);
    let mut reopened = None;
    for attempt in 0..10u64 {
        match open(&ctx, i, &token, &mut tr).await {
            Ok(x) => {
                reopened = Some(x);
                break;
            }
            Err(e) => {
                sh.errs.add(format!("reconnect: {e}"));
                tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
            }
        }
    }
    let Some((mut ws, kind)) = reopened else {
        let _ = caught_tx.send(false).await;
        return;
    };
    sh.resume.record(dropped_at.elapsed().as_micros() as u64);
    if kind == "snapshot" {
        sh.resume_snapshots.fetch_add(1, Ordering::Relaxed);
    }
    let mut caught = false;
    loop {
        if !caught && tr.version >= target {
            caught = true;
            sh.caught.record(dropped_at.elapsed().as_micros() as u64);
            let _ = caught_tx.send(true).await;
        }
        let (fin, until) = {
            let p = plan.borrow();
            (p.finals.clone(), p.finish_by.unwrap_or(ctx.deadline))
        };
        if let Some(f) = fin
            && caught
            && tr.version >= f.get(user).copied().unwrap_or(0)
        {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(until) => {
                sh.errs.add(format!("subscriber {i} stopped at version {} short of the end", tr.version));
                break;
            }
            changed = plan.changed() => { if changed.is_err() { break; } }
            m = client::next_text(&mut ws) => {
                if !on_frame(&sh, &mut tr, m) { break; }
            }
        }
    }
    if !caught {
        let _ = caught_tx.send(false).await;
    }
    sh.counts.add_track(&tr);
}

/// Applies one incoming frame; false when the connection ended.
fn on_frame(sh: &Shared, tr: &mut Track, m: In) -> bool {
    match m {
        In::Text(t) => {
            let now = client::now_us();
            match client::parse(&t) {
                Ok(f) if f.kind == "error" => sh.errs.add(f.describe()),
                Ok(f) => tr.apply(&f, |a| {
                    sh.counts.deliveries.fetch_add(1, Ordering::Relaxed);
                    if let Some(t) = client::stamp(a.value) {
                        sh.live.record(now.saturating_sub(t));
                    }
                }),
                Err(e) => sh.errs.add(e),
            }
            true
        }
        In::Closed(why) => {
            sh.errs.add(why);
            false
        }
    }
}
