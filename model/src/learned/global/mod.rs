//! A global model: learned regressors trained across every series of a panel, forecasting
//! recursively, combined per series — with statistical models fitted on each series alone, for
//! `auto` — and calibrated by conformal prediction.
//!
//! # Fitting, nested in time
//!
//! [`fit_global`] takes one cutoff per series (the training part is `target[..cutoff]`) and never
//! reads a value at or after it. It fits in two stages:
//!
//! 1. **Calibration.** Each member regressor is fitted on the data before `cutoff - span`
//!    ([`CalibrationSpec::span`]), then forecasts recursively from many origins inside the last
//!    `span` steps (up to [`CalibrationSpec::max_origins`] per series, evenly spaced, each at
//!    least `horizon` steps before the cutoff so that every forecast step has an actual). Those
//!    forecasts are out of sample — the model never saw the values they are compared with — and
//!    their errors are what conformal prediction needs. Future-known exogenous values are the
//!    actual ones, as in the protocol's backtests. With [`CalibrationSpec::refits`] above 1 the
//!    members are also refitted at even steps inside the span, and each origin is forecast by
//!    the latest fit before it: the final model forecasts from the day it was fitted, and
//!    errors of a fit that has not seen the last weeks would overstate its errors.
//!    Statistical members (`statistical.rs`) are fitted per series at each fold's cutoff and
//!    reach each origin by absorbing the observations before it, so they are weighed on the same
//!    out-of-sample errors.
//! 2. **Final fit.** Each member is refitted on everything before the cutoff.
//!
//! `stages.rs` runs this as three steps — the members across series, then any subset of the
//! series, then the whole — so that a fit can be spread over machines with the same result.
//!
//! # Combination
//!
//! With several members, each series gets the convex combination of the members' forecasts that
//! minimises the mean absolute calibration error (a grid over the simplex in steps of 0.05; with
//! more than three members, forward selection in the same steps). With statistical members the
//! choice is in two stages: the learned members' weights and the statistical members' weights,
//! each on its own, then the share of each group's combination, judged on group combinations
//! whose weights were chosen on the other half of the origins — so a group that does not help
//! out of sample leaves the other's combination as it would be alone. A series with fewer than
//! 20 calibration trajectories takes the weights chosen on every series' trajectories together,
//! as it takes their errors. The choice uses the calibration origins only, so in a backtest it
//! never looks at the evaluation window — the selection is nested. A member that does not help gets weight 0. Each weight is judged on thousands of
//! errors (up to 400 origins times the horizon), and the combination's calibration errors are
//! cross-fitted, so the finer grid does not flatter them (`docs/accuracy-history.md`, "Calibration
//! choices", has what it changed).
//!
//! # Calibrated uncertainty
//!
//! The calibration errors of the combined forecast are kept per series and horizon step, as whole
//! trajectories (one per origin) on the series' scaled axis. The quantile `p` at step `j` is the
//! point forecast plus the empirical `p`-quantile of the step-`j` errors times the series' scale:
//! split-conformal intervals per horizon step, as StatsForecast's and MLForecast's conformal
//! intervals, but signed (so skewed errors give skewed bands) and from many more origins than
//! their few windows. Bands follow the level: a positive series keeps its errors relative to the
//! point forecast; a series with zeros, which cannot, keeps absolute errors divided by a power of
//! the forecast fitted to its own calibration errors ([`LevelScaling`]), so a quiet night does not
//! get a busy afternoon's band. With [`CalibrationSpec::phase_period`] set, errors are also
//! divided by the size profile of the time of day (or weekday) their step landed on, and a
//! forecast's quantiles multiplied by that of the phase each step lands on (module `phase`), so
//! the afternoon is not given the spread of all hours pooled. With [`CalibrationSpec::condition`]
//! set, errors are then divided by the size profile of the value a future-known exogenous column
//! (the one that explains most of their size: temperature, rain) had at their target time, and a
//! forecast's quantiles multiplied by the entry of each step's own future value (module
//! `condition`), so a hot afternoon is not given the spread of mild ones. A combination's errors are
//! cross-fitted: the origins are split into two halves (alternate blocks of `horizon` steps) and
//! each origin's error is that of the weights chosen on the other half, because weights chosen on
//! an error make it look smaller than the combination's errors on new data. Errors are not exchangeable over time — volatility drifts,
//! regimes change — so each series' errors are then widened (or narrowed) by an adaptive scale: the
//! factor that adaptive conformal inference reaches walking forward through the calibration span,
//! checking each trajectory against the intervals the earlier ones gave (see
//! [`CalibrationSpec::adapt`]). A sample path is the point forecast plus one whole error trajectory
//! drawn at random, so paths have exactly the marginal quantiles of the intervals and the
//! correlation between steps that the model's real errors have — which is what sums over a month
//! need.
//! Series too short for their own calibration origins use the errors of all series pooled. Steps
//! beyond the calibrated horizon reuse the last step's errors widened by `sqrt(step / horizon)`.
//! A series whose training part is never negative gets forecasts, quantiles and paths clipped at
//! 0.

