//! `civicast-train`: the data scientists' command-line tool.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use civicast_model::ModelId;
use civicast_registry::{
    PRODUCTION, RISK_FORMAT, Registry, RegistryError, RiskFile, TrainingMarker, TrainingState,
};
use civicast_training::backtest::{BacktestOptions, run_backtest};
use civicast_training::fit::{FitOptions, SelectionMetric, fit_dataset};
use civicast_training::output::MetricsReport;
use civicast_training::report::write_backtest;
use civicast_training::risk::{RiskOptions, backtest_plans};
use civicast_training::risk_report::{evaluate, markdown, write_report};
use civicast_training::{Summary, load_dataset};
use clap::{Parser, Subcommand};

/// Prints a line to standard output; a closed pipe (`civicast-train ... | head`) ends the
/// program quietly instead of panicking as `println!` would.
macro_rules! say {
    () => { emit(format_args!("\n")) };
    ($($arg:tt)*) => { emit(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Like [`say!`] without the newline.
macro_rules! say_raw {
    ($($arg:tt)*) => { emit(format_args!($($arg)*)) };
}

fn emit(args: std::fmt::Arguments) {
    use std::io::Write;
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(2);
    }
}

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
    /// Load datasets into the observation store that the service forecasts from.
    ///
    /// Each manifest's data file is validated as for a fit, then stored in batches of one
    /// transaction each; importing the same file again changes nothing, and changed values are
    /// kept as revisions. The service's ingest (POST /v1/observations) continues where it ends.
    Import {
        /// The datasets' manifests (dataset.toml).
        #[arg(required = true)]
        manifests: Vec<PathBuf>,
        /// The store: a SQLite file path or a postgres:// URL.
        #[arg(long, env = "CIVICAST_STORE", default_value = "var/store.db")]
        store: String,
        /// Only data up to and including this time (to replay the rest into a service).
        #[arg(long)]
        until: Option<String>,
    },
    /// Remove issued forecasts older than the live accuracy needs: by default those from origins
    /// more than twice the live window and a horizon before the latest observation (8 weeks
    /// and a horizon for daily data), of every series and version. Run it from the scheduler
    /// that runs refits; the service keeps issuing and scoring meanwhile.
    #[command(
        after_help = "Example:\n  civicast-train prune-issued datasets/*/dataset.toml --store postgres://civicast@db/civicast"
    )]
    PruneIssued {
        /// The datasets' manifests (dataset.toml): their names, frequencies and horizons.
        #[arg(required = true)]
        manifests: Vec<PathBuf>,
        /// The store: a SQLite file path or a postgres:// URL.
        #[arg(long, env = "CIVICAST_STORE", default_value = "var/store.db")]
        store: String,
        /// Steps back from the latest observation to keep (default: twice the live window and a
        /// horizon; at least the window and a horizon).
        #[arg(long)]
        keep_steps: Option<usize>,
    },
    /// Write the forecasts the service issued for a dataset, scored or not yet, in the evaluation
    /// protocol's predictions format (model column `live`; only forecasts whose whole horizon
    /// has arrived), for eval/score.py.
    Issued {
        /// The dataset.
        dataset: String,
        /// Only this model version's forecasts (default: every version's).
        #[arg(long)]
        version: Option<String>,
        /// The store: a SQLite file path or a postgres:// URL.
        #[arg(long, env = "CIVICAST_STORE", default_value = "var/store.db")]
        store: String,
        /// The CSV file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Rolling-origin backtest of models on a dataset, as the evaluation protocol defines it.
    ///
    /// Windows, step and horizon come from the manifest; every window is a fresh fit. Writes
    /// predictions.csv (the protocol's columns: unique_id, ds, cutoff, y, <model>,
    /// <model>-q0.025 ... <model>-q0.975, readable by eval/score.py), metrics.csv and
    /// metrics.json (MASE, sMAPE, RMSE, cov80, cov95, sCRPS, seconds, fallbacks per model), and
    /// report.html (the table and charts of a few series with 80/95% bands).
    #[command(
        after_help = "Example:\n  civicast-train backtest datasets/bikeshare_hourly/dataset.toml --models snaive,ets --out runs/bikeshare"
    )]
    Backtest {
        /// The dataset's manifest (dataset.toml).
        manifest: PathBuf,
        /// Folder for predictions.csv, metrics.csv, metrics.json and report.html (created if
        /// missing).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Backtest, fit on all data and publish a registry version per dataset: `auto` by default.
    ///
    /// With several --models, each series gets the one with the best backtest metric. Several
    /// manifests are fitted one after the other; while they wait and fit, the registry marks them
    /// as in training, which the service reports. A new version is immutable and verified by
    /// checksums; it becomes the dataset's production version with --promote, or when the dataset
    /// has none yet.
    #[command(
        after_help = "Examples:\n  civicast-train fit datasets/chicago_ridership/dataset.toml --registry var/registry\n  civicast-train fit datasets/*/dataset.toml --registry var/registry --promote"
    )]
    Fit {
        /// The datasets' manifests (dataset.toml), fitted one after the other.
        #[arg(required = true)]
        manifests: Vec<PathBuf>,
        /// The registry: a folder (created if missing) or s3://bucket/prefix.
        #[arg(long)]
        registry: PathBuf,
        /// The backtest metric that picks each series' model: mase, smape, rmse or scrps.
        #[arg(long, default_value = "mase")]
        metric: SelectionMetric,
        /// Make the new version the production version.
        #[arg(long)]
        promote: bool,
        #[command(flatten)]
        data: DataArgs,
        /// Refit a dataset only if the drift test flags one of its series, judged on the
        /// forecasts its production version issued into the store (--store); every series is
        /// refitted then, since the learned models learn from all of them.
        #[arg(long)]
        only_drifted: bool,
        /// Sharded fit, step 1 of 3 (`--stage shared`, in pieces with `--shard I/N`): fit what
        /// every shard shares, the learned models' regressors across series, into the registry
        /// (docs/scale.md).
        #[arg(long, value_parser = ["shared"], conflicts_with = "only_drifted")]
        stage: Option<String>,
        /// Sharded fit, step 2 of 3: fit the series of shard I of N (by a hash of their ids)
        /// with the shared stage, into the registry; then `registry assemble` publishes. With
        /// `--stage shared`: piece I of N of the shared stage.
        #[arg(long, value_name = "I/N", conflicts_with = "only_drifted")]
        shard: Option<civicast_training::shard::Shard>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Calibrate budget-waste risk: backtest plans, fit the classifier, write its evaluation.
    ///
    /// Rolls origins back over the history (weeks for daily data, days for hourly and
    /// half-hourly), sets each period's plan by the documented planning rule (same period last
    /// year x recent growth, or last week for datasets under two years), forecasts it with
    /// --model and labels whether waste beyond --tolerance happened. Fits a logistic regression
    /// on earlier periods of some series and scores (a) the flag, (b) the raw forecast
    /// probability and (c) the calibrated classifier on later periods of held-out series. Writes
    /// evaluation.json, evaluation.md, reliability.svg, classifier.json and examples.csv.
    ///
    /// With --registry, also publishes a new version of the dataset: its production version's
    /// manifest and models unchanged, plus risk.json (the classifier refitted on every period,
    /// and its evaluation). Versions are immutable, so the classifier cannot be added to the
    /// existing one. The flags use what the evaluation chose: the first of the classifier, the
    /// raw probability and the per-level waste frequency that beat the base rate on held-out
    /// periods, or else the base rate.
    #[command(
        after_help = "Examples:\n  civicast-train risk datasets/chicago_ridership/dataset.toml --out var/risk/chicago\n  civicast-train risk datasets/chicago_ridership/dataset.toml --out var/risk/chicago --registry var/registry --promote"
    )]
    Risk {
        /// The dataset's manifest (dataset.toml).
        manifest: PathBuf,
        /// Folder for the report and the classifier (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// The model that forecasts (any model id; see --models of backtest). Default: auto, the
        /// model fit publishes.
        #[arg(long, default_value = "auto", value_parser = parse_model)]
        model: ModelId,
        /// Origins per series, one period apart, latest first.
        #[arg(long, default_value_t = 100)]
        origins: usize,
        /// Origins per fit: the model is fitted at the earliest origin of each group of this
        /// many and absorbs the observations up to the others. Default: 1 for statistical
        /// models; a quarter of the origins (four fits) for learned ones.
        #[arg(long)]
        refit_every: Option<usize>,
        /// Sample paths per forecast (the service draws 1000).
        #[arg(long, default_value_t = 1000)]
        paths: usize,
        /// Tolerance of the waste label: waste when actual < planned x (1 - tolerance).
        #[arg(long, default_value_t = civicast_model::risk::DEFAULT_TOLERANCE)]
        tolerance: f64,
        #[command(flatten)]
        options: RunOptions,
        /// Publish the dataset's production models again with the classifier (risk.json) as a
        /// new version of this registry.
        #[arg(long)]
        registry: Option<PathBuf>,
        /// Make that new version the production version.
        #[arg(long, requires = "registry")]
        promote: bool,
    },
    /// Manage the model registry: list, show, promote, rollback, verify.
    Registry {
        /// The registry: a folder or s3://bucket/prefix.
        #[arg(long, global = true, default_value = "var/registry")]
        registry: PathBuf,
        #[command(subcommand)]
        command: RegistryCommand,
    },
}

