//! Fitting for production: choose each series' model by backtest, refit it on all the data, and
//! publish the result as a new registry version.
//!
//! The choice uses the dataset's own backtest windows (the same protocol as `backtest`): for each
//! series, every candidate's metric is averaged over its windows and the smallest wins, ties going
//! to the candidate listed first (the simpler one, in the default order). The winner is then fitted
//! on the whole series (up to the input-size cap), which is what forecasts are made from.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use civicast_model::metrics::{PairScores, Scores};
use civicast_model::{ModelId, SeriesContext, fit_model};
use civicast_registry::{
    DatasetInfo, FeatureSchema, ModelsFile, Registry, Selection, SeriesEntry, VersionManifest,
};
use rayon::prelude::*;

use crate::backtest::{BacktestOptions, run_backtest};
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
    if let Some(learned) = options.candidates.iter().find(|m| m.is_learned()) {
        return Err(Error::Backtest {
            message: format!(
                "{learned} is a learned model: `fit` publishes the statistical models (snaive, \
                 ets, mstl, theta) for now; backtest learned models with `civicast-train backtest`"
            ),
        });
    }
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
            let mean = |model: &ModelId| {
                let pairs = by_model.get(model).map(Vec::as_slice).unwrap_or_default();
                let total: f64 = pairs.iter().map(|p| options.metric.of(p)).sum();
                total / pairs.len().max(1) as f64
            };
            options
                .candidates
                .iter()
                .copied()
                .min_by(|a, b| mean(a).total_cmp(&mean(b)))
                .unwrap_or(ModelId::Snaive)
        })
        .collect();

    let fitted = panel
        .series()
        .par_iter()
        .zip(&chosen)
        .map(|(series, &model)| {
            let first = options
                .input_size
                .map_or(0, |size| series.len().saturating_sub(size));
            fit_model(model, &context, &series.target[first..]).map_err(|e| Error::Backtest {
                message: format!("refitting {model} on series {:?}: {e}", series.id),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let frequency = panel.frequency();
    let (start, end) = panel.span();
    let entries = panel
        .series()
        .iter()
        .zip(&fitted)
        .zip(&per_series)
        .map(|((series, fitted), by_model)| SeriesEntry {
            id: series.id.clone(),
            model: fitted.model.id().to_string(),
            fallback: fitted.fallback.clone(),
            start: frequency.format_time(series.start),
            end: frequency.format_time(panel.end_of(series)),
            length: series.len(),
            backtest: by_model
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
            .map(|(s, f)| (s.id.clone(), f))
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
