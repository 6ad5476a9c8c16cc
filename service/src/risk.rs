//! `POST /v1/risk`: budget-waste risk of many planned budget lines at once.
//!
//! The request and response formats are a contract shared with the dashboard and the notebooks
//! (summarised in `docs/risk.md`, described in `/openapi.json`); the arithmetic is [`civicast_model::risk`]. This module is the edge: it reads lines from JSON or
//! CSV, turns each into checked values, draws the series' sample paths through
//! [`LoadedVersion::sample_paths`] (never the per-series model map: how models are stored is not
//! this module's business), and writes JSON or CSV back.
//!
//! A planner's spreadsheet has hundreds of lines, and one typo must not throw the other answers
//! away: every line is parsed and checked on its own, and a bad one becomes a per-line `error`
//! naming the field, in a 200 response. Only a body that is not JSON/CSV at all, has no lines or
//! too many is refused as a whole (a problem document, as on every route).
//!
//! When the served version holds a waste-risk calibration (`risk.json`, written by
//! `civicast-train risk --registry`), the waste probability and flag come from the source it
//! names ([`FlagSource`]: the classifier, the raw probability, the waste frequency per flag level,
//! or the base rate), chosen because it beat always answering the base rate on held-out periods;
//! a classifier or per-level frequencies apply to lines like the periods they were learned from.
//! The reasons say which probability was used and why.
//!
//! Lines of the same series and horizon share one draw of sample paths, kept with the served
//! version ([`LoadedVersion::cached_sample_paths`]); the seed is fixed per series
//! ([`crate::api::seed_for`]) so the same line always gets the same answer, whatever else is in
//! the request.

pub mod csv;
mod input;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use civicast_model::SamplePaths;
use civicast_model::risk::classifier::RiskFeatures;
use civicast_model::risk::{
    Assessment, BudgetLine, Calibrated, FlagSource, PeriodDemand, PeriodProblem, Wording, assess,
    period_steps,
};
use civicast_registry::RiskFile;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::api::{Admitted, probability_key, seed_for};
use crate::catalog::{Catalog, LoadedVersion};
use crate::error::{ApiError, Problem, echo};
use crate::work::Cancel;
use input::{Fields, Input, csv_inputs, json_inputs};

/// `POST /v1/risk` as JSON (the same fields are the columns of the CSV form).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[schema(example = json!({"lines": [{
    "id": "CL-1",
    "dataset": "chicago_ridership",
    "series": "Clark_Lake",
    "start": "2016-08-15",
    "end": "2016-08-21",
    "planned": 100000,
    "unit_cost": 1000
}]}))]
pub struct RiskRequest {
    /// The budget lines (1 to the configured maximum).
    pub lines: Vec<RiskLine>,
}

/// One budget line: a planned quantity of a series over a period.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct RiskLine {
    /// The caller's label (default `line <n>`, 1-based).
    pub id: Option<String>,
    /// Dataset name, e.g. `chicago_ridership`.
    pub dataset: String,
    /// Series id within the dataset, e.g. `Clark_Lake`.
    pub series: String,
    /// First day of the period (YYYY-MM-DD), inclusive.
    pub start: String,
    /// Last day of the period (YYYY-MM-DD), inclusive.
    pub end: String,
    /// Planned quantity over the whole period, in the dataset's unit.
    pub planned: f64,
    /// Currency per unit of planned capacity.
    pub unit_cost: f64,
    /// Relative tolerance in [0, 1) (default 0.1).
    pub tolerance: Option<f64>,
    /// Cost of a unit planned but unused (default `unit_cost`).
    pub waste_cost: Option<f64>,
    /// Cost of a unit short (default 2 × `unit_cost`).
    pub shortage_cost: Option<f64>,
}

/// What is wrong with one line.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct LineError {
    /// The offending field (or CSV column).
    pub field: String,
    /// What was wrong and what is allowed.
    pub detail: String,
}

impl LineError {
    fn new(field: &str, detail: impl Into<String>) -> Self {
        LineError {
            field: field.to_owned(),
            detail: detail.into(),
        }
    }
}

