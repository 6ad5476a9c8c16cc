//! Shared fixtures for the training crate's integration tests: small datasets written to a
//! temporary folder, so each test can break one thing and look for the problem it causes.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use civicast_training::{ProblemKind, Report};

/// A temporary folder holding `dataset.toml` and `data.csv`.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    /// A fixture with this manifest and data file text.
    pub fn new(manifest: &str, data: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dataset.toml"), manifest).unwrap();
        std::fs::write(dir.path().join("data.csv"), data).unwrap();
        Fixture { dir }
    }

    /// The manifest's path.
    pub fn manifest(&self) -> PathBuf {
        self.dir.path().join("dataset.toml")
    }

    /// Path of a file in the fixture folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Loads the dataset and returns the report, failing the test if it loaded.
    pub fn problems(&self) -> Report {
        match civicast_training::load_dataset(&self.manifest()) {
            Ok(d) => panic!("expected problems, but the dataset loaded: {:?}", d.info),
            Err(report) => report,
        }
    }
}

/// The standard manifest: daily data, columns `unique_id, ds, y, temp`, horizon 3, weekly season,
/// 2 backtest windows 3 apart, so a series needs 2*7 + 3 + 3 = 20 observations.
pub fn manifest_with(extra_data: &str) -> String {
    format!(
        r#"name = "tiny"
unit = "riders"

[data]
path = "data.csv"
id = "unique_id"
time = "ds"
target = "y"
frequency = "1d"
{extra_data}

[exogenous]
future_known = ["temp"]

[forecast]
horizon = 3
season_lengths = [7]

[backtest]
windows = 2
step = 3
"#
    )
}

/// The standard manifest without extras.
pub fn manifest() -> String {
    manifest_with("")
}

/// Rows `(id, ds, y, temp)` of `days` consecutive days from 2024-01-01 for each id.
pub fn rows(ids: &[&str], days: usize) -> Vec<[String; 4]> {
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let mut out = Vec::new();
    for id in ids {
        for d in 0..days {
            let day = start + chrono::TimeDelta::days(d as i64);
            out.push([
                id.to_string(),
                day.to_string(),
                format!("{}", 10 + d % 7),
                format!("{:.1}", 20.0 + (d % 5) as f64),
            ]);
        }
    }
    out
}

/// CSV text (with header) of rows.
pub fn csv(rows: &[[String; 4]]) -> String {
    let mut text = String::from("unique_id,ds,y,temp\n");
    for r in rows {
        text.push_str(&r.join(","));
        text.push('\n');
    }
    text
}

/// A valid two-series CSV, 30 days each.
pub fn valid_csv() -> String {
    csv(&rows(&["a", "b"], 30))
}

/// The problems of `kind` in a report.
pub fn of_kind(report: &Report, kind: ProblemKind) -> Vec<&civicast_training::Problem> {
    report
        .problems()
        .iter()
        .filter(|p| p.kind == kind)
        .collect()
}

/// The only problem of `kind`, failing the test (with the whole report) if there is not exactly one.
pub fn only(report: &Report, kind: ProblemKind) -> civicast_training::Problem {
    let found = of_kind(report, kind);
    assert_eq!(
        found.len(),
        1,
        "expected one {kind:?} problem in:\n{report}"
    );
    found[0].clone()
}

/// Runs `civicast-train` with `args` to its end.
pub fn train(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_civicast-train"))
        .args(args)
        .output()
        .unwrap()
}

/// The bundled datasets folder.
pub fn datasets() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets"))
}
