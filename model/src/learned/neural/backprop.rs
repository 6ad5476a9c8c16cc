//! The network's forward and backward passes over a mini-batch, and AdamW, written by hand over
//! one flat parameter buffer.
//!
//! # Why not candle
//!
//! Until 2026-12 the network was trained with candle's autograd and candle-nn's AdamW. A profile
//! of the `auto` backtest on Chicago (`docs/accuracy-history.md`, "Cost") showed where candle's time went
//! for a network this small: of the 60% of the CPU spent training it, the matrix products were
//! 23%, and the rest was per-operation overhead — reductions for the bias gradients (12%),
//! element-wise maps each allocating a tensor (12%), allocation and copies, and reading
//! `/proc/cpuinfo` on every product for the thread count. The network is five dense layers with
//! ReLUs; its gradients are a dozen matrix products that fit on a page, so they are written out
//! here. The products are `ndarray`'s `general_mat_mul` (the `matrixmultiply` crate's packed,
//! runtime-dispatched SIMD kernels, already a dependency); bias gradients, ReLU masks and the
//! AdamW update are single fused loops into buffers allocated once. A unit test checks the
//! gradients against finite differences, and another the whole fit against candle's autograd
//! on the same batch.
//!
//! Everything runs on the calling thread in a fixed order (matrixmultiply is built without its
//! threading feature), so a seed fixes the result bit for bit.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, Slice, Zip};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::weights::{Block, Dense};
use crate::error::ModelError;

/// Gain of the initial weights of each block's second layer.
const RESIDUAL_INIT_GAIN: f32 = 0.1;

/// AdamW's moment decay rates and denominator guard: PyTorch's and candle-nn's defaults.
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPSILON: f64 = 1e-8;

/// Where one dense layer `y = x Wᵀ + b` lives in the flat buffers: `W` row-major `(n_out,
/// n_in)` at `weight`, then `b` (`n_out` values) at `bias` when it has one.
#[derive(Clone, Copy, Debug)]
struct Slot {
    n_in: usize,
    n_out: usize,
    weight: usize,
    bias: Option<usize>,
}

impl Slot {
    fn end(&self) -> usize {
        self.bias
            .map_or(self.weight + self.n_in * self.n_out, |b| b + self.n_out)
    }

    fn weight<'a>(&self, buffer: &'a [f32]) -> ArrayView2<'a, f32> {
        view(
            &buffer[self.weight..self.weight + self.n_in * self.n_out],
            self.n_out,
            self.n_in,
        )
    }

    fn weight_mut<'a>(&self, buffer: &'a mut [f32]) -> ArrayViewMut2<'a, f32> {
        view_mut(
            &mut buffer[self.weight..self.weight + self.n_in * self.n_out],
            self.n_out,
            self.n_in,
        )
    }

    fn bias<'a>(&self, buffer: &'a [f32]) -> &'a [f32] {
        self.bias.map_or(&[], |b| &buffer[b..b + self.n_out])
    }

    fn export(&self, buffer: &[f32]) -> Dense {
        Dense {
            n_in: self.n_in,
            n_out: self.n_out,
            weight: buffer[self.weight..self.weight + self.n_in * self.n_out].to_vec(),
            bias: self.bias(buffer).to_vec(),
        }
    }
}

/// A `(rows, cols)` view of a slice of exactly that length.
fn view(slice: &[f32], rows: usize, cols: usize) -> ArrayView2<'_, f32> {
    ArrayView2::from_shape((rows, cols), slice).unwrap_or_else(|_| unreachable!("slot shapes"))
}

fn view_mut(slice: &mut [f32], rows: usize, cols: usize) -> ArrayViewMut2<'_, f32> {
    ArrayViewMut2::from_shape((rows, cols), slice).unwrap_or_else(|_| unreachable!("slot shapes"))
}

