//! The `/v1` API: request and response types and their handlers.
//!
//! Requests are parsed into checked values at the edge ("parse, don't validate"): a handler that
//! got past [`ForecastRequest::check`] never re-checks a horizon or a probability. Every failure
//! is an [`ApiError`] that names the field.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use civicast_model::learned::published::FutureValues;
use civicast_model::rollup::{Period, roll_up};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::catalog::{AnswerKey, LoadedVersion, ServedForecast};
use crate::error::{ApiError, Problem, echo, shorten_quotes};
use crate::work::{Admission, Cancel};

/// A JSON request body, not yet parsed: small bodies are parsed on the async worker, large ones
/// in a compute slot ([`crate::work`]), since a megabyte of tiny JSON values takes milliseconds
/// and many times its size in memory to parse. Its rejections are problem details, never axum's
/// plain-text defaults.
pub struct JsonBody(pub Bytes);

/// Bodies up to this size are parsed where they arrive (a forecast request for a few series is a
/// few hundred bytes); larger ones wait for a compute slot.
pub const INLINE_PARSE_BYTES: usize = 16 << 10;

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let essence = v.split(';').next().unwrap_or("").trim();
                essence.eq_ignore_ascii_case("application/json")
                    || (essence.len() > 5
                        && essence[essence.len() - 5..].eq_ignore_ascii_case("+json"))
            });
        if !is_json {
            return Err(ApiError::Invalid {
                field: None,
                detail: "the body must be JSON with Content-Type: application/json".into(),
            });
        }
        Bytes::from_request(request, state)
            .await
            .map(JsonBody)
            .map_err(|_| ApiError::TooLarge {
                limit: state.config.body_limit_bytes,
            })
    }
}

impl JsonBody {
    /// The body as `T`; a syntax or type error names the field and what was expected (serde's
    /// message, with the client's text in it cut short).
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        let mut json = serde_json::Deserializer::from_slice(&self.0);
        serde_path_to_error::deserialize(&mut json).map_err(|e| {
            let path = e.path().to_string();
            let detail = shorten_quotes(&e.into_inner().to_string());
            if path == "." {
                ApiError::Invalid {
                    field: None,
                    detail: format!("the body is not a valid request: {detail}"),
                }
            } else {
                let path = crate::error::field_name(&path);
                ApiError::Invalid {
                    detail: format!("{path}: {detail}"),
                    field: Some(path),
                }
            }
        })
    }
}

/// The request's admission permit (see [`crate::work::Admission`]), when the route has one.
pub struct Admitted(pub Option<Admission>);

impl<S: Send + Sync> FromRequestParts<S> for Admitted {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Admitted(parts.extensions.get::<Admission>().cloned()))
    }
}

/// A path segment that is not text (bad percent-encoding): a problem document like every other
/// error, not axum's plain-text default.
pub(crate) fn path_error(rejection: PathRejection) -> ApiError {
    ApiError::invalid("path", shorten_quotes(&rejection.body_text()))
}

/// A series, named by its dataset and id.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeriesRef {
    /// Dataset name, e.g. `chicago_ridership`.
    #[schema(example = "chicago_ridership")]
    pub dataset: String,
    /// Series id within the dataset, e.g. `Clark_Lake`.
    #[schema(example = "Clark_Lake")]
    pub id: String,
}

/// `POST /v1/forecast`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "series": [{"dataset": "chicago_ridership", "id": "Clark_Lake"}],
    "horizon": 28,
    "levels": [80, 95],
    "rollup": "week"
}))]
pub struct ForecastRequest {
    /// The series to forecast (1 to the configured maximum).
    pub series: Vec<SeriesRef>,
    /// Steps ahead (default: each dataset's horizon; at most the configured maximum).
    #[schema(minimum = 1)]
    pub horizon: Option<usize>,
    /// Quantile probabilities in (0, 1), e.g. `[0.1, 0.5, 0.9]`.
    #[serde(default)]
    pub quantiles: Vec<f64>,
    /// Central interval levels in percent, e.g. `[80, 95]` (each adds two quantiles). Default
    /// `[80, 95]` when neither quantiles nor levels are given.
    #[serde(default)]
    pub levels: Vec<f64>,
    /// Roll the forecast up to calendar periods from sample paths: `day`, `week`, `month`,
    /// `quarter`, `year` or `fiscal_year` (its first month is configured).
    #[schema(value_type = Option<RollupPeriod>)]
    pub rollup: Option<String>,
    /// Future values of exogenous variables (e.g. a weather forecast), by column name, one per
    /// forecast step from the first. Learned models read them; for columns or steps not given
    /// they use the column's climatology (its training-data mean for the same month, weekday and
    /// time of day) and the answer's notes say so. Statistical models ignore them, and the notes
    /// say that too.
    pub exogenous: Option<BTreeMap<String, Vec<f64>>>,
}

