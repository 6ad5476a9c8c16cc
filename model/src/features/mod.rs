//! Feature engineering for global models trained across all series of a dataset.
//!
//! # Strategy: recursive, one step ahead
//!
//! A learned model here predicts one step, `y[t]`, from a row of features that only look at the
//! past of `t`. To forecast `h` steps it is applied `h` times, each prediction appended to the
//! history and read back as a lag by later steps. This is the strategy of the reference MLForecast +
//! LightGBM runs (`eval/run_anchors.py`), and it makes every lag valid at every step of the horizon:
//! a lag of 1 at step 5 is the model's own step-4 prediction, never a value after the origin. The
//! alternative, one model per horizon step (direct), needs `h` models and lags of at least `h`; it
//! can be built later on the same row code.
//!
//! # No look-ahead by construction
//!
//! Target features (lags and rolling statistics) are computed from a slice that *ends* just
//! before `t` — `&z[..t]` in training, the history so far in [`RecursiveState`] — so they cannot
//! read `t` or later whatever the lags are. The same function builds both kinds of row, so a
//! recursive row fed the actual values equals the training row at that time bit for bit (tested).
//! Exogenous columns follow their [`ExogenousRole`]: future-known ones enter at `t` itself (in a
//! backtest the caller passes their actual values after the cutoff: the protocol's oracle
//! setting); historic ones enter only as lags of at least 1 and, during recursion, only from values
//! at or before the origin: a lag that would reach past the origin takes the last observed value
//! (carried forward), because nothing later is known.
//!
//! # Scaling and identity
//!
//! Targets are scaled per series by the mean and standard deviation of the series' training part
//! ([`SeriesScale`]), so one model learns shapes across series of very different sizes; the scale is
//! kept with the rows and predictions are unscaled with it. Exogenous columns and calendar features
//! are left as they are: trees do not care, and the linear and neural models standardise their
//! inputs column-wise over the stacked matrix, which is a model concern. The series' identity is
//! deliberately not a feature: a global model should transfer across series and to new ones.
//!
//! # Layout and speed
//!
//! Columns come in a fixed order — target lags, rolling statistics, calendar, holidays,
//! future-known exogenous, historic exogenous lags — and exogenous names carry the
//! [`EXOGENOUS_PREFIX`], so a manifest column called `holiday` cannot clash with a built-in one.
//! Rows are dense and row-major (`Vec<f64>` plus a column count), the layout gradient boosting and
//! `ndarray` views take without copying. Rolling statistics are recomputed per row rather
//! than updated incrementally: a window of a few dozen to a few hundred additions is cheap next to
//! model training (all 21,900 training rows of the chicago panel with three years of input take
//! about 12–18 ms on the 2-core machine), and recomputation guarantees that the training and
//! recursive paths give identical bits.

mod calendar;
mod recursive;
mod scale;
mod spec;
mod training;

use serde::{Deserialize, Serialize};

pub use recursive::RecursiveState;
pub use scale::SeriesScale;
pub use spec::{
    CalendarFeature, DEFAULT_HOLIDAY_DISTANCE_CAP, FeatureSpec, HolidayFeatures, RollingFeature,
    RollingStat,
};
pub use training::{RowSource, TrainedSeries, TrainingSet};

use crate::calendar::HolidayCalendar;
use crate::error::ModelError;
use crate::panel::{ExogenousRole, ExogenousSpec, Panel};
use crate::time::{Frequency, TimePoint};

/// Prefix of exogenous column names in [`Featurizer::names`] (`exog_temp`, `exog_sensor_lag1`).
pub const EXOGENOUS_PREFIX: &str = "exog_";

/// A checked [`FeatureSpec`] bound to a dataset's frequency, exogenous columns and holiday
/// calendar: it names the columns and builds training and recursive rows.
///
/// It serialises as its inputs (spec, frequency, exogenous columns, calendar) and is rebuilt, and
/// so re-checked, when deserialised; a fitted model stores it to build the same rows at
/// prediction time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "FeaturizerConfig", into = "FeaturizerConfig")]
pub struct Featurizer {
    spec: FeatureSpec,
    frequency: Frequency,
    exogenous: Vec<ExogenousSpec>,
    holidays: Option<HolidayCalendar>,
    /// Indices (into `exogenous`) of the future-known columns, in order; features when the spec
    /// enables exogenous columns.
    future_known: Vec<usize>,
    /// Indices (into `exogenous`) of the historic columns used as lags.
    historic: Vec<usize>,
    names: Vec<String>,
    lookback: usize,
}

/// What a [`Featurizer`] is built from, and how it is stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct FeaturizerConfig {
    spec: FeatureSpec,
    frequency: Frequency,
    exogenous: Vec<ExogenousSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    holidays: Option<HolidayCalendar>,
}

impl TryFrom<FeaturizerConfig> for Featurizer {
    type Error = ModelError;

