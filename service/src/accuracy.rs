//! `GET /v1/series/{dataset}/{id}/accuracy`: a series' live accuracy (scored by
//! [`civicast_store::accuracy`]) beside its backtest.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use civicast_model::metrics::Scores;
use civicast_store::StoreError;
use civicast_store::accuracy::{LiveAccuracy, MAX_WINDOW_ORIGINS, Subject, Window, live_accuracy};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::api::path_error;
use crate::error::{ApiError, Problem, echo, shorten_quotes};

/// `GET /v1/series/{dataset}/{id}/accuracy` query.
#[derive(Clone, Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AccuracyQuery {
    /// Score the latest this many issued forecasts (at most 10000) instead of the default window:
    /// those issued from origins in the last four weeks (in the last 4h steps for monthly and
    /// integer-indexed data, at most 10000).
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
    /// Live figures: `pairs` scored and `waiting` for actuals, `first_origin`/`last_origin`,
    /// `scores` (MASE, sMAPE, RMSE, cov80, cov95, sCRPS), `per_step` and the `drift` test
    /// (`drifted`, `promised_mase`, `live_mase`, `statistic`, `p_value`, `alpha`, `min_pairs`).
    #[schema(value_type = Object)]
    pub live: LiveAccuracy,
    /// The served model's backtest figures on this series (what it promised).
    #[schema(value_type = Object)]
    pub backtest: Option<Scores>,
}

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
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown dataset or series (named in the detail)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `origins`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No store, the store is unreachable, or overloaded", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn series_accuracy(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<AccuracyQuery>, QueryRejection>,
) -> Result<Json<SeriesAccuracy>, ApiError> {
    let Path((dataset, id)) = path.map_err(path_error)?;
    let Query(query) = query.map_err(|e| ApiError::Invalid {
        field: None,
        detail: shorten_quotes(&e.body_text()),
    })?;
    let window = match query.origins {
        None => Window::Recent,
        Some(n) if (1..=MAX_WINDOW_ORIGINS).contains(&n) => Window::Latest(n),
        Some(n) => {
            return Err(ApiError::invalid(
                "origins",
                format!("{n} is out of range; allowed 1..={MAX_WINDOW_ORIGINS}"),
            ));
        }
    };
    let store = state.store()?;
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
    let subject = Subject {
        dataset: &dataset,
        series: &id,
        version: &loaded.manifest.version,
        frequency: loaded.frequency,
        horizon: loaded.manifest.dataset.horizon.max(1),
        promised: loaded.promised_mase(position),
    };
    let live = live_accuracy(&store, subject, window)
        .await
        .map_err(unavailable)?;
    let freshness = store.freshness(&dataset).await.map_err(unavailable)?;
    let entry = &loaded.manifest.series[position];
    Ok(Json(SeriesAccuracy {
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
