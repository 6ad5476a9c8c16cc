//! Fitting for production: choose each series' model by backtest, refit it on all the data, and
//! publish the result as a new registry version.
//!
//! The choice uses the dataset's own backtest windows (the same protocol as `backtest`): for each
//! series, every candidate's metric is averaged over its windows and the smallest wins, ties going
//! to the candidate listed first (the simpler one, in the default order). The winner is then fitted
//! on the whole series (up to the input-size cap), which is what forecasts are made from.
//!
//! Learned models (`auto` by default) are global: when any series chooses one, it is fitted once
//! on every series to its end and published whole, with each series' recent data and the
//! climatology of the future-known columns ([`PublishedGlobal`]), so the service can forecast
//! without the training data. Selection is nested in time like the backtest itself: each
//! window's learned fit and its interval calibration only see data before that window.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use civicast_model::learned::global::fit_global;
use civicast_model::learned::published::PublishedGlobal;
use civicast_model::metrics::{PairScores, Scores};
use civicast_model::{ModelId, SeriesContext, fit_model};
use civicast_registry::{
    DatasetInfo, FeatureSchema, ModelsFile, Registry, Selection, SeriesEntry, VersionManifest,
};
use rayon::prelude::*;

use crate::backtest::{BacktestOptions, learned_featurizer, learned_params, run_backtest};
use crate::dataset::Dataset;
use crate::error::Error;

/// The metric a model is chosen by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SelectionMetric {
    /// Mean absolute scaled error (the default: scale-free, robust to zeros).
    #[default]
    Mase,
    /// Symmetric MAPE.
    Smape,
    /// Root mean squared error.
    Rmse,
    /// Scaled CRPS: rewards calibrated intervals as well as accurate points.
    Scrps,
}

impl SelectionMetric {
    fn of(&self, scores: &PairScores) -> f64 {
        let value = match self {
            SelectionMetric::Mase => scores.mase,
            SelectionMetric::Smape => Some(scores.smape),
            SelectionMetric::Rmse => Some(scores.rmse),
            SelectionMetric::Scrps => scores.scrps,
        };
        value.filter(|v| v.is_finite()).unwrap_or(f64::INFINITY)
    }
}

impl fmt::Display for SelectionMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SelectionMetric::Mase => "MASE",
            SelectionMetric::Smape => "sMAPE",
            SelectionMetric::Rmse => "RMSE",
            SelectionMetric::Scrps => "sCRPS",
        })
    }
}

impl FromStr for SelectionMetric {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "mase" => Ok(SelectionMetric::Mase),
            "smape" => Ok(SelectionMetric::Smape),
            "rmse" => Ok(SelectionMetric::Rmse),
            "scrps" => Ok(SelectionMetric::Scrps),
            _ => Err(format!(
                "unknown metric {s:?}; expected one of mase, smape, rmse, scrps"
            )),
        }
    }
}

/// The candidates `fit` chooses from by default: the statistical models and `auto`.
pub const DEFAULT_CANDIDATES: [ModelId; 5] = [
    ModelId::Snaive,
    ModelId::Ets,
    ModelId::Mstl,
    ModelId::Theta,
    ModelId::Auto,
];

/// What `fit` does.
#[derive(Clone, Debug)]
pub struct FitOptions {
    /// Candidate models.
    pub candidates: Vec<ModelId>,
    /// The metric that picks among them.
    pub metric: SelectionMetric,
    /// Fit on at most this many of the latest observations.
    pub input_size: Option<usize>,
    /// Make the new version the production version (the first version of a dataset always is).
    pub promote: bool,
    /// Show progress on a terminal.
    pub progress: bool,
}

/// What `fit` published.
#[derive(Clone, Debug)]
pub struct FitOutcome {
    /// The new version id.
    pub version: String,
    /// Its manifest.
    pub manifest: VersionManifest,
    /// Whether it is now the production version.
    pub production: bool,
}

