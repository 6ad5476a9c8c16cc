//! Fitting for production: backtest, refit on all the data, and publish the result as a new
//! registry version.
//!
//! By default the one candidate is `auto`, which already combines every family per series with
//! weights chosen on origins before each cutoff, so the protocol backtest of `auto` is the
//! accuracy of what is served. Choosing per series among several candidates by a point metric
//! (still available with several `--models`) could pick a model whose intervals are worse than
//! its points suggest; `auto`'s weights are chosen on out-of-sample errors of the same kind as
//! its intervals. With several candidates the choice uses the dataset's own backtest windows (the same protocol as `backtest`): for each
//! series, every candidate's metric is averaged over its windows and the smallest wins, ties going
//! to the candidate listed first (the simpler one, in the default order). The winner is then fitted
//! on the whole series (up to the input-size cap), which is what forecasts are made from.
//!
//! Every chosen model is fitted once through the forecaster interface on every series to its
//! end ([`civicast_model::Forecaster::fit_for`]) and published with the series that chose it; a
//! learned model (`auto` by default) learns from every series and keeps each series' recent data
//! and the climatology of the future-known columns, so the service can forecast without the
//! training data. Selection is nested in time like the backtest itself: each window's fit and its
//! interval calibration only see data before that window.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use civicast_model::metrics::{PairScores, Scores};
use civicast_model::{FittedForecaster, ModelId};
use civicast_registry::{
    DatasetInfo, FeatureSchema, ModelsFile, Registry, Selection, SeriesEntry, VersionManifest,
};

use crate::backtest::{BacktestOptions, run_backtest_with};
use crate::dataset::Dataset;
use crate::error::Error;
use crate::progress;
use crate::shard::Assembly;

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

/// What `fit` publishes by default: `auto` for every series (seasonal naive for a series it
/// cannot forecast, as for any candidate list).
pub const DEFAULT_CANDIDATES: [ModelId; 1] = [ModelId::Auto];

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
    fit_with(dataset, options, registry, &Fits::Local)
}

/// Where the models `fit` backtests and publishes come from.
pub(crate) enum Fits<'a> {
    /// Fitted here.
    Local,
    /// Joined from the stages of a sharded fit ([`crate::shard`]).
    Assembled(&'a Assembly),
}

