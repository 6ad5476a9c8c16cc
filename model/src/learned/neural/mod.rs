//! A neural one-step regressor: a residual MLP over the feature row.
//!
//! # The network
//!
//! In the spirit of N-BEATS and N-HiTS — stacks of fully connected blocks with residual
//! connections, which do well on forecasting benchmarks without any recurrence — but over one
//! feature row (lags, rolling statistics, calendar, holiday and exogenous columns) rather than a
//! raw window, since the [`Featurizer`](crate::features::Featurizer) already turns history into
//! columns:
//!
//! ```text
//! x = standardise(row)                      per column, with the training rows' mean and std
//! h = embed(x)                              n_inputs -> width
//! h = h + fc2(relu(fc1(relu(h))))           n_blocks times, width -> width -> width
//! y = head(relu(h)) + skip(x)               width -> 1, plus a linear skip n_inputs -> 1
//! ```
//!
//! The linear skip lets the network be at least a linear autoregression from the first step and
//! spend the blocks on what is not linear (weekday-by-season interactions, holiday effects). Each
//! block's output layer starts small, so the untrained network is close to that linear model.
//! Inputs are standardised per column (missing and infinite values become 0, the column mean),
//! and the target — already scaled per series — is standardised once more over all rows.
//!
//! # Training
//!
//! Mean squared error, AdamW with small decoupled weight decay, shuffled mini-batches, and early
//! stopping on held-out rows: a seeded random tenth of the rows, taken in contiguous blocks of 64
//! (the rows of one series are consecutive in time, and which series a row came from is not
//! passed to a regressor, so "the last tenth of each series" is not available; blocks keep most
//! held-out rows away from the training rows that share their lags). The learning rate halves
//! after two epochs without improvement, training stops after [`NeuralParams::patience`] of them
//! or [`NeuralParams::max_steps`] updates, and the weights of the best epoch are kept. The seed
//! fixes the initial weights, the held-out blocks and the batch order through our own
//! `ChaCha8Rng`, so fits are reproducible bit for bit.
//!
//! # Training and prediction without a tensor library
//!
//! Training is hand-written backpropagation over one flat parameter buffer with `ndarray`'s
//! matrix products (`backprop.rs`, which says why: candle's per-operation overhead was most of
//! the cost of a network this small). Prediction is a plain-Rust forward pass over the stored
//! weights (`weights.rs`): forecasts are recursive, one row per step, and for one row the plain
//! pass takes about 7 µs against 10–30 µs for candle on one thread (`examples/neural_dev.rs`).
//! Both run on the calling thread, so a prediction is independent of its batch and of thread
//! settings, and the service has no hidden thread pools. candle remains a development
//! dependency: tests check our gradients against its autograd and that it reads our weights.
//!
//! # Storage
//!
//! [`FittedNeural`] is plain serde data: the architecture and a training summary as fields, and
//! the weights — with the input and target standardisation — as a safetensors file (the format
//! candle and the Hugging Face tools read), written inside the serde document as base64. Loading
//! checks every tensor against the architecture and returns a [`ModelError`] for anything that
//! does not fit. The encoding uses the `safetensors` crate, the format's reference
//! implementation.

mod backprop;
mod train;
mod weights;

use serde::{Deserialize, Serialize, Serializer};

use crate::error::ModelError;
use crate::learned::{Regressor, RegressorParams, Rows, check_training, wrong_columns};
use weights::NeuralWeights;

/// Hyper-parameters of the neural regressor. The defaults train the chicago matrix (100k rows)
/// in well under 30 s on two cores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NeuralParams {
    /// Width of the residual stream and of each block's hidden layer.
    pub width: usize,
    /// Number of residual blocks.
    pub n_blocks: usize,
    /// Rows per mini-batch.
    pub batch_size: usize,
    /// AdamW's initial learning rate.
    pub learning_rate: f64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Upper bound on passes over the training rows.
    pub max_epochs: usize,
    /// Upper bound on optimiser updates, which bounds the training time of large data sets.
    pub max_steps: usize,
    /// Training stops after this many epochs without a better held-out loss.
    pub patience: usize,
    /// Fraction of the rows held out for early stopping, in `[0, 0.5)`; 0 trains for
    /// `max_epochs` (or `max_steps`) and keeps the last weights.
    pub validation_fraction: f64,
    /// Kept so that parameters written before training left candle still read (they set
    /// candle's matrix-product threads); training now runs on the calling thread, and parallel
    /// fits of several members or folds are what use more cores.
    pub threads: usize,
}

impl Default for NeuralParams {
    fn default() -> Self {
        NeuralParams {
            width: 128,
            n_blocks: 2,
            batch_size: 256,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            max_epochs: 200,
            max_steps: 6000,
            patience: 6,
            validation_fraction: 0.1,
            threads: 1,
        }
    }
}

impl NeuralParams {
    /// Checks the hyper-parameters (done by [`RegressorParams::fit`] before any work).
    pub fn check(&self) -> Result<(), ModelError> {
        let bad = |name: &'static str, value: String, expected: &'static str| {
            Err(ModelError::BadParameter {
                name,
                value,
                expected,
            })
        };
        for (name, value) in [
            ("width", self.width),
            ("batch_size", self.batch_size),
            ("threads", self.threads),
            ("max_epochs", self.max_epochs),
            ("max_steps", self.max_steps),
            ("patience", self.patience),
        ] {
            if value == 0 {
                return bad(name, value.to_string(), "at least 1");
            }
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad(
                "learning_rate",
                self.learning_rate.to_string(),
                "a positive number",
            );
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(
                "weight_decay",
                self.weight_decay.to_string(),
                "a number >= 0",
            );
        }
        if !(0.0..0.5).contains(&self.validation_fraction) {
            return bad(
                "validation_fraction",
                self.validation_fraction.to_string(),
                "a fraction in [0, 0.5)",
            );
        }
        Ok(())
    }
}

