//! Running a scenario's clients in this process or in K child processes.
//!
//! The parent (driver) talks to its workers with JSON lines: commands
//! `{"cmd": ...}` go to a worker, events `{"ev": ...}` come back. With one
//! process the worker is a task and the lines travel over channels; with
//! `--procs K` each worker is this binary re-executed with `--worker I`,
//! commands on its stdin, events on its stdout.

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tidemark::engine::Role;
use tidemark::http::auth::Auth;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use crate::args::Args;
use crate::client::{Sources, Target};

/// Everything a driver or worker needs.
pub struct Ctx {
    pub args: Args,
    pub scenario: String,
    pub target: Target,
    /// The other nodes (`--url2`, repeated), if any.
    pub others: Vec<Target>,
    pub sources: Sources,
    auth: Option<Auth>,
    /// Names this run's users, so runs never share a client id or a space.
    pub run: String,
    pub deadline: Instant,
    /// Bounds connection attempts in flight.
    pub connecting: Semaphore,
    /// The space `fanout` subscribes and writes (`catalog` unless set: the
    /// `team` scenario sets its team space; in-process workers only).
    pub space: std::sync::OnceLock<String>,
}

impl Ctx {
    pub fn new(args: Args) -> Result<Ctx, String> {
        let scenario = args.scenario.clone().unwrap_or_default();
        let target = Target::parse(&args.url)?;
        let others = args
            .url2
            .iter()
            .map(|u| Target::parse(u))
            .collect::<Result<Vec<_>, _>>()?;
        let sources = Sources::new(&target, args.sources);
        let auth = args
            .secret
            .as_deref()
            .map(|s| Auth::new(s.as_bytes(), None));
        let run = args
            .run
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..8].to_string());
        let deadline = Instant::now() + Duration::from_secs_f64(args.timeout_secs());
        let connecting = Semaphore::new(args.connect_concurrency.max(1));
        Ok(Ctx {
            args,
            scenario,
            target,
            others,
            sources,
            auth,
            run,
            deadline,
            connecting,
            space: std::sync::OnceLock::new(),
        })
    }

    /// Nodes the scenario spreads its clients over (`--url` and `--url2`).
    pub fn nodes(&self) -> usize {
        1 + self.others.len()
    }

    /// Which node tab `i` of a user connects to: `i % nodes`.
    pub fn node_of(&self, tab: usize) -> usize {
        tab % self.nodes()
    }

    pub fn node(&self, n: usize) -> &Target {
        match n {
            0 => &self.target,
            n => &self.others[(n - 1) % self.others.len()],
        }
    }

    /// The user with index `i` in this run and scenario.
    pub fn user(&self, i: usize) -> String {
        format!("lb-{}-{}-{i}", self.run, self.scenario)
    }

    pub fn token(&self, user: &str, role: Role) -> Result<String, String> {
        let auth = self
            .auth
            .as_ref()
            .ok_or("no secret: pass --secret or set TIDEMARK_JWT_SECRET")?;
        auth.mint(user, role, 4 * 3600).map(|(t, _)| t)
    }

    /// `now + secs`, but never past the run's deadline.
    pub fn until(&self, secs: f64) -> Instant {
        (Instant::now() + Duration::from_secs_f64(secs.max(0.0))).min(self.deadline)
    }

    pub fn procs(&self, sockets: usize) -> usize {
        self.args
            .procs
            .unwrap_or(sockets.div_ceil(18_000))
            .clamp(1, 64)
    }
}

/// Which part of the scenario's clients a worker holds.
#[derive(Clone, Copy, Debug)]
pub struct Slice {
    pub index: usize,
    pub count: usize,
}

impl Slice {
    pub fn range(&self, total: usize) -> Range<usize> {
        total * self.index / self.count..total * (self.index + 1) / self.count
    }
    pub fn share(&self, total: f64) -> f64 {
        total / self.count as f64
    }
}

/// A worker's end: commands in, events out.
pub struct WorkerLink {
    cmds: mpsc::UnboundedReceiver<Value>,
    events: mpsc::UnboundedSender<Value>,
}

impl WorkerLink {
    pub fn emit(&self, v: Value) {
        let _ = self.events.send(v);
    }
    pub fn emitter(&self) -> mpsc::UnboundedSender<Value> {
        self.events.clone()
    }
    /// The next command before `until`.
    pub async fn cmd(&mut self, until: Instant) -> Option<Value> {
        tokio::time::timeout_at(until, self.cmds.recv())
            .await
            .ok()?
    }
    /// The next command named `name` (others are ignored) before `until`.
    pub async fn expect(&mut self, name: &str, until: Instant) -> Option<Value> {
        loop {
            let v = tokio::time::timeout_at(until, self.cmds.recv())
                .await
                .ok()??;
            if v["cmd"] == name {
                return Some(v);
            }
        }
    }
}

