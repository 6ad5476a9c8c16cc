//! The filter of [`super::core`] over several models of one class at once, laid out lane by
//! lane so the compiler can vectorise it.
//!
//! Each quantity is an array with one entry per lane (level, trend, each seasonal state), every
//! step is the same straight-line arithmetic on every lane, and the guards against division by
//! (near) zero are selects, so each operation of a step becomes one vector instruction over
//! the lanes. The seasonal ring advances in step on every lane: lanes of one class and season
//! length that start together stay in phase. Every lane's arithmetic is still
//! [`super::core`]'s, operation for operation (a select picks what the branch would have
//! computed; a product with 1 is exact), so each lane's result is the one the scalar filter
//! gives, to the bit; the unit test below checks it on every class.

use super::MAX_SEASON;
use super::core::Dynamics;
use super::core::{HUGE, State, TOL};
use super::logsum::LogSum;

const NO_SEASON: u8 = 0;
const ADDITIVE_SEASON: u8 = 1;

/// `(SSE, sum log|forecast|)` per lane, as the scalar loop gives them, for lanes whose states
/// share a season length and a phase; `None` when they do not.
#[expect(
    clippy::needless_range_loop,
    reason = "`t` indexes the step in every lane's series and `l` the lane in every array"
)]
pub(super) fn run<
    const MULTIPLICATIVE_ERROR: bool,
    const TREND: bool,
    const SEASON: u8,
    const L: usize,
>(
    lanes: &[Dynamics; L],
    ys: &[&[f64]; L],
    states: &mut [State; L],
) -> Option<([f64; L], [f64; L])> {
    let (m, oldest) = (states[0].m, states[0].oldest);
    if states.iter().any(|s| s.m != m || s.oldest != oldest) {
        return None;
    }
    let n = ys[0].len();
    let ys: [&[f64]; L] = std::array::from_fn(|l| &ys[l][..n]);
    let alpha: [f64; L] = std::array::from_fn(|l| lanes[l].alpha);
    let gamma: [f64; L] = std::array::from_fn(|l| lanes[l].gamma);
    let phi: [f64; L] = std::array::from_fn(|l| lanes[l].phi);
    let beta_over_alpha: [f64; L] = std::array::from_fn(|l| lanes[l].beta / lanes[l].alpha);
    let mut level: [f64; L] = std::array::from_fn(|l| states[l].level);
    let mut slope: [f64; L] = std::array::from_fn(|l| states[l].slope);
    let mut ring = [[0.0; L]; MAX_SEASON];
    for (k, slot) in ring.iter_mut().enumerate().take(m) {
        *slot = std::array::from_fn(|l| states[l].ring[k]);
    }
    let mut oldest = oldest;
    let mut sse = [0.0; L];
    let mut logs = Logs::<L>::new();
    for t in 0..n {
        let obs: [f64; L] = std::array::from_fn(|l| ys[l][t]);
        let old_season = if SEASON == NO_SEASON {
            [0.0; L]
        } else {
            ring[oldest]
        };
        let mut q = [0.0; L];
        let mut phi_b = [0.0; L];
        let mut forecast = [0.0; L];
        for l in 0..L {
            if TREND {
                phi_b[l] = phi[l] * slope[l];
                q[l] = level[l] + phi_b[l];
            } else {
                q[l] = level[l];
            }
            forecast[l] = match SEASON {
                NO_SEASON => q[l],
                ADDITIVE_SEASON => q[l] + old_season[l],
                _ => q[l] * old_season[l],
            };
        }
        for l in 0..L {
            let f = forecast[l];
            let e = if MULTIPLICATIVE_ERROR {
                let f0 = if f.abs() < TOL { f + TOL } else { f };
                (obs[l] - f) / f0
            } else {
                obs[l] - f
            };
            sse[l] += e * e;
        }
        if MULTIPLICATIVE_ERROR {
            logs.add(&forecast);
        }
        let mut p = [0.0; L];
        for l in 0..L {
            p[l] = match SEASON {
                NO_SEASON => obs[l],
                ADDITIVE_SEASON => obs[l] - old_season[l],
                _ => {
                    let ratio = obs[l] / old_season[l];
                    if old_season[l].abs() < TOL {
                        HUGE
                    } else {
                        ratio
                    }
                }
            };
        }
        for l in 0..L {
            let old_level = level[l];
            level[l] = q[l] + alpha[l] * (p[l] - q[l]);
            if TREND {
                let r = level[l] - old_level;
                slope[l] = phi_b[l] + beta_over_alpha[l] * (r - phi_b[l]);
            }
        }
        if SEASON != NO_SEASON {
            let mut next = [0.0; L];
            for l in 0..L {
                let t = if SEASON == ADDITIVE_SEASON {
                    obs[l] - q[l]
                } else {
                    let ratio = obs[l] / q[l];
                    if q[l].abs() < TOL { HUGE } else { ratio }
                };
                next[l] = old_season[l] + gamma[l] * (t - old_season[l]);
            }
            ring[oldest] = next;
            oldest = if oldest + 1 == m { 0 } else { oldest + 1 };
        }
    }
    for (l, state) in states.iter_mut().enumerate() {
        state.level = level[l];
        state.slope = slope[l];
        for (k, slot) in ring.iter().enumerate().take(m) {
            state.ring[k] = slot[l];
        }
        state.oldest = oldest;
    }
    Some((sse, logs.totals()))
}

