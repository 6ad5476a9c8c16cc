//! `civicast-train import`: a dataset file, validated as for a fit, into the observation store,
//! so that the service forecasts from it and ingest continues where the file ends.
//!
//! Rows go in batches, each one transaction; importing the same file again stores nothing new
//! (re-sent rows are unchanged), and a file with corrected values records them as revisions.

use std::collections::BTreeMap;

use civicast_store::{IngestSummary, Row, Store, StoreError, encode_time};

use crate::dataset::Dataset;

/// Rows per transaction: large enough that commits (one fsync each) do not dominate, small
/// enough that a batch's rows and their JSON stay a few megabytes.
pub const IMPORT_BATCH_ROWS: usize = 5_000;

/// What an import stored, over all its batches.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportSummary {
    /// Rows read from the dataset.
    pub rows: usize,
    /// Rows that were not in the store.
    pub inserted: usize,
    /// Rows that replaced a different stored value.
    pub revised: usize,
    /// Rows already stored as they are.
    pub unchanged: usize,
}

/// Imports `dataset` into `store` (registering the dataset first).
pub async fn import_dataset(dataset: &Dataset, store: &Store) -> Result<ImportSummary, StoreError> {
    let panel = &dataset.panel;
    let name = &dataset.manifest.name;
    let frequency = panel.frequency();
    let columns: Vec<String> = panel.exogenous().iter().map(|e| e.name.clone()).collect();
    store
        .register_dataset(name, &frequency.to_string(), &columns)
        .await?;
    let source = format!("import sha256:{}", dataset.info.data_sha256);
    let mut summary = ImportSummary::default();
    let mut batch: Vec<Row> = Vec::with_capacity(IMPORT_BATCH_ROWS);
    for series in panel.series() {
        for (k, &target) in series.target.iter().enumerate() {
            let Some(time) = frequency.advance(series.start, k as i64) else {
                continue;
            };
            let exogenous: BTreeMap<String, f64> = columns
                .iter()
                .zip(&series.exogenous)
                .filter(|(_, values)| values[k].is_finite())
                .map(|(name, values)| (name.clone(), values[k]))
                .collect();
            if !target.is_finite() {
                continue;
            }
            batch.push(Row {
                series: series.id.clone(),
                t: encode_time(time),
                target,
                exogenous,
            });
            if batch.len() == IMPORT_BATCH_ROWS {
                add(
                    &mut summary,
                    store.ingest(name, &batch, &[], &source).await?,
                );
                batch.clear();
            }
        }
    }
    if !batch.is_empty() {
        add(
            &mut summary,
            store.ingest(name, &batch, &[], &source).await?,
        );
    }
    Ok(summary)
}

fn add(summary: &mut ImportSummary, batch: IngestSummary) {
    summary.rows += batch.inserted + batch.revised + batch.unchanged;
    summary.inserted += batch.inserted;
    summary.revised += batch.revised;
    summary.unchanged += batch.unchanged;
}

/// Where `civicast-train fit` reads a dataset from, besides its manifest's file.
#[derive(Clone, Debug, Default)]
pub struct DataSource {
    /// Read the series from this store instead of the data file (the manifest still gives
    /// the frequency, columns and forecasting recipe).
    pub store: Option<String>,
    /// Fit on data up to and including this time (as the dataset writes times).
    pub until: Option<String>,
    /// Refit only a dataset with a series the drift test flags (judged on the store's issued
    /// forecasts of the production version).
    pub only_drifted: bool,
}

/// The series of `dataset`'s production version that the drift test flags, judged on the
/// forecasts it issued into `store` (the service's own test, `civicast_store::accuracy`).
/// `None` when the dataset has no production version.
pub async fn drifted_series(
    registry: &civicast_registry::Registry,
    store: &Store,
    dataset: &str,
) -> Result<Option<Vec<String>>, String> {
    let Some(version) = registry.production(dataset).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let manifest = registry.show(&version).map_err(|e| e.to_string())?;
    let frequency: civicast_model::Frequency = manifest
        .dataset
        .frequency
        .parse()
        .map_err(|e| format!("version {version}: {e}"))?;
    let mut drifted = Vec::new();
    for entry in &manifest.series {
        let promised = entry
            .backtest
            .get(&entry.model)
            .map(|s| s.mase)
            .filter(|m| m.is_finite());
        let subject = civicast_store::accuracy::Subject {
            dataset,
            series: &entry.id,
            version: &version,
            frequency,
            horizon: manifest.dataset.horizon.max(1),
            promised,
        };
        let live = civicast_store::accuracy::live_accuracy(
            store,
            subject,
            civicast_store::accuracy::Window::Recent,
        )
        .await
        .map_err(|e| e.to_string())?;
        if live.drift.drifted {
            drifted.push(entry.id.clone());
        }
    }
    Ok(Some(drifted))
}

