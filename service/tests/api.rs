//! Every endpoint and error path, through `app().oneshot(...)`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use civicast_model::ModelId;
use civicast_registry::Registry;
use civicast_service::AppState;
use common::*;
use serde_json::json;

fn forecast_body() -> serde_json::Value {
    json!({ "series": [{ "dataset": "rides", "id": "a" }], "horizon": 14 })
}

#[tokio::test]
async fn every_route_refuses_a_caller_without_a_key_except_health_metrics_docs_and_dashboard() {
    let (_dir, state, version) = state_with_models().await;
    let protected = [
        ("GET", "/v1/series".to_owned()),
        ("GET", "/v1/series/rides/a/history".to_owned()),
        ("POST", "/v1/forecast".to_owned()),
        ("GET", "/v1/models".to_owned()),
        ("GET", format!("/v1/models/{version}")),
        ("POST", "/v1/admin/reload".to_owned()),
    ];
    for (method, uri) in &protected {
        let body = (*method == "POST").then(forecast_body);
        let (status, problem) = send(&state, method, uri, None, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri}");
        assert_eq!(problem["status"], 401);
        let (status, _) = send(&state, method, uri, Some("wrong-key"), body).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {uri} with a wrong key"
        );
    }
    for uri in [
        "/health/live",
        "/health/ready",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/",
    ] {
        let (status, _) = send_raw(&state, "GET", uri, None, None, "").await;
        assert_eq!(status, StatusCode::OK, "{uri} is public by default");
    }
}

