//! `report.html`: a backtest a person can read — the metrics table and, for a few series, charts
//! of actuals against each model's forecasts with 80% and 95% bands — and [`write_backtest`],
//! which writes it with the files of [`crate::output`].
//!
//! The page is one self-contained file (inline CSS and SVG, no scripts, nothing fetched), so it
//! can be mailed or opened from a shared drive. The SVG is written by hand: a line chart with two
//! bands needs a few dozen lines, less than adapting a plotting crate's output to our page.

use std::fmt::Write as _;
use std::path::Path;

use civicast_model::metrics::INTERVAL_80;
use civicast_model::metrics::INTERVAL_95;

use civicast_registry::fsio;

use crate::backtest::{Backtest, cutoff_time};
use crate::dataset::Dataset;
use crate::error::Error;
use crate::output::MetricsReport;

/// Writes `predictions.csv`, `metrics.csv`, `metrics.json` and `report.html` into `folder`
/// (created if needed).
pub fn write_backtest(
    folder: &Path,
    dataset: &Dataset,
    backtest: &Backtest,
    report: &MetricsReport,
) -> Result<(), Error> {
    std::fs::create_dir_all(folder).map_err(Error::io(folder))?;
    let json = serde_json::to_string_pretty(report).unwrap_or_default();
    for (name, bytes) in [
        (
            "predictions.csv",
            crate::output::predictions_csv(dataset, backtest).into_bytes(),
        ),
        ("metrics.csv", report.to_csv().into_bytes()),
        ("metrics.json", json.into_bytes()),
        (
            "report.html",
            report_html(dataset, backtest, report).into_bytes(),
        ),
    ] {
        let path = folder.join(name);
        fsio::write_atomic(&path, &bytes).map_err(Error::io(&path))?;
    }
    Ok(())
}

