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
