//! A global fit in three stages, so that one fit can be spread over machines (`civicast-train fit
//! --shard`):
//!
//! 1. **Shared** ([`fit_shared`]): what learns across series, once per fit — the member
//!    regressors of each refit fold and of the final fit, the calibration origins and the scales
//!    and bounds of every fold.
//! 2. **Part** ([`fit_part`]): per series, for any subset of the series — the learned members'
//!    calibration forecasts from the shared fits, the statistical members, the combination and
//!    the calibrated errors.
//! 3. **Assembly** ([`assemble`]): the parts in panel order. A series with fewer than
//!    [`MIN_OWN_TRAJECTORIES`] trajectories takes the combination chosen on every series'
//!    trajectories together, which no part can know; so when some series has that few, the
//!    shared stage says so and every part carries its trajectories for the assembly to choose it.
//!
//! [`fit_global`](super::fit_global) is the three stages in one process, so a fit spread over
//! parts equals the fit in one piece value for value: each stage does the same arithmetic on the
//! same values whichever series sit beside a series in its part.

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use rayon::prelude::*;

use super::calibrate::{Calibration, choose_origins, fold_cutoffs, learned_paths, spans};
use super::memo::{FitMemo, FoldFit, fold_key};
use super::scaling::{calibrate_series, set_pooled_scales};
use super::{
    Bounds, FittedGlobal, FittedLearner, GlobalParams, GlobalSeries, MIN_OWN_TRAJECTORIES,
    MIN_ROWS, pooled_combination, stacked,
};
use crate::error::ModelError;
use crate::features::{Featurizer, SeriesScale, TrainedSeries, TrainingSet};
use crate::panel::{Panel, Series};

/// What every part of a global fit shares: everything fitted across series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GlobalShared {
    /// How rows are built.
    pub featurizer: Featurizer,
    /// The calibrated horizon.
    pub horizon: usize,
    /// Each refit fold's cutoff per series.
    pub folds: Vec<Vec<usize>>,
    /// Each fold's fitted members (none for a fold no origin is forecast by).
    pub fold_members: Vec<Vec<FittedLearner>>,
    /// Each fold's recursion bounds (none for a fold without members: a fold of too few rows
    /// has no finite bounds).
    pub fold_bounds: Vec<Option<Bounds>>,
    /// `(series, origin)` of every calibration trajectory, series by series.
    pub origins: Vec<(usize, usize)>,
    /// The fold each trajectory is forecast by.
    pub origin_fold: Vec<usize>,
    /// The scale of that fold's fit of each trajectory's series.
    pub scales: Vec<SeriesScale>,
    /// The members fitted on everything before the cutoffs.
    pub members: Vec<FittedLearner>,
    /// Each series as the final fit saw it.
    pub trained: Vec<TrainedSeries>,
    /// The final fit's recursion bounds.
    pub bounds: Bounds,
    /// Whether some series has too few trajectories of its own, so parts carry theirs.
    pub pooled: bool,
}

/// One part of a global fit: some of the series, complete but for the pooled combination.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GlobalPart {
    /// The panel indices of its series, ascending.
    pub series: Vec<usize>,
    /// Each of them fitted, with its own combination.
    pub fitted: Vec<GlobalSeries>,
    /// With [`GlobalShared::pooled`]: per member, the calibration trajectories of its series (in
    /// the order of [`GlobalShared::origins`]); else empty.
    #[serde(with = "crate::serde_nan::nested")]
    pub member_paths: Vec<Vec<f64>>,
    /// The actuals, laid out as `member_paths`.
    #[serde(with = "crate::serde_nan::vec")]
    pub actual: Vec<f64>,
}

/// Per member, a series' calibration trajectories; and their actuals.
type Trajectories = (Vec<Vec<f64>>, Vec<f64>);

/// Where a fit's calibration comes from: the folds, the origins and the fold of each.
struct Plan {
    folds: Vec<Vec<usize>>,
    origins: Vec<(usize, usize)>,
    origin_fold: Vec<usize>,
    /// The first fold's training set, which the origins were chosen from.
    first: TrainingSet,
}

