//! What a buggy or hostile client cannot do: ask for unbounded work, hold connections or a
//! shutdown, learn internals from unauthenticated routes, or get a megabyte echoed back.
//!
//! Nothing here measures time: a timeout is made certain by a client that never sends what the
//! server waits for, and every wait has a generous guard that only turns a hang into a failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use civicast_model::ModelId;
use civicast_registry::Registry;
use civicast_service::AppState;
use common::http::{Connection, Failure, get};
use common::*;
use serde_json::json;

/// Turns a hang into a failure; never a measure of anything.
const GUARD: Duration = Duration::from_secs(120);

async fn state_with(
    change: impl FnOnce(&mut civicast_service::config::Config),
) -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    publish(&registry, ModelId::Snaive, 1.0, false);
    let mut config = config(dir.path());
    change(&mut config);
    let state = AppState::new(config).unwrap();
    state.reload().await;
    (dir, state)
}

/// Asserts a 422 over-limit problem naming `limit`, its maximum and the value asked for.
fn assert_over_limit(
    status: StatusCode,
    problem: &serde_json::Value,
    limit: &str,
    maximum: usize,
    value: usize,
) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        problem["type"], "urn:civicast:problem:over-limit",
        "{problem}"
    );
    assert_eq!(problem["limit"], limit, "{problem}");
    assert_eq!(problem["maximum"], maximum, "{problem}");
    assert_eq!(problem["value"], value, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains(limit) && detail.contains(&value.to_string()),
        "{detail}"
    );
}

