//! `poll`: `GET /v1/spaces/{space}/version` over many keep-alive connections,
//! with `If-None-Match` (answered 304) and as a long-poll (`since`/`wait`)
//! on `catalog` while an admin changes it. Requests per second.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::AUTHORIZATION;
use serde_json::{Map, Value, json};
use tidemark::engine::Role;
use tokio::time::Instant;

use crate::fleet::{Ctx, Fleet, Slice, USER, WorkerFn, WorkerLink, done};
use crate::http1::{Http1, Resp};
use crate::stats::{Errs, Lat, Report, ServerWatch, brief, max_f, merged, sum, summary};

struct P {
    conns: usize,
    duration: f64,
}

fn params(ctx: &Ctx) -> P {
    let a = &ctx.args;
    P {
        conns: a.pick(a.conns, 256, 8),
        duration: a.pick(a.duration, 10.0, 1.0),
    }
}

fn modes(ctx: &Ctx) -> Result<Vec<&'static str>, String> {
    match ctx.args.mode.as_str() {
        "etag" => Ok(vec!["etag"]),
        "longpoll" => Ok(vec!["longpoll"]),
        "both" => Ok(vec!["etag", "longpoll"]),
        m => Err(format!("--mode must be etag, longpoll or both, not {m}")),
    }
}

/// One HTTP client per source address (for the catalog writer).
fn clients(ctx: &Ctx) -> Result<Vec<reqwest::Client>, String> {
    let mut ips: Vec<Option<std::net::IpAddr>> =
        ctx.sources.all().iter().copied().map(Some).collect();
    if ips.is_empty() {
        ips.push(None);
    }
    ips.into_iter()
        .map(|ip| {
            reqwest::Client::builder()
                .local_address(ip)
                .tcp_nodelay(true)
                .pool_max_idle_per_host(usize::MAX)
                .timeout(Duration::from_secs(60))
                .build()
                .map_err(|e| format!("http client: {e}"))
        })
        .collect()
}

pub async fn drive(ctx: &Arc<Ctx>) -> Result<Report, String> {
    let p = params(ctx);
    let modes = modes(ctx)?;
    let mut r = Report::new();
    r.set("conns", p.conns);
    r.set("duration_s", p.duration);
    r.set("mode", ctx.args.mode.clone());
    let procs = ctx.procs(p.conns);
    r.set("procs", procs);
    let mut fleet = Fleet::start(ctx, procs, WORKER).await?;
    fleet.gather("ready", ctx.deadline, |_, _| {}).await?;
    let server = ServerWatch::start(ctx.args.pid);
    for mode in modes {
        // Long-polls return when catalog moves: keep an admin writing it.
        let writing = Arc::new(AtomicBool::new(mode == "longpoll"));
        let writes = Arc::new(AtomicU64::new(0));
        let werrs = Arc::new(Errs::default());
        let writer = tokio::spawn(catalog_writer(
            ctx.clone(),
            writing.clone(),
            writes.clone(),
            werrs.clone(),
        ));
        let t = Instant::now();
        let cpu0 = server.now();
        fleet.send_all(json!({"cmd": mode}));
        let res = fleet
            .gather(
                &format!("{mode}_done"),
                ctx.until(p.duration + 60.0),
                |_, _| {},
            )
            .await;
        writing.store(false, Ordering::Relaxed);
        let _ = writer.await;
        let wall = t.elapsed().as_secs_f64();
        let cpu = match (cpu0, server.now()) {
            (Some(a), Some(b)) => Some(b.cpu_s - a.cpu_s),
            _ => None,
        };
        let res = res?;
        let requests = sum(&res, "requests");
        let elapsed = max_f(&res, "elapsed_s").max(1e-6);
        let rps = requests as f64 / elapsed;
        let h = merged(&res, "h_request");
        let mut m = Map::new();
        m.insert("requests".into(), requests.into());
        m.insert("requests_per_s".into(), rps.round().into());
        m.insert("request_ms".into(), summary(&h));
        if let Some(cpu) = cpu {
            m.insert(
                "server_cpu_s".into(),
                ((cpu * 100.0).round() / 100.0).into(),
            );
            if requests > 0 {
                let us = (cpu * 1e6 / requests as f64 * 10.0).round() / 10.0;
                m.insert("server_us_per_request".into(), us.into());
            }
        }
        for k in ["not_modified", "ok", "unchanged"] {
            m.insert(k.into(), sum(&res, k).into());
        }
        if mode == "longpoll" {
            let w = writes.load(Ordering::Relaxed);
            m.insert("catalog_writes".into(), w.into());
            m.insert(
                "catalog_writes_per_s".into(),
                (w as f64 / wall).round().into(),
            );
            if werrs.n() > 0 {
                for s in werrs.samples() {
                    r.error(format!("catalog writer: {s}"));
                }
            }
        }
        r.absorb(&res);
        if requests == 0 {
            r.error(format!("poll {mode}: no request completed"));
        }
        r.line(format!(
            "poll {mode}: {} concurrent, {requests} requests in {elapsed:.1} s: {rps:.0}/s (target >= 50,000/s); {}",
            p.conns,
            brief(&h)
        ));
        if mode == "longpoll" {
            r.line(format!(
                "  catalog changed {} times ({:.0}/s); each change wakes every poller",
                writes.load(Ordering::Relaxed),
                writes.load(Ordering::Relaxed) as f64 / wall
            ));
        }
        r.set(mode, Value::Object(m));
    }
    server.finish(&mut r);
    fleet.send_all(json!({"cmd": "stop"}));
    let results = fleet.gather("done", ctx.until(30.0), |_, _| {}).await?;
    r.set("client_cpu_s", fleet.client_cpu_s(&results));
    r.absorb(&results);
    fleet.close().await;
    Ok(r)
}