/// Chooses, refits and publishes models for `dataset` into `registry`.
pub fn fit_dataset(
    dataset: &Dataset,
    options: &FitOptions,
    registry: &Registry,
) -> Result<FitOutcome, Error> {
    let manifest = &dataset.manifest;
    let panel = &dataset.panel;
    let backtest = run_backtest(
        dataset,
        &BacktestOptions {
            models: options.candidates.clone(),
            input_size: options.input_size,
            progress: options.progress,
        },
    )?;
    let context = SeriesContext {
        season_lengths: manifest.forecast.season_lengths.clone(),
    };

    // Per series, per candidate: the pair scores of its windows.
    let series_count = panel.series().len();
    let mut per_series: Vec<BTreeMap<ModelId, Vec<PairScores>>> =
        vec![BTreeMap::new(); series_count];
    for model in &backtest.models {
        for window in &model.windows {
            per_series[window.series]
                .entry(model.model)
                .or_default()
                .push(window.scores);
        }
    }
    let chosen: Vec<ModelId> = per_series
        .iter()
        .map(|by_model| {
            options
                .candidates
                .iter()
                .copied()
                .min_by(|a, b| {
                    mean_metric(by_model, a, options.metric).total_cmp(&mean_metric(
                        by_model,
                        b,
                        options.metric,
                    ))
                })
                .unwrap_or(ModelId::Snaive)
        })
        .collect();

    // Learned models are global: one fit per learned model any series chose, on every series.
    let mut global = BTreeMap::new();
    for model in options.candidates.iter().filter(|m| m.is_learned()) {
        if chosen.contains(model) {
            global.insert(*model, fit_learned(dataset, *model, options.progress)?);
        }
    }
    // A series that chose a learned model the published model cannot forecast (too short for its
    // lags) falls back to its best statistical candidate, and says so.
    let mut fallbacks: Vec<Option<String>> = vec![None; series_count];
    let mut chosen = chosen;
    for (s, model) in chosen.iter_mut().enumerate() {
        let Some(published) = global.get(model) else {
            continue;
        };
        let id = &panel.series()[s].id;
        let fails = published
            .model
            .series_index(id)
            .ok_or_else(|| "it is not in the model".to_owned())
            .and_then(|index| {
                published
                    .points(index, 1, &Default::default())
                    .map_err(|e| e.to_string())
            })
            .err();
        if let Some(reason) = fails {
            let statistical = options
                .candidates
                .iter()
                .copied()
                .filter(|m| !m.is_learned())
                .min_by(|a, b| {
                    mean_metric(&per_series[s], a, options.metric).total_cmp(&mean_metric(
                        &per_series[s],
                        b,
                        options.metric,
                    ))
                })
                .unwrap_or(ModelId::Snaive);
            fallbacks[s] = Some(format!(
                "{model} was chosen but cannot forecast this series ({reason}); {statistical} \
                 forecasts it instead"
            ));
            *model = statistical;
        }
    }
    let fitted = panel
        .series()
        .par_iter()
        .zip(&chosen)
        .map(|(series, &model)| {
            if model.is_learned() {
                return Ok(None);
            }
            let first = options
                .input_size
                .map_or(0, |size| series.len().saturating_sub(size));
            fit_model(model, &context, &series.target[first..])
                .map(Some)
                .map_err(|e| Error::Backtest {
                    message: format!("refitting {model} on series {:?}: {e}", series.id),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let frequency = panel.frequency();
    let (start, end) = panel.span();
    let entries = panel
        .series()
        .iter()
        .enumerate()
        .map(|(s, series)| SeriesEntry {
            id: series.id.clone(),
            model: chosen[s].to_string(),
            fallback: fitted[s]
                .as_ref()
                .and_then(|f| f.fallback.clone())
                .or_else(|| fallbacks[s].clone()),
            start: frequency.format_time(series.start),
            end: frequency.format_time(panel.end_of(series)),
            length: series.len(),
            backtest: per_series[s]
                .iter()
                .map(|(model, pairs)| (model.to_string(), Scores::from_pairs(pairs)))
                .collect(),
        })
        .collect();
    let version_manifest = VersionManifest {
        format: 0,
        version: String::new(),
        created: String::new(),
        civicast_version: env!("CARGO_PKG_VERSION").to_owned(),
        dataset: DatasetInfo {
            name: manifest.name.clone(),
            title: manifest.title.clone(),
            unit: manifest.unit.clone(),
            frequency: frequency.to_string(),
            horizon: manifest.forecast.horizon,
            season_lengths: manifest.forecast.season_lengths.clone(),
            data_file: manifest
                .data
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            data_sha256: dataset.info.data_sha256.clone(),
            start: frequency.format_time(start),
            end: frequency.format_time(end),
            series: series_count,
            rows: panel.rows(),
        },
        selection: Selection {
            metric: options.metric.to_string(),
            candidates: options.candidates.iter().map(ToString::to_string).collect(),
            windows: manifest.backtest.windows,
            step: manifest.backtest.step,
            input_size: options.input_size,
        },
        features: FeatureSchema {
            target: manifest.data.target.clone(),
            exogenous: manifest.exogenous.clone(),
        },
        series: entries,
        files: BTreeMap::new(),
    };
    let models = ModelsFile {
        format: civicast_registry::format::FORMAT_VERSION,
        series: panel
            .series()
            .iter()
            .zip(fitted)
            .filter_map(|(s, f)| Some((s.id.clone(), f?)))
            .collect(),
        global: global
            .into_iter()
            .map(|(model, published)| (model.to_string(), published))
            .collect(),
        history: panel
            .series()
            .iter()
            .map(|s| {
                let keep = history_length(&manifest.forecast).min(s.len());
                (s.id.clone(), s.target[s.len() - keep..].to_vec())
            })
            .collect(),
    };
    let version = registry
        .publish(version_manifest, &models, options.promote)
        .map_err(Error::Registry)?;
    let manifest = registry.show(&version).map_err(Error::Registry)?;
    let production = registry
        .production(&manifest.dataset.name)
        .map_err(Error::Registry)?
        .as_deref()
        == Some(version.as_str());
    Ok(FitOutcome {
        version,
        manifest,
        production,
    })
}

/// The mean of `metric` over `model`'s backtest windows (infinite when undefined).
fn mean_metric(
    by_model: &BTreeMap<ModelId, Vec<PairScores>>,
    model: &ModelId,
    metric: SelectionMetric,
) -> f64 {
    let pairs = by_model.get(model).map(Vec::as_slice).unwrap_or_default();
    let total: f64 = pairs.iter().map(|p| metric.of(p)).sum();
    total / pairs.len().max(1) as f64
}

/// Observations of each series kept in the version for charts: a few horizons and two of the
/// longest seasons that are not much longer, at most a few thousand.
fn history_length(forecast: &crate::manifest::ForecastSpec) -> usize {
    let seasons = forecast
        .season_lengths
        .iter()
        .copied()
        .filter(|&m| m <= 8 * forecast.horizon.max(1))
        .max()
        .unwrap_or(1);
    (8 * forecast.horizon).max(2 * seasons).min(4000)
}

/// Fits the learned `model` on every series to its end and publishes it with the series' tails
/// and the climatology of the future-known columns.
fn fit_learned(
    dataset: &Dataset,
    model: ModelId,
    progress: bool,
) -> Result<PublishedGlobal, Error> {
    let panel = &dataset.panel;
    let fail = |e: civicast_model::ModelError| Error::Backtest {
        message: format!("fitting {model} on all series: {e}"),
    };
    let featurizer = learned_featurizer(dataset)?;
    let params = learned_params(dataset, model)?;
    let spinner = if progress {
        let bar = indicatif::ProgressBar::new_spinner().with_message(format!(
            "fitting {model} on all {} series of {}",
            panel.series().len(),
            dataset.manifest.name
        ));
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let cutoffs: Vec<usize> = panel.series().iter().map(|s| s.len()).collect();
    let fitted = fit_global(&params, &featurizer, panel, &cutoffs).map_err(fail)?;
    spinner.finish_and_clear();
    PublishedGlobal::new(fitted, panel).map_err(fail)
}