/// A calendar period to roll a forecast up to (documentation of [`ForecastRequest::rollup`]).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum RollupPeriod {
    /// Calendar days.
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    /// Calendar months.
    Month,
    /// Calendar quarters.
    Quarter,
    /// Calendar years.
    Year,
    /// Fiscal years (first month configured).
    FiscalYear,
}

/// A checked forecast request.
struct Checked {
    horizon: Option<usize>,
    probabilities: Vec<f64>,
    rollup: Option<Period>,
}

/// Interval levels (percent) used when a request asks for neither quantiles nor levels.
const DEFAULT_LEVELS: [f64; 2] = [80.0, 95.0];

impl ForecastRequest {
    fn check(&self, state: &AppState) -> Result<Checked, ApiError> {
        let config = &state.config;
        if self.series.is_empty() {
            return Err(ApiError::invalid("series", "name at least one series"));
        }
        if self.series.len() > config.max_series_per_request {
            return Err(ApiError::OverLimit {
                field: "series".into(),
                limit: "max_series_per_request",
                maximum: config.max_series_per_request,
                value: self.series.len(),
            });
        }
        // Counted before any value is looked at: each level is two quantiles.
        let asked = self
            .quantiles
            .len()
            .saturating_add(self.levels.len().saturating_mul(2));
        if asked > config.max_quantiles {
            return Err(ApiError::OverLimit {
                field: "quantiles".into(),
                limit: "max_quantiles",
                maximum: config.max_quantiles,
                value: asked,
            });
        }
        match self.horizon {
            Some(0) => {
                return Err(ApiError::invalid(
                    "horizon",
                    format!(
                        "horizon 0 is out of range; allowed 1..={}",
                        config.max_horizon
                    ),
                ));
            }
            Some(h) if h > config.max_horizon => {
                return Err(ApiError::OverLimit {
                    field: "horizon".into(),
                    limit: "max_horizon",
                    maximum: config.max_horizon,
                    value: h,
                });
            }
            _ => {}
        }
        let mut probabilities = Vec::new();
        for (i, &q) in self.quantiles.iter().enumerate() {
            if !(q > 0.0 && q < 1.0) {
                return Err(ApiError::invalid(
                    format!("quantiles[{i}]"),
                    format!("{q} is not a probability strictly between 0 and 1"),
                ));
            }
            probabilities.push(q);
        }
        let levels: &[f64] = if self.levels.is_empty() && self.quantiles.is_empty() {
            &DEFAULT_LEVELS
        } else {
            &self.levels
        };
        for (i, &level) in levels.iter().enumerate() {
            if !(level > 0.0 && level < 100.0) {
                return Err(ApiError::invalid(
                    format!("levels[{i}]"),
                    format!("{level} is not an interval level strictly between 0 and 100"),
                ));
            }
            // (100 - L) / 200 rather than (1 - L/100) / 2: the former is correctly rounded, so
            // level 95 gives exactly the double nearest 0.025 and the key "0.025".
            probabilities.push((100.0 - level) / 200.0);
            probabilities.push((100.0 + level) / 200.0);
        }
        probabilities.sort_by(f64::total_cmp);
        probabilities.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
        let rollup = match self.rollup.as_deref() {
            None => None,
            Some("fiscal_year") => Some(Period::FiscalYear {
                first_month: config.fiscal_year_first_month,
            }),
            Some(text) => Some(text.parse::<Period>().map_err(|_| {
                ApiError::invalid(
                    "rollup",
                    format!(
                        "{} is not a period; allowed: day, week, month, quarter, year, fiscal_year",
                        echo(text)
                    ),
                )
            })?),
        };
        Ok(Checked {
            horizon: self.horizon,
            probabilities,
            rollup,
        })
    }
}

/// A forecast for one step.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StepForecast {
    /// Time of the step, in the dataset's format.
    pub time: String,
    /// Point forecast (the model's mean).
    pub mean: f64,
    /// Quantiles by probability (`"0.1"`, `"0.9"`, ...).
    pub quantiles: BTreeMap<String, f64>,
}

