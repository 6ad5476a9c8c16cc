//! The ETS state-space recursions: one-step forecast, state update, the likelihood over a series,
//! and multi-step point forecasts.
//!
//! The arithmetic follows StatsForecast's `ets.cpp` (itself R forecast's `etscalc.c`) step for
//! step, including its guards against division by (near) zero, because the likelihood surface
//! they produce is what the optimiser explores and small differences there change which model
//! AICc picks. The seasonal states live in a ring buffer on the stack (`m <= 24`), so the
//! likelihood loop, which runs a few hundred thousand times per fit, never allocates.

use super::logsum::LogSum;
use super::{ErrorKind, MAX_SEASON, SeasonKind};

/// Tolerance below which a divisor counts as zero (StatsForecast's `TOL`).
pub(crate) const TOL: f64 = 1.0e-10;
/// Stand-in for the result of dividing by (near) zero (StatsForecast's `HUGE_N`).
pub(super) const HUGE: f64 = 1.0e10;

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
    pub(super) ring: [f64; MAX_SEASON],
    /// Index in `ring` of the oldest seasonal state, the one the next step uses.
    pub(super) oldest: usize,
    pub(super) m: usize,
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

/// The season kinds as const-generic arguments, so that [`Dynamics::filter`] compiles one loop
/// per model class with no per-observation branching on the model's structure.
const NO_SEASON: u8 = 0;
const ADDITIVE_SEASON: u8 = 1;
const MULTIPLICATIVE_SEASON: u8 = 2;

/// What one step of the recursion reads from the state before moving it: the level plus damped
/// trend `q`, the damped trend `phi_b`, the seasonal state in use, and the point forecast.
#[derive(Clone, Copy)]
struct Step {
    q: f64,
    phi_b: f64,
    old_season: f64,
    forecast: f64,
}

/// Calls `$body` with `TREND` and `SEASON` bound as consts matching `$dynamics`, so the generic
/// step functions are instantiated once per model class.
macro_rules! with_structure {
    ($dynamics:expr, |$trend:ident, $season:ident| $body:expr) => {
        match ($dynamics.trend, $dynamics.season) {
            (false, SeasonKind::None) => {
                const $trend: bool = false;
                const $season: u8 = NO_SEASON;
                $body
            }
            (false, SeasonKind::Additive) => {
                const $trend: bool = false;
                const $season: u8 = ADDITIVE_SEASON;
                $body
            }
            (false, SeasonKind::Multiplicative) => {
                const $trend: bool = false;
                const $season: u8 = MULTIPLICATIVE_SEASON;
                $body
            }
            (true, SeasonKind::None) => {
                const $trend: bool = true;
                const $season: u8 = NO_SEASON;
                $body
            }
            (true, SeasonKind::Additive) => {
                const $trend: bool = true;
                const $season: u8 = ADDITIVE_SEASON;
                $body
            }
            (true, SeasonKind::Multiplicative) => {
                const $trend: bool = true;
                const $season: u8 = MULTIPLICATIVE_SEASON;
                $body
            }
        }
    };
}

impl Dynamics {
    /// The one-step-ahead point forecast from `state`.
    pub fn one_step(&self, state: &State) -> f64 {
        with_structure!(self, |TREND, SEASON| self
            .prepare::<TREND, SEASON>(state)
            .forecast)
    }

    /// Moves `state` one step on, having observed `y`.
    pub fn update(&self, state: &mut State, y: f64) {
        let beta_over_alpha = self.beta / self.alpha;
        with_structure!(self, |TREND, SEASON| {
            let step = self.prepare::<TREND, SEASON>(state);
            self.advance::<TREND, SEASON>(state, &step, y, beta_over_alpha);
        })
    }

    /// Reads what the next step needs (see [`Step`]). The arithmetic, here and in
    /// [`Dynamics::advance`], is StatsForecast's, operation for operation.
    #[inline(always)]
    fn prepare<const TREND: bool, const SEASON: u8>(&self, state: &State) -> Step {
        let (q, phi_b) = if TREND {
            let phi_b = self.phi * state.slope;
            (state.level + phi_b, phi_b)
        } else {
            (state.level, 0.0)
        };
        let old_season = if SEASON == NO_SEASON {
            0.0
        } else {
            state.ring[state.oldest]
        };
        let forecast = match SEASON {
            NO_SEASON => q,
            ADDITIVE_SEASON => q + old_season,
            _ => q * old_season,
        };
        Step {
            q,
            phi_b,
            old_season,
            forecast,
        }
    }

