//! Live accuracy: the forecasts a version issued, scored as their actuals arrived, by the
//! evaluation protocol's definitions (`civicast_model::metrics`, the same as `eval/score.py`),
//! beside what the version's backtest promised, and a drift test between the two.
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
//! same reason). A series is flagged when the statistic exceeds the normal quantile of
//! `1 - DRIFT_ALPHA` and at least [`min_pairs`] pairs are scored; the false-alarm rate measured on
//! the bundled datasets is in `docs/live.md`.

use std::collections::HashMap;

use civicast_model::metrics::{PairScores, Scores, score_scaled};
use civicast_model::{Forecast, Frequency, TimePoint};
use civicast_store::{IssuedForecast, Store, StoreError, decode_time, encode_time};
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};
use utoipa::ToSchema;

/// The drift test's size: the chance of flagging a series whose live error is what the backtest
/// promised (one-sided).
pub const DRIFT_ALPHA: f64 = 0.01;

/// Live figures of one series.
#[derive(Clone, Debug, Serialize, ToSchema)]
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
    #[schema(value_type = Object)]
    pub scores: Scores,
    /// The same per horizon step (step 1 first).
    #[schema(value_type = Vec<Object>)]
    pub per_step: Vec<Scores>,
    /// The drift test.
    pub drift: DriftTest,
}

/// The drift test's result.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DriftTest {
    /// Whether the series is flagged.
    pub drifted: bool,
    /// The backtest's MASE of the served model on this series (what it promised).
    pub promised_mase: Option<f64>,
    /// Live MASE (mean over pairs).
    pub live_mase: Option<f64>,
    /// The test statistic (mean difference over its Newey–West standard error).
    pub statistic: Option<f64>,
    /// Its one-sided p-value under the normal approximation.
    pub p_value: Option<f64>,
    /// The test's size.
    pub alpha: f64,
    /// Pairs needed before the test flags anything.
    pub min_pairs: usize,
    /// How the test works, in words.
    pub test: &'static str,
}

const TEST: &str = "one-sided test that live MASE exceeds the backtest's: mean of per-pair \
                    differences over its Newey-West standard error with h-1 lags";

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
    let statistic = (live - promised) / (variance / n as f64).sqrt();
    let Ok(normal) = Normal::new(0.0, 1.0) else {
        return result;
    };
    let p_value = 1.0 - normal.cdf(statistic);
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

/// `GET /v1/series/{dataset}/{id}/accuracy` query.
#[derive(Clone, Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AccuracyQuery {
    /// Score the latest this many issued forecasts (default 200, at most 10000).
    pub origins: Option<usize>,
}

/// A series' live accuracy beside its backtest.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SeriesAccuracy {
    /// Dataset name.
    pub dataset: String,
    /// Series id.
    pub id: String,
    /// The served version, whose issued forecasts are scored.
    pub version: String,
    /// The model serving the series.
    pub model: String,
    /// Last stored observation the forecasts start from.
    pub last_observation: String,
    /// When data last arrived for the dataset (RFC 3339, UTC), if ever.
    pub last_ingest: Option<String>,
    /// Live figures.
    pub live: LiveAccuracy,
    /// The served model's backtest figures on this series (what it promised).
    #[schema(value_type = Object)]
    pub backtest: Option<Scores>,
}

/// Largest `origins` a request may ask for: each is one stored forecast read and scored.
const MAX_ORIGINS: usize = 10_000;

/// Live accuracy of a series' issued forecasts, beside its backtest.
#[utoipa::path(
    get,
    path = "/v1/series/{dataset}/{id}/accuracy",
    params(
        ("dataset" = String, Path, description = "Dataset name"),
        ("id" = String, Path, description = "Series id"),
        AccuracyQuery
    ),
    responses(
        (status = 200, description = "Live figures (the evaluation protocol's metrics over issued forecasts whose actuals arrived), per step, the drift test, and the backtest's figures", body = SeriesAccuracy),
        (status = 401, description = "No or unknown API key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown dataset or series (named in the detail)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `origins`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "No store, the store is unreachable, or overloaded", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn series_accuracy(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    path: Result<axum::extract::Path<(String, String)>, axum::extract::rejection::PathRejection>,
    query: Result<axum::extract::Query<AccuracyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<SeriesAccuracy>, crate::error::ApiError> {
    use crate::error::{ApiError, echo, shorten_quotes};
    let axum::extract::Path((dataset, id)) = path.map_err(|e| ApiError::Invalid {
        field: None,
        detail: shorten_quotes(&e.body_text()),
    })?;
    let axum::extract::Query(query) = query.map_err(|e| ApiError::Invalid {
        field: None,
        detail: shorten_quotes(&e.body_text()),
    })?;
    let origins = query.origins.unwrap_or(crate::live::ACCURACY_ORIGINS);
    if !(1..=MAX_ORIGINS).contains(&origins) {
        return Err(ApiError::invalid(
            "origins",
            format!("{origins} is out of range; allowed 1..={MAX_ORIGINS}"),
        ));
    }
    let store = state.store.clone().ok_or_else(|| ApiError::Unavailable {
        detail: "this service has no observation store configured".into(),
        retry_after: 60,
    })?;
    let loaded = state
        .catalog
        .load()
        .datasets
        .get(&dataset)
        .cloned()
        .ok_or_else(|| ApiError::NotFound {
            what: "dataset",
            name: echo(&dataset),
        })?;
    let position = *loaded.index.get(&id).ok_or_else(|| ApiError::NotFound {
        what: "series",
        name: format!("{} in dataset {}", echo(&id), echo(&dataset)),
    })?;
    let unavailable = |e: StoreError| {
        tracing::error!(error = %e, "observation store");
        ApiError::Unavailable {
            detail: "the observation store did not answer".into(),
            retry_after: 1,
        }
    };
    let live = live_accuracy(
        &store,
        &dataset,
        &id,
        &loaded.manifest.version,
        loaded.frequency,
        loaded.manifest.dataset.horizon.max(1),
        loaded.promised_mase(position),
        origins,
    )
    .await
    .map_err(unavailable)?;
    let freshness = store.freshness(&dataset).await.map_err(unavailable)?;
    let entry = &loaded.manifest.series[position];
    Ok(axum::Json(SeriesAccuracy {
        dataset,
        id,
        version: loaded.manifest.version.clone(),
        model: entry.model.clone(),
        last_observation: loaded.frequency.format_time(loaded.end(position)),
        last_ingest: freshness
            .last_ingest_ms
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        live,
        backtest: entry.backtest.get(&entry.model).cloned(),
    }))
}
