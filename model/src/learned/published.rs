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

use std::collections::BTreeMap;
use std::fmt;

use chrono::{Datelike, Timelike};
use serde::{Deserialize, Serialize};

use super::global::{FittedGlobal, ForecastInput};
use crate::error::ModelError;
use crate::features::Featurizer;
use crate::forecast::{Forecast, SamplePaths};
use crate::panel::{ExogenousRole, Panel, Series};
use crate::time::{Frequency, TimePoint};

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

/// How time points are grouped into climatology cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum ClimateKey {
    /// Month, weekday and slot of the day (`slots` steps per day).
    MonthWeekdaySlot {
        /// Steps per day.
        slots: u32,
    },
    /// Month and weekday.
    MonthWeekday,
    /// Month.
    Month,
    /// One cell.
    Overall,
}

impl ClimateKey {
    /// The grouping for data at `frequency`.
    pub fn for_frequency(frequency: Frequency) -> ClimateKey {
        const DAY: u32 = 24 * 60;
        match frequency {
            Frequency::Minutes(n) if n > 0 && DAY.is_multiple_of(n) => {
                ClimateKey::MonthWeekdaySlot { slots: DAY / n }
            }
            Frequency::Hours(n) if n > 0 && 24 % n == 0 => {
                ClimateKey::MonthWeekdaySlot { slots: 24 / n }
            }
            Frequency::Minutes(_) | Frequency::Hours(_) | Frequency::Days(_) => {
                ClimateKey::MonthWeekday
            }
            Frequency::Weeks(_) | Frequency::Months(_) | Frequency::Years(_) => ClimateKey::Month,
            Frequency::Index => ClimateKey::Overall,
        }
    }

    fn cells(self) -> usize {
        match self {
            ClimateKey::MonthWeekdaySlot { slots } => 12 * 7 * slots as usize,
            ClimateKey::MonthWeekday => 12 * 7,
            ClimateKey::Month => 12,
            ClimateKey::Overall => 1,
        }
    }

    fn cell(self, t: TimePoint) -> Option<usize> {
        if self == ClimateKey::Overall {
            return Some(0);
        }
        let t = t.as_datetime()?;
        let month = t.month0() as usize;
        let weekday = t.weekday().num_days_from_monday() as usize;
        Some(match self {
            ClimateKey::MonthWeekdaySlot { slots } => {
                let slot = (t.num_seconds_from_midnight() as usize * slots as usize) / 86_400;
                (month * 7 + weekday) * slots as usize + slot.min(slots as usize - 1)
            }
            ClimateKey::MonthWeekday => month * 7 + weekday,
            ClimateKey::Month => month,
            ClimateKey::Overall => 0,
        })
    }

    /// What a cell groups, in words.
    pub fn describe(self) -> &'static str {
        match self {
            ClimateKey::MonthWeekdaySlot { .. } => "the same month, weekday and time of day",
            ClimateKey::MonthWeekday => "the same month and weekday",
            ClimateKey::Month => "the same month",
            ClimateKey::Overall => "all time points",
        }
    }
}

/// Per series, the mean of each future-known column per [`ClimateKey`] cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Climatology {
    /// The grouping.
    pub key: ClimateKey,
    /// Future-known columns, in the panel's order.
    pub columns: Vec<String>,
    /// Per series: column-major cell means (`means[s][c * cells + cell]`), NaN for empty cells.
    #[serde(with = "crate::serde_nan::nested")]
    pub means: Vec<Vec<f64>>,
    /// Per series: each column's overall mean (NaN when it has no values).
    #[serde(with = "crate::serde_nan::nested")]
    pub overall: Vec<Vec<f64>>,
}

