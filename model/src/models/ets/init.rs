//! Heuristic initial states, as R forecast's `initstate` in StatsForecast's version.
//!
//! The seasonal states come from a classical decomposition (statsmodels' `seasonal_decompose`:
//! a centred moving average of length `m`, or `2 x m` for even `m`, then the mean of the
//! detrended values per phase, normalised) when there are three seasons of data, and from a
//! regression on a line plus one Fourier pair otherwise. The level and slope come from a straight
//! line fitted to the first `max(10, 2m)` seasonally adjusted values. These are only the
//! optimiser's starting point, but the optimiser stops early (tolerance on the likelihood, at
//! most 1000 iterations), so they shape the fitted model and are reproduced exactly.

use super::SeasonKind;

/// Initial states in StatsForecast's layout `[l, (b), s_1 .. s_(m-1)]`: the last seasonal state
/// is implied by the others (they sum to 0, or to `m` when multiplicative) and is not estimated.
/// `None` when a multiplicative season meets non-positive data.
pub(crate) fn initial_states(
    y: &[f64],
    m: usize,
    trend: bool,
    season: SeasonKind,
) -> Option<Vec<f64>> {
    let n = y.len();
    let (initial_season, adjusted, m) = if season == SeasonKind::None || m < 2 {
        (Vec::new(), y.to_vec(), 1)
    } else {
        if n < 4 || (season == SeasonKind::Multiplicative && y.iter().any(|v| *v <= 0.0)) {
            return None;
        }
        let seasonal = if n < 3 * m {
            fourier_detrended(y, m, season)?
        } else {
            classical_seasonal(y, m, season)?
        };
        // s_1 .. s_(m-1): the phases m-1 down to 1 of the first season; phase 0 is implied.
        let mut initial: Vec<f64> = (1..m).rev().map(|j| seasonal[j]).collect();
        let adjusted: Vec<f64> = match season {
            SeasonKind::Multiplicative => {
                for s in &mut initial {
                    *s = s.max(1e-2);
                }
                let sum: f64 = initial.iter().sum();
                if sum > m as f64 {
                    let scale: f64 = initial.iter().map(|s| s + 1e-2).sum();
                    for s in &mut initial {
                        *s /= scale;
                    }
                }
                y.iter()
                    .zip(&seasonal)
                    .map(|(v, s)| v / s.max(1e-2))
                    .collect()
            }
            _ => y.iter().zip(&seasonal).map(|(v, s)| v - s).collect(),
        };
        (initial, adjusted, m)
    };
    let head = &adjusted[..(2 * m).max(10).min(n)];
    let mut states = if trend {
        let (mut level, mut slope) = line_fit(head);
        // StatsForecast nudges a zero one-step level so multiplicative errors never divide by it.
        if (level + slope).abs() < 1e-8 {
            level *= 1.0 + 1e-3;
            slope *= 1.0 - 1e-3;
        }
        vec![level, slope]
    } else {
        vec![head.iter().sum::<f64>() / head.len().max(1) as f64]
    };
    states.extend(initial_season);
    Some(states)
}

/// Least-squares intercept and slope of `v` against `t = 1, 2, ...`.
fn line_fit(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    if v.len() < 2 {
        return (v.first().copied().unwrap_or(0.0), 0.0);
    }
    let t_mean = (n + 1.0) / 2.0;
    let v_mean = v.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, value) in v.iter().enumerate() {
        let dt = (i + 1) as f64 - t_mean;
        sxy += dt * (value - v_mean);
        sxx += dt * dt;
    }
    let slope = sxy / sxx;
    (v_mean - slope * t_mean, slope)
}

/// statsmodels' `seasonal_decompose(y, period=m)`'s seasonal component (needs `n >= 2m`).
fn classical_seasonal(y: &[f64], m: usize, season: SeasonKind) -> Option<Vec<f64>> {
    let n = y.len();
    if n < 2 * m {
        return None;
    }
    // Centred moving average: m equal weights for odd m, (1/2, 1, ..., 1, 1/2) for even m.
    let weights: Vec<f64> = if m.is_multiple_of(2) {
        (0..=m)
            .map(|i| {
                if i == 0 || i == m {
                    0.5 / m as f64
                } else {
                    1.0 / m as f64
                }
            })
            .collect()
    } else {
        vec![1.0 / m as f64; m]
    };
    let half = weights.len() / 2;
    let mut sums = vec![0.0; m];
    let mut counts = vec![0usize; m];
    for t in half..n.saturating_sub(weights.len() - 1 - half) {
        let trend: f64 = weights
            .iter()
            .enumerate()
            .map(|(k, w)| w * y[t + k - half])
            .sum();
        let detrended = match season {
            SeasonKind::Multiplicative => y[t] / trend,
            _ => y[t] - trend,
        };
        sums[t % m] += detrended;
        counts[t % m] += 1;
    }
    let mut phase: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| s / c as f64)
        .collect();
    let mean = phase.iter().sum::<f64>() / m as f64;
    for p in &mut phase {
        match season {
            SeasonKind::Multiplicative => *p /= mean,
            _ => *p -= mean,
        }
    }
    let seasonal: Vec<f64> = (0..n).map(|t| phase[t % m]).collect();
    seasonal.iter().all(|s| s.is_finite()).then_some(seasonal)
}

