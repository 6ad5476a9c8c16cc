//! `POST /v1/observations`: rows are checked whole and stored in one transaction, and the next
//! forecast of every series they touch starts after them, equal to the published model run on
//! the extended series. On SQLite, and on PostgreSQL when `CIVICAST_TEST_POSTGRES` is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use civicast_model::{FittedForecaster, ModelId, Predict, SeriesContext, fit_model};
use civicast_registry::Registry;
use civicast_service::AppState;
use civicast_service::auth::{Role, hash_key};
use civicast_service::config::ApiKey;
use civicast_store::Store;
use common::{ADMIN_KEY, READ_KEY, config, publish, publish_learned, send, send_raw, values};
use serde_json::json;

const WRITE_KEY: &str = "write-key-for-the-tests";

/// A service over a fresh registry with `publish`ed versions and a fresh SQLite store.
async fn service(publish_version: impl Fn(&Registry)) -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path().join("registry"));
    publish_version(&registry);
    let store = Store::open(dir.path().join("store.db").to_str().unwrap())
        .await
        .unwrap();
    (dir, state_over(&registry, store).await)
}

async fn state_over(registry: &Registry, store: Store) -> AppState {
    let mut config = config(registry.root());
    config.api_keys.push(ApiKey {
        name: "feed".into(),
        role: Role::Write,
        sha256: hash_key(WRITE_KEY),
    });
    config.store_poll_ms = 0;
    let state = AppState::with_store(config, Some(store)).unwrap();
    state.reload().await;
    state
}

fn ets(registry: &Registry) {
    publish(registry, ModelId::Ets, 1.0, true);
}

async fn forecast(state: &AppState, id: &str) -> serde_json::Value {
    let body = json!({"series": [{"dataset": "rides", "id": id}], "horizon": 7});
    let (status, answer) = send(state, "POST", "/v1/forecast", Some(READ_KEY), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["forecasts"][0].clone()
}

fn means(forecast: &serde_json::Value) -> Vec<f64> {
    forecast["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["mean"].as_f64().unwrap())
        .collect()
}

fn rows(id: &str, days: &[(&str, f64)]) -> serde_json::Value {
    json!({
        "dataset": "rides",
        "observations": days
            .iter()
            .map(|(time, value)| json!({"id": id, "time": time, "value": value}))
            .collect::<Vec<_>>()
    })
}

async fn ingest(state: &AppState, body: serde_json::Value) -> (StatusCode, serde_json::Value) {
    send(
        state,
        "POST",
        "/v1/observations",
        Some(WRITE_KEY),
        Some(body),
    )
    .await
}

fn assert_close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-9 * y.abs().max(1.0), "{a:?} vs {b:?}");
    }
}

#[tokio::test]
async fn the_forecast_after_an_ingest_starts_after_it_and_equals_the_model_on_the_longer_series() {
    let (_dir, state) = service(ets).await;
    let before = forecast(&state, "a").await;
    assert_eq!(before["steps"][0]["time"], "2024-02-26");

    let new = [
        ("2024-02-26", 14.0),
        ("2024-02-27", 9.5),
        ("2024-02-28", 11.0),
    ];
    let (status, answer) = ingest(&state, rows("a", &new)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        (answer["inserted"].as_u64(), answer["series_moved"].as_u64()),
        (Some(3), Some(1))
    );

    let after = forecast(&state, "a").await;
    assert_eq!(after["steps"][0]["time"], "2024-02-29");
    // The same fitted parameters, moved through the three values by the model itself.
    let context = SeriesContext {
        season_lengths: vec![7],
    };
    let mut model = fit_model(ModelId::Ets, &context, &values(56, 1.0))
        .unwrap()
        .model;
    model.absorb(&[14.0, 9.5, 11.0]).unwrap();
    assert_close(&means(&after), &model.predict(7, &[]).unwrap().point);
    // The other series did not move.
    assert_eq!(
        forecast(&state, "b").await["steps"][0]["time"],
        "2024-02-26"
    );
    // Its history shows the new observations at the end.
    let (status, history) = send(
        &state,
        "GET",
        "/v1/series/rides/a/history?last=2",
        Some(READ_KEY),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        history["observations"][1],
        json!({"time": "2024-02-28", "value": 11.0})
    );
}

