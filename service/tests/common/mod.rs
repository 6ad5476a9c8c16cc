//! Fixtures for the service tests: a registry with small fitted models, an app with keys.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod http;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use civicast_model::{FittedForecaster, ModelId, SeriesContext, fit_model};
use civicast_registry::{
    DatasetInfo, FeatureSchema, ModelsFile, Registry, Selection, SeriesEntry, VersionManifest,
};
use civicast_service::auth::{Role, hash_key};
use civicast_service::config::{ApiKey, Config};
use civicast_service::{AppState, app};
use http_body_util::BodyExt;
use tower::ServiceExt;

pub const READ_KEY: &str = "read-key-for-the-tests";
pub const ADMIN_KEY: &str = "admin-key-for-the-tests";

/// A forecast request for series `a` of the fixture's dataset.
pub const FORECAST_BODY: &str = r#"{"series":[{"dataset":"rides","id":"a"}],"horizon":14}"#;

/// Daily series of `days` days ending 2024-02-25 (a Sunday), weekly pattern times `scale`.
pub fn values(days: usize, scale: f64) -> Vec<f64> {
    (0..days)
        .map(|t| scale * (10.0 + (t % 7) as f64) + (t % 3) as f64 * 0.1)
        .collect()
}

/// Publishes a version of dataset `rides` with series a and b fitted with `model`.
pub fn publish(registry: &Registry, model: ModelId, scale: f64, promote: bool) -> String {
    let days = 56;
    let context = SeriesContext {
        season_lengths: vec![7],
    };
    let mut models = BTreeMap::new();
    let mut series = Vec::new();
    let mut history = BTreeMap::new();
    for id in ["a", "b"] {
        history.insert(id.to_owned(), values(days, scale));
        let fitted = fit_model(model, &context, &values(days, scale)).unwrap();
        series.push(SeriesEntry {
            id: id.into(),
            model: model.to_string(),
            fallback: fitted.fallback.clone(),
            start: "2024-01-01".into(),
            end: "2024-02-25".into(),
            length: days,
            backtest: BTreeMap::new(),
        });
        models.insert(id.to_owned(), fitted);
    }
    let manifest = rides_manifest(series, &[model.to_string()], vec![]);
    registry
        .publish(
            manifest,
            &ModelsFile {
                format: 1,
                forecasters: BTreeMap::from([(
                    model.to_string(),
                    FittedForecaster::from_series_models(model, models.into_iter().collect()),
                )]),
                history,
            },
            promote,
        )
        .unwrap()
}

/// The temperature of day `t` of the learned fixture.
pub fn temperature(t: usize) -> f64 {
    ((t * 13) % 17) as f64
}

/// Publishes a version of `rides` whose series a and b are forecast by a learned global `linear`
/// model reading a future-known `temp` column: 420 days ending 2024-02-25, a weekly pattern plus
/// 2 per degree.
pub fn publish_learned(registry: &Registry, promote: bool) -> String {
    use civicast_model::features::{FeatureSpec, Featurizer};
    use civicast_model::learned::global::{CalibrationSpec, GlobalParams, fit_global};
    use civicast_model::learned::published::PublishedGlobal;
    use civicast_model::{ExogenousRole, ExogenousSpec, Frequency, Panel, Series, TimePoint};

    let days = 420;
    let start = chrono::NaiveDate::from_ymd_opt(2024, 2, 25).unwrap()
        - chrono::TimeDelta::days(days as i64 - 1);
    let exogenous = vec![ExogenousSpec {
        name: "temp".into(),
        role: ExogenousRole::FutureKnown,
    }];
    let panel_series = ["a", "b"]
        .iter()
        .enumerate()
        .map(|(s, id)| Series {
            id: (*id).to_owned(),
            start: TimePoint::date(start),
            target: (0..days)
                .map(|t| 50.0 * (s + 1) as f64 + 5.0 * (t % 7) as f64 + 2.0 * temperature(t))
                .collect(),
            exogenous: vec![(0..days).map(temperature).collect()],
        })
        .collect();
    let panel = Panel::new(Frequency::Days(1), exogenous.clone(), panel_series).unwrap();
    let featurizer = Featurizer::for_panel(
        FeatureSpec::default_for(Frequency::Days(1), &[7]),
        &panel,
        None,
    )
    .unwrap();
    let mut params = GlobalParams::for_model(ModelId::Linear, 14).unwrap();
    params.calibration = CalibrationSpec {
        span: 140,
        max_origins: 60,
        half_life: 70,
        relative: true,
        cross_fit: true,
        adapt: 0.05,
        level_power: true,
        refits: 1,
        phase_period: 0,
        condition: false,
    };
    let fitted = fit_global(&params, &featurizer, &panel, &[days, days]).unwrap();
    let published = PublishedGlobal::new(fitted, &panel).unwrap();
    let series = panel
        .series()
        .iter()
        .map(|s| SeriesEntry {
            id: s.id.clone(),
            model: "linear".into(),
            fallback: None,
            start: start.to_string(),
            end: "2024-02-25".into(),
            length: days,
            backtest: BTreeMap::new(),
        })
        .collect();
    let history = panel
        .series()
        .iter()
        .map(|s| (s.id.clone(), s.target[days - 28..].to_vec()))
        .collect();
    registry
        .publish(
            rides_manifest(series, &["linear".to_owned()], exogenous),
            &ModelsFile {
                format: civicast_registry::format::FORMAT_VERSION,
                forecasters: BTreeMap::from([(
                    "linear".to_owned(),
                    FittedForecaster::from_published(ModelId::Linear, published).unwrap(),
                )]),
                history,
            },
            promote,
        )
        .unwrap()
}

