//! Calibrating the budget-waste probability: backtested budget plans, their outcomes, and a
//! logistic regression from the forecast's probability (and context) to what actually happened.
//!
//! # Protocol
//!
//! 1. **Periods** lie within the dataset's forecast horizon: weeks for daily data (two per origin
//!    with horizon 14), days for hourly and half-hourly data, single steps for coarser data.
//! 2. **Origins** roll back from the end of each series one period apart (`--origins` per series,
//!    100 by default). The model (`--model`, by default `auto`, what `fit` publishes and the
//!    service serves) is fitted on the history before an origin (capped at the manifest's
//!    `input_size`) and reaches the next `--refit-every` origins by absorbing the observations
//!    in between, as the service does between refits: every origin for the statistical models,
//!    which fit in milliseconds, and [`LEARNED_FITS`] fits over all origins for the learned
//!    ones, whose fits take a minute. `--paths` joint sample paths (1,000, as the service
//!    draws) give each period's demand distribution ([`civicast_model::risk::PeriodDemand`]);
//!    the future-known columns over the horizon come from the model's climatology, as in the
//!    service when a caller sends none.
//! 3. **Plans** follow a documented rule a budget office could have used, with no forecast:
//!    the same period a year earlier (364 days, so weekdays match) times the recent growth (the
//!    last 28 days over the same 28 days a year earlier). Datasets with less than two years of
//!    history (the hourly and half-hourly ones hold one year) use the same period a week earlier
//!    (two weeks for the second week ahead) times the last week over the week before. Weekly,
//!    monthly and quarterly data use the same period a year earlier times the last step over
//!    the same step a year earlier. [`PlanningRule`] holds the lags.
//! 4. **Labels**: waste beyond tolerance happened, `actual < planned × (1 − tolerance)`.
//! 5. **Features** ([`RiskFeatures`]): the forecast-implied waste probability (as a logit), the
//!    plan's gap from the forecast mean in standard deviations, steps from origin to the period's
//!    end, period length, season (day of year on a circle), and the model's backtest MASE on the
//!    series — the mean MASE of that series' earlier origins whose outcomes were known by then,
//!    so no feature looks into the future. A series' first origins, with no earlier outcome to
//!    score, are left out of training and evaluation.
//! 6. **Split**: the last 30% of origins in time (dates, so series of different lengths are cut
//!    at the same date) are held out, and so is every fourth series
//!    (when a dataset has at least four); the classifier trains on the other series' periods that
//!    ended before the held-out time, and is evaluated on held-out series in held-out time. A
//!    dataset with fewer than four series can only hold out time, and the report says so.
//!
//! The model is fitted and sampled by the same code the service serves, so the probabilities
//! calibrated here are the kind the service reports for a series served by that model.
//!
//! Why linfa's logistic regression: the issue asks for the simplest model that can calibrate a
//! probability and take context into account. A logistic regression on the logit of the raw
//! probability is Platt scaling with extra features; linfa-logistic fits it with L-BFGS and a
//! small L2 penalty, and its fitted coefficients are seven numbers the service can apply
//! without any ML dependency ([`RiskClassifier`]). Trees or a network would need more data than a
//! few thousand backtested periods to beat it, and the issue admits them only if they do.

use civicast_model::forecast::stable_seed;
use civicast_model::learned::published::FutureValues;
use civicast_model::panel::{Panel, Series};
use civicast_model::risk::classifier::{
    CLASSIFIER_FORMAT, FEATURE_NAMES, RiskClassifier, RiskFeatures,
};
use civicast_model::risk::{BudgetLine, Flag, FlagThresholds, PeriodDemand};
use civicast_model::{FittedForecaster, Frequency, ModelId, SamplePaths, TimePoint};
use linfa::traits::Fit;
use ndarray::{Array1, Array2};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

use crate::dataset::Dataset;
use crate::error::Error;
use crate::progress;