impl Climatology {
    /// The climatology of `panel`'s future-known columns, each series over `target[..cutoff]`.
    pub fn of(panel: &Panel, cutoffs: &[usize]) -> Climatology {
        let key = ClimateKey::for_frequency(panel.frequency());
        let frequency = panel.frequency();
        let known: Vec<usize> = future_known(panel);
        let cells = key.cells();
        let mut means = Vec::with_capacity(panel.series().len());
        let mut overall = Vec::with_capacity(panel.series().len());
        for (series, &cutoff) in panel.series().iter().zip(cutoffs) {
            let mut sums = vec![0.0; known.len() * cells];
            let mut counts = vec![0u32; known.len() * cells];
            let mut totals = vec![(0.0, 0u32); known.len()];
            let mut t = Some(series.start);
            for i in 0..cutoff.min(series.len()) {
                let cell = t.and_then(|t| key.cell(t));
                for (c, &j) in known.iter().enumerate() {
                    let v = series.exogenous[j][i];
                    if !v.is_finite() {
                        continue;
                    }
                    totals[c].0 += v;
                    totals[c].1 += 1;
                    if let Some(cell) = cell {
                        sums[c * cells + cell] += v;
                        counts[c * cells + cell] += 1;
                    }
                }
                t = t.and_then(|t| frequency.advance(t, 1));
            }
            means.push(
                sums.iter()
                    .zip(&counts)
                    .map(|(&s, &n)| if n > 0 { s / f64::from(n) } else { f64::NAN })
                    .collect(),
            );
            overall.push(
                totals
                    .iter()
                    .map(|&(s, n)| if n > 0 { s / f64::from(n) } else { f64::NAN })
                    .collect(),
            );
        }
        Climatology {
            key,
            columns: known
                .iter()
                .map(|&j| panel.exogenous()[j].name.clone())
                .collect(),
            means,
            overall,
        }
    }

    /// The climatological value of column `c` for series `s` at `t` (NaN when unknown).
    pub fn value(&self, s: usize, c: usize, t: Option<TimePoint>) -> f64 {
        let cells = self.key.cells();
        let cell = t
            .and_then(|t| self.key.cell(t))
            .and_then(|cell| self.means.get(s)?.get(c * cells + cell).copied())
            .filter(|v| v.is_finite());
        cell.or_else(|| self.overall.get(s)?.get(c).copied())
            .unwrap_or(f64::NAN)
    }
}

fn future_known(panel: &Panel) -> Vec<usize> {
    panel
        .exogenous()
        .iter()
        .enumerate()
        .filter(|(_, e)| e.role == ExogenousRole::FutureKnown)
        .map(|(j, _)| j)
        .collect()
}

/// Future values of exogenous columns given by a caller, by column name; step `j` of the
/// forecast is index `j`. Columns or steps not given come from the climatology.
pub type FutureValues = BTreeMap<String, Vec<f64>>;

/// Why given future values cannot be used.
#[derive(Clone, Debug, PartialEq)]
pub enum FutureInputError {
    /// The model has no future-known column of that name.
    UnknownColumn {
        /// The name given.
        column: String,
        /// The columns the model reads.
        expected: Vec<String>,
    },
    /// More values than forecast steps.
    TooLong {
        /// The column.
        column: String,
        /// Values given.
        given: usize,
        /// Steps forecast.
        horizon: usize,
    },
    /// A value that is not a finite number.
    NotFinite {
        /// The column.
        column: String,
        /// Its 0-based position.
        index: usize,
    },
}

impl FutureInputError {
    /// The column the error is about.
    pub fn column(&self) -> &str {
        match self {
            FutureInputError::UnknownColumn { column, .. }
            | FutureInputError::TooLong { column, .. }
            | FutureInputError::NotFinite { column, .. } => column,
        }
    }
}