/// The network's layers in the flat buffer: the same computation as
/// [`NeuralWeights::predict_row`](super::weights::NeuralWeights::predict_row).
#[derive(Clone, Debug)]
pub(super) struct Layout {
    embed: Slot,
    blocks: Vec<(Slot, Slot)>,
    head: Slot,
    skip: Slot,
    len: usize,
}

impl Layout {
    /// The layers of a network with `n_inputs` inputs, residual width `width` and `n_blocks`
    /// blocks.
    pub fn new(n_inputs: usize, width: usize, n_blocks: usize) -> Self {
        let mut next = 0;
        let mut slot = |n_in: usize, n_out: usize, bias: bool| {
            let weight = next;
            let bias = bias.then_some(weight + n_in * n_out);
            let s = Slot {
                n_in,
                n_out,
                weight,
                bias,
            };
            next = s.end();
            s
        };
        let embed = slot(n_inputs, width, true);
        let blocks = (0..n_blocks)
            .map(|_| (slot(width, width, true), slot(width, width, true)))
            .collect();
        let head = slot(width, 1, true);
        let skip = slot(n_inputs, 1, false);
        Layout {
            embed,
            blocks,
            head,
            skip,
            len: next,
        }
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.len
    }

    fn slots(&self) -> impl Iterator<Item = (Slot, f32)> + '_ {
        std::iter::once((self.embed, 1.0))
            .chain(
                self.blocks
                    .iter()
                    .flat_map(|&(a, b)| [(a, 1.0), (b, RESIDUAL_INIT_GAIN)]),
            )
            .chain([(self.head, 1.0), (self.skip, 1.0)])
    }

    /// Initial parameters: PyTorch's default, uniform in `±gain/sqrt(n_in)` for weights and
    /// biases alike, with each block's output layer scaled down so that the untrained network
    /// is close to its linear skip and the residual stream does not grow with depth (as in
    /// "Fixup").
    pub fn initial(&self, rng: &mut ChaCha8Rng) -> Vec<f32> {
        let mut theta = vec![0.0f32; self.len];
        for (slot, gain) in self.slots() {
            let bound = gain / (slot.n_in.max(1) as f32).sqrt();
            for v in &mut theta[slot.weight..slot.end()] {
                *v = (rng.random::<f32>() * 2.0 - 1.0) * bound;
            }
        }
        theta
    }

    /// The layers' weights, as prediction reads them.
    pub fn export(&self, theta: &[f32]) -> (Dense, Vec<Block>, Dense, Dense) {
        (
            self.embed.export(theta),
            self.blocks
                .iter()
                .map(|(fc1, fc2)| Block {
                    fc1: fc1.export(theta),
                    fc2: fc2.export(theta),
                })
                .collect(),
            self.head.export(theta),
            self.skip.export(theta),
        )
    }
}

/// `out = x Wᵀ + b` for a slot.
fn dense(slot: &Slot, theta: &[f32], x: ArrayView2<'_, f32>, mut out: ArrayViewMut2<'_, f32>) {
    let bias = slot.bias(theta);
    if bias.is_empty() {
        out.fill(0.0);
    } else {
        for mut row in out.rows_mut() {
            if let Some(row) = row.as_slice_mut() {
                row.copy_from_slice(bias);
            }
        }
    }
    general_mat_mul(1.0, &x, &slot.weight(theta).t(), 1.0, &mut out);
}

fn relu(from: ArrayView2<'_, f32>, to: ArrayViewMut2<'_, f32>) {
    Zip::from(to).and(from).for_each(|t, &f| *t = f.max(0.0));
}

/// The gradients of `slot`'s weights and bias for output gradients `g` of a batch whose inputs
/// were `input`: `gᵀ input` and the column sums of `g`.
fn layer_gradients(
    slot: &Slot,
    grad: &mut [f32],
    g: ArrayView2<'_, f32>,
    input: ArrayView2<'_, f32>,
) {
    general_mat_mul(1.0, &g.t(), &input, 0.0, &mut slot.weight_mut(grad));
    bias_gradient(slot, grad, g);
}

