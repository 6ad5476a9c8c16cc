//! Loaded versions: verified, warmed, and forecasting from a cache.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use civicast_model::{ModelId, Predict};
use civicast_registry::Registry;
use civicast_service::catalog::load_version;
use common::*;

#[test]
fn a_repeated_forecast_comes_from_the_cache_and_equals_a_fresh_one() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    let version = load_version(&registry, &publish(&registry, ModelId::Theta, 1.0, true)).unwrap();
    let first = version.forecast(0, 14, &[0.1, 0.9]).unwrap();
    let again = version.forecast(0, 14, &[0.1, 0.9]).unwrap();
    assert!(Arc::ptr_eq(&first, &again), "served from the cache");
    let fresh = version.models["a"].model.predict(14, &[0.1, 0.9]).unwrap();
    assert_eq!(*first, fresh);
    let other = version.forecast(0, 7, &[0.1, 0.9]).unwrap();
    assert_eq!(other.point.len(), 7, "another horizon is another entry");
}
