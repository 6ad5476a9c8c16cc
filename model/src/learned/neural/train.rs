//! The training loop: standardisation, held-out blocks for early stopping, mini-batch AdamW
//! over [`backprop`](super::backprop)'s passes, and the learning-rate schedule.
//!
//! Everything random — the initial weights, the held-out blocks and the order of mini-batches —
//! comes from one `ChaCha8Rng` seeded by the caller, and the passes run on the calling thread
//! in a fixed order, so a seed fixes the result bit for bit (a unit test fits twice and
//! compares bits).
//!
//! Training is in `f32`: twice the arithmetic throughput of `f64` on the CPU, and the targets are
//! standardised, so nothing is lost that the fit would notice.

use ndarray::Array2;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::backprop::{Activations, AdamW, Layout, backward, forward, gather, top};
use super::weights::{Dense, NeuralWeights, standardise};
use super::{NeuralParams, TrainingSummary};
use crate::error::ModelError;
use crate::learned::Rows;

/// Rows are held out for early stopping in contiguous blocks of this many: the rows of a series
/// are consecutive time points, and a block keeps most held-out rows away from training rows
/// that share their lags, while a seeded choice of blocks spreads them over all series (the
/// rows' series are not known here, so "the last 10% of each series" is not available).
const HOLDOUT_BLOCK_ROWS: usize = 64;

/// The learning rate is halved after this many epochs without a better held-out loss.
const LR_PATIENCE: usize = 2;

/// Column means and standard deviations over the finite values of each column (0 and 1 for a
/// column without finite values; 1 for a constant one).
fn column_stats(x: Rows<'_>) -> (Vec<f64>, Vec<f64>) {
    let d = x.n_cols;
    let mut count = vec![0usize; d];
    let mut sum = vec![0.0f64; d];
    for row in x.x.chunks_exact(d) {
        for ((c, s), &v) in count.iter_mut().zip(sum.iter_mut()).zip(row) {
            if v.is_finite() {
                *c += 1;
                *s += v;
            }
        }
    }
    let mean: Vec<f64> = sum
        .iter()
        .zip(&count)
        .map(|(&s, &c)| if c > 0 { s / c as f64 } else { 0.0 })
        .collect();
    let mut ss = vec![0.0f64; d];
    for row in x.x.chunks_exact(d) {
        for ((q, &m), &v) in ss.iter_mut().zip(&mean).zip(row) {
            if v.is_finite() {
                *q += (v - m) * (v - m);
            }
        }
    }
    let std = ss
        .iter()
        .zip(&count)
        .map(|(&q, &c)| {
            let s = if c > 1 {
                (q / (c - 1) as f64).sqrt()
            } else {
                0.0
            };
            // A constant column carries no information; dividing by 1 keeps it at 0.
            if s.is_finite() && s > 1e-12 { s } else { 1.0 }
        })
        .collect();
    (mean, std)
}

/// Mean and standard deviation of the targets (standard deviation 1 when they are constant).
fn target_stats(y: &[f64]) -> (f64, f64) {
    let n = y.len().max(1) as f64;
    let mean = y.iter().sum::<f64>() / n;
    let var = y.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let std = var.sqrt();
    (
        mean,
        if std.is_finite() && std > 1e-12 {
            std
        } else {
            1.0
        },
    )
}

/// Mean squared error of the network `theta` over the rows in `index`.
fn mse(
    layout: &Layout,
    theta: &[f32],
    data: (&[f32], &[f32], usize),
    index: &[usize],
    batch: (&mut Array2<f32>, &mut Vec<f32>, &mut Activations),
) -> Result<f64, ModelError> {
    let (xs, zs, d) = data;
    let (bx, by, acts) = batch;
    let mut total = 0.0f64;
    for chunk in index.chunks(bx.nrows().max(1)) {
        gather(xs, zs, d, chunk, bx, by)?;
        forward(layout, theta, top(bx, chunk.len()), acts);
        total += acts
            .outputs(chunk.len())
            .zip(by.iter())
            .map(|(o, &z)| f64::from(o - z).powi(2))
            .sum::<f64>();
    }
    Ok(total / index.len().max(1) as f64)
}