/// One [`LogSum`] per lane, with the common case (every term in the multiplied range) as
/// straight-line arithmetic over the lanes and the rest per lane.
struct Logs<const L: usize> {
    sums: [LogSum; L],
}

impl<const L: usize> Logs<L> {
    fn new() -> Self {
        Logs {
            sums: [LogSum::default(); L],
        }
    }

    #[inline(always)]
    fn add(&mut self, forecast: &[f64; L]) {
        let magnitude: [f64; L] = std::array::from_fn(|l| forecast[l].abs());
        if magnitude.iter().all(|&v| LogSum::multiplies(v)) {
            for (sum, &v) in self.sums.iter_mut().zip(&magnitude) {
                sum.multiply(v);
            }
        } else {
            for (sum, &v) in self.sums.iter_mut().zip(&magnitude) {
                sum.add(v);
            }
        }
    }

    fn totals(&self) -> [f64; L] {
        std::array::from_fn(|l| self.sums[l].total())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ets::{ErrorKind, SeasonKind};

    #[test]
    fn every_lane_filters_as_the_scalar_filter_does() {
        const L: usize = 8;
        let m = 4;
        let ys: Vec<Vec<f64>> = (0..L)
            .map(|l| {
                (0..60)
                    .map(|t| {
                        let wiggle = ((t * 37 + l * 11) % 13) as f64 / 13.0;
                        10.0 + l as f64 + 0.05 * t as f64 + 2.0 * ((t % m) as f64) + wiggle
                    })
                    .collect()
            })
            .collect();
        for error in [ErrorKind::Additive, ErrorKind::Multiplicative] {
            for trend in [false, true] {
                for season in [
                    SeasonKind::None,
                    SeasonKind::Additive,
                    SeasonKind::Multiplicative,
                ] {
                    let lanes: [Dynamics; L] = std::array::from_fn(|l| Dynamics {
                        error,
                        trend,
                        season,
                        m: if season == SeasonKind::None { 1 } else { m },
                        alpha: 0.1 + 0.1 * l as f64,
                        beta: 0.01 + 0.005 * l as f64,
                        gamma: 0.02 * (l + 1) as f64,
                        phi: if trend { 0.85 + 0.01 * l as f64 } else { 1.0 },
                    });
                    let start = |l: usize| {
                        // Lane 3's first seasonal state is 0: the guard against dividing by it.
                        let first = if l == 3 { 0.0 } else { 1.1 };
                        let layout = [10.0 + l as f64, 0.1, first, 0.9, 1.2, 0.8];
                        let layout = if trend { &layout[..] } else { &layout[1..] };
                        let mut layout = layout.to_vec();
                        layout[0] = 10.0 + l as f64;
                        State::from_layout(&layout, trend, season, m)
                    };
                    let ys_ref: [&[f64]; L] = std::array::from_fn(|l| ys[l].as_slice());
                    let mut states: [State; L] = std::array::from_fn(start);
                    let liks = Dynamics::filter_lanes(&lanes, &ys_ref, &mut states);
                    for l in 0..L {
                        let mut alone = start(l);
                        let (lik, _) = lanes[l].filter(&ys[l], &mut alone);
                        let name = format!("{error:?} trend {trend} {season:?} lane {l}");
                        assert_eq!(
                            liks[l].to_bits(),
                            lik.to_bits(),
                            "{name}: {} vs {lik}",
                            liks[l]
                        );
                        assert_eq!(
                            states[l].to_layout(trend, season),
                            alone.to_layout(trend, season),
                            "{name}"
                        );
                    }
                }
            }
        }
    }
}
