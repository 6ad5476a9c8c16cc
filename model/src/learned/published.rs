//! A global model as the registry publishes it and the service serves it: the fitted model, the
//! recent data of each series that its lags read, and a climatology that stands in for the
//! future-known inputs (weather, game schedules) a caller did not supply.
//!
//! A [`FittedGlobal`] forecasts from a series' data up to an origin plus the future-known
//! exogenous values over the horizon. At serving time there is no panel: the version keeps each
//! series' last [`Featurizer::lookback`] observations ([`SeriesTail`]), which is exactly what the
//! recursion reads, so a served forecast equals the forecast the model makes from the full
//! series (tested).
//!
//! # Climatology fallback
//!
//! A learned model trained on weather needs the weather of the forecast days. Callers can pass
//! it (e.g. from a weather forecast); for every column and step they do not, the model reads the
//! column's **climatology**: its mean in the training data of that series for the same month,
//! weekday and time of day (sub-daily data), month and weekday (daily data), month (weekly and
//! longer steps), or overall (integer-indexed data). Cells with no observations use the series'
//! overall mean. It is the expectation of a day like this one, not a forecast of this day, so it
//! takes out weather-driven swings the real weather would explain; the service says in its
//! answer which inputs and steps came from it.

use serde::{Deserialize, Serialize};

mod absorb;
mod climatology;
mod future;

pub use climatology::{ClimateKey, Climatology};
pub use future::{FutureInputError, FutureValues};

use super::global::{FittedGlobal, ForecastInput};
use crate::error::ModelError;
use crate::features::Featurizer;
use crate::forecast::{Forecast, SamplePaths};
use crate::panel::{ExogenousRole, Panel, Series};
use crate::time::TimePoint;

/// A fitted global model ready to forecast every series it was fitted on from their ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishedGlobal {
    /// The model.
    pub model: FittedGlobal,
    /// Each series' recent data, in the order of `model.series`.
    pub tails: Vec<SeriesTail>,
    /// Means of the future-known columns, for steps nobody supplied.
    pub climatology: Climatology,
}

/// The last observations of a series: what its forecasts start from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesTail {
    /// Time of the first kept observation.
    pub start: TimePoint,
    /// Target values.
    #[serde(with = "crate::serde_nan::vec")]
    pub target: Vec<f64>,
    /// Every exogenous column over the same steps, in the panel's order.
    #[serde(with = "crate::serde_nan::nested")]
    pub exogenous: Vec<Vec<f64>>,
}

/// A published model's forecast and what it was made from.
#[derive(Clone, Debug, PartialEq)]
pub struct PublishedForecast {
    /// The forecast.
    pub forecast: Forecast,
    /// Plain-language notes: which inputs came from the climatology.
    pub notes: Vec<String>,
}

impl PublishedGlobal {
    /// Publishes `model`, fitted on `panel` with every series trained to its end: keeps each
    /// series' last `lookback` observations and the climatology of its future-known columns.
    pub fn new(model: FittedGlobal, panel: &Panel) -> Result<PublishedGlobal, ModelError> {
        let ends: Vec<usize> = model
            .series
            .iter()
            .map(|known| panel.get(&known.id).map_or(0, Series::len))
            .collect();
        PublishedGlobal::at(model, panel, &ends)
    }

