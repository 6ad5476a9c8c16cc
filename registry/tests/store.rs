//! Publishing, verifying, promoting and rolling back versions, on every backend
//! ([`common::backends`]).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use civicast_model::ModelId;
use civicast_registry::{PRODUCTION, Registry, RegistryError};
use common::{backends, manifest, models};

/// Publishes a one-series version. Ids come from the clock; several versions published within
/// one second get distinct ids through the publisher's own collision handling.
fn publish(registry: &Registry, dataset: &str, promote: bool) -> String {
    registry
        .publish(manifest(dataset), &models(), promote)
        .unwrap()
}

#[test]
fn a_published_version_loads_verified_with_its_models() {
    for backend in backends() {
        let registry = &backend.registry;
        let version = publish(registry, "rides", false);
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
}

#[test]
fn versions_published_in_the_same_second_get_distinct_ids() {
    for backend in backends() {
        let registry = &backend.registry;
        let ids: Vec<String> = (0..3).map(|_| publish(registry, "rides", false)).collect();
        let mut unique = ids.clone();
        unique.dedup();
        assert_eq!(unique.len(), 3, "{ids:?}");
        assert_eq!(registry.list().unwrap().len(), 3);
    }
}

#[test]
fn a_tampered_model_file_fails_verification_with_a_clear_message() {
    for backend in backends() {
        let registry = &backend.registry;
        let version = publish(registry, "rides", false);
        let file = ["versions", version.as_str(), "models.json"];
        let original = String::from_utf8(backend.read(&file)).unwrap();
        let text = original.replacen("\"season_length\":7", "\"season_length\":1", 1);
        assert_ne!(text, original, "the test must change the file");
        backend.write(&file, text.as_bytes());
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
}

#[test]
fn an_unlisted_or_missing_file_fails_verification() {
    for backend in backends() {
        let registry = &backend.registry;
        let version = publish(registry, "rides", false);
        backend.write(&["versions", &version, "extra.bin"], b"x");
        assert!(
            registry
                .verify(&version)
                .unwrap_err()
                .to_string()
                .contains("extra.bin: not listed")
        );
        backend.remove(&["versions", &version, "extra.bin"]);
        backend.remove(&["versions", &version, "models.json"]);
        assert!(
            registry
                .verify(&version)
                .unwrap_err()
                .to_string()
                .contains("models.json: cannot be read")
        );
    }
}

#[test]
fn promote_and_rollback_walk_back_through_the_production_history() {
    for backend in backends() {
        let registry = &backend.registry;
        let a = publish(registry, "rides", false);
        let b = publish(registry, "rides", false);
        assert_eq!(
            registry.production("rides").unwrap().as_deref(),
            Some(a.as_str()),
            "not promoted"
        );
        registry.promote(&b).unwrap();
        let c = publish(registry, "rides", true);
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
}

#[test]
fn datasets_have_separate_production_versions() {
    for backend in backends() {
        let registry = &backend.registry;
        let rides = publish(registry, "rides", false);
        let power = publish(registry, "power", false);
        assert_eq!(registry.production("rides").unwrap(), Some(rides));
        assert_eq!(registry.production("power").unwrap(), Some(power));
        assert_eq!(registry.datasets().unwrap(), ["power", "rides"]);
    }
}

#[test]
fn names_that_could_escape_the_registry_are_refused() {
    for backend in backends() {
        let registry = &backend.registry;
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

/// A publication that stopped after uploading its files but before its manifest (a crash, or a
/// lost connection) is not a version: not listed, not shown, and the next one publishes as usual.
#[test]
fn a_half_uploaded_version_is_never_visible() {
    for backend in backends() {
        let registry = &backend.registry;
        let a = publish(registry, "rides", false);
        let manifest = backend.read(&["versions", &a, "manifest.json"]);
        let half = "rides-20000101T000000Z";
        let models = backend.read(&["versions", &a, "models.json"]);
        // Where a crashed publication leaves its files: in staging/ on disk, and under the
        // version's own prefix in object storage, which has no rename.
        let place = if backend.folder().is_some() {
            "staging"
        } else {
            "versions"
        };
        backend.write(&[place, half, "models.json"], &models);
        assert_eq!(registry.list().unwrap().len(), 1, "{}", backend.label);
        assert!(matches!(
            registry.show(half),
            Err(RegistryError::UnknownVersion(_))
        ));
        assert!(registry.promote(half).is_err());
        // Its manifest arriving last is what makes it whole (here a copy of another version's,
        // which names that version: refused as tampered, never served).
        if place == "versions" {
            backend.write(&["versions", half, "manifest.json"], &manifest);
            assert!(matches!(
                registry.load(half),
                Err(RegistryError::Tampered { .. })
            ));
            backend.remove(&["versions", half, "manifest.json"]);
        }
        let b = publish(registry, "rides", true);
        assert_eq!(registry.production("rides").unwrap(), Some(b));
        let history = registry.history().unwrap();
        assert!(history.iter().all(|h| h.alias == PRODUCTION));
        assert_eq!(history.len(), 2, "{}: {history:?}", backend.label);
    }
}

#[test]
fn a_training_marker_is_listed_until_its_process_clears_it() {
    use civicast_registry::{TrainingMarker, TrainingState};
    for backend in backends() {
        let registry = &backend.registry;
        assert!(registry.training().unwrap().is_empty());
        let marker =
            TrainingMarker::new("rides", vec!["auto".into()], TrainingState::Fitting, true);
        registry.mark_training(&marker).unwrap();
        assert_eq!(
            registry.training().unwrap(),
            vec![marker],
            "{}",
            backend.label
        );
        registry.clear_training("rides").unwrap();
        assert!(registry.training().unwrap().is_empty());
        registry.clear_training("rides").unwrap();
    }
}

#[test]
fn shard_files_are_written_whole_listed_read_and_removed() {
    for backend in common::backends() {
        let registry = &backend.registry;
        let label = backend.label;
        assert!(registry.shard_files("rides").unwrap().is_empty(), "{label}");
        assert_eq!(
            registry
                .read_shard_file("rides", "part-0-of-2.json")
                .unwrap(),
            None
        );
        registry
            .put_shard_file("rides", "part-1-of-2.json", b"one".to_vec())
            .unwrap();
        registry
            .put_shard_file("rides", "shared.json", b"shared".to_vec())
            .unwrap();
        // Replacing is allowed: a shard run again writes its part again.
        registry
            .put_shard_file("rides", "part-1-of-2.json", b"one again".to_vec())
            .unwrap();
        assert_eq!(
            registry.shard_files("rides").unwrap(),
            ["part-1-of-2.json", "shared.json"],
            "{label}"
        );
        assert!(registry.shard_files("other").unwrap().is_empty(), "{label}");
        assert_eq!(
            registry
                .read_shard_file("rides", "part-1-of-2.json")
                .unwrap(),
            Some(b"one again".to_vec())
        );
        for bad in ["../x", "", ".hidden", "a/b"] {
            assert!(
                registry.put_shard_file("rides", bad, vec![]).is_err(),
                "{bad:?}"
            );
            assert!(registry.read_shard_file(bad, "x").is_err(), "{bad:?}");
        }
        registry.remove_shard_file("rides", "shared.json").unwrap();
        registry.remove_shard_file("rides", "shared.json").unwrap();
        assert_eq!(
            registry.shard_files("rides").unwrap(),
            ["part-1-of-2.json"],
            "{label}"
        );
    }
}
