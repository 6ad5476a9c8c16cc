//! `civicast-serve`: runs the inference service (see the crate docs).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use civicast_service::config::{CONFIG_VAR, Config};
use civicast_service::{AppState, app, auth};
use clap::{Parser, Subcommand};

/// civicast's inference service: forecasts over HTTP from a model registry.
#[derive(Parser)]
#[command(name = "civicast-serve", version, about, long_about = None)]
struct Cli {
    /// Configuration file (TOML; default: $CIVICAST_CONFIG, else built-in defaults).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The model registry folder (overrides the configuration).
    #[arg(long)]
    registry: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 (overrides the configuration).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the SHA-256 of an API key, as the configuration stores it.
    HashKey {
        /// The key.
        key: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::HashKey { key }) = &cli.command {
        println!("{}", auth::hash_key(key));
        return ExitCode::SUCCESS;
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    let state = AppState::new(config).context("registering metrics")?;
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
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    // The bound address, not the configured one: with port 0 the system picks a free port, and
    // whoever started us (the shutdown tests, a supervisor) learns it from this line.
    let listen = listener.local_addr().unwrap_or(listen);
    tracing::info!(%listen, datasets = serving, "civicast-serve listening");
    axum::serve(listener, app(state.clone()))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving")?;
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
