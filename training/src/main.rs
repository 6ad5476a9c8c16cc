//! `civicast-train`: the data scientists' command-line tool.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use civicast_model::ModelId;
use civicast_training::backtest::{BacktestOptions, run_backtest};
use civicast_training::output::{MetricsReport, write_backtest};
use civicast_training::{Summary, load_dataset};
use clap::{Parser, Subcommand};

/// civicast's training tool: validate datasets (and, as civicast grows, backtest, fit and publish
/// models).
#[derive(Parser)]
#[command(name = "civicast-train", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate datasets and print a summary of each.
    ///
    /// Reads each manifest (dataset.toml), the data file it names (CSV or Parquet) and its holiday
    /// table, checks every value, and prints series, rows, time span, frequency, gaps, exogenous
    /// columns and calendar. Every problem found is listed with its file, line, series and column.
    /// Exits with status 1 if any dataset is invalid.
    #[command(
        after_help = "Examples:\n  civicast-train check datasets/chicago_ridership/dataset.toml\n  civicast-train check datasets/*/dataset.toml --json"
    )]
    Check {
        /// Manifest files (dataset.toml); the schema is in datasets/README.md.
        #[arg(required = true)]
        manifests: Vec<PathBuf>,
        /// Print JSON instead of text: one object per manifest (an array when several are given),
        /// with "valid" and either "summary" or "problems".
        #[arg(long)]
        json: bool,
    },
    /// Rolling-origin backtest of models on a dataset, as the evaluation protocol defines it.
    ///
    /// Windows, step and horizon come from the manifest; every window is a fresh fit. Writes
    /// predictions.csv (the protocol's columns: unique_id, ds, cutoff, y, <model>,
    /// <model>-q0.025 ... <model>-q0.975, readable by eval/score.py), metrics.csv and
    /// metrics.json (MASE, sMAPE, RMSE, cov80, cov95, sCRPS, seconds, fallbacks per model).
    #[command(
        after_help = "Example:\n  civicast-train backtest datasets/bikeshare_hourly/dataset.toml --models snaive,ets --out runs/bikeshare"
    )]
    Backtest {
        /// The dataset's manifest (dataset.toml).
        manifest: PathBuf,
        /// Models to evaluate, comma-separated: snaive, ets, mstl, theta.
        #[arg(long, value_delimiter = ',', default_values_t = ModelId::ALL.to_vec(), value_parser = parse_model)]
        models: Vec<ModelId>,
        /// Folder for predictions.csv, metrics.csv and metrics.json (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Fit each window on at most this many of the latest observations (default: the
        /// manifest's forecast.input_size, else all).
        #[arg(long)]
        input_size: Option<usize>,
        /// Worker threads (default: all cores). Use 1 for the protocol's single-thread timings.
        #[arg(long)]
        threads: Option<usize>,
        /// No progress bar and no table: for scripts.
        #[arg(long, short)]
        quiet: bool,
    },
}

fn parse_model(text: &str) -> Result<ModelId, String> {
    text.parse::<ModelId>().map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { manifests, json } => check(&manifests, json),
        Command::Backtest {
            manifest,
            models,
            out,
            input_size,
            threads,
            quiet,
        } => backtest(&manifest, models, &out, input_size, threads, quiet),
    }
}

fn backtest(
    manifest: &std::path::Path,
    models: Vec<ModelId>,
    out: &std::path::Path,
    input_size: Option<usize>,
    threads: Option<usize>,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    if input_size == Some(0) || threads == Some(0) {
        anyhow::bail!("--input-size and --threads must be at least 1");
    }
    let dataset = match load_dataset(manifest) {
        Ok(dataset) => dataset,
        Err(report) => {
            eprintln!("{} — INVALID\n{report}", manifest.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    let input_size = input_size.or(dataset.manifest.forecast.input_size);
    let options = BacktestOptions {
        models,
        input_size,
        progress: !quiet,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .build()
        .context("starting worker threads")?;
    let result = pool.install(|| run_backtest(&dataset, &options))?;
    let report = MetricsReport::new(&dataset, &result, input_size);
    write_backtest(out, &dataset, &result, &report)?;
    if !quiet {
        print!("{}", report.to_table());
        for m in &report.models {
            for note in m.fallbacks.iter().take(5) {
                println!(
                    "  note: {} at {}: {}",
                    note.series, note.cutoff, note.reason
                );
            }
            if m.fallbacks.len() > 5 {
                println!(
                    "  note: ... {} more fallbacks of {} (see metrics.json)",
                    m.fallbacks.len() - 5,
                    m.model
                );
            }
        }
        println!(
            "wrote {}/predictions.csv, metrics.csv, metrics.json",
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn check(manifests: &[PathBuf], json: bool) -> anyhow::Result<ExitCode> {
    let mut all_valid = true;
    let mut documents = Vec::with_capacity(manifests.len());
    for (i, path) in manifests.iter().enumerate() {
        let result = load_dataset(path);
        all_valid &= result.is_ok();
        if json {
            documents.push(match &result {
                Ok(dataset) => serde_json::json!({
                    "manifest": path,
                    "valid": true,
                    "summary": Summary::of(dataset),
                }),
                Err(report) => serde_json::json!({
                    "manifest": path,
                    "valid": false,
                    "total_problems": report.total(),
                    "problems": report.problems(),
                }),
            });
            continue;
        }
        if i > 0 {
            println!();
        }
        match result {
            Ok(dataset) => print!("{}", Summary::of(&dataset)),
            Err(report) => println!("{} — INVALID\n{report}", path.display()),
        }
    }
    if json {
        let document = match documents.len() {
            1 => documents.swap_remove(0),
            _ => serde_json::Value::Array(documents),
        };
        let text = serde_json::to_string_pretty(&document).context("writing JSON")?;
        println!("{text}");
    }
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
