//! The MSTL decomposition: seasonal components for several periods, a trend and a remainder.
//!
//! This is StatsForecast 2.1.1's `statsforecast.mstl.mstl`, itself a port of R's
//! `forecast::mstl`: periods in ascending order, each seasonal component re-estimated by one STL
//! fit on the series with the other components removed, two passes over all periods (one when
//! there is a single period), and the trend taken from the very last STL fit.
//!
//! Each STL fit uses statsmodels' `STL` defaults, which StatsForecast passes through unchanged
//! except for `seasonal_deg = 0`; every parameter is spelled out in [`stl_settings`].
//!
//! Periods that do not fit twice into the series are dropped, as R's `forecast::mstl` does.
//! StatsForecast 2.1.1 itself does not drop them: it hands statsmodels a series shorter than two
//! cycles, which "works" by extrapolating cycle-subseries of one point, so there is no reference
//! behaviour worth matching there.

use super::stl::{Loess, Stl};
use crate::error::ModelError;

/// StatsForecast's seasonal smoothing windows are `7 + 4k` for the k-th period (k = 1, 2, ...,
/// periods ascending), from R's `forecast::mstl`.
const SEASONAL_WINDOW_BASE: usize = 7;
/// See [`SEASONAL_WINDOW_BASE`].
const SEASONAL_WINDOW_STEP: usize = 4;
/// Passes over all periods when there are several (`iterate = 2` in StatsForecast and R).
const ITERATIONS: usize = 2;
/// statsmodels' `STL.fit` runs 5 inner loops when not robust (stlrs would default to 2).
const INNER_LOOPS: usize = 5;

/// The decomposition of a series: `y = trend + Σ seasonal + remainder`.
#[derive(Clone, Debug, PartialEq)]
pub struct Decomposition {
    /// The periods kept, ascending; `seasonal[i]` belongs to `season_lengths[i]`.
    pub season_lengths: Vec<usize>,
    /// The periods asked for but dropped because the series holds fewer than two cycles of them.
    pub dropped: Vec<usize>,
    /// One seasonal component per kept period, each as long as the series.
    pub seasonal: Vec<Vec<f64>>,
    /// The trend of the last STL fit.
    pub trend: Vec<f64>,
    /// What is left: `y - trend - Σ seasonal`.
    pub remainder: Vec<f64>,
}

impl Decomposition {
    /// The seasonally adjusted series, `trend + remainder`, which the trend model forecasts.
    pub fn adjusted(&self) -> Vec<f64> {
        self.trend
            .iter()
            .zip(&self.remainder)
            .map(|(t, r)| t + r)
            .collect()
    }
}

/// The STL settings StatsForecast's `mstl` uses for one period: statsmodels' `STL` defaults
/// with StatsForecast's seasonal window and `seasonal_deg = 0`. (`stlrs` differs from
/// statsmodels in several defaults: low-pass length `p` for odd periods, jumps of
/// `ceil(length / 10)`, 2 inner loops, the trend length computed in f32.)
///
/// | parameter          | value                                             |
/// |--------------------|---------------------------------------------------|
/// | seasonal           | `7 + 4k` for the k-th smallest period, degree 0   |
/// | trend              | `ceil(1.5 p / (1 - 1.5 / seasonal))`, made odd, degree 1 |
/// | low_pass           | the smallest odd integer `> p`, degree 1          |
/// | jumps              | 1 (every point smoothed)                          |
/// | inner / outer loops| 5 / 0 (not robust)                                |
fn stl_settings(period: usize, rank: usize) -> Stl {
    let seasonal = SEASONAL_WINDOW_BASE + SEASONAL_WINDOW_STEP * (rank + 1);
    // In f64, as statsmodels computes it.
    let trend = (1.5 * period as f64 / (1.0 - 1.5 / seasonal as f64)).ceil() as usize;
    Stl {
        period,
        seasonal: Loess {
            length: seasonal,
            degree: 0,
        },
        trend: Loess {
            length: next_odd(trend),
            degree: 1,
        },
        low_pass: Loess {
            length: next_odd(period + 1),
            degree: 1,
        },
        inner_loops: INNER_LOOPS,
    }
}

fn next_odd(n: usize) -> usize {
    if n.is_multiple_of(2) { n + 1 } else { n }
}

/// Splits `season_lengths` into the periods MSTL can estimate from `n` points (ascending, without
/// duplicates) and those it must drop. A period of 1 (or 0) is no season at all and is dropped
/// silently; one with fewer than two full cycles in the series is dropped and reported, following
/// R's `forecast::mstl` (`msts[msts < n / 2]`).
pub fn usable_periods(season_lengths: &[usize], n: usize) -> (Vec<usize>, Vec<usize>) {
    let mut periods: Vec<usize> = season_lengths.iter().copied().filter(|&p| p > 1).collect();
    periods.sort_unstable();
    // A repeated period would split one seasonal pattern between two components at random; the
    // sum, which is all the forecast uses, is the same with one.
    periods.dedup();
    periods.into_iter().partition(|&p| 2 * p < n)
}

