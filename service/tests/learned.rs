//! Serving a learned global model: forecasts from the version alone, future weather given or
//! taken from the climatology (and said so), per-request answers not cached, clear errors for bad
//! future values; and the recent history charts read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use civicast_registry::Registry;
use civicast_service::AppState;
use common::*;
use serde_json::{Value, json};

async fn learned_state() -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().unwrap();
    publish_learned(&Registry::new(dir.path()), true);
    let state = AppState::new(config(dir.path())).unwrap();
    state.reload().await;
    (dir, state)
}

async fn forecast(state: &AppState, body: Value) -> (StatusCode, Value) {
    send(state, "POST", "/v1/forecast", Some(READ_KEY), Some(body)).await
}

fn means(answer: &Value) -> Vec<f64> {
    answer["forecasts"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["mean"].as_f64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_learned_series_is_forecast_from_the_climatology_when_no_weather_is_given() {
    let (_dir, state) = learned_state().await;
    let (status, answer) = forecast(
        &state,
        json!({"series": [{"dataset": "rides", "id": "b"}], "horizon": 14}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let series = &answer["forecasts"][0];
    assert_eq!(series["model"], "linear");
    assert_eq!(series["steps"][0]["time"], "2024-02-26");
    let notes = series["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| {
            let n = n.as_str().unwrap();
            n.contains("temp") && n.contains("climatology") && n.contains("steps 1-14")
        }),
        "{notes:?}"
    );
    for step in series["steps"].as_array().unwrap() {
        let (low, mean, high) = (
            step["quantiles"]["0.1"].as_f64().unwrap(),
            step["mean"].as_f64().unwrap(),
            step["quantiles"]["0.9"].as_f64().unwrap(),
        );
        assert!(low <= mean && mean <= high, "{step}");
    }
}

#[tokio::test]
async fn given_weather_drives_the_forecast_and_each_answer_is_its_own() {
    let (_dir, state) = learned_state().await;
    let ask = |temp: f64| {
        json!({
            "series": [{"dataset": "rides", "id": "a"}],
            "horizon": 7,
            "exogenous": {"temp": vec![temp; 7]}
        })
    };
    let (status, hot) = forecast(&state, ask(16.0)).await;
    assert_eq!(status, StatusCode::OK, "{hot}");
    let (_, cold) = forecast(&state, ask(0.0)).await;
    // The data move 2 riders per degree: 16 degrees is about 32 riders at every step.
    for (h, c) in means(&hot).iter().zip(means(&cold)) {
        assert!((h - c - 32.0).abs() < 4.0, "hot {h} cold {c}");
    }
    assert!(
        hot["forecasts"][0]["notes"].as_array().unwrap().is_empty(),
        "{hot}"
    );
    // Partly given: the rest is climatology, and the note says which steps.
    let (_, partial) = forecast(
        &state,
        json!({
            "series": [{"dataset": "rides", "id": "a"}],
            "horizon": 7,
            "exogenous": {"temp": [3.0, 4.0]}
        }),
    )
    .await;
    let notes = partial["forecasts"][0]["notes"].to_string();
    assert!(notes.contains("steps 3-7"), "{notes}");
}

#[tokio::test]
async fn bad_future_values_are_a_422_naming_the_column() {
    let (_dir, state) = learned_state().await;
    for (exogenous, field, says) in [
        (json!({"rain": [1.0]}), "exogenous.rain", "it reads temp"),
        (json!({"temp": vec![1.0; 8]}), "exogenous.temp", "8 values"),
    ] {
        let (status, problem) = forecast(
            &state,
            json!({
                "series": [{"dataset": "rides", "id": "a"}],
                "horizon": 7,
                "exogenous": exogenous
            }),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["field"], field, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{problem}"
        );
    }
}

#[tokio::test]
async fn a_learned_forecast_rolls_up_from_its_sample_paths() {
    let (_dir, state) = learned_state().await;
    let (status, answer) = forecast(
        &state,
        json!({
            "series": [{"dataset": "rides", "id": "a"}],
            "horizon": 14,
            "rollup": "week",
            "levels": [80]
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let weeks = answer["forecasts"][0]["rollup"].as_array().unwrap();
    // 2024-02-26 is a Monday: two whole ISO weeks.
    assert_eq!(weeks.len(), 2, "{weeks:?}");
    let steps = means(&answer);
    let week_mean = weeks[0]["mean"].as_f64().unwrap();
    let sum: f64 = steps[..7].iter().sum();
    // Paths are the point plus whole error trajectories, so the total's mean is near the sum of
    // the means (not equal: the errors need not average to zero).
    assert!((week_mean - sum).abs() < 0.1 * sum, "{week_mean} vs {sum}");
    let (low, high) = (
        weeks[0]["quantiles"]["0.1"].as_f64().unwrap(),
        weeks[0]["quantiles"]["0.9"].as_f64().unwrap(),
    );
    assert!(low < week_mean && week_mean < high, "{}", weeks[0]);
}

#[tokio::test]
async fn history_ends_at_the_last_observation() {
    let (_dir, state) = learned_state().await;
    let uri = "/v1/series/rides/a/history";
    let (status, history) = send(&state, "GET", uri, Some(READ_KEY), None).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let observations = history["observations"].as_array().unwrap();
    assert_eq!(observations.len(), 28);
    assert_eq!(observations[27]["time"], "2024-02-25");
    assert_eq!(observations[0]["time"], "2024-01-29");
    // Day 419 of series a: 50 + 5 * (419 % 7) + 2 * temperature(419).
    let last = 50.0 + 5.0 * (419 % 7) as f64 + 2.0 * temperature(419);
    assert_eq!(observations[27]["value"].as_f64().unwrap(), last);
    let (_, some) = send(
        &state,
        "GET",
        &format!("{uri}?last=7"),
        Some(READ_KEY),
        None,
    )
    .await;
    assert_eq!(some["observations"].as_array().unwrap().len(), 7);
    let (status, problem) = send(
        &state,
        "GET",
        &format!("{uri}?last=0"),
        Some(READ_KEY),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, problem) = send(
        &state,
        "GET",
        "/v1/series/rides/nope/history",
        Some(READ_KEY),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        problem["detail"].as_str().unwrap().contains("nope"),
        "{problem}"
    );
    let (status, _) = send(&state, "GET", uri, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
