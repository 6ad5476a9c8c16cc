//! Calibration origins and refit folds: out-of-sample forecasts of every member from origins
//! inside each series' calibration span, which the combination and the conformal intervals are
//! built from.
//!
//! The members are fitted at points of a grid fixed in time, [`CalibrationSpec::refits`](
//! super::CalibrationSpec::refits) to a span, from the last before the span on (the refit
//! folds); each origin is forecast by the latest fit before it, so no forecast reads a value its
//! fit saw.

use super::forecast::{floor_of, recursive_points};
use super::{GlobalParams, GlobalShared};
use crate::error::ModelError;
use crate::features::{Featurizer, SeriesScale, TrainingSet};
use crate::panel::Series;
use crate::time::Frequency;

/// Every member's calibration forecasts and the actuals they are compared with.
pub(super) struct Calibration {
    /// Steps per trajectory.
    pub horizon: usize,
    /// `(series, origin)` of each trajectory.
    pub origins: Vec<(usize, usize)>,
    /// The scale of the fit each trajectory was forecast by.
    pub scales: Vec<SeriesScale>,
    /// Per member, the scaled forecast trajectories: `member_paths[m][k * horizon + j]`
    /// (empty without origins).
    pub member_paths: Vec<Vec<f64>>,
    /// The scaled actuals, laid out as each member's paths.
    pub actual: Vec<f64>,
}

impl Calibration {
    /// The trajectories of series `s`.
    pub fn rows_of(&self, s: usize) -> Vec<usize> {
        self.origins
            .iter()
            .enumerate()
            .filter(|(_, (series, _))| *series == s)
            .map(|(k, _)| k)
            .collect()
    }
}

/// Each series' calibration span: `span` steps before its cutoff, or half its usable history
/// (after the features' lookback, at least the horizon) when that is shorter than twice the span,
/// so that the calibration fits see as much data as the span holds origins — a monthly series of
/// ten years cannot give forty horizons to calibration and still have a model to calibrate.
pub(super) fn spans(cutoffs: &[usize], span: usize, lookback: usize, horizon: usize) -> Vec<usize> {
    cutoffs
        .iter()
        .map(|&c| span.min((c.saturating_sub(lookback) / 2).max(horizon)))
        .collect()
}

/// The cutoffs of the calibration fits, `folds[f][s]`: `refits + 1` points of a grid of
/// `span / refits` steps fixed in time (counted from the epoch of [`Frequency::phase`]), the
/// first at or before the start of series `s`'s span, so that every origin of the span has a fit
/// at most `span / refits` steps before it, as many evenly placed fits would give.
///
/// Why a fixed grid rather than points placed from each cutoff: fits at nearby cutoffs — a
/// backtest's windows, or a service refitting as observations arrive — then share their
/// calibration fits exactly (same data, same fit; see [`FitMemo`](super::FitMemo)), and only the
/// final fit is new.
pub(super) fn fold_cutoffs(
    series: &[Series],
    frequency: Frequency,
    cutoffs: &[usize],
    spans: &[usize],
    refits: usize,
) -> Vec<Vec<usize>> {
    let refits = refits.max(1);
    let starts: Vec<(usize, usize)> = series
        .iter()
        .zip(cutoffs.iter().zip(spans))
        .map(|(s, (&c, &span))| {
            let grid = (span / refits).max(1);
            let start = c.saturating_sub(span);
            let phase = frequency.phase(s.start, grid).unwrap_or(0);
            (start.saturating_sub((phase + start) % grid), grid)
        })
        .collect();
    (0..=refits)
        .map(|f| {
            starts
                .iter()
                .zip(cutoffs)
                .map(|(&(first, grid), &c)| (first + f * grid).min(c))
                .collect()
        })
        .collect()
}

/// Up to [`CalibrationSpec::max_origins`](super::CalibrationSpec::max_origins) origins per series,
/// evenly spread from the start of its span (or its lookback) to `horizon` steps before its
/// cutoff, latest first; none for a series the first calibration fit has no rows of.
pub(super) fn choose_origins(
    params: &GlobalParams,
    featurizer: &Featurizer,
    first_fold: &TrainingSet,
    cutoffs: &[usize],
    spans: &[usize],
    horizon: usize,
) -> Vec<(usize, usize)> {
    let mut origins = Vec::new();
    for (s, (&c, &span)) in cutoffs.iter().zip(spans).enumerate() {
        let first = c.saturating_sub(span).max(featurizer.lookback());
        let Some(last) = c.checked_sub(horizon) else {
            continue;
        };
        if first > last || first_fold.series[s].cutoff <= featurizer.lookback() {
            continue;
        }
        let count = last - first + 1;
        let stride = count.div_ceil(params.calibration.max_origins.max(1));
        origins.extend((first..=last).rev().step_by(stride).map(|o| (s, o)));
    }
    origins
}

/// Per member, the scaled forecast trajectory of every origin of `calibration`, each by the
/// shared fit of the fold `origin_fold` names, held to that fold's bounds.
pub(super) fn learned_paths(
    shared: &GlobalShared,
    series: &[Series],
    cutoffs: &[usize],
    origin_fold: &[usize],
    calibration: &Calibration,
    n_members: usize,
) -> Result<Vec<Vec<f64>>, ModelError> {
    let featurizer = &shared.featurizer;
    let Calibration {
        horizon,
        origins,
        scales,
        ..
    } = calibration;
    let horizon = *horizon;
    let mut member_paths = vec![vec![0.0; origins.len() * horizon]; n_members];
    let folds = shared.fold_members.iter().zip(&shared.fold_bounds);
    for (f, (members, bounds)) in folds.enumerate() {
        let Some(bounds) = *bounds else {
            continue;
        };
        let in_fold: Vec<usize> = (0..origins.len())
            .filter(|&k| origin_fold[k] == f)
            .collect();
        if in_fold.is_empty() {
            continue;
        }
        let starts: Vec<(&Series, usize, SeriesScale)> = in_fold
            .iter()
            .map(|&k| (&series[origins[k].0], origins[k].1, scales[k]))
            .collect();
        let floors: Vec<f64> = in_fold
            .iter()
            .map(|&k| {
                let s = origins[k].0;
                floor_of(&series[s].target[..cutoffs[s]], scales[k])
            })
            .collect();
        for (fitted, paths) in members.iter().zip(&mut member_paths) {
            let points = recursive_points(fitted, featurizer, &starts, horizon, bounds, &floors)?;
            for (&k, trajectory) in in_fold.iter().zip(points.chunks_exact(horizon)) {
                paths[k * horizon..(k + 1) * horizon].copy_from_slice(trajectory);
            }
        }
    }
    Ok(member_paths)
}