fn check_request(
    params: &GlobalParams,
    panel: &Panel,
    cutoffs: &[usize],
) -> Result<(), ModelError> {
    if cutoffs.len() != panel.series().len() {
        return Err(ModelError::ShapeMismatch {
            what: "cutoffs, one per series of the panel",
            expected: panel.series().len(),
            got: cutoffs.len(),
        });
    }
    if params.members.is_empty() {
        return Err(ModelError::BadParameter {
            name: "members",
            value: "none".into(),
            expected: "at least one member regressor",
        });
    }
    Ok(())
}

fn plan(
    params: &GlobalParams,
    featurizer: &Featurizer,
    panel: &Panel,
    cutoffs: &[usize],
) -> Result<Plan, ModelError> {
    let series = panel.series();
    let horizon = params.horizon.max(1);
    let span = params.calibration.span.max(horizon);
    let spans = spans(cutoffs, span, featurizer.lookback(), horizon);
    let refits = params.calibration.refits;
    let folds = fold_cutoffs(series, panel.frequency(), cutoffs, &spans, refits);
    let first = stacked(featurizer, series, &folds[0])?;
    let origins = if first.n_rows() >= MIN_ROWS {
        choose_origins(params, featurizer, &first, cutoffs, &spans, horizon)
    } else {
        Vec::new()
    };
    // The fit each origin is forecast by: the last whose cutoff is at or before it.
    let origin_fold: Vec<usize> = origins
        .iter()
        .map(|&(s, o)| {
            (0..folds.len())
                .rev()
                .find(|&f| folds[f][s] <= o)
                .unwrap_or(0)
        })
        .collect();
    Ok(Plan {
        folds,
        origins,
        origin_fold,
        first,
    })
}

/// The members fitted on the rows before `fold`, from `memo` when it holds them (and kept there
/// when it does not); `set` is those rows when already built.
fn fit_fold(
    params: &GlobalParams,
    featurizer: &Featurizer,
    series: &[Series],
    fold: &[usize],
    set: Option<TrainingSet>,
    memo: Option<&FitMemo>,
) -> Result<Arc<FoldFit>, ModelError> {
    let key = memo.and_then(|_| fold_key(params, featurizer, series, fold));
    if let (Some(memo), Some(key)) = (memo, &key)
        && let Some(fit) = memo.get(key)
    {
        return Ok(fit);
    }
    let set = match set {
        Some(set) => set,
        None => stacked(featurizer, series, fold)?,
    };
    let fit = Arc::new(FoldFit {
        members: params
            .members
            .iter()
            .map(|m| m.fit(&set, params.seed))
            .collect::<Result<Vec<_>, _>>()?,
        bounds: Bounds::of(&set),
        scales: set.series.iter().map(|t| t.scale).collect(),
    });
    if let (Some(memo), Some(key)) = (memo, key) {
        memo.insert(key, Arc::clone(&fit));
    }
    Ok(fit)
}

/// Makes, in parallel, every calibration fit that fits at the cutoffs of `windows` would make,
/// and keeps them in `memo`: those fits then find them made, in any order and on any thread.
pub fn prepare(
    params: &GlobalParams,
    featurizer: &Featurizer,
    panel: &Panel,
    windows: &[Vec<usize>],
    memo: &FitMemo,
) -> Result<(), ModelError> {
    let plans = windows
        .par_iter()
        .map(|cutoffs| {
            check_request(params, panel, cutoffs)?;
            let plan = plan(params, featurizer, panel, cutoffs)?;
            let mut used: Vec<usize> = plan.origin_fold.clone();
            used.sort_unstable();
            used.dedup();
            // The statistical members are fitted per series at each fold it has origins in.
            let statistical: Vec<(usize, usize)> = plan
                .origins
                .iter()
                .zip(&plan.origin_fold)
                .map(|(&(s, _), &f)| (s, plan.folds[f][s]))
                .collect();
            Ok((
                used.into_iter().map(|f| plan.folds[f].clone()).collect(),
                statistical,
            ))
        })
        .collect::<Result<Vec<FoldRequests>, ModelError>>()?;
    let (folds, statistical): (Vec<_>, Vec<_>) = plans.into_iter().unzip();
    let mut folds: Vec<Vec<usize>> = folds.into_iter().flatten().collect();
    folds.sort_unstable();
    folds.dedup();
    folds.par_iter().try_for_each(|fold| {
        fit_fold(params, featurizer, panel.series(), fold, None, Some(memo)).map(drop)
    })?;
    let mut statistical: Vec<(usize, usize)> = statistical.into_iter().flatten().collect();
    statistical.sort_unstable();
    statistical.dedup();
    params
        .statistical
        .prepare(panel.series(), &statistical, memo);
    Ok(())
}

