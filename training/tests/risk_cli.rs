//! `civicast-train risk` on a small synthetic dataset: it backtests plans, fits the classifier and
//! writes the evaluation, and refuses bad options with a message naming them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::Fixture;

fn train() -> Command {
    Command::new(env!("CARGO_BIN_EXE_civicast-train"))
}

/// Five daily series of 150 days, a weekly pattern times a level that jumps week to week (a
/// pseudo-random factor in [0.7, 1.3]), so plans made from last week's total sometimes waste.
fn fixture() -> Fixture {
    let manifest = r#"name = "tiny_risk"
unit = "riders"

[data]
path = "data.csv"
id = "unique_id"
time = "ds"
target = "y"
frequency = "1d"

[forecast]
horizon = 14
season_lengths = [7]

[backtest]
windows = 2
step = 7
"#;
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let mut data = String::from("unique_id,ds,y\n");
    for s in 0..5u64 {
        for d in 0..150u64 {
            let week = d / 7;
            let level = 0.7 + 0.6 * ((week * 7919 + s * 104_729) % 101) as f64 / 100.0;
            let y = level * (10.0 + (d % 7) as f64) + ((d * 31 + s) % 5) as f64 * 0.2;
            let day = start + chrono::TimeDelta::days(d as i64);
            data.push_str(&format!("s{s},{day},{y:.3}\n"));
        }
    }
    Fixture::new(manifest, &data)
}