/// A forecast total for one calendar period.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PeriodForecast {
    /// Label: `2016-W33`, `2016-08`, `2016-Q3`, `2016`, `FY2017`.
    pub period: String,
    /// First day of the period.
    pub start: String,
    /// Last day of the period.
    pub end: String,
    /// Forecast steps inside the period.
    pub steps: usize,
    /// Whether the forecast covers the whole period (otherwise the total is partial).
    pub complete: bool,
    /// Mean of the period total.
    pub mean: f64,
    /// Quantiles of the period total, from joint sample paths.
    pub quantiles: BTreeMap<String, f64>,
}

/// The forecast of one series.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SeriesForecast {
    /// Dataset name.
    pub dataset: String,
    /// Series id.
    pub id: String,
    /// The model version that made it.
    pub version: String,
    /// The model that made it.
    pub model: String,
    /// Unit of the values.
    pub unit: Option<String>,
    /// One entry per step.
    pub steps: Vec<StepForecast>,
    /// Totals per calendar period, when a roll-up was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollup: Option<Vec<PeriodForecast>>,
    /// Things the caller should know (fallbacks, ignored inputs).
    pub notes: Vec<String>,
}

/// `POST /v1/forecast` response.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ForecastResponse {
    /// One per requested series, in request order.
    pub forecasts: Vec<SeriesForecast>,
}

/// A probability as a JSON key.
pub(crate) fn probability_key(p: f64) -> String {
    // Shortest round-trip form: 0.1, 0.025, 0.975.
    format!("{p}")
}

fn find<'a>(
    catalog: &'a crate::catalog::Catalog,
    reference: &SeriesRef,
    i: usize,
) -> Result<(&'a Arc<LoadedVersion>, usize), ApiError> {
    let loaded = catalog
        .datasets
        .get(&reference.dataset)
        .ok_or_else(|| ApiError::NotFound {
            what: "dataset",
            name: format!("{} (series[{i}].dataset)", echo(&reference.dataset)),
        })?;
    let position = *loaded
        .index
        .get(&reference.id)
        .ok_or_else(|| ApiError::NotFound {
            what: "series",
            name: format!(
                "{} in dataset {} (series[{i}].id)",
                echo(&reference.id),
                echo(&reference.dataset)
            ),
        })?;
    Ok((loaded, position))
}

/// A stable seed per series, so the same request gives the same roll-up.
pub fn seed_for(dataset: &str, id: &str) -> u64 {
    civicast_model::forecast::stable_seed(&[dataset.as_bytes(), id.as_bytes()])
}

/// Forecast one or many series.
#[utoipa::path(
    post,
    path = "/v1/forecast",
    request_body = ForecastRequest,
    responses(
        (status = 200, description = "Forecasts, in request order", body = ForecastResponse),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown dataset or series (named in the detail)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the configured limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid (named in `field`), or the request is over a limit (named in `limit`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded or timed out; retry after Retry-After seconds", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn forecast(
    State(state): State<AppState>,
    Admitted(admission): Admitted,
    body: JsonBody,
) -> Result<Response, ApiError> {
    if body.0.len() > INLINE_PARSE_BYTES {
        let worker = state.clone();
        let answers = state
            .pool
            .run(admission, move |cancel| {
                cancel.check()?;
                let plan = Plan::new(&worker, body.parse()?)?;
                plan.answers(&worker, cancel)
            })
            .await?;
        return Ok(forecast_response(&answers));
    }
    let plan = Plan::new(&state, body.parse()?)?;
    if let Some(answers) = plan.cached() {
        return Ok(forecast_response(&answers));
    }
    let worker = state.clone();
    let answers = state
        .pool
        .run(admission, move |cancel| plan.answers(&worker, cancel))
        .await?;
    Ok(forecast_response(&answers))
}

fn forecast_response(answers: &[Bytes]) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        forecasts_body(answers),
    )
        .into_response()
}

/// A checked forecast request with every series found and its cost known, before any forecast is
/// made: what [`forecast`] hands to a compute slot.
struct Plan {
    exogenous: Option<FutureValues>,
    /// Each series' version, position and answer key, in request order.
    series: Vec<(Arc<LoadedVersion>, AnswerKey)>,
}

