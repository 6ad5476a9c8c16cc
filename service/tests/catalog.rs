//! Loaded versions: verified, warmed, and answering from a cache.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use civicast_model::{ModelId, Predict};
use civicast_registry::Registry;
use civicast_service::catalog::{AnswerKey, load_version};
use common::*;

fn key(position: usize, horizon: usize) -> AnswerKey {
    AnswerKey {
        position,
        horizon,
        probabilities: [0.1f64, 0.9].iter().map(|p| p.to_bits()).collect(),
        rollup: None,
        exogenous: false,
        generation: 0,
    }
}

#[test]
fn a_repeated_answer_comes_from_the_cache_and_equals_a_fresh_one() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    let version = load_version(&registry, &publish(&registry, ModelId::Theta, 1.0, true)).unwrap();
    let render = |loaded: &civicast_service::catalog::LoadedVersion, key: &AnswerKey| {
        let forecast = loaded.forecast(key.position, key.horizon, &[0.1, 0.9])?;
        Ok::<_, civicast_model::ModelError>(serde_json::to_vec(&forecast.point).unwrap())
    };
    let first = version
        .answer(&key(0, 14), |v| render(v, &key(0, 14)))
        .unwrap();
    let mut rendered_again = false;
    let again = version
        .answer(&key(0, 14), |v| {
            rendered_again = true;
            render(v, &key(0, 14))
        })
        .unwrap();
    assert!(!rendered_again, "served from the cache");
    assert_eq!(first, again);
    // The same model fitted afresh on the same data.
    let context = civicast_model::SeriesContext {
        season_lengths: vec![7],
    };
    let refitted = civicast_model::fit_model(ModelId::Theta, &context, &values(56, 1.0)).unwrap();
    let fresh = refitted.model.predict(14, &[0.1, 0.9]).unwrap();
    assert_eq!(first, serde_json::to_vec(&fresh.point).unwrap());
    let other = version
        .answer(&key(0, 7), |v| render(v, &key(0, 7)))
        .unwrap();
    let points: Vec<f64> = serde_json::from_slice(&other).unwrap();
    assert_eq!(points.len(), 7, "another horizon is another entry");
}

#[test]
fn a_failed_render_is_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    let version = load_version(&registry, &publish(&registry, ModelId::Snaive, 1.0, true)).unwrap();
    let failed = version.answer(&key(1, 3), |_| Err::<Vec<u8>, _>("no"));
    assert_eq!(failed, Err("no"));
    let answered = version.answer(&key(1, 3), |_| Ok::<_, &str>(b"[1]".to_vec()));
    assert_eq!(answered.unwrap().as_ref(), b"[1]");
}

#[test]
fn kept_sample_paths_are_the_fresh_draw_and_are_reused() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    let version = load_version(&registry, &publish_learned(&registry, true)).unwrap();
    let kept = version.cached_sample_paths(1, 14, 200, 7).unwrap();
    let fresh = version.sample_paths(1, 14, 200, 7).unwrap();
    assert_eq!(kept.paths, fresh.paths);
    let again = version.cached_sample_paths(1, 14, 200, 7).unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&kept, &again),
        "the second call reuses the draw"
    );
    let other = version.cached_sample_paths(1, 14, 200, 8).unwrap();
    assert_ne!(other.paths, kept.paths, "another seed is another draw");
    assert_eq!(
        version.cached_sample_paths(0, 7, 200, 7).unwrap().paths[0].len(),
        7
    );
}