#[tokio::test]
async fn resending_changes_nothing_and_a_revision_moves_the_forecast_as_if_on_time() {
    let (_dir, state) = service(ets).await;
    let first = [("2024-02-26", 14.0), ("2024-02-27", 9.5)];
    assert_eq!(ingest(&state, rows("a", &first)).await.0, StatusCode::OK);
    let (status, again) = ingest(&state, rows("a", &first)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (again["inserted"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(again["change"], 0);

    let (_, revised) = ingest(&state, rows("a", &[("2024-02-26", 12.0)])).await;
    assert_eq!(revised["revised"], 1);
    let context = SeriesContext {
        season_lengths: vec![7],
    };
    let mut model = fit_model(ModelId::Ets, &context, &values(56, 1.0))
        .unwrap()
        .model;
    model.absorb(&[12.0, 9.5]).unwrap();
    assert_close(
        &means(&forecast(&state, "a").await),
        &model.predict(7, &[]).unwrap().point,
    );
}

#[tokio::test]
async fn every_bad_row_is_named_and_nothing_of_its_request_is_stored() {
    let (dir, state) = service(ets).await;
    let body = json!({
        "dataset": "rides",
        "observations": [
            {"id": "a", "time": "2024-02-26", "value": 14.0},
            {"id": "nobody", "time": "2024-02-26", "value": 1.0},
            {"id": "a", "time": "2024-02-27T06:00:00", "value": 1.0},
            {"id": "a", "time": "2999-01-01", "value": 1.0},
            {"id": "a", "time": "2024-02-28", "value": "lots"},
            {"id": "a", "time": "2024-02-29", "value": 1.0, "exogenous": {"wind": 3.0}}
        ]
    });
    let (status, problem) = ingest(&state, body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let errors: Vec<(String, String)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_str().unwrap().into(),
                e["field"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [
        ("observations[1]", "id"),
        ("observations[2]", "time"),
        ("observations[3]", "time"),
        ("observations[4]", "value"),
        ("observations[5]", "wind"),
    ];
    assert_eq!(errors, expected.map(|(r, f)| (r.to_owned(), f.to_owned())));
    // The good first row was not stored either, and the forecast did not move.
    let store = Store::open(dir.path().join("store.db").to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(store.freshness("rides").await.unwrap().observations, 0);
    assert_eq!(
        forecast(&state, "a").await["steps"][0]["time"],
        "2024-02-26"
    );
    // Other malformed bodies are refused as a whole.
    for (body, field) in [
        (json!({"observations": []}), "dataset"),
        (
            json!({"dataset": "rides", "observations": []}),
            "observations",
        ),
        (json!({"dataset": "rides", "rows": []}), "rows"),
    ] {
        let (status, problem) = ingest(&state, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    let (status, _) = ingest(&state, json!({"dataset": "trams", "observations": [{"id": "a", "time": "2024-02-26", "value": 1}]})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_gap_is_filled_by_the_model_and_the_answer_says_which_step() {
    let (_dir, state) = service(ets).await;
    let arrived = [("2024-02-26", 14.0), ("2024-02-28", 11.0)];
    assert_eq!(ingest(&state, rows("a", &arrived)).await.0, StatusCode::OK);
    let answer = forecast(&state, "a").await;
    assert_eq!(answer["steps"][0]["time"], "2024-02-29");
    let notes = answer["notes"].to_string();
    assert!(
        notes.contains("2024-02-27") && notes.contains("one-step"),
        "{notes}"
    );
    let (_, history) = send(
        &state,
        "GET",
        "/v1/series/rides/a/history?last=3",
        Some(READ_KEY),
        None,
    )
    .await;
    assert_eq!(
        history["observations"][1],
        json!({"time": "2024-02-27", "value": null})
    );
    // The late value arrives: the gap closes and the note goes.
    assert_eq!(
        ingest(&state, rows("a", &[("2024-02-27", 9.5)])).await.0,
        StatusCode::OK
    );
    let answer = forecast(&state, "a").await;
    assert!(answer["notes"].as_array().unwrap().is_empty(), "{answer}");
}

#[tokio::test]
async fn csv_in_the_datasets_long_format_is_accepted_and_its_errors_name_lines() {
    let (_dir, state) = service(ets).await;
    let csv = "unique_id,ds,y\na,2024-02-26,14\nb,2024-02-26,15\n";
    let (status, body) = send_raw(
        &state,
        "POST",
        "/v1/observations?dataset=rides",
        Some(WRITE_KEY),
        Some(csv.into()),
        "text/csv",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        forecast(&state, "b").await["steps"][0]["time"],
        "2024-02-27"
    );
    let bad = "unique_id,ds,y\na,2024-02-27,14\na,2024-02-28,\n";
    let (status, body) = send_raw(
        &state,
        "POST",
        "/v1/observations?dataset=rides",
        Some(WRITE_KEY),
        Some(bad.into()),
        "text/csv",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["errors"][0]["row"], "line 3", "{problem}");
}

#[tokio::test]
async fn only_write_and_admin_keys_may_send_observations() {
    let (_dir, state) = service(ets).await;
    let body = rows("a", &[("2024-02-26", 1.0)]);
    let (status, _) = send(&state, "POST", "/v1/observations", None, Some(body.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(
        &state,
        "POST",
        "/v1/observations",
        Some(READ_KEY),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = send(
        &state,
        "POST",
        "/v1/observations",
        Some(ADMIN_KEY),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_learned_model_takes_in_observations_with_their_inputs_as_the_published_model_would() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path().join("registry"));
    let version = publish_learned(&registry, true);
    let store = Store::open(dir.path().join("store.db").to_str().unwrap())
        .await
        .unwrap();
    let state = state_over(&registry, store).await;
    let body = json!({
        "dataset": "rides",
        "observations": [
            {"id": "a", "time": "2024-02-26", "value": 80.0},
            {"id": "a", "time": "2024-02-27", "value": 75.0}
        ],
        "shared": [
            {"time": "2024-02-26", "exogenous": {"temp": 9.0}},
            {"time": "2024-02-27", "exogenous": {"temp": 4.0}}
        ]
    });
    let (status, answer) = ingest(&state, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let served = forecast(&state, "a").await;
    assert_eq!(served["steps"][0]["time"], "2024-02-28");

    let (_, models) = registry.load(&version).unwrap();
    let mut linear: FittedForecaster = models.forecasters["linear"].clone();
    let exogenous = civicast_model::learned::published::FutureValues::from([(
        "temp".to_owned(),
        vec![9.0, 4.0],
    )]);
    linear.absorb(0, &[80.0, 75.0], &exogenous).unwrap();
    let expected = linear
        .forecast(0, 7, &[0.1, 0.9], None)
        .unwrap()
        .forecast
        .point;
    assert_close(&means(&served), &expected);
}

#[tokio::test]
async fn a_replica_sharing_the_store_serves_what_another_one_ingested_after_its_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path().join("registry"));
    publish(&registry, ModelId::Ets, 1.0, true);
    let location = match std::env::var("CIVICAST_TEST_POSTGRES") {
        Ok(url) => url,
        Err(_) => dir.path().join("store.db").to_str().unwrap().to_owned(),
    };
    // On a shared server another run may have written "rides" already: start from its state.
    let one = state_over(&registry, Store::open(&location).await.unwrap()).await;
    let two = state_over(&registry, Store::open(&location).await.unwrap()).await;
    let stamp = 100.0 + (std::process::id() % 1000) as f64;
    let (status, answer) = ingest(&one, rows("b", &[("2024-02-26", stamp)])).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let moved = means(&forecast(&one, "b").await);
    civicast_service::live::refresh_dataset(&two, "rides")
        .await
        .unwrap();
    assert_eq!(means(&forecast(&two, "b").await), moved);
    assert_eq!(forecast(&two, "b").await["steps"][0]["time"], "2024-02-27");
}

#[tokio::test]
async fn issued_forecasts_are_scored_by_the_protocols_definitions_as_their_actuals_arrive() {
    use civicast_model::metrics::{PROTOCOL_QUANTILES, Scores, score_pair};
    // The history the version was fitted on is in the store, as `civicast-train import` puts
    // it, so that MASE's scale at each origin is that of the whole series so far.
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path().join("registry"));
    ets(&registry);
    let store = Store::open(dir.path().join("store.db").to_str().unwrap())
        .await
        .unwrap();
    store.register_dataset("rides", "1d", &[]).await.unwrap();
    let first = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let fitted: Vec<civicast_store::Row> = values(56, 1.0)
        .into_iter()
        .enumerate()
        .map(|(d, y)| civicast_store::Row {
            series: "a".into(),
            t: civicast_store::encode_time(civicast_model::TimePoint::date(
                first + chrono::TimeDelta::days(d as i64),
            )),
            target: y,
            exogenous: Default::default(),
        })
        .collect();
    store.ingest("rides", &fitted, &[], "test").await.unwrap();
    let state = state_over(&registry, store).await;
    let start = chrono::NaiveDate::from_ymd_opt(2024, 2, 26).unwrap();
    // 24 days arrive one at a time: forecasts are issued from 25 origins, of which the first 11
    // (2024-02-25 to 2024-03-06) have their whole 14-day horizon by the end.
    let arrived: Vec<f64> = (0..24)
        .map(|d| 12.0 + (d % 7) as f64 + 0.3 * (d % 5) as f64)
        .collect();
    for (d, y) in arrived.iter().enumerate() {
        let day = (start + chrono::TimeDelta::days(d as i64)).to_string();
        let (status, answer) = ingest(&state, rows("a", &[(day.as_str(), *y)])).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (status, accuracy) = send(
        &state,
        "GET",
        "/v1/series/rides/a/accuracy",
        Some(READ_KEY),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{accuracy}");
    let live = &accuracy["live"];
    assert_eq!(
        (live["pairs"].as_u64(), live["waiting"].as_u64()),
        (Some(11), Some(14))
    );
    assert_eq!(live["first_origin"], "2024-02-25");
    assert_eq!(live["last_origin"], "2024-03-06");
    assert_eq!(live["per_step"].as_array().unwrap().len(), 14);

    // The same by hand: the fitted model moved to each origin, scored against the history.
    let context = SeriesContext {
        season_lengths: vec![7],
    };
    let history: Vec<f64> = values(56, 1.0)
        .into_iter()
        .chain(arrived.iter().copied())
        .collect();
    let mut pairs = Vec::new();
    for o in 0..11 {
        let mut model = fit_model(ModelId::Ets, &context, &values(56, 1.0))
            .unwrap()
            .model;
        model.absorb(&arrived[..o]).unwrap();
        let forecast = model.predict(14, &PROTOCOL_QUANTILES).unwrap();
        pairs.push(score_pair(
            &history[..56 + o],
            7,
            &arrived[o..o + 14],
            &forecast,
        ));
    }
    let expected = Scores::from_pairs(&pairs);
    let got = |k: &str| live["scores"][k].as_f64().unwrap();
    // The store keeps forecasts as f32: agreement to its precision.
    for (k, want) in [
        ("MASE", expected.mase),
        ("sMAPE", expected.smape),
        ("RMSE", expected.rmse),
        ("cov80", expected.cov80),
        ("cov95", expected.cov95),
        ("sCRPS", expected.scrps),
    ] {
        assert!(
            (got(k) - want).abs() <= 1e-5 * want.abs().max(1.0),
            "{k}: {} vs {want}",
            got(k)
        );
    }
    assert_eq!(accuracy["backtest"], serde_json::Value::Null);
    assert_eq!(live["drift"]["drifted"], false);
    // /v1/series and the metrics carry the same figure.
    let (_, page) = send(
        &state,
        "GET",
        "/v1/series?dataset=rides",
        Some(READ_KEY),
        None,
    )
    .await;
    let a = &page["series"][0];
    assert_eq!(
        (a["id"].as_str(), a["live_pairs"].as_u64()),
        (Some("a"), Some(11))
    );
    assert_eq!(a["last_observation"], "2024-03-20");
    let (_, metrics) = common::send_raw(&state, "GET", "/metrics", None, None, "").await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("civicast_live_accuracy{dataset=\"rides\",metric=\"pairs\"} 11"),
        "{metrics}"
    );
}

#[tokio::test]
async fn running_scores_equal_a_fresh_scoring_through_late_values_revisions_and_the_windows_end() {
    let (_dir, state) = service(ets).await;
    let start = chrono::NaiveDate::from_ymd_opt(2024, 2, 26).unwrap();
    let day = |d: usize| (start + chrono::TimeDelta::days(d as i64)).to_string();
    let value = |d: usize| 10.0 + (d % 7) as f64 + 0.4 * (d % 3) as f64;
    // What the service keeps up to date (/v1/series) against the accuracy route, which scores
    // the same window from scratch: the same pairs in the same order, so the same figures.
    let compare = |state: AppState, when: String| async move {
        let (_, page) = send(
            &state,
            "GET",
            "/v1/series?dataset=rides",
            Some(READ_KEY),
            None,
        )
        .await;
        let running = &page["series"][0];
        let (status, fresh) = send(
            &state,
            "GET",
            "/v1/series/rides/a/accuracy",
            Some(READ_KEY),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{fresh}");
        assert_eq!(running["live_pairs"], fresh["live"]["pairs"], "{when}");
        assert_eq!(
            running["live_mase"].as_f64(),
            fresh["live"]["scores"]["MASE"].as_f64(),
            "{when}"
        );
        fresh["live"].clone()
    };
    // Day 30 is late (it arrives after day 50) and day 40 is revised after day 60; days come
    // one at a time, then three at a time.
    let mut d = 0;
    while d < 70 {
        let batch: Vec<usize> = (d..(d + if d < 45 { 1 } else { 3 }).min(70))
            .filter(|&d| d != 30)
            .collect();
        d += if d < 45 { 1 } else { 3 };
        if batch.is_empty() {
            continue;
        }
        let mut sent: Vec<(String, f64)> = batch.iter().map(|&d| (day(d), value(d))).collect();
        if batch.contains(&51) {
            sent.push((day(30), value(30)));
        }
        if batch.contains(&63) {
            sent.push((day(40), value(40) + 5.0));
        }
        let sent: Vec<(&str, f64)> = sent.iter().map(|(t, v)| (t.as_str(), *v)).collect();
        let (status, answer) = ingest(&state, rows("a", &sent)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        if batch.iter().any(|d| [20, 35, 51, 54, 63, 69].contains(d)) {
            compare(state.clone(), format!("after day {}", batch[0])).await;
        }
    }
    let live = compare(state.clone(), "at the end".into()).await;
    // Daily data with h = 14: the window is 4h = 56 days of origins, up to the last (day 69).
    // Origins were issued every day except day 30 (it was late) and within three-day batches;
    // the last 14 wait for actuals.
    assert_eq!(live["first_origin"], day(69 - 55));
    let (status, all) = send(
        &state,
        "GET",
        "/v1/series/rides/a/accuracy?origins=10000",
        Some(READ_KEY),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["live"]["first_origin"], "2024-02-25");
    assert!(
        all["live"]["pairs"].as_u64() > live["pairs"].as_u64(),
        "{all} vs {live}"
    );
}

#[tokio::test]
async fn future_values_sent_ahead_are_what_a_learned_forecast_reads_unless_the_request_gives_its_own()
 {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path().join("registry"));
    publish_learned(&registry, true);
    let store = Store::open(dir.path().join("store.db").to_str().unwrap())
        .await
        .unwrap();
    let state = state_over(&registry, store).await;
    let forecast_with = |exogenous: Option<serde_json::Value>| {
        let mut body = json!({"series": [{"dataset": "rides", "id": "a"}], "horizon": 7});
        if let Some(e) = exogenous {
            body["exogenous"] = e;
        }
        body
    };
    let explicit = forecast_with(Some(json!({"temp": [3.0, 4.0, 5.0]})));
    let (_, wanted) = send(
        &state,
        "POST",
        "/v1/forecast",
        Some(READ_KEY),
        Some(explicit.clone()),
    )
    .await;

    // An older issue of the weather forecast, then a newer one for two of its days.
    let old = json!({"dataset": "rides", "issued": "2024-02-24T06:00:00Z", "values": [
        {"time": "2024-02-26", "exogenous": {"temp": 9.0}},
        {"time": "2024-02-27", "exogenous": {"temp": 9.0}},
        {"time": "2024-02-28", "exogenous": {"temp": 5.0}}]});
    let new = json!({"dataset": "rides", "issued": "2024-02-25T06:00:00Z", "values": [
        {"time": "2024-02-26", "exogenous": {"temp": 3.0}},
        {"time": "2024-02-27", "exogenous": {"temp": 4.0}}]});
    for body in [old, new] {
        let (status, answer) =
            send(&state, "POST", "/v1/future", Some(WRITE_KEY), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (_, served) = send(
        &state,
        "POST",
        "/v1/forecast",
        Some(READ_KEY),
        Some(forecast_with(None)),
    )
    .await;
    let served = &served["forecasts"][0];
    assert_close(&means(served), &means(&wanted["forecasts"][0]));
    let notes = served["notes"].to_string();
    assert!(
        notes.contains("temp (steps 1-3)") && notes.contains("/v1/future"),
        "{notes}"
    );
    // A request's own values win.
    let (_, own) = send(
        &state,
        "POST",
        "/v1/forecast",
        Some(READ_KEY),
        Some(forecast_with(Some(json!({"temp": [20.0]})))),
    )
    .await;
    assert_ne!(means(&own["forecasts"][0]), means(served));

    // Bad rows are named; a read key may not send.
    let bad = json!({"dataset": "rides", "values": [
        {"id": "zz", "time": "2024-02-26", "exogenous": {"temp": 1.0}},
        {"time": "2024-02-26T12:00:00", "exogenous": {"temp": 1.0}},
        {"time": "2024-02-27", "exogenous": {"wind": 1.0}}]});
    let (status, problem) = send(
        &state,
        "POST",
        "/v1/future",
        Some(WRITE_KEY),
        Some(bad.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["id", "time", "wind"]);
    let (status, _) = send(&state, "POST", "/v1/future", Some(READ_KEY), Some(bad)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
