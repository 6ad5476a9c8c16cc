//! The Nelder-Mead variant of StatsForecast's `nelder_mead.h`, step for step.
//!
//! Why not [`crate::optim::nelder_mead`]: AutoTheta picks the variant with the smallest in-sample
//! criterion, and on real series the four variants' criteria are often within 1e-5 of each other
//! (Chicago `Clark_Lake`: STM 390.51525, OTM 390.51561, DOTM 390.51635), because the search stops
//! early (`tol_std = 1e-4`) rather than at the true minimum. Which variant wins, and the forecasts,
//! then depend on exactly where each search stops, so the search has to be StatsForecast's own.
//! Its differences from `optim.rs` matter whenever `α` sits at a bound (often: 0.1 or 0.99):
//! expansion and inside contraction start from the reflected point *after* it was clamped to the
//! box, an outside contraction is accepted on a tie, and the unperturbed start is the *last*
//! vertex (ties keep index order, so this decides flat objectives such as a constant series). With
//! `optim.rs` 8 of the 28 variant fits of our reference cases end elsewhere, some with point
//! forecasts 4% apart; with this port all agree to 1e-13.

/// Relative size of the initial simplex steps.
const INIT_STEP: f64 = 0.05;
/// Step used for coordinates that start at zero.
const ZERO_PERT: f64 = 1.0e-4;
/// Reflection coefficient.
const REFLECTION: f64 = 1.0;
/// StatsForecast's Theta iteration cap.
const MAX_ITER: usize = 1_000;
/// Stop when the population standard deviation of the simplex's values falls below this.
const TOL_STD: f64 = 1.0e-4;

fn clamp(x: &mut [f64], lower: &[f64], upper: &[f64]) {
    for ((v, lo), hi) in x.iter_mut().zip(lower).zip(upper) {
        *v = v.max(*lo).min(*hi);
    }
}

fn std_dev(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// Minimises `f` from `x0` within `lower <= x <= upper`. Non-finite values count as +infinity.
pub(super) fn minimise(
    f: impl Fn(&[f64]) -> f64,
    x0: &[f64],
    lower: &[f64],
    upper: &[f64],
) -> Vec<f64> {
    let eval = |x: &[f64]| {
        let v = f(x);
        if v.is_nan() { f64::INFINITY } else { v }
    };
    let n = x0.len();
    if n == 0 {
        return Vec::new();
    }
    let dim = n as f64;
    let expansion = 1.0 + 2.0 / dim;
    let contraction = 0.75 - 1.0 / (2.0 * dim);
    let shrink = 1.0 - 1.0 / dim;

    let mut start = x0.to_vec();
    clamp(&mut start, lower, upper);
    let mut simplex = vec![start; n + 1];
    for (i, vertex) in simplex.iter_mut().enumerate().take(n) {
        let v = vertex[i];
        let moved = if v == 0.0 {
            ZERO_PERT
        } else {
            v * (1.0 + INIT_STEP)
        };
        vertex[i] = moved.max(lower[i]).min(upper[i]);
    }
    let mut values: Vec<f64> = simplex.iter().map(|x| eval(x)).collect();

    let mut best = 0;
    let mut order: Vec<usize> = (0..=n).collect();
    let mut centroid = vec![0.0; n];
    let towards = |from: &[f64], to: &[f64], coefficient: f64| -> Vec<f64> {
        let mut p: Vec<f64> = from
            .iter()
            .zip(to)
            .map(|(c, x)| c + coefficient * (x - c))
            .collect();
        clamp(&mut p, lower, upper);
        p
    };
    for _ in 0..MAX_ITER {
        // A stable sort, like numpy's argsort on so few elements: ties keep index order.
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        best = order[0];
        let worst = order[n];
        let second_worst = order[n - 1];
        // NaN when a value is infinite: keep going, as StatsForecast does.
        if std_dev(&values) < TOL_STD {
            break;
        }
        centroid.fill(0.0);
        for &i in &order[..n] {
            for (c, x) in centroid.iter_mut().zip(&simplex[i]) {
                *c += x;
            }
        }
        for c in &mut centroid {
            *c /= dim;
        }
        let reflected = towards(&centroid, &simplex[worst], -REFLECTION);
        let f_reflected = eval(&reflected);
        if values[best] <= f_reflected && f_reflected < values[second_worst] {
            simplex[worst] = reflected;
            values[worst] = f_reflected;
            continue;
        }
        if f_reflected < values[best] {
            // Expansion and both contractions start from the *clamped* reflected point.
            let expanded = towards(&centroid, &reflected, expansion);
            let f_expanded = eval(&expanded);
            if f_expanded < f_reflected {
                simplex[worst] = expanded;
                values[worst] = f_expanded;
            } else {
                simplex[worst] = reflected;
                values[worst] = f_reflected;
            }
            continue;
        }
        if values[second_worst] <= f_reflected && f_reflected < values[worst] {
            let outside = towards(&centroid, &reflected, contraction);
            let f_outside = eval(&outside);
            if f_outside <= f_reflected {
                simplex[worst] = outside;
                values[worst] = f_outside;
                continue;
            }
        } else {
            let inside = towards(&centroid, &reflected, -contraction);
            let f_inside = eval(&inside);
            if f_inside < values[worst] {
                simplex[worst] = inside;
                values[worst] = f_inside;
                continue;
            }
        }
        let anchor = simplex[best].clone();
        for &i in &order[1..] {
            simplex[i] = towards(&anchor, &simplex[i], shrink);
            values[i] = eval(&simplex[i]);
        }
    }
    simplex.swap_remove(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_shifted_bowl() {
        let f = |x: &[f64]| 1e6 * ((x[0] - 0.3).powi(2) + 2.0 * (x[1] + 0.2).powi(2));
        let x = minimise(f, &[0.9, 0.9], &[-1.0, -1.0], &[1.0, 1.0]);
        assert!((x[0] - 0.3).abs() < 1e-4, "{x:?}");
        assert!((x[1] + 0.2).abs() < 1e-4, "{x:?}");
    }

    #[test]
    fn stays_inside_the_bounds() {
        let f = |x: &[f64]| 1e6 * (x[0] + x[1]);
        let x = minimise(f, &[0.5, 0.5], &[0.1, 0.2], &[0.9, 0.9]);
        assert!(
            (x[0] - 0.1).abs() < 1e-6 && (x[1] - 0.2).abs() < 1e-6,
            "{x:?}"
        );
    }

    #[test]
    fn a_flat_objective_returns_the_start() {
        let x = minimise(|_| 1.0, &[0.5, 2.0], &[0.0, 0.0], &[1.0, 3.0]);
        // StatsForecast returns vertex 0, the start with its first coordinate stepped by 5%.
        assert_eq!(x, vec![0.5 * 1.05, 2.0]);
    }
}