/// The architecture of a fitted network: what its weights must look like.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeuralConfig {
    /// Input column names, in order (their count is the input width).
    pub names: Vec<String>,
    /// Width of the residual stream.
    pub width: usize,
    /// Number of residual blocks.
    pub n_blocks: usize,
}

/// How a fit went, for logs and model cards.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Rows trained on.
    pub train_rows: usize,
    /// Rows held out for early stopping.
    pub validation_rows: usize,
    /// Epochs run (the last possibly partial, when `max_steps` ended it).
    pub epochs: usize,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
    /// Optimiser updates made.
    pub steps: usize,
    /// Mean squared error on the held-out rows at the kept epoch, on the targets' scale (none
    /// without held-out rows).
    pub validation_mse: Option<f64>,
}

/// A fitted neural regressor.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "StoredNeural")]
pub struct FittedNeural {
    config: NeuralConfig,
    training: TrainingSummary,
    weights: NeuralWeights,
}

/// How a [`FittedNeural`] is stored: the weights as base64 of their safetensors bytes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredNeural {
    config: NeuralConfig,
    training: TrainingSummary,
    #[serde(with = "weights::base64_bytes")]
    weights: Vec<u8>,
}

/// The serialising side of [`StoredNeural`], borrowing the rest.
#[derive(Serialize)]
struct StoredNeuralRef<'a> {
    config: &'a NeuralConfig,
    training: &'a TrainingSummary,
    #[serde(with = "weights::base64_bytes")]
    weights: Vec<u8>,
}

impl TryFrom<StoredNeural> for FittedNeural {
    type Error = ModelError;

    fn try_from(s: StoredNeural) -> Result<Self, ModelError> {
        FittedNeural::from_safetensors(s.config, s.training, &s.weights)
    }
}

impl Serialize for FittedNeural {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let weights = self
            .weights_safetensors()
            .map_err(serde::ser::Error::custom)?;
        StoredNeuralRef {
            config: &self.config,
            training: &self.training,
            weights,
        }
        .serialize(s)
    }
}

impl FittedNeural {
    /// A fitted network from its architecture, training summary and safetensors weights (as
    /// written by [`FittedNeural::weights_safetensors`]). Every tensor's dtype and shape is
    /// checked against `config`; missing, extra or non-finite tensors are errors.
    pub fn from_safetensors(
        config: NeuralConfig,
        training: TrainingSummary,
        bytes: &[u8],
    ) -> Result<Self, ModelError> {
        if config.names.is_empty() || config.width == 0 {
            return Err(ModelError::Corrupt {
                what: "neural network config",
                reason: format!(
                    "{} inputs and width {} (both must be at least 1)",
                    config.names.len(),
                    config.width
                ),
            });
        }
        let weights = NeuralWeights::from_safetensors(&config, bytes)?;
        Ok(FittedNeural {
            config,
            training,
            weights,
        })
    }

    /// The weights and standardisation as a safetensors file (loadable by candle's
    /// `safetensors::load_buffer`).
    pub fn weights_safetensors(&self) -> Result<Vec<u8>, ModelError> {
        self.weights.to_safetensors()
    }

    /// The architecture.
    pub fn config(&self) -> &NeuralConfig {
        &self.config
    }

    /// How the fit went.
    pub fn training(&self) -> &TrainingSummary {
        &self.training
    }

    /// Number of input columns.
    pub fn n_inputs(&self) -> usize {
        self.config.names.len()
    }
}

impl RegressorParams for NeuralParams {
    type Fitted = FittedNeural;

    fn fit(
        &self,
        x: Rows<'_>,
        y: &[f64],
        names: &[String],
        seed: u64,
    ) -> Result<FittedNeural, ModelError> {
        self.check()?;
        if names.len() != x.n_cols {
            return Err(ModelError::ShapeMismatch {
                what: "column names, one per feature column",
                expected: x.n_cols,
                got: names.len(),
            });
        }
        check_training(x, y, 1)?;
        let (weights, training) = train::train(self, x, y, seed)?;
        if !weights.is_finite() {
            return Err(ModelError::Diverged {
                model: "neural network",
                reason: "non-finite weights; try a smaller learning_rate".into(),
            });
        }
        Ok(FittedNeural {
            config: NeuralConfig {
                names: names.to_vec(),
                width: self.width,
                n_blocks: self.n_blocks,
            },
            training,
            weights,
        })
    }
}

impl Regressor for FittedNeural {
    fn predict_into(&self, x: Rows<'_>, out: &mut Vec<f64>) -> Result<(), ModelError> {
        let d = self.n_inputs();
        if x.n_cols != d {
            return Err(wrong_columns(d, x.n_cols));
        }
        let mut scratch = self.weights.scratch();
        out.reserve(x.n_rows());
        out.extend(
            x.x.chunks_exact(d)
                .map(|row| self.weights.predict_row(row, &mut scratch)),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests;