/// How to build and split the backtested budget lines.
#[derive(Clone, Debug)]
pub struct RiskOptions {
    /// The statistical model that forecasts.
    pub model: ModelId,
    /// Origins per series.
    pub origins: usize,
    /// Sample paths per forecast.
    pub paths: usize,
    /// Origins per fit: the model is fitted at the earliest origin of each group of this many
    /// (counting origins where some series is assessed) and reaches the others by absorbing the
    /// observations before them. `None`: [`default_refit_every`].
    pub refit_every: Option<usize>,
    /// Relative tolerance of the waste label.
    pub tolerance: f64,
    /// Fit on at most this many of the latest observations.
    pub input_size: Option<usize>,
    /// Show a progress bar.
    pub progress: bool,
}

/// How many times a learned model is fitted over the origins by default (every 25 of 100
/// origins: half a year of weekly origins on daily data, about a month of daily ones on hourly
/// data — a refit schedule a service would keep).
pub const LEARNED_FITS: usize = 4;

/// Origins per fit by default, for `origins` origins: every origin for a statistical model,
/// [`LEARNED_FITS`] fits over all of them for a learned one.
pub fn default_refit_every(model: ModelId, origins: usize) -> usize {
    if model.is_learned() {
        origins.div_ceil(LEARNED_FITS).max(1)
    } else {
        1
    }
}

/// Share of origins, latest first, held out of training.
pub const HELD_OUT_TIME: f64 = 0.3;
/// Every `HELD_OUT_SERIES_EVERY`-th series is held out (when there are at least that many).
pub const HELD_OUT_SERIES_EVERY: usize = 4;
/// L2 penalty of the logistic regression on standardised features: linfa minimises the summed
/// log loss + `alpha/2·|w|²`, so 1.0 is scikit-learn's default (`C = 1`). It keeps weights
/// finite when a feature separates the training classes, and tames extrapolation — e.g. of the
/// season features when the held-out months were never seen in training (a backtest of 16
/// weekly origins put weights of ±9 on them with a penalty of 0.001).
const L2_PENALTY: f64 = 1.0;
/// L-BFGS iterations: a 7-feature logistic regression converges in a few dozen.
const MAX_ITERATIONS: u64 = 500;

/// The planning rule, in steps: plan = sum of the period `lag` steps earlier × growth, where
/// growth = sum of the last `window` steps / sum of the `window` steps `lag` earlier. A period
/// whose copy a lag back is not yet observed (the second week ahead under a weekly rule) is
/// planned from whole lags further back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PlanningRule {
    /// Steps back to "the same period" (a year or a week).
    pub lag: usize,
    /// Steps of recent history the growth rate compares.
    pub window: usize,
    /// `year`, `week` or `previous`: the words of the rule.
    pub basis: &'static str,
}

impl PlanningRule {
    /// The rule for series of at least `shortest` observations. Daily and sub-daily data: a
    /// year back when two years and the origins fit, else a week back. Weekly, monthly and
    /// quarterly data: a year back whenever the series hold three years — a budget office plans
    /// a month from the same month a year earlier, and origins too early for it are skipped —
    /// else the previous period.
    pub fn for_data(frequency: Frequency, shortest: usize, needed_after: usize) -> Self {
        let per_day = frequency.steps_per_day();
        let steps = |days: f64| ((days * per_day).round() as usize).max(1);
        if per_day < 1.0 {
            let lag = match frequency {
                Frequency::Months(n) if n > 0 && 12 % n == 0 => (12 / n) as usize,
                _ => steps(364.0),
            };
            return if shortest >= 3 * lag {
                PlanningRule {
                    lag,
                    window: 1,
                    basis: "year",
                }
            } else {
                PlanningRule {
                    lag: 1,
                    window: 1,
                    basis: "previous",
                }
            };
        }
        let year = PlanningRule {
            lag: steps(364.0),
            window: steps(28.0),
            basis: "year",
        };
        if shortest >= 2 * year.lag + needed_after {
            year
        } else {
            PlanningRule {
                lag: steps(7.0),
                window: steps(7.0),
                basis: "week",
            }
        }
    }

