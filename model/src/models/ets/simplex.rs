//! The Nelder-Mead variant StatsForecast's ETS uses (`nelder_mead.h`), reproduced step for step.
//!
//! The crate's shared [`crate::optim::nelder_mead`] is in the same family but not the same
//! algorithm, and for ETS the difference shows: StatsForecast stops after at most 1000
//! iterations or when the spread of the simplex's values falls below 1e-4, which on 10-30
//! parameters (a weekly or daily season's initial states) is usually *before* convergence. Which
//! model AICc then picks depends on where each search stopped, so matching StatsForecast's model
//! choice needs its exact steps:
//!
//! * adaptive coefficients (Gao and Han, 2012): expansion `1 + 2/n`, contraction `3/4 - 1/(2n)`,
//!   shrink `1 - 1/n`;
//! * the initial simplex perturbs coordinate `i` in vertex `i` and keeps the start as the last
//!   vertex;
//! * the simplex is never reordered: outside contraction is accepted if no worse than the
//!   reflected point, inside contraction if better than the worst, and a shrink moves every vertex
//!   but the first towards the best;
//! * the result is the vertex that was best at the start of the last iteration.
//!
//! Non-finite values are compared as they are (StatsForecast's objective returns `-inf` for a
//! NaN likelihood and `+inf` for an inadmissible start), and all buffers are allocated once.

/// StatsForecast's settings for ETS.
const INIT_STEP: f64 = 0.05;
const ZERO_PERTURBATION: f64 = 1.0e-4;
/// Stop when the population standard deviation of the simplex's values is below this.
pub(crate) const TOL_STD: f64 = 1.0e-4;
/// Iteration cap.
pub(crate) const MAX_ITER: usize = 1_000;

/// The vertex returned and its objective value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Optimum {
    pub x: Vec<f64>,
    pub value: f64,
}

fn clamp_into(target: &mut [f64], lower: &[f64], upper: &[f64]) {
    for ((v, lo), hi) in target.iter_mut().zip(lower).zip(upper) {
        // max then min, like Eigen's cwiseMax(lower).cwiseMin(upper); no panic if lo > hi.
        *v = v.max(*lo).min(*hi);
    }
}

fn spread(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt()
}

