//! `fanout`: N subscribers of `catalog`; an admin changes one catalog document
//! repeatedly. Measures send-to-receipt per delivery, the time for a change
//! to reach all N, and deliveries per second.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Map, json};
use tidemark::engine::Role;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{self, In, Track, Writer};
use crate::fleet::{Ctx, Fleet, Slice, USER, WorkerFn, WorkerLink, done, user_of};
use crate::stats::{Errs, Lat, Report, ServerWatch, brief, hist, merged, per_op, summary};

/// Runs of this scenario in this process (for the writer's client id).
static RUNS: AtomicU64 = AtomicU64::new(0);

/// Versions counted at once (far more than changes in flight).
const SLOTS: usize = 1 << 16;

pub(crate) struct P {
    pub n: usize,
    pub per_user: usize,
    pub changes: usize,
}

/// The space written and subscribed: `catalog`, or the `team` scenario's.
fn space(ctx: &Ctx) -> &str {
    ctx.space.get().map_or("catalog", |s| s.as_str())
}

pub(crate) fn params(ctx: &Ctx) -> P {
    let a = &ctx.args;
    P {
        n: a.pick(a.n, 10_000, 50),
        per_user: a.pick(a.conns_per_user, 32, 5),
        changes: a.pick(a.changes, 200, 20),
    }
}

