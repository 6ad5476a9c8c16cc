//! Rolling-origin backtests, exactly as the evaluation protocol defines them.
//!
//! For a series of `N` observations, window `k = 0..windows` has its cutoff after position
//! `c_k = N - h - (windows - 1 - k) * step` (1-based, so the training part is `y[..c_k]` and the
//! test part the `h` values after it), which is StatsForecast's `cross_validation(h, n_windows,
//! step_size, refit=True)`. Every window is a fresh fit. Metrics use the whole history up to the
//! cutoff for their scales, whatever input-size cap a model was fitted with.
//!
//! Every model goes through the one forecaster interface ([`civicast_model::Forecaster`]): per
//! window, one fit across all series, each cut at its own cutoff. Windows run on rayon's pool
//! (and a per-series model's series within a window), model after model, so each model's
//! wall-clock time is measured on its own (with `--threads 1` that is the protocol's single-thread
//! time). A model that cannot be fitted on a series falls back (see
//! [`civicast_model::fit_model`]) and the fallback is recorded, never hidden.

use std::time::Instant;

use civicast_model::metrics::{PROTOCOL_QUANTILES, PairScores, Scores, score_pair};
use civicast_model::{
    FittedForecaster, Forecast, Forecaster, ModelError, ModelId, Panel, TimePoint,
};
use rayon::prelude::*;
use serde::Serialize;

use crate::dataset::Dataset;
use crate::error::Error;
use crate::progress;

/// What to backtest and how.
#[derive(Clone, Debug)]
pub struct BacktestOptions {
    /// Models to evaluate, in output order.
    pub models: Vec<ModelId>,
    /// Fit on at most this many of the most recent observations before each cutoff.
    pub input_size: Option<usize>,
    /// Show a progress bar on a terminal.
    pub progress: bool,
}

/// One (series, window) forecast of one model.
#[derive(Clone, Debug)]
pub struct WindowForecast {
    /// Index of the series in the panel.
    pub series: usize,
    /// Cutoff position: the training part is `target[..cutoff]`.
    pub cutoff: usize,
    /// The forecast (point and the protocol's 21 quantiles).
    pub forecast: Forecast,
    /// The pair's metrics.
    pub scores: PairScores,
    /// Why the model fell back, if it did.
    pub fallback: Option<String>,
}

/// A fallback that happened during a backtest.
#[derive(Clone, Debug, Serialize)]
pub struct FallbackNote {
    /// Series id.
    pub series: String,
    /// Cutoff time.
    pub cutoff: String,
    /// What happened.
    pub reason: String,
}

/// One model's backtest.
#[derive(Clone, Debug)]
pub struct ModelBacktest {
    /// The model.
    pub model: ModelId,
    /// Its forecasts, ordered by series then cutoff.
    pub windows: Vec<WindowForecast>,
    /// Dataset-level metrics.
    pub scores: Scores,
    /// Wall-clock seconds for all fits and forecasts of this model.
    pub seconds: f64,
}

impl ModelBacktest {
    /// The fallbacks, with series ids and cutoff times.
    pub fn fallbacks(&self, panel: &Panel) -> Vec<FallbackNote> {
        self.windows
            .iter()
            .filter_map(|w| {
                let series = &panel.series()[w.series];
                let reason = w.fallback.clone()?;
                Some(FallbackNote {
                    series: series.id.clone(),
                    cutoff: cutoff_time(panel, w.series, w.cutoff),
                    reason,
                })
            })
            .collect()
    }
}

/// A whole backtest: the cutoffs and each model's results.
#[derive(Clone, Debug)]
pub struct Backtest {
    /// Forecast horizon.
    pub horizon: usize,
    /// MASE season.
    pub mase_season: usize,
    /// Per model.
    pub models: Vec<ModelBacktest>,
    /// Threads used.
    pub threads: usize,
}

/// The cutoff positions of a series of `n` observations (training part `y[..c]`), oldest first.
pub fn cutoffs(n: usize, horizon: usize, windows: usize, step: usize) -> Option<Vec<usize>> {
    (0..windows)
        .map(|k| {
            let back = (windows - 1 - k).checked_mul(step)?.checked_add(horizon)?;
            n.checked_sub(back).filter(|&c| c >= 1)
        })
        .collect()
}

/// The cutoff's time, as the protocol writes it.
pub fn cutoff_time(panel: &Panel, series: usize, cutoff: usize) -> String {
    let s = &panel.series()[series];
    let frequency = panel.frequency();
    frequency.format_time(
        frequency
            .advance(s.start, cutoff as i64 - 1)
            .unwrap_or(TimePoint::Step(cutoff as i64 - 1)),
    )
}

/// How a backtest fits a model at one window's cutoffs: `(model's forecaster, window k, cutoff of
/// each series)`.
pub type WindowFit<'a> =
    dyn Fn(&Forecaster, usize, &[usize]) -> Result<FittedForecaster, ModelError> + Sync + 'a;

/// Runs the backtest of `dataset` for every model in `options`.
pub fn run_backtest(dataset: &Dataset, options: &BacktestOptions) -> Result<Backtest, Error> {
    let panel = &dataset.panel;
    run_backtest_with(dataset, options, &|forecaster, _, window| {
        forecaster.fit(panel, window)
    })
}

