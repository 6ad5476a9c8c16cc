//! Live accuracy: the forecasts a version issued, scored as their actuals arrived, by the
//! evaluation protocol's definitions (`civicast_model::metrics`, the same as `eval/score.py`),
//! and a drift test against what the version's backtest promised. Here, beside the issued
//! forecasts, so that the service's routes and `civicast-train fit --only-drifted` judge alike.
//!
//! A pair is one issued forecast (a series at one origin) whose whole horizon has actuals; the
//! figures are plain means over the latest pairs, as the protocol averages over backtest pairs,
//! plus the same per horizon step.
//!
//! # Drift
//!
//! A series drifts when its live error exceeds its backtest's by more than chance allows. The test
//! is one-sided on the live pairs' MASE minus the backtest's MASE for the series' model: the mean
//! difference over its standard error, where the standard error is Newey–West's with `h - 1`
//! lags, because forecasts from consecutive origins share `h - 1` target steps and their errors
//! are correlated (the correction Diebold and Mariano's test of forecast accuracy makes for the
//! same reason). With few pairs against the overlap that standard error is biased low, so the
//! statistic takes Harvey, Leybourne and Newbold's small-sample correction (the "modified
//! Diebold–Mariano test", 1997) and is compared with Student's t. A series is flagged when the
//! one-sided p-value is below [`DRIFT_ALPHA`] and at least [`min_pairs`] pairs are scored; the
//! false-alarm rate measured on the bundled datasets is in `docs/live.md`.

use std::collections::HashMap;

use crate::{IssuedForecast, Store, StoreError, decode_time, encode_time};
use civicast_model::metrics::{PairScores, Scores, score_scaled};
use civicast_model::{Forecast, Frequency, TimePoint};
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Issued forecasts a series' live accuracy is scored over by default: the latest this many
/// origins.
pub const DEFAULT_ORIGINS: usize = 200;

/// The drift test's size: the chance of flagging a series whose live error is what the backtest
/// promised (one-sided).
pub const DRIFT_ALPHA: f64 = 0.01;

/// Live figures of one series.
#[derive(Clone, Debug, Serialize)]
pub struct LiveAccuracy {
    /// Pairs scored (issued forecasts whose whole horizon has arrived).
    pub pairs: usize,
    /// Forecasts issued and still waiting for some of their actuals.
    pub waiting: usize,
    /// Origin of the first and last scored pair, in the dataset's format.
    pub first_origin: Option<String>,
    /// Origin of the last scored pair.
    pub last_origin: Option<String>,
    /// The protocol's metrics over the pairs (MASE, sMAPE, RMSE, cov80, cov95, sCRPS).
    pub scores: Scores,
    /// The same per horizon step (step 1 first).
    pub per_step: Vec<Scores>,
    /// The drift test.
    pub drift: DriftTest,
}

/// The drift test's result.
#[derive(Clone, Debug, Serialize)]
pub struct DriftTest {
    /// Whether the series is flagged.
    pub drifted: bool,
    /// The backtest's MASE of the served model on this series (what it promised).
    pub promised_mase: Option<f64>,
    /// Live MASE (mean over pairs).
    pub live_mase: Option<f64>,
    /// The test statistic: the mean difference over its Newey–West standard error, times
    /// Harvey, Leybourne and Newbold's small-sample correction.
    pub statistic: Option<f64>,
    /// Its one-sided p-value from Student's t with `pairs - 1` degrees of freedom.
    pub p_value: Option<f64>,
    /// The test's size.
    pub alpha: f64,
    /// Pairs needed before the test flags anything.
    pub min_pairs: usize,
    /// How the test works, in words.
    pub test: &'static str,
}

const TEST: &str = "one-sided test that live MASE exceeds the backtest's: mean of per-pair \
                    differences over its Newey-West standard error with h-1 lags, with Harvey, \
                    Leybourne and Newbold's small-sample correction, against Student's t";

/// Pairs needed before drift is judged: two horizons' worth (and at least 10), so that the
/// Newey–West variance sees more than one stretch of overlapping errors.
pub fn min_pairs(horizon: usize) -> usize {
    (2 * horizon).max(10)
}

/// Scores the latest `limit` forecasts issued for `series` by `version`, with actuals from the
/// store; `promised` is the backtest MASE of the model.
#[allow(clippy::too_many_arguments)]
pub async fn live_accuracy(
    store: &Store,
    dataset: &str,
    series: &str,
    version: &str,
    frequency: Frequency,
    horizon: usize,
    promised: Option<f64>,
    limit: usize,
) -> Result<LiveAccuracy, StoreError> {
    let issued = store.issued(dataset, series, Some(version), limit).await?;
    let actuals: HashMap<i64, f64> = match (issued.first(), issued.last()) {
        (Some(first), Some(last)) => {
            let end = decode_time(last.origin, frequency)
                .and_then(|t| frequency.advance(t, horizon as i64))
                .map_or(i64::MAX, encode_time);
            store
                .targets(dataset, series, first.origin, end)
                .await?
                .into_iter()
                .collect()
        }
        _ => HashMap::new(),
    };
    Ok(score_issued(&issued, &actuals, frequency, promised))
}

