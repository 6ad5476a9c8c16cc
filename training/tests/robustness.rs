//! Whatever bytes a data file holds, loading ends in a valid panel or a report: never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use civicast_training::load_dataset;
use common::*;
use proptest::prelude::*;

/// Loads `bytes` as the fixture's data file (CSV or Parquet) and checks the outcome is coherent.
fn load_bytes(bytes: &[u8], file_name: &str) {
    let manifest = manifest().replace("data.csv", file_name);
    let fixture = Fixture::new(&manifest, "");
    std::fs::write(fixture.path(file_name), bytes).unwrap();
    match load_dataset(&fixture.manifest()) {
        Ok(dataset) => assert!(dataset.panel.rows() >= 20),
        Err(report) => {
            assert!(report.total() >= 1);
            assert!(!report.problems().is_empty());
            for problem in report.problems() {
                assert!(!problem.message.is_empty());
            }
        }
    }
}

/// One edit of a CSV text: the kinds of damage real files suffer.
#[derive(Clone, Debug)]
enum Edit {
    Delete(usize),
    Insert(usize, u8),
    Swap(usize, usize),
    Truncate(usize),
    DuplicateLine(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let byte = prop::sample::select(vec![
        b',', b'"', b'\n', b'\r', b'-', b'T', b':', b'.', b'e', b'9', b' ', 0xC3, 0xFF,
    ]);
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), byte).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Edit::Swap(i, j)),
        any::<usize>().prop_map(Edit::Truncate),
        any::<usize>().prop_map(Edit::DuplicateLine),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        if bytes.is_empty() {
            break;
        }
        let n = bytes.len();
        match *e {
            Edit::Delete(i) => {
                bytes.remove(i % n);
            }
            Edit::Insert(i, b) => bytes.insert(i % (n + 1), b),
            Edit::Swap(i, j) => bytes.swap(i % n, j % n),
            Edit::Truncate(i) => bytes.truncate(i % n),
            Edit::DuplicateLine(i) => {
                let text = bytes.clone();
                let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
                let line = lines[i % lines.len()].to_vec();
                let at = (i / 7) % (n + 1);
                let mut inserted = line;
                inserted.push(b'\n');
                bytes.splice(at..at, inserted);
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_csv_loader(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        load_bytes(&bytes, "data.csv");
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_parquet_loader(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut with_magic = b"PAR1".to_vec();
        with_magic.extend(&bytes);
        with_magic.extend(b"PAR1");
        load_bytes(&with_magic, "data.parquet");
    }

    #[test]
    fn mangled_csvs_never_panic_the_loader(edits in prop::collection::vec(edit(), 1..12)) {
        let bytes = apply(valid_csv().into_bytes(), &edits);
        load_bytes(&bytes, "data.csv");
    }
}

#[test]
fn a_truncated_real_parquet_file_is_an_error_not_a_panic() {
    use polars::prelude::*;
    let mut frame =
        df!("unique_id" => ["a"], "ds" => ["2024-01-01"], "y" => [1.0], "temp" => [1.0]).unwrap();
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(&mut frame).unwrap();
    for cut in [4, bytes.len() / 2, bytes.len() - 9, bytes.len() - 1] {
        load_bytes(&bytes[..cut], "data.parquet");
    }
}
