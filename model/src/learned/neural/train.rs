//! Training with candle: the network as candle variables, mini-batch AdamW, and early stopping on
//! held-out blocks of rows.
//!
//! Everything random — the initial weights, the held-out blocks and the order of mini-batches —
//! comes from one `ChaCha8Rng` seeded by the caller, never from candle's global generator, so a
//! seed fixes the result. Candle's CPU matrix product splits its output among threads but sums
//! each output element in one fixed order, and the other operations used here are element-wise
//! or single-threaded reductions, so the result does not depend on scheduling (a unit test fits
//! twice and compares bits).
//!
//! # Threads
//!
//! Candle's CPU backend has two kinds of parallelism, and neither is configurable except through
//! environment variables: its matrix products (`gemm`) split work over rayon tasks, and its
//! element-wise operations on tensors of at least [`CANDLE_PARALLEL_ELEMENTS`] elements run on a
//! pool of its own whose workers spin while they wait. On a 2-core machine shared with other
//! builds the spinning workers made training ten times slower (bikeshare, 150 updates: 10.2 s
//! against 0.8 s without them). So training runs inside a rayon pool of
//! [`NeuralParams::threads`] threads (which bounds the matrix products), and batches are sized
//! so that tensors stay under the element-wise threshold: candle's own pool is then never
//! started. A single thread is the default: the matrix products of a network this small gain
//! little from a second core (one AVX-512 core already does about 50 GFLOP/s on them), and a
//! shared machine has no idle core to give; results are the same for any number of threads.
//!
//! Training is in `f32`: twice the arithmetic throughput of `f64` on the CPU, and the targets are
//! standardised, so nothing is lost that the fit would notice.

use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW, Linear, Module, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::weights::{Block, Dense, NeuralWeights, standardise};
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

/// Candle runs element-wise operations on tensors of at least this many elements on its own
/// spinning thread pool (`PAR_ELEMWISE_MIN` in `candle-core` 0.11's CPU backend); see the module
/// docs for why we stay below it.
pub(super) const CANDLE_PARALLEL_ELEMENTS: usize = 64 * 1024;

fn candle_error(e: candle_core::Error) -> ModelError {
    ModelError::Backend {
        what: "neural network training",
        reason: e.to_string(),
    }
}

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

/// A dense layer as candle variables.
struct VarDense {
    weight: Var,
    bias: Option<Var>,
    n_in: usize,
    n_out: usize,
}

impl VarDense {
    /// PyTorch's default initialisation: uniform in `±1/sqrt(n_in)`, scaled by `gain`.
    fn new(
        rng: &mut ChaCha8Rng,
        n_in: usize,
        n_out: usize,
        bias: bool,
        gain: f32,
    ) -> Result<Self, ModelError> {
        let bound = gain / (n_in.max(1) as f32).sqrt();
        let mut uniform = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * bound)
                .collect()
        };
        let weight = Var::from_vec(uniform(n_in * n_out), (n_out, n_in), &Device::Cpu)
            .map_err(candle_error)?;
        let bias = if bias {
            Some(Var::from_vec(uniform(n_out), n_out, &Device::Cpu).map_err(candle_error)?)
        } else {
            None
        };
        Ok(VarDense {
            weight,
            bias,
            n_in,
            n_out,
        })
    }

    fn linear(&self) -> Linear {
        Linear::new(
            self.weight.as_tensor().clone(),
            self.bias.as_ref().map(|b| b.as_tensor().clone()),
        )
    }

    fn vars(&self) -> impl Iterator<Item = &Var> {
        std::iter::once(&self.weight).chain(self.bias.as_ref())
    }

    fn export(&self) -> candle_core::Result<Dense> {
        let bias = match &self.bias {
            Some(b) => b.as_tensor().to_vec1::<f32>()?,
            None => Vec::new(),
        };
        Ok(Dense {
            n_in: self.n_in,
            n_out: self.n_out,
            weight: self.weight.as_tensor().flatten_all()?.to_vec1::<f32>()?,
            bias,
        })
    }
}

/// The network being trained; the same computation as [`NeuralWeights::predict_row`].
struct Network {
    embed: VarDense,
    blocks: Vec<(VarDense, VarDense)>,
    head: VarDense,
    skip: VarDense,
}