    /// The plan for steps `start..start + len` of `y`, made at origin `origin` (only
    /// `y[..origin]` is known); `None` when the history is too short or the growth undefined.
    pub fn plan(&self, y: &[f64], origin: usize, start: usize, len: usize) -> Option<f64> {
        let back = origin.checked_sub(self.window + self.lag)?;
        // The latest "same period" already observed: one lag back, or more when the period
        // starts within a lag of the origin (the second week ahead under a weekly rule).
        let lags_back = (start + len)
            .saturating_sub(origin)
            .div_ceil(self.lag)
            .max(1);
        let same = start.checked_sub(lags_back * self.lag)?;
        let recent: f64 = y[origin - self.window..origin].iter().sum();
        let before: f64 = y[back..back + self.window].iter().sum();
        let last: f64 = y[same..same + len].iter().sum();
        let plan = last * recent / before;
        (before > 0.0 && plan.is_finite() && plan > 0.0).then_some(plan)
    }

    /// The rule in words.
    pub fn describe(&self) -> String {
        match self.basis {
            "year" => format!(
                "same period one year earlier ({} steps back{}) x recent growth (last {} steps over the same {} steps a year earlier)",
                self.lag,
                if self.lag.is_multiple_of(7) && self.lag >= 364 {
                    ", so weekdays match"
                } else {
                    ""
                },
                self.window,
                self.window
            ),
            "previous" => {
                "the previous period x recent growth (the last step over the one before)".to_owned()
            }
            _ => format!(
                "same period one week earlier ({} steps back) x recent growth (last {} steps over the {} steps before)",
                self.lag, self.window, self.window
            ),
        }
    }
}

/// Period length in steps for a frequency: a week of days, a day of sub-daily steps, else 1.
pub fn period_length(frequency: Frequency) -> usize {
    let per_day = frequency.steps_per_day();
    if frequency.is_sub_daily() {
        per_day.round() as usize
    } else if (per_day - 1.0).abs() < 1e-9 {
        7
    } else {
        1
    }
}

/// One backtested budget line.
#[derive(Clone, Debug, Serialize)]
pub struct Example {
    /// Series index in the panel.
    pub series: usize,
    /// Series id.
    pub series_id: String,
    /// Origin: the model saw `y[..origin]`.
    pub origin: usize,
    /// First step of the period, counted from the series start.
    pub start: usize,
    /// Steps in the period.
    pub len: usize,
    /// The planning rule's plan.
    pub planned: f64,
    /// What happened.
    pub actual: f64,
    /// Forecast mean of the period.
    pub mean: f64,
    /// The forecast's waste probability.
    pub raw_probability: f64,
    /// The classifier's features.
    pub features: RiskFeatures,
    /// Waste beyond tolerance happened.
    pub wasted: bool,
    /// Whether the series had a known backtest error at the origin; the first origins of a
    /// series have none and are left out of both splits (a placeholder value would be a
    /// feature whose meaning changes between training and evaluation).
    pub has_backtest_error: bool,
    /// In the training split.
    pub train: bool,
    /// In the evaluation split.
    pub test: bool,
}

/// One origin's forecasts of all its periods, before features that need other origins.
struct OriginResult {
    examples: Vec<Example>,
    mase: Option<f64>,
}

/// The backtested plans of a dataset and the rule that set them.
#[derive(Clone, Debug)]
pub struct PlanBacktest {
    /// The planning rule used.
    pub rule: PlanningRule,
    /// Origins per fit of the model.
    pub refit_every: usize,
    /// Every backtested period, split.
    pub examples: Vec<Example>,
    /// Whether series were held out as well as time.
    pub held_out_series: bool,
}

