//! The Theta state-space recursion of Fiorucci et al. (2016), as StatsForecast runs it.
//!
//! The state after observation `t` holds the smoothed level `ℓ`, the running mean `ȳ`, the
//! intercept `A` and slope `B` of the linear trend, and `μ`, the one-step forecast that was made
//! for `t`. The forecast for step `i` (0-based) from the state after `i - 1` is
//!
//! ```text
//! μ_i = ℓ + (1 − 1/θ) · (A · (1 − α)^i + B · (1 − (1 − α)^(i+1)) / α)
//! ```
//!
//! Standard models (STM, OTM) keep the `A`, `B` of a least-squares line through the whole series;
//! dynamic models (DSTM, DOTM) start them at `(y₀, 0)` and update them with each observation, so
//! the trend line only ever uses the past.
//!
//! Index conventions (the time index `i` entering the equations, where the recursion starts, which
//! mean the dynamic slope update reads) follow StatsForecast's `theta.cpp` exactly, because the
//! in-sample criterion they produce is what picks the variant, and the variants' criteria are
//! often within 1e-5 of each other.

use serde::{Deserialize, Serialize};

use super::Variant;

/// StatsForecast's floor on the mean absolute value that scales the fitting criterion, so an
/// all-zero series does not divide by zero.
const MEAN_ABS_FLOOR: f64 = 1e-10;

/// Residuals before this index are left out of the criterion: the first forecasts come from a
/// state that has seen almost nothing (StatsForecast's `e.tail(n - 3)`).
pub(super) const BURN_IN: usize = 3;

/// The state of the Theta recursion after one observation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThetaState {
    /// Smoothed level `ℓ`.
    pub level: f64,
    /// Running mean `ȳ` of the observations so far.
    pub mean: f64,
    /// Intercept `A` of the trend line.
    pub intercept: f64,
    /// Slope `B` of the trend line.
    pub slope: f64,
    /// The one-step forecast `μ` that was made for this observation.
    pub forecast: f64,
}

/// The parameters of one Theta model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Coefficients {
    pub variant: Variant,
    /// The level before the first observation, `ℓ₀`.
    pub initial_level: f64,
    pub alpha: f64,
    pub theta: f64,
}

impl Coefficients {
    /// The weight of the trend line in the forecast, `1 − 1/θ`.
    fn trend_weight(&self) -> f64 {
        1.0 - 1.0 / self.theta
    }

    /// The state after the first observation.
    pub(super) fn initial_state(&self, y: &[f64]) -> ThetaState {
        let y0 = y[0];
        let (intercept, slope, forecast) = if self.variant.is_dynamic() {
            (y0, 0.0, y0)
        } else {
            // Least-squares line through (t, y_t), t = 1..n, in closed form.
            let n = y.len() as f64;
            let mean = y.iter().sum::<f64>() / n;
            let weighted = y
                .iter()
                .enumerate()
                .map(|(t, v)| (t + 1) as f64 * v)
                .sum::<f64>()
                / n;
            let slope = 6.0 * (2.0 * weighted - (n + 1.0) * mean) / (n * n - 1.0);
            let intercept = mean - (n + 1.0) * slope / 2.0;
            let forecast = self.initial_level + self.trend_weight() * (intercept + slope);
            (intercept, slope, forecast)
        };
        ThetaState {
            level: self.alpha * y0 + (1.0 - self.alpha) * self.initial_level,
            mean: y0,
            intercept,
            slope,
            forecast,
        }
    }

    /// The state after step `i`, given the state after `i - 1`, `decay = (1 − α)^i`, and the
    /// observation at `i` (`None` when forecasting: the forecast stands in for it).
    pub(super) fn step(
        &self,
        prev: &ThetaState,
        i: usize,
        decay: f64,
        y: Option<f64>,
    ) -> ThetaState {
        let alpha = self.alpha;
        let forecast = prev.level
            + self.trend_weight()
                * (prev.intercept * decay + prev.slope * (1.0 - decay * (1.0 - alpha)) / alpha);
        let y = y.unwrap_or(forecast);
        let t = i as f64;
        let mean = (t * prev.mean + y) / (t + 1.0);
        let (intercept, slope) = if self.variant.is_dynamic() {
            // StatsForecast updates the slope with the mean *before* this observation.
            let slope = ((t - 1.0) * prev.slope + 6.0 * (y - prev.mean) / (t + 1.0)) / (t + 2.0);
            (mean - slope * (t + 2.0) / 2.0, slope)
        } else {
            (prev.intercept, prev.slope)
        };
        ThetaState {
            level: alpha * y + (1.0 - alpha) * prev.level,
            mean,
            intercept,
            slope,
            forecast,
        }
    }

