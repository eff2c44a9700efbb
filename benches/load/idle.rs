//! `idle`: hold N WebSocket connections (authenticated, subscribed, reading)
//! and report the server's resident memory per connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Map, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{self, In};
use crate::fleet::{Ctx, Fleet, Slice, USER, WorkerFn, WorkerLink, done, user_of};
use crate::stats::{Errs, Lat, Report, ServerWatch, brief, merged, summary};

struct P {
    n: usize,
    per_user: usize,
    settle: f64,
}

fn params(ctx: &Ctx) -> P {
    let a = &ctx.args;
    P {
        n: a.pick(a.n, 19_000, 50),
        per_user: a.pick(a.conns_per_user, 8, 5),
        settle: a.pick(a.settle, 3.0, 0.5),
    }
}

fn spaces(ctx: &Ctx) -> Vec<String> {
    ctx.args
        .subscribe
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

pub async fn drive(ctx: &Arc<Ctx>) -> Result<Report, String> {
    let p = params(ctx);
    let mut r = Report::new();
    r.set("n", p.n);
    r.set("conns_per_user", p.per_user);
    r.set("subscribe", ctx.args.subscribe.clone());
    let server = ServerWatch::start(ctx.args.pid);
    let procs = ctx.procs(p.n);
    r.set("procs", procs);
    let t0 = Instant::now();
    let mut fleet = Fleet::start(ctx, procs, WORKER).await?;
    let ready = fleet.gather("ready", ctx.deadline, |_, _| {}).await?;
    let connect_s = t0.elapsed().as_secs_f64();
    let connected = crate::stats::sum(&ready, "connected");
    tokio::time::sleep_until(ctx.until(p.settle)).await;
    let held = server.now();
    fleet.send_all(json!({"cmd": "stop"}));
    let results = fleet.gather("done", ctx.until(60.0), |_, _| {}).await?;
    r.absorb(&results);
    r.set("client_cpu_s", fleet.client_cpu_s(&results));
    fleet.close().await;
    let still_open = crate::stats::sum(&results, "open_at_stop");
    r.set("connected", connected);
    r.set("open_at_stop", still_open);
    r.set("connect_s", (connect_s * 100.0).round() / 100.0);
    r.set("connects_per_s", (connected as f64 / connect_s).round());
    let hs = merged(&results, "h_connect");
    r.set("connect_ms", summary(&hs));
    if connected < p.n as u64 {
        r.error(format!(
            "{} of {} connections failed",
            p.n as u64 - connected,
            p.n
        ));
    }
    if still_open < connected {
        r.error(format!(
            "{} connections were closed while held",
            connected - still_open
        ));
    }
    r.line(format!(
        "idle: {connected}/{} connections in {connect_s:.1} s ({} procs); connect {}",
        p.n,
        procs,
        brief(&hs)
    ));
    if let (Some(a), Some(b)) = (server.start_stat(), held) {
        let per = (b.rss_kib as f64 - a.rss_kib as f64) / connected.max(1) as f64;
        r.set("rss_before_kib", a.rss_kib);
        r.set("rss_after_kib", b.rss_kib);
        r.set("rss_per_conn_kib", (per * 100.0).round() / 100.0);
        r.line(format!(
            "server RSS {} -> {} KiB: {per:.2} KiB per connection (target <= 6)",
            a.rss_kib, b.rss_kib
        ));
    } else {
        r.line("no --pid: server memory not measured");
    }
    server.finish(&mut r);
    Ok(r)
}

pub const WORKER: WorkerFn = |c, s, l| Box::pin(worker(c, s, l));

async fn worker(ctx: Arc<Ctx>, slice: Slice, mut link: WorkerLink) {
    let p = params(&ctx);
    let range = slice.range(p.n);
    let stop = CancellationToken::new();
    let errs = Arc::new(Errs::default());
    let lat = Arc::new(Lat::default());
    let connected = Arc::new(AtomicU64::new(0));
    let open = Arc::new(AtomicU64::new(0));
    let gaps = Arc::new(AtomicU64::new(0));
    let dups = Arc::new(AtomicU64::new(0));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<bool>(1024);
    let subs = spaces(&ctx);
    let mut tasks = Vec::with_capacity(range.len());
    for i in range.clone() {
        let (ctx, stop, errs, lat, ready_tx) = (
            ctx.clone(),
            stop.clone(),
            errs.clone(),
            lat.clone(),
            ready_tx.clone(),
        );
        let (open, gaps, dups, subs) = (open.clone(), gaps.clone(), dups.clone(), subs.clone());
        tasks.push(tokio::spawn(async move {
            let user = ctx.user(user_of(i, p.per_user));
            let t = Instant::now();
            let conn = async {
                let token = ctx.token(&user, USER)?;
                let _permit = ctx.connecting.acquire().await.map_err(|e| e.to_string())?;
                let until = ctx.until(60.0);
                let cid = format!("c-{i}");
                client::subscribed(&ctx.target, &ctx.sources, &token, &cid, &subs, until).await
            };
            let (mut ws, mut tracks) = match conn.await {
                Ok(x) => x,
                Err(e) => {
                    errs.add(e);
                    let _ = ready_tx.send(false).await;
                    return;
                }
            };
            lat.record(t.elapsed().as_micros() as u64);
            open.fetch_add(1, Ordering::Relaxed);
            let _ = ready_tx.send(true).await;
            drop(ready_tx);
            // Hold: read (answers pings, applies catalog events) until stopped.
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    m = client::next_text(&mut ws) => match m {
                        In::Text(t) => {
                            let Ok(f) = client::parse(&t) else { continue };
                            if let Some(tr) = tracks.iter_mut().find(|(s, _)| Some(s.as_str()) == f.space.as_deref()) {
                                tr.1.apply(&f, |_| {});
                            }
                        }
                        In::Closed(why) => {
                            errs.add(why);
                            open.fetch_sub(1, Ordering::Relaxed);
                            return;
                        }
                    },
                }
            }
            for (_, t) in &tracks {
                gaps.fetch_add(t.gaps, Ordering::Relaxed);
                dups.fetch_add(t.dups, Ordering::Relaxed);
            }
        }));
    }
    drop(ready_tx);
    let ok = crate::fleet::count_ready(&mut ready_rx, range.len(), ctx.deadline).await;
    connected.store(ok, Ordering::Relaxed);
    link.emit(json!({"ev": "ready", "connected": ok}));
    let _ = link.expect("stop", ctx.deadline).await;
    let open_at_stop = open.load(Ordering::Relaxed);
    stop.cancel();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    let mut f = Map::new();
    f.insert("open_at_stop".into(), open_at_stop.into());
    f.insert("gaps".into(), gaps.load(Ordering::Relaxed).into());
    f.insert("dups".into(), dups.load(Ordering::Relaxed).into());
    f.insert("h_connect".into(), lat.b64().into());
    link.emit(done(&errs, f));
}