/// The manifest of a `rides` version with `series`, ending 2024-02-25.
pub fn rides_manifest(
    series: Vec<SeriesEntry>,
    candidates: &[String],
    exogenous: Vec<civicast_model::ExogenousSpec>,
) -> VersionManifest {
    VersionManifest {
        format: 0,
        version: String::new(),
        created: String::new(),
        civicast_version: "test".into(),
        dataset: DatasetInfo {
            name: "rides".into(),
            title: Some("Test rides".into()),
            unit: Some("riders".into()),
            frequency: "1d".into(),
            horizon: 14,
            season_lengths: vec![7],
            data_file: "rides.csv".into(),
            data_sha256: "0".repeat(64),
            start: series[0].start.clone(),
            end: "2024-02-25".into(),
            series: series.len(),
            rows: series.iter().map(|s| s.length).sum(),
        },
        selection: Selection {
            metric: "MASE".into(),
            candidates: candidates.to_vec(),
            windows: 1,
            step: 14,
            input_size: None,
        },
        features: FeatureSchema {
            target: "y".into(),
            exogenous,
        },
        series,
        files: BTreeMap::new(),
    }
}

/// A configuration over `registry` with one read and one admin key.
pub fn config(registry: &Path) -> Config {
    Config {
        registry: registry.to_path_buf(),
        api_keys: vec![
            ApiKey {
                name: "reader".into(),
                role: Role::Read,
                sha256: hash_key(READ_KEY),
            },
            ApiKey {
                name: "operator".into(),
                role: Role::Admin,
                sha256: hash_key(ADMIN_KEY),
            },
        ],
        reload_poll_seconds: 0,
        ..Config::default()
    }
}

/// A loaded app state over a fresh registry with one snaive version.
pub async fn state_with_models() -> (tempfile::TempDir, AppState, String) {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    let version = publish(&registry, ModelId::Snaive, 1.0, false);
    let state = AppState::new(config(dir.path())).unwrap();
    state.reload().await;
    (dir, state, version)
}

/// Sends a request through the app (no socket) and returns status and JSON body.
pub async fn send(
    state: &AppState,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    let (status, bytes) = send_raw(
        state,
        method,
        uri,
        key,
        body.map(|b| b.to_string()),
        "application/json",
    )
    .await;
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// Sends a request with a raw body and content type; returns status and body bytes.
pub async fn send_raw(
    state: &AppState,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<String>,
    content_type: &str,
) -> (StatusCode, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    if body.is_some() {
        request = request.header("content-type", content_type);
    }
    let request = request
        .body(body.map_or_else(Body::empty, Body::from))
        .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, bytes)
}

/// Sends `body` as it is (any bytes) with `content_type`; returns the status.
pub async fn send_bytes(
    state: &AppState,
    uri: &str,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
) -> StatusCode {
    let request = Request::builder()
        .method("POST")
        .uri(uri)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap();
    app(state.clone()).oneshot(request).await.unwrap().status()
}

/// Serves `state` on a free loopback port in this runtime, through the service's own accept loop;
/// returns the address.
pub async fn serve_in_process(state: AppState) -> SocketAddr {
    serve_until(state, std::future::pending()).await.0
}

/// Serves `state` until `signal` resolves; returns the address and the server task, which ends
/// with how the shutdown went.
pub async fn serve_until(
    state: AppState,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
) -> (
    SocketAddr,
    tokio::task::JoinHandle<civicast_service::server::Stopped>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let config = state.config.clone();
        civicast_service::server::serve(
            listener,
            app(state.clone()),
            &config,
            state.metrics.clone(),
            signal,
        )
        .await
    });
    (address, task)
}