/// Backtests plans on `dataset` and splits them. Fails when there is nothing to learn from.
pub fn backtest_plans(dataset: &Dataset, options: &RiskOptions) -> Result<PlanBacktest, Error> {
    let fail = |message: String| Error::Risk { message };
    let manifest = &dataset.manifest;
    let panel = &dataset.panel;
    let frequency = panel.frequency();
    let horizon = manifest.forecast.horizon;
    let len = period_length(frequency);
    if len > horizon {
        return Err(fail(format!(
            "the forecast horizon ({horizon} steps) is shorter than one period ({len} steps)"
        )));
    }
    let season = manifest
        .forecast
        .season_lengths
        .first()
        .copied()
        .unwrap_or(1);
    let shortest = panel.series().iter().map(|s| s.len()).min().unwrap_or(0);
    let span = options.origins * len + horizon;
    let rule = PlanningRule::for_data(frequency, shortest, span);
    let periods: Vec<usize> = (0..horizon / len).map(|k| k * len).collect();
    let line = BudgetLine::new(1.0, 1.0, Some(options.tolerance), None, None)
        .map_err(|e| fail(format!("--tolerance: {e}")))?;
    let min_history = rule.lag + rule.window + 2 * season.max(len);
    let mut tasks = Vec::new();
    for (i, s) in panel.series().iter().enumerate() {
        let last = s.len().saturating_sub(horizon);
        for k in 0..options.origins {
            let Some(origin) = last.checked_sub(k * len) else {
                break;
            };
            if origin < min_history {
                break;
            }
            tasks.push((i, origin, k));
        }
    }
    if tasks.is_empty() {
        return Err(fail(format!(
            "no series is long enough: the planning rule and model need {min_history} observations before an origin"
        )));
    }
    // One fit per group of `refit_every` origins, every series cut at the group's earliest
    // origin (a global model learns from all of them; only the series with enough history are
    // assessed); the group's later origins are reached by absorbing the observations before
    // them, as the service does between refits.
    let forecaster = dataset.forecaster(options.model, options.input_size)?;
    let progress = progress::bar(options.progress, tasks.len(), "risk backtest", "origins");
    let assessed: HashSet<(usize, usize, usize)> = tasks.iter().copied().collect();
    let origin_at = |s: &Series, k: usize| s.len().saturating_sub(horizon).saturating_sub(k * len);
    // The origins where some series is assessed, latest first, in groups of one fit each.
    let mut ks: Vec<usize> = tasks.iter().map(|task| task.2).collect();
    ks.sort_unstable();
    ks.dedup();
    let refit_every = options
        .refit_every
        .unwrap_or_else(|| default_refit_every(options.model, ks.len()))
        .max(1);
    let context = OriginContext {
        dataset,
        options,
        rule,
        line,
        periods: &periods,
        horizon,
        len,
        season,
    };
    // Group by group, so that only the fits in progress are held.
    let per_group: Vec<Vec<((usize, usize), OriginResult)>> = ks
        .par_chunks(refit_every)
        .map(|group| {
            let Some(&earliest) = group.last() else {
                return Ok(Vec::new());
            };
            let cutoffs: Vec<usize> = panel
                .series()
                .iter()
                .map(|s| origin_at(s, earliest).max(1))
                .collect();
            let wanted: Vec<bool> = panel
                .series()
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    group
                        .iter()
                        .any(|&k| assessed.contains(&(i, origin_at(s, k), k)))
                })
                .collect();
            if !wanted.contains(&true) {
                return Ok(Vec::new());
            }
            let in_model = |source| Error::InModel {
                context: format!("risk: {} at origin {}", options.model, earliest + 1),
                source,
            };
            let mut fitted = forecaster
                .fit_for(panel, &cutoffs, &wanted)
                .map_err(in_model)?;
            let indices: HashMap<String, usize> = fitted
                .series_indices()
                .into_iter()
                .map(|(id, index)| (id.to_owned(), index))
                .collect();
            let observed: Vec<(String, usize)> = fitted
                .observed_columns()
                .into_iter()
                .filter_map(|name| {
                    let column = panel.exogenous().iter().position(|e| e.name == name)?;
                    Some((name.to_owned(), column))
                })
                .collect();
            let mut end = cutoffs;
            let mut results = Vec::new();
            // Earliest origin first: each later one absorbs the steps since the one before.
            for &k in group.iter().rev() {
                for (i, s) in panel.series().iter().enumerate() {
                    let (origin, Some(&index)) = (origin_at(s, k), indices.get(&s.id)) else {
                        continue;
                    };
                    if origin <= end[i] {
                        continue;
                    }
                    let exogenous: FutureValues = observed
                        .iter()
                        .map(|(name, c)| (name.clone(), s.exogenous[*c][end[i]..origin].to_vec()))
                        .collect();
                    fitted
                        .absorb(index, &s.target[end[i]..origin], &exogenous)
                        .map_err(in_model)?;
                    end[i] = origin;
                }
                let made = tasks
                    .par_iter()
                    .filter(|task| task.2 == k)
                    .map(|&(i, origin, _)| {
                        let result = context.assess(&fitted, &indices, i, origin);
                        progress.inc(1);
                        result
                    })
                    .collect::<Result<Vec<_>, Error>>()?;
                results.extend(made);
            }
            Ok(results)
        })
        .collect::<Result<_, Error>>()?;
    progress.finish_and_clear();
    // In the order of the tasks: by series, latest origin first.
    let mut results: Vec<((usize, usize), OriginResult)> =
        per_group.into_iter().flatten().collect();
    results.sort_by_key(|&((i, origin), _)| (i, std::cmp::Reverse(origin)));
    let mut examples = with_backtest_error(results, horizon);
    let n_series = panel.series().len();
    split(&mut examples, panel);
    Ok(PlanBacktest {
        rule,
        refit_every,
        examples,
        held_out_series: n_series >= HELD_OUT_SERIES_EVERY,
    })
}