impl Plan {
    /// Checks `request` against the limits and the served catalog; the work it would do is
    /// bounded here, before it starts.
    fn new(state: &AppState, request: ForecastRequest) -> Result<Plan, ApiError> {
        let config = &state.config;
        let checked = request.check(state)?;
        let probabilities: Vec<u64> = checked.probabilities.iter().map(|p| p.to_bits()).collect();
        let catalog = state.catalog.load_full();
        let mut series = Vec::with_capacity(request.series.len());
        let (mut values, mut sampled) = (0usize, 0usize);
        for (i, reference) in request.series.iter().enumerate() {
            let (loaded, position) = find(&catalog, reference, i)?;
            let key = AnswerKey {
                position,
                horizon: checked.horizon.unwrap_or(loaded.manifest.dataset.horizon),
                probabilities: probabilities.clone(),
                rollup: checked.rollup,
                exogenous: request.exogenous.is_some(),
                generation: loaded.generation(position),
            };
            if let Some(given) = &request.exogenous {
                loaded
                    .check_future(position, given, key.horizon)
                    .map_err(|e| {
                        ApiError::invalid(
                            // The name as given, cut short: a field path, not a quoted echo.
                            format!(
                                "exogenous.{}",
                                e.column().chars().take(60).collect::<String>()
                            ),
                            format!("series[{i}] ({}): {e}", echo(&reference.id)),
                        )
                    })?;
            }
            // A roll-up has at most one period per step, with as many numbers as a step.
            let per_step = (probabilities.len() + 1) * if key.rollup.is_some() { 2 } else { 1 };
            values = values.saturating_add(key.horizon.saturating_mul(per_step));
            if key.rollup.is_some() {
                sampled = sampled.saturating_add(key.horizon.saturating_mul(config.sample_paths));
            }
            series.push((loaded.clone(), key));
        }
        // Sampling is the costlier work, so it is the limit named when both are over.
        if sampled > config.max_sampled_values {
            return Err(ApiError::OverLimit {
                field: "rollup: series × horizon × sample paths".into(),
                limit: "max_sampled_values",
                maximum: config.max_sampled_values,
                value: sampled,
            });
        }
        if values > config.max_answer_values {
            return Err(ApiError::OverLimit {
                field: "series × horizon × quantiles".into(),
                limit: "max_answer_values",
                maximum: config.max_answer_values,
                value: values,
            });
        }
        Ok(Plan {
            exogenous: request.exogenous,
            series,
        })
    }

    /// Whether the answer of the series at `index` is read from the version's cache; answers
    /// given future values change for a learned model are never cached.
    fn cacheable(&self, loaded: &LoadedVersion, key: &AnswerKey) -> bool {
        self.exogenous.is_none() || !loaded.reads_future(key.position)
    }

    /// Every answer, when all are in the versions' caches: then the request needs no compute slot.
    fn cached(&self) -> Option<Vec<Bytes>> {
        self.series
            .iter()
            .map(|(loaded, key)| {
                if self.cacheable(loaded, key) {
                    loaded.cached_answer(key)
                } else {
                    None
                }
            })
            .collect()
    }

    /// Every answer, made or read from the cache, checking `cancel` before each series.
    fn answers(&self, state: &AppState, cancel: &Cancel) -> Result<Vec<Bytes>, ApiError> {
        let sample_paths = state.config.sample_paths;
        let given = self.exogenous.as_ref();
        let mut answers = Vec::with_capacity(self.series.len());
        for (loaded, key) in &self.series {
            cancel.check()?;
            let render = |loaded: &LoadedVersion| render(loaded, key, sample_paths, given);
            answers.push(if self.cacheable(loaded, key) {
                loaded.answer(key, render)?
            } else {
                Bytes::from(render(loaded)?)
            });
        }
        Ok(answers)
    }
}

