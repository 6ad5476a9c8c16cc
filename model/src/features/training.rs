//! Training rows: every time point of a series' training part whose lags all exist, stacked over
//! the series of a panel into one dense row-major matrix.
//!
//! A cutoff index `c` splits a series into its training part `target[..c]` and the rest. Rows are
//! built for `t` in `lookback..c` (or the last `input_size` of those), each from `&z[..t]` (the
//! scaled target strictly before `t`), the calendar at `t`, the future-known columns at `t` and
//! historic columns before `t`, so nothing at or after `c` is read. Series too short for a single
//! row still get their scale recorded: a forecast from their end needs it.

use serde::{Deserialize, Serialize};

use super::{Featurizer, SeriesScale, historic_lag};
use crate::error::ModelError;
use crate::panel::{Panel, Series};
use crate::time::{Frequency, TimePoint};

/// Where a training row came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowSource {
    /// Index into [`TrainingSet::series`].
    pub series: usize,
    /// Index of the row's time point in its series.
    pub step: usize,
}

/// A series that contributed to a [`TrainingSet`], with the scale its rows were built on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainedSeries {
    /// Series id.
    pub id: String,
    /// The cutoff index: the training part was `target[..cutoff]`.
    pub cutoff: usize,
    /// The scale of its targets (and target features); predictions are unscaled with it.
    pub scale: SeriesScale,
}

/// Rows of features and their (scaled) targets, for fitting a one-step-ahead model.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct TrainingSet {
    /// Column names.
    pub names: Vec<String>,
    /// Features, row-major: row `i` is `x[i * n_cols .. (i + 1) * n_cols]`.
    pub x: Vec<f64>,
    /// What the model learns, one per row: the scaled target, or its change from the step before
    /// when the spec differences ([`FeatureSpec::difference`](super::FeatureSpec::difference)).
    pub y: Vec<f64>,
    /// The scaled target of each row (equal to `y` without differencing).
    #[serde(default)]
    pub level: Vec<f64>,
    /// Which series and time point each row came from.
    pub rows: Vec<RowSource>,
    /// The series, in the order they were added.
    pub series: Vec<TrainedSeries>,
}

impl TrainingSet {
    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.y.len()
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.names.len()
    }

    /// The features of row `i`.
    pub fn row(&self, i: usize) -> Option<&[f64]> {
        let n = self.n_cols();
        self.x
            .get(i.checked_mul(n)?..i.checked_add(1)?.checked_mul(n)?)
    }
}

/// The step-to-step changes of `z` (`NaN` for the first, which has no step before).
pub(crate) fn changes(z: &[f64]) -> Vec<f64> {
    std::iter::once(f64::NAN)
        .chain(z.windows(2).map(|w| w[1] - w[0]))
        .take(z.len())
        .collect()
}

impl Featurizer {
    /// An empty training set with this featurizer's columns, for [`Featurizer::append_series`].
    pub fn empty_training_set(&self) -> TrainingSet {
        TrainingSet {
            names: self.names.clone(),
            ..TrainingSet::default()
        }
    }

    /// The training rows of one series with training part `target[..cutoff]`.
    pub fn series_training_set(
        &self,
        series: &Series,
        cutoff: usize,
    ) -> Result<TrainingSet, ModelError> {
        let mut set = self.empty_training_set();
        self.append_series(&mut set, series, cutoff)?;
        Ok(set)
    }

    /// Stacks the training rows of every series of `panel`, each cut after its last observation
    /// at or before `cutoff` (the protocol's cutoff: the last training time point). Series that
    /// start after the cutoff contribute nothing but are still listed.
    pub fn training_set(
        &self,
        panel: &Panel,
        cutoff: TimePoint,
    ) -> Result<TrainingSet, ModelError> {
        if cutoff.as_datetime().is_some() == self.frequency.is_index() {
            return Err(ModelError::Invalid {
                what: "the cutoff",
                reason: format!(
                    "{cutoff} is not a time point of a {} series",
                    self.frequency
                ),
            });
        }
        let mut set = self.empty_training_set();
        for series in panel.series() {
            let c = observations_through(self.frequency, series, cutoff);
            self.append_series(&mut set, series, c)?;
        }
        Ok(set)
    }

