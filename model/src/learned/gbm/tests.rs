//! Tests of the GBM regressor on synthetic data with known answers.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::*;

/// The function the tests learn: nonlinear in x0 and x1, an interaction with the sign of x2, a
/// step in x3; x4 is noise.
fn truth(row: &[f64]) -> f64 {
    (3.0 * row[0]).sin() + row[1] * row[1] * row[2].signum() + if row[3] > 0.3 { 0.5 } else { -0.5 }
}

/// `n` rows of 5 uniform(-1, 1) columns and targets `truth + noise * N(0, 1)`.
fn synthetic(n: usize, noise: f64, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<f64> = (0..n * 5).map(|_| rng.random_range(-1.0..1.0)).collect();
    let y = x
        .chunks_exact(5)
        .map(|r| {
            let e: f64 = StandardNormal.sample(&mut rng);
            truth(r) + noise * e
        })
        .collect();
    (x, y)
}

fn rows(x: &[f64]) -> Rows<'_> {
    Rows { x, n_cols: 5 }
}

fn rmse(a: &[f64], b: &[f64]) -> f64 {
    let s: f64 = a.iter().zip(b).map(|(p, t)| (p - t) * (p - t)).sum();
    (s / a.len() as f64).sqrt()
}

fn fit(params: &GbmParams, x: &[f64], y: &[f64], seed: u64) -> FittedGbm {
    params.fit(rows(x), y, &[], seed).expect("fit")
}

#[test]
fn learns_a_nonlinear_function_far_better_than_the_mean() {
    let (x, y) = synthetic(4000, 0.0, 1);
    let (xt, _) = synthetic(1000, 0.0, 2);
    let truth_test: Vec<f64> = xt.chunks_exact(5).map(truth).collect();
    let model = fit(&GbmParams::default(), &x, &y, 0);
    let pred = model.predict(rows(&xt)).expect("predict");
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let baseline = rmse(&vec![mean; truth_test.len()], &truth_test);
    let error = rmse(&pred, &truth_test);
    // The target's spread is about 1; 300 trees of 31 leaves get within 0.065 of it. A model
    // that ignored x0..x3, or mis-signed leaves, would be near (or above) the baseline.
    assert!(baseline > 0.8, "baseline {baseline}");
    assert!(error < 0.08, "rmse {error} against the mean's {baseline}");
    let importance = model.feature_importance();
    let noise_gain = importance[4].1;
    assert!(
        importance[..4].iter().all(|(_, g)| *g > 10.0 * noise_gain),
        "{importance:?}"
    );
}

#[test]
fn is_deterministic_for_a_seed_and_varies_with_it() {
    let (x, y) = synthetic(2000, 0.3, 3);
    let params = GbmParams {
        n_trees: 40,
        row_subsample: 0.7,
        feature_fraction: 0.6,
        ..GbmParams::default()
    };
    let a = fit(&params, &x, &y, 7);
    assert_eq!(a, fit(&params, &x, &y, 7));
    assert_ne!(a, fit(&params, &x, &y, 8));
}

#[test]
fn gives_the_same_model_on_one_thread_and_on_two() {
    // Enough rows that histograms are built in parallel.
    let (x, y) = synthetic(20_000, 0.3, 4);
    let params = GbmParams {
        n_trees: 20,
        row_subsample: 0.8,
        ..GbmParams::default()
    };
    let on = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool")
            .install(|| fit(&params, &x, &y, 5))
    };
    assert_eq!(on(1), on(2));
}

#[test]
fn a_json_round_trip_predicts_identically() {
    let (x, y) = synthetic(1500, 0.3, 5);
    let x_missing: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| if i % 7 == 0 { f64::NAN } else { v })
        .collect();
    let model = fit(&GbmParams::default(), &x_missing, &y, 0);
    let json = serde_json::to_string(&model).expect("serialise");
    let back: FittedGbm = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(back, model);
    let before = model.predict(rows(&x_missing)).expect("predict");
    let after = back.predict(rows(&x_missing)).expect("predict");
    assert!(
        before
            .iter()
            .zip(&after)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
}

