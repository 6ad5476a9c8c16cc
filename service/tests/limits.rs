//! Load shedding and the request timeout, over a real socket.
//!
//! A request is held in flight deterministically, without sleeping: its head carries
//! `Expect: 100-continue`, and the server answers `100 Continue` only once the handler starts
//! reading the body, that is after the request took its place under the concurrency limit. The
//! body is then sent when the test chooses, or never.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use civicast_service::AppState;
use common::http::{Connection, Response, get, post_json, post_json_head_expecting_continue};
use common::*;

/// Opens a connection and sends the head of a forecast request, returning once the server is
/// reading its body (the request holds one of the concurrency limit's places).
async fn hold_a_request(address: std::net::SocketAddr) -> Connection {
    let mut held = Connection::open(address).await.unwrap();
    held.write(&post_json_head_expecting_continue(
        "/v1/forecast",
        READ_KEY,
        FORECAST_BODY.len(),
    ))
    .await
    .unwrap();
    let interim = held.read_response().await.unwrap();
    assert_eq!(interim.status, 100, "the handler is reading the body");
    held
}

/// Asserts `response` is a 503 RFC 9457 problem with `Retry-After`, whose detail mentions `what`.
fn assert_unavailable(response: &Response, what: &str) {
    assert_eq!(
        response.status,
        503,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json")
    );
    let retry_after: u64 = response.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    let problem = response.json();
    assert_eq!(problem["status"], 503);
    assert_eq!(problem["type"], "urn:civicast:problem:unavailable");
    assert_eq!(problem["title"], "Service unavailable");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains(what), "{detail}");
}

async fn metrics(address: std::net::SocketAddr) -> String {
    let mut connection = Connection::open(address).await.unwrap();
    let response = connection.request(&get("/metrics", None)).await.unwrap();
    String::from_utf8(response.body).unwrap()
}

#[tokio::test]
async fn a_request_beyond_the_concurrency_limit_is_refused_at_once_with_retry_after() {
    let (dir, _state, version) = state_with_models().await;
    let mut config = config(dir.path());
    config.max_concurrent_requests = 1;
    // Far beyond anything the test waits for, so a slow machine cannot turn the held request
    // into a timeout.
    config.request_timeout_ms = 600_000;
    let state = AppState::new(config).unwrap();
    state.reload().await;
    let address = serve_in_process(state).await;

    let mut held = hold_a_request(address).await;
    let mut other = Connection::open(address).await.unwrap();
    let forecast = post_json("/v1/forecast", READ_KEY, FORECAST_BODY);
    let refused = other.request(&forecast).await.unwrap();
    assert_unavailable(&refused, "capacity");
    // Health is outside the limit: an overloaded service still says it is alive.
    let live = other.request(&get("/health/live", None)).await.unwrap();
    assert_eq!(live.status, 200);

    held.write(FORECAST_BODY.as_bytes()).await.unwrap();
    let finished = held.read_final_response().await.unwrap();
    assert_eq!(finished.status, 200, "the held request completes");
    assert_eq!(finished.json()["forecasts"][0]["version"], version.as_str());
    let after = other.request(&forecast).await.unwrap();
    assert_eq!(after.status, 200, "its place is free again");

    assert!(
        metrics(address)
            .await
            .contains("civicast_rejected_requests_total{reason=\"overload\"} 1")
    );
}

#[tokio::test]
async fn a_request_past_the_timeout_is_answered_503_with_a_problem_document() {
    let (dir, _state, _) = state_with_models().await;
    let mut config = config(dir.path());
    config.request_timeout_ms = 50;
    config.max_concurrent_requests = 1;
    let state = AppState::new(config).unwrap();
    state.reload().await;
    let address = serve_in_process(state).await;

    // Twice, to show the timed-out request gave its place back: were it still holding it, the
    // second would be refused for capacity instead.
    for round in 0..2 {
        let mut connection = Connection::open(address).await.unwrap();
        // The body never comes, so the request can only end by the timeout (however long the
        // machine takes to get there: nothing here measures time).
        connection
            .write(&post_json_head_expecting_continue(
                "/v1/forecast",
                READ_KEY,
                FORECAST_BODY.len(),
            ))
            .await
            .unwrap();
        let timed_out = connection.read_final_response().await.unwrap();
        assert_unavailable(&timed_out, "longer than 50 ms");
        let text = metrics(address).await;
        let line = format!(
            "civicast_rejected_requests_total{{reason=\"timeout\"}} {}",
            round + 1
        );
        assert!(text.contains(&line), "round {round}: {text}");
        assert!(
            !text.contains("reason=\"overload\""),
            "round {round}: {text}"
        );
    }
}