    /// Appends the rows of `series` with training part `target[..cutoff]` to `set`.
    pub fn append_series(
        &self,
        set: &mut TrainingSet,
        series: &Series,
        cutoff: usize,
    ) -> Result<(), ModelError> {
        let invalid = |reason: String| ModelError::InvalidSeries {
            id: series.id.clone(),
            reason,
        };
        if set.names != self.names {
            return Err(ModelError::Invalid {
                what: "the training set",
                reason: "it was built with other feature columns".into(),
            });
        }
        self.check_series(series, cutoff).map_err(invalid)?;
        let training = series.target.get(..cutoff).unwrap_or_default();
        let scale = self.scale_for(training);
        let z: Vec<f64> = training.iter().map(|&v| scale.scale(v)).collect();
        let history = if self.spec.difference {
            changes(&z)
        } else {
            z.clone()
        };
        let first = match self.spec.input_size {
            Some(n) => self.lookback.max(cutoff.saturating_sub(n)),
            None => self.lookback,
        };
        let index = set.series.len();
        set.series.push(TrainedSeries {
            id: series.id.clone(),
            cutoff,
            scale,
        });
        let rows = cutoff.saturating_sub(first);
        set.x.reserve(rows * self.n_cols());
        set.y.reserve(rows);
        set.level.reserve(rows);
        set.rows.reserve(rows);
        for t in first..cutoff {
            let time = i64::try_from(t)
                .ok()
                .and_then(|k| self.frequency.advance(series.start, k))
                .ok_or_else(|| invalid(format!("time point {t} is out of range")))?;
            let future_known = |k: usize| {
                self.future_known
                    .get(k)
                    .and_then(|&j| series.exogenous.get(j)?.get(..=t))
                    .unwrap_or_default()
            };
            let historic = |k: usize, lag: usize| {
                self.historic
                    .get(k)
                    .and_then(|&j| series.exogenous.get(j)?.get(..t))
                    .map_or(f64::NAN, |observed| historic_lag(observed, 0, lag))
            };
            self.push_row(&history[..t], time, future_known, historic, &mut set.x);
            set.y.push(history[t]);
            set.level.push(z[t]);
            set.rows.push(RowSource {
                series: index,
                step: t,
            });
        }
        Ok(())
    }

    /// Why `series` cannot be featurized up to `cutoff`, if it cannot.
    pub(crate) fn check_series(&self, series: &Series, cutoff: usize) -> Result<(), String> {
        if cutoff > series.target.len() {
            return Err(format!(
                "cutoff index {cutoff} is beyond its {} observations",
                series.target.len()
            ));
        }
        if series.exogenous.len() != self.exogenous.len() {
            return Err(format!(
                "it has {} exogenous columns, the features expect {}",
                series.exogenous.len(),
                self.exogenous.len()
            ));
        }
        for (spec, column) in self.exogenous.iter().zip(&series.exogenous) {
            if column.len() < cutoff {
                return Err(format!(
                    "exogenous column {} has {} values, fewer than the cutoff index {cutoff}",
                    spec.name,
                    column.len()
                ));
            }
        }
        if !self.frequency.is_aligned(series.start) {
            return Err(format!(
                "its start {} is not a time point of frequency {}",
                series.start, self.frequency
            ));
        }
        Ok(())
    }
}