/// Replaces `dataset`'s series with the store's: every stored step of every series, from its
/// first to its last stored target. A missing step (a gap in what arrived) is filled with the
/// step before it, as `fill_gaps = "forward"` does for files; missing exogenous values the same.
/// Returns the number of steps filled.
pub async fn read_from_store(dataset: &mut Dataset, store: &Store) -> Result<usize, String> {
    let name = dataset.manifest.name.clone();
    let record = store
        .dataset(&name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("dataset {name:?} is not in the store {}", store.location()))?;
    let frequency = dataset.panel.frequency();
    let columns: Vec<String> = dataset
        .panel
        .exogenous()
        .iter()
        .map(|e| e.name.clone())
        .collect();
    let mut filled = 0;
    let mut series = Vec::new();
    let mut digest = sha2::Sha256::new();
    for id in &record.series {
        let stored = store
            .observations_after(&name, id, i64::MIN)
            .await
            .map_err(|e| e.to_string())?;
        let Some(first) = stored.iter().find(|o| o.target.is_some()) else {
            continue;
        };
        let last = stored
            .iter()
            .rev()
            .find(|o| o.target.is_some())
            .map_or(first.t, |o| o.t);
        let start = civicast_store::decode_time(first.t, frequency)
            .ok_or_else(|| format!("series {id:?}: a stored time out of range"))?;
        let by_time: std::collections::HashMap<i64, &civicast_store::Observation> =
            stored.iter().map(|o| (o.t, o)).collect();
        let mut target: Vec<f64> = Vec::new();
        let mut exogenous: Vec<Vec<f64>> = vec![Vec::new(); columns.len()];
        let mut k = 0;
        while let Some(time) = frequency.advance(start, k) {
            let t = encode_time(time);
            if t > last {
                break;
            }
            let step = by_time.get(&t);
            let y = step.and_then(|o| o.target);
            if y.is_none() {
                filled += 1;
            }
            target.push(y.or(target.last().copied()).unwrap_or(0.0));
            for (c, column) in columns.iter().enumerate() {
                let v = step.and_then(|o| o.exogenous.get(column).copied());
                let previous = exogenous[c].last().copied();
                exogenous[c].push(v.or(previous).unwrap_or(0.0));
            }
            k += 1;
        }
        use sha2::Digest as _;
        digest.update(id.as_bytes());
        digest.update(first.t.to_le_bytes());
        for v in &target {
            digest.update(v.to_le_bytes());
        }
        series.push(civicast_model::Series {
            id: id.clone(),
            start,
            target,
            exogenous,
        });
    }
    use sha2::Digest as _;
    dataset.info.data_sha256 = digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    dataset.panel =
        civicast_model::Panel::new(frequency, dataset.panel.exogenous().to_vec(), series)
            .map_err(|e| format!("the store's series of {name:?}: {e}"))?;
    Ok(filled)
}

/// Cuts every series of `dataset` after `until` (a time as the dataset writes them); series
/// that start after it are left out.
pub fn cut_at(dataset: &mut Dataset, until: &str) -> Result<(), String> {
    let frequency = dataset.panel.frequency();
    let until = frequency
        .parse_time(until)
        .ok_or_else(|| format!("--until {until:?}: expected a time like the dataset's (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS or a step)"))?;
    let mut series = Vec::new();
    for s in dataset.panel.series() {
        let mut kept = s.clone();
        let mut n = 0;
        while n < s.len()
            && frequency
                .advance(s.start, n as i64)
                .is_some_and(|t| t <= until)
        {
            n += 1;
        }
        if n == 0 {
            continue;
        }
        kept.target.truncate(n);
        for column in &mut kept.exogenous {
            column.truncate(n);
        }
        series.push(kept);
    }
    dataset.panel =
        civicast_model::Panel::new(frequency, dataset.panel.exogenous().to_vec(), series)
            .map_err(|e| format!("--until: {e}"))?;
    Ok(())
}

/// Writes the forecasts `version` issued for `dataset` (every version when `None`) whose whole
/// horizon has actuals in the store, in the evaluation protocol's predictions format: columns
/// `unique_id, ds, cutoff, y, live, live-q0.025 ... live-q0.975`, readable by `eval/score.py`.
/// Returns the number of (series, cutoff) pairs written.
pub async fn export_issued(
    store: &Store,
    dataset: &str,
    version: Option<&str>,
    out: &mut impl std::io::Write,
) -> Result<usize, String> {
    use civicast_model::metrics::PROTOCOL_QUANTILES;
    let record = store
        .dataset(dataset)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("dataset {dataset:?} is not in the store"))?;
    let frequency: civicast_model::Frequency = record
        .frequency
        .parse()
        .map_err(|e| format!("stored frequency: {e}"))?;
    let io = |e: std::io::Error| e.to_string();
    write!(out, "unique_id,ds,cutoff,y,live").map_err(io)?;
    for tau in PROTOCOL_QUANTILES {
        write!(out, ",live-q{tau}").map_err(io)?;
    }
    writeln!(out).map_err(io)?;
    let mut pairs = 0;
    for id in &record.series {
        let issued = store
            .issued(dataset, id, version, usize::MAX >> 1)
            .await
            .map_err(|e| e.to_string())?;
        let actuals: std::collections::HashMap<i64, f64> = store
            .targets(dataset, id, i64::MIN, i64::MAX)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .collect();
        for forecast in &issued {
            let Some(cutoff) = civicast_store::decode_time(forecast.origin, frequency) else {
                continue;
            };
            let h = forecast.forecast.point.len();
            let steps: Option<Vec<(civicast_model::TimePoint, f64)>> = (1..=h)
                .map(|j| {
                    let t = frequency.advance(cutoff, j as i64)?;
                    Some((t, *actuals.get(&encode_time(t))?))
                })
                .collect();
            let Some(steps) = steps else { continue };
            pairs += 1;
            for (j, (t, y)) in steps.iter().enumerate() {
                write!(
                    out,
                    "{id},{},{},{y},{}",
                    frequency.format_time(*t),
                    frequency.format_time(cutoff),
                    forecast.forecast.point[j]
                )
                .map_err(io)?;
                for tau in PROTOCOL_QUANTILES {
                    let q = forecast.forecast.quantile(tau).map_or(f64::NAN, |q| q[j]);
                    write!(out, ",{q}").map_err(io)?;
                }
                writeln!(out).map_err(io)?;
            }
        }
    }
    Ok(pairs)
}