/// Where `fit` and `registry assemble` read a dataset's data.
#[derive(clap::Args)]
struct DataArgs {
    /// Read each dataset's data from the observation store (what the service ingested) instead
    /// of its data file; the manifest still gives columns and recipe.
    #[arg(long)]
    from_store: bool,
    /// The store for --from-store: a SQLite file path or a postgres:// URL.
    #[arg(long, env = "CIVICAST_STORE", default_value = "var/store.db")]
    store: String,
    /// Only data up to and including this time (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS or a step),
    /// e.g. to replay what came after it into a service.
    #[arg(long)]
    until: Option<String>,
}

impl DataArgs {
    fn source(&self, only_drifted: bool) -> civicast_training::import::DataSource {
        civicast_training::import::DataSource {
            store: self.from_store.then(|| self.store.clone()),
            until: self.until.clone(),
            only_drifted,
        }
    }
}

/// The models and options of the commands that compare models (backtest, fit).
#[derive(clap::Args)]
struct RunArgs {
    /// Models, comma-separated: the statistical snaive, ets, mstl, theta and tsb (intermittent
    /// demand), and the learned linear, gbm, neural and auto (a per-series combination of the
    /// learned three with ets, theta and mstl). Default: snaive, ets, mstl and theta for
    /// backtest; auto for fit.
    #[arg(long, value_delimiter = ',', value_parser = parse_model)]
    models: Option<Vec<ModelId>>,
    #[command(flatten)]
    options: RunOptions,
}

