//! Keeping a fitted forecaster's series current as observations arrive one step at a time,
//! possibly with gaps and late corrections.
//!
//! A series' moving parts — the statistical model's state, or a learned model's tail, origin and
//! statistical members — are its [`SeriesState`]; the fitted parameters shared across series never
//! change. A caller keeps the state each series had when fitted, and when data change it restores
//! that state and absorbs every stored step since: a corrected or late value is then taken in
//! exactly as if it had arrived on time, and the result equals the fitted model run on the
//! extended series.
//!
//! # Gaps
//!
//! A step whose target has not arrived, between steps that have, is filled with the model's own
//! one-step point forecast from the state before it. For the additive-error state-space models
//! this is the Kalman filter's treatment of a missing observation (the state advances by its
//! prediction alone, since the innovation is zero); for the learned models it is what their
//! recursive forecasts feed themselves. Exogenous values a learned model needs and that did not
//! arrive are filled the same way its forecasts fill future inputs: future-known columns from the
//! climatology, observed-only columns (and cells the climatology never saw) with the last value. [`Filled`] says which steps and
//! columns were filled, so a caller can tell its users.

use std::collections::BTreeMap;

use super::{Family, FittedForecaster};
use crate::error::ModelError;
use crate::learned::global::GlobalSeries;
use crate::learned::published::{PublishedGlobal, SeriesTail};
use crate::models::Fitted;
use crate::panel::ExogenousRole;

/// One series' moving parts (see the module doc).
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesState(State);

#[derive(Clone, Debug, PartialEq)]
enum State {
    Statistical(Box<Fitted>),
    Learned(Box<(SeriesTail, GlobalSeries)>),
}

/// One step to absorb: its target, if it arrived, and the exogenous values that did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Step {
    /// The target (`None`: a gap).
    pub target: Option<f64>,
    /// Exogenous values by column.
    pub exogenous: BTreeMap<String, f64>,
}

/// What [`FittedForecaster::absorb_steps`] had to fill in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filled {
    /// Positions (in the steps given) whose target was the model's one-step forecast.
    pub targets: Vec<usize>,
    /// Exogenous columns filled at some step, with the number of steps.
    pub exogenous: BTreeMap<String, usize>,
}

impl FittedForecaster {
    /// Series `index`'s moving parts, to [`restore`](Self::restore) later.
    pub fn series_state(&self, index: usize) -> Result<SeriesState, ModelError> {
        self.check_index(index)?;
        Ok(SeriesState(match &self.family {
            Family::Statistical(panel) => State::Statistical(Box::new(
                panel
                    .fitted(index)
                    .ok_or(ModelError::NoSeriesAt {
                        index,
                        len: panel.len(),
                    })?
                    .clone(),
            )),
            Family::Learned(published) => State::Learned(Box::new((
                published.tails[index].clone(),
                published.model.series[index].clone(),
            ))),
        }))
    }

    /// Puts back series `index`'s moving parts as [`series_state`](Self::series_state) gave
    /// them.
    pub fn restore(&mut self, index: usize, state: &SeriesState) -> Result<(), ModelError> {
        self.check_index(index)?;
        match (&mut self.family, &state.0) {
            (Family::Statistical(panel), State::Statistical(fitted)) => {
                panel.set(index, (**fitted).clone())
            }
            (Family::Learned(published), State::Learned(parts)) => {
                let (tail, series) = &**parts;
                if series.id != published.model.series[index].id {
                    return Err(ModelError::Invalid {
                        what: "a restored series state",
                        reason: format!(
                            "it is of series {:?}, not {:?}",
                            series.id, published.model.series[index].id
                        ),
                    });
                }
                published.tails[index] = tail.clone();
                published.model.series[index] = series.clone();
                Ok(())
            }
            _ => Err(ModelError::Invalid {
                what: "a restored series state",
                reason: "it is of another model family".into(),
            }),
        }
    }

    /// Takes in `steps`, the steps that follow series `index`'s data in order, filling gaps and
    /// missing inputs as the module doc says. On error the series is left as it was.
    pub fn absorb_steps(&mut self, index: usize, steps: &[Step]) -> Result<Filled, ModelError> {
        let saved = self.series_state(index)?;
        let result = self.absorb_each(index, steps);
        if result.is_err() {
            self.restore(index, &saved)?;
        }
        result
    }

    fn absorb_each(&mut self, index: usize, steps: &[Step]) -> Result<Filled, ModelError> {
        let mut filled = Filled::default();
        let mut run: Vec<f64> = Vec::new();
        for (position, step) in steps.iter().enumerate() {
            match &mut self.family {
                Family::Statistical(panel) => {
                    let y = match step.target {
                        Some(y) => y,
                        None => {
                            if !run.is_empty() {
                                panel.absorb(index, &run)?;
                                run.clear();
                            }
                            filled.targets.push(position);
                            panel.forecast(index, 1, &[], None)?.forecast.point[0]
                        }
                    };
                    run.push(y);
                }
                Family::Learned(published) => {
                    let exogenous = complete(published, index, &step.exogenous, &mut filled)?;
                    let y = match step.target {
                        Some(y) => y,
                        None => {
                            filled.targets.push(position);
                            let given = exogenous
                                .iter()
                                .filter(|(name, _)| published.future_columns().contains(name))
                                .map(|(name, values)| (name.clone(), values.clone()))
                                .collect();
                            published.points(index, 1, &given)?.0[0]
                        }
                    };
                    published.absorb(index, &[y], &exogenous)?;
                }
            }
        }
        if let Family::Statistical(panel) = &mut self.family
            && !run.is_empty()
        {
            panel.absorb(index, &run)?;
        }
        Ok(filled)
    }
}

/// Every exogenous column of a learned model for the next step of series `index`: the values
/// that arrived, the climatology for missing future-known columns, the last value for missing
/// observed-only ones.
fn complete(
    published: &PublishedGlobal,
    index: usize,
    arrived: &BTreeMap<String, f64>,
    filled: &mut Filled,
) -> Result<BTreeMap<String, Vec<f64>>, ModelError> {
    let tail = published.tails.get(index).ok_or(ModelError::NoSeriesAt {
        index,
        len: published.tails.len(),
    })?;
    let frequency = published.featurizer().frequency();
    let time = frequency.advance(tail.start, tail.target.len() as i64);
    let mut out = BTreeMap::new();
    let mut future = 0;
    for (c, spec) in published.featurizer().exogenous().iter().enumerate() {
        let value = match arrived.get(&spec.name) {
            Some(v) => *v,
            None => {
                *filled.exogenous.entry(spec.name.clone()).or_default() += 1;
                let last = tail.exogenous[c].last().copied().unwrap_or(0.0);
                match spec.role {
                    ExogenousRole::FutureKnown => {
                        Some(published.climatology.value(index, future, time))
                            .filter(|v| v.is_finite())
                            .unwrap_or(last)
                    }
                    ExogenousRole::Historic => last,
                }
            }
        };
        if spec.role == ExogenousRole::FutureKnown {
            future += 1;
        }
        out.insert(spec.name.clone(), vec![value]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