pub async fn drive(ctx: &Arc<Ctx>) -> Result<Report, String> {
    let p = params(ctx);
    let inflight = ctx.args.inflight.max(1);
    let mut r = Report::new();
    r.set("n", p.n);
    r.set("changes", p.changes);
    r.set("inflight", inflight);
    r.set("pipelined", ctx.args.pipelined);
    r.set("publish_rate", ctx.args.publish_rate);
    let procs = ctx.procs(p.n);
    r.set("procs", procs);
    let mut fleet = Fleet::start(ctx, procs, WORKER).await?;
    let ready = fleet.gather("ready", ctx.deadline, |_, _| {}).await?;
    let connected = crate::stats::sum(&ready, "connected");
    if connected < p.n as u64 {
        r.error(format!(
            "{} of {} subscribers failed to connect",
            p.n as u64 - connected,
            p.n
        ));
    }
    // The catalog's writer is an admin; a team space's a service (which
    // reaches every team, as a back-end publisher would).
    let role = if ctx.space.get().is_some() {
        Role::Service
    } else {
        Role::Admin
    };
    let admin = ctx.token(&ctx.user(usize::MAX), role)?;
    let mut w = Writer::open(
        &ctx.target,
        &ctx.sources,
        &admin,
        // A new client id per run of this scenario in one process (`team`
        // runs it twice): its mutation ids start at 1 again.
        format!(
            "lb-{}-fanout-admin-{}",
            ctx.run,
            RUNS.fetch_add(1, Ordering::Relaxed)
        ),
        // Not paced here (--publish-rate paces the loop below, which goes on
        // reading acks meanwhile): the server holds admin connections to
        // their own, much higher rate (TIDEMARK_WS_TRUSTED_MSG_RATE).
        0.0,
    )
    .await?;
    let server = ServerWatch::start(ctx.args.pid);
    // Workers that hold subscribers report when all of theirs hold a version.
    let workers = ready
        .iter()
        .filter(|x| x["connected"].as_u64().unwrap_or(0) > 0)
        .count();
    // version -> (workers reached, latest arrival µs); version -> send µs.
    let mut reached: HashMap<u64, (usize, u64)> = HashMap::new();
    let mut pending: BTreeMap<u64, u64> = BTreeMap::new();
    let mut all = hist();
    let mut acks = hist();
    let mut last_version = None;
    let t0 = Instant::now();
    let mut t_end = t0;
    let mut timeouts = 0u64;
    // Up to `inflight` changes are on their way (sent, or acknowledged and
    // not yet reached by every subscriber); the writer does not wait for an
    // ack before sending the next one.
    let mut sent = 0usize;
    let mut quiet_since = Instant::now();
    // --publish-rate: changes go out on a fixed schedule (open loop).
    let gap =
        (ctx.args.publish_rate > 0.0).then(|| Duration::from_secs_f64(1.0 / ctx.args.publish_rate));
    let mut next_send = Instant::now();
    let in_flight = |pending: usize, unacked: usize| {
        if ctx.args.pipelined {
            unacked
        } else {
            pending + unacked
        }
    };
    loop {
        while sent < p.changes
            && in_flight(pending.len(), w.unacked()) < inflight
            && Instant::now() >= next_send
        {
            if Instant::now() >= ctx.deadline {
                break;
            }
            let extra = format!(r#","k":{sent}"#);
            if let Err(e) = w
                .send(space(ctx), |t| {
                    client::put_stamped("bench", "fanout", t, &extra)
                })
                .await
            {
                r.error(format!("writer: {e}"));
                sent = p.changes;
                break;
            }
            sent += 1;
            if let Some(g) = gap {
                next_send += g;
            }
        }
        let waiting = sent < p.changes && Instant::now() < ctx.deadline;
        if w.unacked() == 0 && pending.is_empty() && !(waiting && gap.is_some()) {
            if sent < p.changes {
                r.error("deadline reached before all changes were sent");
            }
            break;
        }
        let until = (quiet_since + Duration::from_secs(10)).min(ctx.deadline);
        let may_send = waiting && in_flight(pending.len(), w.unacked()) < inflight;
        tokio::select! {
            _ = tokio::time::sleep_until(next_send), if gap.is_some() && may_send => {}
            a = w.ack(None, until), if w.unacked() > 0 => match a {
                Ok((_, ack)) => {
                    quiet_since = Instant::now();
                    acks.saturating_record(ack.latency_us.max(1));
                    if let Some(prev) = last_version
                        && ack.version != prev + 1
                    {
                        r.error(format!(
                            "catalog went from {prev} to {} between two acks",
                            ack.version
                        ));
                    }
                    last_version = Some(ack.version);
                    pending.insert(ack.version, ack.sent_us);
                    settle(&mut pending, &mut reached, workers, &mut all, &mut t_end);
                }
                Err(e) => {
                    r.error(format!("writer: {e}"));
                    break;
                }
            },
            ev = fleet.next(until) => match ev {
                Some((_, ev)) if ev["ev"] == "reached" => {
                    quiet_since = Instant::now();
                    let v = ev["v"].as_u64().unwrap_or(0);
                    let e = reached.entry(v).or_insert((0, 0));
                    e.0 += 1;
                    e.1 = e.1.max(ev["at"].as_u64().unwrap_or(0));
                    settle(&mut pending, &mut reached, workers, &mut all, &mut t_end);
                }
                Some((i, ev)) if ev["ev"] == "exit" => {
                    return Err(format!("worker {i} ended early"));
                }
                Some(_) => {}
                None => {
                    timeouts += (pending.len() + w.unacked()) as u64;
                    r.error(format!(
                        "{} change(s) did not reach every subscriber within 10 s",
                        pending.len() + w.unacked()
                    ));
                    break;
                }
            },
        }
    }
    let elapsed = t_end.duration_since(t0).as_secs_f64().max(1e-6);
    server.finish(&mut r);
    fleet.send_all(json!({"cmd": "stop"}));
    let results = fleet.gather("done", ctx.until(60.0), |_, _| {}).await?;
    r.absorb(&results);
    r.set("client_cpu_s", fleet.client_cpu_s(&results));
    fleet.close().await;
    let deliveries = crate::stats::sum(&results, "deliveries");
    let sent = all.len() + timeouts;
    let expected = connected * sent;
    let rate = deliveries as f64 / elapsed;
    let lat = merged(&results, "h_delivery");
    r.set("subscribers", connected);
    r.set("deliveries", deliveries);
    r.set("expected_deliveries", expected);
    r.set("elapsed_s", (elapsed * 1000.0).round() / 1000.0);
    r.set("deliveries_per_s", rate.round());
    r.set("delivery_ms", summary(&lat));
    r.set("all_reached_ms", summary(&all));
    r.set("ack_ms", summary(&acks));
    per_op(&mut r, "server_us_per_delivery", deliveries);
    if deliveries < expected {
        r.error(format!("{} deliveries missing", expected - deliveries));
    }
    r.line(format!(
        "fanout: {connected} subscribers x {} changes = {deliveries} deliveries in {elapsed:.2} s: {:.0}/s (target >= 500,000/s)",
        all.len(),
        rate
    ));
    r.line(format!(
        "  one change to all subscribers: {}  (target p99 < 100 ms)",
        brief(&all)
    ));
    r.line(format!("  each delivery, send to receipt: {}", brief(&lat)));
    r.line(format!("  writer ack: {}", brief(&acks)));
    Ok(r)
}

/// Moves every pending change that all workers reached into the histogram.
fn settle(
    pending: &mut BTreeMap<u64, u64>,
    reached: &mut HashMap<u64, (usize, u64)>,
    workers: usize,
    all: &mut hdrhistogram::Histogram<u64>,
    t_end: &mut Instant,
) {
    pending.retain(|v, sent| match reached.get(v) {
        Some((n, at)) if *n >= workers => {
            all.saturating_record(at.saturating_sub(*sent).max(1));
            reached.remove(v);
            *t_end = Instant::now();
            false
        }
        _ => true,
    });
}

pub const WORKER: WorkerFn = |c, s, l| Box::pin(worker(c, s, l));

async fn worker(ctx: Arc<Ctx>, slice: Slice, mut link: WorkerLink) {
    let p = params(&ctx);
    let range = slice.range(p.n);
    let stop = CancellationToken::new();
    let errs = Arc::new(Errs::default());
    let lat = Arc::new(Lat::default());
    let deliveries = Arc::new(AtomicU64::new(0));
    let gaps = Arc::new(AtomicU64::new(0));
    let dups = Arc::new(AtomicU64::new(0));
    // Subscribers of this worker that hold version v, at v % SLOTS.
    let counts: Arc<Vec<AtomicU64>> = Arc::new((0..SLOTS).map(|_| AtomicU64::new(0)).collect());
    let connected = Arc::new(AtomicU64::new(0));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<bool>(1024);
    let mut tasks = Vec::new();
    let total = Arc::new(AtomicU64::new(0));
    for i in range.clone() {
        let (ctx, stop, errs, lat, ready_tx) = (
            ctx.clone(),
            stop.clone(),
            errs.clone(),
            lat.clone(),
            ready_tx.clone(),
        );
        let (deliveries, gaps, dups, counts, total) = (
            deliveries.clone(),
            gaps.clone(),
            dups.clone(),
            counts.clone(),
            total.clone(),
        );
        let emit = link.emitter();
        tasks.push(tokio::spawn(async move {
            let user = ctx.user(user_of(i, p.per_user));
            let mut tr = Track::default();
            let conn = async {
                let token = ctx.token(&user, USER)?;
                let _permit = ctx.connecting.acquire().await.map_err(|e| e.to_string())?;
                let until = ctx.until(60.0);
                let mut ws = client::connect(&ctx.target, &ctx.sources, &token).await?;
                client::welcome(&mut ws, until).await?;
                client::send(
                    &mut ws,
                    client::hello(&format!("c-{i}"), json!({ space(&ctx): null })),
                )
                .await?;
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
                    errs.add(e);
                    let _ = ready_tx.send(false).await;
                    return;
                }
            };
            let _ = ready_tx.send(true).await;
            drop(ready_tx);
            let reach = |v: u64| {
                let n = total.load(Ordering::Relaxed);
                let slot = &counts[(v % SLOTS as u64) as usize];
                if slot.fetch_add(1, Ordering::AcqRel) + 1 == n {
                    slot.store(0, Ordering::Release);
                    let _ = emit.send(json!({"ev": "reached", "v": v, "at": client::now_us()}));
                }
            };
            let stopped = stop.cancelled();
            tokio::pin!(stopped);
            loop {
                tokio::select! {
                    biased;
                    _ = &mut stopped => break,
                    m = client::next_text(&mut ws) => match m {
                        In::Text(t) => {
                            let now = client::now_us();
                            let f = match client::parse(&t) {
                                Ok(f) => f,
                                Err(e) => { errs.add(e); continue; }
                            };
                            if f.space.as_deref() != Some(space(&ctx)) {
                                if f.kind == "error" { errs.add(f.describe()); }
                                continue;
                            }
                            let before = tr.version;
                            let snapshot = f.kind == "snapshot";
                            tr.apply(&f, |a| {
                                if let Some(t) = client::stamp(a.value) {
                                    lat.record(now.saturating_sub(t));
                                }
                                deliveries.fetch_add(1, Ordering::Relaxed);
                                reach(a.version);
                            });
                            if snapshot {
                                (before + 1..=tr.version).for_each(&reach);
                            }
                        }
                        In::Closed(why) => { errs.add(why); break; }
                    },
                }
            }
            gaps.fetch_add(tr.gaps, Ordering::Relaxed);
            dups.fetch_add(tr.dups, Ordering::Relaxed);
        }));
    }
    drop(ready_tx);
    let ok = crate::fleet::count_ready(&mut ready_rx, range.len(), ctx.deadline).await;
    connected.store(ok, Ordering::Relaxed);
    total.store(ok, Ordering::Relaxed);
    link.emit(json!({"ev": "ready", "connected": ok}));
    let _ = link.expect("stop", ctx.deadline).await;
    stop.cancel();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    let mut f = Map::new();
    f.insert(
        "deliveries".into(),
        deliveries.load(Ordering::Relaxed).into(),
    );
    f.insert("gaps".into(), gaps.load(Ordering::Relaxed).into());
    f.insert("dups".into(), dups.load(Ordering::Relaxed).into());
    f.insert("h_delivery".into(), lat.b64().into());
    link.emit(done(&errs, f));
}