    /// Checks that the parts fit together (after loading from a file).
    pub fn check(&self) -> Result<(), ModelError> {
        let n = self.model.series.len();
        let exogenous = self.model.featurizer.exogenous();
        let bad = |reason: String| {
            Err(ModelError::Corrupt {
                what: "published model",
                reason,
            })
        };
        if self.tails.len() != n {
            return bad(format!("{} series but {} tails", n, self.tails.len()));
        }
        let members = self.model.members.len() + self.model.statistical.len();
        for known in &self.model.series {
            if known.statistical.len() != self.model.statistical.len()
                || known.weights.len() != members
            {
                return bad(format!(
                    "series {:?} has {} statistical members and {} weights for {} members",
                    known.id,
                    known.statistical.len(),
                    known.weights.len(),
                    members
                ));
            }
        }
        if self.climatology.means.len() != n || self.climatology.overall.len() != n {
            return bad(format!("{n} series but a climatology of another size"));
        }
        let columns: Vec<&str> = exogenous
            .iter()
            .filter(|e| e.role == ExogenousRole::FutureKnown)
            .map(|e| e.name.as_str())
            .collect();
        if self.climatology.columns != columns {
            return bad("the climatology's columns differ from the model's".into());
        }
        let cells = self.climatology.key.cells() * columns.len();
        for (s, tail) in self.tails.iter().enumerate() {
            if tail.exogenous.len() != exogenous.len()
                || tail.exogenous.iter().any(|c| c.len() != tail.target.len())
            {
                return bad(format!(
                    "the tail of series {:?} does not have its exogenous columns",
                    self.model.series[s].id
                ));
            }
            if self.climatology.means[s].len() != cells
                || self.climatology.overall[s].len() != columns.len()
            {
                return bad(format!(
                    "the climatology of series {:?} has the wrong size",
                    self.model.series[s].id
                ));
            }
            if let Some(profile) = &self.model.series[s].condition {
                let future_known = exogenous
                    .get(profile.column)
                    .is_some_and(|e| e.role == ExogenousRole::FutureKnown);
                if !future_known
                    || profile.scale.len() != profile.edges.len() + 1
                    || profile.scale.iter().any(|q| !(q.is_finite() && *q > 0.0))
                {
                    return bad(format!(
                        "the condition profile of series {:?} does not fit its columns",
                        self.model.series[s].id
                    ));
                }
            }
        }
        Ok(())
    }

    /// The featurizer (frequency, columns).
    pub fn featurizer(&self) -> &Featurizer {
        &self.model.featurizer
    }

    /// The names of the future-known columns, which callers may supply.
    pub fn future_columns(&self) -> &[String] {
        &self.climatology.columns
    }

