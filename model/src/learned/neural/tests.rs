//! Tests of the neural regressor: it learns a known pattern better than seasonal naive when
//! forecasting recursively, fits are reproducible, storage round-trips and rejects bad weights,
//! and bad inputs are errors or harmless, never panics.

use chrono::NaiveDate;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};

use super::*;
use crate::features::{FeatureSpec, Featurizer, RecursiveState};
use crate::models::snaive::SeasonalNaiveParams;
use crate::models::{Fit, Predict};
use crate::panel::{ExogenousRole, ExogenousSpec, Panel, Series};
use crate::time::{Frequency, TimePoint};

/// A network small enough to fit in well under a second in the dev profile.
fn small_params() -> NeuralParams {
    NeuralParams {
        width: 16,
        n_blocks: 1,
        batch_size: 64,
        learning_rate: 3e-3,
        max_epochs: 30,
        ..NeuralParams::default()
    }
}

/// `n` rows of 5 columns with a non-linear target and a little noise.
fn regression_data(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<String>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let u = Uniform::new(-2.0, 2.0).unwrap();
    let noise = Normal::new(0.0, 0.05).unwrap();
    let mut x = Vec::with_capacity(n * 5);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let row: Vec<f64> = (0..5).map(|_| u.sample(&mut rng)).collect();
        y.push(row[0].sin() + row[1] * row[2] + 0.5 * row[3] + noise.sample(&mut rng));
        x.extend(row);
    }
    let names = (0..5).map(|j| format!("x{j}")).collect();
    (x, y, names)
}

fn fit_small(seed: u64) -> (FittedNeural, Vec<f64>) {
    let (x, y, names) = regression_data(600, 1);
    let fitted = small_params()
        .fit(Rows::new(&x, 5).unwrap(), &y, &names, seed)
        .unwrap();
    (fitted, x)
}

#[test]
fn fits_a_nonlinear_function_better_than_its_mean() {
    let (fitted, _) = fit_small(7);
    let (x, y, _) = regression_data(300, 2);
    let pred = fitted.predict(Rows::new(&x, 5).unwrap()).unwrap();
    let mse = pred
        .iter()
        .zip(&y)
        .map(|(p, t)| (p - t).powi(2))
        .sum::<f64>()
        / y.len() as f64;
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let var = y.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / y.len() as f64;
    assert!(mse < 0.25 * var, "mse {mse} against variance {var}");
    let t = fitted.training();
    assert!(t.validation_rows > 0 && t.train_rows + t.validation_rows == 600);
    assert!(t.best_epoch >= 1 && t.best_epoch <= t.epochs);
}

