//! Feature rows at forecast time, for the recursive (one-step-ahead, fed back) strategy.
//!
//! [`RecursiveState`] copies what may be known at the origin — the scaled target up to the origin
//! (the last [`Featurizer::lookback`] values are enough), the historic exogenous columns up to
//! the origin, and the future-known columns up to the origin as far back as their windows reach —
//! and nothing else: it holds no reference to the series, so it cannot read the future. Each step
//! the caller asks for the next row (passing the future-known exogenous values at that step, which
//! the state keeps for the windows of later steps), predicts, and pushes the prediction, which
//! later rows read as a lag.
//!
//! Historic exogenous lags that reach past the origin take the last value observed at the origin
//! (carried forward): a lag-1 weather observation at step 3 is not known, and the most recent
//! known value is the least-bad stand-in. Training rows never need this (their historic lags are
//! all observed), so a model meets carried values only at horizon steps beyond the smallest lag;
//! specs that rely heavily on historic columns should use lags of at least the horizon.
//!
//! The state is small and `Clone`, so sample paths can each run their own copy.

use super::{Featurizer, SeriesScale, historic_lag};
use crate::error::ModelError;
use crate::panel::Series;
use crate::time::TimePoint;

/// A series' known past at a forecast origin, extended by the predictions pushed so far.
#[derive(Clone, Debug)]
pub struct RecursiveState<'a> {
    featurizer: &'a Featurizer,
    scale: SeriesScale,
    /// Scaled targets (or their changes, when the spec differences): the tail of the observed
    /// part, then the pushed predictions.
    past: Vec<f64>,
    /// The last scaled level, observed or pushed: what a predicted change is added to.
    level: f64,
    /// Per historic column (in the featurizer's order), its values up to the origin.
    historic: Vec<Vec<f64>>,
    /// Per future-known column (in the featurizer's order), its values over the widest window
    /// before the origin, then the values given for each step so far: what its windows average.
    known: Vec<Vec<f64>>,
    /// Values of each `known` column before the origin.
    known_before: usize,
    start: TimePoint,
    /// Number of observations before the first forecast step.
    origin: usize,
    /// Predictions pushed so far: the next row is for horizon step `steps` (0-based).
    steps: usize,
}

impl<'a> RecursiveState<'a> {
    /// The state of `series` at the origin `origin` (the forecast starts at index `origin`; the
    /// known part is `target[..origin]`), on `scale` — the scale the model was trained with for
    /// this series, e.g. from [`TrainedSeries::scale`](super::TrainedSeries::scale), or
    /// [`Featurizer::scale_for`] of `target[..origin]` when training and forecast share the
    /// cutoff.
    pub fn new(
        featurizer: &'a Featurizer,
        series: &Series,
        origin: usize,
        scale: SeriesScale,
    ) -> Result<Self, ModelError> {
        featurizer
            .check_series(series, origin)
            .map_err(|reason| ModelError::InvalidSeries {
                id: series.id.clone(),
                reason,
            })?;
        let lookback = featurizer.lookback();
        if origin < lookback {
            return Err(ModelError::TooShort {
                needed: lookback,
                got: origin,
            });
        }
        let tail = origin - lookback..origin;
        let levels: Vec<f64> = series
            .target
            .get(tail.clone())
            .unwrap_or_default()
            .iter()
            .map(|&v| scale.scale(v))
            .collect();
        let level = levels.last().copied().unwrap_or(f64::NAN);
        let past = if featurizer.spec.difference {
            super::training::changes(&levels)
        } else {
            levels
        };
        let historic = featurizer
            .historic
            .iter()
            .map(|&j| {
                series
                    .exogenous
                    .get(j)
                    .and_then(|column| column.get(tail.clone()))
                    .map(<[f64]>::to_vec)
                    .unwrap_or_default()
            })
            .collect();
        // Windows over future-known columns reach `window - 1` values back, before the origin at
        // the first steps (within the lookback); without windows only the step's own value is
        // read, and nothing needs copying.
        let known_before = if featurizer.spec.exogenous {
            let widest = featurizer.spec.known_windows.iter().max().copied();
            widest.map_or(0, |w| w - 1)
        } else {
            0
        };
        let known = featurizer
            .future_known
            .iter()
            .map(|&j| {
                series
                    .exogenous
                    .get(j)
                    .and_then(|column| column.get(origin - known_before..origin))
                    .map(<[f64]>::to_vec)
                    .unwrap_or_default()
            })
            .collect();
        Ok(RecursiveState {
            featurizer,
            scale,
            past,
            level,
            historic,
            known,
            known_before,
            start: series.start,
            origin,
            steps: 0,
        })
    }

