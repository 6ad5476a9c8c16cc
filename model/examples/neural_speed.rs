//! Training speed of the neural regressor on a synthetic matrix the size of Chicago's (about
//! 100,000 rows of 46–60 columns) with the default parameters, as `docs/accuracy-history.md` ("Cost")
//! reports it: seconds per fit, updates, and the held-out error, so a change to the trainer can
//! be timed on one thread without a dataset.
//!
//! ```text
//! cargo run --release -p civicast-model --example neural_speed -- [ROWS] [COLS]
//! ```

use std::time::Instant;

use civicast_model::learned::neural::NeuralParams;
use civicast_model::learned::{Regressor, RegressorParams, Rows};
use rand::{RngExt, SeedableRng};

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> AnyResult<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(100_000), |s| s.parse())?;
    let d: usize = args.next().map_or(Ok(60), |s| s.parse())?;
    if d < 4 {
        return Err("at least 4 columns".into());
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let x: Vec<f64> = (0..n * d)
        .map(|_| rng.random::<f64>() * 2.0 - 1.0)
        .collect();
    let y: Vec<f64> = x
        .chunks_exact(d)
        .map(|r| 2.0 * r[0].sin() + r[1] * r[2] + 0.5 * r[3].abs() + 0.1 * rng.random::<f64>())
        .collect();
    let names: Vec<String> = (0..d).map(|i| format!("c{i}")).collect();
    let start = Instant::now();
    let fitted = NeuralParams::default().fit(Rows::new(&x, d)?, &y, &names, 3)?;
    let secs = start.elapsed().as_secs_f64();
    let rows = n.min(1000);
    let pred = fitted.predict(Rows::new(&x[..rows * d], d)?)?;
    let mse = pred
        .iter()
        .zip(&y)
        .map(|(p, t)| (p - t).powi(2))
        .sum::<f64>()
        / rows.max(1) as f64;
    let t = fitted.training();
    println!(
        "{n} rows x {d} columns: fit {secs:.2} s, {} updates in {} epochs (best {}), held-out mse {:.5}, training-rows mse {mse:.5}",
        t.steps,
        t.epochs,
        t.best_epoch,
        t.validation_mse.unwrap_or(f64::NAN)
    );
    Ok(())
}
