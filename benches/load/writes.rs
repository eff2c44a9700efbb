//! `writes`: C writers, one per user, each sending the next mutation as soon
//! as the previous one is acknowledged. Mutations per second and ack latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, json};
use tokio::time::Instant;

use crate::client::{self, Writer};
use crate::fleet::{Ctx, Slice, USER, WorkerFn, WorkerLink, done, run_timed};
use crate::stats::{Errs, Lat, Report, brief, max_f, merged, sum, summary};

struct P {
    writers: usize,
    duration: f64,
}

fn params(ctx: &Ctx) -> P {
    let a = &ctx.args;
    P {
        writers: a.pick(a.writers, 200, 10),
        duration: a.pick(a.duration, 20.0, 2.0),
    }
}

pub async fn drive(ctx: &Arc<Ctx>) -> Result<Report, String> {
    let p = params(ctx);
    let mut r = Report::new();
    r.set("writers", p.writers);
    r.set("duration_s", p.duration);
    r.set("conn_rate", ctx.args.conn_rate);
    let procs = ctx.procs(p.writers);
    r.set("procs", procs);
    let (connected, results) = run_timed(ctx, procs, WORKER, p.duration, &mut r).await?;
    let acks = sum(&results, "acks");
    let elapsed = max_f(&results, "elapsed_s").max(1e-6);
    let h = merged(&results, "h_ack");
    let rate = acks as f64 / elapsed;
    r.set("connected", connected);
    r.set("mutations", acks);
    r.set("noops", sum(&results, "noops"));
    r.set("elapsed_s", (elapsed * 1000.0).round() / 1000.0);
    r.set("mutations_per_s", rate.round());
    r.set("ack_ms", summary(&h));
    if ctx.nodes() > 1 {
        r.set("nodes", ctx.nodes());
    }
    crate::stats::per_op(&mut r, "server_us_per_mutation", acks);
    if connected < p.writers as u64 {
        r.error(format!(
            "{} of {} writers failed to connect",
            p.writers as u64 - connected,
            p.writers
        ));
    }
    if ctx.args.conn_rate > 0.0 && rate >= 0.95 * ctx.args.conn_rate * connected as f64 {
        r.line(format!(
            "  note: writers are paced at {} msg/s each (--conn-rate); this run hit that cap",
            ctx.args.conn_rate
        ));
    }
    r.line(format!(
        "writes: {} writers, {acks} mutations in {elapsed:.1} s: {rate:.0}/s (target >= 20,000/s SQLite, >= 10,000/s PostgreSQL)",
        connected
    ));
    r.line(format!("  ack latency: {}", brief(&h)));
    Ok(r)
}

pub const WORKER: WorkerFn = |c, s, l| Box::pin(worker(c, s, l));

async fn worker(ctx: Arc<Ctx>, slice: Slice, mut link: WorkerLink) {
    let p = params(&ctx);
    let range = slice.range(p.writers);
    let errs = Arc::new(Errs::default());
    let lat = Arc::new(Lat::default());
    let acks = Arc::new(AtomicU64::new(0));
    let noops = Arc::new(AtomicU64::new(0));
    let gaps = Arc::new(AtomicU64::new(0));
    let dups = Arc::new(AtomicU64::new(0));
    let (go_tx, go_rx) = tokio::sync::watch::channel(None::<Instant>);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<bool>(1024);
    let mut tasks = Vec::new();
    for i in range.clone() {
        let (ctx, errs, lat, acks, noops, gaps, dups) = (
            ctx.clone(),
            errs.clone(),
            lat.clone(),
            acks.clone(),
            noops.clone(),
            gaps.clone(),
            dups.clone(),
        );
        let (ready_tx, mut go_rx) = (ready_tx.clone(), go_rx.clone());
        tasks.push(tokio::spawn(async move {
            let user = ctx.user(i);
            let opened = async {
                let token = ctx.token(&user, USER)?;
                let _permit = ctx.connecting.acquire().await.map_err(|e| e.to_string())?;
                // Writer i on node i % nodes (`--url2`): every node writes.
                Writer::open(
                    ctx.node(ctx.node_of(i)),
                    &ctx.sources,
                    &token,
                    format!("lb-{}-w{i}", ctx.run),
                    ctx.args.conn_rate,
                )
                .await
            };
            let mut w = match opened.await {
                Ok(w) => w,
                Err(e) => {
                    errs.add(e);
                    let _ = ready_tx.send(false).await;
                    return;
                }
            };
            let _ = ready_tx.send(true).await;
            drop(ready_tx);
            let Ok(end) = go_rx
                .wait_for(Option::is_some)
                .await
                .map(|v| v.unwrap_or(ctx.deadline))
            else {
                return;
            };
            let mut last: Option<u64> = None;
            let mut n = 0u64;
            while n < ctx.args.count && Instant::now() < end {
                n += 1;
                let extra = format!(r#","n":{n}"#);
                match w
                    .mutate("user:me", |t| client::put_stamped("bench", "w", t, &extra))
                    .await
                {
                    Ok(a) => {
                        lat.record(a.latency_us);
                        acks.fetch_add(1, Ordering::Relaxed);
                        if a.noop {
                            noops.fetch_add(1, Ordering::Relaxed);
                        }
                        // One writer per space: each ack is the next version.
                        if let Some(prev) = last {
                            if a.version <= prev {
                                dups.fetch_add(1, Ordering::Relaxed);
                            } else if a.version > prev + 1 {
                                gaps.fetch_add(a.version - prev - 1, Ordering::Relaxed);
                            }
                        }
                        last = Some(a.version);
                    }
                    Err(e) => {
                        errs.add(e);
                        break;
                    }
                }
            }
        }));
    }
    drop(ready_tx);
    let ok = crate::fleet::count_ready(&mut ready_rx, range.len(), ctx.deadline).await;
    link.emit(json!({"ev": "ready", "connected": ok}));
    let _ = link.expect("go", ctx.deadline).await;
    let start = Instant::now();
    let _ = go_tx.send(Some(ctx.until(p.duration)));
    for t in tasks {
        let _ = tokio::time::timeout_at(ctx.until(p.duration + 40.0), t).await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut f = Map::new();
    f.insert("elapsed_s".into(), elapsed.into());
    f.insert("acks".into(), acks.load(Ordering::Relaxed).into());
    f.insert("noops".into(), noops.load(Ordering::Relaxed).into());
    f.insert("gaps".into(), gaps.load(Ordering::Relaxed).into());
    f.insert("dups".into(), dups.load(Ordering::Relaxed).into());
    f.insert("h_ack".into(), lat.b64().into());
    link.emit(done(&errs, f));
}
