//! Backtests follow the protocol: cutoffs, file layout, metrics, and the reference numbers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use civicast_model::ModelId;
use civicast_training::backtest::{BacktestOptions, run_backtest};
use civicast_training::load_dataset;
use civicast_training::output::{MetricsReport, predictions_csv};
use common::*;

fn train() -> Command {
    Command::new(env!("CARGO_BIN_EXE_civicast-train"))
}

fn options(models: Vec<ModelId>) -> BacktestOptions {
    BacktestOptions {
        models,
        input_size: None,
        progress: false,
    }
}

#[test]
fn predictions_have_one_row_per_series_cutoff_and_step_in_protocol_columns() {
    let fixture = Fixture::new(&manifest(), &valid_csv());
    let dataset = load_dataset(&fixture.manifest()).unwrap();
    let backtest = run_backtest(&dataset, &options(vec![ModelId::Snaive])).unwrap();
    let csv = predictions_csv(&dataset, &backtest);
    let lines: Vec<&str> = csv.lines().collect();
    // 2 series x 2 windows x horizon 3.
    assert_eq!(lines.len(), 1 + 12);
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(&header[..5], ["unique_id", "ds", "cutoff", "y", "snaive"]);
    assert_eq!(header[5], "snaive-q0.025");
    assert_eq!(header[15], "snaive-q0.5");
    assert_eq!(header[25], "snaive-q0.975");
    assert_eq!(header.len(), 26);
    // 30 days from 2024-01-01: the last cutoff is day 27 (N - h), the first 3 days earlier.
    assert!(
        lines[1].starts_with("a,2024-01-25,2024-01-24,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[4].starts_with("a,2024-01-28,2024-01-27,"),
        "{}",
        lines[4]
    );
    assert!(
        lines[12].starts_with("b,2024-01-30,2024-01-27,"),
        "{}",
        lines[12]
    );
}

#[test]
fn seasonal_naive_repeats_the_week_before_each_cutoff() {
    let fixture = Fixture::new(&manifest(), &valid_csv());
    let dataset = load_dataset(&fixture.manifest()).unwrap();
    let backtest = run_backtest(&dataset, &options(vec![ModelId::Snaive])).unwrap();
    // y = 10 + day % 7 is exactly weekly, so seasonal naive is perfect.
    let scores = &backtest.models[0].scores;
    assert_eq!(scores.rmse, 0.0);
    assert_eq!(scores.n_pairs, 4);
}

/// The reference library's SeasonalNaive (anchor_results.md) on the bundled data. Seasonal naive
/// has no fitting choices, so equal numbers check our cutoffs, metrics and intervals end to end.
#[test]
fn seasonal_naive_reproduces_the_reference_scores_on_the_bundled_datasets() {
    let expected: [(&str, [f64; 6]); 3] = [
        // dataset, MASE, sMAPE, RMSE, cov80, cov95, sCRPS (anchor_results.md, 4 significant digits)
        (
            "chicago_ridership",
            [1.176, 12.07, 0.6304, 0.937, 0.954, 0.05575],
        ),
        (
            "bikeshare_hourly",
            [1.004, 52.66, 71.0, 0.863, 0.929, 0.1565],
        ),
        (
            "elecdemand_halfhourly",
            [0.9956, 8.40, 0.4533, 0.851, 0.955, 0.03229],
        ),
    ];
    for (name, want) in expected {
        let dataset = load_dataset(&datasets().join(name).join("dataset.toml")).unwrap();
        let mut opts = options(vec![ModelId::Snaive]);
        opts.input_size = dataset.manifest.forecast.input_size;
        let backtest = run_backtest(&dataset, &opts).unwrap();
        let s = &backtest.models[0].scores;
        let got = [s.mase, s.smape, s.rmse, s.cov80, s.cov95, s.scrps];
        for (metric, (g, w)) in ["MASE", "sMAPE", "RMSE", "cov80", "cov95", "sCRPS"]
            .iter()
            .zip(got.iter().zip(want))
        {
            // The anchors print 4 significant digits (3 decimals for coverage).
            let tolerance = if metric.starts_with("cov") {
                5e-4
            } else {
                w.abs() * 5e-4
            };
            assert!(
                (g - w).abs() <= tolerance,
                "{name} {metric}: ours {g}, reference {w}"
            );
        }
    }
}

#[test]
fn the_backtest_command_writes_predictions_and_metrics() {
    let fixture = Fixture::new(&manifest(), &valid_csv());
    let out = fixture.path("run");
    let status = train()
        .args(["backtest", "--quiet", "--models", "snaive", "--out"])
        .arg(&out)
        .arg(fixture.manifest())
        .status()
        .unwrap();
    assert!(status.success());
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert!(
        metrics.starts_with("model,MASE,sMAPE,RMSE,cov80,cov95,sCRPS,seconds,fallbacks\nsnaive,")
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(json["models"][0]["model"], "snaive");
    assert_eq!(json["models"][0]["n_pairs"], 4);
    assert_eq!(
        std::fs::read_to_string(out.join("predictions.csv"))
            .unwrap()
            .lines()
            .count(),
        13
    );
}

#[test]
fn metrics_report_lists_models_in_the_order_asked() {
    let fixture = Fixture::new(&manifest(), &valid_csv());
    let dataset = load_dataset(&fixture.manifest()).unwrap();
    let backtest = run_backtest(&dataset, &options(vec![ModelId::Snaive])).unwrap();
    let report = MetricsReport::new(&dataset, &backtest, None);
    assert!(report.to_table().contains("snaive"));
    assert_eq!(report.models.len(), 1);
}

fn stderr_of(args: &[&str]) -> (Option<i32>, String) {
    let out = train().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_input_to_backtest_gets_clear_errors() {
    let fixture = Fixture::new(&manifest(), &valid_csv());
    let manifest_path = fixture.manifest();
    let manifest_arg = manifest_path.to_str().unwrap();

    let (code, err) = stderr_of(&[
        "backtest",
        manifest_arg,
        "--models",
        "ets,prophet",
        "--out",
        "x",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("unknown model \"prophet\"") && err.contains("snaive"),
        "{err}"
    );

    let (code, err) = stderr_of(&["backtest", "/nowhere/dataset.toml", "--out", "x"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("/nowhere/dataset.toml") && err.contains("cannot read the manifest"),
        "{err}"
    );

    let zero = Fixture::new(
        &manifest().replace("horizon = 3", "horizon = 0"),
        &valid_csv(),
    );
    let (code, err) = stderr_of(&["backtest", zero.manifest().to_str().unwrap(), "--out", "x"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("forecast.horizon") && err.contains(">= 1"),
        "{err}"
    );

    let blocker = fixture.path("not-a-folder");
    std::fs::write(&blocker, "a file").unwrap();
    let out = blocker.join("run");
    let (code, err) = stderr_of(&[
        "backtest",
        manifest_arg,
        "--quiet",
        "--models",
        "snaive",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not-a-folder"), "{err}");
}