impl fmt::Display for FutureInputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FutureInputError::UnknownColumn { column, expected } if expected.is_empty() => write!(
                f,
                "the model reads no future exogenous values, but {column:?} was given"
            ),
            FutureInputError::UnknownColumn { column, expected } => write!(
                f,
                "the model reads no future values of {column:?}; it reads {}",
                expected.join(", ")
            ),
            FutureInputError::TooLong { given, horizon, .. } => write!(
                f,
                "{given} values given for a forecast of {horizon} steps; give at most one per step"
            ),
            FutureInputError::NotFinite { index, .. } => {
                write!(f, "value {index} is not a finite number")
            }
        }
    }
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

    /// Publishes `model` as fitted on `panel` up to `cutoffs` (by the model's series order):
    /// each series' forecasts start at its cutoff, and the climatology sees only data before it.
    pub fn at(
        mut model: FittedGlobal,
        panel: &Panel,
        cutoffs: &[usize],
    ) -> Result<PublishedGlobal, ModelError> {
        let keep = model.featurizer.lookback().max(1);
        let frequency = panel.frequency();
        if cutoffs.len() != model.series.len() {
            return Err(ModelError::ShapeMismatch {
                what: "cutoffs of a published model",
                expected: model.series.len(),
                got: cutoffs.len(),
            });
        }
        let mut tails = Vec::with_capacity(model.series.len());
        let mut origins = Vec::with_capacity(model.series.len());
        for (known, &cutoff) in model.series.iter().zip(cutoffs) {
            let series = panel
                .get(&known.id)
                .ok_or_else(|| ModelError::UnknownSeries {
                    id: known.id.clone(),
                })?;
            let cutoff = cutoff.min(series.len());
            origins.push(cutoff);
            let first = cutoff.saturating_sub(keep);
            let start = frequency.advance(series.start, first as i64).ok_or(
                ModelError::OutOfTimeRange {
                    what: "the first observation a published series keeps",
                },
            )?;
            tails.push(SeriesTail {
                start,
                target: series.target[first..cutoff].to_vec(),
                exogenous: series
                    .exogenous
                    .iter()
                    .map(|column| column[first..cutoff].to_vec())
                    .collect(),
            });
        }
        for (index, &origin) in origins.iter().enumerate() {
            model.move_origin(index, origin);
        }
        // The climatology must be in the model's series order, which is the panel's filtered to
        // the model's series; build it on exactly those.
        let ordered = Panel::new(
            frequency,
            panel.exogenous().to_vec(),
            model
                .series
                .iter()
                .filter_map(|known| panel.get(&known.id).cloned())
                .collect(),
        )?;
        let climatology = Climatology::of(&ordered, cutoffs);
        let published = PublishedGlobal {
            model,
            tails,
            climatology,
        };
        published.check()?;
        Ok(published)
    }

    /// Takes in the observations that follow series `index`'s data: `target` and, for every
    /// exogenous column the model has, `exogenous[name]` over the same steps. The tail moves on
    /// (the lags and rolling windows read the new values, the oldest drop out), as does the
    /// phase the calibration profile is read at; the fitted model and the climatology stay.
    /// An error leaves it as it was.
    pub fn absorb(
        &mut self,
        index: usize,
        target: &[f64],
        exogenous: &BTreeMap<String, Vec<f64>>,
    ) -> Result<(), ModelError> {
        let n = self.tails.len();
        let tail = self
            .tails
            .get(index)
            .ok_or(ModelError::NoSeriesAt { index, len: n })?;
        if let Some(i) = target.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::NonFinite(i));
        }
        let specs = self.model.featurizer.exogenous();
        if let Some(name) = exogenous
            .keys()
            .find(|name| !specs.iter().any(|spec| &spec.name == *name))
        {
            return Err(ModelError::UnknownColumn {
                column: name.clone(),
                expected: specs.iter().map(|spec| spec.name.clone()).collect(),
            });
        }
        let mut columns = Vec::with_capacity(specs.len());
        for spec in specs {
            let values = exogenous
                .get(&spec.name)
                .ok_or_else(|| ModelError::MissingColumn {
                    column: spec.name.clone(),
                })?;
            if values.len() != target.len() {
                return Err(ModelError::ShapeMismatch {
                    what: "values of an exogenous column, one per observation",
                    expected: target.len(),
                    got: values.len(),
                });
            }
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(ModelError::NonFinite(i));
            }
            columns.push(values);
        }
        let keep = self.model.featurizer.lookback().max(1);
        let surplus = (tail.target.len() + target.len()).saturating_sub(keep);
        let start = self
            .model
            .featurizer
            .frequency()
            .advance(tail.start, surplus as i64)
            .ok_or(ModelError::OutOfTimeRange {
                what: "the first kept observation",
            })?;
        let tail = &mut self.tails[index];
        tail.start = start;
        tail.target.extend_from_slice(target);
        tail.target.drain(..surplus);
        for (kept, new) in tail.exogenous.iter_mut().zip(columns) {
            kept.extend_from_slice(new);
            kept.drain(..surplus);
        }
        let cutoff = self.model.series[index].cutoff + target.len();
        self.model.move_origin(index, cutoff);
        Ok(())
    }

    /// Checks that the parts fit together (after loading from a file).
    pub fn check(&self) -> Result<(), ModelError> {
        let n = self.model.series.len();
        let exogenous = self.model.featurizer.exogenous();
        let bad = |what: String| Err(ModelError::Unsupported(format!("published model: {what}")));
        if self.tails.len() != n {
            return bad(format!("{} series but {} tails", n, self.tails.len()));
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
        let tail = self.tails.get(index).ok_or_else(|| {
            ModelError::Unsupported(format!("no series {index} in the published model"))
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
            .points(&[self.forecast_input(index, series)], horizon)?;
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
        let (known, notes) = input.into_known();
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