/// The number of observations of `series` at or before `cutoff` (a binary search over the time
/// grid, so it works for calendar months as well as fixed steps).
pub(crate) fn observations_through(
    frequency: Frequency,
    series: &Series,
    cutoff: TimePoint,
) -> usize {
    let at_or_before = |k: usize| {
        i64::try_from(k)
            .ok()
            .and_then(|k| frequency.advance(series.start, k))
            .is_some_and(|t| t <= cutoff)
    };
    let (mut lo, mut hi) = (0, series.target.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if at_or_before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

impl Featurizer {
    /// Appends the values at index `t` of `series`' future-known columns, in the order
    /// [`super::RecursiveState::next_row`] takes them (NaN where the series has no value at `t`).
    pub fn push_future_known(&self, series: &Series, t: usize, out: &mut Vec<f64>) {
        out.extend(self.future_known.iter().map(|&j| {
            series
                .exogenous
                .get(j)
                .and_then(|column| column.get(t))
                .copied()
                .unwrap_or(f64::NAN)
        }));
    }

    /// Number of future-known values a recursive row takes per step.
    pub fn n_future_known(&self) -> usize {
        self.future_known.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{FeatureSpec, RecursiveState};

    fn series(id: &str, start: i64, n: usize) -> Series {
        Series {
            id: id.into(),
            start: TimePoint::Step(start),
            target: (0..n).map(|i| i as f64).collect(),
            exogenous: vec![],
        }
    }

    fn lags_only(lags: Vec<usize>) -> FeatureSpec {
        FeatureSpec {
            lags,
            rolling: vec![],
            calendar: vec![],
            holidays: None,
            exogenous: true,
            historic_lags: vec![1],
            known_windows: vec![],
            scale: false,
            input_size: None,
            difference: false,
        }
    }

    #[test]
    fn rows_start_once_every_lag_exists_and_stop_before_the_cutoff() {
        let f = Featurizer::new(lags_only(vec![1, 3]), Frequency::Index, vec![], None).unwrap();
        let set = f.series_training_set(&series("a", 0, 10), 8).unwrap();
        assert_eq!(set.n_rows(), 5);
        assert_eq!(set.rows.first().map(|r| r.step), Some(3));
        assert_eq!(set.rows.last().map(|r| r.step), Some(7));
        assert_eq!(set.row(0), Some(&[2.0, 0.0][..]));
        assert_eq!(set.y, vec![3.0, 4.0, 5.0, 6.0, 7.0]);
        assert_eq!(set.row(5), None);
    }

    #[test]
    fn a_differencing_spec_learns_changes_from_lags_of_changes() {
        let mut spec = lags_only(vec![1, 2]);
        spec.difference = true;
        let f = Featurizer::new(spec, Frequency::Index, vec![], None).unwrap();
        // One more step of lookback: the first change read needs the level before it.
        assert_eq!(f.lookback(), 3);
        let squares = Series {
            target: (0..8).map(|i| (i * i) as f64).collect(),
            ..series("a", 0, 8)
        };
        let set = f.series_training_set(&squares, 8).unwrap();
        // Rows for t = 3..8: the target is the change t^2 - (t-1)^2 = 2t - 1, the lags are the
        // changes one and two steps back, the level is t^2.
        assert_eq!(set.y, vec![5.0, 7.0, 9.0, 11.0, 13.0]);
        assert_eq!(set.level, vec![9.0, 16.0, 25.0, 36.0, 49.0]);
        assert_eq!(set.row(0), Some(&[3.0, 1.0][..]));

        // At forecast time the state reads the same changes, turns a predicted change into a
        // level, and reads the pushed level back as a change.
        let mut state = RecursiveState::new(&f, &squares, 8, SeriesScale::IDENTITY).unwrap();
        assert_eq!(state.next_row(&[]).unwrap(), vec![13.0, 11.0]);
        assert_eq!(state.level_of(15.0), 64.0);
        state.push_scaled(64.0).unwrap();
        assert_eq!(state.next_row(&[]).unwrap(), vec![15.0, 13.0]);
    }

    #[test]
    fn coarse_data_is_differenced_by_default_and_daily_data_is_not() {
        assert!(FeatureSpec::default_for(Frequency::Months(1), &[12]).difference);
        assert!(FeatureSpec::default_for(Frequency::Months(3), &[4]).difference);
        assert!(FeatureSpec::default_for(Frequency::Weeks(1), &[52]).difference);
        assert!(!FeatureSpec::default_for(Frequency::Days(1), &[7, 365]).difference);
        assert!(!FeatureSpec::default_for(Frequency::Hours(1), &[24, 168]).difference);
    }

    #[test]
    fn input_size_keeps_only_the_last_rows_but_lags_reach_further_back() {
        let mut spec = lags_only(vec![2]);
        spec.input_size = Some(3);
        let f = Featurizer::new(spec, Frequency::Index, vec![], None).unwrap();
        let set = f.series_training_set(&series("a", 0, 10), 10).unwrap();
        assert_eq!(set.y, vec![7.0, 8.0, 9.0]);
        assert_eq!(set.x, vec![5.0, 6.0, 7.0]);
    }

    #[test]
    fn a_common_cutoff_truncates_each_series_at_its_own_index() {
        let panel = Panel::new(
            Frequency::Index,
            vec![],
            vec![
                series("a", 0, 10),
                series("b", 5, 10),
                series("late", 50, 3),
            ],
        )
        .unwrap();
        let f = Featurizer::for_panel(lags_only(vec![1]), &panel, None).unwrap();
        let set = f.training_set(&panel, TimePoint::Step(8)).unwrap();
        let cutoffs: Vec<usize> = set.series.iter().map(|s| s.cutoff).collect();
        assert_eq!(cutoffs, vec![9, 4, 0]);
        assert_eq!(set.n_rows(), 8 + 3);
        assert!(
            set.rows
                .iter()
                .all(|r| r.step < set.series[r.series].cutoff)
        );
        assert!(
            f.training_set(&panel, TimePoint::date(chrono::NaiveDate::MIN))
                .is_err()
        );
    }

    #[test]
    fn a_short_series_gives_no_rows_and_a_wrong_cutoff_an_error() {
        let f = Featurizer::new(lags_only(vec![5]), Frequency::Index, vec![], None).unwrap();
        let set = f.series_training_set(&series("a", 0, 4), 4).unwrap();
        assert_eq!((set.n_rows(), set.series.len()), (0, 1));
        assert!(f.series_training_set(&series("a", 0, 4), 5).is_err());
    }
}
