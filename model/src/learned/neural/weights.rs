//! A fitted network as plain data: its tensors, their safetensors encoding, and the forward pass
//! used for prediction.
//!
//! The safetensors file holds everything the forward pass reads — the input and target
//! standardisation (`f64`) and the layer weights (`f32`, row-major `(out, in)` as in candle and
//! PyTorch) — under fixed names, so candle can load it as it is (`candle_core::safetensors::
//! load_buffer`). Decoding checks every tensor's dtype and shape against the architecture
//! ([`NeuralConfig`]), rejects missing, extra and non-finite tensors, and never panics: the bytes
//! may come from a file someone edited.
//!
//! The forward pass here is plain Rust rather than candle. The service forecasts recursively, one
//! row per step, and for one row candle's per-operation cost (a tensor allocation and a dispatch
//! for each of a dozen operations, plus thread hand-offs with its default thread count) is as
//! large as the arithmetic of a network this small; a dot product per output neuron takes about
//! 7 µs a row (measured by `examples/neural_dev.rs`). Each row is computed on its own in a fixed
//! order, so a prediction does not depend on what else is in the batch or on thread settings.

use std::borrow::Cow;
use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors, View};

use super::NeuralConfig;
use crate::error::ModelError;

/// The safetensors metadata key and value that mark our files.
const FORMAT_KEY: &str = "format";
/// Bumped whenever tensor names or meanings change.
const FORMAT: &str = "civicast-neural-v1";

/// A dense layer, `y = W x + b`, with `W` row-major `(n_out, n_in)`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Dense {
    pub n_in: usize,
    pub n_out: usize,
    pub weight: Vec<f32>,
    /// Empty for a layer without bias.
    pub bias: Vec<f32>,
}

impl Dense {
    /// A layer of no size (a placeholder until weights are exported).
    pub fn empty() -> Self {
        Dense {
            n_in: 0,
            n_out: 0,
            weight: Vec::new(),
            bias: Vec::new(),
        }
    }

    fn is_finite(&self) -> bool {
        self.weight.iter().chain(&self.bias).all(|v| v.is_finite())
    }

    /// Writes `W input + b` into `out` (`n_out` values).
    fn apply(&self, input: &[f32], out: &mut [f32]) {
        for (o, (row, y)) in self
            .weight
            .chunks_exact(self.n_in)
            .zip(out.iter_mut())
            .enumerate()
        {
            *y = dot(row, input) + self.bias.get(o).copied().unwrap_or(0.0);
        }
    }
}

/// One residual block: `h + fc2(relu(fc1(relu(h))))`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Block {
    pub fc1: Dense,
    pub fc2: Dense,
}

/// Everything the forward pass reads.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct NeuralWeights {
    /// Per input column, the mean and standard deviation of the training rows.
    pub input_mean: Vec<f64>,
    pub input_std: Vec<f64>,
    /// Mean and standard deviation of the training targets; the network predicts standardised
    /// targets.
    pub target_mean: f64,
    pub target_std: f64,
    /// Inputs to the residual stream.
    pub embed: Dense,
    pub blocks: Vec<Block>,
    /// The residual stream to the output.
    pub head: Dense,
    /// The linear skip from the standardised inputs to the output (no bias: the head has one).
    pub skip: Dense,
}

/// Standardises `v` with `mean` and `std`; missing (NaN) and infinite inputs, and anything that
/// standardises to a non-finite value, become 0: the training mean.
pub(super) fn standardise(v: f64, mean: f64, std: f64) -> f32 {
    let z = ((v - mean) / std) as f32;
    if z.is_finite() { z } else { 0.0 }
}

/// A dot product with eight independent accumulators, so that the compiler vectorises it; the
/// summation order is fixed, so results are reproducible.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..LANES {
            acc[k] += x[k] * y[k];
        }
    }
    let mut sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

fn relu_into(input: &[f32], out: &mut [f32]) {
    for (y, &x) in out.iter_mut().zip(input) {
        *y = x.max(0.0);
    }
}

/// Reusable buffers for [`NeuralWeights::predict_row`].
pub(super) struct Scratch {
    x: Vec<f32>,
    h: Vec<f32>,
    a: Vec<f32>,
    u: Vec<f32>,
    v: Vec<f32>,
}