/// Each window's cutoff of each series (`windows[k][s]`), as the protocol places them.
pub fn window_cutoffs(dataset: &Dataset) -> Result<Vec<Vec<usize>>, Error> {
    let manifest = &dataset.manifest;
    let horizon = manifest.forecast.horizon;
    let mut per_series = Vec::with_capacity(dataset.panel.series().len());
    for s in dataset.panel.series() {
        let cuts = cutoffs(s.len(), horizon, manifest.backtest.windows, manifest.backtest.step)
            .ok_or_else(|| Error::Backtest {
                message: format!(
                    "series {:?} has {} observations, too few for {} windows {} steps apart with horizon {}",
                    s.id,
                    s.len(),
                    manifest.backtest.windows,
                    manifest.backtest.step,
                    horizon
                ),
            })?;
        per_series.push(cuts);
    }
    Ok((0..manifest.backtest.windows)
        .map(|k| per_series.iter().map(|c| c[k]).collect())
        .collect())
}

/// [`run_backtest`] with each window's model fitted by `fit`.
pub fn run_backtest_with(
    dataset: &Dataset,
    options: &BacktestOptions,
    fit: &WindowFit<'_>,
) -> Result<Backtest, Error> {
    let manifest = &dataset.manifest;
    let panel = &dataset.panel;
    let horizon = manifest.forecast.horizon;
    let mase_season = manifest
        .forecast
        .season_lengths
        .first()
        .copied()
        .unwrap_or(1);
    let windows = window_cutoffs(dataset)?;
    let n_windows = manifest.backtest.windows;
    let progress = progress::bar(
        options.progress,
        n_windows * panel.series().len() * options.models.len(),
        "backtest",
        "series-windows",
    );
    let mut models = Vec::with_capacity(options.models.len());
    for &model in &options.models {
        progress.set_message(model.to_string());
        // The windows' calibration fits sit on one grid, so neighbouring windows share them:
        // made once, in parallel, before the windows (and kept in the dataset's memo).
        let forecaster = dataset.forecaster(model, options.input_size)?;
        let started = Instant::now();
        forecaster
            .prepare(panel, &windows)
            .map_err(|source| Error::InModel {
                context: format!("backtest: {model}'s calibration fits"),
                source,
            })?;
        // One fit per window across every series, each cut at its own protocol cutoff.
        let per_window: Vec<Vec<WindowForecast>> = (0..n_windows)
            .into_par_iter()
            .map(|k| {
                let window = &windows[k];
                let out = fit(&forecaster, k, window)
                    .and_then(|fitted| {
                        forecast_window(panel, &fitted, window, horizon, mase_season)
                    })
                    .map_err(|source| Error::InModel {
                        context: format!(
                            "backtest: {model} at the cutoffs of window {} ({})",
                            k + 1,
                            cutoff_time(panel, 0, window[0])
                        ),
                        source,
                    })?;
                progress.inc(out.len() as u64);
                Ok(out)
            })
            .collect::<Result<_, Error>>()?;
        let mut windows: Vec<WindowForecast> = per_window.into_iter().flatten().collect();
        windows.sort_by_key(|w| (w.series, w.cutoff));
        let seconds = started.elapsed().as_secs_f64();
        let pair_scores: Vec<PairScores> = windows.iter().map(|w| w.scores).collect();
        models.push(ModelBacktest {
            model,
            scores: Scores::from_pairs(&pair_scores),
            windows,
            seconds,
        });
    }
    progress.finish_and_clear();
    Ok(Backtest {
        horizon,
        mase_season,
        models,
        threads: rayon::current_num_threads(),
    })
}

/// One window: the model fitted at `window`'s cutoffs forecasts every series, and is scored.
fn forecast_window(
    panel: &Panel,
    fitted: &FittedForecaster,
    window: &[usize],
    horizon: usize,
    mase_season: usize,
) -> Result<Vec<WindowForecast>, ModelError> {
    let forecasts = fitted.forecast_in(panel, horizon, &PROTOCOL_QUANTILES)?;
    Ok(forecasts
        .into_iter()
        .enumerate()
        .map(|(series, forecast)| {
            let s = &panel.series()[series];
            let cutoff = window[series];
            let history = &s.target[..cutoff];
            let actual = &s.target[cutoff..cutoff + horizon];
            let scores = score_pair(history, mase_season, actual, &forecast);
            WindowForecast {
                series,
                cutoff,
                forecast,
                scores,
                fallback: fitted.fallback(series).map(str::to_owned),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoffs_follow_the_protocol_formula() {
        // chicago_ridership: N = 5698, h = 14, 8 windows, step 14: the last cutoff is N - h.
        let cuts = cutoffs(5698, 14, 8, 14).unwrap();
        assert_eq!(cuts.len(), 8);
        assert_eq!(*cuts.last().unwrap(), 5698 - 14);
        assert_eq!(cuts[0], 5698 - 14 - 7 * 14);
    }

    #[test]
    fn too_short_a_series_has_no_cutoffs() {
        assert_eq!(cutoffs(20, 14, 2, 14), None);
        assert_eq!(cutoffs(29, 14, 2, 14), Some(vec![1, 15]));
    }
}