/// One series' answer as JSON: a [`SeriesForecast`]. It depends on `key` and the version only
/// (and on `sample_paths`, fixed for the life of the process), which is what lets
/// [`LoadedVersion::answer`] cache it.
fn render(
    loaded: &LoadedVersion,
    key: &AnswerKey,
    sample_paths: usize,
    given: Option<&FutureValues>,
) -> Result<Vec<u8>, ApiError> {
    let position = key.position;
    let horizon = key.horizon;
    let probabilities: Vec<f64> = key
        .probabilities
        .iter()
        .map(|&b| f64::from_bits(b))
        .collect();
    let entry = &loaded.manifest.series[position];
    let ServedForecast { forecast, notes } = loaded
        .forecast_with(position, horizon, &probabilities, given)
        .map_err(|e| ApiError::Internal(format!("forecasting {}: {e}", entry.id)))?;
    let frequency = loaded.frequency;
    let end = loaded.end(position);
    let time_of = |step: usize| -> String {
        frequency
            .advance(end, step as i64 + 1)
            .map(|t| frequency.format_time(t))
            .unwrap_or_default()
    };
    let steps = (0..horizon)
        .map(|t| StepForecast {
            time: time_of(t),
            mean: forecast.point[t],
            quantiles: forecast
                .quantiles
                .iter()
                .map(|(p, values)| (probability_key(*p), values[t]))
                .collect(),
        })
        .collect();
    let rollup = match key.rollup {
        None => None,
        Some(period) => {
            let first = frequency.advance(end, 1).unwrap_or(end);
            let seed = seed_for(loaded.dataset(), &entry.id);
            // Without given future values the draw is the version's own, kept and shared with
            // other roll-ups and budget lines of this series and horizon.
            let paths = match given {
                None => loaded.cached_sample_paths(position, horizon, sample_paths, seed),
                Some(_) => loaded
                    .sample_paths_with(position, horizon, sample_paths, seed, given)
                    .map(Arc::new),
            }
            .map_err(|e| ApiError::Internal(format!("sampling {}: {e}", entry.id)))?;
            let totals =
                roll_up(&paths, first, frequency, period, &probabilities).map_err(|e| {
                    ApiError::invalid(
                        "rollup",
                        format!("cannot roll up series {}: {e}", echo(&entry.id)),
                    )
                })?;
            Some(
                totals
                    .into_iter()
                    .map(|t| PeriodForecast {
                        period: t.period.label,
                        start: t.period.start.to_string(),
                        end: t.period.end.to_string(),
                        steps: t.steps,
                        complete: t.complete,
                        mean: t.mean,
                        quantiles: t
                            .quantiles
                            .into_iter()
                            .map(|(p, v)| (probability_key(p), v))
                            .collect(),
                    })
                    .collect(),
            )
        }
    };
    let answer = SeriesForecast {
        dataset: loaded.dataset().to_owned(),
        id: entry.id.clone(),
        version: loaded.manifest.version.clone(),
        model: entry.model.clone(),
        unit: loaded.manifest.dataset.unit.clone(),
        steps,
        rollup,
        notes,
    };
    serde_json::to_vec(&answer)
        .map_err(|e| ApiError::Internal(format!("rendering {}: {e}", entry.id)))
}

/// The JSON of a [`ForecastResponse`] made of already rendered answers: the same bytes serde would
/// write for the struct, without parsing and re-serialising the cached ones.
fn forecasts_body(answers: &[Bytes]) -> Vec<u8> {
    const OPEN: &[u8] = b"{\"forecasts\":[";
    const CLOSE: &[u8] = b"]}";
    let length = OPEN.len() + answers.iter().map(|a| a.len() + 1).sum::<usize>() + CLOSE.len();
    let mut body = Vec::with_capacity(length);
    body.extend_from_slice(OPEN);
    for (i, answer) in answers.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(answer);
    }
    body.extend_from_slice(CLOSE);
    body
}

/// `GET /v1/series/{dataset}/{id}/history` query.
#[derive(Clone, Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Return at most this many of the latest observations (default: all the version keeps).
    pub last: Option<usize>,
}

/// One observation.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Observation {
    /// Its time, in the dataset's format.
    pub time: String,
    /// The observed value; `null` for a step that has no observation (a gap in the arrived
    /// data, which forecasts filled with their one-step forecast).
    pub value: Option<f64>,
}

/// Recent observations of a series.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SeriesHistory {
    /// Dataset name.
    pub dataset: String,
    /// Series id.
    pub id: String,
    /// The model version that holds them.
    pub version: String,
    /// Unit of the values.
    pub unit: Option<String>,
    /// Oldest first, ending at the series' last observation.
    pub observations: Vec<Observation>,
}

/// Recent observations of one series, as kept in the served version (for charts beside a
/// forecast; versions published before history was kept have none).
#[utoipa::path(
    get,
    path = "/v1/series/{dataset}/{id}/history",
    params(
        ("dataset" = String, Path, description = "Dataset name"),
        ("id" = String, Path, description = "Series id"),
        HistoryQuery
    ),
    responses(
        (status = 200, description = "Recent observations, oldest first", body = SeriesHistory),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown dataset or series (named in the detail)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `last`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded or timed out; retry after Retry-After seconds", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn history(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SeriesHistory>, ApiError> {
    let Path((dataset, id)) = path.map_err(path_error)?;
    let Query(query) = query.map_err(|e| ApiError::Invalid {
        field: None,
        detail: shorten_quotes(&e.body_text()),
    })?;
    if query.last == Some(0) {
        return Err(ApiError::invalid(
            "last",
            "0 is out of range; ask for at least 1",
        ));
    }
    let catalog = state.catalog.load();
    let reference = SeriesRef { dataset, id };
    let (loaded, position) = find(&catalog, &reference, 0).map_err(|e| match e {
        // The path has no `series[0]` to point at: name the series only.
        ApiError::NotFound { what, .. } => ApiError::NotFound {
            what,
            name: format!(
                "{} in dataset {}",
                echo(&reference.id),
                echo(&reference.dataset)
            ),
        },
        other => other,
    })?;
    let (values, end) = loaded
        .history(&reference.id)
        .unwrap_or_else(|| (Vec::new(), loaded.end(position)));
    let keep = query.last.unwrap_or(values.len()).min(values.len());
    let values = &values[values.len() - keep..];
    let frequency = loaded.frequency;
    let observations = values
        .iter()
        .enumerate()
        .map(|(k, &value)| Observation {
            time: frequency
                .advance(end, k as i64 + 1 - values.len() as i64)
                .map(|t| frequency.format_time(t))
                .unwrap_or_default(),
            value: Some(value).filter(|v| v.is_finite()),
        })
        .collect();
    Ok(Json(SeriesHistory {
        dataset: loaded.dataset().to_owned(),
        id: reference.id,
        version: loaded.manifest.version.clone(),
        unit: loaded.manifest.dataset.unit.clone(),
        observations,
    }))
}

