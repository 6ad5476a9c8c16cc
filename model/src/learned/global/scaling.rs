//! The conformal scaling steps that turn a series' combined calibration errors into the errors
//! its intervals are read from, in order: level scaling, the phase profile, the condition
//! profile and the adaptive scale. Each divides the errors by what it explains and is stored, so
//! that a forecast multiplies it back in for each of its own steps (see the module docs of
//! [`super`]).

use super::calibrate::Calibration;
use super::combine::Combination;
use super::condition::{ConditionProfile, condition_profile};
use super::fallback::NaiveFallback;
use super::forecast::weighted_quantile;
use super::level::LevelScaling;
use super::phase::phase_profile;
use super::{CalibrationSpec, GlobalParams, GlobalSeries, MIN_OWN_TRAJECTORIES};
use crate::features::TrainedSeries;
use crate::panel::{ExogenousRole, Panel, Series};

/// Series `s`'s combination and calibrated errors, from the calibration forecasts of every
/// series; `trained` is its part of the final fit.
pub(super) fn calibrate_series(
    params: &GlobalParams,
    panel: &Panel,
    cutoffs: &[usize],
    s: usize,
    trained: &TrainedSeries,
    calibration: &Calibration,
    pooled: Option<&Combination>,
) -> GlobalSeries {
    let series = &panel.series()[s];
    let spec = &params.calibration;
    let horizon = calibration.horizon;
    let rows = calibration.rows_of(s);
    let mut combination =
        Combination::choose(calibration, &rows, &params.member_groups(), spec.cross_fit);
    if let Some(pooled) = pooled.filter(|_| rows.len() < MIN_OWN_TRAJECTORIES) {
        combination.weights.clone_from(&pooled.weights);
        combination.halves.clone_from(&pooled.halves);
    }
    let error_weights: Vec<f64> = if spec.half_life == 0 {
        Vec::new()
    } else {
        rows.iter()
            .map(|&k| {
                let age = cutoffs[s].saturating_sub(horizon + calibration.origins[k].1);
                recency_weight(age, spec.half_life)
            })
            .collect()
    };
    let training = &series.target[..cutoffs[s]];
    let smallest = training.iter().copied().fold(f64::INFINITY, f64::min);
    let non_negative = !training.is_empty() && smallest >= 0.0;
    // Errors scale with the level only where the forecast is of the series' size: a calibration
    // forecast far below anything the series has been (a trend carried down to zero) makes an
    // error relative to it meaningless, and infinite at zero.
    let relative_errors = (spec.relative && !training.is_empty() && smallest > 0.0)
        .then(|| combination.errors(calibration, &rows, true))
        .filter(|(points, _)| points.iter().all(|&p| p >= smallest / 2.0));
    let relative = relative_errors.is_some();
    let (points, mut errors) =
        relative_errors.unwrap_or_else(|| combination.errors(calibration, &rows, false));
    let level_scaling = if spec.level_power && !relative && non_negative {
        let mean = training.iter().sum::<f64>() / training.len() as f64;
        level_scaled(&points, &mut errors, mean)
    } else {
        None
    };
    let starts: Vec<usize> = rows.iter().map(|&k| calibration.origins[k].1).collect();
    let errors_at = ErrorsAt {
        starts: &starts,
        weights: &error_weights,
        horizon,
    };
    let (phase_scale, cutoff_phase) =
        phase_scaled(spec, panel, series, cutoffs[s], &errors_at, &mut errors);
    let condition = if spec.condition {
        condition_scaled(panel, series, &errors_at, &mut errors)
    } else {
        None
    };
    let adaptive_scale = adaptive_scale(&errors, &starts, horizon, spec);
    for e in &mut errors {
        *e *= adaptive_scale;
    }
    GlobalSeries {
        id: trained.id.clone(),
        cutoff: trained.cutoff,
        scale: trained.scale,
        weights: combination.weights,
        calibration_mae: combination.mae,
        errors,
        error_weights,
        non_negative,
        relative,
        adaptive_scale,
        pooled_scale: 1.0,
        level_scaling,
        phase_scale,
        cutoff_phase,
        condition,
        naive: NaiveFallback::of(training, spec.phase_period),
        statistical: Vec::new(),
    }
}

