//! Simulated future paths, from which AutoTheta's intervals are read: StatsForecast's
//! `compute_pi_samples`, with our generator.
//!
//! Each path runs the Theta recursion forward with a Gaussian error of the fitted `σ` added at
//! every step, and the draw standing in for the observation. The update is StatsForecast's
//! simulation update, not the fitting recursion: it moves the trend line after every draw whatever
//! the variant, and updates the slope with the mean *after* the draw. Both are kept so that our
//! intervals are StatsForecast's (the reference test compares widths with 20,000 of its paths).
//!
//! Draws are taken step by step across paths (step-major), so the first steps of a forecast do not
//! depend on how long the horizon is, and each step's draws are contiguous for reading quantiles.

use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use super::Seasonality;
use super::state::ThetaState;

/// What the simulation of future paths starts from.
#[derive(Clone, Copy, Debug)]
pub(super) struct SimulationStart<'a> {
    pub alpha: f64,
    pub theta: f64,
    /// Observations seen.
    pub n: usize,
    /// State after the last observation.
    pub last: ThetaState,
    /// Mean of the (deseasonalised) series.
    pub mean: f64,
    /// Standard deviation of the errors.
    pub sigma: f64,
    /// Put back into every draw.
    pub seasonality: &'a Seasonality,
}

impl SimulationStart<'_> {
    /// Advances one path by one step: returns the draw for step `i` (before reseasonalising),
    /// given `decay = (1 − α)^i` and the error `shock`, and updates `path`.
    fn advance(&self, path: &mut PathState, i: usize, decay: f64, shock: f64) -> f64 {
        let alpha = self.alpha;
        let t = i as f64;
        let draw = path.level
            + (1.0 - 1.0 / self.theta)
                * (path.intercept * decay + path.slope * (1.0 - decay * (1.0 - alpha)) / alpha)
            + shock;
        path.level = alpha * draw + (1.0 - alpha) * path.level;
        path.mean = (t * path.mean + draw) / (t + 1.0);
        path.slope = ((t - 1.0) * path.slope + 6.0 * (draw - path.mean) / (t + 1.0)) / (t + 2.0);
        path.intercept = path.mean - path.slope * (t + 2.0) / 2.0;
        draw
    }

    /// `n_paths` draws of `horizon` steps on the original scale, step-major:
    /// `draws[step * n_paths + path]`.
    pub fn draws(&self, horizon: usize, n_paths: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut paths = vec![self.path_state(); n_paths];
        let mut draws = Vec::with_capacity(horizon * n_paths);
        for step in 0..horizon {
            let i = self.n + step;
            let decay = (1.0 - self.alpha).powf(i as f64);
            for path in &mut paths {
                let z: f64 = StandardNormal.sample(&mut rng);
                let draw = self.advance(path, i, decay, self.sigma * z);
                draws.push(self.seasonality.apply(step, draw));
            }
        }
        draws
    }

    /// The state every path starts in.
    fn path_state(&self) -> PathState {
        PathState {
            level: self.last.level,
            mean: self.mean,
            intercept: self.last.intercept,
            slope: self.last.slope,
        }
    }
}

/// The moving part of one simulated path.
#[derive(Clone, Copy, Debug, PartialEq)]
struct PathState {
    level: f64,
    mean: f64,
    intercept: f64,
    slope: f64,
}

/// The type-7 empirical quantile of `sorted` (ascending), as [`crate::forecast::empirical_quantile`]
/// computes it, without sorting again: `predict` reads 21 quantiles off each step's draws.
pub(super) fn sorted_quantile(sorted: &[f64], probability: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let position = probability.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let weight = position - below as f64;
    sorted[below] + weight * (sorted[above] - sorted[below])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_quantiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(sorted_quantile(&v, 0.5), 2.5);
        assert_eq!(sorted_quantile(&v, 0.25), 1.75);
        assert_eq!(sorted_quantile(&v, 1.0), 4.0);
        assert!(sorted_quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn without_errors_a_path_follows_the_trend_line() {
        // σ = 0, θ = 2, α = 0.5, a flat level on a unit slope: every draw is deterministic, and
        // the first is the fitting recursion's forecast.
        let last = ThetaState {
            level: 10.0,
            mean: 5.0,
            intercept: 0.0,
            slope: 1.0,
            forecast: 10.0,
        };
        let start = SimulationStart {
            alpha: 0.5,
            theta: 2.0,
            n: 10,
            last,
            mean: 5.5,
            sigma: 0.0,
            seasonality: &Seasonality::None,
        };
        let draws = start.draws(3, 4, 1);
        let decay = 0.5f64.powi(10);
        let first = 10.0 + 0.5 * (1.0 - decay * 0.5) / 0.5;
        assert!((draws[0] - first).abs() < 1e-12, "{draws:?}");
        assert!(
            draws
                .chunks(4)
                .all(|step| step.iter().all(|d| *d == step[0])),
            "{draws:?}"
        );
    }
}
