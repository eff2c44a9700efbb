//! Command line of the load generator. Scenario options are optional: each
//! scenario picks its full-size default (the table) or, with
//! `--smoke`, a tiny one.

use clap::Parser;

pub const SCENARIOS: [&str; 9] = [
    "idle", "fanout", "tabs", "writes", "poll", "storm", "history", "hostile", "team",
];

#[derive(Parser, Debug, Clone)]
#[command(
    name = "load",
    about = "tidemark load generator: cargo bench --bench load -- SCENARIO [options]",
    after_help = "Scenarios: idle, fanout, tabs, writes, poll, storm, history, hostile, team. \
                  Prints one JSON line on stdout and a summary on stderr."
)]
pub struct Args {
    /// idle | fanout | tabs | writes | poll | storm | history | hostile | team
    pub scenario: Option<String>,
    /// The server, started separately.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Other nodes on the same PostgreSQL database (repeat for more): tab
    /// `i` of a user connects to node `i % nodes` (`--url` is node 0), and
    /// deliveries that crossed nodes are measured apart (tabs); writer `i`
    /// writes on node `i % nodes` (writes).
    #[arg(long)]
    pub url2: Vec<String>,
    /// HS256 secret the server verifies tokens with.
    #[arg(long, env = "TIDEMARK_JWT_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Store label for the JSON line (default: asked from /readyz).
    #[arg(long)]
    pub store: Option<String>,
    /// Server pid: its VmRSS and CPU time are read from /proc.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Tiny, few-second version of the scenario (CI).
    #[arg(long)]
    pub smoke: bool,
    /// Client processes (default: one per 18,000 sockets).
    #[arg(long)]
    pub procs: Option<usize>,
    /// Loopback source addresses to spread client sockets over (127.0.0.2, ...).
    #[arg(long, default_value_t = 8)]
    pub sources: usize,
    /// Messages per second per WebSocket connection of role `user`, under the
    /// server's per-connection limit (TIDEMARK_WS_MSG_RATE, 200 by default).
    /// 0 = unpaced. The fanout scenario's admin publisher is never paced.
    #[arg(long, default_value_t = 190.0)]
    pub conn_rate: f64,
    /// Connection attempts in flight at once.
    #[arg(long, default_value_t = 512)]
    pub connect_concurrency: usize,
    /// Hard deadline for the whole run, seconds.
    #[arg(long)]
    pub timeout: Option<f64>,

    /// Connections / subscribers (idle, fanout, storm, hostile, team).
    #[arg(long, short = 'n')]
    pub n: Option<usize>,
    /// WebSocket connections per user (idle, fanout, storm, hostile, team; server limit 64).
    #[arg(long)]
    pub conns_per_user: Option<usize>,
    /// Spaces each idle connection subscribes, comma-separated ("" = none).
    #[arg(long, default_value = "catalog")]
    pub subscribe: String,
    /// Users (tabs).
    #[arg(long)]
    pub users: Option<usize>,
    /// Tabs per user (tabs).
    #[arg(long, default_value_t = 3)]
    pub tabs: usize,
    /// Total writes per second (tabs, storm, hostile).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Concurrent writers (writes), or HTTP writer tasks (storm).
    #[arg(long)]
    pub writers: Option<usize>,
    /// Catalog changes (fanout).
    #[arg(long)]
    pub changes: Option<usize>,
    /// Changes not yet delivered to everyone (fanout; 1 = one at a time).
    #[arg(long, default_value_t = 1)]
    pub inflight: usize,
    /// fanout: `--inflight` counts unacknowledged changes only, as an outside
    /// publisher does (the next change goes as soon as one is acked), not
    /// changes still on their way to subscribers.
    #[arg(long)]
    pub pipelined: bool,
    /// fanout: the publisher sends at most this many changes per second
    /// (offered load for latency-under-load runs); 0 = as fast as the
    /// window allows.
    #[arg(long, default_value_t = 0.0)]
    pub publish_rate: f64,
    /// Client WebSockets keep Nagle's algorithm (a plain socket's default,
    /// which many clients keep) instead of setting TCP_NODELAY: shows what
    /// the server's own TCP_NODELAY on accepted sockets is for.
    #[arg(long)]
    pub client_nagle: bool,
    /// Measured duration, seconds (tabs, writes, poll per mode; hostile: the
    /// hostile phase).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Most mutations per writer (writes).
    #[arg(long, default_value_t = 10_000_000)]
    pub count: u64,
    /// Concurrent HTTP requests (poll).
    #[arg(long)]
    pub conns: Option<usize>,
    /// etag | longpoll | both (poll).
    #[arg(long, default_value = "both")]
    pub mode: String,
    /// Seconds of writes before the drop and after it (storm); seconds
    /// connections are held after connecting (idle, before RSS is read);
    /// seconds before and after the hostile phase (hostile).
    #[arg(long)]
    pub settle: Option<f64>,
    /// Hostile clients of each kind (hostile): slow-loris connections are 4x
    /// this, flood attempts 100x; WebSocket, SSE and garbage clients 1x.
    #[arg(long)]
    pub hostile: Option<usize>,
    /// The hostile kinds to run, comma-separated (hostile; default all:
    /// slowloris, flood, ws_hello, ws_ping, sse, garbage).
    #[arg(long)]
    pub kinds: Option<String>,
    /// Events of history in the small and the large space (history).
    #[arg(long, default_value_t = 100)]
    pub small: u64,
    #[arg(long)]
    pub large: Option<u64>,
    /// Measured writes per space (history).
    #[arg(long)]
    pub samples: Option<usize>,

    /// Shared id of this run (names users; set for child processes).
    #[arg(long, hide = true)]
    pub run: Option<String>,
    /// Index of this child process.
    #[arg(long, hide = true)]
    pub worker: Option<usize>,
    #[arg(long, hide = true)]
    pub workers: Option<usize>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    pub bench: bool,
}

impl Args {
    /// The full-size value or the smoke one, unless given.
    pub fn pick<T: Copy>(&self, given: Option<T>, full: T, smoke: T) -> T {
        given.unwrap_or(if self.smoke { smoke } else { full })
    }

    pub fn timeout_secs(&self) -> f64 {
        self.pick(self.timeout, 900.0, 90.0)
    }
}

/// The command line for a child process: the parent's, without the options the
/// parent owns, plus the child's place in the fleet.
pub fn child_args(index: usize, count: usize, run: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let name = a.split('=').next().unwrap_or("");
        if matches!(name, "--procs" | "--run" | "--worker" | "--workers") {
            if !a.contains('=') {
                it.next();
            }
            continue;
        }
        out.push(a);
    }
    out.extend([
        "--run".to_string(),
        run.to_string(),
        "--worker".to_string(),
        index.to_string(),
        "--workers".to_string(),
        count.to_string(),
    ]);
    out
}