#[tokio::test]
async fn public_groups_can_be_closed_by_configuration() {
    let (dir, _state, _) = state_with_models().await;
    let mut config = config(dir.path());
    config.public = vec![];
    let state = AppState::new(config).unwrap();
    state.reload().await;
    for uri in ["/health/live", "/metrics", "/openapi.json", "/"] {
        let (status, _) = send_raw(&state, "GET", uri, None, None, "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        let (status, _) = send(&state, "GET", uri, Some(READ_KEY), None).await;
        assert_eq!(status, StatusCode::OK, "{uri} with a key");
    }
}

#[tokio::test]
async fn a_read_key_may_not_reload() {
    let (_dir, state, _) = state_with_models().await;
    let (status, problem) = send(&state, "POST", "/v1/admin/reload", Some(READ_KEY), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(problem["detail"].as_str().unwrap().contains("admin"));
}

#[tokio::test]
async fn forecasts_have_times_means_and_the_default_80_and_95_intervals() {
    let (_dir, state, version) = state_with_models().await;
    let (status, body) = send(
        &state,
        "POST",
        "/v1/forecast",
        Some(READ_KEY),
        Some(forecast_body()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let f = &body["forecasts"][0];
    assert_eq!(f["version"], version.as_str());
    assert_eq!(f["model"], "snaive");
    assert_eq!(f["unit"], "riders");
    let steps = f["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 14);
    assert_eq!(steps[0]["time"], "2024-02-26");
    assert_eq!(steps[13]["time"], "2024-03-10");
    // Seasonal naive repeats the last week: step 1 equals the value 7 days before the end.
    let history = values(56, 1.0);
    assert!((steps[0]["mean"].as_f64().unwrap() - history[49]).abs() < 1e-12);
    let q = &steps[0]["quantiles"];
    for key in ["0.025", "0.1", "0.9", "0.975"] {
        assert!(q[key].is_number(), "missing quantile {key}: {q}");
    }
    assert!(q["0.025"].as_f64() < q["0.1"].as_f64());
    assert!(q["0.9"].as_f64() < q["0.975"].as_f64());
}

#[tokio::test]
async fn forecasts_roll_up_to_weeks_from_sample_paths() {
    let (_dir, state, _) = state_with_models().await;
    let body = json!({
        "series": [{ "dataset": "rides", "id": "b" }],
        "horizon": 14, "quantiles": [0.5], "rollup": "week"
    });
    let (status, body) = send(&state, "POST", "/v1/forecast", Some(READ_KEY), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let weeks = body["forecasts"][0]["rollup"].as_array().unwrap();
    // 2024-02-26 is a Monday: two whole ISO weeks.
    assert_eq!(weeks.len(), 2);
    assert_eq!(weeks[0]["period"], "2024-W09");
    assert_eq!(weeks[0]["complete"], true);
    let step_sum: f64 = body["forecasts"][0]["steps"].as_array().unwrap()[..7]
        .iter()
        .map(|s| s["mean"].as_f64().unwrap())
        .sum();
    let week_mean = weeks[0]["mean"].as_f64().unwrap();
    assert!(
        (week_mean - step_sum).abs() / step_sum < 0.01,
        "{week_mean} vs {step_sum}"
    );
}

#[tokio::test]
async fn forecast_errors_name_the_field_or_the_unknown_series() {
    let (_dir, state, _) = state_with_models().await;
    let cases = [
        (
            json!({ "series": [{ "dataset": "bikes", "id": "a" }] }),
            StatusCode::NOT_FOUND,
            "\"bikes\"",
        ),
        (
            json!({ "series": [{ "dataset": "rides", "id": "zz" }] }),
            StatusCode::NOT_FOUND,
            "\"zz\"",
        ),
        (
            json!({ "series": [] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "at least one",
        ),
        (
            json!({ "series": [{ "dataset": "rides", "id": "a" }], "horizon": 0 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "allowed 1..=1000",
        ),
        (
            json!({ "series": [{ "dataset": "rides", "id": "a" }], "horizon": 5000 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "horizon: 5000 is over the limit of 1000 (max_horizon",
        ),
        (
            json!({ "series": [{ "dataset": "rides", "id": "a" }], "quantiles": [1.5] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "1.5",
        ),
        (
            json!({ "series": [{ "dataset": "rides", "id": "a" }], "levels": [100] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "100",
        ),
        (
            json!({ "series": [{ "dataset": "rides", "id": "a" }], "rollup": "fortnight" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "fortnight",
        ),
        (
            json!({ "series": [{ "dataset": "rides", "id": "a" }], "horizn": 3 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "horizn",
        ),
        (
            json!({ "series": "a" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "series",
        ),
    ];
    for (body, want, mention) in cases {
        let (status, problem) = send(
            &state,
            "POST",
            "/v1/forecast",
            Some(READ_KEY),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, want, "{body} -> {problem}");
        assert_eq!(problem["status"], want.as_u16());
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(mention), "{body}: {detail}");
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:civicast:problem:")
        );
    }
    let (status, problem) = send(
        &state,
        "POST",
        "/v1/forecast",
        Some(READ_KEY),
        Some(json!({ "series": [{ "dataset": "rides", "id": "a" }], "quantiles": [0.5, -1] })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["field"], "quantiles[1]");
}

#[tokio::test]
async fn malformed_oversized_and_mistyped_bodies_are_client_errors() {
    let (_dir, state, _) = state_with_models().await;
    let (status, _) = send_raw(
        &state,
        "POST",
        "/v1/forecast",
        Some(READ_KEY),
        Some("{not json".into()),
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = send_raw(
        &state,
        "POST",
        "/v1/forecast",
        Some(READ_KEY),
        Some("series=a".into()),
        "text/plain",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let huge = format!("{{\"series\": [], \"pad\": \"{}\"}}", "x".repeat(2 << 20));
    let (status, body) = send_raw(
        &state,
        "POST",
        "/v1/forecast",
        Some(READ_KEY),
        Some(huge),
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("1048576") && text.len() < 400,
        "no echo of the input: {text}"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_get_problem_details() {
    let (_dir, state, _) = state_with_models().await;
    let (status, problem) = send(&state, "GET", "/v2/everything", Some(READ_KEY), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["status"], 404);
    let (status, problem) = send(&state, "GET", "/v1/forecast", Some(READ_KEY), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(problem["status"], 405);
}

#[tokio::test]
async fn series_are_listed_with_paging_and_a_dataset_filter() {
    let (_dir, state, version) = state_with_models().await;
    let (status, page) = send(
        &state,
        "GET",
        "/v1/series?dataset=rides&limit=1&offset=1",
        Some(READ_KEY),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 2);
    let only = &page["series"][0];
    assert_eq!(only["id"], "b");
    assert_eq!(only["last_observation"], "2024-02-25");
    assert_eq!(only["frequency"], "1d");
    assert_eq!(only["version"], version.as_str());
    let (status, problem) = send(
        &state,
        "GET",
        "/v1/series?dataset=bikes",
        Some(READ_KEY),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(problem["detail"].as_str().unwrap().contains("bikes"));
    let (status, problem) = send(&state, "GET", "/v1/series?limit=0", Some(READ_KEY), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["field"], "limit");
    let (status, _) = send(&state, "GET", "/v1/series?limit=abc", Some(READ_KEY), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_fit_in_progress_is_reported_as_coming_until_its_marker_is_cleared() {
    let (dir, state, _) = state_with_models().await;
    let registry = Registry::new(dir.path());
    let coming = |page: &serde_json::Value| page["series"][0].get("coming").cloned();
    let (_, page) = send(&state, "GET", "/v1/series", Some(READ_KEY), None).await;
    assert_eq!(coming(&page), None, "{page}");

    let marker = civicast_registry::TrainingMarker::new(
        "rides",
        vec!["auto".into()],
        civicast_registry::TrainingState::Fitting,
        true,
    );
    registry.mark_training(&marker).unwrap();
    state.refresh_training().await;
    let (status, page) = send(&state, "GET", "/v1/series", Some(READ_KEY), None).await;
    assert_eq!(status, StatusCode::OK);
    let coming_now = coming(&page).expect("a marker is reported");
    assert_eq!(coming_now["models"], json!(["auto"]));
    assert_eq!(coming_now["state"], "fitting");
    assert_eq!(coming_now["since"], marker.since.as_str());
    assert_eq!(coming_now["promote"], true);

    registry.clear_training("rides").unwrap();
    state.refresh_training().await;
    let (_, page) = send(&state, "GET", "/v1/series", Some(READ_KEY), None).await;
    assert_eq!(coming(&page), None, "{page}");
}

#[tokio::test]
async fn model_versions_are_listed_and_shown() {
    let (_dir, state, version) = state_with_models().await;
    let (status, list) = send(&state, "GET", "/v1/models", Some(READ_KEY), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["version"], version.as_str());
    assert_eq!(list[0]["serving"], true);
    assert_eq!(list[0]["production"], true);
    let (status, manifest) = send(
        &state,
        "GET",
        &format!("/v1/models/{version}"),
        Some(READ_KEY),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(manifest["dataset"]["name"], "rides");
    for bad in ["rides-20990101T000000Z", "..%2F..%2Fetc"] {
        let (status, problem) = send(
            &state,
            "GET",
            &format!("/v1/models/{bad}"),
            Some(READ_KEY),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
        assert_eq!(problem["status"], 404);
    }
}

#[tokio::test]
async fn a_promoted_version_is_served_after_a_reload() {
    let (dir, state, first) = state_with_models().await;
    let registry = Registry::new(dir.path());
    let second = publish(&registry, ModelId::Snaive, 2.0, true);
    let (status, body) = send(
        &state,
        "POST",
        "/v1/forecast",
        Some(READ_KEY),
        Some(forecast_body()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["forecasts"][0]["version"],
        first.as_str(),
        "not reloaded yet"
    );
    let (status, report) = send(&state, "POST", "/v1/admin/reload", Some(ADMIN_KEY), None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["changed"]["rides"], second.as_str());
    let (_, body) = send(
        &state,
        "POST",
        "/v1/forecast",
        Some(READ_KEY),
        Some(forecast_body()),
    )
    .await;
    assert_eq!(body["forecasts"][0]["version"], second.as_str());
}

#[tokio::test]
async fn a_corrupt_version_is_refused_and_the_old_one_keeps_serving() {
    let (dir, state, first) = state_with_models().await;
    let registry = Registry::new(dir.path());
    let second = publish(&registry, ModelId::Snaive, 2.0, true);
    let models = dir
        .path()
        .join("versions")
        .join(&second)
        .join("models.json");
    let text = std::fs::read_to_string(&models).unwrap();
    std::fs::write(&models, &text[..text.len() / 2]).unwrap(); // half-written
    let (status, report) = send(&state, "POST", "/v1/admin/reload", Some(ADMIN_KEY), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        report["failures"]["rides"]
            .as_str()
            .unwrap()
            .contains("SHA-256"),
        "{report}"
    );
    assert_eq!(report["serving"]["rides"], first.as_str());
    let (_, body) = send(
        &state,
        "POST",
        "/v1/forecast",
        Some(READ_KEY),
        Some(forecast_body()),
    )
    .await;
    assert_eq!(body["forecasts"][0]["version"], first.as_str());
    let (status, health) = send(&state, "GET", "/health/ready", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["datasets"]["rides"], "degraded", "{health}");
    let (_, health) = send(&state, "GET", "/health/ready", Some(ADMIN_KEY), None).await;
    assert!(
        health["last_reload_failures"]["rides"].is_string(),
        "{health}"
    );
    let (_, metrics) = send_raw(&state, "GET", "/metrics", None, None, "").await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("civicast_reload_failures_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn alias_polling_does_not_retry_a_refused_version_until_a_new_one_appears() {
    let (dir, state, _) = state_with_models().await;
    let registry = Registry::new(dir.path());
    let broken = publish(&registry, ModelId::Snaive, 2.0, true);
    std::fs::write(
        dir.path()
            .join("versions")
            .join(&broken)
            .join("models.json"),
        "{}",
    )
    .unwrap();
    assert!(
        state.catalog.load().is_stale(&registry),
        "a new production version is noticed"
    );
    let report = state.reload().await;
    assert_eq!(report.failures.len(), 1);
    assert!(
        !state.catalog.load().is_stale(&registry),
        "the refused version is not retried by polling"
    );
    publish(&registry, ModelId::Snaive, 3.0, true);
    assert!(
        state.catalog.load().is_stale(&registry),
        "a newer version is noticed again"
    );
    let report = state.reload().await;
    assert!(
        report.failures.is_empty() && report.changed.len() == 1,
        "{report:?}"
    );
}

#[tokio::test]
async fn readiness_needs_a_verified_model() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::new(config(dir.path())).unwrap();
    state.reload().await;
    let (status, health) = send(&state, "GET", "/health/ready", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health["status"], "not_ready");
    let (status, _) = send(&state, "GET", "/health/live", None, None).await;
    assert_eq!(status, StatusCode::OK);
    publish(&Registry::new(dir.path()), ModelId::Snaive, 1.0, false);
    state.reload().await;
    let (status, health) = send(&state, "GET", "/health/ready", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ready");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_show_the_model_version() {
    let (_dir, state, version) = state_with_models().await;
    send(
        &state,
        "POST",
        "/v1/forecast",
        Some(READ_KEY),
        Some(forecast_body()),
    )
    .await;
    let (_, text) = send_raw(&state, "GET", "/metrics", None, None, "").await;
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("civicast_http_requests_total{route=\"/v1/forecast\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(text.contains("civicast_http_request_duration_seconds_bucket{route=\"/v1/forecast\""));
    assert!(text.contains(&format!(
        "civicast_model_version_info{{dataset=\"rides\",version=\"{version}\"}} 1"
    )));
}

#[tokio::test]
async fn the_openapi_document_describes_every_v1_route() {
    let (_dir, state, _) = state_with_models().await;
    let (status, doc) = send(&state, "GET", "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/v1/forecast",
        "/v1/series",
        "/v1/series/{dataset}/{id}/history",
        "/v1/models",
        "/v1/models/{version}",
        "/v1/admin/reload",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    let (status, page) = send_raw(&state, "GET", "/docs", None, None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8(page).unwrap().contains("/openapi.json"));
}

#[tokio::test]
async fn exogenous_values_are_accepted_and_the_response_says_they_were_not_used() {
    let (_dir, state, _) = state_with_models().await;
    let body = json!({ "series": [{ "dataset": "rides", "id": "a" }], "horizon": 2, "exogenous": { "temp": [20.0, 21.5] } });
    let (status, body) = send(&state, "POST", "/v1/forecast", Some(READ_KEY), Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    let notes = body["forecasts"][0]["notes"].as_array().unwrap();
    assert!(notes.iter().any(|n| {
        n.as_str()
            .unwrap()
            .contains("exogenous values were ignored")
    }));
}
