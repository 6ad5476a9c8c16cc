//! Statistical members of a global model's combination: ETS, Theta and MSTL fitted on each
//! series alone, weighed beside the learned members on the same calibration origins.
//!
//! A learned member is fitted once per refit fold and forecasts every origin after the fold's
//! cutoff from the actual data up to it. A statistical member does the same: it is fitted on
//! each series at the fold's cutoff and then absorbs the observations up to each origin in turn
//! ([`FittedModel::absorb`]), so its calibration forecasts come from a model that never saw the
//! values they are compared with, at the cost of one fit per fold rather than one per origin.

use rayon::prelude::*;

use super::calibrate::Calibration;
use super::forecast::{floor_if, is_non_negative};
use super::memo::{FitMemo, statistical_key};
use super::{FittedGlobal, ForecastInput, GlobalSeries, StatisticalMembers};
use crate::error::ModelError;
use crate::models::{FittedModel, ModelId, SeriesContext, fit_models};
use crate::panel::Series;

impl StatisticalMembers {
    fn context(&self) -> SeriesContext {
        SeriesContext {
            season_lengths: self.season_lengths.clone(),
        }
    }

    /// Every statistical member fitted on the training part `target[..cutoffs[s]]` of each series
    /// `s` of `indices`.
    pub(super) fn fit_final(
        &self,
        series: &[Series],
        cutoffs: &[usize],
        indices: &[usize],
    ) -> Result<Vec<Vec<FittedModel>>, ModelError> {
        let trainings: Vec<&[f64]> = indices
            .iter()
            .map(|&s| &series[s].target[..cutoffs[s]])
            .collect();
        let mut fitted: Vec<Vec<FittedModel>> = vec![Vec::new(); indices.len()];
        for &id in &self.models {
            for (models, fit) in fitted.iter_mut().zip(self.fit_each(id, &trainings)) {
                models.push(fit?);
            }
        }
        Ok(fitted)
    }

    /// Member `id` on the latest `input_size` of each training part (seasonal naive where `id`
    /// cannot be fitted, see [`fit_models`]). The parts are split into one chunk per thread and
    /// each chunk is fitted together, which lets ETS run its searches side by side.
    fn fit_each(&self, id: ModelId, trainings: &[&[f64]]) -> Vec<Result<FittedModel, ModelError>> {
        let context = self.context();
        let latest: Vec<&[f64]> = trainings.iter().map(|t| self.latest(t)).collect();
        let chunk = latest.len().div_ceil(rayon::current_num_threads()).max(1);
        latest
            .par_chunks(chunk)
            .flat_map_iter(|chunk| {
                fit_models(id, &context, chunk)
                    .into_iter()
                    .map(|fit| fit.map(|fitted| fitted.model))
            })
            .collect()
    }

