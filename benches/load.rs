//! Tidemark load generator: speaks the real protocol over real
//! sockets to a separately started server.
//!
//! ```sh
//! cargo bench --bench load -- fanout --url http://127.0.0.1:8080 --pid $PID
//! cargo bench --bench load -- --help
//! ```
//!
//! Scenarios (modules below): `idle`, `fanout`, `tabs`, `writes`, `poll`,
//! `storm`, `history`, `hostile`, `team`. Each prints one JSON line on stdout and a readable
//! summary on stderr, checks every version it receives for gaps and
//! duplicates, and exits non-zero when it saw any, or any error.
//! `scripts/bench` starts a server and runs one scenario against it.

#[path = "load/abuse.rs"]
mod abuse;
#[path = "load/args.rs"]
mod args;
#[path = "load/client.rs"]
mod client;
#[path = "load/fanout.rs"]
mod fanout;
#[path = "load/fleet.rs"]
mod fleet;
#[path = "load/history.rs"]
mod history;
#[path = "load/hostile.rs"]
mod hostile;
#[path = "load/http1.rs"]
mod http1;
#[path = "load/idle.rs"]
mod idle;
#[path = "load/poll.rs"]
mod poll;
#[path = "load/stats.rs"]
mod stats;
#[path = "load/storm.rs"]
mod storm;
#[path = "load/tabs.rs"]
mod tabs;
#[path = "load/team.rs"]
mod team;
#[path = "load/writes.rs"]
mod writes;

use std::sync::Arc;

use clap::Parser;
use serde_json::{Map, Value};

use fleet::{Ctx, WorkerFn};
use stats::Report;

fn main() {
    let args = args::Args::parse();
    client::CLIENT_NAGLE.store(args.client_nagle, std::sync::atomic::Ordering::Relaxed);
    let Some(scenario) = args.scenario.clone() else {
        // `cargo bench` / `cargo test --benches` run every bench without arguments.
        eprintln!(
            "load: no scenario given; run `cargo bench --bench load -- SCENARIO` with one of {}",
            args::SCENARIOS.join(", ")
        );
        return;
    };
    if !args::SCENARIOS.contains(&scenario.as_str()) {
        eprintln!(
            "load: unknown scenario `{scenario}`; one of {}",
            args::SCENARIOS.join(", ")
        );
        std::process::exit(2);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("load: runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = rt.block_on(run(args, scenario));
    // Exit at once: a child's stdin reader would hold the runtime open.
    std::process::exit(code);
}

async fn run(args: args::Args, scenario: String) -> i32 {
    let is_worker = args.worker.is_some();
    if args.secret.is_none() {
        eprintln!("load: pass --secret or set TIDEMARK_JWT_SECRET (the server's token secret)");
        return 2;
    }
    let ctx = match Ctx::new(args) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("load: {e}");
            return 2;
        }
    };
    if is_worker {
        match worker_of(&scenario) {
            Some(w) => fleet::child_main(ctx, w).await,
            None => eprintln!("load: scenario {scenario} has no workers"),
        }
        return 0;
    }
    let store = match &ctx.args.store {
        Some(s) => s.clone(),
        None => store_of(&ctx).await,
    };
    let started = std::time::Instant::now();
    let outcome = match scenario.as_str() {
        "idle" => idle::drive(&ctx).await,
        "fanout" => fanout::drive(&ctx).await,
        "tabs" => tabs::drive(&ctx).await,
        "writes" => writes::drive(&ctx).await,
        "poll" => poll::drive(&ctx).await,
        "storm" => storm::drive(&ctx).await,
        "history" => history::drive(&ctx).await,
        "hostile" => hostile::drive(&ctx).await,
        "team" => team::drive(&ctx).await,
        _ => Err(format!("unknown scenario {scenario}")),
    };
    let mut report = outcome.unwrap_or_else(|e| {
        let mut r = Report::new();
        r.error(format!("aborted: {e}"));
        r.line(format!("{scenario}: aborted: {e}"));
        r
    });
    let wall = started.elapsed().as_secs_f64();
    report.set("wall_s", (wall * 10.0).round() / 10.0);
    generator_share(&mut report, wall);
    print_report(&ctx, &scenario, &store, report)
}

/// The worker entry point of scenarios that run clients in child processes.
fn worker_of(scenario: &str) -> Option<WorkerFn> {
    match scenario {
        "idle" => Some(idle::WORKER),
        "fanout" => Some(fanout::WORKER),
        "tabs" => Some(tabs::WORKER),
        "writes" => Some(writes::WORKER),
        "poll" => Some(poll::WORKER),
        "storm" => Some(storm::WORKER),
        "hostile" => Some(hostile::WORKER),
        // In-process only: the team space is set in this process.
        "team" => Some(fanout::WORKER),
        _ => None,
    }
}

/// Asks the server which store it runs on.
async fn store_of(ctx: &Ctx) -> String {
    let url = format!("{}/readyz", ctx.target.base);
    let Ok(resp) = reqwest::get(&url).await else {
        return "unknown".into();
    };
    let v: Value = resp.json().await.unwrap_or_default();
    v["store"].as_str().unwrap_or("unknown").to_string()
}

fn print_report(ctx: &Ctx, scenario: &str, store: &str, r: Report) -> i32 {
    let mut out = Map::new();
    out.insert("scenario".into(), scenario.into());
    out.insert("store".into(), store.into());
    out.insert("smoke".into(), ctx.args.smoke.into());
    out.insert("run".into(), ctx.run.clone().into());
    for (k, v) in &r.fields {
        out.insert(k.clone(), v.clone());
    }
    out.insert("gaps".into(), r.gaps.into());
    out.insert("dups".into(), r.dups.into());
    out.insert("errors".into(), r.errors.into());
    out.insert("error_samples".into(), r.error_samples.clone().into());
    out.insert("ok".into(), r.ok().into());
    println!("{}", Value::Object(out));
    for l in &r.lines {
        eprintln!("{l}");
    }
    eprintln!(
        "{scenario} on {store}: gaps {}, duplicates {}, errors {}{}",
        r.gaps,
        r.dups,
        r.errors,
        if r.error_samples.is_empty() {
            String::new()
        } else {
            format!(" (e.g. {})", r.error_samples.join(" | "))
        }
    );
    if r.ok() { 0 } else { 1 }
}

/// The generator's share of the machine's cores over the run; past 80% the
/// run says so: its figures may be the generator's, not the server's.
fn generator_share(r: &mut Report, wall_s: f64) {
    let Some(cpu) = r.fields.get("client_cpu_s").and_then(|v| v.as_f64()) else {
        return;
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let share = cpu / (wall_s.max(1e-3) * cores);
    r.set("generator_cpu_share", (share * 100.0).round() / 100.0);
    if share > 0.8 {
        r.line(format!(
            "  note: the generator used {:.0}% of the machine's {cores} cores: it may be what bounds this run",
            share * 100.0
        ));
    }
}