/// Decomposes `y` into a trend, one seasonal component per usable period, and a remainder, as
/// StatsForecast's `mstl` does. With no usable period the trend is the series itself and the
/// remainder is zero (StatsForecast would smooth a trend out with SuperSmoother, but only
/// `trend + remainder`, the series, is ever forecast).
pub fn decompose(y: &[f64], season_lengths: &[usize]) -> Result<Decomposition, ModelError> {
    if y.is_empty() {
        return Err(ModelError::TooShort { needed: 1, got: 0 });
    }
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(ModelError::NonFinite(i));
    }
    let (periods, dropped) = usable_periods(season_lengths, y.len());
    let n = y.len();
    let mut seasonal = vec![vec![0.0; n]; periods.len()];
    let mut deseasonalised = y.to_vec();
    let mut trend = y.to_vec();
    let iterations = if periods.len() > 1 { ITERATIONS } else { 1 };
    let settings: Vec<Stl> = periods
        .iter()
        .enumerate()
        .map(|(rank, &p)| stl_settings(p, rank))
        .collect();
    for _ in 0..iterations {
        for (component, setting) in seasonal.iter_mut().zip(&settings) {
            for (d, s) in deseasonalised.iter_mut().zip(component.iter()) {
                *d += s;
            }
            // `usable_periods` keeps only periods with two full cycles, which is all STL needs.
            let (season, fit_trend) =
                setting
                    .fit(&deseasonalised)
                    .ok_or_else(|| ModelError::TooShort {
                        needed: 2 * setting.period,
                        got: deseasonalised.len(),
                    })?;
            *component = season;
            trend = fit_trend;
            for (d, s) in deseasonalised.iter_mut().zip(component.iter()) {
                *d -= s;
            }
        }
    }
    let remainder: Vec<f64> = if periods.is_empty() {
        vec![0.0; n]
    } else {
        deseasonalised
            .iter()
            .zip(&trend)
            .map(|(d, t)| d - t)
            .collect()
    };
    // Finite input can still overflow in the smoothers' sums (values near f64::MAX).
    if let Some(i) = remainder.iter().chain(&trend).position(|v| !v.is_finite()) {
        return Err(ModelError::Diverged {
            model: "MSTL decomposition",
            reason: format!(
                "it overflowed at observation {}; the values are too large",
                i % n
            ),
        });
    }
    Ok(Decomposition {
        season_lengths: periods,
        dropped,
        seasonal,
        trend,
        remainder,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_seasons(n: usize) -> Vec<f64> {
        (0..n)
            .map(|t| {
                let t = t as f64;
                10.0 + 0.01 * t
                    + (t * std::f64::consts::TAU / 24.0).sin()
                    + 0.5 * (t * std::f64::consts::TAU / 168.0).cos()
            })
            .collect()
    }

    #[test]
    fn components_add_up_to_the_series() {
        let y = two_seasons(24 * 7 * 4);
        let d = decompose(&y, &[168, 24]).unwrap();
        assert_eq!(d.season_lengths, vec![24, 168]);
        for (t, yt) in y.iter().enumerate() {
            let sum = d.trend[t] + d.seasonal[0][t] + d.seasonal[1][t] + d.remainder[t];
            assert!((sum - yt).abs() < 1e-9);
        }
    }

    #[test]
    fn a_clean_daily_cycle_lands_in_the_daily_component() {
        let y = two_seasons(24 * 7 * 4);
        let d = decompose(&y, &[24, 168]).unwrap();
        let t = y.len() / 2;
        let expected = (t as f64 * std::f64::consts::TAU / 24.0).sin();
        assert!(
            (d.seasonal[0][t] - expected).abs() < 0.05,
            "{}",
            d.seasonal[0][t]
        );
    }

    #[test]
    fn settings_follow_statsmodels_defaults() {
        // statsmodels: trend = ceil(1.5 * 24 / (1 - 1.5 / 11)) = 42 -> 43; low_pass = 25.
        let lengths = |s: Stl| (s.seasonal.length, s.trend.length, s.low_pass.length);
        assert_eq!(lengths(stl_settings(24, 0)), (11, 43, 25));
        // An odd period's low-pass filter is the next odd length, not the period itself.
        assert_eq!(lengths(stl_settings(7, 0)), (11, 13, 9));
        assert_eq!(lengths(stl_settings(365, 1)), (15, 609, 367));
        let daily = stl_settings(24, 0);
        let degrees = (
            daily.seasonal.degree,
            daily.trend.degree,
            daily.low_pass.degree,
        );
        assert_eq!(degrees, (0, 1, 1));
    }

    #[test]
    fn periods_without_two_full_cycles_are_dropped() {
        assert_eq!(
            usable_periods(&[168, 24, 24, 1], 300),
            (vec![24], vec![168])
        );
        // R keeps a period only when it is strictly shorter than half the series.
        assert_eq!(usable_periods(&[7], 14), (vec![], vec![7]));
        assert_eq!(usable_periods(&[7], 15), (vec![7], vec![]));
    }

    #[test]
    fn a_series_too_short_for_any_season_is_its_own_trend() {
        let y = [3.0, 1.0, 2.0];
        let d = decompose(&y, &[7]).unwrap();
        assert!(d.seasonal.is_empty());
        assert_eq!(d.adjusted(), y.to_vec());
        assert_eq!(d.dropped, vec![7]);
    }

    #[test]
    fn constant_and_zero_series_decompose_without_seasonality() {
        for level in [0.0, 5.0] {
            let y = vec![level; 100];
            let d = decompose(&y, &[7, 12]).unwrap();
            assert!(d.seasonal.iter().flatten().all(|s| s.abs() < 1e-9));
            assert!(d.adjusted().iter().all(|a| (a - level).abs() < 1e-9));
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(decompose(&[], &[7]).is_err());
        assert_eq!(
            decompose(&[1.0, f64::NAN], &[7]),
            Err(ModelError::NonFinite(1))
        );
        let huge = vec![f64::MAX; 40];
        assert!(decompose(&huge, &[7]).is_err());
    }
}