/// The forecast of a period's total demand.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PeriodDemandSummary {
    /// Mean.
    pub mean: f64,
    /// Quantiles by probability (`"0.05"`, `"0.1"`, `"0.5"`, `"0.9"`, `"0.95"`).
    pub quantiles: BTreeMap<String, f64>,
}

/// A quantity and its cost in the configured currency.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub struct Money {
    /// In the dataset's unit.
    pub quantity: f64,
    /// In currency.
    pub cost: f64,
}

/// The answer for one good line.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LineRisk {
    /// Position of the line in the request, from 1.
    pub line: usize,
    /// The caller's label, or `line <n>`.
    pub id: String,
    /// Dataset.
    pub dataset: String,
    /// Series.
    pub series: String,
    /// First day of the period.
    pub start: String,
    /// Last day of the period.
    pub end: String,
    /// The model version that forecast it.
    pub version: String,
    /// The planned quantity.
    pub planned: f64,
    /// Unit of the quantities.
    pub unit: Option<String>,
    /// Forecast demand over the period, from joint sample paths.
    pub forecast: PeriodDemandSummary,
    /// P(actual < planned × (1 − tolerance)); calibrated when the version has a risk classifier.
    pub waste_probability: f64,
    /// P(actual > planned × (1 + tolerance)).
    pub shortage_probability: f64,
    /// E[max(0, planned − actual)] and its cost at the waste cost.
    pub expected_waste: Money,
    /// E[max(0, actual − planned)] and its cost at the shortage cost.
    pub expected_shortage: Money,
    /// The provision that minimises expected cost (the newsvendor quantile).
    pub recommended: f64,
    /// `none`, `low`, `medium` or `high`.
    pub flag: String,
    /// Plain-language reasons, most important first.
    pub reasons: Vec<String>,
}

/// The answer for one bad line.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LineFailure {
    /// Position of the line in the request, from 1.
    pub line: usize,
    /// The caller's label, or `line <n>`.
    pub id: String,
    /// What was wrong.
    pub error: LineError,
}

/// One line's answer.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LineResult {
    /// The line's risk.
    Risk(Box<LineRisk>),
    /// Why the line could not be assessed.
    Failure(LineFailure),
}

/// `POST /v1/risk` response.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RiskResponse {
    /// Currency of every cost (configured).
    pub currency: String,
    /// One per line, in request order.
    pub results: Vec<LineResult>,
}

/// Where a line's forecast comes from: the served version, the series' position in it and the
/// forecast steps its period covers (from 0, the step after the last observation).
struct Located {
    loaded: Arc<LoadedVersion>,
    position: usize,
    steps: std::ops::Range<usize>,
}

/// Finds a line's series and the steps of its period: cheap, so every line is located before any
/// is assessed and the request's sampling is bounded first.
fn locate(state: &AppState, catalog: &Catalog, f: &Fields) -> Result<Located, LineError> {
    let config = &state.config;
    let loaded: &Arc<LoadedVersion> = catalog.datasets.get(&f.dataset).ok_or_else(|| {
        LineError::new(
            "dataset",
            format!("dataset {} is not served", echo(&f.dataset)),
        )
    })?;
    let position = *loaded.index.get(&f.series).ok_or_else(|| {
        LineError::new(
            "series",
            format!(
                "series {} is not in dataset {}",
                echo(&f.series),
                echo(&f.dataset)
            ),
        )
    })?;
    let frequency = loaded.frequency;
    let last = loaded.end(position);
    let first = frequency
        .advance(last, 1)
        .ok_or_else(|| LineError::new("series", "the series' last observation is out of range"))?;
    let last_text = frequency.format_time(last);
    let steps = period_steps(first, frequency, f.start, f.end, config.max_horizon).map_err(
        |problem| match problem {
            PeriodProblem::EndBeforeStart => LineError::new(
                "end",
                format!("end {} is before start {}", f.end, f.start),
            ),
            PeriodProblem::StartsBeforeForecast { first } => LineError::new(
                "start",
                format!(
                    "start {} is before the first forecast day {first}: the series is observed until {last_text}",
                    f.start
                ),
            ),
            PeriodProblem::BeyondHorizon { needed } => LineError::new(
                "end",
                format!(
                    "end {} is beyond the forecastable horizon: the period reaches about {needed} steps after the last observation ({last_text}); at most {} steps are forecast",
                    f.end, config.max_horizon
                ),
            ),
            PeriodProblem::NoStepInside => LineError::new(
                "start",
                format!(
                    "no step of this {} series falls between {} and {}",
                    loaded.manifest.dataset.frequency, f.start, f.end
                ),
            ),
            PeriodProblem::NoCalendar => LineError::new(
                "series",
                "the series is indexed by integers, not dates, so it has no periods",
            ),
        },
    )?;
    Ok(Located {
        loaded: loaded.clone(),
        position,
        steps,
    })
}

