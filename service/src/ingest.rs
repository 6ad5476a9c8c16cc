//! `POST /v1/observations`: the city's systems send what happened, as JSON or as CSV in the
//! dataset's long format, and the next forecast of every series it touched starts after it.
//!
//! A request is checked whole before anything is stored (every bad row is reported with its
//! field), then stored in one transaction, then the served series move on to it
//! ([`crate::live`]) before the answer goes out. Re-sending rows changes nothing; a changed value
//! is a revision and the old one is kept.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use chrono::{TimeDelta, Utc};
use civicast_model::{Frequency, TimePoint};
use civicast_store::{
    CheckLimits, DatasetRules, RawRow, RowError, Store, check_rows, parse_csv_rows, parse_json_rows,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::api::Admitted;
use crate::error::{ApiError, Problem, RowProblem, echo, shorten_quotes};

/// Local clocks run at most this far ahead of UTC (UTC+14, Kiribati): a time later than UTC now
/// plus this has not happened anywhere yet. Datasets record naive local times, so this is the
/// tightest "not in the future" that holds for every city.
const MAX_UTC_OFFSET_HOURS: i64 = 14;

/// Fields one CSV record may have.
const MAX_CSV_FIELDS: usize = 256;

/// `POST /v1/observations` query.
#[derive(Clone, Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct IngestQuery {
    /// The dataset (required for CSV; JSON bodies may name it in `dataset` instead).
    pub dataset: Option<String>,
}

/// A batch of observations (JSON).
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct ObservationBatch {
    /// The dataset.
    pub dataset: String,
    /// Observations of single series.
    #[serde(default)]
    pub observations: Vec<ObservationRow>,
    /// Exogenous values every series of the dataset shares (a city's weather), once per time.
    #[serde(default)]
    pub shared: Vec<SharedValues>,
}

/// One observation of one series.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct ObservationRow {
    /// Series id.
    pub id: String,
    /// Time on the dataset's grid: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS`, or an integer step.
    pub time: String,
    /// The observed target (finite).
    pub value: f64,
    /// Exogenous values by column (columns of the dataset only).
    #[serde(default)]
    pub exogenous: std::collections::BTreeMap<String, f64>,
}

/// Exogenous values shared by every series at one time.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct SharedValues {
    /// Time on the dataset's grid.
    pub time: String,
    /// Values by column.
    pub exogenous: std::collections::BTreeMap<String, f64>,
}

/// What an ingest stored.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IngestResponse {
    /// The dataset.
    pub dataset: String,
    /// Rows stored that were not there.
    pub inserted: usize,
    /// Rows that replaced a different value (the old one is kept as a revision).
    pub revised: usize,
    /// Rows equal to what was stored.
    pub unchanged: usize,
    /// Series whose data changed.
    pub changed_series: usize,
    /// Served series whose forecasts now start from the new data.
    pub series_moved: usize,
    /// The store's change number of this ingest (0 when nothing changed).
    pub change: i64,
}