/// Adds the column sums of `g` to the bias gradient of `slot`.
fn bias_gradient(slot: &Slot, grad: &mut [f32], g: ArrayView2<'_, f32>) {
    if let Some(b) = slot.bias {
        let out = &mut grad[b..b + slot.n_out];
        for row in g.rows() {
            for (o, &v) in out.iter_mut().zip(row.iter()) {
                *o += v;
            }
        }
    }
}

/// The activations of one batch, kept for the backward pass; sized once for the largest batch
/// and viewed per batch.
pub(super) struct Activations {
    /// The residual stream before each block and after the last: `n_blocks + 1` of `(rows,
    /// width)`.
    h: Vec<Array2<f32>>,
    /// Per block, `relu(h)`, the first layer's output and its ReLU.
    a: Vec<Array2<f32>>,
    p: Vec<Array2<f32>>,
    q: Vec<Array2<f32>>,
    /// `relu` of the last residual stream, the head's input.
    r: Array2<f32>,
    /// The network's outputs, `(rows, 1)`.
    out: Array2<f32>,
    /// Gradient buffers: of the residual stream, of a block's hidden layer, and of the output.
    gh: Array2<f32>,
    gp: Array2<f32>,
    gout: Array2<f32>,
}

impl Activations {
    /// Buffers for batches of up to `rows` rows.
    pub fn new(layout: &Layout, rows: usize) -> Self {
        let width = layout.embed.n_out;
        let m = || Array2::zeros((rows, width));
        let n = layout.blocks.len();
        Activations {
            h: (0..=n).map(|_| m()).collect(),
            a: (0..n).map(|_| m()).collect(),
            p: (0..n).map(|_| m()).collect(),
            q: (0..n).map(|_| m()).collect(),
            r: m(),
            out: Array2::zeros((rows, 1)),
            gh: m(),
            gp: m(),
            gout: Array2::zeros((rows, 1)),
        }
    }

    /// The outputs of the last [`forward`] over `rows` rows.
    pub fn outputs(&self, rows: usize) -> impl Iterator<Item = f32> + '_ {
        top(&self.out, rows).into_iter().copied()
    }
}

/// The network's outputs for the rows of `x` (standardised inputs), into `acts`.
pub(super) fn forward(
    layout: &Layout,
    theta: &[f32],
    x: ArrayView2<'_, f32>,
    acts: &mut Activations,
) {
    let rows = x.nrows();
    dense(&layout.embed, theta, x, top_mut(&mut acts.h[0], rows));
    for (k, (fc1, fc2)) in layout.blocks.iter().enumerate() {
        relu(top(&acts.h[k], rows), top_mut(&mut acts.a[k], rows));
        dense(
            fc1,
            theta,
            top(&acts.a[k], rows),
            top_mut(&mut acts.p[k], rows),
        );
        relu(top(&acts.p[k], rows), top_mut(&mut acts.q[k], rows));
        let (before, after) = acts.h.split_at_mut(k + 1);
        let mut next = after[0].slice_axis_mut(Axis(0), Slice::from(..rows));
        dense(fc2, theta, top(&acts.q[k], rows), next.view_mut());
        next += &top(&before[k], rows);
    }
    relu(
        top(&acts.h[layout.blocks.len()], rows),
        top_mut(&mut acts.r, rows),
    );
    let mut out = top_mut(&mut acts.out, rows);
    dense(&layout.head, theta, top(&acts.r, rows), out.view_mut());
    general_mat_mul(1.0, &x, &layout.skip.weight(theta).t(), 1.0, &mut out);
}

