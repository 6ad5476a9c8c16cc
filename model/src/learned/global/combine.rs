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
    groups: &[usize],
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
    Some(halves.map(|half| choose_weights(&half, member_paths, actual, horizon, groups)))
}

/// The convex weights minimising the calibration MAE of trajectories `rows` (see the module
/// docs). `groups` are the sizes of consecutive blocks of members (the learned members, then the
/// statistical ones): the weights within each block are chosen first, then the shares of the
/// blocks' combinations, so that a block that does not help gets share 0 and leaves the other's
/// combination exactly as it would be alone, and a few small choices, not one over every member,
/// are fitted to the same origins.
pub(super) fn choose_weights(
    rows: &[usize],
    member_paths: &[Vec<f64>],
    actual: &[f64],
    horizon: usize,
    groups: &[usize],
) -> Vec<f64> {
    let blocks: Vec<(usize, usize)> = groups
        .iter()
        .scan(0, |start, &size| {
            let block = (*start, size);
            *start += size;
            Some(block)
        })
        .filter(|&(_, size)| size > 0)
        .collect();
    debug_assert_eq!(groups.iter().sum::<usize>(), member_paths.len());
    if blocks.len() < 2 {
        return choose_flat(rows, member_paths, actual, horizon);
    }
    // The rows' trajectories, compacted: each block's combination is a path over them only.
    let compact = |path: &[f64]| -> Vec<f64> {
        rows.iter()
            .flat_map(|&k| path[k * horizon..(k + 1) * horizon].iter().copied())
            .collect()
    };
    let compact_actual = compact(actual);
    let block_members: Vec<Vec<Vec<f64>>> = blocks
        .iter()
        .map(|&(start, size)| {
            member_paths[start..start + size]
                .iter()
                .map(|p| compact(p))
                .collect()
        })
        .collect();
    let all: Vec<usize> = (0..rows.len()).collect();
    let within: Vec<Vec<f64>> = block_members
        .iter()
        .map(|paths| choose_flat(&all, paths, &compact_actual, horizon))
        .collect();
    // The blocks' shares are chosen on combinations whose own weights were chosen on the other
    // half of the trajectories (alternate runs of `horizon`), so a block whose in-sample fit is
    // noise does not buy a share with it; with too few trajectories to halve, in-sample.
    let halves: [Vec<usize>; 2] = [0, 1].map(|p| {
        all.iter()
            .copied()
            .filter(|&i| (i / horizon) % 2 == p)
            .collect()
    });
    let block_paths: Vec<Vec<f64>> = block_members
        .iter()
        .zip(&within)
        .map(|(paths, weights)| {
            let mut path = vec![0.0; compact_actual.len()];
            if halves.iter().any(Vec::is_empty) {
                combine_into(&all, paths, weights, horizon, &mut path);
            } else {
                for (fit_on, apply_to) in [(&halves[0], &halves[1]), (&halves[1], &halves[0])] {
                    let weights = choose_flat(fit_on, paths, &compact_actual, horizon);
                    combine_into(apply_to, paths, &weights, horizon, &mut path);
                }
            }
            path
        })
        .collect();
    let shares = choose_flat(&all, &block_paths, &compact_actual, horizon);
    within
        .iter()
        .zip(&shares)
        .flat_map(|(weights, share)| weights.iter().map(move |w| w * share))
        .collect()
}

/// Writes the combination `weights` of `paths` over trajectories `rows` into `path`, laid out
/// as the paths.
fn combine_into(
    rows: &[usize],
    paths: &[Vec<f64>],
    weights: &[f64],
    horizon: usize,
    path: &mut [f64],
) {
    for &i in rows {
        for j in i * horizon..(i + 1) * horizon {
            path[j] = weights.iter().zip(paths).map(|(w, p)| w * p[j]).sum();
        }
    }
}

/// The convex weights over every member alike: on a grid of steps `1 / STEPS` with up to three
/// members, by forward selection in the same steps with more.
fn choose_flat(
    rows: &[usize],
    member_paths: &[Vec<f64>],
    actual: &[f64],
    horizon: usize,
) -> Vec<f64> {
    let n = member_paths.len();
    if n == 1 {
        return vec![1.0];
    }
    if n > 3 {
        return greedy_weights(rows, member_paths, actual, horizon);
    }
    let mut best = (f64::INFINITY, vec![1.0 / n as f64; n]);
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

/// Steps of the weight grid: weights are multiples of `1 / STEPS`.
const STEPS: usize = 20;

/// Convex weights in multiples of `1 / STEPS` for more members than the grid can search:
/// forward selection with replacement (Caruana et al., 2004, "Ensemble selection from libraries
/// of models"), starting from the member with the smallest MAE and adding, `STEPS - 1` times,
/// the one whose extra share lowers the combination's calibration MAE most. With three members
/// or fewer the grid finds the optimum this approximates.
fn greedy_weights(
    rows: &[usize],
    member_paths: &[Vec<f64>],
    actual: &[f64],
    horizon: usize,
) -> Vec<f64> {
    let n = member_paths.len();
    let mae: Vec<f64> = (0..n)
        .map(|m| mean_abs_error(rows, member_paths, m, actual, horizon, &[]))
        .collect();
    let best = (0..n)
        .filter(|&m| mae[m].is_finite())
        .min_by(|&a, &b| mae[a].total_cmp(&mae[b]))
        .unwrap_or(0);
    let mut counts = vec![0usize; n];
    counts[best] = 1;
    for step in 2..=STEPS {
        let weights_with = |m: usize| -> Vec<f64> {
            (0..n)
                .map(|i| (counts[i] + usize::from(i == m)) as f64 / step as f64)
                .collect()
        };
        let mut chosen = (f64::INFINITY, best);
        for m in 0..n {
            let e = mean_abs_error(rows, member_paths, 0, actual, horizon, &weights_with(m));
            // Ties go to the earlier member: deterministic.
            if e < chosen.0 - 1e-12 {
                chosen = (e, m);
            }
        }
        counts[chosen.1] += 1;
    }
    counts.iter().map(|&c| c as f64 / STEPS as f64).collect()
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
        groups: &[usize],
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
        let n_members: usize = groups.iter().sum();
        let mae: Vec<f64> = (0..n_members)
            .map(|m| mean_abs_error(rows, member_paths, m, actual, horizon, &[]))
            .collect();
        let weights = if rows.is_empty() {
            vec![1.0 / n_members as f64; n_members]
        } else {
            choose_weights(rows, member_paths, actual, horizon, groups)
        };
        let halves = if cross_fit {
            cross_fitted_weights(rows, origins, member_paths, actual, horizon, groups)
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