impl Network {
    fn new(
        rng: &mut ChaCha8Rng,
        n_inputs: usize,
        params: &NeuralParams,
    ) -> Result<Self, ModelError> {
        let w = params.width;
        let embed = VarDense::new(rng, n_inputs, w, true, 1.0)?;
        // Each block's output layer starts small, so the untrained network is close to a
        // linear model and the residual stream does not grow with depth (as in "Fixup").
        let blocks = (0..params.n_blocks)
            .map(|_| {
                Ok((
                    VarDense::new(rng, w, w, true, 1.0)?,
                    VarDense::new(rng, w, w, true, RESIDUAL_INIT_GAIN)?,
                ))
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let head = VarDense::new(rng, w, 1, true, 1.0)?;
        let skip = VarDense::new(rng, n_inputs, 1, false, 1.0)?;
        Ok(Network {
            embed,
            blocks,
            head,
            skip,
        })
    }

    fn vars(&self) -> Vec<Var> {
        let mut vars: Vec<Var> = self.embed.vars().cloned().collect();
        for (fc1, fc2) in &self.blocks {
            vars.extend(fc1.vars().chain(fc2.vars()).cloned());
        }
        vars.extend(self.head.vars().chain(self.skip.vars()).cloned());
        vars
    }

    fn modules(&self) -> Modules {
        Modules {
            width: self.embed.n_out,
            embed: self.embed.linear(),
            blocks: self
                .blocks
                .iter()
                .map(|(a, b)| (a.linear(), b.linear()))
                .collect(),
            head: self.head.linear(),
            skip: self.skip.linear(),
        }
    }

    fn export(&self, weights: &mut NeuralWeights) -> candle_core::Result<()> {
        weights.embed = self.embed.export()?;
        weights.blocks = self
            .blocks
            .iter()
            .map(|(fc1, fc2)| {
                Ok(Block {
                    fc1: fc1.export()?,
                    fc2: fc2.export()?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        weights.head = self.head.export()?;
        weights.skip = self.skip.export()?;
        Ok(())
    }
}

/// Gain of the initial weights of each block's second layer.
const RESIDUAL_INIT_GAIN: f32 = 0.1;

/// The layers as candle modules (sharing storage with the variables).
struct Modules {
    width: usize,
    embed: Linear,
    blocks: Vec<(Linear, Linear)>,
    head: Linear,
    skip: Linear,
}

impl Module for Modules {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = self.embed.forward(x)?;
        for (fc1, fc2) in &self.blocks {
            let u = fc2.forward(&fc1.forward(&h.relu()?)?.relu()?)?;
            h = (h + u)?;
        }
        self.head.forward(&h.relu()?)? + self.skip.forward(x)?
    }
}

/// The rows of `x` (standardised, `f32`) and `z` listed in `index`, as candle tensors.
fn gather(
    xs: &[f32],
    zs: &[f32],
    d: usize,
    index: &[usize],
) -> candle_core::Result<(Tensor, Tensor)> {
    let mut bx = Vec::with_capacity(index.len() * d);
    let mut by = Vec::with_capacity(index.len());
    for &i in index {
        bx.extend_from_slice(xs.get(i * d..(i + 1) * d).unwrap_or_default());
        by.push(zs.get(i).copied().unwrap_or(0.0));
    }
    Ok((
        Tensor::from_vec(bx, (index.len(), d), &Device::Cpu)?,
        Tensor::from_vec(by, (index.len(), 1), &Device::Cpu)?,
    ))
}

/// Mean squared error of `net` over the rows in `index`.
fn mse(
    net: &Modules,
    xs: &[f32],
    zs: &[f32],
    d: usize,
    index: &[usize],
) -> candle_core::Result<f64> {
    let mut total = 0.0f64;
    let rows = ((CANDLE_PARALLEL_ELEMENTS - 1) / net.width.max(1)).max(1);
    for chunk in index.chunks(rows) {
        let (bx, by) = gather(xs, zs, d, chunk)?;
        let err = (net.forward(&bx)?.detach() - by)?;
        total += f64::from(err.sqr()?.sum_all()?.to_scalar::<f32>()?);
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

/// Fits the network on a pool of [`NeuralParams::threads`] threads; `params` are checked and
/// `x`, `y` agree in length.
pub(super) fn train(
    params: &NeuralParams,
    x: Rows<'_>,
    y: &[f64],
    seed: u64,
) -> Result<(NeuralWeights, TrainingSummary), ModelError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(params.threads)
        .thread_name(|i| format!("civicast-neural-{i}"))
        .build()
        .map_err(|e| ModelError::Backend {
            what: "starting the neural network's training threads",
            reason: e.to_string(),
        })?;
    pool.install(|| train_on_pool(params, x, y, seed))
}

fn train_on_pool(
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
    let net = Network::new(&mut rng, d, params)?;
    let modules = net.modules();
    let mut opt = AdamW::new(
        net.vars(),
        ParamsAdamW {
            lr: params.learning_rate,
            weight_decay: params.weight_decay,
            ..ParamsAdamW::default()
        },
    )
    .map_err(candle_error)?;

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
    net.export(&mut best).map_err(candle_error)?;
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
    let mut lr = params.learning_rate;
    let batch = params.batch_size;
    for epoch in 1..=params.max_epochs {
        train_rows.shuffle(&mut rng);
        for chunk in train_rows.chunks(batch) {
            let (bx, by) = gather(&xs, &zs, d, chunk).map_err(candle_error)?;
            let loss = (modules.forward(&bx).map_err(candle_error)? - by)
                .and_then(|e| e.sqr()?.mean_all())
                .map_err(candle_error)?;
            opt.backward_step(&loss).map_err(candle_error)?;
            summary.steps += 1;
            if summary.steps >= params.max_steps {
                break;
            }
        }
        summary.epochs = epoch;
        let out_of_steps = summary.steps >= params.max_steps;
        if !held_rows.is_empty() {
            let loss = mse(&modules, &xs, &zs, d, &held_rows).map_err(candle_error)?;
            if loss < best_loss {
                best_loss = loss;
                since_best = 0;
                summary.best_epoch = epoch;
                summary.validation_mse = Some(loss * target_std * target_std);
                net.export(&mut best).map_err(candle_error)?;
            } else {
                since_best += 1;
                if since_best >= params.patience {
                    break;
                }
                if since_best % LR_PATIENCE == 0 {
                    lr *= 0.5;
                    opt.set_learning_rate(lr);
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
        net.export(&mut best).map_err(candle_error)?;
    }
    Ok((best, summary))
}