/// Store observations of a dataset.
#[utoipa::path(
    post,
    path = "/v1/observations",
    params(IngestQuery),
    request_body(
        description = "JSON (`dataset`, `observations`: [{id, time, value, exogenous}], `shared`: [{time, exogenous}]) or text/csv in the dataset's long format with `?dataset=`: a header `unique_id,ds,<target>,<exogenous columns...>`; a row with an empty id carries shared exogenous values",
        content((ObservationBatch = "application/json"), (String = "text/csv"))
    ),
    responses(
        (status = 200, description = "Stored (all rows); forecasts of the changed series start after their latest observation", body = IngestResponse),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's role is not write or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown dataset", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the configured limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Rows failed their checks (every one in `errors`, nothing stored), or the body is malformed or over `max_ingest_rows`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No store, the store is unreachable, or overloaded; retry after Retry-After seconds", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn observations(
    State(state): State<AppState>,
    Admitted(admission): Admitted,
    headers: HeaderMap,
    query: Result<Query<IngestQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IngestResponse>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::Invalid {
        field: None,
        detail: shorten_quotes(&e.body_text()),
    })?;
    let body = body.map_err(|_| ApiError::TooLarge {
        limit: state.config.body_limit_bytes,
    })?;
    let store = state.store()?;
    // Waits within the request's timeout; the permit bounds the rows held at once.
    let _ingesting = state
        .ingesting
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let csv = content_type.contains("text/csv");
    if !csv && !content_type.contains("json") {
        return Err(ApiError::Invalid {
            field: None,
            detail: "send observations with Content-Type: application/json or text/csv".into(),
        });
    }
    let max_rows = state.config.max_ingest_rows;
    // Parsing a megabyte is a compute slot's work, as for the other routes.
    let worker = state.clone();
    let dataset_in_query = query.dataset.clone();
    let (dataset, raw) = state
        .pool
        .run(admission, move |_| {
            parse_body(&worker, &body, csv, dataset_in_query, max_rows)
        })
        .await?;
    let record = store
        .dataset(&dataset)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::NotFound {
            what: "dataset",
            name: echo(&dataset),
        })?;
    let frequency: Frequency = record
        .frequency
        .parse()
        .map_err(|e| ApiError::Internal(format!("stored frequency of {dataset}: {e}")))?;
    let rules = DatasetRules {
        name: dataset.clone(),
        frequency,
        series: record.series.into_iter().collect(),
        allow_new_series: state.config.accept_new_series,
        exogenous: record.exogenous,
        latest: latest_time(frequency),
    };
    let (rows, shared) =
        check_rows(&raw, &rules, CheckLimits { rows: max_rows }).map_err(rows_error)?;
    drop(raw);
    let summary = ingest(&store, &dataset, &rows, &shared).await?;
    let moved = crate::live::refresh_dataset(&state, &dataset)
        .await
        .map_err(|e| ApiError::Unavailable {
            detail: format!(
                "the rows are stored, but the forecasts could not move on to them yet ({e}); \
                 they will at the next poll"
            ),
            retry_after: 1,
        })?;
    state
        .metrics
        .ingested
        .with_label_values(&[dataset.as_str()])
        .inc_by((summary.inserted + summary.revised) as u64);
    Ok(Json(IngestResponse {
        dataset,
        inserted: summary.inserted,
        revised: summary.revised,
        unchanged: summary.unchanged,
        changed_series: summary.changed_series.len(),
        series_moved: moved,
        change: summary.change,
    }))
}

async fn ingest(
    store: &Store,
    dataset: &str,
    rows: &[civicast_store::Row],
    shared: &[civicast_store::SharedRow],
) -> Result<civicast_store::IngestSummary, ApiError> {
    store
        .ingest(dataset, rows, shared, "api")
        .await
        .map_err(unavailable)
}

fn unavailable(e: civicast_store::StoreError) -> ApiError {
    tracing::error!(error = %e, "observation store");
    ApiError::Unavailable {
        detail: "the observation store did not answer; nothing of this request was stored".into(),
        retry_after: 1,
    }
}