#[test]
fn risk_writes_the_evaluation_and_a_classifier_the_service_can_apply() {
    let fixture = fixture();
    let out_dir = fixture.path("out");
    let out = train()
        .args([
            "risk",
            "--quiet",
            "--origins",
            "12",
            "--paths",
            "200",
            "--out",
        ])
        .arg(&out_dir)
        .arg(fixture.manifest())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let evaluation: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("evaluation.json")).unwrap())
            .unwrap();
    assert_eq!(evaluation["dataset"], "tiny_risk");
    // The default model is the one fit publishes, fitted four times over the twelve origins.
    assert_eq!(evaluation["model"], "auto");
    assert_eq!(evaluation["refit_every"], 3);
    assert_eq!(evaluation["held_out_series"], true);
    assert!(evaluation["train"].as_u64().unwrap() > 0);
    assert!(evaluation["test"].as_u64().unwrap() > 0);
    // 150 days are under two years: the plans come from the same period a week earlier.
    assert_eq!(evaluation["rule"]["basis"], "week");
    for predictor in ["flag", "raw", "calibrated", "base_rate"] {
        let brier = evaluation[predictor]["brier"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&brier), "{predictor}: {brier}");
        assert!(evaluation[predictor]["log_loss"].as_f64().unwrap() > 0.0);
        assert!(
            evaluation[predictor]["brier_skill"]
                .as_f64()
                .unwrap()
                .is_finite()
        );
    }
    assert_eq!(evaluation["base_rate"]["brier_skill"], 0.0);
    let verdict = evaluation["verdict"].as_str().unwrap();
    let beats = evaluation["classifier_beats_raw"].as_bool().unwrap();
    assert_eq!(verdict.contains("does NOT beat"), !beats, "{verdict}");
    // The flags use a predictor that beat the base rate on both scores, or the base rate.
    let skilled = |predictor: &str| {
        evaluation[predictor]["brier_skill"].as_f64().unwrap() > 0.0
            && evaluation[predictor]["log_loss_skill"].as_f64().unwrap() > 0.0
    };
    let source = &evaluation["flag_source"];
    match source["kind"].as_str().unwrap() {
        "classifier" => assert!(skilled("calibrated"), "{source}"),
        "raw" => assert!(skilled("raw"), "{source}"),
        "level_frequency" => {
            assert!(skilled("flag") && !skilled("raw") && !skilled("calibrated"));
            assert_eq!(source["frequencies"].as_array().unwrap().len(), 4);
        }
        "base_rate" => {
            assert!(!skilled("flag") && !skilled("raw") && !skilled("calibrated"));
            let rate = source["rate"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&rate), "{source}");
        }
        other => panic!("unknown flag source {other}"),
    }
    assert!(verdict.contains("Flags use"), "{verdict}");

    let classifier: civicast_model::risk::classifier::RiskClassifier =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("classifier.json")).unwrap())
            .unwrap();
    assert!(classifier.is_compatible());
    let svg = std::fs::read_to_string(out_dir.join("reliability.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("(c) calibrated"));
    let markdown = std::fs::read_to_string(out_dir.join("evaluation.md")).unwrap();
    assert!(markdown.contains("| (b) raw forecast probability |"));
    let examples = std::fs::read_to_string(out_dir.join("examples.csv")).unwrap();
    // Five series, twelve origins, two weeks per origin (a few early ones lack history).
    assert!(
        examples.lines().count() > 5 * 10 * 2,
        "{}",
        examples.lines().count()
    );
}

#[test]
fn risk_refuses_bad_options_naming_them() {
    let fixture = fixture();
    for (args, expected) in [
        (vec!["--model", "prophet"], "unknown model \"prophet\""),
        (vec!["--tolerance", "1.5"], "--tolerance"),
        (vec!["--origins", "0"], "--origins"),
        (vec!["--refit-every", "0"], "--refit-every"),
    ] {
        let out = train()
            .arg("risk")
            .args(&args)
            .arg("--out")
            .arg(fixture.path("out"))
            .arg(fixture.manifest())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn risk_with_a_registry_publishes_the_production_models_again_with_the_classifier() {
    let fixture = fixture();
    let registry_dir = fixture.path("registry");
    let fit = train()
        .args(["fit", "--quiet", "--models", "snaive,ets", "--registry"])
        .arg(&registry_dir)
        .arg(fixture.manifest())
        .output()
        .unwrap();
    assert!(
        fit.status.success(),
        "{}",
        String::from_utf8_lossy(&fit.stderr)
    );
    let registry = civicast_registry::Registry::new(&registry_dir);
    let fitted = registry.production("tiny_risk").unwrap().unwrap();
    assert_eq!(registry.load_risk(&fitted).unwrap(), None);

    let out = train()
        .args([
            "risk",
            "--quiet",
            "--origins",
            "12",
            "--paths",
            "200",
            "--promote",
        ])
        .arg("--out")
        .arg(fixture.path("out"))
        .arg("--registry")
        .arg(&registry_dir)
        .arg(fixture.manifest())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let with_risk = registry.production("tiny_risk").unwrap().unwrap();
    assert_ne!(
        with_risk, fitted,
        "versions are immutable: a new one is published"
    );
    let (manifest, models) = registry.load(&with_risk).unwrap();
    let (_, old_models) = registry.load(&fitted).unwrap();
    assert_eq!(
        models, old_models,
        "the models are the production version's"
    );
    assert_eq!(manifest.series.len(), 5);
    let risk = registry.load_risk(&with_risk).unwrap().unwrap();
    assert!(risk.classifier.is_compatible());
    let evaluation: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture.path("out/evaluation.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        json_bool(&evaluation["classifier_beats_raw"]),
        risk.beats_raw
    );
    assert_eq!(
        serde_json::to_value(risk.flag_source.unwrap()).unwrap(),
        evaluation["flag_source"]
    );
}

fn json_bool(value: &serde_json::Value) -> bool {
    value.as_bool().unwrap()
}

#[test]
fn risk_with_a_registry_needs_a_production_version_of_the_same_data() {
    let fixture = fixture();
    let out = train()
        .args(["risk", "--quiet", "--origins", "12", "--out"])
        .arg(fixture.path("out"))
        .arg("--registry")
        .arg(fixture.path("empty-registry"))
        .arg(fixture.manifest())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no production version"), "{err}");
}

#[test]
fn risk_backtests_plans_with_a_learned_model_through_the_same_interface() {
    let fixture = fixture();
    let out_dir = fixture.path("out");
    let out = train()
        .args([
            "risk",
            "--quiet",
            "--model",
            "linear",
            "--origins",
            "6",
            "--paths",
            "100",
            "--out",
        ])
        .arg(&out_dir)
        .arg(fixture.manifest())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let examples = std::fs::read_to_string(out_dir.join("examples.csv")).unwrap();
    // Five series, six origins, two weeks per origin.
    assert!(examples.lines().count() > 5 * 5 * 2, "{examples}");
}
