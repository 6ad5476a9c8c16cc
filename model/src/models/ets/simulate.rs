//! Sample paths: the fitted state-space model run forward with Gaussian innovations.
//!
//! Each path starts from the state after the last observation and draws `e ~ N(0, sigma^2)`
//! per step: `y = forecast + e` for additive errors, `y = forecast (1 + e)` for multiplicative
//! ones, then updates the states with `y` exactly as the filter does in-sample. This is what
//! StatsForecast's `simulate_ets` does, so path quantiles agree with the analytic intervals up to
//! the Gaussian approximation those make for multiplicative models.

use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use super::core::{Dynamics, State};

/// `n_paths` paths of `horizon` steps, reproducible for a given `seed`.
pub(crate) fn simulate(
    d: &Dynamics,
    last_state: &State,
    sigma: f64,
    horizon: usize,
    n_paths: usize,
    seed: u64,
) -> Vec<Vec<f64>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n_paths)
        .map(|_| {
            let mut state = *last_state;
            (0..horizon)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    let e = sigma * z;
                    let f = d.one_step(&state);
                    let y = match d.error {
                        super::ErrorKind::Additive => f + e,
                        super::ErrorKind::Multiplicative => f * (1.0 + e),
                    };
                    d.update(&mut state, y);
                    y
                })
                .collect()
        })
        .collect()
}