/// The dataset and raw rows of a body.
fn parse_body(
    state: &AppState,
    body: &Bytes,
    csv: bool,
    dataset_in_query: Option<String>,
    max_rows: usize,
) -> Result<(String, Vec<RawRow>), ApiError> {
    if csv {
        let dataset = dataset_in_query.ok_or_else(|| {
            ApiError::invalid(
                "dataset",
                "name the dataset: POST /v1/observations?dataset=...",
            )
        })?;
        let text = std::str::from_utf8(body).map_err(|_| ApiError::Invalid {
            field: None,
            detail: "the CSV body is not UTF-8 text".into(),
        })?;
        let table = crate::risk::csv::parse(
            text,
            crate::risk::csv::Limits {
                records: max_rows + 1,
                fields: MAX_CSV_FIELDS,
            },
        )
        .map_err(|e| ApiError::Invalid {
            field: Some(format!("line {}", e.record)),
            detail: format!("line {}: {}", e.record, e.detail),
        })?;
        if table.total > max_rows + 1 {
            return Err(ApiError::OverLimit {
                field: "rows".into(),
                limit: "max_ingest_rows",
                maximum: max_rows,
                value: table.total - 1,
            });
        }
        let target = state
            .catalog
            .load()
            .datasets
            .get(&dataset)
            .map_or_else(|| "y".to_owned(), |v| v.manifest.features.target.clone());
        let (raw, errors) = parse_csv_rows(&table.records, &target);
        if !errors.is_empty() {
            return Err(rows_error(errors));
        }
        return Ok((dataset, raw));
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| ApiError::Invalid {
        field: None,
        detail: format!("the body is not JSON: {}", shorten_quotes(&e.to_string())),
    })?;
    let Some(object) = value.as_object() else {
        return Err(ApiError::invalid(
            "",
            "expected a JSON object with dataset and observations",
        ));
    };
    if let Some(key) = object
        .keys()
        .find(|k| !["dataset", "observations", "shared"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid(
            crate::error::field_name(key),
            "unknown field; expected dataset, observations, shared",
        ));
    }
    let dataset = match (object.get("dataset"), dataset_in_query) {
        (Some(serde_json::Value::String(name)), _) => name.clone(),
        (Some(_), _) => return Err(ApiError::invalid("dataset", "expected a dataset name")),
        (None, Some(name)) => name,
        (None, None) => return Err(ApiError::invalid("dataset", "missing: the dataset name")),
    };
    let rows = object
        .get("observations")
        .and_then(|v| v.as_array())
        .map_or(0, Vec::len)
        + object
            .get("shared")
            .and_then(|v| v.as_array())
            .map_or(0, Vec::len);
    if rows > max_rows {
        return Err(ApiError::OverLimit {
            field: "observations".into(),
            limit: "max_ingest_rows",
            maximum: max_rows,
            value: rows,
        });
    }
    if rows == 0 {
        return Err(ApiError::invalid(
            "observations",
            "give at least one row in observations or shared",
        ));
    }
    let (raw, errors) = parse_json_rows(&value);
    if !errors.is_empty() {
        return Err(rows_error(errors));
    }
    Ok((dataset, raw))
}

fn rows_error(errors: Vec<RowError>) -> ApiError {
    let first = errors
        .first()
        .map(|e| format!("{} {}: {}", e.row, e.field, e.message))
        .unwrap_or_default();
    ApiError::Rows {
        detail: format!(
            "{} row problem(s); nothing was stored. First: {first}",
            errors.len()
        ),
        errors: errors
            .into_iter()
            .map(|e| RowProblem {
                row: e.row,
                field: e.field,
                message: e.message,
            })
            .collect(),
    }
}

/// The latest time an observation may have (see [`MAX_UTC_OFFSET_HOURS`]).
fn latest_time(frequency: Frequency) -> Option<TimePoint> {
    if frequency.is_index() {
        return None;
    }
    let latest = Utc::now().naive_utc() + TimeDelta::hours(MAX_UTC_OFFSET_HOURS);
    Some(TimePoint::At(latest))
}

/// A batch of future-known values (JSON).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FutureBatch {
    /// The dataset.
    pub dataset: String,
    /// When the values were issued (RFC 3339; default: now). For each step and column, forecasts
    /// read the latest issue.
    pub issued: Option<String>,
    /// The values.
    pub values: Vec<FutureValuesRow>,
}

/// Future-known values of one series, or of every series when `id` is absent, at one time.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FutureValuesRow {
    /// Series id; absent for values every series shares (a city's weather forecast).
    pub id: Option<String>,
    /// A time on the dataset's grid (usually after its latest observation).
    pub time: String,
    /// Values by future-known column.
    pub exogenous: std::collections::BTreeMap<String, f64>,
}

/// What a future-values request stored.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FutureResponse {
    /// The dataset.
    pub dataset: String,
    /// Rows stored.
    pub stored: usize,
    /// Served series whose forecasts now read them.
    pub series_moved: usize,
}