    /// Checks `given` for a forecast of `horizon` steps.
    pub fn check_future(
        &self,
        given: &FutureValues,
        horizon: usize,
    ) -> Result<(), FutureInputError> {
        for (column, values) in given {
            if !self.climatology.columns.contains(column) {
                return Err(FutureInputError::UnknownColumn {
                    column: column.clone(),
                    expected: self.climatology.columns.clone(),
                });
            }
            if values.len() > horizon {
                return Err(FutureInputError::TooLong {
                    column: column.clone(),
                    given: values.len(),
                    horizon,
                });
            }
            if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                return Err(FutureInputError::NotFinite {
                    column: column.clone(),
                    index,
                });
            }
        }
        Ok(())
    }

    /// Series `index`'s [`Input`] for `horizon` steps (given future values first, then the
    /// climatology).
    fn input(
        &self,
        index: usize,
        horizon: usize,
        given: &FutureValues,
    ) -> Result<Input, ModelError> {
        let tail = self.tails.get(index).ok_or(ModelError::NoSeriesAt {
            index,
            len: self.tails.len(),
        })?;
        let frequency = self.model.featurizer.frequency();
        let origin = tail.target.len();
        let times: Vec<Option<TimePoint>> = (0..horizon)
            .map(|j| frequency.advance(tail.start, (origin + j) as i64))
            .collect();
        let mut exogenous = tail.exogenous.clone();
        // Each exogenous column filled from the climatology and its first filled step.
        let mut filled: Vec<(usize, usize)> = Vec::new();
        let mut c = 0;
        let specs = self.model.featurizer.exogenous();
        for (e, (spec, column)) in specs.iter().zip(&mut exogenous).enumerate() {
            if spec.role != ExogenousRole::FutureKnown {
                continue;
            }
            let values = given.get(&spec.name).map_or(&[][..], Vec::as_slice);
            let values = &values[..values.len().min(horizon)];
            column.extend_from_slice(values);
            for &t in &times[values.len()..] {
                column.push(self.climatology.value(index, c, t));
            }
            if values.len() < horizon {
                filled.push((e, values.len()));
            }
            c += 1;
        }
        let mut notes = Vec::new();
        let mut firsts: Vec<usize> = filled.iter().map(|&(_, f)| f).collect();
        firsts.sort_unstable();
        firsts.dedup();
        for first in firsts {
            let names: Vec<&str> = filled
                .iter()
                .filter(|&&(_, f)| f == first)
                .map(|&(e, _)| specs[e].name.as_str())
                .collect();
            let steps = if first + 1 == horizon {
                format!("step {horizon}")
            } else {
                format!("steps {}-{horizon}", first + 1)
            };
            notes.push(format!(
                "future {} not given for {steps}: used climatology (the mean of {} in the \
                 training data)",
                names.join(", "),
                self.climatology.key.describe()
            ));
        }
        let series = Series {
            id: self.model.series[index].id.clone(),
            start: tail.start,
            target: tail.target.clone(),
            exogenous,
        };
        Ok(Input {
            series,
            notes,
            filled,
        })
    }

    /// Point forecasts of `horizon` steps from the end of series `index`, and the notes.
    pub fn points(
        &self,
        index: usize,
        horizon: usize,
        given: &FutureValues,
    ) -> Result<(Vec<f64>, Vec<String>), ModelError> {
        let Input { series, notes, .. } = self.input(index, horizon, given)?;
        let point = self.points_of(index, &series, horizon)?;
        Ok((point, notes))
    }

    /// The point forecast of `series` (an [`input`](Self::input)) from its end.
    fn points_of(
        &self,
        index: usize,
        series: &Series,
        horizon: usize,
    ) -> Result<Vec<f64>, ModelError> {
        let mut points = self
            .model
            .points_at_state(&[self.forecast_input(index, series)], horizon)?;
        Ok(points.pop().unwrap_or_default())
    }

    fn forecast_input<'a>(&self, index: usize, series: &'a Series) -> ForecastInput<'a> {
        ForecastInput {
            index,
            series,
            origin: series.target.len(),
        }
    }

    /// The forecast of series `index` with quantiles at `probabilities`.
    pub fn forecast(
        &self,
        index: usize,
        horizon: usize,
        probabilities: &[f64],
        given: &FutureValues,
    ) -> Result<PublishedForecast, ModelError> {
        let input = self.input(index, horizon, given)?;
        let point = self.points_of(index, &input.series, horizon)?;
        let (known, mut notes) = input.into_known();
        notes.extend(self.model.interval_source(index).note().map(str::to_owned));
        let forecast =
            self.model
                .forecast(&self.forecast_input(index, &known), point, probabilities)?;
        Ok(PublishedForecast { forecast, notes })
    }

    /// `n_paths` joint sample paths of series `index` (see [`FittedGlobal::sample_paths`]).
    pub fn sample_paths(
        &self,
        index: usize,
        horizon: usize,
        n_paths: usize,
        seed: u64,
        given: &FutureValues,
    ) -> Result<SamplePaths, ModelError> {
        let input = self.input(index, horizon, given)?;
        let point = self.points_of(index, &input.series, horizon)?;
        let (known, _) = input.into_known();
        self.model
            .sample_paths(&self.forecast_input(index, &known), &point, n_paths, seed)
    }
}

/// A series ready to forecast from its end: its tail with the future-known columns extended over
/// the horizon, from the caller's values or else the climatology.
struct Input {
    series: Series,
    /// What came from the climatology, in words for the caller.
    notes: Vec<String>,
    /// Each exogenous column filled from the climatology: its index and the first step filled.
    filled: Vec<(usize, usize)>,
}

impl Input {
    /// Once the points are made from it, the series with the future values that came from the
    /// climatology made unknown (NaN), and the notes: a condition profile reads an unknown value
    /// at the mean size of all errors, where a climatology mean (a weather situation of 1.4, say)
    /// would pick one bin's size as if that weather were forecast.
    fn into_known(self) -> (Series, Vec<String>) {
        let mut series = self.series;
        let origin = series.target.len();
        for &(column, first) in &self.filled {
            if let Some(values) = series.exogenous.get_mut(column) {
                for v in values.iter_mut().skip(origin + first) {
                    *v = f64::NAN;
                }
            }
        }
        (series, self.notes)
    }
}

#[cfg(test)]
mod tests;
