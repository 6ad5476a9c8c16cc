//! Bounded Nelder-Mead minimisation, shared by the models that estimate smoothing parameters
//! (ETS, Theta).
//!
//! Written here rather than taken from `argmin` because the reference implementations we are
//! measured against (StatsForecast's ETS and Theta) use this exact variant: a simplex started at
//! `x0` with relative steps, points clamped to box bounds, and a stop when the spread of the
//! simplex's values falls below a tolerance. Matching it matters more than a cleverer optimiser:
//! the same model chosen by the same criterion gives the same forecasts.

/// Settings of [`nelder_mead`]; the defaults are StatsForecast's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NelderMead {
    /// Relative size of the initial simplex steps.
    pub init_step: f64,
    /// Step used for coordinates that start at zero.
    pub zero_pert: f64,
    /// Reflection coefficient.
    pub alpha: f64,
    /// Expansion coefficient.
    pub gamma: f64,
    /// Contraction coefficient.
    pub rho: f64,
    /// Shrink coefficient.
    pub sigma: f64,
    /// Maximum iterations.
    pub max_iter: usize,
    /// Stop when the standard deviation of the simplex's values is below this.
    pub tol_std: f64,
}

impl Default for NelderMead {
    fn default() -> Self {
        NelderMead {
            init_step: 0.05,
            zero_pert: 1.0e-4,
            alpha: 1.0,
            gamma: 2.0,
            rho: 0.5,
            sigma: 0.5,
            max_iter: 2_000,
            tol_std: 1.0e-10,
        }
    }
}

/// The result of a minimisation.
#[derive(Clone, Debug, PartialEq)]
pub struct Minimum {
    /// Where the minimum was found.
    pub x: Vec<f64>,
    /// The objective there.
    pub value: f64,
    /// Iterations used.
    pub iterations: usize,
}

fn clamp(x: &mut [f64], lower: &[f64], upper: &[f64]) {
    for ((v, lo), hi) in x.iter_mut().zip(lower).zip(upper) {
        *v = v.clamp(*lo, *hi);
    }
}

/// Minimises `f` from `x0` within `lower <= x <= upper` (element-wise). Non-finite objective
/// values are treated as +infinity, so an objective can reject a point by returning NaN.
pub fn nelder_mead(
    f: impl Fn(&[f64]) -> f64,
    x0: &[f64],
    lower: &[f64],
    upper: &[f64],
    settings: &NelderMead,
) -> Minimum {
    let eval = |x: &[f64]| {
        let v = f(x);
        if v.is_finite() { v } else { f64::INFINITY }
    };
    let n = x0.len();
    let mut start = x0.to_vec();
    clamp(&mut start, lower, upper);
    let mut simplex: Vec<Vec<f64>> = Vec::with_capacity(n + 1);
    simplex.push(start.clone());
    for i in 0..n {
        let mut point = start.clone();
        point[i] = if point[i] != 0.0 {
            point[i] * (1.0 + settings.init_step)
        } else {
            settings.zero_pert
        };
        clamp(&mut point, lower, upper);
        simplex.push(point);
    }
    let mut values: Vec<f64> = simplex.iter().map(|p| eval(p)).collect();
    let mut iterations = 0;
    while iterations < settings.max_iter {
        iterations += 1;
        // Order the simplex by value.
        let mut order: Vec<usize> = (0..=n).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        simplex = order.iter().map(|&i| simplex[i].clone()).collect();
        values = order.iter().map(|&i| values[i]).collect();

        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if finite.len() == values.len() {
            let mean = finite.iter().sum::<f64>() / finite.len() as f64;
            let var = finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / finite.len() as f64;
            if var.sqrt() < settings.tol_std {
                break;
            }
        }

        let centroid: Vec<f64> = (0..n)
            .map(|j| simplex[..n].iter().map(|p| p[j]).sum::<f64>() / n as f64)
            .collect();
        let towards = |from: &[f64], coefficient: f64| -> Vec<f64> {
            let mut p: Vec<f64> = centroid
                .iter()
                .zip(from)
                .map(|(c, x)| c + coefficient * (c - x))
                .collect();
            clamp(&mut p, lower, upper);
            p
        };
        let reflected = towards(&simplex[n], settings.alpha);
        let reflected_value = eval(&reflected);
        if values[0] <= reflected_value && reflected_value < values[n - 1] {
            simplex[n] = reflected;
            values[n] = reflected_value;
            continue;
        }
        if reflected_value < values[0] {
            let expanded = towards(&simplex[n], settings.alpha * settings.gamma);
            let expanded_value = eval(&expanded);
            if expanded_value < reflected_value {
                simplex[n] = expanded;
                values[n] = expanded_value;
            } else {
                simplex[n] = reflected;
                values[n] = reflected_value;
            }
            continue;
        }
        let contracted = if reflected_value < values[n] {
            towards(&reflected, -settings.rho)
        } else {
            towards(&simplex[n], -settings.rho)
        };
        let contracted_value = eval(&contracted);
        if contracted_value < values[n].min(reflected_value) {
            simplex[n] = contracted;
            values[n] = contracted_value;
            continue;
        }
        // Shrink towards the best point.
        let best = simplex[0].clone();
        for i in 1..=n {
            let mut p: Vec<f64> = best
                .iter()
                .zip(&simplex[i])
                .map(|(b, x)| b + settings.sigma * (x - b))
                .collect();
            clamp(&mut p, lower, upper);
            values[i] = eval(&p);
            simplex[i] = p;
        }
    }
    let best = (0..=n)
        .min_by(|&a, &b| values[a].total_cmp(&values[b]))
        .unwrap_or(0);
    Minimum {
        x: simplex[best].clone(),
        value: values[best],
        iterations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_shifted_bowl() {
        let f = |x: &[f64]| (x[0] - 0.3).powi(2) + 2.0 * (x[1] + 0.2).powi(2);
        let min = nelder_mead(
            f,
            &[0.9, 0.9],
            &[-1.0, -1.0],
            &[1.0, 1.0],
            &NelderMead::default(),
        );
        assert!((min.x[0] - 0.3).abs() < 1e-4, "{min:?}");
        assert!((min.x[1] + 0.2).abs() < 1e-4, "{min:?}");
    }

    #[test]
    fn stays_inside_the_bounds() {
        let f = |x: &[f64]| x[0];
        let min = nelder_mead(f, &[0.5], &[0.1], &[0.9], &NelderMead::default());
        assert!((min.x[0] - 0.1).abs() < 1e-9, "{min:?}");
    }

    #[test]
    fn treats_nan_as_a_rejected_point() {
        let f = |x: &[f64]| {
            if x[0] < 0.0 {
                f64::NAN
            } else {
                (x[0] - 0.5).powi(2)
            }
        };
        let min = nelder_mead(f, &[0.05], &[-1.0], &[1.0], &NelderMead::default());
        // A 1-D simplex can straddle the minimum with equal values, which stops the search.
        assert!((min.x[0] - 0.5).abs() < 5e-3, "{min:?}");
    }
}