/// A window's learned calibration fits (each fold's cutoffs) and statistical ones (series, cut).
type FoldRequests = (Vec<Vec<usize>>, Vec<(usize, usize)>);

/// Stage 1: fits the members on each refit fold and on everything before `cutoffs`, taking the
/// fold fits from `memo` when it holds them.
pub fn fit_shared(
    params: &GlobalParams,
    featurizer: &Featurizer,
    panel: &Panel,
    cutoffs: &[usize],
    memo: Option<&FitMemo>,
) -> Result<GlobalShared, ModelError> {
    check_request(params, panel, cutoffs)?;
    let series = panel.series();
    let horizon = params.horizon.max(1);
    let Plan {
        folds,
        origins,
        origin_fold,
        first,
    } = plan(params, featurizer, panel, cutoffs)?;
    let mut first = Some(first);
    let mut fold_members = Vec::with_capacity(folds.len());
    let mut fold_bounds = Vec::with_capacity(folds.len());
    let mut fold_scales: Vec<Vec<SeriesScale>> = Vec::with_capacity(folds.len());
    for (f, fold) in folds.iter().enumerate() {
        if !origin_fold.contains(&f) {
            // Nothing is forecast from this fold.
            fold_scales.push(Vec::new());
            fold_bounds.push(None);
            fold_members.push(Vec::new());
            continue;
        }
        let set = if f == 0 { first.take() } else { None };
        let fit = fit_fold(params, featurizer, series, fold, set, memo)?;
        fold_scales.push(fit.scales.clone());
        fold_bounds.push(Some(fit.bounds));
        fold_members.push(fit.members.clone());
    }
    // The first fold's rows are not read again: freed before the final fit's are built.
    drop(first);
    let scales = origins
        .iter()
        .zip(&origin_fold)
        .map(|(&(s, _), &f)| fold_scales[f][s])
        .collect();
    let set = stacked(featurizer, series, cutoffs)?;
    if set.n_rows() < MIN_ROWS {
        return Err(ModelError::TooShort {
            needed: MIN_ROWS,
            got: set.n_rows(),
        });
    }
    let members = params
        .members
        .iter()
        .map(|m| m.fit(&set, params.seed))
        .collect::<Result<Vec<_>, _>>()?;
    let mut counts = vec![0usize; series.len()];
    for &(s, _) in &origins {
        counts[s] += 1;
    }
    let pooled = params.member_groups().iter().sum::<usize>() >= 2
        && !origins.is_empty()
        && counts.iter().any(|&c| c < MIN_OWN_TRAJECTORIES);
    Ok(GlobalShared {
        featurizer: featurizer.clone(),
        horizon,
        folds,
        fold_members,
        fold_bounds,
        origins,
        origin_fold,
        scales,
        members,
        bounds: Bounds::of(&set),
        trained: set.series,
        pooled,
    })
}

