//! The statistical family as a panel forecaster: one model fitted per series, each on its own
//! data up to its cutoff, with [`fit_model`]'s fallback when a series cannot support the model.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::Made;
use crate::error::ModelError;
use crate::forecast::SamplePaths;
use crate::learned::published::FutureValues;
use crate::models::{Fitted, ModelId, Predict, SeriesContext, fit_models};
use crate::panel::Panel;

/// Each series' own fitted model, in the panel's order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatisticalPanel {
    series: Vec<String>,
    fitted: Vec<Fitted>,
}

impl StatisticalPanel {
    /// Fits `model` on every series of `panel` up to its cutoff, on at most `input_size` of its
    /// latest observations.
    pub(super) fn fit(
        model: ModelId,
        context: &SeriesContext,
        input_size: Option<usize>,
        panel: &Panel,
        cutoffs: &[usize],
        wanted: &[bool],
    ) -> Result<StatisticalPanel, ModelError> {
        let chosen: Vec<(&crate::panel::Series, usize)> = panel
            .series()
            .iter()
            .zip(cutoffs)
            .zip(wanted)
            .filter(|&(_, &wanted)| wanted)
            .map(|((series, &cutoff), _)| (series, cutoff))
            .collect();
        // One chunk per thread: within a chunk the series are fitted together (`fit_models`
        // runs ETS's searches side by side).
        let chunk = chosen.len().div_ceil(rayon::current_num_threads()).max(1);
        let fitted = chosen
            .par_chunks(chunk)
            .map(|chunk| {
                let targets: Vec<&[f64]> = chunk
                    .iter()
                    .map(|&(series, cutoff)| {
                        let first = input_size.map_or(0, |size| cutoff.saturating_sub(size));
                        &series.target[first..cutoff]
                    })
                    .collect();
                fit_models(model, context, &targets)
                    .into_iter()
                    .zip(chunk)
                    .map(|(fit, (series, _))| {
                        fit.map_err(|e| ModelError::InSeries {
                            id: series.id.clone(),
                            source: Box::new(e),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        Ok(StatisticalPanel {
            series: chosen.iter().map(|(s, _)| s.id.clone()).collect(),
            fitted,
        })
    }

    /// The series of `panel` where `wanted` is true, from parts fitted on any series each (see
    /// [`super::Forecaster::assemble`]); an error names a wanted series no part holds.
    pub(super) fn assemble(
        parts: Vec<StatisticalPanel>,
        panel: &Panel,
        wanted: &[bool],
    ) -> Result<StatisticalPanel, ModelError> {
        let mut by_id: std::collections::HashMap<String, Fitted> = std::collections::HashMap::new();
        for part in parts {
            part.check()?;
            for (id, fitted) in part.series.into_iter().zip(part.fitted) {
                if by_id.contains_key(&id) {
                    return Err(ModelError::Invalid {
                        what: "the parts of a fit",
                        reason: format!("series {id:?} is in more than one part"),
                    });
                }
                by_id.insert(id, fitted);
            }
        }
        let mut series = Vec::new();
        let mut fitted = Vec::new();
        for s in panel.series().iter().zip(wanted).filter(|(_, w)| **w) {
            let model = by_id.remove(&s.0.id).ok_or_else(|| ModelError::Invalid {
                what: "the parts of a fit",
                reason: format!("no part holds series {:?}", s.0.id),
            })?;
            series.push(s.0.id.clone());
            fitted.push(model);
        }
        Ok(StatisticalPanel { series, fitted })
    }

    /// Models fitted elsewhere, by series id.
    pub(super) fn from_parts(series: Vec<(String, Fitted)>) -> StatisticalPanel {
        let (series, fitted): (Vec<String>, Vec<Fitted>) = series.into_iter().unzip();
        StatisticalPanel { series, fitted }
    }

    pub(super) fn check(&self) -> Result<(), ModelError> {
        if self.series.len() != self.fitted.len() {
            return Err(ModelError::ShapeMismatch {
                what: "fitted models, one per series",
                expected: self.series.len(),
                got: self.fitted.len(),
            });
        }
        Ok(())
    }

    pub(super) fn len(&self) -> usize {
        self.series.len()
    }

    pub(super) fn id(&self, index: usize) -> Option<&str> {
        self.series.get(index).map(String::as_str)
    }

    pub(super) fn fitted(&self, index: usize) -> Option<&Fitted> {
        self.fitted.get(index)
    }

    pub(super) fn set(&mut self, index: usize, fitted: Fitted) -> Result<(), ModelError> {
        let len = self.fitted.len();
        *self
            .fitted
            .get_mut(index)
            .ok_or(ModelError::NoSeriesAt { index, len })? = fitted;
        Ok(())
    }

    #[cfg(test)]
    pub(super) fn replace(&mut self, index: usize, model: crate::models::FittedModel) {
        self.fitted[index].model = model;
    }

    fn get(&self, index: usize) -> Result<&Fitted, ModelError> {
        self.fitted.get(index).ok_or(ModelError::NoSeriesAt {
            index,
            len: self.fitted.len(),
        })
    }

    pub(super) fn absorb(&mut self, index: usize, y: &[f64]) -> Result<(), ModelError> {
        let len = self.fitted.len();
        let fitted = self
            .fitted
            .get_mut(index)
            .ok_or(ModelError::NoSeriesAt { index, len })?;
        fitted.model.absorb(y)
    }

    pub(super) fn forecast(
        &self,
        index: usize,
        horizon: usize,
        probabilities: &[f64],
        given: Option<&FutureValues>,
    ) -> Result<Made, ModelError> {
        let fitted = self.get(index)?;
        let mut notes = Vec::new();
        if given.is_some() {
            notes.push(format!(
                "exogenous values were ignored: the {} model of this series does not use them",
                fitted.model.id()
            ));
        }
        let forecast = fitted.model.predict(horizon, probabilities)?;
        Ok(Made { forecast, notes })
    }

    pub(super) fn sample_paths(
        &self,
        index: usize,
        horizon: usize,
        n_paths: usize,
        seed: u64,
    ) -> Result<SamplePaths, ModelError> {
        self.get(index)?.model.sample_paths(horizon, n_paths, seed)
    }
}
