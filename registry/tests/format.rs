//! Reading versions written in older formats, and refusing formats this release does not know.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use civicast_model::{ModelId, Predict, SeriesContext, fit_model};
use civicast_registry::format::FORMAT_VERSION;
use civicast_registry::{Registry, sha256_hex};
use common::{manifest, models};

/// Rewrites `version`'s manifest with `format` and its models.json with `models` (checksum kept
/// true), as an older or newer civicast would have written them.
fn rewrite(registry: &Registry, root: &std::path::Path, version: &str, format: u32, models: &str) {
    let dir = root.join("versions").join(version);
    std::fs::write(dir.join("models.json"), models).unwrap();
    let mut manifest = registry.show(version).unwrap();
    manifest.format = format;
    manifest
        .files
        .insert("models.json".into(), sha256_hex(models.as_bytes()));
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

#[test]
fn a_format_4_version_reads_with_its_models_regrouped_and_forecasts_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    let version = registry
        .publish(manifest("rides"), &models(), true)
        .unwrap();
    // Format 4 kept every statistical series' model in one map by series id.
    let y: Vec<f64> = (0..28).map(|t| (t % 7) as f64).collect();
    let context = SeriesContext {
        season_lengths: vec![7],
    };
    let fitted = fit_model(ModelId::Snaive, &context, &y).unwrap();
    let legacy = serde_json::json!({ "format": 4, "series": { "a": fitted } }).to_string();
    rewrite(&registry, dir.path(), &version, 4, &legacy);

    let (manifest, models) = registry.load(&version).unwrap();
    assert_eq!(manifest.format, 4);
    let snaive = &models.forecasters["snaive"];
    assert_eq!(snaive.series_indices()["a"], 0);
    let served = snaive.forecast(0, 7, &[0.1, 0.9], None).unwrap();
    assert_eq!(
        served.forecast,
        fitted.model.predict(7, &[0.1, 0.9]).unwrap()
    );
}

#[test]
fn a_format_this_release_does_not_know_is_refused_naming_the_ones_it_knows() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    let version = registry
        .publish(manifest("rides"), &models(), true)
        .unwrap();
    assert_eq!(registry.show(&version).unwrap().format, FORMAT_VERSION);
    let current = std::fs::read_to_string(
        dir.path()
            .join("versions")
            .join(&version)
            .join("models.json"),
    )
    .unwrap();
    let newer = FORMAT_VERSION + 1;
    rewrite(&registry, dir.path(), &version, newer, &current);
    let message = registry.load(&version).unwrap_err().to_string();
    assert!(
        message.contains(&format!(
            "format {newer} is not a supported format (1 to {FORMAT_VERSION})"
        )),
        "{message}"
    );
}