/// What every origin's assessment reads.
struct OriginContext<'a> {
    dataset: &'a Dataset,
    options: &'a RiskOptions,
    rule: PlanningRule,
    line: BudgetLine,
    periods: &'a [usize],
    horizon: usize,
    len: usize,
    season: usize,
}

impl OriginContext<'_> {
    /// The budget lines of series `i` planned at `origin`, forecast by `fitted` (whose state
    /// for the series ends at `origin`), and the forecast's MASE over its horizon.
    fn assess(
        &self,
        fitted: &FittedForecaster,
        indices: &HashMap<String, usize>,
        i: usize,
        origin: usize,
    ) -> Result<((usize, usize), OriginResult), Error> {
        let fail = |message: String| Error::Risk { message };
        let (options, horizon, len) = (self.options, self.horizon, self.len);
        let frequency = self.dataset.panel.frequency();
        let s = &self.dataset.panel.series()[i];
        let y = &s.target;
        let first = options
            .input_size
            .map_or(0, |size| origin.saturating_sub(size));
        let index = indices.get(s.id.as_str()).copied().ok_or_else(|| {
            fail(format!(
                "series {:?} was not fitted at origin {origin}",
                s.id
            ))
        })?;
        let seed = seed(&s.id, origin);
        let paths = fitted
            .sample_paths(index, horizon, options.paths, seed, None)
            .map_err(|source| Error::InModel {
                context: format!("risk: sampling series {:?}", s.id),
                source,
            })?;
        let point: Vec<f64> = (0..horizon)
            .map(|t| paths.paths.iter().map(|p| p[t]).sum::<f64>() / paths.paths.len() as f64)
            .collect();
        let actual_steps = &y[origin..origin + horizon];
        let mase = civicast_model::metrics::mase_scale(&y[first..origin], self.season)
            .filter(|scale| *scale > 0.0)
            .map(|scale| {
                point
                    .iter()
                    .zip(actual_steps)
                    .map(|(f, a)| (f - a).abs())
                    .sum::<f64>()
                    / horizon as f64
                    / scale
            });
        let mut examples = Vec::new();
        for &offset in self.periods {
            let start = origin + offset;
            let Some(planned) = self.rule.plan(y, origin, start, len) else {
                continue;
            };
            let plan_line = BudgetLine {
                planned,
                ..self.line
            };
            let actual: f64 = y[start..start + len].iter().sum();
            let first_day = frequency
                .advance(s.start, start as i64)
                .and_then(|t| t.as_datetime())
                .map(|d| d.date());
            // The backtest MASE is filled in once every origin is done.
            let Some((demand, features)) =
                example_features(&plan_line, &paths, offset..offset + len, first_day, None)
            else {
                continue;
            };
            examples.push(Example {
                series: i,
                series_id: s.id.clone(),
                origin,
                start,
                len,
                planned,
                actual,
                mean: demand.mean(),
                raw_probability: features.raw_probability,
                features,
                wasted: actual < planned * (1.0 - options.tolerance),
                has_backtest_error: false,
                train: false,
                test: false,
            });
        }
        Ok(((i, origin), OriginResult { examples, mase }))
    }
}

