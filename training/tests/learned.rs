//! The learned models work on any dataset a manifest describes, with no code changes: monthly,
//! 5-minute and integer-indexed data, with and without exogenous columns, one or many series.
//! Each synthetic dataset has a seasonal pattern (and, where it has one, an exogenous effect) that
//! a learned model can pick up, so besides "it runs" the tests check that `auto` forecasts are
//! sane: finite, ordered quantiles, and more accurate than seasonal naive.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;

use civicast_model::ModelId;
use civicast_training::backtest::{BacktestOptions, run_backtest};
use civicast_training::load_dataset;

/// A small deterministic pseudo-random sequence in [-1, 1] (no RNG dependency in the fixture).
fn noise(i: usize, series: usize) -> f64 {
    let x = ((i * 7919 + series * 104_729) % 10_007) as f64 / 10_007.0;
    2.0 * x - 1.0
}

struct Synthetic {
    frequency: &'static str,
    season: usize,
    horizon: usize,
    windows: usize,
    series: usize,
    length: usize,
    exogenous: bool,
}

impl Synthetic {
    /// Writes the manifest and CSV into a temporary folder.
    fn write(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let exogenous = if self.exogenous {
            "[exogenous]\nfuture_known = [\"x\"]\n"
        } else {
            ""
        };
        let manifest = format!(
            r#"name = "synthetic"
[data]
path = "data.csv"
id = "unique_id"
frequency = "{}"
{exogenous}
[forecast]
horizon = {}
season_lengths = [{}]

[backtest]
windows = {}
step = {}
"#,
            self.frequency, self.horizon, self.season, self.windows, self.horizon
        );
        std::fs::write(dir.path().join("dataset.toml"), manifest).unwrap();
        let mut csv = String::from(if self.exogenous {
            "unique_id,ds,y,x\n"
        } else {
            "unique_id,ds,y\n"
        });
        for s in 0..self.series {
            let level = 50.0 + 10.0 * s as f64;
            for i in 0..self.length {
                let phase = (i % self.season) as f64 / self.season as f64;
                let seasonal = 20.0 * (std::f64::consts::TAU * phase).sin();
                let x = 5.0 * noise(i, s + 1000);
                let effect = if self.exogenous { 3.0 * x } else { 0.0 };
                let y = level + seasonal + effect + 2.0 * noise(i, s);
                let ds = self.time(i);
                write!(csv, "s{s},{ds},{y:.4}").unwrap();
                if self.exogenous {
                    write!(csv, ",{x:.4}").unwrap();
                }
                csv.push('\n');
            }
        }
        std::fs::write(dir.path().join("data.csv"), csv).unwrap();
        dir
    }

    fn time(&self, i: usize) -> String {
        let start = chrono::NaiveDate::from_ymd_opt(2015, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        match self.frequency {
            "index" => i.to_string(),
            "1mo" => {
                let months = i as i32;
                format!("{:04}-{:02}-01", 2000 + months / 12, months % 12 + 1)
            }
            "5m" => (start + chrono::Duration::minutes(5 * i as i64))
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            "1d" => (start + chrono::Duration::days(i as i64))
                .format("%Y-%m-%d")
                .to_string(),
            other => panic!("no time format for {other}"),
        }
    }

    /// Backtests `auto` and seasonal naive and checks the forecasts.
    fn check(&self) {
        let dir = self.write();
        let dataset = load_dataset(&dir.path().join("dataset.toml"))
            .unwrap_or_else(|report| panic!("{} did not load: {report:?}", self.frequency));
        let options = BacktestOptions {
            models: vec![ModelId::Snaive, ModelId::Auto],
            input_size: None,
            progress: false,
        };
        let backtest = run_backtest(&dataset, &options)
            .unwrap_or_else(|e| panic!("{}: backtest failed: {e}", self.frequency));
        let snaive = &backtest.models[0];
        let auto = &backtest.models[1];
        assert_eq!(auto.windows.len(), self.series * self.windows);
        for w in &auto.windows {
            assert_eq!(w.forecast.horizon(), self.horizon);
            assert!(w.forecast.point.iter().all(|v| v.is_finite()));
            for pair in w.forecast.quantiles.windows(2) {
                for (lo, hi) in pair[0].1.iter().zip(&pair[1].1) {
                    assert!(lo <= hi, "{}: quantiles out of order", self.frequency);
                }
            }
        }
        assert!(
            auto.scores.mase < snaive.scores.mase,
            "{}: auto MASE {} is not below seasonal naive's {}",
            self.frequency,
            auto.scores.mase,
            snaive.scores.mase
        );
        assert!(auto.scores.scrps.is_finite() && auto.scores.cov80.is_finite());
    }
}

#[test]
fn auto_works_on_monthly_data_without_exogenous_columns() {
    Synthetic {
        frequency: "1mo",
        season: 12,
        horizon: 6,
        windows: 2,
        series: 4,
        length: 180,
        exogenous: false,
    }
    .check();
}

#[test]
fn auto_works_on_five_minute_data_with_an_exogenous_column() {
    Synthetic {
        frequency: "5m",
        season: 12,
        horizon: 12,
        windows: 2,
        series: 1,
        length: 1500,
        exogenous: true,
    }
    .check();
}

#[test]
fn auto_works_on_integer_indexed_data() {
    Synthetic {
        frequency: "index",
        season: 7,
        horizon: 7,
        windows: 2,
        series: 2,
        length: 400,
        exogenous: true,
    }
    .check();
}

#[test]
fn auto_works_on_many_short_series() {
    Synthetic {
        frequency: "1d",
        season: 7,
        horizon: 7,
        windows: 2,
        series: 60,
        length: 150,
        exogenous: false,
    }
    .check();
}