/// `GET /v1/series` query.
#[derive(Clone, Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SeriesQuery {
    /// Only this dataset.
    pub dataset: Option<String>,
    /// Skip this many series (default 0).
    pub offset: Option<usize>,
    /// Return at most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// One served series.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SeriesInfo {
    /// Dataset name.
    pub dataset: String,
    /// Series id.
    pub id: String,
    /// Unit of the values.
    pub unit: Option<String>,
    /// Frequency (`1d`, `1h`, `30m`, ...).
    pub frequency: String,
    /// First observation.
    pub start: String,
    /// Last observation; forecasts start one step later.
    pub last_observation: String,
    /// Number of observations.
    pub length: usize,
    /// The model serving it.
    pub model: String,
    /// The model version.
    pub version: String,
    /// The chosen model's backtest metrics (MASE, sMAPE, RMSE, cov80, cov95, sCRPS).
    #[schema(value_type = Object)]
    pub backtest: Option<civicast_model::metrics::Scores>,
    /// A fit of the dataset in progress, whose version replaces this one when it is published
    /// and promoted; absent when none is running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coming: Option<Coming>,
    /// Live accuracy of this version's issued forecasts: MASE over the scored pairs, and how
    /// many there are (see `GET /v1/series/{dataset}/{id}/accuracy`).
    pub live_mase: Option<f64>,
    /// Issued forecasts scored so far.
    pub live_pairs: usize,
    /// Whether the drift test flags the series: its live error exceeds what its backtest
    /// promised by more than chance allows.
    pub drifted: bool,
}

/// A fit in progress (`civicast-train fit` marks the datasets it will publish).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Coming {
    /// The models the fit chooses among (`auto` by default).
    pub models: Vec<String>,
    /// `queued` (behind other datasets of the same run) or `fitting`.
    pub state: String,
    /// Since when (RFC 3339, UTC).
    pub since: String,
    /// Whether the new version will be served when published (otherwise it waits for a promote).
    pub promote: bool,
}

impl From<&civicast_registry::TrainingMarker> for Coming {
    fn from(marker: &civicast_registry::TrainingMarker) -> Self {
        Coming {
            models: marker.models.clone(),
            state: match marker.state {
                civicast_registry::TrainingState::Queued => "queued",
                civicast_registry::TrainingState::Fitting => "fitting",
            }
            .to_owned(),
            since: marker.since.clone(),
            promote: marker.promote,
        }
    }
}

/// A page of series.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SeriesPage {
    /// The series on this page.
    pub series: Vec<SeriesInfo>,
    /// Series matching the filter in all.
    pub total: usize,
    /// Offset of this page.
    pub offset: usize,
    /// Page size asked for.
    pub limit: usize,
}

/// Largest page of `GET /v1/series`.
const MAX_PAGE: usize = 1_000;