/// Stage 2: the series where `wanted` is true, each fitted with its own combination (the
/// statistical members' calibration fits from `memo` when it holds them).
pub fn fit_part(
    params: &GlobalParams,
    shared: &GlobalShared,
    panel: &Panel,
    cutoffs: &[usize],
    wanted: &[bool],
    memo: Option<&FitMemo>,
) -> Result<GlobalPart, ModelError> {
    let series = panel.series();
    shared.check_against(params, panel, cutoffs)?;
    if wanted.len() != series.len() {
        return Err(ModelError::ShapeMismatch {
            what: "wanted series, one per series of the panel",
            expected: series.len(),
            got: wanted.len(),
        });
    }
    let rows: Vec<usize> = (0..shared.origins.len())
        .filter(|&k| wanted[shared.origins[k].0])
        .collect();
    let origin_fold: Vec<usize> = rows.iter().map(|&k| shared.origin_fold[k]).collect();
    let mut calibration = Calibration {
        horizon: shared.horizon,
        origins: rows.iter().map(|&k| shared.origins[k]).collect(),
        scales: rows.iter().map(|&k| shared.scales[k]).collect(),
        member_paths: Vec::new(),
        actual: Vec::new(),
    };
    if !shared.origins.is_empty() {
        calibration.member_paths = learned_paths(
            shared,
            series,
            cutoffs,
            &origin_fold,
            &calibration,
            params.members.len(),
        )?;
        let statistical = params.statistical.calibration_paths(
            series,
            cutoffs,
            &shared.folds,
            &origin_fold,
            &calibration,
            memo,
        )?;
        calibration.member_paths.extend(statistical);
    }
    let horizon = shared.horizon;
    calibration.actual = calibration
        .origins
        .iter()
        .zip(&calibration.scales)
        .flat_map(|(&(s, o), &scale)| {
            series[s].target[o..o + horizon]
                .iter()
                .map(move |&y| scale.scale(y))
        })
        .collect();
    let indices: Vec<usize> = (0..series.len()).filter(|&s| wanted[s]).collect();
    let statistical = params.statistical.fit_final(series, cutoffs, &indices)?;
    let fitted = indices
        .iter()
        .zip(statistical)
        .map(|(&s, statistical)| {
            let mut known = calibrate_series(
                params,
                panel,
                cutoffs,
                s,
                &shared.trained[s],
                &calibration,
                None,
            );
            known.statistical = statistical;
            known
        })
        .collect();
    let (member_paths, actual) = if shared.pooled {
        (calibration.member_paths, calibration.actual)
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(GlobalPart {
        series: indices,
        fitted,
        member_paths,
        actual,
    })
}

/// Stage 3: the parts, which must hold every series of the panel once, as one fitted model.
pub fn assemble(
    params: &GlobalParams,
    shared: GlobalShared,
    panel: &Panel,
    cutoffs: &[usize],
    parts: Vec<GlobalPart>,
) -> Result<FittedGlobal, ModelError> {
    shared.check_against(params, panel, cutoffs)?;
    let n = panel.series().len();
    let mut slots: Vec<Option<GlobalSeries>> = vec![None; n];
    // Each series' member trajectories and actuals, when the pooled combination needs them.
    let mut paths: Vec<Option<Trajectories>> = vec![None; n];
    let horizon = shared.horizon;
    let mut counts = vec![0usize; n];
    for &(s, _) in &shared.origins {
        if let Some(c) = counts.get_mut(s) {
            *c += 1;
        }
    }
    let n_members = params.member_groups().iter().sum::<usize>();
    for part in parts {
        if part.fitted.len() != part.series.len() {
            return Err(ModelError::ShapeMismatch {
                what: "fitted series of a part, one per series index",
                expected: part.series.len(),
                got: part.fitted.len(),
            });
        }
        let trajectories: usize = part
            .series
            .iter()
            .map(|&s| counts.get(s).copied().unwrap_or(0))
            .sum();
        let expected = if shared.pooled {
            trajectories * horizon
        } else {
            0
        };
        let members = if shared.pooled { n_members } else { 0 };
        if part.member_paths.len() != members
            || part.member_paths.iter().any(|p| p.len() != expected)
            || part.actual.len() != expected
        {
            return Err(ModelError::Invalid {
                what: "the parts of a fit",
                reason: format!(
                    "a part's calibration trajectories are not {members} members' {expected} values"
                ),
            });
        }
        if part.series.windows(2).any(|w| w[0] >= w[1]) {
            return Err(ModelError::Invalid {
                what: "the parts of a fit",
                reason: "a part's series are not in ascending order".into(),
            });
        }
        // Each series' trajectories are consecutive in the part, in the shared order.
        let mut at = 0;
        for (s, known) in part.series.into_iter().zip(part.fitted) {
            let slot = slots
                .get_mut(s)
                .ok_or(ModelError::NoSeriesAt { index: s, len: n })?;
            if slot.is_some() {
                return Err(ModelError::Invalid {
                    what: "the parts of a fit",
                    reason: format!("series {s} is in more than one part"),
                });
            }
            if known.id != panel.series()[s].id {
                return Err(ModelError::Invalid {
                    what: "the parts of a fit",
                    reason: format!(
                        "series {s} is {:?} in its part but {:?} in the panel",
                        known.id,
                        panel.series()[s].id
                    ),
                });
            }
            *slot = Some(known);
            if shared.pooled {
                let count = counts[s];
                let range = at * horizon..(at + count) * horizon;
                let own = part
                    .member_paths
                    .iter()
                    .map(|p| p.get(range.clone()).map(<[f64]>::to_vec))
                    .collect::<Option<Vec<_>>>();
                let actual = part.actual.get(range.clone()).map(<[f64]>::to_vec);
                let (Some(own), Some(actual)) = (own, actual) else {
                    return Err(ModelError::Invalid {
                        what: "the parts of a fit",
                        reason: format!("series {s}'s calibration trajectories are missing"),
                    });
                };
                paths[s] = Some((own, actual));
                at += count;
            }
        }
    }
    let mut series: Vec<GlobalSeries> = Vec::with_capacity(n);
    for (s, slot) in slots.into_iter().enumerate() {
        series.push(slot.ok_or_else(|| ModelError::Invalid {
            what: "the parts of a fit",
            reason: format!("no part holds series {s} ({:?})", panel.series()[s].id),
        })?);
    }
    if shared.pooled {
        let mut calibration = Calibration {
            horizon,
            origins: shared.origins.clone(),
            scales: shared.scales.clone(),
            member_paths: vec![Vec::new(); n_members],
            actual: Vec::new(),
        };
        for (own, actual) in paths.into_iter().flatten() {
            for (all, mine) in calibration.member_paths.iter_mut().zip(own) {
                all.extend(mine);
            }
            calibration.actual.extend(actual);
        }
        let pooled = pooled_combination(params, &calibration, n);
        for (s, known) in series.iter_mut().enumerate() {
            if counts[s] >= MIN_OWN_TRAJECTORIES {
                continue;
            }
            let statistical = std::mem::take(&mut known.statistical);
            *known = calibrate_series(
                params,
                panel,
                cutoffs,
                s,
                &shared.trained[s],
                &calibration,
                pooled.as_ref(),
            );
            known.statistical = statistical;
        }
    }
    set_pooled_scales(&mut series, horizon);
    Ok(FittedGlobal {
        featurizer: shared.featurizer,
        members: shared.members,
        horizon,
        series,
        bounds: shared.bounds,
        statistical: params.statistical.models.clone(),
    })
}

impl GlobalShared {
    /// An error unless this was fitted with `params` on `panel`'s series at `cutoffs` and is
    /// whole: every index it holds in range, so that a damaged or foreign file cannot make the
    /// later stages read out of bounds.
    fn check_against(
        &self,
        params: &GlobalParams,
        panel: &Panel,
        cutoffs: &[usize],
    ) -> Result<(), ModelError> {
        let series = panel.series();
        let n = series.len();
        let invalid = |reason: String| ModelError::Invalid {
            what: "the shared stage of a fit",
            reason,
        };
        let same = self.trained.len() == n
            && cutoffs.len() == n
            && self
                .trained
                .iter()
                .zip(series)
                .zip(cutoffs)
                .all(|((t, s), &c)| t.id == s.id && t.cutoff == c);
        if !same {
            return Err(invalid(
                "it was fitted on other series or cutoffs than this panel's".into(),
            ));
        }
        if self.horizon != params.horizon.max(1) || self.members.len() != params.members.len() {
            return Err(invalid(format!(
                "it was fitted for a horizon of {} with {} members, not {} with {}",
                self.horizon,
                self.members.len(),
                params.horizon.max(1),
                params.members.len()
            )));
        }
        let folds = self.folds.len();
        if folds == 0
            || self.fold_members.len() != folds
            || self.fold_bounds.len() != folds
            || self.folds.iter().any(|f| f.len() != n)
        {
            return Err(invalid("its refit folds are incomplete".into()));
        }
        let k = self.origins.len();
        if self.origin_fold.len() != k || self.scales.len() != k {
            return Err(invalid("its calibration origins are incomplete".into()));
        }
        let mut last: Option<(usize, usize)> = None;
        for (&(s, o), &f) in self.origins.iter().zip(&self.origin_fold) {
            let fits = self.fold_members.get(f).map_or(0, Vec::len) == params.members.len()
                && self.fold_bounds.get(f).is_some_and(Option::is_some);
            let inside = s < n
                && o >= 1
                && o.checked_add(self.horizon)
                    .is_some_and(|end| end <= series[s].len() && o >= self.folds[f][s])
                && last.is_none_or(|(ls, lo)| ls < s || (ls == s && lo != o));
            if !fits || !inside {
                return Err(invalid(format!(
                    "calibration origin {o} of series {s} is outside its data or fold"
                )));
            }
            last = Some((s, o));
        }
        Ok(())
    }
}
