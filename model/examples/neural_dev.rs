//! Development figures for the neural regressor on dumped feature matrices: fit time, validation
//! RMSE against a constant-0 forecast, and single-row prediction latency (our plain-Rust forward
//! pass against the same network run by candle from the stored safetensors).
//!
//! A dump directory holds, per data set `NAME`, `NAME_names.txt` (one column name a line) and
//! raw little-endian `f64` files `NAME_{train,valid}_{x,y}.f64` (row-major `x`).
//!
//! ```text
//! cargo run --release -p civicast-model --example neural_dev -- DIR [NAME...] [--params JSON] [--seed N] [--twice]
//! ```
//!
//! `--twice` fits again with the same seed and checks that the predictions are bit-identical.

use std::path::Path;
use std::time::Instant;

use candle_core::{Device, Module, Tensor};
use civicast_model::learned::neural::{FittedNeural, NeuralParams};
use civicast_model::learned::{Regressor, RegressorParams, Rows};

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

fn read_f64(path: &Path) -> AnyResult<Vec<f64>> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect())
}

fn rmse(a: &[f64], b: &[f64]) -> f64 {
    let ss: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    (ss / a.len().max(1) as f64).sqrt()
}

/// The same forward pass in candle, from the safetensors bytes alone.
fn candle_forward(
    tensors: &std::collections::HashMap<String, Tensor>,
    n_blocks: usize,
    row: &[f64],
) -> AnyResult<f64> {
    let get = |name: &str| {
        tensors
            .get(name)
            .cloned()
            .ok_or_else(|| format!("missing tensor {name}"))
    };
    let linear = |name: &str, bias: bool| -> AnyResult<candle_nn::Linear> {
        Ok(candle_nn::Linear::new(
            get(&format!("{name}.weight"))?,
            if bias {
                Some(get(&format!("{name}.bias"))?)
            } else {
                None
            },
        ))
    };
    let x = Tensor::from_slice(row, (1, row.len()), &Device::Cpu)?;
    let x = x
        .broadcast_sub(&get("input.mean")?)?
        .broadcast_div(&get("input.std")?)?
        .to_dtype(candle_core::DType::F32)?;
    let mut h = linear("embed", true)?.forward(&x)?;
    for k in 0..n_blocks {
        let fc1 = linear(&format!("blocks.{k}.fc1"), true)?;
        let fc2 = linear(&format!("blocks.{k}.fc2"), true)?;
        h = (&h + fc2.forward(&fc1.forward(&h.relu()?)?.relu()?)?)?;
    }
    let y = (linear("head", true)?.forward(&h.relu()?)? + linear("skip", false)?.forward(&x)?)?;
    let z = f64::from(y.flatten_all()?.to_vec1::<f32>()?[0]);
    let mean = get("target.mean")?.to_vec1::<f64>()?[0];
    let std = get("target.std")?.to_vec1::<f64>()?[0];
    Ok(mean + std * z)
}

fn run(dir: &Path, name: &str, params: &NeuralParams, seed: u64, twice: bool) -> AnyResult<()> {
    let names: Vec<String> = std::fs::read_to_string(dir.join(format!("{name}_names.txt")))?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let d = names.len();
    let tx = read_f64(&dir.join(format!("{name}_train_x.f64")))?;
    let ty = read_f64(&dir.join(format!("{name}_train_y.f64")))?;
    let vx = read_f64(&dir.join(format!("{name}_valid_x.f64")))?;
    let vy = read_f64(&dir.join(format!("{name}_valid_y.f64")))?;

    let start = Instant::now();
    let fitted = params.fit(Rows::new(&tx, d)?, &ty, &names, seed)?;
    let fit_secs = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let pred = fitted.predict(Rows::new(&vx, d)?)?;
    let batch_ms = start.elapsed().as_secs_f64() * 1e3;
    let zeros = vec![0.0; vy.len()];

    // Single-row latency, as the recursive forecast calls it.
    let row = &vx[..d];
    let reps = 2000;
    let mut out = Vec::with_capacity(1);
    let start = Instant::now();
    for _ in 0..reps {
        out.clear();
        fitted.predict_into(Rows::new(row, d)?, &mut out)?;
    }
    let plain_us = start.elapsed().as_secs_f64() * 1e6 / reps as f64;

    let bytes = fitted.weights_safetensors()?;
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)?;
    let n_blocks = fitted.config().n_blocks;
    let candle_pred = candle_forward(&tensors, n_blocks, row)?;
    let start = Instant::now();
    for _ in 0..reps / 10 {
        candle_forward(&tensors, n_blocks, row)?;
    }
    let candle_us = start.elapsed().as_secs_f64() * 1e6 / (reps / 10) as f64;

    let json = serde_json::to_string(&fitted)?;
    let back: FittedNeural = serde_json::from_str(&json)?;
    let same = back.predict(Rows::new(&vx, d)?)? == pred;

    if twice {
        let again = params.fit(Rows::new(&tx, d)?, &ty, &names, seed)?;
        let bits = |p: &[f64]| p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let identical = bits(&again.predict(Rows::new(&vx, d)?)?) == bits(&pred);
        println!("{name}: a second fit with the same seed predicts bit-identically: {identical}");
    }
    // A digest of the predictions' bits, to compare runs (e.g. with other `threads`).
    let digest = pred
        .iter()
        .fold(0u64, |h, v| h.rotate_left(5) ^ v.to_bits());
    println!("{name}: prediction digest {digest:016x}");
    let t = fitted.training();
    println!(
        "{name}: train {} x {d}, valid {}: fit {fit_secs:.2} s ({} epochs, best {}, {} steps, \
         holdout mse {:.4}); valid RMSE {:.4} (zero {:.4}); predict {} rows {batch_ms:.1} ms; \
         one row {plain_us:.1} us plain vs {candle_us:.1} us candle (|diff| {:.2e}, includes \
         candle's layer set-up); json {} kB, round trip identical: {same}",
        ty.len(),
        vy.len(),
        t.epochs,
        t.best_epoch,
        t.steps,
        t.validation_mse.unwrap_or(f64::NAN),
        rmse(&pred, &vy),
        rmse(&zeros, &vy),
        vy.len(),
        (candle_pred - pred[0]).abs(),
        json.len() / 1000,
    );
    Ok(())
}

fn main() -> AnyResult<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: neural_dev DIR [NAME...] [--params JSON] [--seed N] [--twice]")?;
    let mut names = Vec::new();
    let mut params = NeuralParams::default();
    let mut twice = false;
    let mut seed = 42;
    while let Some(arg) = args.next() {
        if arg == "--seed" {
            seed = args.next().ok_or("--seed needs a number")?.parse()?;
        } else if arg == "--twice" {
            twice = true;
        } else if arg == "--params" {
            params = serde_json::from_str(&args.next().ok_or("--params needs JSON")?)?;
        } else {
            names.push(arg);
        }
    }
    if names.is_empty() {
        names = vec!["bikeshare".into(), "elec".into(), "chicago".into()];
    }
    println!("{params:?}");
    for name in &names {
        run(Path::new(&dir), name, &params, seed, twice)?;
    }
    Ok(())
}
