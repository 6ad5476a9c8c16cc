//! `civicast-serve`: runs the inference service (see the crate docs).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use civicast_service::config::{CONFIG_VAR, Config};
use civicast_service::{AppState, app, auth, server};
use clap::{Parser, Subcommand};

/// civicast's inference service: forecasts over HTTP from a model registry.
#[derive(Parser)]
#[command(name = "civicast-serve", version, about, long_about = None)]
struct Cli {
    /// Configuration file (TOML; default: $CIVICAST_CONFIG, else built-in defaults).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The model registry, a folder or s3://bucket/prefix (overrides the configuration).
    #[arg(long)]
    registry: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 (overrides the configuration).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// The observation store: a SQLite file path or a postgres:// URL (overrides the
    /// configuration and $CIVICAST_STORE).
    #[arg(long)]
    store: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the SHA-256 of an API key read from standard input (one line), as the configuration
    /// stores it. The key is never an argument: arguments are visible to every user of the
    /// machine (ps, /proc) and kept in shell history.
    HashKey,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::HashKey) = &cli.command {
        return hash_key_from_stdin();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("civicast-serve: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn hash_key_from_stdin() -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("civicast-serve hash-key: cannot read the key from standard input: {e}");
        return ExitCode::FAILURE;
    }
    let key = line.trim_end_matches(['\n', '\r']);
    if let Err(why) = auth::check_key(key) {
        eprintln!("civicast-serve hash-key: {why}");
        return ExitCode::FAILURE;
    }
    println!("{}", auth::hash_key(key));
    ExitCode::SUCCESS
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let path = cli
        .config
        .or_else(|| std::env::var_os(CONFIG_VAR).map(PathBuf::from));
    let mut config = Config::load(path.as_deref())?;
    if let Some(registry) = cli.registry {
        config.registry = registry;
    }
    if let Some(listen) = cli.listen {
        config.listen = listen;
    }
    if let Some(store) = cli.store {
        config.store = store;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let deadline = std::time::Duration::from_millis(config.shutdown_deadline_ms);
    let result = runtime.block_on(serve(config));
    // Work of requests cut at the deadline has been cancelled and stops at its next check; this
    // bounds the wait for it all the same.
    runtime.shutdown_timeout(deadline);
    result
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    let store = civicast_store::Store::open(&config.store)
        .await
        .context("opening the observation store")?;
    tracing::info!(store = store.location(), "observation store open");
    let state = AppState::with_store(config, Some(store))?;
    let report = state.reload().await;
    let serving = state.catalog.load().datasets.len();
    if serving == 0 {
        tracing::warn!(
            registry = %state.registry.root().display(),
            failures = report.failures.len(),
            "no model version loaded yet: /health/ready answers 503 until one is published"
        );
    }
    state.spawn_reload_poller();
    state.spawn_store_poller();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    // The bound address, not the configured one: with port 0 the system picks a free port, and
    // whoever started us (the shutdown tests, a supervisor) learns it from this line.
    let listen = listener.local_addr().unwrap_or(listen);
    tracing::info!(
        %listen,
        datasets = serving,
        request_memory_bound_mib = state.config.request_memory_bound() >> 20,
        "civicast-serve listening"
    );
    let stopped = server::serve(
        listener,
        app(state.clone()),
        &state.config,
        state.metrics.clone(),
        shutdown_signal(),
    )
    .await;
    if stopped.closed_at_deadline > 0 {
        tracing::warn!(
            connections = stopped.closed_at_deadline,
            deadline_ms = state.config.shutdown_deadline_ms,
            "closed connections still open at the shutdown deadline"
        );
    }
    tracing::info!(
        requests = state.metrics.requests_answered(),
        "stopped: in-flight requests finished"
    );
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM; the server then stops accepting and lets in-flight requests end.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