    fn try_from(c: FeaturizerConfig) -> Result<Self, ModelError> {
        Featurizer::new(c.spec, c.frequency, c.exogenous, c.holidays)
    }
}

impl From<Featurizer> for FeaturizerConfig {
    fn from(f: Featurizer) -> Self {
        FeaturizerConfig {
            spec: f.spec,
            frequency: f.frequency,
            exogenous: f.exogenous,
            holidays: f.holidays,
        }
    }
}

impl Featurizer {
    /// Checks `spec` for `frequency` and lays out the columns. Holiday columns appear only when
    /// the spec asks for them *and* a calendar is given; exogenous columns only when the spec
    /// enables them.
    pub fn new(
        spec: FeatureSpec,
        frequency: Frequency,
        exogenous: Vec<ExogenousSpec>,
        holidays: Option<HolidayCalendar>,
    ) -> Result<Self, ModelError> {
        spec.check(frequency)?;
        let with_role = |role: ExogenousRole| -> Vec<usize> {
            exogenous
                .iter()
                .enumerate()
                .filter(|(_, e)| e.role == role)
                .map(|(i, _)| i)
                .collect()
        };
        let future_known = with_role(ExogenousRole::FutureKnown);
        // Historic columns are read only to build their lags, so without exogenous features they
        // are dropped entirely (and need no lookback); future-known ones are still *taken* by
        // recursive rows, so callers pass the same values whatever the spec.
        let historic = if spec.exogenous {
            with_role(ExogenousRole::Historic)
        } else {
            Vec::new()
        };
        let used_future_known: &[usize] = if spec.exogenous { &future_known } else { &[] };

        let mut names: Vec<String> = spec.lags.iter().map(|l| format!("lag{l}")).collect();
        names.extend(
            spec.rolling
                .iter()
                .map(|r| format!("rolling_{}_lag{}_window{}", r.stat.name(), r.lag, r.window)),
        );
        for feature in &spec.calendar {
            names.extend(feature.column_names().iter().map(|n| (*n).to_owned()));
        }
        if spec.holidays.is_some() && holidays.is_some() {
            if calendar::holidays_by_day(frequency) {
                names.extend(
                    calendar::DAY_HOLIDAY_COLUMNS
                        .iter()
                        .map(|n| (*n).to_owned()),
                );
            } else {
                names.push(calendar::PERIOD_HOLIDAY_COLUMN.to_owned());
            }
        }
        // Exogenous names are prefixed: a manifest may well call a column "holiday" or "month".
        names.extend(
            used_future_known
                .iter()
                .map(|&i| format!("{EXOGENOUS_PREFIX}{}", exogenous[i].name)),
        );
        for &i in used_future_known {
            for window in &spec.known_windows {
                names.push(format!(
                    "{EXOGENOUS_PREFIX}{}_mean{window}",
                    exogenous[i].name
                ));
            }
        }
        for &i in &historic {
            for lag in &spec.historic_lags {
                names.push(format!("{EXOGENOUS_PREFIX}{}_lag{lag}", exogenous[i].name));
            }
        }
        let mut seen = std::collections::HashSet::with_capacity(names.len());
        if let Some(duplicate) = names.iter().find(|n| !seen.insert(n.as_str())) {
            return Err(ModelError::Invalid {
                what: "the feature spec",
                reason: format!(
                    "column {duplicate:?} would appear twice (a repeated lag or exogenous column \
                     name)"
                ),
            });
        }

        let target_lookback = spec
            .lags
            .iter()
            .copied()
            .chain(spec.rolling.iter().map(|r| r.lag + r.window - 1))
            .max()
            .unwrap_or(0);
        let historic_lookback = if historic.is_empty() {
            0
        } else {
            spec.historic_lags.iter().copied().max().unwrap_or(0)
        };
        // A window over a future-known column reads the `window - 1` values before `t`.
        let known_lookback = if used_future_known.is_empty() {
            0
        } else {
            spec.known_windows.iter().map(|w| w - 1).max().unwrap_or(0)
        };
        // Changes need the level one step before the first one read.
        let target_lookback = target_lookback + usize::from(spec.difference);
        Ok(Featurizer {
            lookback: target_lookback.max(historic_lookback).max(known_lookback),
            spec,
            frequency,
            exogenous,
            holidays,
            future_known,
            historic,
            names,
        })
    }

    /// A featurizer for `panel`'s frequency and exogenous columns.
    pub fn for_panel(
        spec: FeatureSpec,
        panel: &Panel,
        holidays: Option<HolidayCalendar>,
    ) -> Result<Self, ModelError> {
        Featurizer::new(
            spec,
            panel.frequency(),
            panel.exogenous().to_vec(),
            holidays,
        )
    }

    /// The spec it was built from.
    pub fn spec(&self) -> &FeatureSpec {
        &self.spec
    }

    /// The frequency rows are built for.
    pub fn frequency(&self) -> Frequency {
        self.frequency
    }

    /// The exogenous columns series are expected to carry, in order.
    pub fn exogenous(&self) -> &[ExogenousSpec] {
        &self.exogenous
    }