    /// Runs the recursion over `y`, calling `visit(t, state)` after each observation, and returns
    /// StatsForecast's criterion: the sum of squared one-step errors after [`BURN_IN`], divided by
    /// the mean absolute observation (`mean_abs`, passed in because the optimiser calls this
    /// thousands of times on the same series).
    fn run(&self, y: &[f64], mean_abs: f64, mut visit: impl FnMut(usize, &ThetaState)) -> f64 {
        if y.is_empty() {
            return f64::NAN;
        }
        let mut state = self.initial_state(y);
        visit(0, &state);
        // The first residual is inside the burn-in, so the sum starts empty.
        let mut sse = 0.0;
        // (1 − α)^i kept as a running product: a `powf` per step would dominate the fit time.
        let mut decay = 1.0;
        for (i, &value) in y.iter().enumerate().skip(1) {
            decay *= 1.0 - self.alpha;
            state = self.step(&state, i, decay, Some(value));
            if i >= BURN_IN {
                sse += (value - state.forecast).powi(2);
            }
            visit(i, &state);
        }
        sse / mean_abs.max(MEAN_ABS_FLOOR)
    }

    /// The fitting criterion alone (no allocation), for the optimiser.
    pub fn criterion(&self, y: &[f64], mean_abs: f64) -> f64 {
        self.run(y, mean_abs, |_, _| {})
    }

    /// The criterion, the one-step residuals and the final state.
    pub fn residuals(&self, y: &[f64], mean_abs: f64) -> (f64, Vec<f64>, ThetaState) {
        let mut residuals = Vec::with_capacity(y.len());
        let mut last = None;
        let criterion = self.run(y, mean_abs, |t, state| {
            residuals.push(y[t] - state.forecast);
            last = Some(*state);
        });
        let last = last.unwrap_or(ThetaState {
            level: f64::NAN,
            mean: f64::NAN,
            intercept: f64::NAN,
            slope: f64::NAN,
            forecast: f64::NAN,
        });
        (criterion, residuals, last)
    }

    /// The state after the observations `y` that follow `n` observations ending in state
    /// `last`: the recursion runs on with the same coefficients (and, for the standard variants,
    /// the same trend line).
    pub fn absorb(&self, last: &ThetaState, n: usize, y: &[f64]) -> ThetaState {
        let mut state = *last;
        for (j, &value) in y.iter().enumerate() {
            let i = n + j;
            let decay = (1.0 - self.alpha).powf(i as f64);
            state = self.step(&state, i, decay, Some(value));
        }
        state
    }

    /// Point forecasts for `horizon` steps after `n` observations ending in state `last`.
    pub fn forecast(&self, last: &ThetaState, n: usize, horizon: usize) -> Vec<f64> {
        let mut state = *last;
        (0..horizon)
            .map(|j| {
                let i = n + j;
                let decay = (1.0 - self.alpha).powf(i as f64);
                state = self.step(&state, i, decay, None);
                state.forecast
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coefficients(variant: Variant, alpha: f64, theta: f64) -> Coefficients {
        Coefficients {
            variant,
            initial_level: 0.0,
            alpha,
            theta,
        }
    }

    #[test]
    fn the_standard_trend_line_is_the_least_squares_line() {
        let y: Vec<f64> = (1..=10).map(|t| 3.0 + 2.0 * t as f64).collect();
        let state = coefficients(Variant::Standard, 0.5, 2.0).initial_state(&y);
        assert!((state.slope - 2.0).abs() < 1e-12, "{state:?}");
        assert!((state.intercept - 3.0).abs() < 1e-12, "{state:?}");
    }

    #[test]
    fn the_dynamic_trend_line_tracks_a_straight_line_exactly() {
        // On y = t the dynamic regression has seen a perfect line, so A and B are exact.
        let y: Vec<f64> = (0..30).map(|t| t as f64).collect();
        let mut last = None;
        coefficients(Variant::DynamicStandard, 0.5, 2.0).run(&y, 1.0, |_, s| last = Some(*s));
        let last = last.unwrap();
        // Time is 1-based in the regression: y_t = (t - 1), so A = -1 and B = 1.
        assert!((last.slope - 1.0).abs() < 1e-9, "{last:?}");
        assert!((last.intercept + 1.0).abs() < 1e-9, "{last:?}");
    }

    #[test]
    fn theta_one_is_simple_exponential_smoothing() {
        // With θ = 1 the trend line has no weight: forecasts are the smoothed level.
        let y = [3.0, 5.0, 4.0, 6.0, 5.5];
        let model = coefficients(Variant::Optimised, 0.3, 1.0);
        let (_, residuals, last) = model.residuals(&y, 1.0);
        let mut level = 0.3 * 3.0;
        for (t, v) in y.iter().enumerate().skip(1) {
            assert!((residuals[t] - (v - level)).abs() < 1e-12);
            level = 0.3 * v + 0.7 * level;
        }
        assert_eq!(model.forecast(&last, y.len(), 3), vec![level; 3]);
    }

    #[test]
    fn the_criterion_skips_the_burn_in_and_scales_by_the_mean_absolute_value() {
        let y = [1.0, 2.0, 3.0, 2.0, 1.0, 2.0];
        let model = coefficients(Variant::Standard, 0.5, 2.0);
        let (criterion, residuals, _) = model.residuals(&y, 2.0);
        let sse: f64 = residuals[BURN_IN..].iter().map(|e| e * e).sum();
        assert!((criterion - sse / 2.0).abs() < 1e-12);
    }
}
