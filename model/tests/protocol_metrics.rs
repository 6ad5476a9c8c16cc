//! Our metrics equal the reference scorer's (`eval/score.py`) on the protocol's worked example
//! (`eval/examples/`: 2 series, 2 cutoffs, h = 3, m = 2, with a 0/0 sMAPE term and negative
//! values), to well beyond the 4 significant digits the protocol asks for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use civicast_model::Forecast;
use civicast_model::metrics::{PairScores, Scores, score_pair};

const MASE_SEASON: usize = 2;

fn read_csv(name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let path = format!("{}/../eval/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let rows = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    (header, rows)
}

#[test]
fn worked_example_matches_the_reference_scorer() {
    let (_, data) = read_csv("example_data.csv");
    let (header, preds) = read_csv("example_preds.csv");
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let quantile_columns: Vec<(f64, usize)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.strip_prefix("M-q").map(|t| (t.parse().unwrap(), i)))
        .collect();
    assert_eq!(quantile_columns.len(), 21);

    // Group prediction rows by (series, cutoff), in file order (rows are sorted by ds).
    let mut pairs: BTreeMap<(String, String), Vec<&Vec<String>>> = BTreeMap::new();
    for row in &preds {
        let key = (
            row[column("unique_id")].clone(),
            row[column("cutoff")].clone(),
        );
        pairs.entry(key).or_default().push(row);
    }
    let scores: Vec<PairScores> = pairs
        .iter()
        .map(|((id, cutoff), rows)| {
            let train: Vec<f64> = data
                .iter()
                .filter(|r| &r[0] == id && r[1].as_str() <= cutoff.as_str())
                .map(|r| r[2].parse().unwrap())
                .collect();
            let actual: Vec<f64> = rows
                .iter()
                .map(|r| {
                    let ds = &r[column("ds")];
                    let truth = data.iter().find(|d| &d[0] == id && &d[1] == ds).unwrap();
                    truth[2].parse().unwrap()
                })
                .collect();
            let point = rows
                .iter()
                .map(|r| r[column("M")].parse().unwrap())
                .collect();
            let quantiles = quantile_columns
                .iter()
                .map(|&(tau, i)| (tau, rows.iter().map(|r| r[i].parse().unwrap()).collect()))
                .collect();
            score_pair(&train, MASE_SEASON, &actual, &Forecast { point, quantiles })
        })
        .collect();
    let got = Scores::from_pairs(&scores);

    let path = format!(
        "{}/../eval/examples/example_expected.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let expected = &expected["M"];
    for (name, value) in [
        ("MASE", got.mase),
        ("sMAPE", got.smape),
        ("RMSE", got.rmse),
        ("cov80", got.cov80),
        ("cov95", got.cov95),
        ("sCRPS", got.scrps),
    ] {
        let want = expected[name].as_f64().unwrap();
        let relative = ((value - want) / want).abs();
        assert!(relative < 1e-9, "{name}: ours {value}, score.py {want}");
    }
    assert_eq!(got.n_pairs, 4);
    assert_eq!(got.pairs_excluded_s0, 0);
}
