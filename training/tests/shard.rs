//! Sharded fitting as a user runs it: the shared stage, N shard processes and `registry assemble`
//! publish the version an unsharded `fit` publishes, whatever N is.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use civicast_registry::Registry;
use common::train;

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn err(out: Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Chicago's ridership cut to keep a debug build's test short: six stations, their last 420
/// days with every weather and game column, the holidays, Chicago's horizon and step, two
/// backtest windows and the weekly season.
fn chicago(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets");
    let text =
        std::fs::read_to_string(root.join("chicago_ridership/chicago_ridership.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    // By shard of 4: Kedzie; none (an empty shard); Austin; the other four.
    let stations = [
        "Addison",
        "Austin",
        "Clark_Lake",
        "Harlem",
        "Belmont",
        "Kedzie",
    ];
    let mut by_station: Vec<Vec<&str>> = vec![Vec::new(); stations.len()];
    for line in lines {
        let id = line.split(',').next().unwrap();
        if let Some(s) = stations.iter().position(|&st| st == id) {
            by_station[s].push(line);
        }
    }
    let mut csv = format!("{header}\n");
    for rows in &by_station {
        assert!(rows.len() > 420, "a station of the cut is missing");
        for row in &rows[rows.len() - 420..] {
            csv.push_str(row);
            csv.push('\n');
        }
    }
    std::fs::write(dir.join("chicago.csv"), csv).unwrap();
    std::fs::copy(
        root.join("calendars/holidays_us_il.csv"),
        dir.join("holidays.csv"),
    )
    .unwrap();
    let manifest = dir.join("dataset.toml");
    std::fs::write(
        &manifest,
        r#"name = "chicago_ridership"
unit = "thousand riders per day"

[data]
path = "chicago.csv"
id = "unique_id"
time = "ds"
target = "y"
frequency = "1d"

[calendar]
holidays = "holidays.csv"

[exogenous]
future_known = ["temp_min", "temp", "temp_max", "percip", "weather_rain", "weather_snow", "weather_cloud", "weather_storm", "home_game"]

[forecast]
horizon = 14
season_lengths = [7]

[backtest]
windows = 2
step = 14
"#,
    )
    .unwrap();
    manifest
}

fn published(stdout: &str) -> String {
    stdout
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no version in {stdout:?}"))
        .to_owned()
}

/// Every series' forecast as the service makes it from a version: 14 steps, the protocol's
/// quantiles, no future values given (the climatology stands in).
fn served(registry: &Registry, version: &str) -> Vec<String> {
    let (manifest, models) = registry.load(version).unwrap();
    let probabilities = civicast_model::metrics::PROTOCOL_QUANTILES;
    manifest
        .series
        .iter()
        .map(|entry| {
            let forecaster = &models.forecasters[&entry.model];
            let index = forecaster.series_indices()[entry.id.as_str()];
            let made = forecaster
                .forecast(index, 14, &probabilities, None)
                .unwrap();
            format!("{} {:?} {:?}", entry.id, made.forecast, made.notes)
        })
        .collect()
}

#[test]
fn a_fit_sharded_one_two_or_four_ways_publishes_what_fit_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = chicago(dir.path());
    let manifest = manifest.to_str().unwrap();
    let registry_dir = dir.path().join("registry");
    let registry = registry_dir.to_str().unwrap();
    let models = ["--models", "auto,ets"];

    let fit = |extra: &[&str]| -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_civicast-train"));
        command
            .args([
                "fit",
                manifest,
                "--registry",
                registry,
                "-q",
                "--threads",
                "1",
            ])
            .args(extra);
        command
    };
    let run_all = |stage: &[&str], count: usize| {
        // As separate processes, at the same time.
        let children: Vec<_> = (0..count)
            .map(|index| {
                let shard = format!("{index}/{count}");
                fit(&[stage, &["--shard", &shard], &models[..]].concat())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut child in children {
            assert!(child.wait().unwrap().success());
        }
    };
    let assemble = || train(&["registry", "--registry", registry, "assemble", manifest]);

    // Before the shared stage, a shard says what to run first.
    let early = err(fit(&[&["--shard", "0/2"][..], &models].concat())
        .output()
        .unwrap());
    assert!(early.contains("--stage shared"), "{early}");

    let mut versions = Vec::new();
    for count in [1usize, 2, 4] {
        // The shared stage in as many pieces as there are shards, then the shards.
        run_all(&["--stage", "shared"], count);
        if count == 2 {
            // A shard fitted with other settings than the shared stage is refused, naming them.
            let other = err(fit(&["--shard", "0/2", "--models", "auto"])
                .output()
                .unwrap());
            assert!(
                other.contains("models: auto,ets there, auto here"),
                "{other}"
            );
        }
        run_all(&[], count);
        if count == 4 {
            // A piece or a part missing is named, with the command that makes it.
            for (file, command) in [
                ("part-2-of-4.json", "fit --shard 2/4"),
                ("shared-1-of-4.json", "fit --stage shared --shard 1/4"),
            ] {
                let path = registry_dir.join("shards/chicago_ridership").join(file);
                let kept = std::fs::read(&path).unwrap();
                std::fs::remove_file(&path).unwrap();
                let missing = err(assemble());
                assert!(missing.contains(&format!("{file} is missing")), "{missing}");
                assert!(missing.contains(command), "{missing}");
                std::fs::write(&path, kept).unwrap();
            }
        }
        let out = ok(assemble());
        assert!(out.contains(&format!("from {count} shards")), "{out}");
        versions.push(published(&out));
        // The run's files are used up and removed: the next run starts clean.
        let left = std::fs::read_dir(registry_dir.join("shards/chicago_ridership"))
            .unwrap()
            .count();
        assert_eq!(left, 0, "{count} shards");
    }

    let whole_dir = dir.path().join("whole");
    let whole = ok(train(
        &[
            &["fit", manifest, "--registry", whole_dir.to_str().unwrap()][..],
            &models,
        ]
        .concat(),
    ));

    let registry = Registry::new(&registry_dir);
    let whole_registry = Registry::new(&whole_dir);
    let whole_version = published(&whole);
    let reference = served(&whole_registry, &whole_version);
    let (whole_manifest, whole_models) = whole_registry.load(&whole_version).unwrap();
    assert_eq!(reference.len(), 6);
    for (count, version) in [1, 2, 4].iter().zip(&versions) {
        assert_eq!(served(&registry, version), reference, "{count} shards");
        let (manifest, models) = registry.load(version).unwrap();
        // Same choices and backtest scores, same fitted models value for value.
        assert_eq!(
            serde_json::to_string(&manifest.series).unwrap(),
            serde_json::to_string(&whole_manifest.series).unwrap(),
            "{count} shards"
        );
        assert_eq!(
            serde_json::to_string(&models).unwrap(),
            serde_json::to_string(&whole_models).unwrap(),
            "{count} shards"
        );
    }
}