/// Scores `issued` forecasts against `actuals` (target by stored time).
pub fn score_issued(
    issued: &[IssuedForecast],
    actuals: &HashMap<i64, f64>,
    frequency: Frequency,
    promised: Option<f64>,
) -> LiveAccuracy {
    let mut pairs: Vec<PairScores> = Vec::new();
    let mut steps: Vec<Vec<PairScores>> = Vec::new();
    let mut origins: Vec<i64> = Vec::new();
    let mut waiting = 0;
    let mut horizon = 0;
    for forecast in issued {
        let h = forecast.forecast.point.len();
        horizon = horizon.max(h);
        let Some(origin) = decode_time(forecast.origin, frequency) else {
            continue;
        };
        let actual: Option<Vec<f64>> = (1..=h)
            .map(|j| {
                let t = frequency.advance(origin, j as i64)?;
                actuals.get(&encode_time(t)).copied()
            })
            .collect();
        let Some(actual) = actual else {
            waiting += 1;
            continue;
        };
        pairs.push(score_scaled(forecast.scales, &actual, &forecast.forecast));
        origins.push(forecast.origin);
        if steps.len() < h {
            steps.resize_with(h, Vec::new);
        }
        for (j, step) in steps.iter_mut().enumerate().take(h) {
            step.push(score_scaled(
                forecast.scales,
                &actual[j..=j],
                &step_of(&forecast.forecast, j),
            ));
        }
    }
    let format = |t: Option<&i64>| {
        t.and_then(|&t| decode_time(t, frequency))
            .map(|t: TimePoint| frequency.format_time(t))
    };
    let mases: Vec<f64> = pairs.iter().filter_map(|p| p.mase).collect();
    LiveAccuracy {
        pairs: pairs.len(),
        waiting,
        first_origin: format(origins.first()),
        last_origin: format(origins.last()),
        scores: Scores::from_pairs(&pairs),
        per_step: steps.iter().map(|s| Scores::from_pairs(s)).collect(),
        drift: drift_test(&mases, promised, horizon.max(1)),
    }
}

/// Step `j` of `forecast` as a one-step forecast.
fn step_of(forecast: &Forecast, j: usize) -> Forecast {
    Forecast {
        point: vec![forecast.point[j]],
        quantiles: forecast
            .quantiles
            .iter()
            .map(|(tau, values)| (*tau, vec![values[j]]))
            .collect(),
    }
}

/// The drift test of the module doc on per-pair live MASE values in origin order.
pub fn drift_test(mases: &[f64], promised: Option<f64>, horizon: usize) -> DriftTest {
    let n = mases.len();
    let live = (n > 0).then(|| mases.iter().sum::<f64>() / n as f64);
    let needed = min_pairs(horizon);
    let mut result = DriftTest {
        drifted: false,
        promised_mase: promised,
        live_mase: live,
        statistic: None,
        p_value: None,
        alpha: DRIFT_ALPHA,
        min_pairs: needed,
        test: TEST,
    };
    let (Some(promised), Some(live)) = (promised.filter(|p| p.is_finite()), live) else {
        return result;
    };
    if n < 2 {
        return result;
    }
    let centred: Vec<f64> = mases.iter().map(|m| m - live).collect();
    let autocovariance = |k: usize| -> f64 {
        centred[k..]
            .iter()
            .zip(&centred)
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / n as f64
    };
    let lags = horizon.saturating_sub(1).min(n - 1);
    let mut variance = autocovariance(0);
    for k in 1..=lags {
        variance += 2.0 * (1.0 - k as f64 / (lags + 1) as f64) * autocovariance(k);
    }
    if variance.is_nan() || variance <= 0.0 {
        return result;
    }
    // Newey–West's estimate is biased low when the pairs are few against the overlap, which
    // makes the plain statistic reject too often; the correction (1997) scales it back.
    let h = horizon as f64;
    let nf = n as f64;
    let correction = (nf + 1.0 - 2.0 * h + h * (h - 1.0) / nf) / nf;
    if correction <= 0.0 {
        return result;
    }
    let statistic = correction.sqrt() * (live - promised) / (variance / nf).sqrt();
    let Ok(student) = StudentsT::new(0.0, 1.0, nf - 1.0) else {
        return result;
    };
    let p_value = 1.0 - student.cdf(statistic);
    result.statistic = Some(statistic);
    result.p_value = Some(p_value);
    result.drifted = n >= needed && p_value < DRIFT_ALPHA;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_as_promised_do_not_drift_and_doubled_errors_do() {
        // Per-pair MASE wandering around 1.0 with overlap-like persistence.
        let around = |level: f64| -> Vec<f64> {
            (0..60)
                .map(|i| level + 0.2 * ((i as f64) * 0.7).sin())
                .collect()
        };
        let calm = drift_test(&around(1.0), Some(1.0), 7);
        assert!(!calm.drifted, "{calm:?}");
        let worse = drift_test(&around(2.0), Some(1.0), 7);
        assert!(worse.drifted && worse.p_value.unwrap() < 1e-6, "{worse:?}");
        // Too few pairs: never flagged, whatever the errors.
        let early = drift_test(&around(2.0)[..10], Some(1.0), 7);
        assert!(!early.drifted && early.statistic.is_some());
        // No promise (no backtest): no test.
        assert!(drift_test(&around(2.0), None, 7).statistic.is_none());
    }
}