pub type WorkerFn = fn(Arc<Ctx>, Slice, WorkerLink) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// The driver's end of every worker.
pub struct Fleet {
    cmds: Vec<mpsc::UnboundedSender<Value>>,
    events: mpsc::UnboundedReceiver<(usize, Value)>,
    children: Vec<tokio::process::Child>,
}

impl Fleet {
    /// Starts `procs` workers: a task when 1, child processes otherwise.
    pub async fn start(ctx: &Arc<Ctx>, procs: usize, worker: WorkerFn) -> Result<Fleet, String> {
        let (ev_tx, events) = mpsc::unbounded_channel();
        let mut cmds = Vec::new();
        let mut children = Vec::new();
        if procs <= 1 {
            let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
            let (wtx, mut wrx) = mpsc::unbounded_channel::<Value>();
            let link = WorkerLink {
                cmds: cmd_rx,
                events: wtx,
            };
            tokio::spawn(worker(ctx.clone(), Slice { index: 0, count: 1 }, link));
            let ev_tx = ev_tx.clone();
            tokio::spawn(async move {
                while let Some(v) = wrx.recv().await {
                    let _ = ev_tx.send((0, v));
                }
                let _ = ev_tx.send((0, json!({"ev": "exit"})));
            });
            cmds.push(cmd_tx);
            return Ok(Fleet {
                cmds,
                events,
                children,
            });
        }
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        for i in 0..procs {
            let mut child = tokio::process::Command::new(&exe)
                .args(crate::args::child_args(i, procs, &ctx.run))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("spawning worker {i}: {e}"))?;
            let mut stdin = child.stdin.take().ok_or("no stdin")?;
            let stdout = child.stdout.take().ok_or("no stdout")?;
            let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<Value>();
            tokio::spawn(async move {
                while let Some(v) = cmd_rx.recv().await {
                    let line = format!("{v}\n");
                    if stdin.write_all(line.as_bytes()).await.is_err()
                        || stdin.flush().await.is_err()
                    {
                        break;
                    }
                }
            });
            let ev_tx = ev_tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    match serde_json::from_str::<Value>(&line) {
                        Ok(v) => {
                            let _ = ev_tx.send((i, v));
                        }
                        Err(_) => eprintln!("worker {i}: {line}"),
                    }
                }
                let _ = ev_tx.send((i, json!({"ev": "exit"})));
            });
            cmds.push(cmd_tx);
            children.push(child);
        }
        Ok(Fleet {
            cmds,
            events,
            children,
        })
    }

    pub fn size(&self) -> usize {
        self.cmds.len()
    }

    pub fn is_local(&self) -> bool {
        self.children.is_empty()
    }

    pub fn send_all(&self, v: Value) {
        for c in &self.cmds {
            let _ = c.send(v.clone());
        }
    }

    /// The next event from any worker before `until`.
    pub async fn next(&mut self, until: Instant) -> Option<(usize, Value)> {
        tokio::time::timeout_at(until, self.events.recv())
            .await
            .ok()?
    }

    /// One `name` event from every worker; other events go to `other`.
    pub async fn gather(
        &mut self,
        name: &str,
        until: Instant,
        mut other: impl FnMut(usize, &Value),
    ) -> Result<Vec<Value>, String> {
        let mut got: Vec<Option<Value>> = vec![None; self.size()];
        while got.iter().any(Option::is_none) {
            let Some((i, v)) = self.next(until).await else {
                let missing = got.iter().filter(|g| g.is_none()).count();
                return Err(format!("{missing} worker(s) sent no `{name}` in time"));
            };
            if v["ev"] == name {
                got[i] = Some(v);
            } else if v["ev"] == "exit" && got[i].is_none() {
                return Err(format!("worker {i} ended before `{name}`"));
            } else {
                other(i, &v);
            }
        }
        Ok(got.into_iter().flatten().collect())
    }

    /// Client CPU seconds: this process plus the children's reports.
    pub fn client_cpu_s(&self, results: &[Value]) -> f64 {
        let own = crate::stats::self_cpu_s();
        let children: f64 = if self.is_local() {
            0.0
        } else {
            results.iter().filter_map(|r| r["cpu_s"].as_f64()).sum()
        };
        ((own + children) * 100.0).round() / 100.0
    }

    /// Gathers every worker's `done` before `until` into `r` (with the
    /// server's figures since `server` started), then closes the fleet.
    pub async fn finish(
        mut self,
        until: Instant,
        server: &crate::stats::ServerWatch,
        r: &mut crate::stats::Report,
    ) -> Result<Vec<Value>, String> {
        let results = self.gather("done", until, |_, _| {}).await?;
        server.finish(r);
        r.absorb(&results);
        r.set("client_cpu_s", self.client_cpu_s(&results));
        self.close().await;
        Ok(results)
    }

    /// Lets the children exit on their own for a moment, then kills them.
    pub async fn close(mut self) {
        drop(self.cmds);
        for c in &mut self.children {
            if tokio::time::timeout(Duration::from_secs(10), c.wait())
                .await
                .is_err()
            {
                let _ = c.start_kill();
            }
        }
    }
}