/// The mean squared error of the last [`forward`] against `y`, and its gradient with respect
/// to every parameter, into `grad`.
pub(super) fn backward(
    layout: &Layout,
    theta: &[f32],
    x: ArrayView2<'_, f32>,
    y: &[f32],
    acts: &mut Activations,
    grad: &mut [f32],
) -> f64 {
    let rows = x.nrows();
    grad.fill(0.0);
    let scale = 2.0 / rows.max(1) as f32;
    let mut loss = 0.0f64;
    for ((g, &o), &t) in acts
        .gout
        .slice_axis_mut(Axis(0), Slice::from(..rows))
        .iter_mut()
        .zip(top(&acts.out, rows))
        .zip(y)
    {
        let e = o - t;
        loss += f64::from(e * e);
        *g = scale * e;
    }
    let gout = top(&acts.gout, rows);
    // The head and the skip.
    layer_gradients(&layout.head, grad, gout, top(&acts.r, rows));
    layer_gradients(&layout.skip, grad, gout, x);
    // Into the last residual stream, through the head's ReLU.
    let n = layout.blocks.len();
    let mut gh = top_mut(&mut acts.gh, rows);
    general_mat_mul(1.0, &gout, &layout.head.weight(theta), 0.0, &mut gh);
    Zip::from(&mut gh)
        .and(top(&acts.h[n], rows))
        .for_each(|g, &h| *g = if h > 0.0 { *g } else { 0.0 });
    for (k, (fc1, fc2)) in layout.blocks.iter().enumerate().rev() {
        // h[k + 1] = h[k] + fc2(relu(fc1(relu(h[k])))): gh flows to h[k] unchanged, plus
        // through the block.
        layer_gradients(fc2, grad, gh.view(), top(&acts.q[k], rows));
        let mut gp = top_mut(&mut acts.gp, rows);
        general_mat_mul(1.0, &gh, &fc2.weight(theta), 0.0, &mut gp);
        Zip::from(&mut gp)
            .and(top(&acts.p[k], rows))
            .for_each(|g, &p| *g = if p > 0.0 { *g } else { 0.0 });
        layer_gradients(fc1, grad, gp.view(), top(&acts.a[k], rows));
        // gh += (gp W1) masked by h[k] > 0; the product goes through `a`'s buffer, which the
        // backward pass no longer needs.
        let mut ga = top_mut(&mut acts.a[k], rows);
        general_mat_mul(1.0, &gp, &fc1.weight(theta), 0.0, &mut ga);
        Zip::from(&mut gh)
            .and(&ga)
            .and(top(&acts.h[k], rows))
            .for_each(|g, &a, &h| *g += if h > 0.0 { a } else { 0.0 });
    }
    layer_gradients(&layout.embed, grad, gh.view(), x);
    loss / rows.max(1) as f64
}

/// AdamW with decoupled weight decay, as candle-nn and PyTorch define it.
pub(super) struct AdamW {
    m: Vec<f32>,
    v: Vec<f32>,
    step: i32,
    /// The learning rate (changed by the caller's schedule).
    pub learning_rate: f64,
    weight_decay: f64,
}

impl AdamW {
    /// An optimiser for `len` parameters.
    pub fn new(len: usize, learning_rate: f64, weight_decay: f64) -> Self {
        AdamW {
            m: vec![0.0; len],
            v: vec![0.0; len],
            step: 0,
            learning_rate,
            weight_decay,
        }
    }

    /// One update of `theta` by `grad`.
    pub fn step(&mut self, theta: &mut [f32], grad: &[f32]) {
        self.step = self.step.saturating_add(1);
        let scale_m = (1.0 / (1.0 - BETA1.powi(self.step))) as f32;
        let scale_v = (1.0 / (1.0 - BETA2.powi(self.step))) as f32;
        let decay = (1.0 - self.learning_rate * self.weight_decay) as f32;
        let lr = self.learning_rate as f32;
        let (b1, b2, eps) = (BETA1 as f32, BETA2 as f32, EPSILON as f32);
        for (((t, &g), m), v) in theta
            .iter_mut()
            .zip(grad)
            .zip(self.m.iter_mut())
            .zip(self.v.iter_mut())
        {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            let update = (*m * scale_m) / ((*v * scale_v).sqrt() + eps);
            *t = *t * decay - lr * update;
        }
    }
}

