//! `civicast-train`: the data scientists' command-line tool.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
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
    }
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
