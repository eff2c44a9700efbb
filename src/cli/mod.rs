//! The command line, in one place at the top: parses the arguments (every
//! setting may come before or after the subcommand) and calls down into the
//! server, the store and the domain. `src/main.rs` only calls [`main`].

mod catalog;
mod lockbox;
pub mod watch;

use clap::{Parser, Subcommand};

use crate::config::ServeArgs;
use crate::engine::Role;

#[derive(Parser)]
#[command(name = "tidemark", version, about = "A real-time sync server")]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server (the default).
    Serve,
    /// Create or upgrade the database schema and exit.
    Migrate,
    /// Write the JSON Schemas of every wire message, and the OpenAPI
    /// document of the HTTP API (`openapi.json`), into DIR.
    Schema {
        #[arg(default_value = "proto-schema")]
        dir: std::path::PathBuf,
    },
    /// Print a signed token (needs TIDEMARK_JWT_SECRET).
    Token {
        #[arg(long)]
        user: String,
        #[arg(long, value_enum, default_value = "user")]
        role: RoleArg,
        #[arg(long, default_value_t = 3600)]
        ttl_secs: u64,
    },
    /// Print a new lockbox master key line `kid:base64key` (a secret).
    Keygen {
        /// Key id (default: k + the current UTC time).
        #[arg(long)]
        kid: Option<String>,
    },
    /// Lockbox maintenance.
    Lockbox {
        #[command(subcommand)]
        cmd: LockboxCmd,
    },
    /// The provider and model catalog.
    Catalog {
        #[command(subcommand)]
        cmd: CatalogCmd,
    },
    /// Print a space's changes as they happen, one JSON line per frame
    /// (snapshot or catch-up first, then each event); resumes from its cursor
    /// after a lost connection.
    Watch {
        /// `catalog`, `user:ID`, or `user:me` (the token's user).
        space: String,
        /// The server to follow.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Token to connect with (default: one signed with TIDEMARK_JWT_SECRET,
        /// for --user, else with the service role).
        #[arg(long, env = "TIDEMARK_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Sign the default token for this user (role `user`).
        #[arg(long)]
        user: Option<String>,
        /// Exit after this many versions (default: run until interrupted).
        #[arg(long)]
        count: Option<u64>,
    },
}

#[derive(Subcommand)]
enum CatalogCmd {
    /// Load or update the catalog from FILE.json (`{"providers":[...],"models":[...]}`);
    /// unchanged entries are not written, so loading the same file twice emits nothing.
    Load {
        file: std::path::PathBuf,
        /// Load through a running server (`http://127.0.0.1:8080`) so its
        /// subscribers get the events at once; default: straight into the database.
        #[arg(long)]
        server: Option<String>,
        /// Admin token for --server (default: one signed with TIDEMARK_JWT_SECRET).
        #[arg(long)]
        token: Option<String>,
    },
}

#[derive(Subcommand)]
enum LockboxCmd {
    /// Re-encrypt every stored key under the first TIDEMARK_MASTER_KEYS key
    /// (safe to re-run and to interrupt); prints counts.
    Rotate,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    User,
    Admin,
    Service,
}