/// The rows of `xs` (row-major, `d` columns) and `zs` listed in `index`, into `bx` and `by`.
pub(super) fn gather(
    xs: &[f32],
    zs: &[f32],
    d: usize,
    index: &[usize],
    bx: &mut Array2<f32>,
    by: &mut Vec<f32>,
) -> Result<(), ModelError> {
    by.clear();
    for (mut row, &i) in bx.rows_mut().into_iter().zip(index) {
        let (Some(from), Some(&z), Some(to)) =
            (xs.get(i * d..(i + 1) * d), zs.get(i), row.as_slice_mut())
        else {
            return Err(ModelError::Backend {
                what: "neural network training",
                reason: format!("row {i} is outside the training matrix"),
            });
        };
        to.copy_from_slice(from);
        by.push(z);
    }
    Ok(())
}

/// The first `rows` rows of a batch buffer.
pub(super) fn top(a: &Array2<f32>, rows: usize) -> ArrayView2<'_, f32> {
    a.slice_axis(Axis(0), Slice::from(..rows))
}

fn top_mut(a: &mut Array2<f32>, rows: usize) -> ArrayViewMut2<'_, f32> {
    a.slice_axis_mut(Axis(0), Slice::from(..rows))
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};
    use candle_nn::{Optimizer, ParamsAdamW};
    use rand::SeedableRng;

    use super::*;

    /// The same network as candle variables, one per slot's weight and bias.
    fn candle_vars(layout: &Layout, theta: &[f32]) -> Vec<(Slot, Var, Option<Var>)> {
        layout
            .slots()
            .map(|(slot, _)| {
                let w = Var::from_vec(
                    slot.weight(theta).iter().copied().collect::<Vec<f32>>(),
                    (slot.n_out, slot.n_in),
                    &Device::Cpu,
                )
                .unwrap();
                let b = slot.bias.map(|_| {
                    Var::from_vec(slot.bias(theta).to_vec(), slot.n_out, &Device::Cpu).unwrap()
                });
                (slot, w, b)
            })
            .collect()
    }

    fn candle_loss(vars: &[(Slot, Var, Option<Var>)], x: &Tensor, y: &Tensor) -> Tensor {
        let linear = |k: usize, input: &Tensor| -> Tensor {
            let (_, w, b) = &vars[k];
            let out = input.matmul(&w.as_tensor().t().unwrap()).unwrap();
            match b {
                Some(b) => out.broadcast_add(b.as_tensor()).unwrap(),
                None => out,
            }
        };
        let n_blocks = (vars.len() - 3) / 2;
        let mut h = linear(0, x);
        for k in 0..n_blocks {
            let u = linear(
                2 + 2 * k,
                &linear(1 + 2 * k, &h.relu().unwrap()).relu().unwrap(),
            );
            h = (h + u).unwrap();
        }
        let out =
            (linear(1 + 2 * n_blocks, &h.relu().unwrap()) + linear(2 + 2 * n_blocks, x)).unwrap();
        (out - y).unwrap().sqr().unwrap().mean_all().unwrap()
    }

    /// Every gradient agrees with candle's autograd on the same network and batch, and one
    /// AdamW step with candle-nn's; block outputs are scaled up so that every ReLU and residual
    /// path carries gradient.
    #[test]
    fn gradients_and_adamw_match_candle() {
        let (rows, d, width, n_blocks) = (9, 5, 8, 2);
        let layout = Layout::new(d, width, n_blocks);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut theta = layout.initial(&mut rng);
        for v in &mut theta {
            *v *= 3.0;
        }
        let x: Vec<f32> = (0..rows * d)
            .map(|_| rng.random::<f32>() * 2.0 - 1.0)
            .collect();
        let y: Vec<f32> = (0..rows).map(|_| rng.random::<f32>()).collect();
        let xv = ArrayView2::from_shape((rows, d), x.as_slice()).unwrap();
        let mut acts = Activations::new(&layout, rows + 3);
        let mut grad = vec![0.0; layout.len()];
        forward(&layout, &theta, xv, &mut acts);
        let loss = backward(&layout, &theta, xv, &y, &mut acts, &mut grad);

        let vars = candle_vars(&layout, &theta);
        let xt = Tensor::from_vec(x.clone(), (rows, d), &Device::Cpu).unwrap();
        let yt = Tensor::from_vec(y.clone(), (rows, 1), &Device::Cpu).unwrap();
        let candle = candle_loss(&vars, &xt, &yt);
        let candle_value = f64::from(candle.to_scalar::<f32>().unwrap());
        assert!((loss - candle_value).abs() < 1e-5 * candle_value.max(1.0));
        let grads = candle.backward().unwrap();
        let mut nonzero = 0;
        for (slot, w, b) in &vars {
            let mut expected: Vec<f32> = grads
                .get(w.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            if let Some(b) = b {
                expected.extend(grads.get(b.as_tensor()).unwrap().to_vec1::<f32>().unwrap());
            }
            let ours = &grad[slot.weight..slot.end()];
            for (i, (&g, &e)) in ours.iter().zip(&expected).enumerate() {
                assert!(
                    (g - e).abs() <= 1e-5 + 1e-4 * e.abs(),
                    "parameter {} of a ({}, {}) layer: ours {g}, candle {e}",
                    i,
                    slot.n_out,
                    slot.n_in
                );
                nonzero += usize::from(e != 0.0);
            }
        }
        assert!(nonzero > layout.len() / 2, "too few live gradients to test");

        let (lr, wd) = (0.01, 0.1);
        let mut ours = AdamW::new(layout.len(), lr, wd);
        let all: Vec<Var> = vars
            .iter()
            .flat_map(|(_, w, b)| std::iter::once(w.clone()).chain(b.clone()))
            .collect();
        let mut theirs = candle_nn::AdamW::new(
            all,
            ParamsAdamW {
                lr,
                weight_decay: wd,
                ..ParamsAdamW::default()
            },
        )
        .unwrap();
        for _ in 0..3 {
            forward(&layout, &theta, xv, &mut acts);
            backward(&layout, &theta, xv, &y, &mut acts, &mut grad);
            ours.step(&mut theta, &grad);
            theirs.backward_step(&candle_loss(&vars, &xt, &yt)).unwrap();
        }
        for (slot, w, b) in &vars {
            let mut expected: Vec<f32> = w.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
            if let Some(b) = b {
                expected.extend(b.as_tensor().to_vec1::<f32>().unwrap());
            }
            for (&t, &e) in theta[slot.weight..slot.end()].iter().zip(&expected) {
                assert!(
                    (t - e).abs() <= 1e-5 + 1e-4 * e.abs(),
                    "ours {t}, candle {e}"
                );
            }
        }
    }

    /// A batch smaller than the buffers gives the same outputs as the same rows in a full one.
    #[test]
    fn a_short_batch_uses_only_its_rows() {
        let layout = Layout::new(3, 4, 1);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let theta = layout.initial(&mut rng);
        let x: Vec<f32> = (0..12).map(|i| i as f32 / 7.0 - 0.8).collect();
        let mut acts = Activations::new(&layout, 4);
        forward(
            &layout,
            &theta,
            ArrayView2::from_shape((4, 3), &x[..]).unwrap(),
            &mut acts,
        );
        let all: Vec<f32> = acts.outputs(4).collect();
        forward(
            &layout,
            &theta,
            ArrayView2::from_shape((2, 3), &x[..6]).unwrap(),
            &mut acts,
        );
        let short: Vec<f32> = acts.outputs(2).collect();
        assert_eq!(short, all[..2]);
    }
}
