//! `fit` and `registry` as a user runs them, including a crash at every step of a publication.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use civicast_registry::Registry;
use common::*;

fn fit(manifest: &Path, registry: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "fit",
        manifest.to_str().unwrap(),
        "--registry",
        registry.to_str().unwrap(),
        "--quiet",
    ];
    args.extend(extra);
    train(&args)
}

#[test]
fn fit_publishes_a_verified_version_with_per_series_choices() {
    let fixture = Fixture::new(&manifest(), &valid_csv());
    let registry = fixture.path("registry");
    let out = fit(&fixture.manifest(), &registry, &["--models", "snaive"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reg = Registry::new(&registry);
    let version = reg
        .production("tiny")
        .unwrap()
        .expect("first version is in production");
    let (manifest, models) = reg.load(&version).unwrap();
    assert_eq!(manifest.dataset.series, 2);
    assert_eq!(manifest.dataset.rows, 60);
    assert_eq!(manifest.series[0].id, "a");
    assert_eq!(manifest.series[0].end, "2024-01-30");
    assert_eq!(manifest.series[0].model, "snaive");
    assert!(manifest.series[0].backtest.contains_key("snaive"));
    assert_eq!(models.forecasters["snaive"].len(), 2);
    let data = std::fs::read(fixture.path("data.csv")).unwrap();
    assert_eq!(
        manifest.dataset.data_sha256,
        civicast_registry::sha256_hex(&data)
    );
}

#[test]
fn several_manifests_are_fitted_in_one_run_and_a_bad_one_does_not_stop_the_others() {
    let first = Fixture::new(&manifest(), &valid_csv());
    let second = Fixture::new(
        &manifest().replace("name = \"tiny\"", "name = \"tiny2\""),
        &valid_csv(),
    );
    let broken = Fixture::new(&manifest(), "unique_id,ds,y,temp\na,not a date,1,2\n");
    let registry = first.path("registry");
    let out = train(&[
        "fit",
        first.manifest().to_str().unwrap(),
        broken.manifest().to_str().unwrap(),
        second.manifest().to_str().unwrap(),
        "--registry",
        registry.to_str().unwrap(),
        "--models",
        "snaive",
        "--quiet",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the broken dataset fails the run"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("INVALID"), "{stderr}");
    let reg = Registry::new(&registry);
    assert!(reg.production("tiny").unwrap().is_some());
    assert!(reg.production("tiny2").unwrap().is_some());
    assert!(
        reg.training().unwrap().is_empty(),
        "every marker is cleared when the run ends"
    );
}

#[test]
fn registry_commands_list_show_promote_rollback_and_verify() {
    let fixture = Fixture::new(&manifest(), &valid_csv());
    let registry = fixture.path("registry");
    let reg_arg = registry.to_str().unwrap();
    assert!(
        fit(&fixture.manifest(), &registry, &["--models", "snaive"])
            .status
            .success()
    );
    assert!(
        fit(
            &fixture.manifest(),
            &registry,
            &["--models", "snaive", "--promote"]
        )
        .status
        .success()
    );
    let reg = Registry::new(&registry);
    let versions: Vec<String> = reg
        .list()
        .unwrap()
        .into_iter()
        .map(|v| v.unwrap().version)
        .collect();
    assert_eq!(versions.len(), 2);
    assert_eq!(reg.production("tiny").unwrap().as_ref(), Some(&versions[1]));

    let list =
        String::from_utf8(train(&["registry", "--registry", reg_arg, "list"]).stdout).unwrap();
    assert!(
        list.contains(&versions[0]) && list.contains("[production]"),
        "{list}"
    );
    let show = train(&["registry", "--registry", reg_arg, "show", &versions[0]]);
    let json: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(json["dataset"]["name"], "tiny");

    let rollback = train(&["registry", "--registry", reg_arg, "rollback"]);
    assert!(
        rollback.status.success(),
        "{}",
        String::from_utf8_lossy(&rollback.stderr)
    );
    assert_eq!(reg.production("tiny").unwrap().as_ref(), Some(&versions[0]));
    assert!(
        train(&["registry", "--registry", reg_arg, "promote", &versions[1]])
            .status
            .success()
    );
    assert_eq!(reg.production("tiny").unwrap().as_ref(), Some(&versions[1]));

    let verify = train(&["registry", "--registry", reg_arg, "verify"]);
    assert!(verify.status.success());
    let models = registry
        .join("versions")
        .join(&versions[0])
        .join("models.json");
    let mut bytes = std::fs::read(&models).unwrap();
    bytes.push(b' ');
    std::fs::write(&models, bytes).unwrap();
    let verify = train(&["registry", "--registry", reg_arg, "verify"]);
    assert_eq!(verify.status.code(), Some(1));
    let text = String::from_utf8(verify.stdout).unwrap();
    assert!(
        text.contains(&format!("version {} failed verification", versions[0])),
        "{text}"
    );
    assert!(text.contains("models.json: SHA-256 is"), "{text}");
    assert!(text.contains(&format!("{}: ok", versions[1])), "{text}");
}

/// Where the crash test's registries go: folders always, and prefixes of the S3-compatible server
/// `CIVICAST_TEST_S3` names when it is set (see scripts/s3).
fn locations(fixture: &Fixture, name: &str) -> Vec<String> {
    let mut locations = vec![fixture.path(name).to_str().unwrap().to_owned()];
    if let Ok(base) = std::env::var("CIVICAST_TEST_S3") {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        locations.push(format!(
            "{}/{name}-{}-{nanos}",
            base.trim_end_matches('/'),
            std::process::id()
        ));
    }
    locations
}

/// Aborts `fit` (as `kill -9` would) at each step of publishing a second version and checks that
/// the registry stays valid: every listed version verifies, and production names the first
/// version or the complete second one. In object storage the alias is swapped before its history
/// entry is written (the entry travels in the alias until then), so there the history must still
/// end with the change the alias shows.
#[test]
fn a_crash_at_any_step_of_fit_leaves_the_registry_valid() {
    let fixture = Fixture::new(&manifest(), &valid_csv());
    for step in [
        "models-written",
        "staged",
        "published",
        "history-appended",
        "alias-set",
    ] {
        for location in locations(&fixture, &format!("registry-{step}")) {
            let remote = location.starts_with("s3://");
            // Object storage has no staging folder to rename from: no such step.
            if remote && step == "staged" {
                continue;
            }
            let registry = Path::new(&location);
            assert!(
                fit(&fixture.manifest(), registry, &["--models", "snaive"])
                    .status
                    .success()
            );
            let reg = Registry::open(&location, Default::default()).unwrap();
            let first = reg.production("tiny").unwrap().unwrap();

            let crashed = Command::new(env!("CARGO_BIN_EXE_civicast-train"))
                .args([
                    "fit",
                    fixture.manifest().to_str().unwrap(),
                    "--quiet",
                    "--promote",
                    "--models",
                    "snaive",
                    "--registry",
                    &location,
                ])
                .env(civicast_registry::store::FAULT_INJECTION_VAR, step)
                .output()
                .unwrap();
            assert!(
                !crashed.status.success(),
                "{location} {step}: the fault was not injected"
            );

            let versions: Vec<String> = reg
                .list()
                .unwrap()
                .into_iter()
                .map(|v| v.unwrap().version)
                .collect();
            for v in &versions {
                reg.verify(v)
                    .unwrap_or_else(|e| panic!("{location} {step}: {e}"));
            }
            let production = reg.production("tiny").unwrap().unwrap();
            assert!(
                versions.contains(&production),
                "{location} {step}: production names a listed version"
            );
            let expected_versions = if matches!(step, "models-written" | "staged") {
                1
            } else {
                2
            };
            assert_eq!(
                versions.len(),
                expected_versions,
                "{location} {step}: {versions:?}"
            );
            let alias_changed = step == "alias-set" || (remote && step == "history-appended");
            if !alias_changed {
                assert_eq!(
                    production, first,
                    "{location} {step}: the alias had not changed yet"
                );
            }
            if remote {
                let history = reg.history().unwrap();
                assert_eq!(
                    history.last().map(|h| &h.to),
                    Some(&production),
                    "{location} {step}: {history:?}"
                );
            }
            // The registry keeps working after the crash.
            assert!(
                fit(
                    &fixture.manifest(),
                    registry,
                    &["--models", "snaive", "--promote"]
                )
                .status
                .success()
            );
            let verify = train(&["registry", "--registry", &location, "verify"]);
            assert!(
                verify.status.success(),
                "{location} {step}: {}",
                String::from_utf8_lossy(&verify.stdout)
            );
            if remote {
                let history = reg.history().unwrap();
                for pair in history.windows(2) {
                    assert_eq!(pair[1].from.as_ref(), Some(&pair[0].to), "{history:?}");
                }
            }
        }
    }
}

#[test]
fn bad_input_to_fit_and_registry_gets_clear_errors() {
    let fixture = Fixture::new(&manifest(), &valid_csv());
    let registry = fixture.path("registry");
    let reg_arg = registry.to_str().unwrap();

    let out = fit(&fixture.manifest(), &registry, &["--metric", "accuracy"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown metric \"accuracy\""));

    let out = train(&["registry", "--registry", reg_arg, "promote", "../../etc"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a valid name"));

    let out = train(&[
        "registry",
        "--registry",
        reg_arg,
        "show",
        "tiny-20990101T000000Z",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));

    let out = train(&[
        "registry",
        "--registry",
        reg_arg,
        "rollback",
        "--dataset",
        "tiny",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no production version"));

    let blocker = fixture.path("file");
    std::fs::write(&blocker, "x").unwrap();
    let out = fit(
        &fixture.manifest(),
        &blocker.join("registry"),
        &["--models", "snaive"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("file/registry"));
}

#[test]
fn fit_publishes_a_learned_global_model_that_forecasts_from_the_version_alone() {
    let fixture = Fixture::new(&manifest(), &csv(&rows(&["a", "b"], 220)));
    let registry = fixture.path("registry");
    let out = fit(&fixture.manifest(), &registry, &["--models", "linear"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reg = Registry::new(&registry);
    let version = reg.production("tiny").unwrap().unwrap();
    let (manifest, models) = reg.load(&version).unwrap();
    assert!(manifest.series.iter().all(|s| s.model == "linear"));
    assert_eq!(
        models.forecasters.keys().collect::<Vec<_>>(),
        ["linear"],
        "no statistical model was chosen"
    );
    let published = &models.forecasters["linear"];
    assert_eq!(published.len(), 2);
    // The last observation of "b" (day 219: 10 + 219 % 7) ends its history.
    assert_eq!(models.history["b"].last(), Some(&(10.0 + (219 % 7) as f64)));
    let index = published.series_indices()["b"];
    // It forecasts from the version alone; without future temperatures it says it used the
    // climatology, and given ones are used instead.
    let forecast = published.forecast(index, 3, &[0.1, 0.9], None).unwrap();
    assert!(
        forecast.notes.iter().any(|n| n.contains("temp")),
        "{:?}",
        forecast.notes
    );
    assert!(forecast.forecast.point.iter().all(|v| v.is_finite()));
    let given = std::collections::BTreeMap::from([("temp".to_owned(), vec![21.0, 22.0, 23.0])]);
    assert!(
        published
            .forecast(index, 3, &[0.5], Some(&given))
            .unwrap()
            .notes
            .is_empty()
    );
}