    /// The part of `training` a member is fitted on: its latest `input_size` values.
    fn latest<'a>(&self, training: &'a [f64]) -> &'a [f64] {
        let first = self
            .input_size
            .map_or(0, |size| training.len().saturating_sub(size));
        &training[first..]
    }

    /// [`Self::fit_each`], taking the fits `memo` holds and keeping those it makes there; `None`
    /// where the member could not be fitted.
    fn fit_each_kept(
        &self,
        id: ModelId,
        trainings: &[&[f64]],
        memo: Option<&FitMemo>,
    ) -> Vec<Option<FittedModel>> {
        let Some(memo) = memo else {
            return self
                .fit_each(id, trainings)
                .into_iter()
                .map(Result::ok)
                .collect();
        };
        let context = (id, &self.season_lengths);
        let keys: Vec<Option<[u8; 32]>> = trainings
            .iter()
            .map(|t| statistical_key(&context, self.latest(t)))
            .collect();
        let mut fits: Vec<Option<Option<FittedModel>>> = keys
            .iter()
            .map(|key| key.as_ref().and_then(|key| memo.get_statistical(key)))
            .collect();
        let missing: Vec<usize> = (0..fits.len()).filter(|&i| fits[i].is_none()).collect();
        let parts: Vec<&[f64]> = missing.iter().map(|&i| trainings[i]).collect();
        for (&i, fit) in missing.iter().zip(self.fit_each(id, &parts)) {
            let fit = fit.ok();
            if let Some(key) = keys[i] {
                memo.insert_statistical(key, fit.clone());
            }
            fits[i] = Some(fit);
        }
        fits.into_iter().map(Option::flatten).collect()
    }

    /// Fits every member on `target[..cut]` of each `(series, cut)` of `requests` and keeps the
    /// fits in `memo`, for calibration forecasts that will ask for them.
    pub(super) fn prepare(&self, series: &[Series], requests: &[(usize, usize)], memo: &FitMemo) {
        let trainings: Vec<&[f64]> = requests
            .iter()
            .map(|&(s, cut)| &series[s].target[..cut])
            .collect();
        for &id in &self.models {
            self.fit_each_kept(id, &trainings, Some(memo));
        }
    }

    /// Per member, the scaled forecast trajectory of every calibration origin, laid out as the
    /// learned members' (`paths[m][k * horizon + j]`): fitted at the fold each origin is
    /// forecast by, moved on to the origin by absorbing the observations in between.
    pub(super) fn calibration_paths(
        &self,
        series: &[Series],
        cutoffs: &[usize],
        folds: &[Vec<usize>],
        origin_fold: &[usize],
        calibration: &Calibration,
        memo: Option<&FitMemo>,
    ) -> Result<Vec<Vec<f64>>, ModelError> {
        let horizon = calibration.horizon;
        let origins = &calibration.origins;
        let mut paths = vec![vec![0.0; origins.len() * horizon]; self.models.len()];
        if origins.is_empty() {
            return Ok(paths);
        }
        // Per series with origins, its origins grouped by fold, each group in time order.
        let mut by_series: std::collections::BTreeMap<usize, Vec<Vec<usize>>> =
            std::collections::BTreeMap::new();
        for (k, &(s, _)) in origins.iter().enumerate() {
            by_series
                .entry(s)
                .or_insert_with(|| vec![Vec::new(); folds.len()])[origin_fold[k]]
                .push(k);
        }
        let per_series: Vec<(usize, Vec<Vec<usize>>)> = by_series
            .into_iter()
            .map(|(s, mut groups)| {
                for group in &mut groups {
                    group.sort_by_key(|&k| origins[k].1);
                }
                (s, groups)
            })
            .collect();
        for (m, &id) in self.models.iter().enumerate() {
            // Every (series, fold) fit first, together; then each series' origins in turn.
            let requests: Vec<(usize, usize, usize)> = per_series
                .iter()
                .enumerate()
                .flat_map(|(p, (s, groups))| {
                    groups.iter().enumerate().filter_map(move |(f, group)| {
                        let &first = group.first()?;
                        Some((p, f, folds[f][*s].min(origins[first].1)))
                    })
                })
                .collect();
            let trainings: Vec<&[f64]> = requests
                .iter()
                .map(|&(p, _, fold_cutoff)| &series[per_series[p].0].target[..fold_cutoff])
                .collect();
            let mut fold_models: Vec<Vec<Option<FittedModel>>> =
                vec![vec![None; folds.len()]; per_series.len()];
            let fits = self.fit_each_kept(id, &trainings, memo);
            for (&(p, f, _), fit) in requests.iter().zip(fits) {
                // A fold too short to fit on forecasts naively (the last value).
                fold_models[p][f] = fit;
            }
            let trajectories: Vec<Vec<(usize, Vec<f64>)>> = per_series
                .par_iter()
                .zip(fold_models)
                .map(|((s, groups), mut models)| {
                    let s = *s;
                    let y = &series[s].target;
                    let non_negative = is_non_negative(&y[..cutoffs[s]]);
                    let mut out = Vec::new();
                    for (f, group) in groups.iter().enumerate() {
                        let Some(&first) = group.first() else {
                            continue;
                        };
                        let fold_cutoff = folds[f][s].min(origins[first].1);
                        let mut model = models[f].take();
                        let mut at = fold_cutoff;
                        for &k in group {
                            let origin = origins[k].1;
                            let point = match &mut model {
                                Some(model) => {
                                    model.absorb(&y[at..origin])?;
                                    model.point(horizon)?
                                }
                                None => Vec::new(),
                            };
                            at = origin;
                            let scale = calibration.scales[k];
                            let floor = floor_if(non_negative, scale);
                            let last = y[origin - 1];
                            let trajectory = point
                                .into_iter()
                                .chain(std::iter::repeat(f64::NAN))
                                .take(horizon)
                                .map(|v| {
                                    let v = if v.is_finite() { v } else { last };
                                    scale.scale(v).max(floor)
                                })
                                .collect();
                            out.push((k, trajectory));
                        }
                    }
                    Ok(out)
                })
                .collect::<Result<_, ModelError>>()?;
            for (k, trajectory) in trajectories.into_iter().flatten() {
                paths[m][k * horizon..(k + 1) * horizon].copy_from_slice(&trajectory);
            }
        }
        Ok(paths)
    }
}

