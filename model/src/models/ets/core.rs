//! The ETS state-space recursions: one-step forecast, state update, the likelihood over a series,
//! and multi-step point forecasts.
//!
//! The arithmetic follows StatsForecast's `ets.cpp` (itself R forecast's `etscalc.c`) step for
//! step, including its guards against division by (near) zero, because the likelihood surface
//! they produce is what the optimiser explores and small differences there change which model
//! AICc picks. The seasonal states live in a ring buffer on the stack (`m <= 24`), so the
//! likelihood loop, which runs a few hundred thousand times per fit, never allocates.

use super::{ErrorKind, MAX_SEASON, SeasonKind};

/// Tolerance below which a divisor counts as zero (StatsForecast's `TOL`).
pub(crate) const TOL: f64 = 1.0e-10;
/// Stand-in for the result of dividing by (near) zero (StatsForecast's `HUGE_N`).
const HUGE: f64 = 1.0e10;

/// The structure and smoothing parameters of one ETS model. `beta` is 0 without a trend,
/// `gamma` 0 without a season and `phi` 1 without damping, so the recursions need no branches
/// on parameter presence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Dynamics {
    pub error: ErrorKind,
    pub trend: bool,
    pub season: SeasonKind,
    /// Season length; 1 when there is no season.
    pub m: usize,
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub phi: f64,
}

/// Level, trend and the last `m` seasonal states.
#[derive(Clone, Copy, Debug)]
pub(crate) struct State {
    pub level: f64,
    pub slope: f64,
    ring: [f64; MAX_SEASON],
    /// Index in `ring` of the oldest seasonal state, the one the next step uses.
    oldest: usize,
    m: usize,
}

impl State {
    /// Builds a state from StatsForecast's layout: `[l, (b), s_1 .. s_m]`, with `s_1` the most
    /// recent seasonal state and `s_m` the oldest (the one the next observation uses).
    pub fn from_layout(x: &[f64], trend: bool, season: SeasonKind, m: usize) -> State {
        let mut state = State {
            level: x.first().copied().unwrap_or(0.0),
            slope: 0.0,
            ring: [0.0; MAX_SEASON],
            oldest: 0,
            m: 1,
        };
        let mut next = 1;
        if trend {
            state.slope = x.get(1).copied().unwrap_or(0.0);
            next = 2;
        }
        if season != SeasonKind::None {
            state.m = m.clamp(1, MAX_SEASON);
            // ring[k] holds the state used k steps from now: s_m, s_(m-1), ..., s_1.
            for k in 0..state.m {
                state.ring[k] = x.get(next + state.m - 1 - k).copied().unwrap_or(0.0);
            }
        }
        state
    }

    /// The state in StatsForecast's layout (see [`State::from_layout`]).
    pub fn to_layout(self, trend: bool, season: SeasonKind) -> Vec<f64> {
        let mut x = vec![self.level];
        if trend {
            x.push(self.slope);
        }
        if season != SeasonKind::None {
            x.extend((0..self.m).map(|j| self.seasonal_ahead(self.m - 1 - j)));
        }
        x
    }

    /// The seasonal state used `k` steps from now (`k = 0` is the next step).
    fn seasonal_ahead(&self, k: usize) -> f64 {
        self.ring[(self.oldest + k) % self.m]
    }
}

impl Dynamics {
    /// Level plus damped trend for the next step, and the damped trend alone.
    fn base(&self, state: &State) -> (f64, f64) {
        if self.trend {
            let phi_b = self.phi * state.slope;
            (state.level + phi_b, phi_b)
        } else {
            (state.level, 0.0)
        }
    }

    /// The one-step-ahead point forecast from `state`.
    pub fn one_step(&self, state: &State) -> f64 {
        let (q, _) = self.base(state);
        match self.season {
            SeasonKind::None => q,
            SeasonKind::Additive => q + state.seasonal_ahead(0),
            SeasonKind::Multiplicative => q * state.seasonal_ahead(0),
        }
    }

    /// Moves `state` one step on, having observed `y`.
    pub fn update(&self, state: &mut State, y: f64) {
        let (q, phi_b) = self.base(state);
        let old_level = state.level;
        let old_season = if self.season == SeasonKind::None {
            0.0
        } else {
            state.seasonal_ahead(0)
        };
        let p = match self.season {
            SeasonKind::None => y,
            SeasonKind::Additive => y - old_season,
            SeasonKind::Multiplicative if old_season.abs() < TOL => HUGE,
            SeasonKind::Multiplicative => y / old_season,
        };
        state.level = q + self.alpha * (p - q);
        if self.trend {
            let r = state.level - old_level;
            state.slope = phi_b + (self.beta / self.alpha) * (r - phi_b);
        }
        if self.season != SeasonKind::None {
            let t = match self.season {
                SeasonKind::Multiplicative if q.abs() < TOL => HUGE,
                SeasonKind::Multiplicative => y / q,
                _ => y - q,
            };
            // The new state replaces the oldest, which becomes the newest.
            state.ring[state.oldest] = old_season + self.gamma * (t - old_season);
            state.oldest = (state.oldest + 1) % state.m;
        }
    }