/// List the served series.
#[utoipa::path(
    get,
    path = "/v1/series",
    params(SeriesQuery),
    responses(
        (status = 200, description = "A page of series", body = SeriesPage),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown dataset", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad paging values", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded or timed out; retry after Retry-After seconds", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn series(
    State(state): State<AppState>,
    query: Result<Query<SeriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SeriesPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::Invalid {
        field: None,
        detail: shorten_quotes(&e.body_text()),
    })?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("{limit} is out of range; allowed 1..={MAX_PAGE}"),
        ));
    }
    let offset = query.offset.unwrap_or(0);
    let catalog = state.catalog.load();
    let training = state.training.load();
    if let Some(dataset) = &query.dataset
        && !catalog.datasets.contains_key(dataset)
    {
        return Err(ApiError::NotFound {
            what: "dataset",
            name: echo(dataset),
        });
    }
    let all: Vec<SeriesInfo> = catalog
        .datasets
        .values()
        .filter(|v| query.dataset.as_ref().is_none_or(|d| d == v.dataset()))
        .flat_map(|v| {
            let coming = training.get(v.dataset()).map(Coming::from);
            v.manifest.series.iter().enumerate().map(move |(i, s)| {
                let live = v.live(i);
                let accuracy = live.accuracy.as_deref();
                SeriesInfo {
                    dataset: v.dataset().to_owned(),
                    id: s.id.clone(),
                    unit: v.manifest.dataset.unit.clone(),
                    frequency: v.manifest.dataset.frequency.clone(),
                    start: s.start.clone(),
                    last_observation: v.frequency.format_time(v.end(i)),
                    length: s.length + live.absorbed.len(),
                    model: s.model.clone(),
                    version: v.manifest.version.clone(),
                    backtest: s.backtest.get(&s.model).cloned(),
                    coming: coming.clone(),
                    live_mase: accuracy.map(|a| a.scores.mase).filter(|m| m.is_finite()),
                    live_pairs: accuracy.map_or(0, |a| a.pairs),
                    drifted: accuracy.is_some_and(|a| a.drift.drifted),
                }
            })
        })
        .collect();
    let total = all.len();
    Ok(Json(SeriesPage {
        series: all.into_iter().skip(offset).take(limit).collect(),
        total,
        offset,
        limit,
    }))
}

/// One registry version, as listed.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ModelVersion {
    /// Version id.
    pub version: String,
    /// Dataset name.
    pub dataset: String,
    /// When it was published.
    pub created: String,
    /// Number of series.
    pub series: usize,
    /// Whether the registry names it as its dataset's production version.
    pub production: bool,
    /// Whether this service is serving it now.
    pub serving: bool,
}

/// List the registry's versions.
#[utoipa::path(
    get,
    path = "/v1/models",
    responses(
        (status = 200, description = "All versions, oldest first", body = [ModelVersion]),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "The registry could not be read", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded or timed out; retry after Retry-After seconds", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn models(
    State(state): State<AppState>,
    Admitted(admission): Admitted,
) -> Result<Json<Vec<ModelVersion>>, ApiError> {
    let registry = state.registry.clone();
    let catalog = state.catalog.load_full();
    // Reading every manifest is file I/O proportional to the registry: a compute slot's work.
    let listed = state.pool.run(admission, move |cancel| {
        let mut out = Vec::new();
        for manifest in registry
            .list()
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .into_iter()
            .flatten()
        {
            cancel.check()?;
            let production = registry
                .production(&manifest.dataset.name)
                .ok()
                .flatten()
                .is_some_and(|v| v == manifest.version);
            let serving = catalog
                .datasets
                .get(&manifest.dataset.name)
                .is_some_and(|v| v.manifest.version == manifest.version);
            out.push(ModelVersion {
                version: manifest.version,
                dataset: manifest.dataset.name,
                created: manifest.created,
                series: manifest.series.len(),
                production,
                serving,
            });
        }
        Ok(out)
    });
    Ok(Json(listed.await?))
}

/// One version's manifest: dataset, data checksum, per-series models and backtest metrics.
#[utoipa::path(
    get,
    path = "/v1/models/{version}",
    params(("version" = String, Path, description = "Version id")),
    responses(
        (status = 200, description = "The version's manifest", body = Object),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown version", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "The version's manifest could not be read", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded or timed out; retry after Retry-After seconds", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn model_version(
    State(state): State<AppState>,
    Admitted(admission): Admitted,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<civicast_registry::VersionManifest>, ApiError> {
    let Path(version) = path.map_err(path_error)?;
    if !civicast_registry::is_valid_name(&version) {
        return Err(ApiError::NotFound {
            what: "version",
            name: echo(&version),
        });
    }
    let registry = state.registry.clone();
    let wanted = version.clone();
    let result = state
        .pool
        .run(admission, move |_| Ok(registry.show(&wanted)))
        .await?;
    match result {
        Ok(manifest) => Ok(Json(manifest)),
        Err(civicast_registry::RegistryError::UnknownVersion(_)) => Err(ApiError::NotFound {
            what: "version",
            name: echo(&version),
        }),
        Err(e) => Err(ApiError::Internal(e.to_string())),
    }
}

/// What a reload did.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReloadResponse {
    /// Datasets whose served version changed: dataset -> new version.
    pub changed: BTreeMap<String, String>,
    /// Datasets whose new version was refused: dataset -> why. They keep their old version.
    pub failures: BTreeMap<String, String>,
    /// Datasets no longer served because their production alias was removed.
    pub removed: Vec<String>,
    /// What is served now: dataset -> version.
    pub serving: BTreeMap<String, String>,
}

