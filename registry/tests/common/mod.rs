//! Fixtures shared by the registry's tests: a one-series daily version.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use civicast_model::{FittedForecaster, ModelId, SeriesContext, fit_model};
use civicast_registry::{
    DatasetInfo, FeatureSchema, ModelsFile, Selection, SeriesEntry, VersionManifest,
};

/// The manifest of a version of `dataset` with one daily series `a` of 28 days.
pub fn manifest(dataset: &str) -> VersionManifest {
    VersionManifest {
        format: 0,
        version: String::new(),
        created: String::new(),
        civicast_version: "test".into(),
        dataset: DatasetInfo {
            name: dataset.into(),
            title: None,
            unit: None,
            frequency: "1d".into(),
            horizon: 7,
            season_lengths: vec![7],
            data_file: "data.csv".into(),
            data_sha256: "0".repeat(64),
            start: "2024-01-01".into(),
            end: "2024-01-28".into(),
            series: 1,
            rows: 28,
        },
        selection: Selection {
            metric: "MASE".into(),
            candidates: vec!["snaive".into()],
            windows: 1,
            step: 7,
            input_size: None,
        },
        features: FeatureSchema {
            target: "y".into(),
            exogenous: vec![],
        },
        series: vec![SeriesEntry {
            id: "a".into(),
            model: "snaive".into(),
            fallback: None,
            start: "2024-01-01".into(),
            end: "2024-01-28".into(),
            length: 28,
            backtest: BTreeMap::new(),
        }],
        files: BTreeMap::new(),
    }
}

/// Seasonal naive fitted on series `a`.
pub fn models() -> ModelsFile {
    let y: Vec<f64> = (0..28).map(|t| (t % 7) as f64).collect();
    let context = SeriesContext {
        season_lengths: vec![7],
    };
    let fitted = fit_model(ModelId::Snaive, &context, &y).unwrap();
    ModelsFile {
        format: 1,
        forecasters: BTreeMap::from([(
            "snaive".to_owned(),
            FittedForecaster::from_series_models(ModelId::Snaive, vec![("a".to_owned(), fitted)]),
        )]),
        history: BTreeMap::new(),
    }
}