/// The demand over `steps` of the served forecast whose joint sample paths are `paths`, and the
/// risk features of `line` for the period starting on `start`, with the served model's protocol
/// backtest MASE: the one definition training also uses ([`RiskFeatures::of_paths`]; a test
/// checks the two agree). `None` when the paths do not cover the steps.
pub fn line_features(
    line: &BudgetLine,
    paths: &SamplePaths,
    steps: std::ops::Range<usize>,
    start: chrono::NaiveDate,
    backtest_mase: Option<f64>,
) -> Option<(PeriodDemand, RiskFeatures)> {
    RiskFeatures::of_paths(line, paths, steps, Some(start), backtest_mase)
}

fn assess_line(
    state: &AppState,
    number: usize,
    id: &str,
    f: &Fields,
    located: &Located,
) -> Result<LineRisk, LineError> {
    let config = &state.config;
    let Located {
        loaded,
        position,
        steps,
    } = located;
    let (position, steps) = (*position, steps.clone());
    let horizon = steps.end;
    let paths = loaded
        .cached_sample_paths(
            position,
            horizon,
            config.sample_paths,
            seed_for(&f.dataset, &f.series),
        )
        .map_err(|e| {
            tracing::error!(dataset = %f.dataset, series = %f.series, error = %e, "risk: sampling failed");
            LineError::new("series", "the model of this series could not forecast it")
        })?;
    let entry = &loaded.manifest.series[position];
    let backtest_mase = entry.backtest.get(&entry.model).map(|scores| scores.mase);
    let (demand, features) = line_features(&f.line, &paths, steps.clone(), f.start, backtest_mase)
        .ok_or_else(|| LineError::new("series", "the model returned no usable sample paths"))?;
    let served_model = &loaded.manifest.series[position].model;
    let (calibrated, note) = calibration(loaded.risk.as_ref(), &features, served_model);
    let mut a: Assessment = assess(
        &f.line,
        &demand,
        &config.risk_flags,
        calibrated.map(|(probability, by)| Calibrated { probability, by }),
        Wording::default(),
    );
    if let Some(note) = note {
        a.reasons.push(note);
    }
    Ok(LineRisk {
        line: number,
        id: id.to_owned(),
        dataset: f.dataset.clone(),
        series: f.series.clone(),
        start: f.start.to_string(),
        end: f.end.to_string(),
        version: loaded.manifest.version.clone(),
        planned: f.line.planned,
        unit: loaded.manifest.dataset.unit.clone(),
        forecast: PeriodDemandSummary {
            mean: a.mean,
            quantiles: a
                .quantiles
                .iter()
                .map(|&(p, v)| (probability_key(p), v))
                .collect(),
        },
        waste_probability: a.waste_probability,
        shortage_probability: a.shortage_probability,
        expected_waste: Money {
            quantity: a.expected_waste.quantity,
            cost: a.expected_waste.cost,
        },
        expected_shortage: Money {
            quantity: a.expected_shortage.quantity,
            cost: a.expected_shortage.cost,
        },
        recommended: a.recommended,
        flag: a.flag.as_str().to_owned(),
        reasons: a.reasons,
    })
}

