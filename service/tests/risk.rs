//! `POST /v1/risk` through the whole app (no socket): JSON and CSV in and out, every per-line
//! error beside good lines, whole-request errors and auth.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use civicast_model::ModelId;
use civicast_model::risk::{BudgetLine, FlagSource, FlagThresholds, PeriodDemand, Wording, assess};
use civicast_registry::Registry;
use civicast_service::api::seed_for;
use civicast_service::{AppState, app};
use common::{READ_KEY, config, publish};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The fixture's `rides` version (series a and b, daily to Sunday 2024-02-25, seasonal naive),
/// served with at most 30 steps ahead and 5 lines per request.
async fn state() -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    publish(&registry, ModelId::Snaive, 1.0, false);
    let mut config = config(dir.path());
    config.max_horizon = 30;
    config.max_risk_lines = 5;
    config.currency = "KRW".into();
    let state = AppState::new(config).unwrap();
    state.reload().await;
    (dir, state)
}

async fn post(
    state: &AppState,
    key: Option<&str>,
    content_type: &str,
    accept: Option<&str>,
    body: String,
) -> (StatusCode, String, String) {
    let mut request = Request::builder()
        .method("POST")
        .uri("/v1/risk")
        .header("content-type", content_type);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = app(state.clone())
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

async fn post_json(state: &AppState, body: Value) -> (StatusCode, Value) {
    let (status, _, text) = post(
        state,
        Some(READ_KEY),
        "application/json",
        None,
        body.to_string(),
    )
    .await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn line(series: &str, start: &str, end: &str, planned: f64) -> Value {
    json!({"dataset": "rides", "series": series, "start": start, "end": end,
           "planned": planned, "unit_cost": 1000.0})
}

#[tokio::test]
async fn a_json_line_gets_the_model_crates_assessment_of_the_served_paths() {
    let (_dir, state) = state().await;
    let mut first = line("a", "2024-02-26", "2024-03-03", 95.0);
    first["id"] = json!("week 9");
    first["shortage_cost"] = json!(3000.0);
    let (status, body) = post_json(
        &state,
        json!({"lines": [first, line("b", "2024-03-04", "2024-03-10", 150.0)]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["currency"], "KRW");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);

    // The same numbers, computed here from the served version's paths with the model crate.
    let catalog = state.catalog.load();
    let loaded = &catalog.datasets["rides"];
    let position = loaded.index["a"];
    let paths = loaded
        .sample_paths(
            position,
            7,
            state.config.sample_paths,
            seed_for("rides", "a"),
        )
        .unwrap();
    let demand = PeriodDemand::from_paths(&paths, 0..7).unwrap();
    let budget = BudgetLine::new(95.0, 1000.0, None, None, Some(3000.0)).unwrap();
    let expected = assess(
        &budget,
        &demand,
        &FlagThresholds::default(),
        None,
        Wording::default(),
    );
    let r = &results[0];
    assert_eq!(r["line"], 1);
    assert_eq!(r["id"], "week 9");
    assert_eq!(r["version"], json!(loaded.manifest.version));
    assert_eq!(r["unit"], "riders");
    assert_eq!(r["forecast"]["mean"], json!(expected.mean));
    assert_eq!(
        r["forecast"]["quantiles"]["0.9"],
        json!(expected.quantiles[3].1)
    );
    assert_eq!(r["waste_probability"], json!(expected.waste_probability));
    assert_eq!(
        r["shortage_probability"],
        json!(expected.shortage_probability)
    );
    assert_eq!(
        r["expected_waste"]["cost"],
        json!(expected.expected_waste.cost)
    );
    assert_eq!(
        r["expected_shortage"]["quantity"],
        json!(expected.expected_shortage.quantity)
    );
    assert_eq!(r["recommended"], json!(expected.recommended));
    assert_eq!(r["flag"], expected.flag.as_str());
    assert_eq!(r["reasons"], json!(expected.reasons));
    // Seasonal naive repeats the last week (91.x riders) in the mean: a sanity check that the
    // period is the forecast's first seven days and not some other window.
    let mean = r["forecast"]["mean"].as_f64().unwrap();
    assert!((mean - 92.1).abs() < 3.0, "{mean}");
    assert!(r["forecast"]["quantiles"]["0.05"].as_f64().unwrap() < mean);
    // The recommendation sits at the 3000 / (3000 + 1000) = 75th percentile.
    let q90 = r["forecast"]["quantiles"]["0.9"].as_f64().unwrap();
    let q50 = r["forecast"]["quantiles"]["0.5"].as_f64().unwrap();
    let recommended = r["recommended"].as_f64().unwrap();
    assert!(q50 <= recommended && recommended <= q90);

    // Line 2 plans far above its week: waste is near certain, flagged high, and said so.
    let over = &results[1];
    assert_eq!(over["id"], "line 2");
    assert_eq!(over["flag"], "high");
    assert!(over["waste_probability"].as_f64().unwrap() > 0.9);
    assert!(
        over["reasons"][0]
            .as_str()
            .unwrap()
            .contains("is above the 90th percentile of forecast demand"),
        "{over}"
    );
}

#[tokio::test]
async fn each_bad_line_gets_its_own_error_and_the_others_are_answered() {
    let (_dir, state) = state().await;
    let mut negative = line("a", "2024-02-26", "2024-03-03", -5.0);
    negative["id"] = json!("neg");
    let cases = json!({"lines": [
        {"dataset": "nowhere", "series": "a", "start": "2024-02-26", "end": "2024-03-03", "planned": 1.0, "unit_cost": 1.0},
        line("zzz", "2024-02-26", "2024-03-03", 1.0),
        line("a", "2024-03-10", "2024-03-01", 1.0),
        line("a", "2024-03-20", "2024-04-30", 1.0),
        negative,
    ]});
    let (status, body) = post_json(&state, cases).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["results"].as_array().unwrap();
    let error = |i: usize| {
        let e = &results[i]["error"];
        assert!(results[i].get("flag").is_none(), "{}", results[i]);
        (
            e["field"].as_str().unwrap().to_owned(),
            e["detail"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(error(0).0, "dataset");
    assert!(error(0).1.contains("\"nowhere\""));
    assert_eq!(error(1).0, "series");
    assert!(error(1).1.contains("\"zzz\""));
    assert_eq!(error(2).0, "end");
    assert_eq!(error(2).1, "end 2024-03-01 is before start 2024-03-10");
    assert_eq!(error(3).0, "end");
    assert!(
        error(3).1.contains("beyond the forecastable horizon"),
        "{}",
        error(3).1
    );
    assert!(error(3).1.contains("at most 30 steps"));
    assert_eq!(error(4).0, "planned");
    assert!(error(4).1.contains("negative"));
    assert_eq!(results[4]["id"], "neg");
    assert_eq!(results[4]["line"], 5);

    // The same errors do not disturb good lines around them.
    let mixed = json!({"lines": [
        line("a", "2024-02-20", "2024-02-27", 1.0),
        line("a", "2024-02-26", "2024-02-26", 13.0),
        {"dataset": "rides", "series": "a", "start": "2024-02-26", "end": "2024-02-26", "planned": "lots", "unit_cost": 1.0},
        {"dataset": "rides", "series": "a", "start": "26/02/2024", "end": "2024-02-26", "planned": 1.0, "unit_cost": 1.0, "colour": "red"},
        {"dataset": "rides", "series": "a", "end": "2024-02-26", "planned": 1.0, "unit_cost": 1.0},
    ]});
    let (status, body) = post_json(&state, mixed).await;
    assert_eq!(status, StatusCode::OK);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[0]["error"]["field"], "start");
    assert!(
        results[0]["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("before the first forecast day 2024-02-26")
    );
    assert!(results[1]["flag"].is_string(), "{}", results[1]);
    assert_eq!(results[2]["error"]["field"], "planned");
    assert_eq!(results[3]["error"]["field"], "colour");
    assert_eq!(results[4]["error"]["field"], "start");
    assert_eq!(results[4]["error"]["detail"], "start is required");
}

const CSV_HEADER: &str =
    "id,dataset,series,start,end,planned,unit_cost,tolerance,waste_cost,shortage_cost";

#[tokio::test]
async fn csv_lines_are_read_with_defaults_for_empty_cells_and_non_finite_numbers_refused() {
    let (_dir, state) = state().await;
    let csv = format!(
        "{CSV_HEADER}\r\nCL-1,rides,a,2024-02-26,2024-03-03,95,1000,,,\r\n\"x, y\",rides,b,2024-02-26,2024-03-03,inf,1000,,,\r\n,rides,a,2024-02-26,2024-03-03,95,1000,0.2,500,\r\n"
    );
    let (status, content_type, text) = post(&state, Some(READ_KEY), "text/csv", None, csv).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(content_type.starts_with("application/json"));
    let body: Value = serde_json::from_str(&text).unwrap();
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[0]["id"], "CL-1");
    assert!(results[0]["flag"].is_string());
    assert_eq!(results[1]["id"], "x, y");
    assert_eq!(results[1]["error"]["field"], "planned");
    assert!(
        results[1]["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("not a finite number")
    );
    assert_eq!(results[2]["id"], "line 3");
    // A wider tolerance can only lower the waste probability of the same plan, and a cheaper
    // unit of waste lowers the expected waste cost.
    let p = |i: usize| results[i]["waste_probability"].as_f64().unwrap();
    assert!(p(2) <= p(0));
    let cost = |i: usize| results[i]["expected_waste"]["cost"].as_f64().unwrap();
    let quantity = |i: usize| results[i]["expected_waste"]["quantity"].as_f64().unwrap();
    assert_eq!(cost(0), 1000.0 * quantity(0));
    assert_eq!(cost(2), 500.0 * quantity(2));

    // A short row is a per-line error too.
    let short = format!("{CSV_HEADER}\nA,rides,a,2024-02-26\n");
    let (status, _, text) = post(&state, Some(READ_KEY), "text/csv", None, short).await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["results"][0]["error"]["field"], "row");
}

#[tokio::test]
async fn csv_comes_back_when_asked_with_the_contracts_columns() {
    let (_dir, state) = state().await;
    let csv = format!(
        "{CSV_HEADER}\nCL-1,rides,a,2024-02-26,2024-03-03,95,1000,,,\n=cmd(),rides,a,2024-03-03,2024-02-26,95,1000,,,\n"
    );
    let (status, content_type, text) = post(
        &state,
        Some(READ_KEY),
        "text/csv",
        Some("text/csv"),
        csv.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(content_type.starts_with("text/csv"));
    let limits = civicast_service::risk::csv::Limits {
        records: 100,
        fields: 64,
    };
    let rows = civicast_service::risk::csv::parse(&text, limits)
        .unwrap()
        .records;
    assert_eq!(
        rows[0].join(","),
        "line,id,dataset,series,start,end,planned,forecast_mean,forecast_p10,forecast_p50,forecast_p90,waste_probability,shortage_probability,expected_waste,expected_waste_cost,expected_shortage,expected_shortage_cost,recommended,flag,reasons,error"
    );
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.len() == 21));

    // The CSV numbers are the JSON numbers.
    let (_, _, json_text) = post(&state, Some(READ_KEY), "text/csv", None, csv).await;
    let json: Value = serde_json::from_str(&json_text).unwrap();
    let good = &json["results"][0];
    assert_eq!(rows[1][1], "CL-1");
    assert_eq!(
        rows[1][7].parse::<f64>().unwrap(),
        good["forecast"]["mean"].as_f64().unwrap()
    );
    assert_eq!(
        rows[1][10].parse::<f64>().unwrap(),
        good["forecast"]["quantiles"]["0.9"].as_f64().unwrap()
    );
    assert_eq!(
        rows[1][11].parse::<f64>().unwrap(),
        good["waste_probability"].as_f64().unwrap()
    );
    assert_eq!(rows[1][18], good["flag"].as_str().unwrap());
    assert!(
        rows[1][19].contains("; "),
        "reasons joined: {}",
        rows[1][19]
    );
    assert_eq!(rows[1][20], "");
    // The bad line: its id is defused for spreadsheets, its error names the field.
    assert_eq!(rows[2][1], "'=cmd()");
    assert!(rows[2][20].starts_with("end: end 2024-02-26 is before start"));
    assert_eq!(rows[2][7], "");
}

#[tokio::test]
async fn malformed_bodies_and_missing_keys_fail_as_a_whole() {
    let (_dir, state) = state().await;
    let (status, _, _) = post(
        &state,
        None,
        "application/json",
        None,
        json!({"lines": [line("a", "2024-02-26", "2024-03-03", 95.0)]}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, body) = post_json(&state, json!({"lines": []})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "lines");

    let six: Vec<Value> = (0..6)
        .map(|_| line("a", "2024-02-26", "2024-03-03", 95.0))
        .collect();
    let (status, body) = post_json(&state, json!({ "lines": six })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "lines");
    assert_eq!(body["limit"], "max_risk_lines");
    assert_eq!(
        (body["maximum"].as_u64(), body["value"].as_u64()),
        (Some(5), Some(6))
    );

    let (status, _, text) = post(
        &state,
        Some(READ_KEY),
        "application/json",
        None,
        "{not json".into(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text.contains("not valid JSON"));

    let (status, _, text) = post(
        &state,
        Some(READ_KEY),
        "text/csv",
        None,
        "dataset,series,begin\nrides,a,2024-01-01\n".into(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text.contains("unknown column \\\"begin\\\""), "{text}");

    let (status, _, _) = post(&state, Some(READ_KEY), "text/plain", None, "x".into()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_route_is_in_the_openapi_document() {
    let (_dir, state) = state().await;
    let (status, doc) = common::send(&state, "GET", "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let route = &doc["paths"]["/v1/risk"]["post"];
    assert!(
        route["requestBody"]["content"]["text/csv"].is_object(),
        "{route}"
    );
    assert!(doc["components"]["schemas"]["RiskResponse"].is_object());
}

/// A state whose `rides` version carries a classifier that adds 1 to the logit of the raw waste
/// probability (and reads nothing else), trained on `trained_on`'s forecasts for 7-step periods up
/// to 14 steps ahead. The series are served by `snaive`.
async fn state_with_classifier(beats_raw: bool, trained_on: &str) -> (tempfile::TempDir, AppState) {
    state_with_risk(beats_raw, trained_on, None).await
}

async fn state_with_risk(
    beats_raw: bool,
    trained_on: &str,
    flag_source: Option<FlagSource>,
) -> (tempfile::TempDir, AppState) {
    use civicast_model::risk::classifier::{CLASSIFIER_FORMAT, FEATURE_NAMES, RiskClassifier};
    use civicast_registry::{RISK_FORMAT, RiskFile};
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    let plain = publish(&registry, ModelId::Snaive, 1.0, false);
    let (mut manifest, models) = registry.load(&plain).unwrap();
    manifest.files.clear();
    let mut weights = vec![0.0; FEATURE_NAMES.len()];
    weights[0] = 1.0;
    let risk = RiskFile {
        format: RISK_FORMAT,
        classifier: RiskClassifier {
            format: CLASSIFIER_FORMAT,
            features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            mean: vec![0.0; FEATURE_NAMES.len()],
            scale: vec![1.0; FEATURE_NAMES.len()],
            weights,
            intercept: 1.0,
            max_horizon_steps: 14.0,
            period_steps: vec![7.0],
        },
        beats_raw,
        evaluation: json!({ "model": trained_on }),
        flag_source,
    };
    registry
        .publish_with_risk(manifest, &models, Some(&risk), true)
        .unwrap();
    let mut config = config(dir.path());
    config.max_horizon = 30;
    let state = AppState::new(config).unwrap();
    state.reload().await;
    (dir, state)
}

fn raw_waste_probability(state: &AppState, planned: f64, steps: std::ops::Range<usize>) -> f64 {
    let catalog = state.catalog.load();
    let loaded = &catalog.datasets["rides"];
    let paths = loaded
        .sample_paths(
            loaded.index["a"],
            steps.end,
            state.config.sample_paths,
            seed_for("rides", "a"),
        )
        .unwrap();
    let demand = PeriodDemand::from_paths(&paths, steps).unwrap();
    let line = BudgetLine::new(planned, 1000.0, None, None, None).unwrap();
    civicast_model::risk::raw_waste_probability(&line, &demand)
}

/// What the classifier of [`state_with_classifier`] makes of the raw probability: its logit + 1.
fn classified(state: &AppState, planned: f64, steps: std::ops::Range<usize>) -> f64 {
    let raw = raw_waste_probability(state, planned, steps).clamp(1e-3, 1.0 - 1e-3);
    1.0 / (1.0 + (-((raw / (1.0 - raw)).ln() + 1.0)).exp())
}

/// Whether one of a result's reasons contains `text`.
fn has_reason(result: &serde_json::Value, text: &str) -> bool {
    result["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r.as_str().unwrap().contains(text))
}

#[tokio::test]
async fn a_versions_classifier_calibrates_lines_like_its_training_periods_only() {
    let (_dir, state) = state_with_classifier(true, "snaive").await;
    let (status, body) = post_json(
        &state,
        json!({"lines": [
            line("a", "2024-02-26", "2024-03-03", 95.0),
            line("a", "2024-02-26", "2024-02-28", 40.0),
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let week = &body["results"][0];
    let expected = classified(&state, 95.0, 0..7);
    let got = week["waste_probability"].as_f64().unwrap();
    assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    assert!(
        has_reason(week, "calibrated by this model version's risk classifier"),
        "{week}"
    );
    assert!(!has_reason(week, "fitted to"), "{week}");
    // Three days is not a period length the classifier saw: the raw probability, and why.
    let short = &body["results"][1];
    let raw_short = raw_waste_probability(&state, 40.0, 0..3);
    assert_eq!(short["waste_probability"].as_f64().unwrap(), raw_short);
    assert!(
        has_reason(short, "learned from periods of 7 steps"),
        "{short}"
    );
}

#[tokio::test]
async fn a_classifier_fitted_to_another_models_forecasts_is_applied_with_a_warning() {
    let (_dir, state) = state_with_classifier(true, "ets").await;
    let (_, body) = post_json(
        &state,
        json!({"lines": [line("a", "2024-02-26", "2024-03-03", 95.0)]}),
    )
    .await;
    let week = &body["results"][0];
    let expected = classified(&state, 95.0, 0..7);
    assert!((week["waste_probability"].as_f64().unwrap() - expected).abs() < 1e-12);
    assert!(
        has_reason(
            week,
            "fitted to ets forecasts, and this series is served by snaive"
        ),
        "{week}"
    );
}

#[tokio::test]
async fn a_classifier_that_did_not_beat_the_raw_probability_is_not_applied() {
    let (_dir, state) = state_with_classifier(false, "snaive").await;
    let (_, body) = post_json(
        &state,
        json!({"lines": [line("a", "2024-02-26", "2024-03-03", 95.0)]}),
    )
    .await;
    let week = &body["results"][0];
    assert_eq!(
        week["waste_probability"].as_f64().unwrap(),
        raw_waste_probability(&state, 95.0, 0..7)
    );
    assert!(has_reason(week, "did not beat it"), "{week}");
}

#[tokio::test]
async fn flags_can_use_the_waste_frequency_per_flag_level() {
    let frequencies = [0.01, 0.15, 0.3, 0.45];
    let thresholds = FlagThresholds::default();
    let source = FlagSource::LevelFrequency {
        thresholds,
        frequencies,
    };
    let (_dir, state) = state_with_risk(false, "snaive", Some(source)).await;
    let plans = [60.0, 95.0, 130.0, 200.0];
    let mut lines: Vec<serde_json::Value> = plans
        .iter()
        .map(|&planned| line("a", "2024-02-26", "2024-03-03", planned))
        .collect();
    lines.push(line("a", "2024-02-26", "2024-02-28", 40.0));
    let (status, body) = post_json(&state, json!({ "lines": lines })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut levels = std::collections::BTreeSet::new();
    for (i, &planned) in plans.iter().enumerate() {
        let result = &body["results"][i];
        let raw = raw_waste_probability(&state, planned, 0..7);
        let level = thresholds.flag(raw);
        levels.insert(level);
        let expected = frequencies[level as usize];
        assert_eq!(
            result["waste_probability"].as_f64().unwrap(),
            expected,
            "{result}"
        );
        assert_eq!(
            result["flag"].as_str().unwrap(),
            state.config.risk_flags.flag(expected).as_str(),
            "{result}"
        );
        assert!(has_reason(result, "same flag level"), "{result}");
    }
    assert!(
        levels.len() >= 2,
        "the plans should span flag levels: {levels:?}"
    );
    // Frequencies of week-long periods say nothing of a three-day one: the raw probability.
    let short = &body["results"][4];
    assert_eq!(
        short["waste_probability"].as_f64().unwrap(),
        raw_waste_probability(&state, 40.0, 0..3)
    );
    assert!(
        has_reason(short, "learned from periods of 7 steps"),
        "{short}"
    );
}

#[tokio::test]
async fn without_skill_over_the_base_rate_every_line_gets_the_base_rate() {
    let source = FlagSource::BaseRate { rate: 0.07 };
    let (_dir, state) = state_with_risk(false, "ets", Some(source)).await;
    let (_, body) = post_json(
        &state,
        json!({"lines": [
            line("a", "2024-02-26", "2024-03-03", 200.0),
            line("a", "2024-02-26", "2024-02-28", 40.0),
        ]}),
    )
    .await;
    for result in body["results"].as_array().unwrap() {
        assert_eq!(
            result["waste_probability"].as_f64().unwrap(),
            0.07,
            "{result}"
        );
        assert_eq!(result["flag"], "none", "{result}");
        assert!(
            has_reason(result, "no forecast-based probability beat it"),
            "{result}"
        );
        assert!(!has_reason(result, "fitted to"), "{result}");
    }
}

/// Training and serving build a budget line's risk features with one definition: for the same
/// sample paths, line, steps, first day and backtest MASE, the features the service calibrates
/// a line with equal those the risk backtest trains the classifier on.
#[tokio::test]
async fn the_service_builds_the_risk_features_training_builds() {
    let (_dir, state) = state().await;
    let catalog = state.catalog.load();
    let loaded = &catalog.datasets["rides"];
    let paths = loaded
        .sample_paths(
            loaded.index["a"],
            14,
            state.config.sample_paths,
            seed_for("rides", "a"),
        )
        .unwrap();
    let start = chrono::NaiveDate::from_ymd_opt(2024, 3, 4).unwrap();
    for (planned, steps, mase) in [
        (95.0, 0..7, Some(0.8)),
        (400.0, 7..14, None),
        (10.0, 3..5, Some(1.7)),
    ] {
        let line = BudgetLine::new(planned, 1000.0, Some(0.1), None, None).unwrap();
        let (served_demand, served) =
            civicast_service::risk::line_features(&line, &paths, steps.clone(), start, mase)
                .unwrap();
        let (trained_demand, trained) = civicast_training::risk::example_features(
            &line,
            &paths,
            steps.clone(),
            Some(start),
            mase,
        )
        .unwrap();
        assert_eq!(served, trained, "planned {planned} over {steps:?}");
        assert_eq!(served.vector(), trained.vector());
        assert_eq!(served_demand.mean(), trained_demand.mean());
        assert_eq!(served.backtest_mase, mase.unwrap_or(1.0));
        assert_eq!(served.period_steps, steps.len() as f64);
    }
    let line = BudgetLine::new(95.0, 1000.0, None, None, None).unwrap();
    assert!(civicast_service::risk::line_features(&line, &paths, 10..20, start, None).is_none());
    assert!(
        civicast_training::risk::example_features(&line, &paths, 10..20, Some(start), None)
            .is_none()
    );
}