/// The demand over `steps` of a forecast whose joint sample paths are `paths`, and the risk
/// features of `line` planned for those steps, as every example of the risk backtest is built:
/// the one definition the service also uses ([`RiskFeatures::of_paths`]). `None` when the paths
/// do not cover the steps.
pub fn example_features(
    line: &BudgetLine,
    paths: &SamplePaths,
    steps: std::ops::Range<usize>,
    first_day: Option<chrono::NaiveDate>,
    backtest_mase: Option<f64>,
) -> Option<(PeriodDemand, RiskFeatures)> {
    RiskFeatures::of_paths(line, paths, steps, first_day, backtest_mase)
}

/// Sets each example's backtest MASE: the mean MASE of its series' origins whose whole horizon
/// was observed by its own origin.
fn with_backtest_error(
    results: Vec<((usize, usize), OriginResult)>,
    horizon: usize,
) -> Vec<Example> {
    let scores: Vec<(usize, usize, f64)> = results
        .iter()
        .filter_map(|((i, origin), r)| Some((*i, *origin, r.mase?)))
        .collect();
    let mut examples = Vec::new();
    for (_, r) in results {
        for mut e in r.examples {
            let known: Vec<f64> = scores
                .iter()
                .filter(|(i, origin, _)| *i == e.series && origin + horizon <= e.origin)
                .map(|(_, _, m)| *m)
                .collect();
            if !known.is_empty() {
                e.features.backtest_mase = known.iter().sum::<f64>() / known.len() as f64;
                e.has_backtest_error = true;
            }
            examples.push(e);
        }
    }
    examples.sort_by_key(|e| (e.series, e.origin, e.start));
    examples
}

/// Marks the training and evaluation splits (see the module doc). The cut is a time, so series
/// of different lengths (a monthly panel of unlike series) are cut at the same date.
fn split(examples: &mut [Example], panel: &Panel) {
    let time = |e: &Example, position: usize| {
        let s = panel.series().get(e.series)?;
        panel
            .frequency()
            .advance(s.start, i64::try_from(position).ok()?)
    };
    let mut origins: Vec<TimePoint> = examples
        .iter()
        .filter(|e| e.has_backtest_error)
        .filter_map(|e| time(e, e.origin))
        .collect();
    origins.sort_unstable();
    let Some(&cut) = origins
        .get(((1.0 - HELD_OUT_TIME) * origins.len().saturating_sub(1) as f64).round() as usize)
    else {
        return;
    };
    let hold_series = panel.series().len() >= HELD_OUT_SERIES_EVERY;
    for e in examples.iter_mut() {
        let held_series =
            hold_series && e.series % HELD_OUT_SERIES_EVERY == HELD_OUT_SERIES_EVERY - 1;
        let ended_before = time(e, e.start + e.len).is_some_and(|t| t <= cut);
        let made_after = time(e, e.origin).is_some_and(|t| t >= cut);
        e.train = e.has_backtest_error && !held_series && ended_before;
        e.test = e.has_backtest_error && (held_series || !hold_series) && made_after;
    }
}