/// Locates every line, bounds the sampling they need (`max_sampled_values`), then assesses them,
/// checking `cancel` before each line.
fn assess_all(
    state: &AppState,
    catalog: &Catalog,
    inputs: Vec<Input>,
    cancel: &Cancel,
) -> Result<Vec<LineResult>, ApiError> {
    let located: Vec<Result<(Fields, Located), LineError>> = inputs
        .iter()
        .map(|input| {
            let fields = input.fields.as_ref().map_err(Clone::clone)?;
            let located = locate(state, catalog, fields)?;
            Ok((fields.clone(), located))
        })
        .collect();
    // Lines of one series and horizon share a draw, so each distinct pair is drawn once.
    let draws: HashSet<(&str, usize, usize)> = located
        .iter()
        .flatten()
        .map(|(_, l)| (l.loaded.dataset(), l.position, l.steps.end))
        .collect();
    let sampled = draws.iter().fold(0usize, |sum, &(_, _, horizon)| {
        sum.saturating_add(horizon.saturating_mul(state.config.sample_paths))
    });
    if sampled > state.config.max_sampled_values {
        return Err(ApiError::OverLimit {
            field: "lines: distinct series and horizons × sample paths".into(),
            limit: "max_sampled_values",
            maximum: state.config.max_sampled_values,
            value: sampled,
        });
    }
    let mut results = Vec::with_capacity(inputs.len());
    for (i, (input, located)) in inputs.into_iter().zip(located).enumerate() {
        cancel.check()?;
        let line = i + 1;
        let outcome = located.and_then(|(f, l)| assess_line(state, line, &input.id, &f, &l));
        results.push(match outcome {
            Ok(risk) => LineResult::Risk(Box::new(risk)),
            Err(error) => LineResult::Failure(LineFailure {
                line,
                id: input.id,
                error,
            }),
        });
    }
    Ok(results)
}