/// Series charted in the report (the first ones of the panel).
const CHARTED_SERIES: usize = 3;
/// History shown before the cutoff, in horizons.
const HISTORY_HORIZONS: usize = 2;
/// Colours of the models' lines, in model order (repeats after five).
const COLOURS: [&str; 5] = ["#1f6fb4", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c"];

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const MARGIN: f64 = 40.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The report page.
pub fn report_html(dataset: &Dataset, backtest: &Backtest, metrics: &MetricsReport) -> String {
    let manifest = &dataset.manifest;
    let mut page = String::new();
    let title = format!("civicast backtest — {}", manifest.name);
    write!(
        page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>\
         body{{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:60rem}}\
         table{{border-collapse:collapse}}td,th{{padding:.3rem .7rem;border-bottom:1px solid #ddd;text-align:right}}\
         td:first-child,th:first-child{{text-align:left}}.legend span{{margin-right:1rem}}\
         figure{{margin:1.5rem 0}}figcaption{{font-weight:600}}</style></head><body>",
        escape(&title)
    )
    .ok();
    write!(page, "<h1>{}</h1>", escape(&title)).ok();
    if let Some(t) = &manifest.title {
        write!(page, "<p>{}</p>", escape(t)).ok();
    }
    write!(
        page,
        "<p>Rolling-origin backtest: horizon {}, {} windows {} steps apart, MASE season {}{}; \
         {} worker thread{}. Metrics as defined by the evaluation protocol (mean over series × windows).</p>",
        metrics.horizon,
        metrics.windows,
        metrics.step,
        metrics.mase_season,
        metrics
            .input_size
            .map(|n| format!(", models fitted on the last {n} observations"))
            .unwrap_or_default(),
        metrics.threads,
        if metrics.threads == 1 { "" } else { "s" }
    )
    .ok();
    page.push_str("<table><tr><th>model</th><th>MASE</th><th>sMAPE</th><th>RMSE</th><th>cov80</th><th>cov95</th><th>sCRPS</th><th>seconds</th><th>fallbacks</th></tr>");
    for m in &metrics.models {
        let s = &m.scores;
        write!(
            page,
            "<tr><td>{}</td><td>{:.4}</td><td>{:.3}</td><td>{:.4}</td><td>{:.3}</td><td>{:.3}</td><td>{:.5}</td><td>{:.2}</td><td>{}</td></tr>",
            escape(&m.model), s.mase, s.smape, s.rmse, s.cov80, s.cov95, s.scrps, m.seconds, m.fallbacks.len()
        )
        .ok();
    }
    page.push_str("</table>");

    page.push_str("<h2>Forecasts at the last cutoff</h2><p class=\"legend\">");
    for (i, m) in backtest.models.iter().enumerate() {
        write!(
            page,
            "<span style=\"color:{}\">━ {}</span>",
            COLOURS[i % COLOURS.len()],
            m.model
        )
        .ok();
    }
    page.push_str("<span>━ actual</span><span>bands: 80% (darker) and 95%</span></p>");
    for series in 0..dataset.panel.series().len().min(CHARTED_SERIES) {
        page.push_str(&series_chart(dataset, backtest, series));
    }
    page.push_str("</body></html>\n");
    page
}

fn series_chart(dataset: &Dataset, backtest: &Backtest, series: usize) -> String {
    let panel = &dataset.panel;
    let s = &panel.series()[series];
    let Some(first_model) = backtest.models.first() else {
        return String::new();
    };
    let Some(window) = first_model
        .windows
        .iter()
        .filter(|w| w.series == series)
        .max_by_key(|w| w.cutoff)
    else {
        return String::new();
    };
    let h = backtest.horizon;
    let cutoff = window.cutoff;
    let start = cutoff.saturating_sub(HISTORY_HORIZONS * h);
    let actual = &s.target[start..cutoff + h];
    let forecasts: Vec<_> = backtest
        .models
        .iter()
        .filter_map(|m| {
            m.windows
                .iter()
                .find(|w| w.series == series && w.cutoff == cutoff)
                .map(|w| &w.forecast)
        })
        .collect();
    let mut values: Vec<f64> = actual.to_vec();
    for f in &forecasts {
        values.extend(&f.point);
        for tau in [INTERVAL_95.0, INTERVAL_95.1] {
            if let Some(q) = f.quantile(tau) {
                values.extend(q);
            }
        }
    }
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let lo = finite.clone().fold(f64::INFINITY, f64::min);
    let hi = finite.fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 1.0, lo + 1.0)
    };
    let n = actual.len().max(2) as f64;
    let x = |i: usize| MARGIN + (WIDTH - 2.0 * MARGIN) * i as f64 / (n - 1.0);
    let y = |v: f64| HEIGHT - MARGIN - (HEIGHT - 2.0 * MARGIN) * (v - lo) / (hi - lo);
    let offset = cutoff - start; // index of the first forecast step in the chart
    let line = |points: &mut dyn Iterator<Item = (usize, f64)>| -> String {
        points
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(v)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut svg = format!(
        "<figure><figcaption>{} — cutoff {}</figcaption><svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"actuals and forecasts for {}\">",
        escape(&s.id),
        escape(&cutoff_time(panel, series, cutoff)),
        escape(&s.id)
    );
    write!(
        svg,
        "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\
         <text x=\"4\" y=\"{3:.1}\" font-size=\"11\">{4:.4}</text><text x=\"4\" y=\"{5:.1}\" font-size=\"11\">{6:.4}</text>",
        x(offset - 1),
        MARGIN / 2.0,
        HEIGHT - MARGIN / 2.0,
        y(hi) + 4.0,
        hi,
        y(lo),
        lo
    )
    .ok();
    for (k, f) in forecasts.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        for ((lo_tau, hi_tau), opacity) in [(INTERVAL_95, 0.12), (INTERVAL_80, 0.22)] {
            if let (Some(lower), Some(upper)) = (f.quantile(lo_tau), f.quantile(hi_tau)) {
                let upper_line = line(&mut upper.iter().enumerate().map(|(j, v)| (offset + j, *v)));
                let lower_line = line(
                    &mut lower
                        .iter()
                        .enumerate()
                        .rev()
                        .map(|(j, v)| (offset + j, *v)),
                );
                write!(
                    svg,
                    "<polygon points=\"{upper_line} {lower_line}\" fill=\"{colour}\" fill-opacity=\"{opacity}\"/>"
                )
                .ok();
            }
        }
        let points = line(&mut f.point.iter().enumerate().map(|(j, v)| (offset + j, *v)));
        write!(
            svg,
            "<polyline points=\"{points}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.6\"/>"
        )
        .ok();
    }
    let actual_line = line(&mut actual.iter().copied().enumerate());
    write!(
        svg,
        "<polyline points=\"{actual_line}\" fill=\"none\" stroke=\"#222\" stroke-width=\"1.3\"/></svg></figure>"
    )
    .ok();
    svg
}
