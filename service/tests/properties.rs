//! Property tests of everything that reads client bytes: whatever arrives, the answer is a client
//! error or a success, never a panic or a 5xx.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use civicast_service::AppState;
use common::*;
use proptest::prelude::*;

/// One runtime and one loaded state for every case: building them per case would dominate.
fn fixture() -> &'static (tokio::runtime::Runtime, tempfile::TempDir, AppState) {
    static FIXTURE: std::sync::OnceLock<(tokio::runtime::Runtime, tempfile::TempDir, AppState)> =
        std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (dir, state, _) = runtime.block_on(state_with_models());
        (runtime, dir, state)
    })
}

fn status_of(uri: &str, body: Vec<u8>, content_type: &str) -> u16 {
    let (runtime, _, state) = fixture();
    runtime
        .block_on(send_bytes(state, uri, READ_KEY, body, content_type))
        .as_u16()
}

/// JSON-ish text: the grammar's characters and the request's field names, so cases reach past
/// the syntax check into the types and values.
fn jsonish() -> impl Strategy<Value = String> {
    let atoms = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(",".to_owned()),
        Just(":".to_owned()),
        Just("\"series\"".to_owned()),
        Just("\"dataset\"".to_owned()),
        Just("\"rides\"".to_owned()),
        Just("\"id\"".to_owned()),
        Just("\"a\"".to_owned()),
        Just("\"horizon\"".to_owned()),
        Just("\"quantiles\"".to_owned()),
        Just("\"levels\"".to_owned()),
        Just("\"rollup\"".to_owned()),
        Just("\"week\"".to_owned()),
        Just("\"exogenous\"".to_owned()),
        Just("\"lines\"".to_owned()),
        Just("\"start\"".to_owned()),
        Just("\"2024-03-01\"".to_owned()),
        Just("\"planned\"".to_owned()),
        Just("\"unit_cost\"".to_owned()),
        Just("null".to_owned()),
        any::<f64>().prop_map(|x| x.to_string()),
        any::<i64>().prop_map(|x| x.to_string()),
        "1e[0-9]{1,4}".prop_map(String::from),
    ];
    proptest::collection::vec(atoms, 0..40).prop_map(|parts| parts.concat())
}

/// A well-formed forecast request with arbitrary values in its fields.
fn forecast_request() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(("[a-z]{0,3}", "[a-c]{0,2}"), 0..4),
        proptest::option::of(any::<i64>()),
        proptest::collection::vec(any::<f64>(), 0..6),
        proptest::collection::vec(-50.0f64..150.0, 0..3),
        proptest::option::of("[a-z_]{0,12}"),
    )
        .prop_map(|(series, horizon, quantiles, levels, rollup)| {
            let series: Vec<_> = series
                .into_iter()
                .map(|(d, i)| serde_json::json!({"dataset": if d.is_empty() { "rides".into() } else { d }, "id": if i.is_empty() { "a".into() } else { i }}))
                .collect();
            let mut body = serde_json::json!({ "series": series });
            if let Some(h) = horizon {
                body["horizon"] = (h % 2_000).into();
            }
            body["quantiles"] = serde_json::json!(quantiles
                .into_iter()
                .map(|q| if q.is_finite() { q } else { 0.5 })
                .collect::<Vec<_>>());
            body["levels"] = serde_json::json!(levels);
            if let Some(r) = rollup {
                body["rollup"] = r.into();
            }
            body.to_string()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_to_forecast_or_risk_are_never_a_server_error(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        route in 0usize..3,
    ) {
        let (uri, content_type) = [
            ("/v1/forecast", "application/json"),
            ("/v1/risk", "application/json"),
            ("/v1/risk", "text/csv"),
        ][route];
        let status = status_of(uri, body, content_type);
        prop_assert!(status < 500, "{uri} {content_type}: {status}");
    }

    #[test]
    fn json_shaped_bodies_are_never_a_server_error(body in jsonish(), risk in any::<bool>()) {
        let uri = if risk { "/v1/risk" } else { "/v1/forecast" };
        let status = status_of(uri, body.into_bytes(), "application/json");
        prop_assert!(status < 500, "{uri}: {status}");
    }

    #[test]
    fn forecast_requests_with_arbitrary_values_are_answered_or_refused_as_client_errors(
        body in forecast_request(),
    ) {
        let status = status_of("/v1/forecast", body.clone().into_bytes(), "application/json");
        prop_assert!(status == 200 || (400..500).contains(&status), "{body}: {status}");
    }

    #[test]
    fn budget_csv_of_arbitrary_cells_is_never_a_server_error(
        rows in proptest::collection::vec(
            proptest::collection::vec("[a-z0-9\",.=\\-\r\n ]{0,12}", 0..8),
            0..6,
        ),
        header in any::<bool>(),
    ) {
        let mut text = if header {
            "id,dataset,series,start,end,planned,unit_cost\n".to_owned()
        } else {
            String::new()
        };
        for row in rows {
            text.push_str(&row.join(","));
            text.push('\n');
        }
        let status = status_of("/v1/risk", text.into_bytes(), "text/csv");
        prop_assert!(status < 500, "{status}");
    }
}
