//! Deciding whether a series is seasonal, and taking the season out, as StatsForecast's
//! `auto_theta` does before fitting.
//!
//! The test is the classical one of the Theta method (Assimakopoulos & Nikolopoulos, 2000, and
//! R's `forecTheta`): the autocorrelation at lag `m` is significant at 90% (one-sided 95%) against
//! Bartlett's standard error built from the lower lags. A seasonal series is divided by (or, when
//! it has values `<= 0` or a season index below 0.01, has subtracted) the seasonal component of
//! statsmodels' `seasonal_decompose`: a centred moving average as trend, and the per-position
//! means of the detrended series, normalised, as season.

use serde::{Deserialize, Serialize};

/// `Φ⁻¹(0.95)`: the seasonality test is one-sided at 95%, i.e. a two-sided 90% test.
const SEASONALITY_Z: f64 = 1.644_853_626_951_472_2;

/// Seasons shorter than this are never tested (StatsForecast's `m >= 4`).
const MIN_TESTED_SEASON: usize = 4;

/// A multiplicative season index below this makes the decomposition additive instead: dividing
/// by nearly zero would blow the deseasonalised series up.
const MIN_MULTIPLICATIVE_INDEX: f64 = 0.01;

/// How the season was taken out of the series, with the season indices for the steps after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Seasonality {
    /// The series was not seasonal (or too short to tell).
    None,
    /// The series was divided by the season; forecasts are multiplied by `indices[h % m]`.
    Multiplicative {
        /// Season indices for the `m` steps after the data.
        indices: Vec<f64>,
    },
    /// The season was subtracted; forecasts get `indices[h % m]` added.
    Additive {
        /// Season indices for the `m` steps after the data.
        indices: Vec<f64>,
    },
}

impl Seasonality {
    /// Puts the season back into `value`, the forecast `step` steps after the data (0-based).
    pub(super) fn apply(&self, step: usize, value: f64) -> f64 {
        // `get` rather than indexing: a stored model with no indices must not panic.
        let index = |indices: &[f64]| indices.get(step % indices.len().max(1)).copied();
        match self {
            Seasonality::None => value,
            Seasonality::Multiplicative { indices } => value * index(indices).unwrap_or(1.0),
            Seasonality::Additive { indices } => value + index(indices).unwrap_or(0.0),
        }
    }

    /// Takes the season out of `value`, an observation `step` steps after the data (0-based): the
    /// inverse of [`Seasonality::apply`].
    pub(super) fn remove(&self, step: usize, value: f64) -> f64 {
        let index = |indices: &[f64]| indices.get(step % indices.len().max(1)).copied();
        match self {
            Seasonality::None => value,
            Seasonality::Multiplicative { indices } => value / index(indices).unwrap_or(1.0),
            Seasonality::Additive { indices } => value - index(indices).unwrap_or(0.0),
        }
    }

    /// Moves the indices on by `steps` observations: the season is periodic, so the indices for
    /// the steps after them are the same cycle, turned.
    pub(super) fn advance(&mut self, steps: usize) {
        match self {
            Seasonality::None => {}
            Seasonality::Multiplicative { indices } | Seasonality::Additive { indices } => {
                if !indices.is_empty() {
                    let turn = steps % indices.len();
                    indices.rotate_left(turn);
                }
            }
        }
    }
}

/// The series with its season taken out, the in-sample season (one value per observation) and
/// how it was taken out.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Deseasonalised {
    pub y: Vec<f64>,
    /// The seasonal component at each observation (empty when not seasonal).
    pub in_sample: Vec<f64>,
    pub seasonality: Seasonality,
}

/// Tests `y` for a season of length `m` and removes it if there is one.
pub(super) fn deseasonalise(y: &[f64], m: usize) -> Deseasonalised {
    let not_seasonal = || Deseasonalised {
        y: y.to_vec(),
        in_sample: Vec::new(),
        seasonality: Seasonality::None,
    };
    if m < MIN_TESTED_SEASON || y.len() < 2 * m || !is_seasonal(y, m) {
        return not_seasonal();
    }
    let positive = y.iter().all(|v| *v > 0.0);
    let multiplicative = positive
        .then(|| seasonal_component(y, m, true))
        .filter(|s| s.iter().all(|v| *v >= MIN_MULTIPLICATIVE_INDEX));
    let (in_sample, multiplicative) = match multiplicative {
        Some(s) => (s, true),
        None => (seasonal_component(y, m, false), false),
    };
    let deseasonalised = y
        .iter()
        .zip(&in_sample)
        .map(|(v, s)| if multiplicative { v / s } else { v - s })
        .collect();
    // The season of the next m steps is the last m in-sample values (a seasonal naive forecast of
    // the component, as StatsForecast does).
    let indices = in_sample[y.len() - m..].to_vec();
    let seasonality = if multiplicative {
        Seasonality::Multiplicative { indices }
    } else {
        Seasonality::Additive { indices }
    };
    Deseasonalised {
        y: deseasonalised,
        in_sample,
        seasonality,
    }
}