/// Load the registry's production versions now (admin).
#[utoipa::path(
    post,
    path = "/v1/admin/reload",
    responses(
        (status = 200, description = "What changed and what was refused", body = ReloadResponse),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key is not an admin key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded or timed out; retry after Retry-After seconds", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn reload(State(state): State<AppState>) -> Result<Json<ReloadResponse>, ApiError> {
    let report = state.reload().await;
    let catalog = state.catalog.load();
    Ok(Json(ReloadResponse {
        changed: report.changed.into_iter().collect(),
        failures: report.failures.into_iter().collect(),
        removed: report.removed,
        serving: catalog
            .datasets
            .iter()
            .map(|(d, v)| (d.clone(), v.manifest.version.clone()))
            .collect(),
    }))
}

/// Readiness. Without an admin key it says only whether each dataset is served; the versions and
/// the reasons a version was refused (paths, checksums) are shown to admin keys only.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Health {
    /// `live`, `ready` or `not_ready`.
    pub status: String,
    /// Each dataset the registry names or the service serves: `ready` (served), `degraded`
    /// (served, but its newest production version was refused) or `not_ready`.
    pub datasets: BTreeMap<String, String>,
    /// Served versions: dataset -> version (admin keys only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving: Option<BTreeMap<String, String>>,
    /// Failures of the last reload: dataset -> why (admin keys only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_reload_failures: Option<BTreeMap<String, String>>,
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", responses((status = 200, body = Live)))]
pub async fn live() -> Json<Live> {
    Json(Live { status: "live" })
}

/// Liveness.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Live {
    /// Always `live`.
    pub status: &'static str,
}

/// The service has at least one verified model loaded.
#[utoipa::path(
    get,
    path = "/health/ready",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "No verified model loaded", body = Health),
    )
)]
pub async fn ready(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> (axum::http::StatusCode, Json<Health>) {
    let catalog = state.catalog.load();
    let failures = state.last_failures.load();
    let ready = !catalog.datasets.is_empty();
    let mut datasets: BTreeMap<String, String> = catalog
        .datasets
        .keys()
        .map(|d| (d.clone(), "ready".to_owned()))
        .collect();
    for dataset in failures.keys() {
        // Failures not of one dataset ("(registry)") are reported to admins only.
        if civicast_registry::is_valid_name(dataset) {
            let status = match datasets.get(dataset) {
                Some(_) => "degraded",
                None => "not_ready",
            };
            datasets.insert(dataset.clone(), status.to_owned());
        }
    }
    let admin = state
        .keys
        .caller(&headers)
        .is_some_and(|c| c.role >= crate::auth::Role::Admin);
    let health = Health {
        status: if ready { "ready" } else { "not_ready" }.into(),
        datasets,
        serving: admin.then(|| {
            catalog
                .datasets
                .iter()
                .map(|(d, v)| (d.clone(), v.manifest.version.clone()))
                .collect()
        }),
        last_reload_failures: admin.then(|| failures.as_ref().clone()),
    };
    let status = if ready {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(id: &str) -> SeriesForecast {
        SeriesForecast {
            dataset: "rides".into(),
            id: id.into(),
            version: "rides-20240101T000000Z".into(),
            model: "ets".into(),
            unit: None,
            steps: vec![StepForecast {
                time: "2024-02-26".into(),
                mean: 1.25,
                quantiles: BTreeMap::from([("0.1".into(), 0.5), ("0.9".into(), 2.0)]),
            }],
            rollup: None,
            notes: vec!["a \"quoted\" note".into()],
        }
    }

    #[test]
    fn assembled_answers_are_the_json_serde_writes_for_the_response() {
        for ids in [vec!["a"], vec!["a", "b", "c"]] {
            let forecasts: Vec<SeriesForecast> = ids.iter().map(|id| answer(id)).collect();
            let rendered: Vec<Bytes> = forecasts
                .iter()
                .map(|f| Bytes::from(serde_json::to_vec(f).unwrap()))
                .collect();
            let expected = serde_json::to_vec(&ForecastResponse { forecasts }).unwrap();
            assert_eq!(
                String::from_utf8(forecasts_body(&rendered)).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }
}