/// Options of every command that fits models (backtest, fit, risk).
#[derive(clap::Args)]
struct RunOptions {
    /// Fit on at most this many of the latest observations (default: the manifest's
    /// forecast.input_size, else all).
    #[arg(long)]
    input_size: Option<usize>,
    /// Worker threads (default: all cores). Use 1 for the protocol's single-thread timings.
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bar and no summary: for scripts.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// List every version: dataset, creation time, series, and which is in production.
    List,
    /// Print a version's manifest (JSON).
    Show {
        /// The version id.
        version: String,
    },
    /// Make a version its dataset's production version (after verifying it).
    Promote {
        /// The version id.
        version: String,
    },
    /// Point a dataset's production alias back at the version it named before.
    Rollback {
        /// The dataset (needed when the registry holds more than one).
        #[arg(long)]
        dataset: Option<String>,
    },
    /// Check every file of a version (or of all versions) against its recorded SHA-256.
    Verify {
        /// The version id (default: all versions).
        version: Option<String>,
    },
    /// Print every alias change, oldest first, one JSON object per line: when, dataset, alias,
    /// action (publish, promote, rollback), from and to.
    History,
    /// Sharded fit, step 3 of 3: check that the shared stage and all N shards of the dataset are
    /// in the registry, built from the same data and settings, and publish them as one version.
    Assemble {
        /// The dataset's manifest (dataset.toml); its data must be what the shards fitted.
        manifest: PathBuf,
        /// Make the new version the production version.
        #[arg(long)]
        promote: bool,
        /// The data as the stages read them (the same --from-store, --store and --until).
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        options: RunOptions,
    },
    /// Remove every file of a sharded fit of the dataset in progress (the shared stage and every
    /// part), e.g. parts left by a run with another number of shards.
    ClearShards {
        /// The dataset's name.
        dataset: String,
    },
}

fn parse_model(text: &str) -> Result<ModelId, String> {
    text.parse::<ModelId>().map_err(|e| e.to_string())
}

/// Runs `work` (the observation store's async I/O) to its end on a runtime of this thread.
/// The registry at `location`: a folder, or `s3://bucket/prefix` (credentials and endpoint from
/// the environment, as the AWS tools read them).
fn open_registry(location: &std::path::Path) -> anyhow::Result<Registry> {
    Ok(Registry::open(
        &location.to_string_lossy(),
        civicast_registry::RegistryLimits::default(),
    )?)
}

fn block_on<T>(work: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(work)
}

