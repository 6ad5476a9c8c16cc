//! `civicast-train import`: a bundled dataset goes into the store whole and reads back as the
//! panel it was loaded as; importing it again changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use civicast_store::{Store, encode_time};
use civicast_training::import::import_dataset;
use civicast_training::load_dataset;

#[tokio::test]
async fn a_dataset_reads_back_from_the_store_as_loaded_and_a_second_import_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store.db").to_str().unwrap())
        .await
        .unwrap();
    let dataset = load_dataset(
        &common::datasets()
            .join("fpp_quarterly")
            .join("dataset.toml"),
    )
    .unwrap();
    let rows: usize = dataset.panel.series().iter().map(|s| s.target.len()).sum();
    let first = import_dataset(&dataset, &store).await.unwrap();
    assert_eq!((first.rows, first.inserted), (rows, rows));
    let again = import_dataset(&dataset, &store).await.unwrap();
    assert_eq!(
        (again.inserted, again.revised, again.unchanged),
        (0, 0, rows)
    );

    let series = &dataset.panel.series()[3];
    let frequency = dataset.panel.frequency();
    let before = frequency.advance(series.start, -1).unwrap();
    let stored = store
        .observations_after(&dataset.manifest.name, &series.id, encode_time(before))
        .await
        .unwrap();
    let targets: Vec<f64> = stored.iter().map(|o| o.target.unwrap()).collect();
    assert_eq!(targets, series.target);
    assert_eq!(stored[0].t, encode_time(series.start));
    let record = store
        .dataset(&dataset.manifest.name)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.frequency, "3mo");
    assert_eq!(record.series.len(), dataset.panel.series().len());
}