/// Parses the command line and runs it: `tidemark` is this.
pub fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tidemark: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tidemark: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.cmd.unwrap_or(Cmd::Serve) {
        Cmd::Serve => serve(cli.serve).await,
        Cmd::Migrate => {
            crate::store::connect(&cli.serve.database_url)
                .await
                .map_err(|e| e.to_string())?;
            println!("migrated {}", redact_url(&cli.serve.database_url));
            Ok(())
        }
        Cmd::Schema { dir } => {
            let mut all = crate::protocol::schema::all();
            all.extend(crate::domain::schema::all());
            let n = crate::protocol::schema::write_all(&dir, &all)
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            // The OpenAPI document `/openapi.json` serves, from the same types.
            let api = dir.join("openapi.json");
            std::fs::write(&api, crate::http::openapi::rendered())
                .map_err(|e| format!("{}: {e}", api.display()))?;
            println!("wrote {n} schemas and openapi.json to {}", dir.display());
            Ok(())
        }
        Cmd::Token {
            user,
            role,
            ttl_secs,
        } => {
            let secret = cli
                .serve
                .jwt_secret
                .as_deref()
                .ok_or("set TIDEMARK_JWT_SECRET to sign tokens")?;
            let auth = cli.serve.token_auth(secret.as_bytes());
            let role = match role {
                RoleArg::User => Role::User,
                RoleArg::Admin => Role::Admin,
                RoleArg::Service => Role::Service,
            };
            let (token, _) = auth.mint(&user, role, ttl_secs)?;
            println!("{token}");
            Ok(())
        }
        Cmd::Keygen { kid } => lockbox::keygen_command(kid.as_deref()),
        Cmd::Lockbox {
            cmd: LockboxCmd::Rotate,
        } => lockbox::rotate_command(&cli.serve.lockbox, &cli.serve.database_url)
            .await
            .map(|_| ()),
        Cmd::Catalog {
            cmd:
                CatalogCmd::Load {
                    file,
                    server,
                    token,
                },
        } => {
            let report = catalog::load_file(&cli.serve, &file, server.as_deref(), token).await?;
            println!("{report}");
            Ok(())
        }
        Cmd::Watch {
            space,
            server,
            token,
            user,
            count,
        } => {
            let token = match token {
                Some(t) => t,
                None => {
                    let secret = cli
                        .serve
                        .jwt_secret
                        .as_deref()
                        .ok_or("give --token (or TIDEMARK_TOKEN) or set TIDEMARK_JWT_SECRET")?;
                    let auth = cli.serve.token_auth(secret.as_bytes());
                    let (who, role) = match user {
                        Some(u) => (u, Role::User),
                        None => ("tidemark-watch".to_string(), Role::Service),
                    };
                    auth.mint(&who, role, 24 * 3600)?.0
                }
            };
            let args = watch::WatchArgs {
                server,
                token,
                space,
                count,
            };
            watch::watch(&args, |line| println!("{line}")).await
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let state = crate::server::build(&args)
        .await
        .map_err(|e| e.to_string())?;
    let listener = crate::server::bind(args.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    tracing::info!(
        listen = %args.listen,
        store = state.engine.store().kind(),
        database = %redact_url(&args.database_url),
        dev = args.dev,
        tls = state.cfg.net.tls.is_some(),
        "tidemark is serving on {}://{}",
        if state.cfg.net.tls.is_some() { "https" } else { "http" },
        args.listen
    );
    crate::server::serve(listener, state, shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

/// A database URL without its password.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..s], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Cmd};

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn settings_come_before_or_after_the_subcommand() {
        for args in [
            &["tidemark", "--dev"][..],
            &["tidemark", "--dev", "serve"],
            &["tidemark", "serve", "--dev"],
        ] {
            let cli = parse(args);
            assert!(cli.serve.dev, "{args:?}");
            assert!(matches!(cli.cmd, None | Some(Cmd::Serve)), "{args:?}");
        }
        let cli = parse(&[
            "tidemark",
            "serve",
            "--listen",
            "127.0.0.1:9",
            "--database-url",
            "sqlite://x.db",
        ]);
        assert_eq!(cli.serve.listen.port(), 9);
        assert_eq!(cli.serve.database_url, "sqlite://x.db");
        let cli = parse(&["tidemark", "migrate", "--database-url", "postgres://h/db"]);
        assert_eq!(cli.serve.database_url, "postgres://h/db");
        let cli = parse(&[
            "tidemark",
            "token",
            "--user",
            "alice",
            "--jwt-secret",
            "0123456789abcdef",
        ]);
        assert_eq!(cli.serve.jwt_secret.as_deref(), Some("0123456789abcdef"));
    }

    #[test]
    fn every_subcommands_help_names_the_server_settings() {
        let mut cmd = Cli::command();
        cmd.build();
        let mut subs: Vec<(String, clap::Command)> = cmd
            .get_subcommands()
            .map(|c| (c.get_name().to_string(), c.clone()))
            .collect();
        let mut checked = 0;
        while let Some((name, sub)) = subs.pop() {
            if sub.get_name() == "help" {
                continue;
            }
            subs.extend(
                sub.get_subcommands()
                    .map(|c| (format!("{name} {}", c.get_name()), c.clone())),
            );
            let help = sub.clone().render_long_help().to_string();
            for flag in ["--listen", "--database-url", "--dev", "--jwt-secret"] {
                assert!(help.contains(flag), "`tidemark {name} --help` lacks {flag}");
            }
            checked += 1;
        }
        // serve, migrate, schema, token, keygen, lockbox, lockbox rotate,
        // catalog, catalog load, watch
        assert!(checked >= 10, "{checked} subcommands checked");
        let serve = cmd.find_subcommand("serve").expect("serve");
        let help = serve.clone().render_long_help().to_string();
        assert!(help.contains("--ws-msg-rate"), "{help}");
    }
}