/// Changes `catalog` as fast as acknowledged while `on` (bounded by the deadline).
async fn catalog_writer(ctx: Arc<Ctx>, on: Arc<AtomicBool>, n: Arc<AtomicU64>, errs: Arc<Errs>) {
    if !on.load(Ordering::Relaxed) {
        return;
    }
    let token = match ctx.token(&ctx.user(usize::MAX), Role::Admin) {
        Ok(t) => t,
        Err(e) => return errs.add(e),
    };
    let Ok(cl) = clients(&ctx) else { return };
    let url = format!("{}/v1/spaces/catalog/docs/bench/poll", ctx.target.base);
    let mut i = 0u64;
    while on.load(Ordering::Relaxed) && Instant::now() < ctx.deadline && i < 10_000_000 {
        i += 1;
        let body = json!({"t": crate::client::now_us(), "i": i});
        match cl[0]
            .put(&url)
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .json(&body)
            .send()
            .await
        {
            Ok(resp) if resp.status().is_success() => {
                let _ = resp.bytes().await;
                n.fetch_add(1, Ordering::Relaxed);
            }
            Ok(resp) => {
                errs.add(format!("PUT catalog: {}", resp.status()));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => {
                errs.add(format!("PUT catalog: {e}"));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    not_modified: AtomicU64,
    ok: AtomicU64,
    unchanged: AtomicU64,
    regressions: AtomicU64,
}

pub const WORKER: WorkerFn = |c, s, l| Box::pin(worker(c, s, l));

async fn worker(ctx: Arc<Ctx>, slice: Slice, mut link: WorkerLink) {
    let p = params(&ctx);
    let range = slice.range(p.conns);
    let errs = Arc::new(Errs::default());
    let regressions = Arc::new(AtomicU64::new(0));
    let tokens: Arc<Vec<String>> = Arc::new(
        range
            .clone()
            .filter_map(|i| ctx.token(&ctx.user(i), USER).ok())
            .collect(),
    );
    link.emit(json!({"ev": "ready", "connected": tokens.len()}));
    while let Some(cmd) = link.cmd(ctx.deadline).await {
        let mode = cmd["cmd"].as_str().unwrap_or_default().to_string();
        if mode != "etag" && mode != "longpoll" {
            break;
        }
        let counts = Arc::new(Counts::default());
        let lat = Arc::new(Lat::default());
        let start = Instant::now();
        let end = ctx.until(p.duration);
        let mut tasks = Vec::new();
        for k in 0..tokens.len() {
            let (ctx, tokens, counts, lat, errs) = (
                ctx.clone(),
                tokens.clone(),
                counts.clone(),
                lat.clone(),
                errs.clone(),
            );
            let longpoll = mode == "longpoll";
            tasks.push(tokio::spawn(async move {
                let auth = format!("Authorization: Bearer {}", tokens[k]);
                let r = if longpoll {
                    long_poller(&ctx, &auth, end, &counts, &lat).await
                } else {
                    etag_poller(&ctx, &auth, end, &counts, &lat).await
                };
                if let Err(e) = r {
                    errs.add(e);
                }
            }));
        }
        for t in tasks {
            let _ = tokio::time::timeout_at(ctx.until(p.duration + 40.0), t).await;
        }
        let elapsed = start.elapsed().as_secs_f64();
        regressions.fetch_add(
            counts.regressions.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
        link.emit(json!({
            "ev": format!("{mode}_done"),
            "elapsed_s": elapsed,
            "requests": c(&counts.requests),
            "not_modified": c(&counts.not_modified),
            "ok": c(&counts.ok),
            "unchanged": c(&counts.unchanged),
            "h_request": lat.b64(),
        }));
    }
    let mut f = Map::new();
    f.insert("gaps".into(), 0.into());
    // A version going backwards is counted as a duplicate.
    f.insert("dups".into(), regressions.load(Ordering::Relaxed).into());
    link.emit(done(&errs, f));
}

fn version_of(resp: &Resp) -> Result<u64, String> {
    let v: Value = serde_json::from_slice(&resp.body).map_err(|e| format!("version body: {e}"))?;
    v["version"]
        .as_u64()
        .ok_or_else(|| format!("version body without a version: {v}"))
}

/// `If-None-Match` with the last ETag until `end`: 304 while nothing changes.
async fn etag_poller(
    ctx: &Ctx,
    auth: &str,
    end: Instant,
    counts: &Counts,
    lat: &Lat,
) -> Result<(), String> {
    let mut cl = Http1::open(&ctx.target, &ctx.sources).await?;
    let path = "/v1/spaces/user:me/version";
    let resp = cl.get(path, &[auth]).await?;
    if resp.status != 200 {
        return Err(format!("GET version: {}", resp.status));
    }
    let mut etag = resp.etag.clone().ok_or("GET version: no ETag")?;
    let mut version = version_of(&resp)?;
    let mut n = 0u64;
    while Instant::now() < end && n < 100_000_000 {
        n += 1;
        let t = Instant::now();
        let inm = format!("If-None-Match: {etag}");
        let resp = cl.get(path, &[auth, &inm]).await?;
        match resp.status {
            304 => {
                counts.not_modified.fetch_add(1, Ordering::Relaxed);
            }
            200 => {
                if let Some(e) = &resp.etag {
                    etag = e.clone();
                }
                let v = version_of(&resp)?;
                if v < version {
                    counts.regressions.fetch_add(1, Ordering::Relaxed);
                }
                version = v;
                counts.ok.fetch_add(1, Ordering::Relaxed);
            }
            s => return Err(format!("GET version with If-None-Match: {s}")),
        }
        lat.record(t.elapsed().as_micros() as u64);
        counts.requests.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// `?since=V&wait=5` on catalog until `end`: returns as soon as it moves.
async fn long_poller(
    ctx: &Ctx,
    auth: &str,
    end: Instant,
    counts: &Counts,
    lat: &Lat,
) -> Result<(), String> {
    let mut cl = Http1::open(&ctx.target, &ctx.sources).await?;
    let path = "/v1/spaces/catalog/version";
    let resp = cl.get(path, &[auth]).await?;
    if resp.status != 200 {
        return Err(format!("GET version: {}", resp.status));
    }
    let mut version = version_of(&resp)?;
    let mut n = 0u64;
    while Instant::now() < end && n < 100_000_000 {
        n += 1;
        let t = Instant::now();
        let resp = cl
            .get(&format!("{path}?since={version}&wait=5"), &[auth])
            .await
            .map_err(|e| format!("long-poll: {e}"))?;
        if resp.status != 200 {
            return Err(format!("long-poll: {}", resp.status));
        }
        let v = version_of(&resp)?;
        lat.record(t.elapsed().as_micros() as u64);
        counts.requests.fetch_add(1, Ordering::Relaxed);
        if v < version {
            counts.regressions.fetch_add(1, Ordering::Relaxed);
        } else if v == version {
            counts.unchanged.fetch_add(1, Ordering::Relaxed);
        } else {
            counts.ok.fetch_add(1, Ordering::Relaxed);
        }
        version = v;
    }
    Ok(())
}