impl NeuralWeights {
    /// Buffers sized for this network.
    pub fn scratch(&self) -> Scratch {
        let width = self.embed.n_out;
        Scratch {
            x: vec![0.0; self.embed.n_in],
            h: vec![0.0; width],
            a: vec![0.0; width],
            u: vec![0.0; width],
            v: vec![0.0; width],
        }
    }

    /// The prediction for one row of `n_inputs` raw values, on the target's scale.
    pub fn predict_row(&self, row: &[f64], s: &mut Scratch) -> f64 {
        for (((x, &v), &mean), &std) in
            s.x.iter_mut()
                .zip(row)
                .zip(&self.input_mean)
                .zip(&self.input_std)
        {
            *x = standardise(v, mean, std);
        }
        self.embed.apply(&s.x, &mut s.h);
        for block in &self.blocks {
            relu_into(&s.h, &mut s.a);
            block.fc1.apply(&s.a, &mut s.u);
            relu_into(&s.u, &mut s.a);
            block.fc2.apply(&s.a, &mut s.v);
            for (h, v) in s.h.iter_mut().zip(&s.v) {
                *h += v;
            }
        }
        relu_into(&s.h, &mut s.a);
        let mut out = [0.0f32; 1];
        self.head.apply(&s.a, &mut out);
        let mut skip = [0.0f32; 1];
        self.skip.apply(&s.x, &mut skip);
        self.target_mean + self.target_std * f64::from(out[0] + skip[0])
    }

    /// Whether every weight is finite (training may diverge).
    pub fn is_finite(&self) -> bool {
        self.embed.is_finite()
            && self.head.is_finite()
            && self.skip.is_finite()
            && self
                .blocks
                .iter()
                .all(|b| b.fc1.is_finite() && b.fc2.is_finite())
    }

    /// The tensors under their safetensors names.
    pub fn tensors(&self) -> Vec<(String, Raw)> {
        let mut tensors = vec![
            ("input.mean".to_owned(), Raw::f64(&self.input_mean)),
            ("input.std".to_owned(), Raw::f64(&self.input_std)),
            ("target.mean".to_owned(), Raw::f64(&[self.target_mean])),
            ("target.std".to_owned(), Raw::f64(&[self.target_std])),
        ];
        let mut dense = |name: &str, d: &Dense| {
            tensors.push((
                format!("{name}.weight"),
                Raw::f32(&d.weight, vec![d.n_out, d.n_in]),
            ));
            if !d.bias.is_empty() {
                tensors.push((format!("{name}.bias"), Raw::f32(&d.bias, vec![d.n_out])));
            }
        };
        dense("embed", &self.embed);
        for (k, block) in self.blocks.iter().enumerate() {
            dense(&format!("blocks.{k}.fc1"), &block.fc1);
            dense(&format!("blocks.{k}.fc2"), &block.fc2);
        }
        dense("head", &self.head);
        dense("skip", &self.skip);
        tensors
    }

    /// The safetensors encoding.
    pub fn to_safetensors(&self) -> Result<Vec<u8>, ModelError> {
        let metadata = HashMap::from([(FORMAT_KEY.to_owned(), FORMAT.to_owned())]);
        safetensors::serialize(self.tensors(), Some(metadata)).map_err(|e| ModelError::Backend {
            what: "encoding the neural network's weights",
            reason: e.to_string(),
        })
    }