fn seed(id: &str, origin: usize) -> u64 {
    stable_seed(&[id.as_bytes(), &origin.to_le_bytes()])
}

/// Fits the classifier on `examples` (features standardised on them).
pub fn fit_classifier(examples: &[&Example]) -> Result<RiskClassifier, Error> {
    let fail = |message: String| Error::Risk { message };
    let n = examples.len();
    let d = FEATURE_NAMES.len();
    let positives = examples.iter().filter(|e| e.wasted).count();
    if positives == 0 || positives == n {
        return Err(fail(format!(
            "the {n} training periods are all {}: nothing to calibrate against",
            if positives == 0 {
                "without waste"
            } else {
                "wasted"
            }
        )));
    }
    let rows: Vec<[f64; 7]> = examples.iter().map(|e| e.features.vector()).collect();
    let mut mean = vec![0.0; d];
    let mut scale = vec![0.0; d];
    for j in 0..d {
        mean[j] = rows.iter().map(|r| r[j]).sum::<f64>() / n as f64;
        let var = rows.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n as f64;
        // A constant feature (e.g. the period length of a daily-periods dataset) gets scale 1
        // and, standardised to 0, no influence.
        scale[j] = if var > 1e-12 { var.sqrt() } else { 1.0 };
    }
    let x = Array2::from_shape_fn((n, d), |(i, j)| (rows[i][j] - mean[j]) / scale[j]);
    let y = Array1::from_iter(examples.iter().map(|e| usize::from(e.wasted)));
    let fitted = linfa_logistic::LogisticRegression::default()
        .alpha(L2_PENALTY)
        .max_iterations(MAX_ITERATIONS)
        .fit(&linfa::Dataset::new(x, y))
        .map_err(|e| fail(format!("logistic regression: {e}")))?;
    // linfa's "positive" class is the more frequent one, not the larger label: when that is
    // "no waste", its coefficients give P(no waste) = σ(z), and P(waste) = σ(−z).
    let sign = match fitted.labels().pos.class {
        1 => 1.0,
        _ => -1.0,
    };
    Ok(RiskClassifier {
        format: CLASSIFIER_FORMAT,
        features: FEATURE_NAMES.iter().map(|s| (*s).to_owned()).collect(),
        mean,
        scale,
        weights: fitted.params().iter().map(|w| sign * w).collect(),
        intercept: sign * fitted.intercept(),
        max_horizon_steps: examples
            .iter()
            .map(|e| e.features.horizon_steps)
            .fold(0.0, f64::max),
        period_steps: {
            let mut lengths: Vec<f64> = examples.iter().map(|e| e.features.period_steps).collect();
            lengths.sort_by(f64::total_cmp);
            lengths.dedup();
            lengths
        },
    })
}