/// Minimises `f` from `x0` within the box `lower..=upper` (infinite bounds allowed).
pub(crate) fn minimise(
    mut f: impl FnMut(&[f64]) -> f64,
    x0: &[f64],
    lower: &[f64],
    upper: &[f64],
) -> Optimum {
    let n = x0.len();
    if n == 0 {
        return Optimum {
            x: Vec::new(),
            value: f(&[]),
        };
    }
    let nf = n as f64;
    let (reflect, expand, contract, shrink) =
        (1.0, 1.0 + 2.0 / nf, 0.75 - 1.0 / (2.0 * nf), 1.0 - 1.0 / nf);

    let mut start = x0.to_vec();
    clamp_into(&mut start, lower, upper);
    // Row-major (n + 1) x n.
    let mut simplex: Vec<f64> = Vec::with_capacity((n + 1) * n);
    for _ in 0..=n {
        simplex.extend_from_slice(&start);
    }
    for i in 0..n {
        let v = simplex[i * n + i];
        let v = if v == 0.0 {
            ZERO_PERTURBATION
        } else {
            v * (1.0 + INIT_STEP)
        };
        simplex[i * n + i] = v.max(lower[i]).min(upper[i]);
    }
    let mut values: Vec<f64> = (0..=n).map(|r| f(&simplex[r * n..(r + 1) * n])).collect();

    let mut order: Vec<usize> = (0..=n).collect();
    let mut centroid = vec![0.0; n];
    let mut reflected = vec![0.0; n];
    let mut trial = vec![0.0; n];
    let mut best = 0;
    for _ in 0..MAX_ITER {
        if spread(&values) < TOL_STD {
            break;
        }
        for (k, o) in order.iter_mut().enumerate() {
            *o = k;
        }
        order.sort_by(|&a, &b| {
            values[a]
                .partial_cmp(&values[b])
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        best = order[0];
        let worst = order[n];
        let second_worst = order[n - 1];

        for (j, c) in centroid.iter_mut().enumerate() {
            let total: f64 = (0..=n).map(|r| simplex[r * n + j]).sum();
            *c = (total - simplex[worst * n + j]) / nf;
        }
        for j in 0..n {
            reflected[j] = centroid[j] + reflect * (centroid[j] - simplex[worst * n + j]);
        }
        clamp_into(&mut reflected, lower, upper);
        let f_r = f(&reflected);
        if values[best] <= f_r && f_r < values[second_worst] {
            simplex[worst * n..(worst + 1) * n].copy_from_slice(&reflected);
            values[worst] = f_r;
            continue;
        }
        if f_r < values[best] {
            for j in 0..n {
                trial[j] = centroid[j] + expand * (reflected[j] - centroid[j]);
            }
            clamp_into(&mut trial, lower, upper);
            let f_e = f(&trial);
            let (point, value) = if f_e < f_r {
                (&trial, f_e)
            } else {
                (&reflected, f_r)
            };
            simplex[worst * n..(worst + 1) * n].copy_from_slice(point);
            values[worst] = value;
            continue;
        }
        if values[second_worst] <= f_r && f_r < values[worst] {
            for j in 0..n {
                trial[j] = centroid[j] + contract * (reflected[j] - centroid[j]);
            }
            clamp_into(&mut trial, lower, upper);
            let f_c = f(&trial);
            if f_c <= f_r {
                simplex[worst * n..(worst + 1) * n].copy_from_slice(&trial);
                values[worst] = f_c;
                continue;
            }
        } else {
            for j in 0..n {
                trial[j] = centroid[j] - contract * (reflected[j] - centroid[j]);
            }
            clamp_into(&mut trial, lower, upper);
            let f_c = f(&trial);
            if f_c < values[worst] {
                simplex[worst * n..(worst + 1) * n].copy_from_slice(&trial);
                values[worst] = f_c;
                continue;
            }
        }
        for r in 1..=n {
            for j in 0..n {
                let b = simplex[best * n + j];
                trial[j] = b + shrink * (simplex[r * n + j] - b);
            }
            clamp_into(&mut trial, lower, upper);
            simplex[r * n..(r + 1) * n].copy_from_slice(&trial);
            values[r] = f(&trial);
        }
    }
    Optimum {
        x: simplex[best * n..(best + 1) * n].to_vec(),
        value: values[best],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_bottom_of_a_bowl_inside_the_box() {
        let f = |x: &[f64]| (x[0] - 0.3).powi(2) + 2.0 * (x[1] + 0.2).powi(2) + 1.0;
        let min = minimise(f, &[0.9, 0.9], &[-1.0, -1.0], &[1.0, 1.0]);
        // The stop is on the spread of values (1e-4), so the point is only roughly located.
        assert!(
            (min.x[0] - 0.3).abs() < 0.05 && (min.x[1] + 0.2).abs() < 0.05,
            "{min:?}"
        );
    }

    #[test]
    fn never_leaves_the_box() {
        let min = minimise(
            |x: &[f64]| x[0] + x[1],
            &[0.5, 0.5],
            &[0.1, 0.2],
            &[0.9, 0.9],
        );
        assert!(min.x[0] >= 0.1 && min.x[1] >= 0.2, "{min:?}");
        assert!(min.value < 0.35, "{min:?}");
    }

    #[test]
    fn a_flat_objective_returns_the_first_vertex_at_once() {
        let min = minimise(
            |_: &[f64]| 7.0,
            &[0.5, 2.0],
            &[0.0, f64::NEG_INFINITY],
            &[1.0, f64::INFINITY],
        );
        assert_eq!(min.x, vec![0.525, 2.0]);
        assert_eq!(min.value, 7.0);
    }

    #[test]
    fn infinite_values_do_not_stop_the_search_or_panic() {
        let f = |x: &[f64]| {
            if x[0] > 0.6 {
                f64::INFINITY
            } else {
                (x[0] - 0.5).powi(2)
            }
        };
        let min = minimise(f, &[0.59], &[0.0], &[1.0]);
        assert!(min.value.is_finite(), "{min:?}");
    }
}