fn import(manifests: &[PathBuf], location: &str, until: Option<&str>) -> anyhow::Result<ExitCode> {
    block_on(async {
        let store = civicast_store::Store::open(location)
            .await
            .context("opening the observation store")?;
        for path in manifests {
            let mut dataset = match load_dataset(path) {
                Ok(dataset) => dataset,
                Err(report) => {
                    eprint!("{report}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            if let Some(until) = until {
                civicast_training::import::cut_at(&mut dataset, until)
                    .map_err(anyhow::Error::msg)?;
            }
            let started = std::time::Instant::now();
            let done = civicast_training::import::import_dataset(&dataset, &store)
                .await
                .with_context(|| format!("importing {}", path.display()))?;
            say!(
                "{}: {} rows into {} in {:.1} s: {} new, {} revised, {} unchanged",
                dataset.manifest.name,
                done.rows,
                store.location(),
                started.elapsed().as_secs_f64(),
                done.inserted,
                done.revised,
                done.unchanged
            );
        }
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

fn prune_issued(
    manifests: &[PathBuf],
    location: &str,
    keep_steps: Option<usize>,
) -> anyhow::Result<ExitCode> {
    use civicast_store::accuracy::{min_retention_steps, retention_steps};
    let manifests = manifests
        .iter()
        .map(|path| {
            civicast_training::manifest::Manifest::load(path)
                .map_err(|report| anyhow::anyhow!("{}: {report}", path.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for manifest in &manifests {
        let (frequency, horizon) = (manifest.data.frequency, manifest.forecast.horizon);
        let least = min_retention_steps(frequency, horizon);
        if let Some(keep) = keep_steps.filter(|&k| k < least) {
            anyhow::bail!(
                "--keep-steps {keep} is fewer than {}'s live accuracy reads: keep at least {least} \
                 steps (its window and a horizon)",
                manifest.name
            );
        }
    }
    block_on(async {
        let store = civicast_store::Store::open(location)
            .await
            .context("opening the observation store")?;
        for manifest in &manifests {
            let name = &manifest.name;
            let (frequency, horizon) = (manifest.data.frequency, manifest.forecast.horizon);
            let keep = keep_steps.unwrap_or_else(|| retention_steps(frequency, horizon));
            let Some(last) = store.freshness(name).await?.last_observation else {
                say!("{name}: no observations in the store, nothing to prune");
                continue;
            };
            let before = civicast_store::decode_time(last, frequency)
                .and_then(|t| frequency.advance(t, -(keep.min(i64::MAX as usize) as i64)))
                .map(civicast_store::encode_time)
                .ok_or_else(|| {
                    anyhow::anyhow!("{name}: {keep} steps before {last} is out of range")
                })?;
            let removed = store.prune_issued(name, before).await?;
            say!(
                "{name}: removed {removed} issued forecast(s) from origins before {}",
                civicast_store::decode_time(before, frequency)
                    .map(|t| frequency.format_time(t))
                    .unwrap_or_else(|| before.to_string())
            );
        }
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// The datasets among `names` with a series the drift test flags (printed), or whose
/// production version is missing (a first fit).
fn drifted_datasets(
    registry: &Registry,
    location: &str,
    names: &[String],
) -> anyhow::Result<Vec<String>> {
    block_on(async {
        let store = civicast_store::Store::open(location)
            .await
            .context("opening the observation store")?;
        let mut out = Vec::new();
        for name in names {
            match civicast_training::import::drifted_series(registry, &store, name)
                .await
                .map_err(anyhow::Error::msg)?
            {
                None => {
                    say!("{name}: no production version yet: fitting");
                    out.push(name.clone());
                }
                Some(drifted) if drifted.is_empty() => {
                    say!("{name}: no series drifted");
                }
                Some(drifted) => {
                    say!(
                        "{name}: {} series drifted ({}): refitting",
                        drifted.len(),
                        drifted.join(", ")
                    );
                    out.push(name.clone());
                }
            }
        }
        Ok(out)
    })
}

fn issued(
    dataset: &str,
    version: Option<&str>,
    location: &str,
    out: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    block_on(async {
        let store = civicast_store::Store::open(location)
            .await
            .context("opening the observation store")?;
        let file = std::fs::File::create(out)
            .with_context(|| format!("cannot write {}", out.display()))?;
        let mut writer = std::io::BufWriter::new(file);
        let pairs = civicast_training::import::export_issued(&store, dataset, version, &mut writer)
            .await
            .map_err(anyhow::Error::msg)?;
        std::io::Write::flush(&mut writer)?;
        say!(
            "{dataset}: {pairs} scored forecasts written to {}",
            out.display()
        );
        Ok(ExitCode::SUCCESS)
    })
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
        Command::Import {
            manifests,
            store,
            until,
        } => import(&manifests, &store, until.as_deref()),
        Command::PruneIssued {
            manifests,
            store,
            keep_steps,
        } => prune_issued(&manifests, &store, keep_steps),
        Command::Issued {
            dataset,
            version,
            store,
            out,
        } => issued(&dataset, version.as_deref(), &store, &out),
        Command::Backtest { manifest, out, run } => backtest(&manifest, &out, run),
        Command::Fit {
            mut manifests,
            registry,
            metric,
            promote,
            data,
            only_drifted,
            stage,
            shard,
            run,
        } => {
            if stage.is_some() || shard.is_some() {
                let source = data.source(only_drifted);
                let registry = open_registry(&registry)?;
                let shared = stage.is_some();
                for manifest in &manifests {
                    fit_stage(manifest, &registry, metric, shared, shard, &source, &run)?;
                }
                return Ok(ExitCode::SUCCESS);
            }
            if only_drifted {
                let names: Vec<String> = manifests
                    .iter()
                    .filter_map(|m| civicast_training::manifest::Manifest::load(m).ok())
                    .map(|m| m.name)
                    .collect();
                let registry = open_registry(&registry)?;
                let drifted = drifted_datasets(&registry, &data.store, &names)?;
                manifests.retain(|m| {
                    civicast_training::manifest::Manifest::load(m)
                        .is_ok_and(|m| drifted.contains(&m.name))
                });
                if manifests.is_empty() {
                    say!("no series drifted: nothing to refit");
                    return Ok(ExitCode::SUCCESS);
                }
            }
            let source = data.source(only_drifted);
            fit(
                &manifests,
                &open_registry(&registry)?,
                metric,
                promote,
                &source,
                run,
            )
        }
        Command::Registry { registry, command } => manage(&open_registry(&registry)?, command),
        Command::Risk {
            manifest,
            out,
            model,
            origins,
            paths,
            refit_every,
            tolerance,
            options:
                RunOptions {
                    input_size,
                    threads,
                    quiet,
                },
            registry,
            promote,
        } => {
            if origins == 0 {
                anyhow::bail!("--origins must be at least 1");
            }
            if !(10..=100_000).contains(&paths) {
                anyhow::bail!("--paths must be between 10 and 100000");
            }
            if !(0.0..1.0).contains(&tolerance) {
                anyhow::bail!("--tolerance must be in [0, 1)");
            }
            let Some(dataset) = load_for_run(&manifest, input_size)? else {
                return Ok(ExitCode::FAILURE);
            };
            if refit_every == Some(0) {
                anyhow::bail!("--refit-every must be at least 1");
            }
            let options = RiskOptions {
                model,
                origins,
                paths,
                refit_every,
                tolerance,
                input_size: input_size.or(dataset.manifest.forecast.input_size),
                progress: !quiet,
            };
            let publish = match registry {
                Some(location) => Some((open_registry(&location)?, promote)),
                None => None,
            };
            risk(&dataset, &options, &out, quiet, threads, publish)
        }
    }
}

fn risk(
    dataset: &civicast_training::Dataset,
    options: &RiskOptions,
    out: &std::path::Path,
    quiet: bool,
    threads: Option<usize>,
    publish: Option<(Registry, bool)>,
) -> anyhow::Result<ExitCode> {
    // Check the registry before the long backtest: a missing production version would only
    // show up at the end otherwise.
    let base = match &publish {
        Some((registry, _)) => {
            let name = &dataset.manifest.name;
            let version = registry
                .production(name)?
                .ok_or_else(|| RegistryError::NoProduction(name.clone()))?;
            let (manifest, models) = registry.load(&version)?;
            if manifest.dataset.data_sha256 != dataset.info.data_sha256 {
                anyhow::bail!(
                    "the production version {version} was fitted on other data (SHA-256 {}) than {} (SHA-256 {}); fit the dataset first",
                    manifest.dataset.data_sha256,
                    dataset.manifest.data.path.display(),
                    dataset.info.data_sha256
                );
            }
            Some((version, manifest, models))
        }
        None => None,
    };
    let pool = worker_pool(threads)?;
    let plans = pool.install(|| backtest_plans(dataset, options))?;
    let (evaluation, classifier) = evaluate(&dataset.manifest.name, options, &plans)?;
    write_report(out, &evaluation, &classifier, &plans.examples)?;
    if !quiet {
        say_raw!(
            "{}",
            markdown(&evaluation).replace("![reliability diagram](reliability.svg)\n", "")
        );
        say!(
            "wrote {}/evaluation.json, evaluation.md, reliability.svg, classifier.json, examples.csv",
            out.display()
        );
    }
    if let (Some((registry, promote)), Some((from, mut manifest, models))) = (publish, base) {
        manifest.files.clear();
        let risk_file = RiskFile {
            format: RISK_FORMAT,
            classifier,
            beats_raw: evaluation.classifier_beats_raw,
            evaluation: serde_json::to_value(&evaluation)?,
            flag_source: Some(evaluation.flag_source.clone()),
        };
        let version = registry.publish_with_risk(manifest, &models, Some(&risk_file), promote)?;
        if !quiet {
            let live =
                registry.production(&dataset.manifest.name)?.as_deref() == Some(version.as_str());
            say!(
                "published {version}: the models of {from} with risk.json{}",
                if live { "; now in production" } else { "" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn backtest(
    manifest: &std::path::Path,
    out: &std::path::Path,
    run: RunArgs,
) -> anyhow::Result<ExitCode> {
    let RunArgs {
        models,
        options:
            RunOptions {
                input_size,
                threads,
                quiet,
            },
    } = run;
    let Some(dataset) = load_for_run(manifest, input_size)? else {
        return Ok(ExitCode::FAILURE);
    };
    let input_size = input_size.or(dataset.manifest.forecast.input_size);
    let options = BacktestOptions {
        models: models.unwrap_or_else(|| ModelId::DEFAULT_BACKTEST.to_vec()),
        input_size,
        progress: !quiet,
    };
    let pool = worker_pool(threads)?;
    let result = pool.install(|| run_backtest(&dataset, &options))?;
    let report = MetricsReport::new(&dataset, &result, input_size);
    write_backtest(out, &dataset, &result, &report)?;
    if !quiet {
        say_raw!("{}", report.to_table());
        for m in &report.models {
            for note in m.fallbacks.iter().take(5) {
                say!(
                    "  note: {} at {}: {}",
                    note.series,
                    note.cutoff,
                    note.reason
                );
            }
            if m.fallbacks.len() > 5 {
                say!(
                    "  note: ... {} more fallbacks of {} (see metrics.json)",
                    m.fallbacks.len() - 5,
                    m.model
                );
            }
        }
        say!(
            "wrote {}/predictions.csv, metrics.csv, metrics.json",
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks the run options and loads the dataset; `None` when it is invalid (its problems are
/// printed).
fn load_for_run(
    manifest: &std::path::Path,
    input_size: Option<usize>,
) -> anyhow::Result<Option<civicast_training::Dataset>> {
    if input_size == Some(0) {
        anyhow::bail!("--input-size must be at least 1");
    }
    match load_dataset(manifest) {
        Ok(dataset) => Ok(Some(dataset)),
        Err(report) => {
            eprintln!("{} — INVALID\n{report}", manifest.display());
            Ok(None)
        }
    }
}

fn worker_pool(threads: Option<usize>) -> anyhow::Result<rayon::ThreadPool> {
    if threads == Some(0) {
        anyhow::bail!("--threads must be at least 1");
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .build()
        .context("starting worker threads")
}

/// Fits every manifest in turn. Each dataset of the run is marked in the registry as queued, then
/// fitting, until its version is published (see `civicast_registry::training`), so a service
/// serving quicker models meanwhile can say what is coming. A dataset that fails does not stop
/// the others; the exit status says whether all succeeded.
fn fit(
    manifests: &[PathBuf],
    registry: &Registry,
    metric: SelectionMetric,
    promote: bool,
    source: &civicast_training::import::DataSource,
    settings: RunArgs,
) -> anyhow::Result<ExitCode> {
    let candidates = settings
        .models
        .clone()
        .unwrap_or_else(|| civicast_training::fit::DEFAULT_CANDIDATES.to_vec());
    let names: Vec<Option<String>> = manifests
        .iter()
        .map(|m| {
            civicast_training::manifest::Manifest::load(m)
                .ok()
                .map(|m| m.name)
        })
        .collect();
    let markers = Markers {
        registry,
        models: candidates.iter().map(ToString::to_string).collect(),
        promote,
        datasets: names.iter().flatten().cloned().collect(),
    };
    markers.mark_all(TrainingState::Queued);
    let mut all_ok = true;
    for (manifest, name) in manifests.iter().zip(&names) {
        if let Some(name) = name {
            markers.mark(name, TrainingState::Fitting);
        }
        let outcome = fit_one(
            manifest,
            registry,
            metric,
            promote,
            &candidates,
            source,
            &settings,
        );
        if let Some(name) = name {
            markers.clear(name);
        }
        match outcome {
            Ok(code) if code == ExitCode::SUCCESS => {}
            Ok(_) => all_ok = false,
            Err(e) if manifests.len() == 1 => return Err(e),
            Err(e) => {
                eprintln!("error: {}: {e:#}", manifest.display());
                all_ok = false;
            }
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The training markers of one `fit` run; whatever is still marked when the run ends (an error,
/// a panic) is cleared on drop.
struct Markers<'a> {
    registry: &'a Registry,
    models: Vec<String>,
    promote: bool,
    datasets: Vec<String>,
}

impl Markers<'_> {
    fn mark_all(&self, state: TrainingState) {
        for dataset in &self.datasets {
            self.mark(dataset, state);
        }
    }

    /// Markers only add a note to what the service says, so failing to write one is a warning.
    fn mark(&self, dataset: &str, state: TrainingState) {
        let marker = TrainingMarker::new(dataset, self.models.clone(), state, self.promote);
        if let Err(e) = self.registry.mark_training(&marker) {
            eprintln!("warning: cannot mark {dataset} as in training: {e}");
        }
    }

    fn clear(&self, dataset: &str) {
        if let Err(e) = self.registry.clear_training(dataset) {
            eprintln!("warning: cannot clear the training marker of {dataset}: {e}");
        }
    }
}

impl Drop for Markers<'_> {
    fn drop(&mut self) {
        for dataset in &self.datasets {
            self.clear(dataset);
        }
    }
}

/// The dataset at `manifest` as `fit` sees it: from its data file or the store, cut at
/// `--until`. `None` when it is invalid (the report is printed).
fn load_fit_data(
    manifest: &std::path::Path,
    source: &civicast_training::import::DataSource,
    input_size: Option<usize>,
) -> anyhow::Result<Option<civicast_training::Dataset>> {
    let Some(mut dataset) = load_for_run(manifest, input_size)? else {
        return Ok(None);
    };
    if let Some(location) = &source.store {
        let filled = block_on(async {
            let store = civicast_store::Store::open(location)
                .await
                .context("opening the observation store")?;
            civicast_training::import::read_from_store(&mut dataset, &store)
                .await
                .map_err(anyhow::Error::msg)
        })?;
        if filled > 0 {
            eprintln!(
                "{}: {filled} step(s) missing in the store were filled forward",
                dataset.manifest.name
            );
        }
    }
    if let Some(until) = &source.until {
        civicast_training::import::cut_at(&mut dataset, until).map_err(anyhow::Error::msg)?;
    }
    Ok(Some(dataset))
}

/// Step 1 (`shared`, piece `shard` or the whole) or 2 (shard `shard`) of a sharded fit of the
/// dataset at `manifest`.
fn fit_stage(
    manifest: &std::path::Path,
    registry: &Registry,
    metric: SelectionMetric,
    shared: bool,
    shard: Option<civicast_training::shard::Shard>,
    source: &civicast_training::import::DataSource,
    settings: &RunArgs,
) -> anyhow::Result<()> {
    let Some(dataset) = load_fit_data(manifest, source, settings.options.input_size)? else {
        anyhow::bail!("{} is not a valid dataset", manifest.display());
    };
    let options = FitOptions {
        candidates: settings
            .models
            .clone()
            .unwrap_or_else(|| civicast_training::fit::DEFAULT_CANDIDATES.to_vec()),
        metric,
        input_size: settings
            .options
            .input_size
            .or(dataset.manifest.forecast.input_size),
        promote: false,
        progress: false,
    };
    let pool = worker_pool(settings.options.threads)?;
    let name = &dataset.manifest.name;
    let whole = civicast_training::shard::Shard { index: 0, count: 1 };
    match shard {
        _ if shared => {
            let piece = shard.unwrap_or(whole);
            let fits = pool.install(|| {
                civicast_training::shard::write_shared(&dataset, &options, registry, piece)
            })?;
            if !settings.options.quiet {
                say!(
                    "{name}: piece {}/{} of the shared stage written ({fits} fits); once every \
                     piece is, `fit --shard I/N` for every I",
                    piece.index,
                    piece.count
                );
            }
        }
        None => anyhow::bail!("--shard I/N is needed without --stage shared"),
        Some(shard) => {
            let fitted = pool.install(|| {
                civicast_training::shard::write_part(&dataset, &options, registry, shard)
            })?;
            if !settings.options.quiet {
                say!(
                    "{name}: shard {}/{} written ({fitted} series)",
                    shard.index,
                    shard.count
                );
            }
        }
    }
    Ok(())
}

fn fit_one(
    manifest: &std::path::Path,
    registry: &Registry,
    metric: SelectionMetric,
    promote: bool,
    candidates: &[ModelId],
    source: &civicast_training::import::DataSource,
    settings: &RunArgs,
) -> anyhow::Result<ExitCode> {
    let Some(dataset) = load_fit_data(manifest, source, settings.options.input_size)? else {
        return Ok(ExitCode::FAILURE);
    };
    let options = FitOptions {
        candidates: candidates.to_vec(),
        metric,
        input_size: settings
            .options
            .input_size
            .or(dataset.manifest.forecast.input_size),
        promote,
        progress: !settings.options.quiet,
    };
    let pool = worker_pool(settings.options.threads)?;
    let outcome = pool.install(|| fit_dataset(&dataset, &options, registry))?;
    if !settings.options.quiet {
        let mut counts = std::collections::BTreeMap::new();
        for s in &outcome.manifest.series {
            *counts.entry(s.model.as_str()).or_insert(0) += 1;
        }
        let chosen: Vec<String> = counts.iter().map(|(m, n)| format!("{m} x{n}")).collect();
        say!(
            "published {} ({} series; chosen by backtest {}: {}){}",
            outcome.version,
            outcome.manifest.series.len(),
            outcome.manifest.selection.metric,
            chosen.join(", "),
            if outcome.production {
                "; now in production"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn manage(registry: &Registry, command: RegistryCommand) -> anyhow::Result<ExitCode> {
    match command {
        RegistryCommand::List => {
            let versions = registry.list()?;
            if versions.is_empty() {
                say!("no versions in {}", registry.root().display());
            }
            for entry in versions {
                match entry {
                    Ok(v) => {
                        let live = registry.production(&v.dataset.name)?.as_deref()
                            == Some(v.version.as_str());
                        say!(
                            "{:<45} {:<22} {:>4} series  {}{}",
                            v.version,
                            v.dataset.name,
                            v.series.len(),
                            v.created,
                            if live {
                                format!("  [{PRODUCTION}]")
                            } else {
                                String::new()
                            }
                        );
                    }
                    Err(e) => say!("unreadable version: {e}"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Assemble {
            manifest,
            promote,
            data,
            options,
        } => {
            let source = data.source(false);
            let Some(dataset) = load_fit_data(&manifest, &source, options.input_size)? else {
                return Ok(ExitCode::FAILURE);
            };
            let pool = worker_pool(options.threads)?;
            let (outcome, parts) = pool.install(|| {
                civicast_training::shard::assemble(&dataset, promote, !options.quiet, registry)
            })?;
            if !options.quiet {
                say!(
                    "published {} ({} series, from {parts} shards){}",
                    outcome.version,
                    outcome.manifest.series.len(),
                    if outcome.production {
                        "; now in production"
                    } else {
                        ""
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::ClearShards { dataset } => {
            let files = registry.shard_files(&dataset)?;
            for file in &files {
                registry.remove_shard_file(&dataset, file)?;
            }
            say!("removed {} shard file(s) of {dataset}", files.len());
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::History => {
            for entry in registry.history()? {
                say!("{}", serde_json::to_string(&entry)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Show { version } => {
            let manifest = registry.show(&version)?;
            say!("{}", serde_json::to_string_pretty(&manifest)?);
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Promote { version } => {
            registry.promote(&version)?;
            say!("{version} is now in production");
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Rollback { dataset } => {
            let dataset = match dataset {
                Some(d) => d,
                None => only_dataset(registry)?,
            };
            let version = registry.rollback(&dataset)?;
            say!("{dataset}: production is back at {version}");
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Verify { version } => {
            let versions = match version {
                Some(v) => vec![v],
                None => registry
                    .list()?
                    .into_iter()
                    .filter_map(Result::ok)
                    .map(|m| m.version)
                    .collect(),
            };
            let mut failed = false;
            for v in versions {
                match registry.verify(&v) {
                    Ok(()) => say!("{v}: ok"),
                    Err(e) => {
                        failed = true;
                        say!("{e}");
                    }
                }
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// The one dataset with a production version, for commands that may omit `--dataset`.
fn only_dataset(registry: &Registry) -> anyhow::Result<String> {
    let mut names: Vec<String> = registry
        .list()?
        .into_iter()
        .filter_map(Result::ok)
        .map(|m| m.dataset.name)
        .collect();
    names.sort();
    names.dedup();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(RegistryError::NoProduction("(none)".into()).into()),
        many => anyhow::bail!(
            "the registry holds several datasets ({}); say which with --dataset",
            many.join(", ")
        ),
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
            say!();
        }
        match result {
            Ok(dataset) => say_raw!("{}", Summary::of(&dataset)),
            Err(report) => say!("{} — INVALID\n{report}", path.display()),
        }
    }
    if json {
        let document = match documents.len() {
            1 => documents.swap_remove(0),
            _ => serde_json::Value::Array(documents),
        };
        let text = serde_json::to_string_pretty(&document).context("writing JSON")?;
        say!("{text}");
    }
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
