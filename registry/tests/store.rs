//! Publishing, verifying, promoting and rolling back versions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use civicast_model::ModelId;
use civicast_registry::{Registry, RegistryError};
use common::{manifest, models};

/// Publishes a one-series version. Ids come from the clock; several versions published within
/// one second get distinct ids through the publisher's own collision handling.
fn publish(registry: &Registry, dataset: &str, promote: bool) -> String {
    registry
        .publish(manifest(dataset), &models(), promote)
        .unwrap()
}

#[test]
fn a_published_version_loads_verified_with_its_models() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    let version = publish(&registry, "rides", false);
    assert!(version.starts_with("rides-"));
    let (manifest, models) = registry.load(&version).unwrap();
    assert_eq!(manifest.version, version);
    assert_eq!(manifest.files.len(), 1);
    let snaive = &models.forecasters["snaive"];
    assert_eq!(snaive.series_id(0), Some("a"));
    assert_eq!(snaive.requested(0), Some(ModelId::Snaive));
    assert_eq!(
        registry.production("rides").unwrap(),
        Some(version),
        "first version goes live"
    );
}

#[test]
fn versions_published_in_the_same_second_get_distinct_ids() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    let ids: Vec<String> = (0..3).map(|_| publish(&registry, "rides", false)).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), 3, "{ids:?}");
    assert_eq!(registry.list().unwrap().len(), 3);
}

#[test]
fn a_tampered_model_file_fails_verification_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    let version = publish(&registry, "rides", false);
    let path = dir
        .path()
        .join("versions")
        .join(&version)
        .join("models.json");
    let original = std::fs::read_to_string(&path).unwrap();
    let text = original.replacen("\"season_length\":7", "\"season_length\":1", 1);
    assert_ne!(text, original, "the test must change the file");
    std::fs::write(&path, text).unwrap();
    let err = registry.verify(&version).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, RegistryError::Tampered { .. }));
    assert!(
        message.contains("models.json") && message.contains("changed after publication"),
        "{message}"
    );
    assert!(
        registry.promote(&version).is_err(),
        "a tampered version cannot be promoted"
    );
}

#[test]
fn an_unlisted_or_missing_file_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    let version = publish(&registry, "rides", false);
    let folder = dir.path().join("versions").join(&version);
    std::fs::write(folder.join("extra.bin"), b"x").unwrap();
    assert!(
        registry
            .verify(&version)
            .unwrap_err()
            .to_string()
            .contains("extra.bin: not listed")
    );
    std::fs::remove_file(folder.join("extra.bin")).unwrap();
    std::fs::remove_file(folder.join("models.json")).unwrap();
    assert!(
        registry
            .verify(&version)
            .unwrap_err()
            .to_string()
            .contains("models.json: cannot be read")
    );
}

#[test]
fn promote_and_rollback_walk_back_through_the_production_history() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    let a = publish(&registry, "rides", false);
    let b = publish(&registry, "rides", false);
    assert_eq!(
        registry.production("rides").unwrap().as_deref(),
        Some(a.as_str()),
        "not promoted"
    );
    registry.promote(&b).unwrap();
    let c = publish(&registry, "rides", true);
    assert_eq!(
        registry.production("rides").unwrap().as_deref(),
        Some(c.as_str())
    );
    assert_eq!(registry.rollback("rides").unwrap(), b);
    assert_eq!(registry.rollback("rides").unwrap(), a);
    assert!(matches!(
        registry.rollback("rides"),
        Err(RegistryError::NothingToRollBack(_))
    ));
    assert_eq!(
        registry.production("rides").unwrap().as_deref(),
        Some(a.as_str())
    );
    let actions: Vec<String> = registry
        .history()
        .unwrap()
        .into_iter()
        .map(|h| h.action)
        .collect();
    assert_eq!(
        actions,
        ["publish", "promote", "publish", "rollback", "rollback"]
    );
}

#[test]
fn datasets_have_separate_production_versions() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    let rides = publish(&registry, "rides", false);
    let power = publish(&registry, "power", false);
    assert_eq!(registry.production("rides").unwrap(), Some(rides));
    assert_eq!(registry.production("power").unwrap(), Some(power));
    assert_eq!(registry.datasets().unwrap(), ["power", "rides"]);
}

#[test]
fn names_that_could_escape_the_registry_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    for name in ["../etc", "a/b", "", ".hidden", "x\\y"] {
        assert!(
            matches!(registry.show(name), Err(RegistryError::BadName(_))),
            "{name:?}"
        );
        assert!(
            matches!(registry.promote(name), Err(RegistryError::BadName(_))),
            "{name:?}"
        );
    }
    assert!(matches!(
        registry.show("nope"),
        Err(RegistryError::UnknownVersion(_))
    ));
}

#[test]
fn a_torn_history_line_and_leftover_staging_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    let a = publish(&registry, "rides", false);
    std::fs::create_dir_all(dir.path().join("staging/rides-crashed.1.2")).unwrap();
    let history = dir.path().join("history.jsonl");
    let mut text = std::fs::read_to_string(&history).unwrap();
    text.push_str("{\"at\":\"2026-");
    std::fs::write(&history, text).unwrap();
    assert_eq!(registry.history().unwrap().len(), 1);
    assert_eq!(registry.list().unwrap().len(), 1);
    registry.verify(&a).unwrap();
}