#[test]
fn a_corrupt_model_file_is_an_error_not_a_panic() {
    let (x, y) = synthetic(500, 0.3, 6);
    let model = fit(
        &GbmParams {
            n_trees: 3,
            ..GbmParams::default()
        },
        &x,
        &y,
        0,
    );
    let mut json: serde_json::Value = serde_json::to_value(&model).expect("serialise");
    json["trees"][0]["nodes"][0]["left"] = serde_json::json!(0);
    assert!(serde_json::from_value::<FittedGbm>(json.clone()).is_err());
    json["trees"][0]["nodes"][0]["left"] = serde_json::json!(-1);
    json["trees"][0]["nodes"][0]["feature"] = serde_json::json!(5);
    assert!(serde_json::from_value::<FittedGbm>(json.clone()).is_err());
    json["trees"][0]["nodes"][0]["feature"] = serde_json::json!(0);
    json["n_cols"] = serde_json::json!(0);
    assert!(serde_json::from_value::<FittedGbm>(json).is_err());
}

#[test]
fn rows_of_the_wrong_width_are_an_error() {
    let (x, y) = synthetic(300, 0.3, 7);
    let model = fit(
        &GbmParams {
            n_trees: 5,
            ..GbmParams::default()
        },
        &x,
        &y,
        0,
    );
    let narrow = vec![0.0; 8];
    assert_eq!(
        model.predict(Rows {
            x: &narrow,
            n_cols: 4
        }),
        Err(wrong_columns(5, 4))
    );
    // A hand-built Rows whose length is not a multiple of its width.
    assert!(
        model
            .predict(Rows {
                x: &narrow,
                n_cols: 5
            })
            .is_err()
    );
    assert!(
        model
            .predict(Rows {
                x: &narrow,
                n_cols: 0
            })
            .is_err()
    );
    let mut out = vec![1.0];
    assert!(
        model
            .predict_into(
                Rows {
                    x: &narrow,
                    n_cols: 4
                },
                &mut out
            )
            .is_err()
    );
    assert_eq!(out, vec![1.0]);
}

#[test]
fn missing_and_infinite_inputs_predict_without_panicking() {
    let (x, y) = synthetic(1000, 0.3, 8);
    let model = fit(&GbmParams::default(), &x, &y, 0);
    let odd = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        -f64::MAX,
        f64::NAN,
        0.0,
        0.0,
        0.0,
        0.0,
    ];
    let pred = model.predict(rows(&odd)).expect("predict");
    assert_eq!(pred.len(), 2);
    assert!(pred.iter().all(|p| p.is_finite()), "{pred:?}");
}

#[test]
fn learns_where_missing_values_go() {
    // x0 is missing in a third of the rows, and those rows have a target of their own.
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..3000 {
        let v: f64 = rng.random_range(-1.0..1.0);
        let missing = i % 3 == 0;
        x.extend([
            if missing { f64::NAN } else { v },
            rng.random_range(-1.0..1.0),
        ]);
        y.push(if missing { 3.0 } else { v });
    }
    let model = GbmParams::default()
        .fit(Rows { x: &x, n_cols: 2 }, &y, &["a".into(), "b".into()], 0)
        .expect("fit");
    let probe = [f64::NAN, 0.0, f64::INFINITY, 0.0, 0.5, 0.0, -0.5, 0.0];
    let pred = model
        .predict(Rows {
            x: &probe,
            n_cols: 2,
        })
        .expect("predict");
    assert!((pred[0] - 3.0).abs() < 0.1, "{pred:?}");
    assert!(
        (pred[1] - 3.0).abs() < 0.1,
        "infinity is missing too: {pred:?}"
    );
    assert!((pred[2] - 0.5).abs() < 0.1, "{pred:?}");
    assert!((pred[3] + 0.5).abs() < 0.1, "{pred:?}");
}

#[test]
fn the_quantile_loss_puts_alpha_of_the_targets_below_the_prediction() {
    // Noise whose spread grows with x1, so the 90% quantile is not the mean plus a constant.
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let (x, _) = synthetic(5000, 0.0, 11);
    let y: Vec<f64> = x
        .chunks_exact(5)
        .map(|r| {
            let e: f64 = StandardNormal.sample(&mut rng);
            truth(r) + (0.2 + r[1].abs()) * e
        })
        .collect();
    for alpha in [0.9, 0.1] {
        let params = GbmParams {
            loss: GbmLoss::Quantile { alpha },
            ..GbmParams::default()
        };
        let pred = fit(&params, &x, &y, 0).predict(rows(&x)).expect("predict");
        let below = y.iter().zip(&pred).filter(|(t, p)| t <= p).count() as f64 / y.len() as f64;
        assert!((below - alpha).abs() < 0.03, "alpha {alpha}: {below} below");
    }
}

