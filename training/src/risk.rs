//! Calibrating the budget-waste probability: backtested budget plans, their outcomes, and a
//! logistic regression from the forecast's probability (and context) to what actually happened.
//!
//! # Protocol
//!
//! 1. **Periods** lie within the dataset's forecast horizon: weeks for daily data (two per origin
//!    with horizon 14), days for hourly and half-hourly data, single steps for coarser data.
//! 2. **Origins** roll back from the end of each series one period apart (`--origins` per series,
//!    100 by default). At each origin the model is fitted afresh on the history before it (capped
//!    at the manifest's `input_size`), and `--paths` joint sample paths (1,000, as the service
//!    draws) give each period's demand distribution ([`civicast_model::risk::PeriodDemand`]).
//! 3. **Plans** follow a documented rule a budget office could have used, with no forecast:
//!    the same period a year earlier (364 days, so weekdays match) times the recent growth (the
//!    last 28 days over the same 28 days a year earlier). Datasets with less than two years of
//!    history (the hourly and half-hourly ones hold one year) use the same period a week earlier
//!    (two weeks for the second week ahead) times the last week over the week before.
//!    [`PlanningRule`] holds the lags.
//! 4. **Labels**: waste beyond tolerance happened, `actual < planned × (1 − tolerance)`.
//! 5. **Features** ([`RiskFeatures`]): the forecast-implied waste probability (as a logit), the
//!    plan's gap from the forecast mean in standard deviations, steps from origin to the period's
//!    end, period length, season (day of year on a circle), and the model's backtest MASE on the
//!    series — the mean MASE of that series' earlier origins whose outcomes were known by then,
//!    so no feature looks into the future. A series' first origins, with no earlier outcome to
//!    score, are left out of training and evaluation.
//! 6. **Split**: the last 30% of origins in time are held out, and so is every fourth series
//!    (when a dataset has at least four); the classifier trains on the other series' periods that
//!    ended before the held-out time, and is evaluated on held-out series in held-out time. A
//!    dataset with fewer than four series can only hold out time, and the report says so.
//!
//! The model is one of the fast statistical models of `civicast_model` (`--model`, default
//! `ets`; `mstl` and `snaive` are the alternatives worth trying), the same code the service
//! serves, so the probabilities calibrated here are the kind the service reports.
//!
//! Why linfa's logistic regression: the issue asks for the simplest model that can calibrate a
//! probability and take context into account. A logistic regression on the logit of the raw
//! probability is Platt scaling with extra features; linfa-logistic fits it with L-BFGS and a
//! small L2 penalty, and its fitted coefficients are seven numbers the service can apply
//! without any ML dependency ([`RiskClassifier`]). Trees or a network would need more data than a
//! few thousand backtested periods to beat it, and the issue admits them only if they do.

use civicast_model::forecast::stable_seed;
use civicast_model::risk::classifier::{
    CLASSIFIER_FORMAT, FEATURE_NAMES, RiskClassifier, RiskFeatures,
};
use civicast_model::risk::{BudgetLine, Flag, FlagThresholds, PeriodDemand};
use civicast_model::{Frequency, ModelId, SamplePaths};
use linfa::traits::Fit;
use ndarray::{Array1, Array2};
use rayon::prelude::*;
use serde::Serialize;

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
    /// Relative tolerance of the waste label.
    pub tolerance: f64,
    /// Fit on at most this many of the latest observations.
    pub input_size: Option<usize>,
    /// Show a progress bar.
    pub progress: bool,
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
    /// `year` or `week`: the words of the rule.
    pub basis: &'static str,
}

