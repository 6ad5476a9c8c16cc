//! Our TSB against StatsForecast 2.1.1's on synthetic intermittent series: the point forecasts
//! agree to 1e-12 relative (the same two exponential smoothings, in the same order).
//!
//! The fixtures and the script that wrote them are in `tests/fixtures/tsb/`.

// Everything here is test code: a fixture that does not parse should fail the test loudly.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use civicast_model::models::tsb::TsbParams;
use civicast_model::{Fit, Predict};

const TOLERANCE: f64 = 1e-12;

fn case(name: &str) -> HashMap<String, Vec<f64>> {
    let path = format!(
        "{}/tests/fixtures/tsb/{name}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter_map(|line| {
            let mut tokens = line.split_whitespace();
            let key = tokens.next()?.to_owned();
            Some((key, tokens.map(|t| t.parse().unwrap()).collect()))
        })
        .collect()
}

#[test]
fn point_forecasts_match_statsforecast() {
    for name in [
        "rare_counts",
        "rare_counts_fast",
        "dying_out",
        "lumpy",
        "first_only",
        "one_value",
        "dense",
    ] {
        let case = case(name);
        let params = TsbParams::new(case["alpha_d"][0], case["alpha_p"][0]).unwrap();
        let fitted = params.fit(&case["y"]).unwrap();
        let horizon = case["horizon"][0] as usize;
        let ours = fitted.predict(horizon, &[0.5]).unwrap().point;
        let reference = &case["mean"];
        assert_eq!(ours.len(), reference.len(), "{name}");
        for (step, (a, b)) in ours.iter().zip(reference).enumerate() {
            assert!(
                (a - b).abs() <= TOLERANCE * b.abs().max(1.0),
                "{name} step {step}: ours {a}, StatsForecast {b}"
            );
        }
    }
}