/// Where a series' error trajectories start and how much each counts.
struct ErrorsAt<'a> {
    /// The origin of each trajectory.
    starts: &'a [usize],
    /// The weight of each (empty: equal).
    weights: &'a [f64],
    horizon: usize,
}

/// Divides `errors` by the level scaling fitted to them and their forecasts `points` (see
/// [`LevelScaling`]), when there is one.
fn level_scaled(points: &[f64], errors: &mut [f64], mean: f64) -> Option<LevelScaling> {
    let level = LevelScaling::fit(points, errors, mean)?;
    for (e, &point) in errors.iter_mut().zip(points) {
        *e /= level.factor(point);
    }
    Some(level)
}

/// Divides `errors` by the phase profile of [`CalibrationSpec::phase_period`] fitted to them,
/// when there is one; gives it and the phase of the series' first forecast step (index
/// `cutoff`).
fn phase_scaled(
    spec: &CalibrationSpec,
    panel: &Panel,
    series: &Series,
    cutoff: usize,
    at: &ErrorsAt<'_>,
    errors: &mut [f64],
) -> (Vec<f64>, usize) {
    let period = spec.phase_period;
    let horizon = at.horizon;
    let base_phase = (period > 1)
        .then(|| panel.frequency().phase(series.start, period))
        .flatten();
    let phase_scale = base_phase
        .and_then(|base| {
            let phases: Vec<usize> = at.starts.iter().map(|&o| (base + o) % period).collect();
            phase_profile(errors, &phases, at.weights, horizon, period)
        })
        .unwrap_or_default();
    if let Some(base) = base_phase.filter(|_| !phase_scale.is_empty()) {
        for (trajectory, &o) in errors.chunks_exact_mut(horizon).zip(at.starts) {
            for (j, e) in trajectory.iter_mut().enumerate() {
                *e /= phase_scale[(base + o + j) % period];
            }
        }
    }
    let cutoff_phase = base_phase.map_or(0, |base| (base + cutoff) % period);
    (phase_scale, cutoff_phase)
}

/// Divides `errors` by the condition profile of the future-known column that explains most of
/// their size (see [`ConditionProfile`]), when there is one.
fn condition_scaled(
    panel: &Panel,
    series: &Series,
    at: &ErrorsAt<'_>,
    errors: &mut [f64],
) -> Option<ConditionProfile> {
    let horizon = at.horizon;
    let columns: Vec<(usize, Vec<f64>)> = panel
        .exogenous()
        .iter()
        .enumerate()
        .filter(|(_, spec)| spec.role == ExogenousRole::FutureKnown)
        .map(|(c, _)| {
            let column = &series.exogenous[c];
            let values = at
                .starts
                .iter()
                .flat_map(|&o| (0..horizon).map(move |j| column[o + j]))
                .collect();
            (c, values)
        })
        .collect();
    let profile = condition_profile(errors, at.weights, horizon, &columns)?;
    let column = &series.exogenous[profile.column];
    for (trajectory, &o) in errors.chunks_exact_mut(horizon).zip(at.starts) {
        for (j, e) in trajectory.iter_mut().enumerate() {
            *e /= profile.factor(column[o + j]);
        }
    }
    Some(profile)
}

/// The weight of an error trajectory whose horizon ended `age` steps before the cutoff it
/// calibrates (see [`CalibrationSpec::half_life`]; 1 when the half-life is 0).
pub(super) fn recency_weight(age: usize, half_life: usize) -> f64 {
    if half_life == 0 {
        1.0
    } else {
        0.5f64.powf(age as f64 / half_life as f64)
    }
}