    /// Moves `state` on after observing `y`, from what [`Dynamics::prepare`] read.
    /// `beta_over_alpha` is `beta / alpha`, divided once per series rather than per step (the
    /// same IEEE quotient either way).
    #[inline(always)]
    fn advance<const TREND: bool, const SEASON: u8>(
        &self,
        state: &mut State,
        step: &Step,
        y: f64,
        beta_over_alpha: f64,
    ) {
        let Step {
            q,
            phi_b,
            old_season,
            ..
        } = *step;
        let p = match SEASON {
            NO_SEASON => y,
            ADDITIVE_SEASON => y - old_season,
            _ if old_season.abs() < TOL => HUGE,
            _ => y / old_season,
        };
        let old_level = state.level;
        state.level = q + self.alpha * (p - q);
        if TREND {
            let r = state.level - old_level;
            state.slope = phi_b + beta_over_alpha * (r - phi_b);
        }
        if SEASON != NO_SEASON {
            let t = match SEASON {
                MULTIPLICATIVE_SEASON if q.abs() < TOL => HUGE,
                MULTIPLICATIVE_SEASON => y / q,
                _ => y - q,
            };
            // The new state replaces the oldest, which becomes the newest. A compare instead
            // of `% m`: an integer division per step was a visible share of the loop.
            state.ring[state.oldest] = old_season + self.gamma * (t - old_season);
            state.oldest = if state.oldest + 1 == state.m {
                0
            } else {
                state.oldest + 1
            };
        }
    }

    /// Runs the filter over `y` from `state` (left at the end of the series) and returns
    /// `(-2 log-likelihood up to a constant, sum of squared errors)`, as StatsForecast's `calc`:
    /// `n log(SSE)` plus, for multiplicative errors, `2 sum log|forecast|`.
    ///
    /// This is the optimiser's objective, run hundreds of thousands of times per selection, so
    /// it is one loop per model class (no branching on the structure per observation), and
    /// the `sum log|forecast|` is only computed where the likelihood uses it (multiplicative
    /// errors), through [`LogSum`] rather than a logarithm per observation. StatsForecast's
    /// `calc` also accumulates multi-step MSEs (`amse`), but only for the `mse`/`amse`
    /// criteria; with the default likelihood criterion it is called with `nmse` unused, so we
    /// do not compute them at all.
    pub fn filter(&self, y: &[f64], state: &mut State) -> (f64, f64) {
        let states = std::array::from_mut(state);
        let ([sse], [log_scale]) = self.run_class::<1>(&[*self], &[y], states);
        (likelihood(self.error, y.len(), sse, log_scale), sse)
    }

    /// [`Dynamics::filter`]'s likelihood for `L` models of one class (`lanes[0]`'s error, trend
    /// and season kinds; their parameters may differ) over `L` series of one length, each from
    /// its own state. The lanes are independent chains of arithmetic, which the processor
    /// overlaps; one model's filter is a chain of dependent steps that leaves most of it idle.
    /// Each lane's arithmetic is [`Dynamics::filter`]'s, operation for operation, so each
    /// result is the same to the bit.
    pub fn filter_lanes<const L: usize>(
        lanes: &[Dynamics; L],
        ys: &[&[f64]; L],
        states: &mut [State; L],
    ) -> [f64; L] {
        let (sse, log_scale) = lanes[0].run_class::<L>(lanes, ys, states);
        std::array::from_fn(|l| likelihood(lanes[0].error, ys[l].len(), sse[l], log_scale[l]))
    }

    /// Runs the loop of `self`'s class over the lanes: `(SSE, sum log|forecast|)` per lane.
    fn run_class<const L: usize>(
        &self,
        lanes: &[Dynamics; L],
        ys: &[&[f64]; L],
        states: &mut [State; L],
    ) -> ([f64; L], [f64; L]) {
        match self.error {
            ErrorKind::Additive => {
                with_structure!(self, |TREND, SEASON| run::<false, TREND, SEASON, L>(
                    lanes, ys, states
                ))
            }
            ErrorKind::Multiplicative => {
                with_structure!(self, |TREND, SEASON| run::<true, TREND, SEASON, L>(
                    lanes, ys, states
                ))
            }
        }
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

/// `-2 log-likelihood` up to a constant from a filter's sums, as StatsForecast's `calc`:
/// `n log(SSE)` plus, for multiplicative errors, `2 sum log|forecast|`.
fn likelihood(error: ErrorKind, n: usize, sse: f64, log_scale: f64) -> f64 {
    let n = n as f64;
    let mut lik = if sse > 0.0 {
        n * sse.ln()
    } else {
        n * (sse + 1e-8).ln()
    };
    if error == ErrorKind::Multiplicative {
        lik += 2.0 * log_scale;
    }
    lik
}

/// The loop of [`Dynamics::filter`] for one model class over `L` lanes: `(SSE, sum
/// log|forecast|)` per lane, the latter 0 for additive errors. Every series must be as long
/// as the first.
#[expect(
    clippy::needless_range_loop,
    reason = "`t` indexes the step in every lane's series, not one slice"
)]
fn run<const MULTIPLICATIVE_ERROR: bool, const TREND: bool, const SEASON: u8, const L: usize>(
    lanes: &[Dynamics; L],
    ys: &[&[f64]; L],
    states: &mut [State; L],
) -> ([f64; L], [f64; L]) {
    if L > 1
        && let Some(sums) =
            super::lanes::run::<MULTIPLICATIVE_ERROR, TREND, SEASON, L>(lanes, ys, states)
    {
        return sums;
    }
    let n = ys[0].len();
    let ys: [&[f64]; L] = std::array::from_fn(|l| &ys[l][..n]);
    let beta_over_alpha: [f64; L] = std::array::from_fn(|l| lanes[l].beta / lanes[l].alpha);
    let mut sse = [0.0; L];
    let mut log_scale = [LogSum::default(); L];
    for t in 0..n {
        for l in 0..L {
            let obs = ys[l][t];
            let d = &lanes[l];
            let step = d.prepare::<TREND, SEASON>(&states[l]);
            let f = step.forecast;
            let e = if MULTIPLICATIVE_ERROR {
                relative_error(obs, f)
            } else {
                obs - f
            };
            sse[l] += e * e;
            if MULTIPLICATIVE_ERROR {
                log_scale[l].add(f.abs());
            }
            d.advance::<TREND, SEASON>(&mut states[l], &step, obs, beta_over_alpha[l]);
        }
    }
    (sse, log_scale.map(|s| s.total()))
}