    /// Decodes safetensors `bytes` for a network of architecture `config`.
    pub fn from_safetensors(config: &NeuralConfig, bytes: &[u8]) -> Result<Self, ModelError> {
        let bad = |reason: String| ModelError::Corrupt {
            what: "neural network weights",
            reason,
        };
        let file = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let format = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get(FORMAT_KEY).cloned());
        if format.as_deref() != Some(FORMAT) {
            return Err(bad(format!(
                "the file's format is {format:?}, expected {FORMAT:?}"
            )));
        }
        let d = config.names.len();
        let w = config.width;
        let mut read = Reader {
            file: &file,
            used: Vec::new(),
        };
        let input_mean = read.f64("input.mean", d)?;
        let input_std = read.f64("input.std", d)?;
        if let Some(j) = input_std.iter().position(|&s| s <= 0.0) {
            return Err(bad(format!(
                "the standard deviation of input column {j} is not positive"
            )));
        }
        let target_mean = read.f64("target.mean", 1)?.first().copied().unwrap_or(0.0);
        let target_std = read.f64("target.std", 1)?.first().copied().unwrap_or(1.0);
        if target_std <= 0.0 {
            return Err(bad("the target standard deviation is not positive".into()));
        }
        let embed = read.dense("embed", d, w, true)?;
        let blocks = (0..config.n_blocks)
            .map(|k| {
                Ok(Block {
                    fc1: read.dense(&format!("blocks.{k}.fc1"), w, w, true)?,
                    fc2: read.dense(&format!("blocks.{k}.fc2"), w, w, true)?,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let head = read.dense("head", w, 1, true)?;
        let skip = read.dense("skip", d, 1, false)?;
        if read.used.len() != file.len() {
            let mut extra: Vec<&str> = file
                .names()
                .into_iter()
                .filter(|n| !read.used.iter().any(|u| u == n))
                .collect();
            extra.sort_unstable();
            return Err(bad(format!("unexpected tensors {extra:?}")));
        }
        Ok(NeuralWeights {
            input_mean,
            input_std,
            target_mean,
            target_std,
            embed,
            blocks,
            head,
            skip,
        })
    }
}

/// Reads named tensors of an expected dtype and shape, remembering which were read.
struct Reader<'a, 'data> {
    file: &'a SafeTensors<'data>,
    used: Vec<String>,
}

impl Reader<'_, '_> {
    fn bytes(&mut self, name: &str, dtype: Dtype, shape: &[usize]) -> Result<&[u8], ModelError> {
        let bad = |reason: String| ModelError::Corrupt {
            what: "neural network weights",
            reason: format!("tensor {name:?} {reason}"),
        };
        let view = self
            .file
            .tensor(name)
            .map_err(|_| bad("is missing".into()))?;
        if view.dtype() != dtype || view.shape() != shape {
            return Err(bad(format!(
                "is {:?} {:?}, expected {dtype:?} {shape:?}",
                view.dtype(),
                view.shape()
            )));
        }
        self.used.push(name.to_owned());
        let data = view.data();
        let finite = match dtype {
            Dtype::F32 => data
                .chunks_exact(4)
                .all(|b| le_f32(b).is_some_and(f32::is_finite)),
            _ => data
                .chunks_exact(8)
                .all(|b| le_f64(b).is_some_and(f64::is_finite)),
        };
        if !finite {
            return Err(bad("has non-finite values".into()));
        }
        Ok(data)
    }

    fn f64(&mut self, name: &str, len: usize) -> Result<Vec<f64>, ModelError> {
        let data = self.bytes(name, Dtype::F64, &[len])?;
        Ok(data.chunks_exact(8).filter_map(le_f64).collect())
    }

    fn f32(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ModelError> {
        let data = self.bytes(name, Dtype::F32, shape)?;
        Ok(data.chunks_exact(4).filter_map(le_f32).collect())
    }

    fn dense(
        &mut self,
        name: &str,
        n_in: usize,
        n_out: usize,
        bias: bool,
    ) -> Result<Dense, ModelError> {
        let weight = self.f32(&format!("{name}.weight"), &[n_out, n_in])?;
        let bias = if bias {
            self.f32(&format!("{name}.bias"), &[n_out])?
        } else {
            Vec::new()
        };
        Ok(Dense {
            n_in,
            n_out,
            weight,
            bias,
        })
    }
}

fn le_f32(b: &[u8]) -> Option<f32> {
    Some(f32::from_le_bytes(b.try_into().ok()?))
}

fn le_f64(b: &[u8]) -> Option<f64> {
    Some(f64::from_le_bytes(b.try_into().ok()?))
}

/// A tensor to encode: little-endian bytes with their dtype and shape.
pub(super) struct Raw {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl Raw {
    pub fn f32(values: &[f32], shape: Vec<usize>) -> Self {
        Raw {
            dtype: Dtype::F32,
            shape,
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    fn f64(values: &[f64]) -> Self {
        Raw {
            dtype: Dtype::F64,
            shape: vec![values.len()],
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

impl View for Raw {
    fn dtype(&self) -> Dtype {
        self.dtype
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }

    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Serde `with` module: bytes as a standard base64 string.
pub(super) mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Writes `bytes` as base64.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    /// Reads base64 into bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|e| D::Error::custom(format!("weights are not valid base64: {e}")))
    }
}