use serde::{Deserialize, Serialize};

mod calibrate;
mod combine;
mod condition;
mod fallback;
mod forecast;
mod level;
mod members;
mod memo;
mod params;
mod phase;
mod scaling;
mod stages;
mod statistical;

pub use condition::ConditionProfile;
pub use fallback::NaiveFallback;
pub use forecast::IntervalSource;
pub use level::LevelScaling;
pub use members::{FittedLearner, LearnerParams};
pub use memo::FitMemo;
pub use params::{CalibrationSpec, GlobalParams, StatisticalMembers};
pub use stages::{GlobalPart, GlobalShared, assemble, fit_part, fit_shared, prepare};

use combine::Combination;

use crate::error::ModelError;
use crate::features::{Featurizer, SeriesScale, TrainingSet};
use crate::models::{FittedModel, ModelId};
use crate::panel::{Panel, Series};

/// A series as the fitted global model knows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GlobalSeries {
    /// Series id.
    pub id: String,
    /// Where its forecasts start: the cutoff it was trained to (training part
    /// `target[..cutoff]`), moved on by every observation taken in since
    /// ([`FittedGlobal::advance`]).
    pub cutoff: usize,
    /// The scale of its training part.
    pub scale: SeriesScale,
    /// Each member's weight in its forecast (summing to 1).
    pub weights: Vec<f64>,
    /// Each member's mean absolute calibration error, on the scaled axis (NaN without origins).
    #[serde(with = "crate::serde_nan::vec")]
    pub calibration_mae: Vec<f64>,
    /// Calibration error trajectories of the combined forecast on the scaled axis, row-major:
    /// `errors[o * horizon + j]` is origin `o`'s error at step `j`. Empty when the series had no
    /// calibration origins (it then uses all series' errors).
    pub errors: Vec<f64>,
    /// The weight of each error trajectory in quantiles and path draws (see
    /// [`CalibrationSpec::half_life`]); empty means equal weights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_weights: Vec<f64>,
    /// Whether forecasts are clipped at 0 (its training part is never negative).
    pub non_negative: bool,
    /// Whether `errors` are relative to the point forecast on the series' own scale (see
    /// [`CalibrationSpec::relative`]) rather than absolute on the scaled axis.
    #[serde(default)]
    pub relative: bool,
    /// The factor `errors` were multiplied by so that the intervals would have covered the
    /// calibration span walking forward through it (1 when not adapted).
    #[serde(default = "one")]
    pub adaptive_scale: f64,
    /// How its absolute `errors` grow with the point forecast; they are stored divided by
    /// [`LevelScaling::factor`] of the forecast they belong to. `None`: they do not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level_scaling: Option<LevelScaling>,
    /// The size of its errors by phase of the cycle of [`CalibrationSpec::phase_period`] steps
    /// (entry `p` for target times of phase `p`, see
    /// [`Frequency::phase`](crate::time::Frequency::phase)), relative to their
    /// mean; `errors` are stored divided by the entry of the phase their step landed on. Empty:
    /// no profile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phase_scale: Vec<f64>,
    /// The phase of its first forecast step (index `cutoff`) in that cycle.
    #[serde(default)]
    pub cutoff_phase: usize,
    /// The size of its errors by the value of one future-known exogenous column at their target
    /// time (see [`CalibrationSpec::condition`]); `errors` are stored divided by the entry of
    /// the value their step landed on. `None`: no profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<ConditionProfile>,
    /// The factor every series' pooled errors are multiplied by in its intervals, when it has
    /// too few trajectories of its own (see [`FittedGlobal::interval_source`]): how much larger
    /// its own errors are than the pool's, shrunk towards 1 by how few they are, at least 1.
    /// 1 for a series with enough errors of its own, and in fits made before it existed.
    #[serde(default = "one")]
    pub pooled_scale: f64,
    /// Seasonal naive's error scale on its training part: its intervals when no series has
    /// calibration errors (see [`NaiveFallback`]). `None` in fits made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub naive: Option<NaiveFallback>,
    /// Its statistical members, fitted on its training part, in the order of
    /// [`FittedGlobal::statistical`]; their weights follow the learned members' in `weights`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statistical: Vec<FittedModel>,
}

/// A series with fewer calibration trajectories than this uses the errors of every series,
/// pooled: the 95% band's 2.5% and 97.5% quantiles need about twenty errors a step to fall
/// between errors rather than at the extremes.
pub(super) const MIN_OWN_TRAJECTORIES: usize = 20;