/// [`fit_dataset`] with the models from `fits`.
pub(crate) fn fit_with(
    dataset: &Dataset,
    options: &FitOptions,
    registry: &Registry,
    fits: &Fits<'_>,
) -> Result<FitOutcome, Error> {
    let manifest = &dataset.manifest;
    let panel = &dataset.panel;
    let backtest = run_backtest_with(
        dataset,
        &BacktestOptions {
            models: options.candidates.clone(),
            input_size: options.input_size,
            progress: options.progress,
        },
        &|forecaster, k, window| match fits {
            Fits::Local => forecaster.fit(panel, window),
            Fits::Assembled(assembly) => assembly.window(forecaster, panel, k, window),
        },
    )?;

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
    // Per series, the candidates best first (a stable sort: ties go to the one listed first),
    // then seasonal naive, which forecasts any series, as the last resort.
    let ranked: Vec<Vec<ModelId>> = per_series
        .iter()
        .map(|by_model| {
            let mut ranked = options.candidates.clone();
            ranked.sort_by(|a, b| {
                mean_metric(by_model, a, options.metric).total_cmp(&mean_metric(
                    by_model,
                    b,
                    options.metric,
                ))
            });
            if !ranked.contains(&ModelId::Snaive) {
                ranked.push(ModelId::Snaive);
            }
            ranked
        })
        .collect();
    let mut choice = vec![0usize; series_count];
    let ends: Vec<usize> = panel.series().iter().map(|s| s.len()).collect();

    // Each chosen model is fitted once on every series to its end, keeping the series that chose
    // it. A series whose model cannot forecast it (too short for a learned model's lags) moves to
    // its next-best candidate, and says so.
    let mut fitted: BTreeMap<ModelId, (Vec<bool>, FittedForecaster)> = BTreeMap::new();
    let mut fallbacks: Vec<Option<String>> = vec![None; series_count];
    loop {
        let chosen: Vec<ModelId> = (0..series_count)
            .map(|s| ranked[s].get(choice[s]).copied().unwrap_or(ModelId::Snaive))
            .collect();
        fitted.retain(|model, _| chosen.contains(model));
        for model in ModelId::ALL {
            let wanted: Vec<bool> = chosen.iter().map(|&m| m == model).collect();
            if !wanted.contains(&true) || fitted.get(&model).is_some_and(|(w, _)| *w == wanted) {
                continue;
            }
            let forecaster = fit_chosen(dataset, options, model, &ends, &wanted, fits)?;
            fitted.insert(model, (wanted, forecaster));
        }
        let indices = series_indices(&fitted);
        let mut moved = false;
        for s in 0..series_count {
            let model = chosen[s];
            let id = &panel.series()[s].id;
            let Some((_, forecaster)) = fitted.get(&model) else {
                continue;
            };
            let reason = indices[&model]
                .get(id.as_str())
                .copied()
                .ok_or_else(|| "it is not in the model".to_owned())
                .and_then(|index| {
                    forecaster
                        .forecast(index, 1, &[0.5], None)
                        .map_err(|e| e.to_string())
                })
                .err();
            if let Some(reason) = reason
                && choice[s] + 1 < ranked[s].len()
            {
                choice[s] += 1;
                let next = ranked[s][choice[s]];
                fallbacks[s] = Some(format!(
                    "{model} was chosen but cannot forecast this series ({reason}); {next} \
                     forecasts it instead"
                ));
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    let chosen: Vec<ModelId> = (0..series_count)
        .map(|s| ranked[s].get(choice[s]).copied().unwrap_or(ModelId::Snaive))
        .collect();
    let indices = series_indices(&fitted);
    let fallback_of = |s: usize| -> Option<String> {
        let (_, forecaster) = fitted.get(&chosen[s])?;
        let index = indices[&chosen[s]]
            .get(panel.series()[s].id.as_str())
            .copied()?;
        forecaster.fallback(index).map(str::to_owned)
    };

    let frequency = panel.frequency();
    let (start, end) = panel.span();
    let entries = panel
        .series()
        .iter()
        .enumerate()
        .map(|(s, series)| SeriesEntry {
            id: series.id.clone(),
            model: chosen[s].to_string(),
            fallback: fallback_of(s).or_else(|| fallbacks[s].clone()),
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
        forecasters: fitted
            .into_iter()
            .map(|(model, (_, forecaster))| (model.to_string(), forecaster))
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

/// Each fitted model's series indices by id, built once rather than per series looked up.
fn series_indices(
    fitted: &BTreeMap<ModelId, (Vec<bool>, FittedForecaster)>,
) -> BTreeMap<ModelId, std::collections::HashMap<&str, usize>> {
    fitted
        .iter()
        .map(|(model, (_, forecaster))| (*model, forecaster.series_indices()))
        .collect()
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

/// Fits `model` on every series to its end, for the series that chose it.
fn fit_chosen(
    dataset: &Dataset,
    options: &FitOptions,
    model: ModelId,
    ends: &[usize],
    wanted: &[bool],
    fits: &Fits<'_>,
) -> Result<FittedForecaster, Error> {
    let panel = &dataset.panel;
    let fail = |source: civicast_model::ModelError| Error::InModel {
        context: format!("fitting {model} for production"),
        source,
    };
    let forecaster = dataset.forecaster(model, options.input_size)?;
    let spinner = progress::spinner(
        options.progress,
        format!(
            "fitting {model} for {} of the {} series of {}",
            wanted.iter().filter(|&&w| w).count(),
            panel.series().len(),
            dataset.manifest.name
        ),
    );
    let fitted = match fits {
        Fits::Local => forecaster.fit_for(panel, ends, wanted),
        Fits::Assembled(assembly) => assembly.production(&forecaster, panel, ends, wanted),
    }
    .map_err(fail)?;
    spinner.finish_and_clear();
    Ok(fitted)
}
