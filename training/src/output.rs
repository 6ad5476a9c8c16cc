//! Writing a backtest's results: `predictions.csv` in the protocol's column convention (so the
//! reference scorer reads it), and `metrics.csv` / `metrics.json`.

use std::fmt::Write as _;

use civicast_model::metrics::PROTOCOL_QUANTILES;
use serde::Serialize;

use crate::backtest::{Backtest, FallbackNote, cutoff_time};
use crate::dataset::Dataset;

/// A quantile level as Python's `format(tau, "g")` writes it (`0.025`, `0.1`, `0.5`).
pub fn quantile_label(tau: f64) -> String {
    // Rust's shortest round-trip formatting matches `%g` for these short decimals.
    format!("{tau}")
}

/// The protocol's predictions table for all models of the backtest.
pub fn predictions_csv(dataset: &Dataset, backtest: &Backtest) -> String {
    let panel = &dataset.panel;
    let frequency = panel.frequency();
    let mut out = String::from("unique_id,ds,cutoff,y");
    for m in &backtest.models {
        write!(out, ",{}", m.model).ok();
    }
    for m in &backtest.models {
        for tau in PROTOCOL_QUANTILES {
            write!(out, ",{}-q{}", m.model, quantile_label(tau)).ok();
        }
    }
    out.push('\n');
    let Some(first) = backtest.models.first() else {
        return out;
    };
    for (w, window) in first.windows.iter().enumerate() {
        let series = &panel.series()[window.series];
        let cutoff = cutoff_time(panel, window.series, window.cutoff);
        for step in 0..backtest.horizon {
            let position = window.cutoff + step;
            let ds = frequency
                .advance(series.start, position as i64)
                .map(|t| frequency.format_time(t))
                .unwrap_or_default();
            write!(
                out,
                "{},{ds},{cutoff},{}",
                csv_field(&series.id),
                series.target[position]
            )
            .ok();
            for m in &backtest.models {
                write!(out, ",{}", m.windows[w].forecast.point[step]).ok();
            }
            for m in &backtest.models {
                for tau in PROTOCOL_QUANTILES {
                    let value = m.windows[w]
                        .forecast
                        .quantile(tau)
                        .map_or(f64::NAN, |q| q[step]);
                    write!(out, ",{value}").ok();
                }
            }
            out.push('\n');
        }
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// One model's line of the metrics table.
#[derive(Clone, Debug, Serialize)]
pub struct ModelMetrics {
    /// Model id.
    pub model: String,
    /// The protocol's metrics.
    #[serde(flatten)]
    pub scores: civicast_model::metrics::Scores,
    /// Wall-clock seconds of the model's whole backtest.
    pub seconds: f64,
    /// Windows on which the model fell back to a simpler one.
    pub fallbacks: Vec<FallbackNote>,
}

/// The metrics document (`metrics.json`).
#[derive(Clone, Debug, Serialize)]
pub struct MetricsReport {
    /// Dataset name.
    pub dataset: String,
    /// Forecast horizon.
    pub horizon: usize,
    /// Backtest windows.
    pub windows: usize,
    /// Steps between cutoffs.
    pub step: usize,
    /// MASE season.
    pub mase_season: usize,
    /// Input-size cap, if any.
    pub input_size: Option<usize>,
    /// Worker threads used (seconds are single-thread times only when this is 1).
    pub threads: usize,
    /// Per model.
    pub models: Vec<ModelMetrics>,
}

impl MetricsReport {
    /// The report of a backtest.
    pub fn new(dataset: &Dataset, backtest: &Backtest, input_size: Option<usize>) -> Self {
        let manifest = &dataset.manifest;
        MetricsReport {
            dataset: manifest.name.clone(),
            horizon: backtest.horizon,
            windows: manifest.backtest.windows,
            step: manifest.backtest.step,
            mase_season: backtest.mase_season,
            input_size,
            threads: backtest.threads,
            models: backtest
                .models
                .iter()
                .map(|m| ModelMetrics {
                    model: m.model.to_string(),
                    scores: m.scores.clone(),
                    seconds: m.seconds,
                    fallbacks: m.fallbacks(&dataset.panel),
                })
                .collect(),
        }
    }

    /// The metrics table as CSV.
    pub fn to_csv(&self) -> String {
        let mut out = COLUMNS.join(",");
        out.push('\n');
        for m in &self.models {
            let [mase, smape, rmse, cov80, cov95, scrps, seconds] = m.values();
            writeln!(
                out,
                "{},{mase},{smape},{rmse},{cov80},{cov95},{scrps},{seconds:.3},{}",
                m.model,
                m.fallbacks.len()
            )
            .ok();
        }
        out
    }

    /// The metrics table for a terminal, four significant digits like the anchor tables.
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "{}: h={} windows={} step={} MASE m={}{}, {} thread{}\n",
            self.dataset,
            self.horizon,
            self.windows,
            self.step,
            self.mase_season,
            self.input_size
                .map(|n| format!(", input_size={n}"))
                .unwrap_or_default(),
            self.threads,
            if self.threads == 1 { "" } else { "s" }
        );
        let [
            model,
            mase,
            smape,
            rmse,
            cov80,
            cov95,
            scrps,
            seconds,
            fallbacks,
        ] = COLUMNS;
        writeln!(
            out,
            "{model:<8} {mase:>8} {smape:>8} {rmse:>9} {cov80:>6} {cov95:>6} {scrps:>8} {seconds:>8} {fallbacks:>9}",
        )
        .ok();
        for m in &self.models {
            let [mase, smape, rmse, cov80, cov95, scrps, seconds] = m.values();
            writeln!(
                out,
                "{:<8} {mase:>8.4} {smape:>8.3} {rmse:>9.4} {cov80:>6.3} {cov95:>6.3} {scrps:>8.5} {seconds:>8.2} {:>9}",
                m.model,
                m.fallbacks.len()
            )
            .ok();
        }
        out
    }
}

/// The columns of the metrics table, in order (CSV header and terminal table).
const COLUMNS: [&str; 9] = [
    "model",
    "MASE",
    "sMAPE",
    "RMSE",
    "cov80",
    "cov95",
    "sCRPS",
    "seconds",
    "fallbacks",
];

impl ModelMetrics {
    /// The numeric columns of [`COLUMNS`] (between `model` and `fallbacks`), in order.
    fn values(&self) -> [f64; 7] {
        let s = &self.scores;
        [
            s.mase,
            s.smape,
            s.rmse,
            s.cov80,
            s.cov95,
            s.scrps,
            self.seconds,
        ]
    }
}