fn one() -> f64 {
    1.0
}

/// A fitted global model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FittedGlobal {
    /// How rows are built.
    pub featurizer: Featurizer,
    /// The fitted members.
    pub members: Vec<FittedLearner>,
    /// The calibrated horizon.
    pub horizon: usize,
    /// Per series, in panel order.
    pub series: Vec<GlobalSeries>,
    /// The range recursive predictions are held to on the scaled axis (see [`Bounds`]).
    pub bounds: Bounds,
    /// Its statistical members (see [`StatisticalMembers`]), fitted per series in
    /// [`GlobalSeries::statistical`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statistical: Vec<ModelId>,
}

/// Guard rails for recursion: the range of the scaled training targets widened by half its width
/// on each side. A one-step model fed its own predictions can run away (an MLP extrapolates
/// linearly outside the data it saw); holding each step inside what training data make plausible
/// stops one bad step from compounding over the horizon. Series that are never negative are also
/// held at or above their scaled zero.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// Lowest allowed scaled value.
    pub low: f64,
    /// Highest allowed scaled value.
    pub high: f64,
}

impl Bounds {
    pub(super) fn of(set: &TrainingSet) -> Bounds {
        let (lo, hi) = set
            .level
            .iter()
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        if lo > hi {
            return Bounds {
                low: f64::NEG_INFINITY,
                high: f64::INFINITY,
            };
        }
        let margin = 0.5 * (hi - lo).max(1.0);
        Bounds {
            low: lo - margin,
            high: hi + margin,
        }
    }
}

/// Fits a global model on `panel`, series `s` trained on `target[..cutoffs[s]]`: the members
/// across series ([`fit_shared`]), then every series' calibration forecasts, combination and
/// calibrated errors ([`fit_part`]), then the whole ([`assemble`]).
pub fn fit_global(
    params: &GlobalParams,
    featurizer: &Featurizer,
    panel: &Panel,
    cutoffs: &[usize],
) -> Result<FittedGlobal, ModelError> {
    fit_global_with(params, featurizer, panel, cutoffs, None)
}

/// [`fit_global`], taking its calibration fits from `memo` when it holds them and keeping those
/// it makes there: the same model, value for value.
pub fn fit_global_with(
    params: &GlobalParams,
    featurizer: &Featurizer,
    panel: &Panel,
    cutoffs: &[usize],
    memo: Option<&FitMemo>,
) -> Result<FittedGlobal, ModelError> {
    let shared = fit_shared(params, featurizer, panel, cutoffs, memo)?;
    let all = vec![true; panel.series().len()];
    let part = fit_part(params, &shared, panel, cutoffs, &all, memo)?;
    assemble(params, shared, panel, cutoffs, vec![part])
}

/// The combination chosen on every series' calibration trajectories together, for the series
/// with fewer than [`MIN_OWN_TRAJECTORIES`] of their own: a weight chosen on a handful of
/// trajectories follows their noise, as their quantiles would. `None` when every series has
/// enough, or with a single member.
fn pooled_combination(
    params: &GlobalParams,
    calibration: &calibrate::Calibration,
    n_series: usize,
) -> Option<Combination> {
    let groups = params.member_groups();
    if groups.iter().sum::<usize>() < 2 || calibration.origins.is_empty() {
        return None;
    }
    let mut counts = vec![0usize; n_series];
    for &(s, _) in &calibration.origins {
        counts[s] += 1;
    }
    if counts.iter().all(|&c| c >= MIN_OWN_TRAJECTORIES) {
        return None;
    }
    let rows: Vec<usize> = (0..calibration.origins.len()).collect();
    Some(Combination::choose(
        calibration,
        &rows,
        &groups,
        params.calibration.cross_fit,
    ))
}

/// Fewer training rows than this and a global model is not worth fitting.
pub(super) const MIN_ROWS: usize = 20;

/// Training rows of every series up to its cutoff.
pub(super) fn stacked(
    featurizer: &Featurizer,
    series: &[Series],
    cutoffs: &[usize],
) -> Result<TrainingSet, ModelError> {
    let mut set = featurizer.empty_training_set();
    for (s, &c) in series.iter().zip(cutoffs) {
        featurizer.append_series(&mut set, s, c)?;
    }
    Ok(set)
}

/// One series to forecast: its data up to `origin` (future-known exogenous columns must reach
/// `origin + horizon`; a missing value is NaN, which the regressors treat as unknown).
#[derive(Clone, Copy, Debug)]
pub struct ForecastInput<'a> {
    /// Index of the series in [`FittedGlobal::series`].
    pub index: usize,
    /// Its data.
    pub series: &'a Series,
    /// The forecast starts at `target[origin]`; `target[..origin]` is known.
    pub origin: usize,
}

#[cfg(test)]
pub(crate) mod tests;