/// For short series (`n < 3m`): `y` with a fitted line-plus-Fourier-pair's line removed (or
/// divided out), which StatsForecast then uses as the "seasonal" component.
fn fourier_detrended(y: &[f64], m: usize, season: SeasonKind) -> Option<Vec<f64>> {
    let n = y.len();
    let frequency = 2.0 * std::f64::consts::PI / m as f64;
    // For m = 2 the sine column is identically zero and StatsForecast drops it.
    let columns = if m == 2 { 3 } else { 4 };
    let row = |t: f64| [1.0, t, (frequency * t).cos(), (frequency * t).sin()];
    let mut xtx = [[0.0; 4]; 4];
    let mut xty = [0.0; 4];
    for (i, v) in y.iter().enumerate() {
        let x = row((i + 1) as f64);
        for a in 0..columns {
            xty[a] += x[a] * v;
            for b in 0..columns {
                xtx[a][b] += x[a] * x[b];
            }
        }
    }
    let coef = solve(xtx, xty, columns)?;
    let line = |i: usize| coef[0] + coef[1] * (i + 1) as f64;
    match season {
        SeasonKind::Multiplicative => {
            if y.iter().any(|v| *v <= 0.0) {
                return None;
            }
            Some((0..n).map(|i| y[i] / line(i)).collect())
        }
        _ => Some((0..n).map(|i| y[i] - line(i)).collect()),
    }
}

/// Solves the `k x k` system `a x = b` by Gaussian elimination with partial pivoting.
fn solve(mut a: [[f64; 4]; 4], mut b: [f64; 4], k: usize) -> Option<[f64; 4]> {
    for col in 0..k {
        let pivot = (col..k).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col];
        for r in col + 1..k {
            let factor = a[r][col] / pivot_row[col];
            for (x, p) in a[r][col..k].iter_mut().zip(&pivot_row[col..k]) {
                *x -= factor * p;
            }
            b[r] -= factor * b[col];
        }
    }
    let mut x = [0.0; 4];
    for r in (0..k).rev() {
        let tail: f64 = (r + 1..k).map(|c| a[r][c] * x[c]).sum();
        x[r] = (b[r] - tail) / a[r][r];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_level_only_model_starts_at_the_mean_of_the_first_ten_values() {
        let y: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(
            initial_states(&y, 1, false, SeasonKind::None),
            Some(vec![5.5])
        );
    }

    #[test]
    fn a_trend_model_starts_on_the_fitted_line() {
        let y: Vec<f64> = (1..=20).map(|t| 3.0 + 2.0 * f64::from(t)).collect();
        let x = initial_states(&y, 1, true, SeasonKind::None).unwrap();
        assert!(
            (x[0] - 3.0).abs() < 1e-9 && (x[1] - 2.0).abs() < 1e-9,
            "{x:?}"
        );
    }

    #[test]
    fn an_exact_additive_season_is_recovered_in_reverse_phase_order() {
        let pattern = [3.0, -1.0, -2.0];
        let y: Vec<f64> = (0..30).map(|t| 10.0 + pattern[t % 3]).collect();
        let x = initial_states(&y, 3, false, SeasonKind::Additive).unwrap();
        // [l, s_1, s_2] = [10, phase 2, phase 1].
        assert!((x[0] - 10.0).abs() < 1e-9, "{x:?}");
        assert!(
            (x[1] + 2.0).abs() < 1e-9 && (x[2] + 1.0).abs() < 1e-9,
            "{x:?}"
        );
    }

    #[test]
    fn a_multiplicative_season_on_non_positive_data_has_no_start() {
        let y: Vec<f64> = (0..10).map(|t| f64::from(t % 3)).collect();
        assert_eq!(
            initial_states(&y, 3, false, SeasonKind::Multiplicative),
            None
        );
    }
}
