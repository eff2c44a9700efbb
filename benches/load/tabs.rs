//! `tabs`: U users with T tabs each (one WebSocket per tab, subscribed to the
//! user's space); W writes per second in total, each from one tab. Measures
//! send-to-receipt in the user's other tabs.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Map, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{self, In, Pace, Track};
use crate::fleet::{Ctx, Slice, USER, WorkerFn, WorkerLink, done, run_timed};
use crate::stats::{Errs, Lat, Report, brief, merged, sum, summary};

struct P {
    users: usize,
    tabs: usize,
    rate: f64,
    duration: f64,
}

fn params(ctx: &Ctx) -> P {
    let a = &ctx.args;
    P {
        users: a.pick(a.users, 1000, 10),
        tabs: a.tabs.max(2),
        rate: a.pick(a.rate, 1000.0, 50.0),
        duration: a.pick(a.duration, 20.0, 2.0),
    }
}

pub async fn drive(ctx: &Arc<Ctx>) -> Result<Report, String> {
    let p = params(ctx);
    let mut r = Report::new();
    r.set("users", p.users);
    r.set("tabs", p.tabs);
    r.set("rate", p.rate);
    r.set("duration_s", p.duration);
    let procs = ctx.procs(p.users * p.tabs);
    r.set("procs", procs);
    let (connected, results) = run_timed(ctx, procs, WORKER, p.duration, &mut r).await?;
    let writes = sum(&results, "writes");
    let deliveries = sum(&results, "deliveries");
    let expected = writes * (p.tabs as u64 - 1);
    let elapsed = crate::stats::max_f(&results, "elapsed_s").max(1e-6);
    let other = merged(&results, "h_other_tab");
    let cross = merged(&results, "h_cross_node");
    let acks = merged(&results, "h_ack");
    r.set("connected", connected);
    r.set("writes", writes);
    r.set("writes_per_s", (writes as f64 / elapsed).round());
    r.set("deliveries", deliveries);
    r.set("expected_deliveries", expected);
    r.set("behind", sum(&results, "behind"));
    r.set("other_tab_ms", summary(&other));
    if ctx.nodes() > 1 {
        r.set("nodes", ctx.nodes());
        r.set("cross_node_ms", summary(&cross));
    }
    r.set("ack_ms", summary(&acks));
    crate::stats::per_op(&mut r, "server_us_per_write", writes);
    if connected < (p.users * p.tabs) as u64 {
        r.error(format!(
            "{} of {} tabs failed to connect",
            (p.users * p.tabs) as u64 - connected,
            p.users * p.tabs
        ));
    }
    if deliveries < expected {
        r.error(format!(
            "{} deliveries to other tabs missing",
            expected - deliveries
        ));
    }
    r.line(format!(
        "tabs: {} users x {} tabs, {writes} writes in {elapsed:.1} s ({:.0}/s, asked {})",
        p.users,
        p.tabs,
        writes as f64 / elapsed,
        p.rate
    ));
    r.line(format!(
        "  send to receipt in the other tabs: {}  (target p99 < 10 ms)",
        brief(&other)
    ));
    if ctx.nodes() > 1 {
        r.line(format!(
            "  of which written on the other node: {}",
            brief(&cross)
        ));
    }
    r.line(format!("  ack: {}", brief(&acks)));
    Ok(r)
}

struct Shared {
    errs: Errs,
    other: Lat,
    /// The part of `other` written through the other node (`--url2`).
    cross: Lat,
    acks: Lat,
    /// Mutations sent, and answered (ack or reject).
    sent: AtomicU64,
    answered: AtomicU64,
    writes: AtomicU64,
    deliveries: AtomicU64,
    gaps: AtomicU64,
    dups: AtomicU64,
    /// Highest acked version per user of this worker.
    acked: Vec<AtomicU64>,
    /// Version each tab holds.
    held: Vec<AtomicU64>,
}

pub const WORKER: WorkerFn = |c, s, l| Box::pin(worker(c, s, l));

