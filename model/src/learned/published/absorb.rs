//! Where a published model's series start: publishing at a cutoff, and moving a series' origin
//! on by absorbing new observations into its tail, its statistical members and its calibration
//! phase, without refitting.

use std::collections::BTreeMap;

use super::{Climatology, PublishedGlobal, SeriesTail};
use crate::error::ModelError;
use crate::learned::global::FittedGlobal;
use crate::panel::Panel;

impl PublishedGlobal {
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
            // Statistical members move on with the data between their fit and the origin; they
            // cannot move back.
            let fitted_to = model.series[index].cutoff;
            if origin < fitted_to && !model.series[index].statistical.is_empty() {
                return Err(ModelError::Invalid {
                    what: "the publishing cutoff",
                    reason: format!(
                        "{origin} is before the statistical members' fit at {fitted_to}"
                    ),
                });
            }
            if origin > fitted_to {
                let series = panel.get(&model.series[index].id).ok_or_else(|| {
                    ModelError::UnknownSeries {
                        id: model.series[index].id.clone(),
                    }
                })?;
                model.absorb_statistical(index, &series.target[fitted_to..origin])?;
            }
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
        // The last step that can fail; it changes nothing when it does.
        self.model.absorb_statistical(index, target)?;
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
}