/// The waste probability that replaces the raw one for this line's flag, with its source, or
/// `None`; and a note for the reasons. Versions that name a [`FlagSource`] use it (chosen by
/// `civicast-train risk` against the base rate on held-out periods); older ones use the
/// classifier where it beat the raw probability. A classifier or per-level frequencies apply
/// only to lines like the periods they were learned from.
fn calibration(
    risk: Option<&RiskFile>,
    features: &RiskFeatures,
    served_model: &str,
) -> (Option<(f64, &'static str)>, Option<String>) {
    let Some(risk) = risk else {
        return (None, None);
    };
    let source = match &risk.flag_source {
        Some(source) => source.clone(),
        None if risk.beats_raw => FlagSource::Classifier,
        None => FlagSource::Raw,
    };
    if source == FlagSource::Raw {
        let why = if risk.flag_source.is_some() {
            "it beat the base rate on held-out periods and this model version's risk classifier did not improve on it"
        } else {
            "this model version's risk classifier did not beat it on held-out periods"
        };
        return (
            None,
            Some(format!("the raw forecast probability is used: {why}")),
        );
    }
    let learned_from_periods = matches!(
        source,
        FlagSource::Classifier | FlagSource::LevelFrequency { .. }
    );
    if learned_from_periods && !risk.classifier.covers(features) {
        return (
            None,
            Some(format!(
                "the raw forecast probability is used: this model version's risk calibration was learned from periods of {} steps ending at most {} steps ahead, and this one is {} steps ending {} steps ahead",
                risk.classifier
                    .period_steps
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
                risk.classifier.max_horizon_steps,
                features.period_steps,
                features.horizon_steps
            )),
        );
    }
    let probability = source
        .probability(features.raw_probability)
        .unwrap_or_else(|| risk.classifier.probability(features));
    // The calibration learned how one model's probabilities turn out; another model's may be
    // sharper or blunter. It still ranks lines, so it is applied, and the reader is told.
    let note = match risk.evaluation.get("model").and_then(|m| m.as_str()) {
        Some(trained_on)
            if trained_on != served_model && !matches!(source, FlagSource::BaseRate { .. }) =>
        {
            Some(format!(
                "the risk calibration was fitted to {trained_on} forecasts, and this series is served by {served_model}: read the calibrated probability as approximate"
            ))
        }
        _ => None,
    };
    (Some((probability, source.describe())), note)
}

/// The CSV columns of the response, as the contract lists them.
const CSV_COLUMNS: &str = "line,id,dataset,series,start,end,planned,forecast_mean,forecast_p10,forecast_p50,forecast_p90,waste_probability,shortage_probability,expected_waste,expected_waste_cost,expected_shortage,expected_shortage_cost,recommended,flag,reasons,error";

fn csv_body(results: &[LineResult]) -> String {
    use csv::{defuse, field};
    let mut out = String::from(CSV_COLUMNS);
    out.push_str("\r\n");
    for result in results {
        let row: Vec<String> = match result {
            LineResult::Risk(r) => {
                let q = |p: &str| {
                    r.forecast
                        .quantiles
                        .get(p)
                        .map_or_else(String::new, f64::to_string)
                };
                vec![
                    r.line.to_string(),
                    defuse(&r.id),
                    defuse(&r.dataset),
                    defuse(&r.series),
                    r.start.clone(),
                    r.end.clone(),
                    r.planned.to_string(),
                    r.forecast.mean.to_string(),
                    q("0.1"),
                    q("0.5"),
                    q("0.9"),
                    r.waste_probability.to_string(),
                    r.shortage_probability.to_string(),
                    r.expected_waste.quantity.to_string(),
                    r.expected_waste.cost.to_string(),
                    r.expected_shortage.quantity.to_string(),
                    r.expected_shortage.cost.to_string(),
                    r.recommended.to_string(),
                    r.flag.clone(),
                    defuse(&r.reasons.join("; ")),
                    String::new(),
                ]
            }
            LineResult::Failure(f) => {
                let mut row = vec![String::new(); 21];
                row[0] = f.line.to_string();
                row[1] = defuse(&f.id);
                row[20] = defuse(&format!("{}: {}", f.error.field, f.error.detail));
                row
            }
        };
        out.push_str(&row.iter().map(|c| field(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

fn header_contains(headers: &HeaderMap, name: header::HeaderName, wanted: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains(wanted))
}

/// Assess the waste risk of budget lines.
#[utoipa::path(
    post,
    path = "/v1/risk",
    request_body(
        description = "Budget lines as JSON, or as text/csv with a header row of the same field names (id,dataset,series,start,end,planned,unit_cost,tolerance,waste_cost,shortage_cost; the last four optional)",
        content((RiskRequest = "application/json"), (String = "text/csv"))
    ),
    responses(
        (status = 200, description = "One result per line, in request order; a bad line has only line, id and error (field, detail). CSV when asked with Accept: text/csv.",
            content((RiskResponse = "application/json"), (String = "text/csv"))),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the configured limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body as a whole is malformed (not JSON or CSV, no lines, an unknown CSV column) or over a limit (too many lines, too many sample paths; named in `limit`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded or timed out; retry after Retry-After seconds", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn risk(
    State(state): State<AppState>,
    Admitted(admission): Admitted,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|_| ApiError::TooLarge {
        limit: state.config.body_limit_bytes,
    })?;
    let csv = if header_contains(&headers, header::CONTENT_TYPE, "text/csv") {
        true
    } else if header_contains(&headers, header::CONTENT_TYPE, "json") {
        false
    } else {
        return Err(ApiError::Invalid {
            field: None,
            detail: "send the lines with Content-Type: application/json or text/csv".into(),
        });
    };
    let wants_csv = header_contains(&headers, header::ACCEPT, "text/csv");
    let worker = state.clone();
    // Parsing (a megabyte of JSON is many times that once parsed) and sampling (milliseconds per
    // line) are a compute slot's work.
    let results = state
        .pool
        .run(admission, move |cancel| {
            let max = worker.config.max_risk_lines;
            let inputs = if csv {
                csv_inputs(&body, max)?
            } else {
                json_inputs(&body, max)?
            };
            drop(body);
            if inputs.is_empty() {
                return Err(ApiError::invalid("lines", "give at least one budget line"));
            }
            let catalog = worker.catalog.load_full();
            assess_all(&worker, &catalog, inputs, cancel)
        })
        .await?;
    if wants_csv {
        return Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            )],
            csv_body(&results),
        )
            .into_response());
    }
    let response = RiskResponse {
        currency: state.config.currency.clone(),
        results,
    };
    let body = serde_json::to_vec(&response)
        .map_err(|e| ApiError::Internal(format!("rendering risk: {e}")))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}