/// The flag the service would raise from the raw probability, with its default thresholds.
pub fn raw_flag(e: &Example) -> Flag {
    FlagThresholds::default().flag(e.raw_probability)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_last_years_period_times_recent_growth() {
        // Lag 4, window 2: y grows 10% a "year".
        let rule = PlanningRule {
            lag: 4,
            window: 2,
            basis: "year",
        };
        let y = [10.0, 10.0, 10.0, 10.0, 11.0, 11.0, 11.0, 11.0, 0.0, 0.0];
        // Origin 8 (y[..8] known), period steps 8..10: a lag back is 4..6 = 22; growth is the
        // last 2 steps (22) over the 2 a lag earlier (y[2..4] = 20).
        let plan = rule.plan(&y, 8, 8, 2).unwrap();
        assert!((plan - 22.0 * 22.0 / 20.0).abs() < 1e-9);
        let growing = [10.0, 10.0, 10.0, 10.0, 11.0, 11.0, 12.1, 12.1, 0.0, 0.0];
        let plan = rule.plan(&growing, 8, 8, 2).unwrap();
        assert!((plan - 22.0 * 24.2 / 20.0).abs() < 1e-9);
        // A period reaching two lags past the origin is planned from two lags back.
        // Steps 9..13 one lag back (5..9) are not all observed at origin 8: use 1..5 (41).
        let two_back = rule.plan(&y, 8, 9, 4).unwrap();
        assert!((two_back - 41.0 * 22.0 / 20.0).abs() < 1e-9, "{two_back}");
        assert_eq!(rule.plan(&y, 5, 5, 2), None, "not enough history");
    }

    fn synthetic(n: usize, shift: f64) -> Vec<Example> {
        // Waste happens with exactly the raw probability, so a classifier must learn to return
        // about the raw probability.
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        (0..n)
            .map(|i| {
                let p: f64 = (rng.random::<f64>() * 0.9 + shift).clamp(0.01, 0.99);
                let u: f64 = rng.random();
                Example {
                    series: 0,
                    series_id: "s".into(),
                    origin: i,
                    start: i,
                    len: 7,
                    planned: 1.0,
                    actual: 1.0,
                    mean: 1.0,
                    raw_probability: p,
                    features: RiskFeatures {
                        raw_probability: p,
                        gap_sd: 0.0,
                        horizon_steps: 7.0,
                        period_steps: 7.0,
                        day_of_year: (i % 365) as f64 + 1.0,
                        backtest_mase: 1.0,
                    },
                    wasted: u < p,
                    has_backtest_error: true,
                    train: true,
                    test: false,
                }
            })
            .collect()
    }

    #[test]
    fn the_classifier_learns_that_a_calibrated_probability_is_already_right() {
        // Once with waste the minority class, once the majority: linfa calls the more frequent
        // class positive, and the stored weights must still give P(waste).
        for shift in [-0.3, 0.4] {
            let examples = synthetic(4000, shift);
            let refs: Vec<&Example> = examples.iter().collect();
            let classifier = fit_classifier(&refs).unwrap();
            for p in [0.1, 0.5, 0.9] {
                let f = RiskFeatures {
                    raw_probability: p,
                    ..examples[0].features
                };
                let q = classifier.probability(&f);
                assert!((q - p).abs() < 0.06, "shift {shift}: raw {p} -> {q}");
            }
        }
    }

    #[test]
    fn daily_data_plan_from_a_year_back_only_with_two_years() {
        let long = PlanningRule::for_data(Frequency::Days(1), 1000, 100);
        assert_eq!((long.lag, long.window, long.basis), (364, 28, "year"));
        let short = PlanningRule::for_data(Frequency::Days(1), 500, 100);
        assert_eq!((short.lag, short.window, short.basis), (7, 7, "week"));
        let hourly = PlanningRule::for_data(Frequency::Hours(1), 8760, 2400);
        assert_eq!((hourly.lag, hourly.basis), (168, "week"));
        assert_eq!(period_length(Frequency::Days(1)), 7);
        assert_eq!(period_length(Frequency::Minutes(30)), 48);
        assert_eq!(period_length(Frequency::Weeks(1)), 1);
    }

    #[test]
    fn monthly_and_quarterly_data_plan_from_the_same_period_a_year_back() {
        // Seven years of months; the origins need not all fit a year back, early ones are
        // skipped.
        let monthly = PlanningRule::for_data(Frequency::Months(1), 84, 112);
        assert_eq!(
            (monthly.lag, monthly.window, monthly.basis),
            (12, 1, "year")
        );
        assert!(!monthly.describe().contains("weekdays"));
        let quarterly = PlanningRule::for_data(Frequency::Months(3), 48, 40);
        assert_eq!((quarterly.lag, quarterly.basis), (4, "year"));
        let short = PlanningRule::for_data(Frequency::Months(1), 30, 112);
        assert_eq!((short.lag, short.basis), (1, "previous"));
        let weekly = PlanningRule::for_data(Frequency::Weeks(1), 200, 100);
        assert_eq!((weekly.lag, weekly.basis), (52, "year"));
    }
}