/// The worker side of a child process: stdin -> commands, events -> stdout.
pub async fn child_main(ctx: Arc<Ctx>, worker: WorkerFn) {
    let index = ctx.args.worker.unwrap_or(0);
    let count = ctx.args.workers.unwrap_or(1).max(1);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<Value>();
    tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                let _ = cmd_tx.send(v);
            }
        }
    });
    let writer = tokio::spawn(async move {
        let mut out = tokio::io::stdout();
        while let Some(v) = ev_rx.recv().await {
            let line = format!("{v}\n");
            if out.write_all(line.as_bytes()).await.is_err() || out.flush().await.is_err() {
                break;
            }
        }
    });
    let link = WorkerLink {
        cmds: cmd_rx,
        events: ev_tx,
    };
    worker(ctx, Slice { index, count }, link).await;
    // The last events are flushed once every sender is gone (or after 5 s).
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

/// A worker's closing report: counters, error samples, its process's CPU.
pub fn done(errs: &crate::stats::Errs, mut fields: serde_json::Map<String, Value>) -> Value {
    fields.insert("ev".into(), "done".into());
    fields.insert("errors".into(), errs.n().into());
    fields.insert("error_samples".into(), errs.samples().into());
    fields.insert("cpu_s".into(), crate::stats::self_cpu_s().into());
    Value::Object(fields)
}

/// Starts `procs` workers and waits for every one's `ready`; fewer than
/// `n` connected is an error in `r`. The fleet, the `ready` events and the
/// count connected.
pub async fn start_ready(
    ctx: &Arc<Ctx>,
    procs: usize,
    worker: WorkerFn,
    n: usize,
    r: &mut crate::stats::Report,
) -> Result<(Fleet, Vec<Value>, u64), String> {
    let mut fleet = Fleet::start(ctx, procs, worker).await?;
    let ready = fleet.gather("ready", ctx.deadline, |_, _| {}).await?;
    let connected = crate::stats::sum(&ready, "connected");
    if connected < n as u64 {
        r.error(format!(
            "{} of {n} subscribers failed to connect",
            n as u64 - connected
        ));
    }
    Ok((fleet, ready, connected))
}

/// Reports a subscriber's connection attempt to its worker (true once
/// connected); a failure is counted in `errs`.
pub async fn report_ready<T>(
    opened: Result<T, String>,
    errs: &crate::stats::Errs,
    ready_tx: tokio::sync::mpsc::Sender<bool>,
) -> Option<T> {
    if let Err(e) = &opened {
        errs.add(e.clone());
    }
    let _ = ready_tx.send(opened.is_ok()).await;
    opened.ok()
}

/// Waits for `n` subscribers' reports (true: connected) until `until`; the
/// count of connected ones.
pub async fn count_ready(
    rx: &mut tokio::sync::mpsc::Receiver<bool>,
    n: usize,
    until: Instant,
) -> u64 {
    let mut ok = 0u64;
    for _ in 0..n {
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(good)) => ok += u64::from(good),
            _ => break,
        }
    }
    ok
}

/// The users of `slice` when `total` connections are spread `per_user` to a user.
pub fn user_of(conn: usize, per_user: usize) -> usize {
    conn / per_user.max(1)
}

/// The role every subscriber uses.
pub const USER: Role = Role::User;

/// The shape of a timed scenario: start the workers, wait until they are
/// connected, let them run for `secs` while watching the server, and gather
/// their results into `r`. Returns the connected count and the results.
pub async fn run_timed(
    ctx: &Arc<Ctx>,
    procs: usize,
    worker: WorkerFn,
    secs: f64,
    r: &mut crate::stats::Report,
) -> Result<(u64, Vec<Value>), String> {
    // n = 0: the callers check the count themselves.
    let (fleet, _, connected) = start_ready(ctx, procs, worker, 0, r).await?;
    let server = crate::stats::ServerWatch::start(ctx.args.pid);
    fleet.send_all(json!({"cmd": "go"}));
    let results = fleet.finish(ctx.until(secs + 60.0), &server, r).await?;
    Ok((connected, results))
}