    /// The one-step error of forecast `f` for observation `y`: absolute for additive errors,
    /// relative for multiplicative ones.
    pub fn error_of(&self, y: f64, f: f64) -> f64 {
        match self.error {
            ErrorKind::Additive => y - f,
            ErrorKind::Multiplicative => {
                let f0 = if f.abs() < TOL { f + TOL } else { f };
                (y - f) / f0
            }
        }
    }

    /// Runs the filter over `y` from `state` (left at the end of the series) and returns
    /// `(-2 log-likelihood up to a constant, sum of squared errors)`, as StatsForecast's `calc`:
    /// `n log(SSE)` plus, for multiplicative errors, `2 sum log|forecast|`.
    pub fn filter(&self, y: &[f64], state: &mut State) -> (f64, f64) {
        let mut sse = 0.0;
        let mut log_scale = 0.0;
        for &obs in y {
            let f = self.one_step(state);
            let e = self.error_of(obs, f);
            sse += e * e;
            let magnitude = f.abs();
            log_scale += if magnitude > 0.0 {
                magnitude.ln()
            } else {
                (magnitude + 1e-8).ln()
            };
            self.update(state, obs);
        }
        let n = y.len() as f64;
        let mut lik = if sse > 0.0 {
            n * sse.ln()
        } else {
            n * (sse + 1e-8).ln()
        };
        if self.error == ErrorKind::Multiplicative {
            lik += 2.0 * log_scale;
        }
        (lik, sse)
    }

    /// Point forecasts for `horizon` steps from `state` (no innovations). The damped trend
    /// contributes `(phi + ... + phi^h) b` at step `h`, as in R; StatsForecast 2.1.1 adds
    /// `phi^(h-1)` where `phi^h` belongs (an off-by-one in its `ets.cpp`), which we do not copy
    /// because the forecasts would then not be the model's means.
    pub fn forecast(&self, state: &State, horizon: usize) -> Vec<f64> {
        let undamped = (self.phi - 1.0).abs() < TOL;
        let mut phi_power = 1.0;
        let mut phi_star = 0.0;
        (0..horizon)
            .map(|i| {
                phi_power *= self.phi;
                phi_star += if undamped { 1.0 } else { phi_power };
                let mut f = if self.trend {
                    state.level + phi_star * state.slope
                } else {
                    state.level
                };
                match self.season {
                    SeasonKind::None => {}
                    SeasonKind::Additive => f += state.seasonal_ahead(i % state.m),
                    SeasonKind::Multiplicative => f *= state.seasonal_ahead(i % state.m),
                }
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holt_winters() -> Dynamics {
        Dynamics {
            error: ErrorKind::Additive,
            trend: true,
            season: SeasonKind::Additive,
            m: 3,
            alpha: 0.5,
            beta: 0.1,
            gamma: 0.2,
            phi: 1.0,
        }
    }

    #[test]
    fn the_layout_round_trips_through_the_ring_buffer() {
        let x = [10.0, 1.0, 0.5, -0.2, -0.3];
        let state = State::from_layout(&x, true, SeasonKind::Additive, 3);
        assert_eq!(state.to_layout(true, SeasonKind::Additive), x.to_vec());
    }

    #[test]
    fn forecasts_use_the_oldest_seasonal_state_first() {
        // s_3 = -0.3 is the oldest, so it belongs to the next step.
        let state =
            State::from_layout(&[10.0, 1.0, 0.5, -0.2, -0.3], true, SeasonKind::Additive, 3);
        let f = holt_winters().forecast(&state, 4);
        let expected = [11.0 - 0.3, 12.0 - 0.2, 13.0 + 0.5, 14.0 - 0.3];
        for (a, b) in f.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{f:?}");
        }
    }

    #[test]
    fn an_update_with_a_perfect_forecast_keeps_the_trajectory() {
        let dynamics = holt_winters();
        let mut state =
            State::from_layout(&[10.0, 1.0, 0.5, -0.2, -0.3], true, SeasonKind::Additive, 3);
        let before = dynamics.forecast(&state, 4);
        dynamics.update(&mut state, before[0]);
        let after = dynamics.forecast(&state, 3);
        for (a, b) in after.iter().zip(&before[1..]) {
            assert!((a - b).abs() < 1e-12, "{after:?} vs {before:?}");
        }
    }

    #[test]
    fn damped_forecasts_add_successive_powers_of_phi() {
        let dynamics = Dynamics {
            season: SeasonKind::None,
            m: 1,
            phi: 0.9,
            ..holt_winters()
        };
        let state = State::from_layout(&[10.0, 1.0], true, SeasonKind::None, 1);
        let f = dynamics.forecast(&state, 3);
        assert!((f[0] - 10.9).abs() < 1e-12);
        assert!((f[2] - (10.0 + 0.9 + 0.81 + 0.729)).abs() < 1e-12);
    }
}