/// StatsForecast's relative error, with its guard against a (near) zero forecast.
#[inline(always)]
fn relative_error(y: f64, f: f64) -> f64 {
    let f0 = if f.abs() < TOL { f + TOL } else { f };
    (y - f) / f0
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
    fn the_log_sum_matches_a_logarithm_per_term() {
        let terms: Vec<f64> = (0..5000)
            .map(|i| match i % 7 {
                0 => 1e-30 * (1.0 + i as f64),
                1 => 3e30 / (1.0 + i as f64),
                2 => 0.0,
                3 => 1e300,
                _ => 0.5 + (i % 13) as f64,
            })
            .collect();
        let mut sum = LogSum::default();
        for &t in &terms {
            sum.add(t);
        }
        let expected: f64 = terms
            .iter()
            .map(|&t| if t > 0.0 { t.ln() } else { (t + 1e-8).ln() })
            .sum();
        assert!(
            (sum.total() - expected).abs() < 1e-9 * expected.abs(),
            "{} vs {expected}",
            sum.total()
        );
    }

    #[test]
    fn the_log_sum_passes_nan_and_infinity_through() {
        let mut sum = LogSum::default();
        sum.add(2.0);
        sum.add(f64::INFINITY);
        assert_eq!(sum.total(), f64::INFINITY);
        sum.add(f64::NAN);
        assert!(sum.total().is_nan());
    }

    #[test]
    fn every_model_class_filters_like_the_step_by_step_recursion() {
        let y: Vec<f64> = (0..40)
            .map(|t| 10.0 + (t % 4) as f64 + 0.1 * t as f64)
            .collect();
        for error in [ErrorKind::Additive, ErrorKind::Multiplicative] {
            for trend in [false, true] {
                for season in [
                    SeasonKind::None,
                    SeasonKind::Additive,
                    SeasonKind::Multiplicative,
                ] {
                    let d = Dynamics {
                        error,
                        trend,
                        season,
                        m: 4,
                        phi: 0.9,
                        ..holt_winters()
                    };
                    let layout = [10.0, 0.1, 1.1, 0.9, 1.2, 0.8];
                    let layout = if trend {
                        &layout[..]
                    } else {
                        &[10.0, 1.1, 0.9, 1.2, 0.8][..]
                    };
                    let start = State::from_layout(layout, trend, season, 4);
                    let (mut by_step, mut sse, mut logs) = (start, 0.0, 0.0);
                    for &obs in &y {
                        let f = d.one_step(&by_step);
                        let e = match error {
                            ErrorKind::Additive => obs - f,
                            ErrorKind::Multiplicative => relative_error(obs, f),
                        };
                        sse += e * e;
                        logs += f.abs().ln();
                        d.update(&mut by_step, obs);
                    }
                    let n = y.len() as f64;
                    let mut lik = n * sse.ln();
                    if error == ErrorKind::Multiplicative {
                        lik += 2.0 * logs;
                    }
                    let mut filtered = start;
                    let (got_lik, got_sse) = d.filter(&y, &mut filtered);
                    assert_eq!(got_sse, sse, "{d:?}");
                    assert!((got_lik - lik).abs() < 1e-9, "{d:?}: {got_lik} vs {lik}");
                    assert_eq!(
                        filtered.to_layout(trend, season),
                        by_step.to_layout(trend, season)
                    );
                }
            }
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