async fn worker(ctx: Arc<Ctx>, slice: Slice, mut link: WorkerLink) {
    let p = params(&ctx);
    let users = slice.range(p.users);
    let nu = users.len();
    let sh = Arc::new(Shared {
        errs: Errs::default(),
        other: Lat::default(),
        cross: Lat::default(),
        acks: Lat::default(),
        sent: AtomicU64::new(0),
        answered: AtomicU64::new(0),
        writes: AtomicU64::new(0),
        deliveries: AtomicU64::new(0),
        gaps: AtomicU64::new(0),
        dups: AtomicU64::new(0),
        acked: (0..nu).map(|_| AtomicU64::new(0)).collect(),
        held: (0..nu * p.tabs).map(|_| AtomicU64::new(0)).collect(),
    });
    let stop = CancellationToken::new();
    let (ready_tx, mut ready_rx) = mpsc::channel::<bool>(1024);
    let mut senders = Vec::with_capacity(nu * p.tabs);
    let mut tasks = Vec::with_capacity(nu * p.tabs);
    for (ui, u) in users.clone().enumerate() {
        for tab in 0..p.tabs {
            let (tx, rx) = mpsc::channel::<()>(64);
            senders.push(tx);
            let (ctx, sh, stop, ready_tx) =
                (ctx.clone(), sh.clone(), stop.clone(), ready_tx.clone());
            tasks.push(tokio::spawn(async move {
                tab_task(ctx, sh, stop, ready_tx, rx, u, ui, tab, p.tabs).await;
            }));
        }
    }
    drop(ready_tx);
    let ok = crate::fleet::count_ready(&mut ready_rx, nu * p.tabs, ctx.deadline).await;
    link.emit(json!({"ev": "ready", "connected": ok}));
    let _ = link.expect("go", ctx.deadline).await;
    // Pace the writes: round robin over users, and over each user's tabs.
    let rate = slice.share(p.rate);
    let start = Instant::now();
    let end = ctx.until(p.duration);
    let mut sent = 0u64;
    let mut behind = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut next_user = 0usize;
    let mut tab_turn = vec![0usize; nu];
    while nu > 0 && Instant::now() < end {
        tick.tick().await;
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        while sent < due {
            sent += 1;
            let u = next_user % nu;
            next_user += 1;
            let tab = tab_turn[u] % p.tabs;
            tab_turn[u] += 1;
            if senders[u * p.tabs + tab].try_send(()).is_err() {
                behind += 1;
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    // Let every mutation be answered and every tab reach its user's last
    // acked version (commands still queued are dropped with their senders).
    drop(senders);
    let drain = ctx.until(10.0);
    loop {
        let unanswered = sh.sent.load(Ordering::Relaxed) - sh.answered.load(Ordering::Relaxed);
        let lagging = (0..nu * p.tabs)
            .filter(|&i| {
                sh.held[i].load(Ordering::Relaxed) < sh.acked[i / p.tabs].load(Ordering::Relaxed)
            })
            .count();
        if lagging == 0 && unanswered == 0 {
            break;
        }
        if Instant::now() >= drain {
            sh.errs.add(format!(
                "after 10 s, {unanswered} mutation(s) unanswered and {lagging} tab(s) short of their user's last write"
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    let mut f = Map::new();
    f.insert("elapsed_s".into(), elapsed.into());
    f.insert("writes".into(), sh.writes.load(Ordering::Relaxed).into());
    f.insert(
        "deliveries".into(),
        sh.deliveries.load(Ordering::Relaxed).into(),
    );
    f.insert("behind".into(), behind.into());
    f.insert("gaps".into(), sh.gaps.load(Ordering::Relaxed).into());
    f.insert("dups".into(), sh.dups.load(Ordering::Relaxed).into());
    f.insert("h_other_tab".into(), sh.other.b64().into());
    f.insert("h_cross_node".into(), sh.cross.b64().into());
    f.insert("h_ack".into(), sh.acks.b64().into());
    link.emit(done(&sh.errs, f));
}

#[allow(clippy::too_many_arguments)]
async fn tab_task(
    ctx: Arc<Ctx>,
    sh: Arc<Shared>,
    stop: CancellationToken,
    ready_tx: mpsc::Sender<bool>,
    mut cmds: mpsc::Receiver<()>,
    user: usize,
    ui: usize,
    tab: usize,
    tabs: usize,
) {
    let cid = format!("lb-{}-u{user}-t{tab}", ctx.run);
    let mut tr = Track::default();
    let conn = async {
        let token = ctx.token(&ctx.user(user), USER)?;
        let _permit = ctx.connecting.acquire().await.map_err(|e| e.to_string())?;
        let until = ctx.until(60.0);
        let node = ctx.node(ctx.node_of(tab));
        let mut ws = client::connect(node, &ctx.sources, &token).await?;
        client::welcome(&mut ws, until).await?;
        client::send(&mut ws, client::hello(&cid, json!({"user:me": null}))).await?;
        while !tr.started {
            match client::next_text_until(&mut ws, until).await? {
                In::Text(t) => {
                    let f = client::parse(&t)?;
                    if f.kind == "error" {
                        return Err(f.describe());
                    }
                    tr.apply(&f, |_| {});
                }
                In::Closed(why) => return Err(why),
            }
        }
        Ok::<_, String>(ws)
    };
    let mut ws = match conn.await {
        Ok(ws) => ws,
        Err(e) => {
            sh.errs.add(e);
            let _ = ready_tx.send(false).await;
            return;
        }
    };
    let _ = ready_tx.send(true).await;
    drop(ready_tx);
    let held = &sh.held[ui * tabs + tab];
    held.store(tr.version, Ordering::Relaxed);
    let mut pace = Pace::new(ctx.args.conn_rate);
    let mut mid = 0u64;
    let mut inflight: VecDeque<(u64, Instant)> = VecDeque::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(()) = cmds.recv() => {
                pace.wait().await;
                mid += 1;
                let msg = format!(
                    r#"{{"type":"mutate","mutation_id":{mid},"space":"user:me","ops":[{{"op":"patch","collection":"bench","id":"tabs","value":{{"t":{},"tab":{tab}}}}}]}}"#,
                    client::now_us()
                );
                inflight.push_back((mid, Instant::now()));
                sh.sent.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = client::send(&mut ws, msg).await {
                    sh.errs.add(e);
                    break;
                }
            }
            m = client::next_text(&mut ws) => match m {
                In::Text(t) => {
                    let now = client::now_us();
                    let f = match client::parse(&t) {
                        Ok(f) => f,
                        Err(e) => { sh.errs.add(e); continue; }
                    };
                    match &*f.kind {
                        "ack" => {
                            if let Some((m, at)) = inflight.pop_front() {
                                if Some(m) != f.mutation_id {
                                    sh.errs.add("acks out of order");
                                }
                                sh.acks.record(at.elapsed().as_micros() as u64);
                            }
                            sh.writes.fetch_add(1, Ordering::Relaxed);
                            sh.answered.fetch_add(1, Ordering::Relaxed);
                            sh.acked[ui].fetch_max(f.version.unwrap_or(0), Ordering::Relaxed);
                        }
                        "reject" => {
                            inflight.pop_front();
                            sh.answered.fetch_add(1, Ordering::Relaxed);
                            sh.errs.add(f.describe());
                        }
                        "error" => sh.errs.add(f.describe()),
                        _ => {
                            tr.apply(&f, |a| {
                                if a.origin.is_some_and(|o| o.client_id != cid) {
                                    if let Some(t) = client::stamp(a.value) {
                                        sh.other.record(now.saturating_sub(t));
                                        let from = writer_tab(a.value);
                                        if from.is_some_and(|w| ctx.node_of(w) != ctx.node_of(tab)) {
                                            sh.cross.record(now.saturating_sub(t));
                                        }
                                    }
                                    sh.deliveries.fetch_add(1, Ordering::Relaxed);
                                }
                            });
                            held.store(tr.version, Ordering::Relaxed);
                        }
                    }
                }
                In::Closed(why) => { sh.errs.add(why); break; }
            },
        }
    }
    sh.gaps.fetch_add(tr.gaps, Ordering::Relaxed);
    sh.dups.fetch_add(tr.dups, Ordering::Relaxed);
}

/// The tab that wrote a `bench/tabs` value (`{"t": .., "tab": N}`).
fn writer_tab(value: Option<&serde_json::value::RawValue>) -> Option<usize> {
    #[derive(serde::Deserialize)]
    struct V {
        tab: usize,
    }
    serde_json::from_str::<V>(value?.get()).ok().map(|v| v.tab)
}