    /// Column names, in row order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Number of columns of a row.
    pub fn n_cols(&self) -> usize {
        self.names.len()
    }

    /// How many past steps a row needs: the first training row of a series is at this index, and
    /// a recursive forecast needs at least this many observations before its origin.
    pub fn lookback(&self) -> usize {
        self.lookback
    }

    /// Names of the future-known columns whose values [`RecursiveState::next_row`] takes, in
    /// order: all of the dataset's future-known columns, even when the spec leaves exogenous
    /// features out, so callers pass the same values whatever the spec.
    pub fn future_known_names(&self) -> Vec<&str> {
        self.future_known
            .iter()
            .map(|&i| self.exogenous[i].name.as_str())
            .collect()
    }

    /// The scale of a series whose training part is `training` (the identity when the spec does
    /// not scale).
    pub fn scale_for(&self, training: &[f64]) -> SeriesScale {
        if self.spec.scale {
            SeriesScale::fit(training)
        } else {
            SeriesScale::IDENTITY
        }
    }

    /// Appends one row for time `time`.
    ///
    /// - `past`: the scaled target strictly before `t` (its last element is `t - 1`);
    /// - `future_known(k)`: the values of the k-th future-known column up to and including `t`
    ///   (its last element is the value at `t`; at least the largest known window long);
    /// - `historic(k, lag)`: the value `lag` steps before `t` of the k-th historic column, as known
    ///   at the origin.
    ///
    /// Missing history (only possible when a caller skips the lookback check) gives NaN, never a
    /// panic.
    fn push_row<'v>(
        &self,
        past: &[f64],
        time: TimePoint,
        future_known: impl Fn(usize) -> &'v [f64],
        historic: impl Fn(usize, usize) -> f64,
        out: &mut Vec<f64>,
    ) {
        for &lag in &self.spec.lags {
            let value = past
                .len()
                .checked_sub(lag)
                .and_then(|i| past.get(i))
                .copied();
            out.push(value.unwrap_or(f64::NAN));
        }
        for r in &self.spec.rolling {
            let window = past
                .len()
                .checked_sub(r.lag - 1)
                .and_then(|end| Some(end.checked_sub(r.window)?..end))
                .and_then(|range| past.get(range));
            out.push(window.map_or(f64::NAN, |w| rolling_stat(r.stat, w)));
        }
        calendar::push_calendar(&self.spec.calendar, time, out);
        if let (Some(config), Some(holidays)) = (self.spec.holidays, &self.holidays) {
            calendar::push_holidays(holidays, config, self.frequency, time, out);
        }
        if self.spec.exogenous {
            for k in 0..self.future_known.len() {
                out.push(future_known(k).last().copied().unwrap_or(f64::NAN));
            }
            for k in 0..self.future_known.len() {
                let values = future_known(k);
                for &window in &self.spec.known_windows {
                    let mean = values
                        .len()
                        .checked_sub(window)
                        .and_then(|start| values.get(start..))
                        .map_or(f64::NAN, known_mean);
                    out.push(mean);
                }
            }
        }
        for k in 0..self.historic.len() {
            for &lag in &self.spec.historic_lags {
                out.push(historic(k, lag));
            }
        }
    }
}

/// `stat` over a non-empty window (NaN for an empty one).
fn rolling_stat(stat: RollingStat, window: &[f64]) -> f64 {
    if window.is_empty() {
        return f64::NAN;
    }
    let n = window.len() as f64;
    match stat {
        RollingStat::Mean => window.iter().sum::<f64>() / n,
        RollingStat::Std => {
            if window.len() < 2 {
                return f64::NAN;
            }
            let mean = window.iter().sum::<f64>() / n;
            let ss = window.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
            (ss / (n - 1.0)).sqrt()
        }
        RollingStat::Min => window.iter().copied().fold(f64::INFINITY, f64::min),
        RollingStat::Max => window.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    }
}

/// The mean of a window of a future-known column, over its finite values: a caller's future
/// inputs may leave a step unknown (NaN), and one unknown hour should not blank a day's mean.
/// NaN when no value is finite.
fn known_mean(window: &[f64]) -> f64 {
    let (sum, n) = window
        .iter()
        .filter(|v| v.is_finite())
        .fold((0.0, 0usize), |(s, n), &v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// The value of a historic column `lag` steps before `t`, where `observed` ends at the last known
/// value and `t` is `ahead` steps after the first unknown one. A lag that reaches past `observed`
/// carries its last value forward.
fn historic_lag(observed: &[f64], ahead: usize, lag: usize) -> f64 {
    match (observed.len() + ahead).checked_sub(lag) {
        Some(i) => observed
            .get(i)
            .or(observed.last())
            .copied()
            .unwrap_or(f64::NAN),
        // Before the first observation: unknown (the lookback check keeps rows from asking).
        None => f64::NAN,
    }
}

#[cfg(test)]
mod tests;
