//! A version's optional `risk.json`: stored with a checksum, verified on load, absent by default.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use civicast_model::risk::classifier::{CLASSIFIER_FORMAT, FEATURE_NAMES, RiskClassifier};
use civicast_model::risk::{FlagSource, FlagThresholds};
use civicast_registry::{RISK_FILE, RISK_FORMAT, RegistryError, RiskFile};
use common::{backends, manifest, models};

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
        flag_source: Some(FlagSource::LevelFrequency {
            thresholds: FlagThresholds::default(),
            frequencies: [0.02, 0.1, 0.3, 0.6],
        }),
    }
}

#[test]
fn a_risk_file_is_stored_with_its_checksum_and_read_back() {
    for backend in backends() {
        let registry = &backend.registry;
        let version = registry
            .publish_with_risk(manifest("rides"), &models(), Some(&risk()), false)
            .unwrap();
        let (loaded, _) = registry.load(&version).unwrap();
        assert!(loaded.files.contains_key(RISK_FILE));
        assert_eq!(registry.load_risk(&version).unwrap(), Some(risk()));

        // A version without one has none.
        let plain = registry
            .publish(manifest("rides"), &models(), false)
            .unwrap();
        assert_eq!(registry.load_risk(&plain).unwrap(), None);
    }
}

#[test]
fn a_changed_risk_file_fails_verification() {
    for backend in backends() {
        let registry = &backend.registry;
        let version = registry
            .publish_with_risk(manifest("rides"), &models(), Some(&risk()), false)
            .unwrap();
        let file = ["versions", version.as_str(), RISK_FILE];
        let text = String::from_utf8(backend.read(&file))
            .unwrap()
            .replace("\"beats_raw\": true", "\"beats_raw\": false");
        backend.write(&file, text.as_bytes());
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
}