/// The factor by which a series' calibration errors are widened so that the interval recipe
/// would have covered its own calibration span as it went: adaptive conformal inference (Gibbs
/// and Candès, 2021) on a scale rather than a level.
///
/// Walking forward through the series' non-overlapping calibration trajectories (oldest first,
/// after a quarter of them as a start), each trajectory's steps are checked against the central
/// 80% interval that the trajectories finished before it give — recency-weighted as forecasts
/// weight them — times the current scale; the scale is multiplied by
/// `exp(adapt * (missed share - 0.2))`. Where errors have been growing, or come in runs the
/// earlier ones do not contain, the recipe misses more than 20% and the scale ends above 1;
/// where it over-covered, below. 1 when `adapt` is 0 or there are fewer than six trajectories.
pub(super) fn adaptive_scale(
    errors: &[f64],
    starts: &[usize],
    horizon: usize,
    spec: &CalibrationSpec,
) -> f64 {
    let mut order: Vec<usize> = (0..starts.len()).collect();
    order.sort_by_key(|&r| starts[r]);
    let mut walk: Vec<usize> = Vec::new();
    for &r in &order {
        if walk
            .last()
            .is_none_or(|&p| starts[r] >= starts[p] + horizon)
        {
            walk.push(r);
        }
    }
    let first = (walk.len() / 4).max(5);
    if spec.adapt <= 0.0 || walk.len() <= first {
        return 1.0;
    }
    let mut scale = 1.0f64;
    let mut step_errors: Vec<(f64, f64)> = Vec::with_capacity(walk.len());
    for (n, &r) in walk.iter().enumerate().skip(first) {
        let mut missed = 0usize;
        for j in 0..horizon {
            step_errors.clear();
            step_errors.extend(walk[..n].iter().map(|&h| {
                let age = starts[r].saturating_sub(horizon + starts[h]);
                (errors[h * horizon + j], recency_weight(age, spec.half_life))
            }));
            step_errors.sort_by(|a, b| a.0.total_cmp(&b.0));
            let low = scale * weighted_quantile(&step_errors, 0.1);
            let high = scale * weighted_quantile(&step_errors, 0.9);
            let e = errors[r * horizon + j];
            if e < low || e > high {
                missed += 1;
            }
        }
        scale *= (spec.adapt * (missed as f64 / horizon as f64 - 0.2)).exp();
    }
    scale
}

/// A series' own calibration trajectories count as this many when its [`pooled
/// scale`](GlobalSeries::pooled_scale) is shrunk towards 1: a quarter of
/// [`MIN_OWN_TRAJECTORIES`], so that a series about to use its own errors has its pooled ones
/// scaled four-fifths of the way to its own size.
const POOLED_SCALE_PRIOR: f64 = MIN_OWN_TRAJECTORIES as f64 / 4.0;

/// Sets the [`pooled scale`](GlobalSeries::pooled_scale) of every series with fewer than
/// [`MIN_OWN_TRAJECTORIES`] trajectories but some: the mean absolute size of its own errors
/// over that of every series' errors of its kind (relative or on the scaled axis), each of its
/// `n` trajectories against [`POOLED_SCALE_PRIOR`] at 1, and never below 1.
///
/// Pooled errors give a short series the panel's typical error size, so a volatile series among
/// steady ones (remand counts of a small state beside a large state's sentenced prisoners) gets
/// bands too narrow for it. Its few trajectories cannot give quantiles, but they can say its
/// errors run larger. They cannot say as much for smaller: a few quiet origins are as often
/// luck as calm, and narrowing the steady series cost the quarterly panel four points of 80%
/// coverage for no better sCRPS (`docs/accuracy-history.md`, "Pooled errors at each series'
/// size").
pub(super) fn set_pooled_scales(series: &mut [GlobalSeries], horizon: usize) {
    let h = horizon.max(1);
    let mean_abs = |errors: &[f64]| {
        let (sum, n) = errors
            .iter()
            .filter(|e| e.is_finite())
            .fold((0.0, 0usize), |(sum, n), e| (sum + e.abs(), n + 1));
        (n > 0).then(|| sum / n as f64)
    };
    for relative in [false, true] {
        let pool: Vec<f64> = series
            .iter()
            .filter(|s| s.relative == relative)
            .flat_map(|s| s.errors.iter().copied())
            .collect();
        let Some(pooled) = mean_abs(&pool).filter(|&m| m > 0.0) else {
            continue;
        };
        for s in series.iter_mut().filter(|s| s.relative == relative) {
            let n = s.errors.len() / h;
            if n == 0 || n >= MIN_OWN_TRAJECTORIES {
                continue;
            }
            if let Some(own) = mean_abs(&s.errors) {
                let n = n as f64;
                let shrunk = (n * own / pooled + POOLED_SCALE_PRIOR) / (n + POOLED_SCALE_PRIOR);
                s.pooled_scale = shrunk.max(1.0);
            }
        }
    }
}
