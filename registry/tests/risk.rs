//! A version's optional `risk.json`: stored with a checksum, verified on load, absent by default.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use civicast_model::risk::classifier::{CLASSIFIER_FORMAT, FEATURE_NAMES, RiskClassifier};
use civicast_model::{ModelId, SeriesContext, fit_model};
use civicast_registry::{
    DatasetInfo, FeatureSchema, ModelsFile, RISK_FILE, RISK_FORMAT, Registry, RegistryError,
    RiskFile, Selection, VersionManifest,
};

fn manifest() -> VersionManifest {
    VersionManifest {
        format: 0,
        version: String::new(),
        created: String::new(),
        civicast_version: "test".into(),
        dataset: DatasetInfo {
            name: "rides".into(),
            title: None,
            unit: None,
            frequency: "1d".into(),
            horizon: 7,
            season_lengths: vec![7],
            data_file: "data.csv".into(),
            data_sha256: "0".repeat(64),
            start: "2024-01-01".into(),
            end: "2024-01-28".into(),
            series: 0,
            rows: 0,
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
        series: vec![],
        files: BTreeMap::new(),
    }
}

fn models() -> ModelsFile {
    let y: Vec<f64> = (0..28).map(|t| (t % 7) as f64).collect();
    let fitted = fit_model(
        ModelId::Snaive,
        &SeriesContext {
            season_lengths: vec![7],
        },
        &y,
    )
    .unwrap();
    ModelsFile {
        format: 1,
        series: BTreeMap::from([("a".to_owned(), fitted)]),
        global: BTreeMap::new(),
        history: BTreeMap::new(),
    }
}

fn risk() -> RiskFile {
    RiskFile {
        format: RISK_FORMAT,
        classifier: RiskClassifier {
            format: CLASSIFIER_FORMAT,
            features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            mean: vec![0.0; 7],
            scale: vec![1.0; 7],
            weights: vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            intercept: 0.0,
            max_horizon_steps: 14.0,
            period_steps: vec![7.0],
        },
        beats_raw: true,
        evaluation: serde_json::json!({"dataset": "rides"}),
    }
}

#[test]
fn a_risk_file_is_stored_with_its_checksum_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    let version = registry
        .publish_with_risk(manifest(), &models(), Some(&risk()), false)
        .unwrap();
    let (loaded, _) = registry.load(&version).unwrap();
    assert!(loaded.files.contains_key(RISK_FILE));
    assert_eq!(registry.load_risk(&version).unwrap(), Some(risk()));

    // A version without one has none.
    let plain = registry.publish(manifest(), &models(), false).unwrap();
    assert_eq!(registry.load_risk(&plain).unwrap(), None);
}

#[test]
fn a_changed_risk_file_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    let version = registry
        .publish_with_risk(manifest(), &models(), Some(&risk()), false)
        .unwrap();
    let path = dir.path().join("versions").join(&version).join(RISK_FILE);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"beats_raw\": true", "\"beats_raw\": false");
    std::fs::write(&path, text).unwrap();
    match registry.load(&version) {
        Err(RegistryError::Tampered { problems, .. }) => {
            assert!(
                problems.iter().any(|p| p.starts_with(RISK_FILE)),
                "{problems:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        registry.load_risk(&version),
        Err(RegistryError::Tampered { .. })
    ));
}
