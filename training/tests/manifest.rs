//! Manifests: misspelt keys, bad values and missing files are named.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use civicast_training::problem::Location;
use civicast_training::{Manifest, ProblemKind};
use common::*;

fn manifest_problems(text: &str) -> civicast_training::Report {
    let fixture = Fixture::new(text, &valid_csv());
    Manifest::load(&fixture.manifest()).unwrap_err()
}

#[test]
fn a_misspelt_key_is_rejected_and_named() {
    let report = manifest_problems(&manifest().replace("horizon = 3", "horizn = 3"));
    let problem = only(&report, ProblemKind::UnknownKey);
    match &problem.location {
        Some(Location::Key { key, line }) => {
            assert_eq!(key, "horizn");
            assert_eq!(*line, Some(16), "the line of the misspelt key");
        }
        other => panic!("expected a key location, got {other:?}"),
    }
    assert!(
        problem.message.contains("horizon"),
        "suggests the known keys: {problem}"
    );
}

#[test]
fn an_unknown_top_level_key_is_named() {
    let report = manifest_problems(&format!("colour = \"blue\"\n{}", manifest()));
    let problem = only(&report, ProblemKind::UnknownKey);
    assert!(matches!(problem.location, Some(Location::Key { ref key, .. }) if key == "colour"));
}

#[test]
fn all_bad_values_are_reported_together_with_their_keys() {
    let text = manifest()
        .replace("frequency = \"1d\"", "frequency = \"2x\"")
        .replace("horizon = 3", "horizon = 0")
        .replace("windows = 2", "windows = -1")
        .replace("name = \"tiny\"", "name = \"../etc\"");
    let report = manifest_problems(&text);
    let keys: Vec<String> = of_kind(&report, ProblemKind::BadValue)
        .iter()
        .filter_map(|p| match &p.location {
            Some(Location::Key { key, .. }) => Some(key.clone()),
            _ => None,
        })
        .collect();
    for key in [
        "name",
        "data.frequency",
        "forecast.horizon",
        "backtest.windows",
    ] {
        assert!(
            keys.iter().any(|k| k == key),
            "{key} not reported in {report}"
        );
    }
}

#[test]
fn a_bad_fill_rule_lists_the_allowed_ones() {
    let report = manifest_problems(&manifest_with("fill_gaps = \"linear\""));
    let problem = only(&report, ProblemKind::BadValue);
    assert!(problem.message.contains("zero"), "{problem}");
}

#[test]
fn a_missing_required_key_is_named() {
    let report = manifest_problems(&manifest().replace("frequency = \"1d\"\n", ""));
    let problem = only(&report, ProblemKind::BadValue);
    assert!(problem.message.contains("frequency"), "{problem}");
}

#[test]
fn a_column_with_two_roles_is_rejected() {
    let report = manifest_problems(&manifest().replace("[\"temp\"]", "[\"temp\", \"y\"]"));
    let problem = only(&report, ProblemKind::BadValue);
    assert!(problem.message.contains("\"y\""), "{problem}");
}

#[test]
fn paths_that_do_not_exist_are_named_with_their_key() {
    let text = format!(
        "{}\n[calendar]\nholidays = \"nowhere.csv\"\n",
        manifest().replace("data.csv", "missing.csv")
    );
    let report = manifest_problems(&text);
    let missing = of_kind(&report, ProblemKind::MissingFile);
    assert_eq!(missing.len(), 2, "{report}");
    assert!(missing[0].message.contains("missing.csv"));
    assert!(missing[1].message.contains("nowhere.csv"));
}

#[test]
fn a_manifest_that_does_not_exist_or_is_not_toml_is_reported() {
    let fixture = Fixture::new("name = [", "");
    let report = Manifest::load(&fixture.path("nope.toml")).unwrap_err();
    only(&report, ProblemKind::MissingFile);
    let report = Manifest::load(&fixture.manifest()).unwrap_err();
    let problem = only(&report, ProblemKind::ManifestSyntax);
    assert_eq!(problem.location, Some(Location::Line(1)));
}

#[test]
fn defaults_follow_the_long_format_convention() {
    let text = "name = \"m\"\n[data]\npath = \"data.csv\"\nfrequency = \"1mo\"\n[forecast]\nhorizon = 12\n";
    let fixture = Fixture::new(text, "");
    let manifest = Manifest::load(&fixture.manifest()).unwrap();
    assert_eq!(manifest.data.time, "ds");
    assert_eq!(manifest.data.target, "y");
    assert_eq!(manifest.data.id, None);
    assert_eq!((manifest.backtest.windows, manifest.backtest.step), (1, 12));
    assert_eq!(manifest.min_series_length(), 2 + 12);
}