    /// The scale targets and predictions are on.
    pub fn scale(&self) -> SeriesScale {
        self.scale
    }

    /// The 0-based horizon step of the next row (the number of predictions pushed so far).
    pub fn step(&self) -> usize {
        self.steps
    }

    /// The time point of the next row.
    pub fn next_time(&self) -> Option<TimePoint> {
        let index = i64::try_from(self.origin.checked_add(self.steps)?).ok()?;
        self.featurizer.frequency().advance(self.start, index)
    }

    /// The feature row for the next step, given the values at that step of the future-known
    /// exogenous columns, in the order of [`Featurizer::future_known_names`]. The state keeps
    /// them for the windows of later steps; asking again for the same step replaces them.
    pub fn next_row(&mut self, future_known: &[f64]) -> Result<Vec<f64>, ModelError> {
        let mut row = Vec::with_capacity(self.featurizer.n_cols());
        self.push_next_row(future_known, &mut row)?;
        Ok(row)
    }

    /// Appends the next row to `out` (to batch the rows of many series or paths into one matrix).
    pub fn push_next_row(
        &mut self,
        future_known: &[f64],
        out: &mut Vec<f64>,
    ) -> Result<(), ModelError> {
        let expected = self.featurizer.future_known.len();
        if future_known.len() != expected {
            return Err(ModelError::ShapeMismatch {
                what: "future-known values per forecast step",
                expected,
                got: future_known.len(),
            });
        }
        let time = self.next_time().ok_or(ModelError::OutOfTimeRange {
            what: "a forecast step",
        })?;
        // A step whose row was never asked for (its value pushed directly) has unknown inputs.
        let at = self.known_before + self.steps;
        for (column, &value) in self.known.iter_mut().zip(future_known) {
            column.resize(at, f64::NAN);
            column.push(value);
        }
        let historic = |k: usize, lag: usize| {
            self.historic
                .get(k)
                .map_or(f64::NAN, |observed| historic_lag(observed, self.steps, lag))
        };
        let known = |k: usize| self.known.get(k).map_or(&[][..], Vec::as_slice);
        self.featurizer
            .push_row(&self.past, time, known, historic, out);
        Ok(())
    }

    /// The scaled level a model's output for the next step stands for: the output itself, or
    /// the last level plus the output when the model predicts changes.
    pub fn level_of(&self, output: f64) -> f64 {
        if self.featurizer.spec.difference {
            self.level + output
        } else {
            output
        }
    }

    /// Appends a scaled level (a prediction turned into a level by [`Self::level_of`]); the
    /// next row is for the following step.
    pub fn push_scaled(&mut self, z: f64) -> Result<(), ModelError> {
        if !z.is_finite() {
            return Err(ModelError::NonFinite(self.origin + self.steps));
        }
        self.past.push(if self.featurizer.spec.difference {
            z - self.level
        } else {
            z
        });
        self.level = z;
        self.steps += 1;
        Ok(())
    }

    /// Appends a value on the series' own scale (a sampled path, or an actual value in a test).
    pub fn push_value(&mut self, y: f64) -> Result<(), ModelError> {
        self.push_scaled(self.scale.scale(y))
    }
}
