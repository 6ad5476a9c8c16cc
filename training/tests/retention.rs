//! `prune-issued`: the retention of issued forecasts, keeping what the live accuracy reads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use civicast_model::Forecast;
use civicast_model::metrics::{PROTOCOL_QUANTILES, PairScales};
use civicast_store::{IssuedForecast, Store};
use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn prune_issued_keeps_twice_the_live_window_and_refuses_to_cut_into_it() {
    // Daily data of 120 days, horizon 3: the live window is 28 days, so 59 are kept by default
    // and fewer than 31 are refused.
    let fixture = Fixture::new(&manifest(), &csv(&rows(&["a", "b"], 120)));
    let manifest = fixture.manifest();
    let manifest = manifest.to_str().unwrap();
    let store_path = fixture.path("store.db");
    let store_path = store_path.to_str().unwrap();
    let out = train(&["import", manifest, "--store", store_path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let day: civicast_model::Frequency = "1d".parse().unwrap();
    let first = day.parse_time("2024-01-01").unwrap();
    let origin = |d: i64| civicast_store::encode_time(day.advance(first, d).unwrap());
    let store = Store::open(store_path).await.unwrap();
    let forecast = Forecast {
        point: vec![1.0; 3],
        quantiles: PROTOCOL_QUANTILES
            .iter()
            .map(|&t| (t, vec![t; 3]))
            .collect(),
    };
    let issued: Vec<IssuedForecast> = (0..120)
        .map(|d| IssuedForecast {
            series: "a".into(),
            origin: origin(d),
            version: "v".into(),
            model: "ets".into(),
            issued_ms: 0,
            forecast: forecast.clone(),
            scales: PairScales::default(),
        })
        .collect();
    assert_eq!(store.issue("tiny", &issued).await.unwrap(), 120);

    let refused = train(&[
        "prune-issued",
        manifest,
        "--store",
        store_path,
        "--keep-steps",
        "30",
    ]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("keep at least 31 steps"), "{message}");

    let out = train(&["prune-issued", manifest, "--store", store_path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    // The latest observation is day 119 (2024-04-29); 59 days before it is day 60 (2024-03-01).
    assert!(
        said.contains("removed 60 issued forecast(s) from origins before 2024-03-01"),
        "{said}"
    );
    let left = store.issued("tiny", "a", None, 1000).await.unwrap();
    assert_eq!(left.len(), 60);
    assert_eq!(left[0].origin, origin(60));
    store.close().await;
}