/// Whether the lag-`m` autocorrelation is significant at 90%. Requires `y.len() > m`.
fn is_seasonal(y: &[f64], m: usize) -> bool {
    let r = autocorrelations(y, m);
    let lower: f64 = r[1..m].iter().map(|r| r * r).sum();
    let stat = ((1.0 + 2.0 * lower) / y.len() as f64).sqrt();
    // NaN (a constant series has no autocorrelation) compares false: not seasonal.
    r[m].abs() / stat > SEASONALITY_Z
}

/// Sample autocorrelations at lags `0..=max_lag` (statsmodels' `acf`: biased, demeaned).
fn autocorrelations(y: &[f64], max_lag: usize) -> Vec<f64> {
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    let d: Vec<f64> = y.iter().map(|v| v - mean).collect();
    let var: f64 = d.iter().map(|v| v * v).sum();
    (0..=max_lag)
        .map(|k| {
            d.iter()
                .zip(&d[k.min(d.len())..])
                .map(|(a, b)| a * b)
                .sum::<f64>()
                / var
        })
        .collect()
}

/// statsmodels' `seasonal_decompose(y, period=m).seasonal`: requires `y.len() >= 2 * m`.
fn seasonal_component(y: &[f64], m: usize, multiplicative: bool) -> Vec<f64> {
    let n = y.len();
    let half = m / 2;
    // Centred moving average of length m (odd m) or 2×m (even m: half weights at both ends).
    let trend_at = |t: usize| -> f64 {
        let window = &y[t - half..=t + half];
        let sum: f64 = if m % 2 == 1 {
            window.iter().sum()
        } else {
            window[1..m].iter().sum::<f64>() + 0.5 * (window[0] + window[m])
        };
        sum / m as f64
    };
    let mut sums = vec![0.0; m];
    let mut counts = vec![0usize; m];
    for t in half..n - half {
        let trend = trend_at(t);
        let detrended = if multiplicative {
            y[t] / trend
        } else {
            y[t] - trend
        };
        sums[t % m] += detrended;
        counts[t % m] += 1;
    }
    // Every position has at least one value: the trend covers n - 2·(m/2) >= m steps.
    let mut means: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, c)| s / (*c).max(1) as f64)
        .collect();
    let overall = means.iter().sum::<f64>() / m as f64;
    for v in &mut means {
        if multiplicative {
            *v /= overall;
        } else {
            *v -= overall;
        }
    }
    (0..n).map(|t| means[t % m]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekly(n: usize) -> Vec<f64> {
        let pattern = [1.0, 1.2, 1.1, 1.0, 0.9, 0.5, 0.3];
        (0..n)
            .map(|t| (10.0 + 0.05 * t as f64) * pattern[t % 7] + if t % 3 == 0 { 0.1 } else { 0.0 })
            .collect()
    }

    #[test]
    fn a_strong_weekly_pattern_is_seasonal_and_divided_out() {
        let y = weekly(70);
        let d = deseasonalise(&y, 7);
        let Seasonality::Multiplicative { indices } = &d.seasonality else {
            panic!("{:?}", d.seasonality)
        };
        assert_eq!(indices.len(), 7);
        // The indices average to one and follow the pattern's shape.
        assert!((indices.iter().sum::<f64>() / 7.0 - 1.0).abs() < 1e-12);
        let first = 70 % 7;
        assert!(indices[(6 + 7 - first) % 7] < indices[(1 + 7 - first) % 7]);
    }

    #[test]
    fn white_noise_like_data_is_not_seasonal() {
        let y: Vec<f64> = (0..50).map(|t| ((t * 7919) % 13) as f64).collect();
        assert_eq!(deseasonalise(&y, 12).seasonality, Seasonality::None);
    }

    #[test]
    fn a_series_with_zeros_is_deseasonalised_additively() {
        let y: Vec<f64> = weekly(70)
            .iter()
            .enumerate()
            .map(|(t, v)| if t % 7 == 6 { 0.0 } else { *v })
            .collect();
        let d = deseasonalise(&y, 7);
        assert!(
            matches!(d.seasonality, Seasonality::Additive { .. }),
            "{:?}",
            d.seasonality
        );
        for ((v, s), z) in y.iter().zip(&d.in_sample).zip(&d.y) {
            assert!((v - s - z).abs() < 1e-12);
        }
    }

    #[test]
    fn constant_and_short_series_are_left_alone() {
        assert_eq!(deseasonalise(&[5.0; 30], 7).seasonality, Seasonality::None);
        assert_eq!(deseasonalise(&weekly(13), 7).seasonality, Seasonality::None);
        assert_eq!(deseasonalise(&weekly(40), 3).seasonality, Seasonality::None);
    }

    #[test]
    fn the_even_season_trend_is_a_two_by_m_moving_average() {
        // A pure linear trend with period 4: every detrended value is exactly zero.
        let y: Vec<f64> = (0..16).map(|t| 2.0 * t as f64).collect();
        let s = seasonal_component(&y, 4, false);
        assert!(s.iter().all(|v| v.abs() < 1e-12), "{s:?}");
    }
}