#[tokio::test]
async fn each_forecast_limit_is_a_422_naming_the_limit_and_the_value() {
    let (_dir, state) = state_with(|c| {
        c.max_quantiles = 4;
        c.max_answer_values = 1_000;
        c.max_sampled_values = 20_000;
        c.sample_paths = 1_000;
        c.max_horizon = 100;
    })
    .await;
    let a = json!({ "dataset": "rides", "id": "a" });
    let cases = [
        // 3 quantiles + 1 level (two) = 5 > 4, before any value is looked at.
        (
            json!({ "series": [a], "quantiles": [0.1, 0.5, 0.9], "levels": [80] }),
            "max_quantiles",
            4,
            5,
        ),
        (
            json!({ "series": [a], "quantiles": (1..=20_000).map(|i| f64::from(i) / 20_001.0).collect::<Vec<_>>() }),
            "max_quantiles",
            4,
            20_000,
        ),
        (
            json!({ "series": [a], "horizon": 101 }),
            "max_horizon",
            100,
            101,
        ),
        // 20 series x 14 steps x (4 default probabilities + mean) = 1400 > 1000.
        (
            json!({ "series": vec![a.clone(); 20] }),
            "max_answer_values",
            1_000,
            1_400,
        ),
        // A roll-up of 21 steps draws 21 x 1000 = 21000 values > 20000.
        (
            json!({ "series": [a], "horizon": 21, "rollup": "week" }),
            "max_sampled_values",
            20_000,
            21_000,
        ),
    ];
    for (body, limit, maximum, value) in cases {
        let (status, problem) =
            send(&state, "POST", "/v1/forecast", Some(READ_KEY), Some(body)).await;
        assert_over_limit(status, &problem, limit, maximum, value);
    }
    // Just inside every limit, the same request is answered.
    let (status, body) = send(
        &state,
        "POST",
        "/v1/forecast",
        Some(READ_KEY),
        Some(json!({ "series": [a], "horizon": 20, "rollup": "week" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn risk_lines_and_their_sampling_are_bounded_before_any_is_assessed() {
    let (_dir, state) = state_with(|c| {
        c.max_risk_lines = 3;
        c.max_horizon = 1_000;
        c.sample_paths = 1_000;
        c.max_sampled_values = 50_000;
    })
    .await;
    let line = |start: &str, end: &str| json!({ "dataset": "rides", "series": "a", "start": start, "end": end, "planned": 100.0, "unit_cost": 1.0 });
    let four = vec![line("2024-02-26", "2024-03-03"); 4];
    let (status, problem) = send(
        &state,
        "POST",
        "/v1/risk",
        Some(READ_KEY),
        Some(json!({ "lines": four })),
    )
    .await;
    assert_over_limit(status, &problem, "max_risk_lines", 3, 4);
    // Distinct periods need distinct draws: horizons 7, 31 and 60 -> 98 x 1000 > 50000.
    let spread = vec![
        line("2024-02-26", "2024-03-03"),
        line("2024-03-01", "2024-03-27"),
        line("2024-04-01", "2024-04-25"),
    ];
    let (status, problem) = send(
        &state,
        "POST",
        "/v1/risk",
        Some(READ_KEY),
        Some(json!({ "lines": spread })),
    )
    .await;
    assert_over_limit(
        status,
        &problem,
        "max_sampled_values",
        50_000,
        (7 + 31 + 60) * 1_000,
    );
    // Lines past the limit are counted, not kept, in either format.
    let many = format!(r#"{{"lines":[{}]}}"#, vec!["{}"; 10_000].join(","));
    let (status, bytes) = send_raw(
        &state,
        "POST",
        "/v1/risk",
        Some(READ_KEY),
        Some(many),
        "application/json",
    )
    .await;
    let problem: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_over_limit(status, &problem, "max_risk_lines", 3, 10_000);
    let rows = format!(
        "dataset,series,start,end,planned,unit_cost\n{}",
        "rides,a,2024-02-26,2024-03-03,1,1\n".repeat(10_000)
    );
    let (status, bytes) = send_raw(
        &state,
        "POST",
        "/v1/risk",
        Some(READ_KEY),
        Some(rows),
        "text/csv",
    )
    .await;
    let problem: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_over_limit(status, &problem, "max_risk_lines", 3, 10_000);
    let wide = format!("dataset{}\n", ",".repeat(100_000));
    let (status, bytes) = send_raw(
        &state,
        "POST",
        "/v1/risk",
        Some(READ_KEY),
        Some(wide),
        "text/csv",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(String::from_utf8_lossy(&bytes).contains("more than 64 cells"));
    // Lines of one period share one draw, so three of them cost one.
    let same = vec![line("2024-02-26", "2024-03-03"); 3];
    let (status, body) = send(
        &state,
        "POST",
        "/v1/risk",
        Some(READ_KEY),
        Some(json!({ "lines": same })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn an_error_quotes_only_a_short_prefix_of_what_the_client_sent() {
    let (_dir, state) = state_with(|_| {}).await;
    let long = "k".repeat(100_000);
    let bodies = [
        format!(r#"{{"series":[],"{long}":1}}"#),
        format!(r#"{{"series":[{{"dataset":"{long}","id":"a"}}]}}"#),
        format!(r#"{{"series":"{long}"}}"#),
    ];
    for body in bodies {
        let (status, bytes) = send_raw(
            &state,
            "POST",
            "/v1/forecast",
            Some(READ_KEY),
            Some(body),
            "application/json",
        )
        .await;
        assert!(status.is_client_error(), "{status}");
        assert!(
            bytes.len() < 1_000,
            "a {}-byte problem document",
            bytes.len()
        );
    }
    let risk = format!(r#"{{"lines":[{{"{long}":1}}],"{long}x":2}}"#);
    let (status, bytes) = send_raw(
        &state,
        "POST",
        "/v1/risk",
        Some(READ_KEY),
        Some(risk),
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bytes.len() < 1_000,
        "a {}-byte problem document",
        bytes.len()
    );
    let csv = format!("{long},dataset\nx,rides\n");
    let (status, bytes) = send_raw(
        &state,
        "POST",
        "/v1/risk",
        Some(READ_KEY),
        Some(csv),
        "text/csv",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bytes.len() < 1_000,
        "a {}-byte problem document",
        bytes.len()
    );
}

#[tokio::test]
async fn readiness_tells_anyone_only_ready_or_not_and_tells_admins_why() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    let first = publish(&registry, ModelId::Snaive, 1.0, false);
    let state = AppState::new(config(dir.path())).unwrap();
    state.reload().await;
    let second = publish(&registry, ModelId::Snaive, 2.0, true);
    let models = dir
        .path()
        .join("versions")
        .join(&second)
        .join("models.json");
    std::fs::write(&models, b"{").unwrap();
    state.reload().await;

    let (status, public) = send(&state, "GET", "/health/ready", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(public["datasets"]["rides"], "degraded", "{public}");
    let text = public.to_string();
    for secret in [
        first.as_str(),
        second.as_str(),
        "models.json",
        "SHA-256",
        &dir.path().display().to_string(),
    ] {
        assert!(
            !text.contains(secret),
            "public readiness shows {secret:?}: {text}"
        );
    }
    for key in [None, Some(READ_KEY)] {
        let (_, view) = send(&state, "GET", "/health/ready", key, None).await;
        assert!(view.get("last_reload_failures").is_none(), "{view}");
    }
    let (_, admin) = send(&state, "GET", "/health/ready", Some(ADMIN_KEY), None).await;
    assert_eq!(admin["serving"]["rides"], first.as_str());
    assert!(
        admin["last_reload_failures"]["rides"]
            .as_str()
            .unwrap()
            .contains("models.json"),
        "{admin}"
    );
}

#[tokio::test]
async fn keys_are_matched_with_any_case_of_bearer_and_short_keys_never_match() {
    let (_dir, state) = state_with(|c| {
        c.api_keys.push(civicast_service::config::ApiKey {
            name: "short".into(),
            role: civicast_service::auth::Role::Admin,
            sha256: civicast_service::auth::hash_key("short-key"),
        });
    })
    .await;
    let app = civicast_service::app(state.clone());
    for (value, want) in [
        (format!("bearer {READ_KEY}"), StatusCode::OK),
        (format!("BEARER  {READ_KEY}"), StatusCode::OK),
        ("Bearer short-key".to_owned(), StatusCode::UNAUTHORIZED),
    ] {
        use tower::ServiceExt;
        let request = axum::http::Request::get("/v1/series")
            .header("authorization", &value)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), want, "{value}");
    }
}

#[tokio::test]
async fn a_dataset_whose_alias_is_removed_or_names_another_dataset_is_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    let rides = publish(&registry, ModelId::Snaive, 1.0, false);
    let state = AppState::new(config(dir.path())).unwrap();
    state.reload().await;

    // Another dataset's alias pointing at a version of `rides`.
    let other = dir.path().join("aliases").join("buses");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("production.json"),
        json!({ "version": rides, "changed": "2024-01-01T00:00:00Z" }).to_string(),
    )
    .unwrap();
    let (_, report) = send(&state, "POST", "/v1/admin/reload", Some(ADMIN_KEY), None).await;
    let why = report["failures"]["buses"].as_str().unwrap();
    assert!(why.contains("not of dataset \"buses\""), "{report}");
    assert!(report["serving"].get("buses").is_none(), "{report}");

    // Removing `rides`' alias retires it at the next reload.
    std::fs::remove_file(
        dir.path()
            .join("aliases")
            .join("rides")
            .join("production.json"),
    )
    .unwrap();
    let (_, report) = send(&state, "POST", "/v1/admin/reload", Some(ADMIN_KEY), None).await;
    assert_eq!(report["removed"], json!(["rides"]), "{report}");
    let (status, _) = send(
        &state,
        "POST",
        "/v1/forecast",
        Some(READ_KEY),
        Some(json!({ "series": [{ "dataset": "rides", "id": "a" }] })),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_body_declared_over_the_limit_is_refused_before_it_is_read() {
    // The request timeout is far beyond the guard: only a verdict taken from the declared length
    // can answer before the guard fires, since the rest of the body never comes.
    let (_dir, state) = state_with(|c| {
        c.body_limit_bytes = 4096;
        c.request_timeout_ms = 600_000;
        c.idle_timeout_ms = 700_000;
    })
    .await;
    let address = serve_in_process(state).await;
    let mut client = Connection::open(address).await.unwrap();
    let head = format!(
        "POST /v1/forecast HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {READ_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{{\"series\":",
        1 << 20
    );
    client.write(head.as_bytes()).await.unwrap();
    let response = tokio::time::timeout(GUARD, client.read_response())
        .await
        .expect("guard")
        .unwrap();
    assert_eq!(response.status, 413);
    let problem: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("4096"),
        "{problem}"
    );
}

#[tokio::test]
async fn a_client_that_sends_half_a_header_is_disconnected() {
    let (_dir, state) = state_with(|c| c.header_read_timeout_ms = 100).await;
    let address = serve_in_process(state).await;
    let mut slow = Connection::open(address).await.unwrap();
    slow.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The rest of the header never comes; only the server can end this read.
    let outcome = tokio::time::timeout(GUARD, slow.read_response())
        .await
        .expect("guard");
    assert!(
        matches!(outcome, Err(Failure::ClosedBeforeResponse))
            || outcome.as_ref().is_ok_and(|r| r.status == 408),
        "{outcome:?}"
    );
    let mut other = Connection::open(address).await.unwrap();
    let metrics = other.request(&get("/metrics", None)).await.unwrap();
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(
        text.contains("civicast_closed_connections_total{reason=\"header_timeout\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_connection_over_the_cap_waits_until_one_closes() {
    let (_dir, state) = state_with(|c| c.max_connections = 2).await;
    let address = serve_in_process(state).await;
    let mut first = Connection::open(address).await.unwrap();
    let mut second = Connection::open(address).await.unwrap();
    for connection in [&mut first, &mut second] {
        let live = connection
            .request(&get("/health/live", None))
            .await
            .unwrap();
        assert_eq!(live.status, 200);
    }
    // The kernel completes the handshake, but the server does not take the third connection in.
    let mut third = Connection::open(address).await.unwrap();
    third.write(&get("/health/live", None)).await.unwrap();
    let metrics = second.request(&get("/metrics", None)).await.unwrap();
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(text.contains("civicast_open_connections 2"), "{text}");
    drop(first);
    let answered = tokio::time::timeout(GUARD, third.read_final_response())
        .await
        .expect("guard")
        .unwrap();
    assert_eq!(answered.status, 200);
}

#[tokio::test]
async fn shutdown_closes_a_stalled_connection_at_the_deadline_and_finishes() {
    let (_dir, state) = state_with(|c| {
        c.header_read_timeout_ms = 600_000;
        c.shutdown_deadline_ms = 50;
    })
    .await;
    let (signal, stop) = tokio::sync::oneshot::channel::<()>();
    let (address, server) = serve_until(state, async {
        let _ = stop.await;
    })
    .await;
    let mut stalled = Connection::open(address).await.unwrap();
    stalled
        .write(b"POST /v1/forecast HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // An idle kept-alive connection is closed at once, not at the deadline.
    let mut idle = Connection::open(address).await.unwrap();
    assert_eq!(
        idle.request(&get("/health/live", None))
            .await
            .unwrap()
            .status,
        200
    );
    // Both connections are in; the stalled one can only end by the deadline.
    let mut probe = Connection::open(address).await.unwrap();
    let text =
        String::from_utf8(probe.request(&get("/metrics", None)).await.unwrap().body).unwrap();
    assert!(text.contains("civicast_open_connections 3"), "{text}");
    drop(probe);
    signal.send(()).unwrap();
    let stopped = tokio::time::timeout(GUARD, server)
        .await
        .expect("guard")
        .unwrap();
    assert_eq!(
        stopped.closed_at_deadline, 1,
        "only the stalled connection was cut"
    );
    assert!(matches!(
        stalled.read_response().await,
        Err(Failure::ClosedBeforeResponse)
    ));
}