/// Splits `0..n` into training and held-out rows: `fraction` of the blocks of
/// [`HOLDOUT_BLOCK_ROWS`] rows, chosen at random, are held out (none when that rounds to 0 or
/// to all of them).
fn split(n: usize, fraction: f64, rng: &mut ChaCha8Rng) -> (Vec<usize>, Vec<usize>) {
    let n_blocks = n.div_ceil(HOLDOUT_BLOCK_ROWS);
    let n_held = (fraction * n_blocks as f64).round() as usize;
    if n_held == 0 || n_held >= n_blocks {
        return ((0..n).collect(), Vec::new());
    }
    let mut blocks: Vec<usize> = (0..n_blocks).collect();
    blocks.shuffle(rng);
    let mut held = vec![false; n_blocks];
    for &b in blocks.iter().take(n_held) {
        if let Some(h) = held.get_mut(b) {
            *h = true;
        }
    }
    (0..n).partition(|&i| !held.get(i / HOLDOUT_BLOCK_ROWS).copied().unwrap_or(false))
}

/// Fits the network; `params` are checked and `x`, `y` agree in length.
pub(super) fn train(
    params: &NeuralParams,
    x: Rows<'_>,
    y: &[f64],
    seed: u64,
) -> Result<(NeuralWeights, TrainingSummary), ModelError> {
    let d = x.n_cols;
    let n = y.len();
    let (input_mean, input_std) = column_stats(x);
    let (target_mean, target_std) = target_stats(y);
    let xs: Vec<f32> =
        x.x.chunks_exact(d)
            .flat_map(|row| {
                row.iter()
                    .zip(input_mean.iter().zip(&input_std))
                    .map(|(&v, (&m, &s))| standardise(v, m, s))
            })
            .collect();
    let zs: Vec<f32> = y
        .iter()
        .map(|&v| ((v - target_mean) / target_std) as f32)
        .collect();

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train_rows, held_rows) = split(n, params.validation_fraction, &mut rng);
    let layout = Layout::new(d, params.width, params.n_blocks);
    let mut theta = layout.initial(&mut rng);
    let mut grad = vec![0.0f32; layout.len()];
    let mut opt = AdamW::new(layout.len(), params.learning_rate, params.weight_decay);
    let batch = params.batch_size.min(n).max(1);
    let mut bx = Array2::<f32>::zeros((batch, d));
    let mut by = Vec::with_capacity(batch);
    let mut acts = Activations::new(&layout, batch);

    let mut best = NeuralWeights {
        input_mean,
        input_std,
        target_mean,
        target_std,
        embed: Dense::empty(),
        blocks: Vec::new(),
        head: Dense::empty(),
        skip: Dense::empty(),
    };
    let keep = |best: &mut NeuralWeights, theta: &[f32]| {
        (best.embed, best.blocks, best.head, best.skip) = layout.export(theta);
    };
    keep(&mut best, &theta);
    let mut summary = TrainingSummary {
        train_rows: train_rows.len(),
        validation_rows: held_rows.len(),
        epochs: 0,
        best_epoch: 0,
        steps: 0,
        validation_mse: None,
    };
    let mut best_loss = f64::INFINITY;
    let mut since_best = 0;
    for epoch in 1..=params.max_epochs {
        train_rows.shuffle(&mut rng);
        for chunk in train_rows.chunks(batch) {
            gather(&xs, &zs, d, chunk, &mut bx, &mut by)?;
            let rows = top(&bx, chunk.len());
            forward(&layout, &theta, rows, &mut acts);
            backward(&layout, &theta, rows, &by, &mut acts, &mut grad);
            opt.step(&mut theta, &grad);
            summary.steps += 1;
            if summary.steps >= params.max_steps {
                break;
            }
        }
        summary.epochs = epoch;
        let out_of_steps = summary.steps >= params.max_steps;
        if !held_rows.is_empty() {
            let loss = mse(
                &layout,
                &theta,
                (&xs, &zs, d),
                &held_rows,
                (&mut bx, &mut by, &mut acts),
            )?;
            if loss < best_loss {
                best_loss = loss;
                since_best = 0;
                summary.best_epoch = epoch;
                summary.validation_mse = Some(loss * target_std * target_std);
                keep(&mut best, &theta);
            } else {
                since_best += 1;
                if since_best >= params.patience {
                    break;
                }
                if since_best % LR_PATIENCE == 0 {
                    opt.learning_rate *= 0.5;
                }
            }
        }
        if out_of_steps {
            break;
        }
    }
    if held_rows.is_empty() {
        // Without held-out rows the last weights are the fit.
        summary.best_epoch = summary.epochs;
        keep(&mut best, &theta);
    }
    Ok((best, summary))
}
