//! The combination: each series' convex weights over the members, chosen on its calibration
//! errors, and the combined forecast's calibration errors — cross-fitted, so that weights never
//! score the errors they were chosen on.

use super::calibrate::Calibration;

/// Mean absolute error of member `m` (or of the combination `weights` when given) over the
/// trajectories `rows`; NaN when there are none.
pub(super) fn mean_abs_error(
    rows: &[usize],
    member_paths: &[Vec<f64>],
    m: usize,
    actual: &[f64],
    horizon: usize,
    weights: &[f64],
) -> f64 {
    if rows.is_empty() || member_paths.is_empty() {
        return f64::NAN;
    }
    let mut total = 0.0;
    for &k in rows {
        for i in k * horizon..(k + 1) * horizon {
            let predicted = if weights.is_empty() {
                member_paths[m][i]
            } else {
                weights
                    .iter()
                    .zip(member_paths)
                    .map(|(w, p)| w * p[i])
                    .sum()
            };
            total += (actual[i] - predicted).abs();
        }
    }
    total / (rows.len() * horizon) as f64
}

/// Which half of the calibration origins origin `o` is in for cross-fitting: alternate blocks of
/// `horizon` steps, so each half spans the whole calibration span.
pub(super) fn parity(o: usize, horizon: usize) -> usize {
    (o / horizon) % 2
}

/// The member weights chosen on each half of a series' calibration origins `rows` (by
/// [`parity`]); `None` with a single member or when either half is empty.
pub(super) fn cross_fitted_weights(
    rows: &[usize],
    origins: &[(usize, usize)],
    member_paths: &[Vec<f64>],
    actual: &[f64],
    horizon: usize,
) -> Option<[Vec<f64>; 2]> {
    if member_paths.len() < 2 {
        return None;
    }
    let halves: [Vec<usize>; 2] = [0, 1].map(|p| {
        rows.iter()
            .copied()
            .filter(|&k| parity(origins[k].1, horizon) == p)
            .collect()
    });
    if halves.iter().any(Vec::is_empty) {
        return None;
    }
    Some(halves.map(|half| {
        let mae: Vec<f64> = (0..member_paths.len())
            .map(|m| mean_abs_error(&half, member_paths, m, actual, horizon, &[]))
            .collect();
        choose_weights(&half, member_paths, actual, horizon, &mae)
    }))
}

/// The convex weights, on a grid of steps `1 / STEPS`, minimising the calibration MAE (see the
/// module docs).
pub(super) fn choose_weights(
    rows: &[usize],
    member_paths: &[Vec<f64>],
    actual: &[f64],
    horizon: usize,
    mae: &[f64],
) -> Vec<f64> {
    let n = member_paths.len();
    if n == 1 {
        return vec![1.0];
    }
    if n > 3 {
        let inverse: Vec<f64> = mae.iter().map(|e| 1.0 / (e * e).max(1e-12)).collect();
        let total: f64 = inverse.iter().sum();
        return inverse.iter().map(|v| v / total).collect();
    }
    let mut best = (f64::INFINITY, vec![1.0 / n as f64; n]);
    const STEPS: usize = 20;
    let grid = |k: usize| k as f64 / STEPS as f64;
    let mut candidates = Vec::new();
    for a in 0..=STEPS {
        if n == 2 {
            candidates.push(vec![grid(a), grid(STEPS - a)]);
        } else {
            for b in 0..=(STEPS - a) {
                candidates.push(vec![grid(a), grid(b), grid(STEPS - a - b)]);
            }
        }
    }
    for weights in candidates {
        let e = mean_abs_error(rows, member_paths, 0, actual, horizon, &weights);
        // Ties go to the earlier candidate: deterministic.
        if e < best.0 - 1e-12 {
            best = (e, weights);
        }
    }
    best.1
}

/// Series `s`'s member weights and each member's calibration MAE, from its trajectories `rows`
/// (equal weights without any), and with cross-fitting the weights chosen on each half.
pub(super) struct Combination {
    pub mae: Vec<f64>,
    pub weights: Vec<f64>,
    pub halves: Option<[Vec<f64>; 2]>,
}

impl Combination {
    pub(super) fn choose(
        calibration: &Calibration,
        rows: &[usize],
        n_members: usize,
        cross_fit: bool,
    ) -> Combination {
        let Calibration {
            origins,
            member_paths,
            actual,
            horizon,
            ..
        } = calibration;
        let horizon = *horizon;
        let mae: Vec<f64> = (0..n_members)
            .map(|m| mean_abs_error(rows, member_paths, m, actual, horizon, &[]))
            .collect();
        let weights = if rows.is_empty() {
            vec![1.0 / n_members as f64; n_members]
        } else {
            choose_weights(rows, member_paths, actual, horizon, &mae)
        };
        let halves = if cross_fit {
            cross_fitted_weights(rows, origins, member_paths, actual, horizon)
        } else {
            None
        };
        Combination {
            mae,
            weights,
            halves,
        }
    }

    /// The combined calibration forecasts of trajectories `rows` in the series' own units, and
    /// their errors: relative to the forecast when `relative`, else on the scaled axis. Each
    /// origin's combination is the one chosen on the other half of the origins, with
    /// cross-fitting.
    pub(super) fn errors(
        &self,
        calibration: &Calibration,
        rows: &[usize],
        relative: bool,
    ) -> (Vec<f64>, Vec<f64>) {
        let horizon = calibration.horizon;
        let mut points = Vec::with_capacity(rows.len() * horizon);
        let mut errors = Vec::with_capacity(rows.len() * horizon);
        for &k in rows {
            let weights = self.halves.as_ref().map_or(&self.weights, |halves| {
                &halves[1 - parity(calibration.origins[k].1, horizon)]
            });
            let scale = calibration.scales[k];
            for j in 0..horizon {
                let i = k * horizon + j;
                let combined: f64 = weights
                    .iter()
                    .zip(&calibration.member_paths)
                    .map(|(w, paths)| w * paths[i])
                    .sum();
                points.push(scale.unscale(combined));
                errors.push(if relative {
                    let point = scale.unscale(combined).max(f64::MIN_POSITIVE);
                    (scale.unscale(calibration.actual[i]) - point) / point
                } else {
                    calibration.actual[i] - combined
                });
            }
        }
        (points, errors)
    }
}