impl FittedGlobal {
    /// Moves series `index`'s statistical members on over `y`, the observations after their
    /// state; an error leaves them as they were.
    pub fn absorb_statistical(&mut self, index: usize, y: &[f64]) -> Result<(), ModelError> {
        let len = self.series.len();
        let known = self
            .series
            .get_mut(index)
            .ok_or(ModelError::NoSeriesAt { index, len })?;
        let mut moved = known.statistical.clone();
        for model in &mut moved {
            model.absorb(y)?;
        }
        known.statistical = moved;
        Ok(())
    }

    /// Adds each input's statistical members' weighted points, on the scaled axis and held to
    /// `floors`, to the combined forecast `combined` (`horizon` steps per input).
    pub(super) fn add_statistical_points(
        &self,
        inputs: &[ForecastInput<'_>],
        horizon: usize,
        origin: Origin,
        floors: &[f64],
        combined: &mut [f64],
    ) -> Result<(), ModelError> {
        let learned = self.members.len();
        for (k, input) in inputs.iter().enumerate() {
            let known = &self.series[input.index];
            for (i, model) in known.statistical.iter().enumerate() {
                let w = known.weights.get(learned + i).copied().unwrap_or(0.0);
                if w == 0.0 {
                    continue;
                }
                let point = match origin {
                    Origin::PanelIndex => statistical_point(model, known, input, horizon)?,
                    Origin::MembersState => model.point(horizon)?,
                };
                for (j, v) in point.into_iter().enumerate() {
                    combined[k * horizon + j] += w * known.scale.scale(v).max(floors[k]);
                }
            }
        }
        Ok(())
    }
}

/// How an input's origin relates to the statistical members' state.
#[derive(Clone, Copy)]
pub(super) enum Origin {
    /// Indexed as the panel the model was fitted on (the members are at the series' cutoff).
    PanelIndex,
    /// The end of the input's data, where the members' state is.
    MembersState,
}

/// The point forecast of a statistical member of `known`'s series from `input`'s origin: from
/// its fit when the origin is the series' cutoff, else after absorbing the observations since
/// (a value that is not finite becomes the last observation, as in calibration).
fn statistical_point(
    model: &FittedModel,
    known: &GlobalSeries,
    input: &ForecastInput<'_>,
    horizon: usize,
) -> Result<Vec<f64>, ModelError> {
    let y = &input.series.target;
    let (cutoff, origin) = (known.cutoff, input.origin);
    if origin < cutoff || origin > y.len() {
        return Err(ModelError::Invalid {
            what: "the forecast origin",
            reason: format!(
                "{origin} is before the statistical members' fit at {cutoff} or past the data"
            ),
        });
    }
    let point = if origin == cutoff {
        model.point(horizon)?
    } else {
        let mut moved = model.clone();
        moved.absorb(&y[cutoff..origin])?;
        moved.point(horizon)?
    };
    let last = origin.checked_sub(1).map_or(0.0, |i| y[i]);
    Ok(point
        .into_iter()
        .map(|v| if v.is_finite() { v } else { last })
        .collect())
}
