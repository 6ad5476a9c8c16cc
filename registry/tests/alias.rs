//! Aliases: they name versions of their own dataset, removed ones unlist the dataset, the history
//! survives a torn line, and concurrent changes lose nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use civicast_registry::{HistoryEntry, PRODUCTION, Registry, RegistryError};
use common::{Backend, backends, manifest, models};

fn publish(registry: &Registry, dataset: &str, promote: bool) -> String {
    registry
        .publish(manifest(dataset), &models(), promote)
        .unwrap()
}

/// Overwrites `dataset`'s production alias by hand, as a careless operator could.
fn write_alias(backend: &Backend, dataset: &str, version: &str) {
    let text = format!(r#"{{"version":"{version}","changed":"2026-01-01T00:00:00Z"}}"#);
    backend.write(&["aliases", dataset, "production.json"], text.as_bytes());
}

#[test]
fn load_production_loads_the_version_the_alias_names() {
    for backend in backends() {
        let registry = &backend.registry;
        assert!(registry.load_production("rides").unwrap().is_none());
        let version = publish(registry, "rides", false);
        let (manifest, models) = registry.load_production("rides").unwrap().unwrap();
        assert_eq!(manifest.version, version);
        assert!(
            models.forecasters["snaive"]
                .series_indices()
                .contains_key("a")
        );
    }
}

#[test]
fn an_alias_naming_a_version_of_another_dataset_is_refused() {
    for backend in backends() {
        let registry = &backend.registry;
        publish(registry, "rides", false);
        let power = publish(registry, "power", false);
        write_alias(&backend, "rides", &power);
        match registry.load_production("rides") {
            Err(RegistryError::WrongDataset {
                dataset,
                version,
                names,
            }) => assert_eq!(
                (dataset.as_str(), version.as_str(), names.as_str()),
                ("rides", power.as_str(), "power")
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            registry.load_for("rides", &power),
            Err(RegistryError::WrongDataset { .. })
        ));
        registry.load_for("power", &power).unwrap();
    }
}

#[test]
fn a_rollback_to_a_version_of_another_dataset_is_refused_and_leaves_the_alias_alone() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    publish(&registry, "rides", false);
    let power = publish(&registry, "power", false);
    // A history line that claims rides was once served from a power version.
    let forged = HistoryEntry {
        at: "2026-01-01T00:00:00Z".into(),
        dataset: "rides".into(),
        alias: PRODUCTION.into(),
        action: "promote".into(),
        from: None,
        to: power.clone(),
    };
    let history = dir.path().join("history.jsonl");
    let mut text = std::fs::read_to_string(&history).unwrap();
    text.push_str(&serde_json::to_string(&forged).unwrap());
    text.push('\n');
    std::fs::write(&history, text).unwrap();
    let current = publish(&registry, "rides", true);

    assert!(matches!(
        registry.rollback("rides"),
        Err(RegistryError::WrongDataset { names, .. }) if names == "power"
    ));
    assert_eq!(registry.production("rides").unwrap(), Some(current));
}

#[test]
fn a_dataset_whose_production_alias_is_removed_is_no_longer_listed() {
    for backend in backends() {
        let registry = &backend.registry;
        publish(registry, "rides", false);
        publish(registry, "power", false);
        assert_eq!(registry.datasets().unwrap(), ["power", "rides"]);
        backend.remove(&["aliases", "rides", "production.json"]);
        assert_eq!(registry.datasets().unwrap(), ["power"]);
        assert_eq!(registry.production("rides").unwrap(), None);
        assert!(registry.load_production("rides").unwrap().is_none());
        // The alias lock file sits beside the alias folders and is never a dataset.
        if let Some(folder) = backend.folder() {
            assert!(folder.join("aliases/.lock").is_file());
        }
    }
}

#[test]
fn an_append_after_a_torn_history_line_is_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    publish(&registry, "rides", false);
    let b = publish(&registry, "rides", false);
    let history = dir.path().join("history.jsonl");
    let mut text = std::fs::read_to_string(&history).unwrap();
    text.push_str("{\"at\":\"2026-");
    std::fs::write(&history, text).unwrap();

    registry.promote(&b).unwrap();
    let entries = registry.history().unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    let last = entries.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.to.as_str()),
        ("promote", b.as_str())
    );
    // The fragment is a line of its own, and the file ends with a whole line.
    let text = std::fs::read_to_string(&history).unwrap();
    assert!(text.lines().any(|line| line == "{\"at\":\"2026-"), "{text}");
    assert!(text.ends_with('\n'));
}

#[test]
fn concurrent_promotions_each_log_a_change_from_the_alias_the_previous_one_set() {
    for backend in backends() {
        let registry = &backend.registry;
        // As many as the folder's lock serialises easily; 50 against object storage, where each
        // loser of a swap decides again over the network.
        let promotions = if backend.folder().is_some() { 100 } else { 50 };
        let versions: Vec<String> = (0..3).map(|_| publish(registry, "rides", false)).collect();
        std::thread::scope(|scope| {
            for i in 0..promotions {
                let registry = registry.clone();
                let version = &versions[i % versions.len()];
                scope.spawn(move || registry.promote(version).unwrap());
            }
        });

        let entries: Vec<HistoryEntry> = registry
            .history()
            .unwrap()
            .into_iter()
            .filter(|e| e.dataset == "rides" && e.alias == PRODUCTION)
            .collect();
        assert_eq!(
            entries.len(),
            1 + promotions,
            "the first publish and every promotion"
        );
        for pair in entries.windows(2) {
            assert_eq!(
                pair[1].from.as_ref(),
                Some(&pair[0].to),
                "a change was logged from a version the alias no longer named: {pair:?}"
            );
        }
        let last = entries.last().unwrap();
        assert_eq!(registry.production("rides").unwrap(), Some(last.to.clone()));
    }
}

/// An alias removed by hand (to stop serving a dataset) and set again later continues the same
/// history: its changes are all listed, and a rollback goes back through them.
#[test]
fn a_removed_alias_set_again_continues_its_history() {
    for backend in backends() {
        let registry = &backend.registry;
        publish(registry, "rides", false);
        publish(registry, "rides", true);
        backend.remove(&["aliases", "rides", "production.json"]);
        let c = publish(registry, "rides", false);
        let d = publish(registry, "rides", true);
        let entries: Vec<HistoryEntry> = registry
            .history()
            .unwrap()
            .into_iter()
            .filter(|e| e.dataset == "rides")
            .collect();
        assert_eq!(entries.len(), 4, "{}: {entries:?}", backend.label);
        assert_eq!(entries[2].from, None, "set again from no alias");
        assert_eq!((entries[3].from.as_ref(), &entries[3].to), (Some(&c), &d));
        assert_eq!(registry.rollback("rides").unwrap(), c, "{}", backend.label);
    }
}
