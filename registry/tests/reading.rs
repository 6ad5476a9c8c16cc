//! What the registry refuses to read: files over their caps and anything reached through a
//! symbolic link.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use civicast_registry::{Registry, RegistryError, RegistryLimits};
use common::{backends, manifest, models};

fn publish(registry: &Registry, dataset: &str) -> String {
    registry
        .publish(manifest(dataset), &models(), false)
        .unwrap()
}

fn version_file(root: &Path, version: &str, name: &str) -> PathBuf {
    root.join("versions").join(version).join(name)
}

#[test]
fn a_models_file_over_a_configured_cap_is_refused_naming_the_file_and_the_cap() {
    for backend in backends() {
        let version = publish(&backend.registry, "rides");
        let size = backend.read(&["versions", &version, "models.json"]).len() as u64;
        let limits = RegistryLimits {
            models_bytes: size - 1,
            ..RegistryLimits::default()
        };
        let capped = backend.with_limits(limits);
        let err = capped.load(&version).unwrap_err();
        match &err {
            RegistryError::TooLarge {
                path,
                limit,
                size: seen,
            } => {
                assert!(path.ends_with("models.json"), "{path:?}");
                assert_eq!((*limit, *seen), (size - 1, size));
            }
            other => panic!("{other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.contains("models.json") && message.contains(&format!("limit of {}", size - 1)),
            "{message}"
        );
        // The same version under a cap it fits is fine: the refusal was the cap's.
        let fits = backend.with_limits(RegistryLimits {
            models_bytes: size,
            ..limits
        });
        fits.load(&version).unwrap();
    }
}

#[test]
fn a_manifest_and_an_alias_over_their_caps_are_refused() {
    for backend in backends() {
        let version = publish(&backend.registry, "rides");
        let tiny = backend.with_limits(RegistryLimits {
            manifest_bytes: 10,
            alias_bytes: 10,
            history_bytes: 10,
            ..RegistryLimits::default()
        });
        assert!(matches!(
            tiny.show(&version),
            Err(RegistryError::TooLarge { limit: 10, .. })
        ));
        assert!(matches!(
            tiny.production("rides"),
            Err(RegistryError::TooLarge { limit: 10, .. })
        ));
        assert!(matches!(
            tiny.history(),
            Err(RegistryError::TooLarge { limit: 10, .. })
        ));
    }
}

#[test]
fn a_version_whose_models_are_over_the_cap_is_not_published() {
    for backend in backends() {
        let capped = backend.with_limits(RegistryLimits {
            models_bytes: 10,
            ..RegistryLimits::default()
        });
        assert!(matches!(
            capped.publish(manifest("rides"), &models(), false),
            Err(RegistryError::TooLarge { limit: 10, .. })
        ));
        assert!(capped.list().unwrap().is_empty());
        assert_eq!(capped.production("rides").unwrap(), None);
    }
}

#[cfg(unix)]
mod links {
    use std::os::unix::fs::symlink;

    use super::*;

    fn assert_link_refused<T: std::fmt::Debug>(result: Result<T, RegistryError>, link: &Path) {
        match result {
            Err(RegistryError::SymbolicLink { path }) => assert_eq!(path, link),
            other => panic!("expected {link:?} refused as a link, got {other:?}"),
        }
    }

    #[test]
    fn a_linked_models_file_is_refused_even_when_it_points_at_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(dir.path());
        let version = publish(&registry, "rides");
        let models = version_file(dir.path(), &version, "models.json");
        let elsewhere = dir.path().join("models-copy.json");
        std::fs::rename(&models, &elsewhere).unwrap();
        symlink(&elsewhere, &models).unwrap();
        let err = registry.load(&version).unwrap_err();
        assert!(
            err.to_string()
                .contains("is a symbolic link; the registry does not follow links"),
            "{err}"
        );
        assert_link_refused(registry.load(&version), &models);
        assert_link_refused(registry.promote(&version), &models);
    }

    #[test]
    fn a_linked_version_folder_is_refused_and_not_listed() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(dir.path());
        let version = publish(&registry, "rides");
        let folder = dir.path().join("versions").join(&version);
        let elsewhere = dir.path().join("moved");
        std::fs::rename(&folder, &elsewhere).unwrap();
        symlink(&elsewhere, &folder).unwrap();
        assert_link_refused(registry.show(&version), &folder);
        assert_link_refused(registry.load(&version), &folder);
        assert_link_refused(registry.load_production("rides"), &folder);
        assert!(registry.list().unwrap().is_empty());
    }

    #[test]
    fn a_linked_alias_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(dir.path());
        publish(&registry, "rides");
        let alias = dir.path().join("aliases/rides/production.json");
        let elsewhere = dir.path().join("alias-copy.json");
        std::fs::copy(&alias, &elsewhere).unwrap();
        std::fs::remove_file(&alias).unwrap();
        symlink(&elsewhere, &alias).unwrap();
        assert_link_refused(registry.production("rides"), &alias);
        // Still listed, so that the refusal is reported rather than the dataset disappearing.
        assert_eq!(registry.datasets().unwrap(), ["rides"]);
    }

    #[test]
    fn a_linked_alias_folder_is_refused_and_not_listed() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(dir.path());
        let version = publish(&registry, "rides");
        publish(&registry, "power");
        let folder = dir.path().join("aliases/rides");
        let elsewhere = dir.path().join("rides-aliases");
        std::fs::rename(&folder, &elsewhere).unwrap();
        symlink(&elsewhere, &folder).unwrap();
        assert_link_refused(registry.production("rides"), &folder);
        assert_eq!(registry.datasets().unwrap(), ["power"]);
        // Nor is an alias written through it.
        assert_link_refused(registry.promote(&version), &folder);
    }
}
