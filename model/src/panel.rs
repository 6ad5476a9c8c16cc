//! A [`Panel`]: many regular series of one dataset, each with its target and exogenous columns.
//!
//! The panel is the hand-over point between data wrangling (the training crate reads and validates
//! files) and modelling. Its invariants are checked once, in [`Panel::new`], so models never
//! re-check them: every series is regular and gap-free (values at `start + k * frequency`), ids are
//! unique, every target value is finite, and every series carries one finite value per exogenous
//! column per time point.
//!
//! Storage is column-wise per series (`Vec<f64>` per column): models read whole columns of one
//! series far more often than rows across series.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::time::{Frequency, TimePoint};

/// When an exogenous column's values are available, which decides how models may use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExogenousRole {
    /// Known over the forecast horizon too (schedules, calendars, weather forecasts).
    FutureKnown,
    /// Observed only up to the forecast origin; usable only through lags.
    Historic,
}

/// The name and role of one exogenous column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExogenousSpec {
    /// Column name, as in the source file.
    pub name: String,
    /// When its values are known.
    pub role: ExogenousRole,
}

/// One regular series: a target and its exogenous columns from `start` on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The series id (unique within its panel).
    pub id: String,
    /// Time of the first observation.
    pub start: TimePoint,
    /// Target values, one per step.
    pub target: Vec<f64>,
    /// One column per exogenous spec of the panel, in the panel's order, each as long as `target`.
    pub exogenous: Vec<Vec<f64>>,
}

impl Series {
    /// Number of observations.
    pub fn len(&self) -> usize {
        self.target.len()
    }

    /// Whether the series has no observations (never true inside a [`Panel`]).
    pub fn is_empty(&self) -> bool {
        self.target.is_empty()
    }
}

/// Many regular series of one dataset on a shared frequency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Panel {
    frequency: Frequency,
    exogenous: Vec<ExogenousSpec>,
    series: Vec<Series>,
}

impl Panel {
    /// Builds a panel, checking its invariants (see the module docs).
    pub fn new(
        frequency: Frequency,
        exogenous: Vec<ExogenousSpec>,
        series: Vec<Series>,
    ) -> Result<Self, ModelError> {
        let invalid = |id: &str, reason: String| ModelError::InvalidSeries {
            id: id.to_owned(),
            reason,
        };
        if series.is_empty() {
            return Err(ModelError::EmptyPanel);
        }
        let mut ids = std::collections::HashSet::with_capacity(series.len());
        for s in &series {
            if !ids.insert(s.id.as_str()) {
                return Err(invalid(&s.id, "the id appears twice".into()));
            }
            if s.is_empty() {
                return Err(invalid(&s.id, "it has no observations".into()));
            }
            if !frequency.is_aligned(s.start) {
                return Err(invalid(
                    &s.id,
                    format!(
                        "its start {} is not {} at frequency {frequency}",
                        s.start,
                        frequency.alignment_rule()
                    ),
                ));
            }
            if frequency.advance(s.start, (s.len() - 1) as i64).is_none() {
                return Err(invalid(&s.id, "its end is out of the time range".into()));
            }
            if let Some(i) = s.target.iter().position(|v| !v.is_finite()) {
                return Err(invalid(&s.id, format!("target value {i} is not finite")));
            }
            if s.exogenous.len() != exogenous.len() {
                return Err(invalid(
                    &s.id,
                    format!(
                        "it has {} exogenous columns, the panel declares {}",
                        s.exogenous.len(),
                        exogenous.len()
                    ),
                ));
            }
            for (spec, column) in exogenous.iter().zip(&s.exogenous) {
                if column.len() != s.len() {
                    return Err(invalid(
                        &s.id,
                        format!(
                            "exogenous column {} has {} values for {} observations",
                            spec.name,
                            column.len(),
                            s.len()
                        ),
                    ));
                }
                if column.iter().any(|v| !v.is_finite()) {
                    return Err(invalid(
                        &s.id,
                        format!("exogenous column {} has a non-finite value", spec.name),
                    ));
                }
            }
        }
        Ok(Panel {
            frequency,
            exogenous,
            series,
        })
    }

    /// The shared frequency.
    pub fn frequency(&self) -> Frequency {
        self.frequency
    }

    /// The exogenous columns every series carries, in order.
    pub fn exogenous(&self) -> &[ExogenousSpec] {
        &self.exogenous
    }

    /// All series, in the order they were given.
    pub fn series(&self) -> &[Series] {
        &self.series
    }

    /// The series with this id.
    pub fn get(&self, id: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.id == id)
    }

    /// Total number of observations over all series.
    pub fn rows(&self) -> usize {
        self.series.iter().map(Series::len).sum()
    }

    /// Time of the last observation of `series` (which must belong to this panel's frequency).
    pub fn end_of(&self, series: &Series) -> TimePoint {
        // Checked in `Panel::new`; `start` is the fallback only for a foreign series.
        self.frequency
            .advance(series.start, series.len() as i64 - 1)
            .unwrap_or(series.start)
    }

    /// Earliest start and latest end over all series.
    pub fn span(&self) -> (TimePoint, TimePoint) {
        // `new` guarantees at least one series, so the folds start from a real one.
        let first = &self.series[0];
        self.series
            .iter()
            .fold((first.start, self.end_of(first)), |(lo, hi), s| {
                (lo.min(s.start), hi.max(self.end_of(s)))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(id: &str, start: i64, target: Vec<f64>) -> Series {
        let n = target.len();
        Series {
            id: id.into(),
            start: TimePoint::Step(start),
            target,
            exogenous: vec![vec![0.0; n]],
        }
    }

    fn spec() -> Vec<ExogenousSpec> {
        vec![ExogenousSpec {
            name: "temp".into(),
            role: ExogenousRole::FutureKnown,
        }]
    }

    #[test]
    fn reports_span_and_rows_over_all_series() {
        let panel = Panel::new(
            Frequency::Index,
            spec(),
            vec![series("a", 0, vec![1.0; 5]), series("b", 2, vec![2.0; 10])],
        )
        .unwrap();
        assert_eq!(panel.rows(), 15);
        assert_eq!(panel.span(), (TimePoint::Step(0), TimePoint::Step(11)));
        assert_eq!(panel.end_of(panel.get("a").unwrap()), TimePoint::Step(4));
    }

    #[test]
    fn rejects_duplicate_ids_non_finite_targets_and_ragged_exogenous() {
        let dup = Panel::new(
            Frequency::Index,
            spec(),
            vec![series("a", 0, vec![1.0]), series("a", 0, vec![1.0])],
        );
        assert!(matches!(dup, Err(ModelError::InvalidSeries { id, .. }) if id == "a"));
        let nan = Panel::new(
            Frequency::Index,
            spec(),
            vec![series("b", 0, vec![f64::NAN])],
        );
        assert!(nan.unwrap_err().to_string().contains("not finite"));
        let mut ragged = series("c", 0, vec![1.0, 2.0]);
        ragged.exogenous[0].pop();
        let ragged = Panel::new(Frequency::Index, spec(), vec![ragged]);
        assert!(ragged.unwrap_err().to_string().contains("temp"));
        assert!(matches!(
            Panel::new(Frequency::Index, spec(), vec![]),
            Err(ModelError::EmptyPanel)
        ));
    }

    #[test]
    fn rejects_a_start_off_the_frequency_grid() {
        let mut s = series("d", 0, vec![1.0]);
        s.start = TimePoint::Step(0);
        assert!(Panel::new(Frequency::Days(1), spec(), vec![s]).is_err());
    }
}