/// Store future-known values (weather forecasts, event schedules) that forecasts then read.
#[utoipa::path(
    post,
    path = "/v1/future",
    request_body = FutureBatch,
    responses(
        (status = 200, description = "Stored; forecasts of the series read them for the columns a request does not give", body = FutureResponse),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's role is not write or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown dataset", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the configured limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Rows failed their checks (every one in `errors`, nothing stored), or the body is malformed or over `max_ingest_rows`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No store, the store is unreachable, or overloaded", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn future(
    State(state): State<AppState>,
    body: crate::api::JsonBody,
) -> Result<Json<FutureResponse>, ApiError> {
    let _ingesting = state
        .ingesting
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let batch: FutureBatch = body.parse()?;
    let store = state.store()?;
    let max_rows = state.config.max_ingest_rows;
    if batch.values.len() > max_rows {
        return Err(ApiError::OverLimit {
            field: "values".into(),
            limit: "max_ingest_rows",
            maximum: max_rows,
            value: batch.values.len(),
        });
    }
    if batch.values.is_empty() {
        return Err(ApiError::invalid("values", "give at least one row"));
    }
    let issued_ms = match &batch.issued {
        None => Utc::now().timestamp_millis(),
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .map_err(|_| {
                ApiError::invalid(
                    "issued",
                    format!(
                        "{} is not an RFC 3339 time like 2026-12-07T06:00:00Z",
                        echo(text)
                    ),
                )
            })?
            .timestamp_millis(),
    };
    let record = store
        .dataset(&batch.dataset)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::NotFound {
            what: "dataset",
            name: echo(&batch.dataset),
        })?;
    let frequency: Frequency = record
        .frequency
        .parse()
        .map_err(|e| ApiError::Internal(format!("stored frequency of {}: {e}", batch.dataset)))?;
    // Future-known columns: those the served version reads as such, else the dataset's.
    let columns: Vec<String> = match state.catalog.load().datasets.get(&batch.dataset) {
        Some(loaded) => loaded
            .manifest
            .features
            .exogenous
            .iter()
            .filter(|e| e.role == civicast_model::ExogenousRole::FutureKnown)
            .map(|e| e.name.clone())
            .collect(),
        None => record.exogenous.clone(),
    };
    let known: std::collections::HashSet<&String> = record.series.iter().collect();
    let mut errors = Vec::new();
    let mut rows = Vec::with_capacity(batch.values.len());
    for (i, row) in batch.values.iter().enumerate() {
        let place = format!("values[{i}]");
        let mut fail = |field: &str, message: String| {
            errors.push(RowProblem {
                row: place.clone(),
                field: field.into(),
                message,
            })
        };
        if let Some(id) = &row.id
            && !known.contains(id)
        {
            fail(
                "id",
                format!(
                    "unknown series {} of dataset {}",
                    echo(id),
                    echo(&batch.dataset)
                ),
            );
        }
        let time = match frequency.parse_time(&row.time) {
            Some(t) if frequency.is_aligned(t) => Some(t),
            _ => {
                fail(
                    "time",
                    format!(
                        "{} is not a time on the dataset's {frequency} grid: expected {}",
                        echo(&row.time),
                        frequency.alignment_rule()
                    ),
                );
                None
            }
        };
        if row.exogenous.is_empty() {
            fail("exogenous", "give at least one value".into());
        }
        for (column, value) in &row.exogenous {
            if !columns.contains(column) {
                fail(
                    &crate::error::field_name(column),
                    format!(
                        "not a future-known column of dataset {}; expected one of: {}",
                        echo(&batch.dataset),
                        columns.join(", ")
                    ),
                );
            } else if !value.is_finite() {
                fail(column, "expected a finite number".into());
            }
        }
        if let Some(t) = time {
            rows.push(civicast_store::FutureRow {
                series: row.id.clone().unwrap_or_default(),
                t: civicast_store::encode_time(t),
                exogenous: row.exogenous.clone(),
            });
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Rows {
            detail: format!(
                "{} row problem(s); nothing was stored. First: {} {}: {}",
                errors.len(),
                errors[0].row,
                errors[0].field,
                errors[0].message
            ),
            errors,
        });
    }
    store
        .put_future(&batch.dataset, &rows, issued_ms)
        .await
        .map_err(unavailable)?;
    let moved = crate::live::refresh_dataset(&state, &batch.dataset)
        .await
        .map_err(|e| ApiError::Unavailable {
            detail: format!("the values are stored, but forecasts could not read them yet ({e})"),
            retry_after: 1,
        })?;
    Ok(Json(FutureResponse {
        dataset: batch.dataset,
        stored: rows.len(),
        series_moved: moved,
    }))
}