impl PlanningRule {
    /// The rule for series of at least `shortest` observations: a year back when two years and
    /// the origins fit, else a week back.
    pub fn for_data(frequency: Frequency, shortest: usize, needed_after: usize) -> Self {
        let per_day = frequency.steps_per_day();
        let steps = |days: f64| ((days * per_day).round() as usize).max(1);
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
                "same period one year earlier ({} steps back, so weekdays match) x recent growth (last {} steps over the same {} steps a year earlier)",
                self.lag, self.window, self.window
            ),
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
    // One fit per origin `k`, every series cut `k` periods before its last full horizon (a
    // global model learns from all of them; only the series with enough history are assessed).
    let forecaster = dataset.forecaster(options.model, options.input_size)?;
    let progress = progress::bar(options.progress, tasks.len(), "risk backtest", "origins");
    let assessed: std::collections::HashSet<(usize, usize, usize)> =
        tasks.iter().copied().collect();
    // Origin by origin, so that only the fits in progress are held.
    let per_origin: Vec<Vec<((usize, usize), OriginResult)>> = (0..options.origins)
        .into_par_iter()
        .map(|k| {
            let mut cutoffs = Vec::with_capacity(panel.series().len());
            let mut wanted = Vec::with_capacity(panel.series().len());
            for (i, s) in panel.series().iter().enumerate() {
                let origin = s.len().saturating_sub(horizon).saturating_sub(k * len);
                cutoffs.push(origin.max(1));
                wanted.push(assessed.contains(&(i, origin, k)));
            }
            if !wanted.contains(&true) {
                return Ok(Vec::new());
            }
            let fitted = forecaster
                .fit_for(panel, &cutoffs, &wanted)
                .map_err(|source| Error::InModel {
                    context: format!("risk: {} at origin {}", options.model, k + 1),
                    source,
                })?;
            let indices = fitted.series_indices();
            tasks
                .par_iter()
                .filter(|task| task.2 == k)
                .map(|&(i, origin, _)| {
                    let s = &panel.series()[i];
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
                        .map(|t| {
                            paths.paths.iter().map(|p| p[t]).sum::<f64>() / paths.paths.len() as f64
                        })
                        .collect();
                    let actual_steps = &y[origin..origin + horizon];
                    let mase = civicast_model::metrics::mase_scale(&y[first..origin], season)
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
                    for &offset in &periods {
                        let start = origin + offset;
                        let Some(planned) = rule.plan(y, origin, start, len) else {
                            continue;
                        };
                        let plan_line = BudgetLine { planned, ..line };
                        let actual: f64 = y[start..start + len].iter().sum();
                        let first_day = frequency
                            .advance(s.start, start as i64)
                            .and_then(|t| t.as_datetime())
                            .map(|d| d.date());
                        // The backtest MASE is filled in once every origin is done.
                        let Some((demand, features)) = example_features(
                            &plan_line,
                            &paths,
                            offset..offset + len,
                            first_day,
                            None,
                        ) else {
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
                    progress.inc(1);
                    Ok(((i, origin), OriginResult { examples, mase }))
                })
                .collect::<Result<Vec<_>, Error>>()
        })
        .collect::<Result<_, Error>>()?;
    progress.finish_and_clear();
    // In the order of the tasks: by series, latest origin first.
    let mut results: Vec<((usize, usize), OriginResult)> =
        per_origin.into_iter().flatten().collect();
    results.sort_by_key(|&((i, origin), _)| (i, std::cmp::Reverse(origin)));
    let mut examples = with_backtest_error(results, horizon);
    let n_series = panel.series().len();
    split(&mut examples, n_series);
    Ok(PlanBacktest {
        rule,
        examples,
        held_out_series: n_series >= HELD_OUT_SERIES_EVERY,
    })
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

/// Marks the training and evaluation splits (see the module doc). The time cut is a position
/// in the series, which is a time when the series share their start, as in the bundled data;
/// series that start at different times are cut at the same position, not the same date.
fn split(examples: &mut [Example], n_series: usize) {
    let mut origins: Vec<usize> = examples
        .iter()
        .filter(|e| e.has_backtest_error)
        .map(|e| e.origin)
        .collect();
    origins.sort_unstable();
    let Some(&cut) = origins
        .get(((1.0 - HELD_OUT_TIME) * origins.len().saturating_sub(1) as f64).round() as usize)
    else {
        return;
    };
    let hold_series = n_series >= HELD_OUT_SERIES_EVERY;
    for e in examples.iter_mut() {
        let held_series =
            hold_series && e.series % HELD_OUT_SERIES_EVERY == HELD_OUT_SERIES_EVERY - 1;
        e.train = e.has_backtest_error && !held_series && e.start + e.len <= cut;
        e.test = e.has_backtest_error && (held_series || !hold_series) && e.origin >= cut;
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
}