#[test]
fn a_constant_target_is_predicted_exactly() {
    let (x, _) = synthetic(500, 0.0, 12);
    let y = vec![0.1; 500];
    for loss in [GbmLoss::L2, GbmLoss::Quantile { alpha: 0.3 }] {
        let model = fit(
            &GbmParams {
                loss,
                ..GbmParams::default()
            },
            &x,
            &y,
            0,
        );
        let pred = model.predict(rows(&x)).expect("predict");
        assert!(pred.iter().all(|p| (p - 0.1).abs() < 1e-12), "{loss:?}");
    }
}

#[test]
fn fewer_rows_than_min_data_in_leaf_predict_the_mean() {
    let (x, _) = synthetic(5, 0.0, 13);
    let y = [1.0, 2.0, 3.0, 4.0, 5.0];
    let model = fit(&GbmParams::default(), &x, &y, 0);
    let pred = model.predict(rows(&x)).expect("predict");
    assert!(pred.iter().all(|p| (p - 3.0).abs() < 1e-9), "{pred:?}");
    let one = fit(&GbmParams::default(), &x[..5], &y[..1], 0);
    assert_eq!(one.predict(rows(&x[..5])).expect("predict"), vec![1.0]);
}

#[test]
fn bad_parameters_and_inputs_are_errors() {
    let (x, y) = synthetic(50, 0.0, 14);
    let bad = |params: GbmParams| params.fit(rows(&x), &y, &[], 0).is_err();
    assert!(bad(GbmParams {
        learning_rate: 0.0,
        ..GbmParams::default()
    }));
    assert!(bad(GbmParams {
        learning_rate: f64::NAN,
        ..GbmParams::default()
    }));
    assert!(bad(GbmParams {
        num_leaves: 1,
        ..GbmParams::default()
    }));
    assert!(bad(GbmParams {
        min_data_in_leaf: 0,
        ..GbmParams::default()
    }));
    assert!(bad(GbmParams {
        lambda: -1.0,
        ..GbmParams::default()
    }));
    assert!(bad(GbmParams {
        max_bins: 256,
        ..GbmParams::default()
    }));
    assert!(bad(GbmParams {
        row_subsample: 1.5,
        ..GbmParams::default()
    }));
    assert!(bad(GbmParams {
        feature_fraction: 0.0,
        ..GbmParams::default()
    }));
    assert_eq!(
        GbmParams {
            loss: GbmLoss::Quantile { alpha: 1.0 },
            ..GbmParams::default()
        }
        .check(),
        Err(ModelError::BadProbability(1.0))
    );

    let p = GbmParams::default();
    assert!(p.fit(rows(&x), &y[1..], &[], 0).is_err());
    assert_eq!(
        p.fit(rows(&[]), &[], &[], 0),
        Err(ModelError::TooShort { needed: 1, got: 0 })
    );
    let mut y_nan = y.clone();
    y_nan[3] = f64::INFINITY;
    assert_eq!(
        p.fit(rows(&x), &y_nan, &[], 0),
        Err(ModelError::NonFinite(3))
    );
    assert!(p.fit(rows(&x), &y, &["only one".into()], 0).is_err());
    assert!(
        p.fit(
            Rows {
                x: &x[..7],
                n_cols: 5
            },
            &y[..1],
            &[],
            0
        )
        .is_err()
    );
}

#[test]
fn parameters_read_from_partial_json_take_defaults() {
    let p: GbmParams =
        serde_json::from_str(r#"{"n_trees": 10, "loss": {"kind": "quantile", "alpha": 0.9}}"#)
            .expect("parse");
    assert_eq!(
        p,
        GbmParams {
            n_trees: 10,
            loss: GbmLoss::Quantile { alpha: 0.9 },
            ..GbmParams::default()
        }
    );
    assert!(serde_json::from_str::<GbmParams>(r#"{"n_tree": 10}"#).is_err());
}