#[test]
fn the_same_seed_gives_bit_identical_fits() {
    let (a, x) = fit_small(11);
    let (b, _) = fit_small(11);
    let rows = Rows::new(&x, 5).unwrap();
    let bits = |f: &FittedNeural| -> Vec<u64> {
        f.predict(rows)
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(
        a.weights_safetensors().unwrap(),
        b.weights_safetensors().unwrap()
    );
    assert_eq!(a, b);
    let (c, _) = fit_small(12);
    assert_ne!(
        bits(&a),
        bits(&c),
        "another seed should give another network"
    );
}

#[test]
fn a_prediction_does_not_depend_on_its_batch() {
    let (fitted, x) = fit_small(3);
    let all = fitted.predict(Rows::new(&x, 5).unwrap()).unwrap();
    for i in [0, 17, 599] {
        let one = fitted
            .predict(Rows::new(&x[i * 5..(i + 1) * 5], 5).unwrap())
            .unwrap();
        assert_eq!(one[0].to_bits(), all[i].to_bits());
    }
}

#[test]
fn a_json_round_trip_predicts_identically() {
    let (fitted, x) = fit_small(5);
    let json = serde_json::to_string(&fitted).unwrap();
    let back: FittedNeural = serde_json::from_str(&json).unwrap();
    assert_eq!(back, fitted);
    let rows = Rows::new(&x, 5).unwrap();
    let bits = |f: &FittedNeural| -> Vec<u64> {
        f.predict(rows)
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    assert_eq!(bits(&back), bits(&fitted));
    // The weights are base64 of the safetensors bytes.
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let weights = value["weights"].as_str().unwrap();
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(weights)
        .unwrap();
    assert_eq!(bytes, fitted.weights_safetensors().unwrap());
}

#[test]
fn candle_reads_the_stored_weights() {
    let (fitted, _) = fit_small(5);
    let bytes = fitted.weights_safetensors().unwrap();
    let tensors = candle_core::safetensors::load_buffer(&bytes, &candle_core::Device::Cpu).unwrap();
    assert_eq!(tensors["embed.weight"].dims(), &[16, 5]);
    assert_eq!(tensors["blocks.0.fc2.weight"].dims(), &[16, 16]);
    assert_eq!(tensors["skip.weight"].dims(), &[1, 5]);
    assert_eq!(tensors["input.mean"].dtype(), candle_core::DType::F64);
}

#[test]
fn weights_of_the_wrong_shape_are_rejected() {
    let (fitted, _) = fit_small(5);
    let bytes = fitted.weights_safetensors().unwrap();
    let training = fitted.training().clone();
    let with = |change: fn(&mut NeuralConfig)| {
        let mut config = fitted.config().clone();
        change(&mut config);
        FittedNeural::from_safetensors(config, training.clone(), &bytes)
    };
    assert!(with(|_| {}).is_ok());
    for (what, change) in [
        ("wider", (|c| c.width += 1) as fn(&mut NeuralConfig)),
        ("deeper", |c| c.n_blocks += 1),
        ("shallower", |c| c.n_blocks = 0),
        ("more inputs", |c| c.names.push("extra".into())),
        ("no inputs", |c| c.names.clear()),
    ] {
        let err = with(change).unwrap_err();
        assert!(matches!(err, ModelError::Corrupt { .. }), "{what}: {err:?}");
    }
    // A tensor of the right name and the wrong shape.
    let weights = &fitted.weights;
    let mut tensors: Vec<(String, weights::Raw)> = vec![(
        "embed.weight".into(),
        weights::Raw::f32(&weights.embed.weight, vec![5, 16]),
    )];
    tensors.extend(
        fitted
            .weights
            .tensors()
            .into_iter()
            .filter(|(n, _)| n != "embed.weight"),
    );
    let metadata =
        std::collections::HashMap::from([("format".into(), "civicast-neural-v1".into())]);
    let transposed = safetensors::serialize(tensors, Some(metadata)).unwrap();
    let err =
        FittedNeural::from_safetensors(fitted.config().clone(), training.clone(), &transposed)
            .unwrap_err();
    assert!(err.to_string().contains("embed.weight"), "{err}");
    // Garbage, truncation and an edited JSON document.
    assert!(
        FittedNeural::from_safetensors(fitted.config().clone(), training.clone(), b"x").is_err()
    );
    assert!(
        FittedNeural::from_safetensors(
            fitted.config().clone(),
            training.clone(),
            &bytes[..bytes.len() - 4]
        )
        .is_err()
    );
    let json = serde_json::to_string(&fitted)
        .unwrap()
        .replace("\"width\":16", "\"width\":17");
    assert!(serde_json::from_str::<FittedNeural>(&json).is_err());
}

#[test]
fn wrong_column_counts_are_errors() {
    let (fitted, x) = fit_small(5);
    let err = fitted.predict(Rows::new(&x[..12], 4).unwrap()).unwrap_err();
    assert_eq!(err, crate::learned::wrong_columns(5, 4));
    let (x, y, names) = regression_data(50, 1);
    let rows = Rows::new(&x, 5).unwrap();
    assert!(small_params().fit(rows, &y, &names[..4], 0).is_err());
    assert!(small_params().fit(rows, &y[..49], &names, 0).is_err());
}

#[test]
fn nan_and_infinite_inputs_do_not_panic() {
    let (x, y, names) = regression_data(300, 1);
    let mut x = x;
    for i in (0..x.len()).step_by(7) {
        x[i] = if i % 2 == 0 { f64::NAN } else { f64::INFINITY };
    }
    // A column with no finite value at all.
    for row in x.chunks_exact_mut(5) {
        row[4] = f64::NAN;
    }
    let fitted = small_params()
        .fit(Rows::new(&x, 5).unwrap(), &y, &names, 1)
        .unwrap();
    let rows = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e308, -1e308];
    let pred = fitted.predict(Rows::new(&rows, 5).unwrap()).unwrap();
    assert!(pred[0].is_finite());
    let mut bad_y = y.clone();
    bad_y[3] = f64::NAN;
    assert_eq!(
        small_params().fit(Rows::new(&x, 5).unwrap(), &bad_y, &names, 1),
        Err(ModelError::NonFinite(3))
    );
}

#[test]
fn bad_params_are_rejected_before_any_work() {
    let (x, y, names) = regression_data(20, 1);
    let rows = Rows::new(&x, 5).unwrap();
    for params in [
        NeuralParams {
            width: 0,
            ..small_params()
        },
        NeuralParams {
            batch_size: 0,
            ..small_params()
        },
        NeuralParams {
            learning_rate: 0.0,
            ..small_params()
        },
        NeuralParams {
            weight_decay: f64::NAN,
            ..small_params()
        },
        NeuralParams {
            validation_fraction: 0.5,
            ..small_params()
        },
        NeuralParams {
            patience: 0,
            ..small_params()
        },
    ] {
        assert!(params.check().is_err(), "{params:?}");
        assert!(params.fit(rows, &y, &names, 0).is_err());
    }
    // Without held-out rows training runs its epochs and keeps the last weights.
    let params = NeuralParams {
        validation_fraction: 0.0,
        max_epochs: 3,
        ..small_params()
    };
    let fitted = params.fit(rows, &y, &names, 0).unwrap();
    assert_eq!(fitted.training().epochs, 3);
    assert_eq!(fitted.training().validation_mse, None);
}

/// Three daily series: a weekly pattern, a smooth exogenous effect and noise.
fn synthetic_panel() -> Panel {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let noise = Normal::new(0.0, 1.0).unwrap();
    let start = TimePoint::date(NaiveDate::from_ymd_opt(2022, 1, 3).unwrap());
    let weekly = [0.0, 2.0, 3.0, 3.5, 4.0, 9.0, 6.0];
    let series = (0..3)
        .map(|s| {
            let level = 40.0 + 20.0 * s as f64;
            let amp = 1.0 + 0.5 * s as f64;
            let phase = s as f64;
            // A temperature-like driver with a period of about two months: seasonal naive,
            // which repeats last week, is always a week behind it.
            let temp: Vec<f64> = (0..600)
                .map(|t| 10.0 * (2.0 * std::f64::consts::PI * t as f64 / 61.0 + phase).sin())
                .collect();
            let target = (0..600)
                .map(|t| {
                    level + amp * 2.0 * weekly[t % 7] + 1.5 * temp[t] + amp * noise.sample(&mut rng)
                })
                .collect();
            Series {
                id: format!("s{s}"),
                start,
                target,
                exogenous: vec![temp],
            }
        })
        .collect();
    Panel::new(
        Frequency::Days(1),
        vec![ExogenousSpec {
            name: "temp".into(),
            role: ExogenousRole::FutureKnown,
        }],
        series,
    )
    .unwrap()
}

#[test]
fn learns_a_weekly_pattern_with_an_exogenous_driver_better_than_seasonal_naive() {
    const CUTOFF: usize = 530;
    const HORIZON: usize = 14;
    let panel = synthetic_panel();
    let featurizer = Featurizer::for_panel(
        FeatureSpec::default_for(Frequency::Days(1), &[7]),
        &panel,
        None,
    )
    .unwrap();
    let mut set = featurizer.empty_training_set();
    for series in panel.series() {
        featurizer.append_series(&mut set, series, CUTOFF).unwrap();
    }
    let params = NeuralParams {
        width: 32,
        n_blocks: 1,
        batch_size: 128,
        learning_rate: 3e-3,
        max_epochs: 80,
        patience: 8,
        ..NeuralParams::default()
    };
    let fitted = params
        .fit(
            Rows::new(&set.x, set.n_cols()).unwrap(),
            &set.y,
            &set.names,
            1,
        )
        .unwrap();

    let (mut neural_error, mut naive_error, mut n) = (0.0, 0.0, 0);
    for origin in (CUTOFF..=600 - HORIZON).step_by(HORIZON) {
        for (k, series) in panel.series().iter().enumerate() {
            let scale = set.series[k].scale;
            let mut state = RecursiveState::new(&featurizer, series, origin, scale).unwrap();
            let naive = SeasonalNaiveParams::new(7)
                .fit(&series.target[..origin])
                .unwrap()
                .predict(HORIZON, &[])
                .unwrap();
            for h in 0..HORIZON {
                let t = origin + h;
                let row = state.next_row(&[series.exogenous[0][t]]).unwrap();
                let z = fitted.predict(Rows::new(&row, row.len()).unwrap()).unwrap()[0];
                state.push_scaled(z).unwrap();
                neural_error += (scale.unscale(z) - series.target[t]).abs();
                naive_error += (naive.point[h] - series.target[t]).abs();
                n += 1;
            }
        }
    }
    let (neural_mae, naive_mae) = (neural_error / n as f64, naive_error / n as f64);
    assert!(
        neural_mae < 0.5 * naive_mae,
        "neural MAE {neural_mae:.3} against seasonal naive {naive_mae:.3}"
    );
}
