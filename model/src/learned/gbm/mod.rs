//! Gradient-boosted regression trees, grown leaf-wise on feature histograms (LightGBM's design).
//!
//! [`GbmParams`] fits into [`FittedGbm`], a constant plus a sum of regression trees. Fitting bins
//! every feature into at most 255 quantile bins plus a missing bin (`binning`), then boosts
//! `n_trees` trees, each grown leaf-wise up to `num_leaves` leaves on per-leaf gradient histograms
//! with histogram subtraction (`grow`). Two losses: squared error, and the pinball loss of an
//! `alpha`-quantile, whose leaves are re-set to the quantile of their residuals as LightGBM does.
//! Missing values (NaN, and ±inf, which this model treats as missing) get their own bin during
//! training, and each split learns which side they go to.
//!
//! # Why not a crate
//!
//! The issue suggested the pure-Rust `perpetual` crate (3.0.0-rc.2). It builds here, but measured
//! on the same shared 2-core machine and feature matrices it does not fit our needs:
//!
//! | (one thread, default settings)  | perpetual (budget 0.5) | this module (300 trees) |
//! | ------------------------------- | ---------------------- | ----------------------- |
//! | chicago, 103,880 × 46: fit      | 75 s wall              | 3.4 s CPU (6.5 s wall)  |
//! | chicago: validation RMSE        | 0.230                  | 0.208                   |
//! | bikeshare, 8,184 × 52: RMSE     | 0.258 (fit 31 s)       | 0.209 (fit 0.6 s CPU)   |
//! | elec, 16,368 × 72: RMSE         | 0.083 (fit 49 s)       | 0.068 (fit 1.4 s CPU)   |
//! | chicago model as JSON           | 80 MB                  | 1.2 MB                  |
//!
//! (RMSE on the per-series standardised target; predicting 0 scores 1.115, 0.744 and 1.010.)
//! Its booster also is neither `Debug` nor `PartialEq`, holds `HashMap`s and its whole training
//! configuration, pulls in `sysinfo`, and chooses its own number of trees and step size from a
//! "budget", with time and memory limits that can make a fit depend on the machine. So this is a
//! small implementation of the LightGBM recipe whose fitted form is a few arrays of numbers.
//! Figures come from `cargo run --release -p civicast-model --example gbm_dev`.
//!
//! # Determinism
//!
//! Row and feature sampling draw from a `ChaCha8Rng` seeded with the fit's seed. Histograms are
//! built in parallel with rayon, but each feature's histogram is summed by one thread in a fixed
//! order and every other reduction is sequential, so the model is the same bit for bit for any
//! number of threads. Prediction sums the trees in order, so a model read back from JSON predicts
//! exactly what the fitted one did.

mod binning;
mod boost;
mod grow;
mod tree;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use super::{Regressor, RegressorParams, Rows, check_training, wrong_columns};
use crate::error::ModelError;
use tree::Tree;

/// The loss a [`GbmParams`] minimises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GbmLoss {
    /// Squared error: predicts the conditional mean.
    #[default]
    L2,
    /// Pinball loss: predicts the conditional `alpha`-quantile.
    Quantile {
        /// The quantile level, in (0, 1).
        alpha: f64,
    },
}

/// Hyper-parameters of a gradient-boosted tree regressor. The defaults are LightGBM's (its
/// `n_estimators` raised to 300); on the bundled datasets' validation windows `lambda` 1 or 10 and
/// feature or row sampling of 0.8 were no better.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GbmParams {
    /// Number of boosting rounds (trees). Default 300.
    pub n_trees: usize,
    /// Shrinkage applied to every tree's output, in (0, 1]. Default 0.05.
    pub learning_rate: f64,
    /// Most leaves per tree, at least 2. Default 31.
    pub num_leaves: usize,
    /// Fewest training rows in a leaf, at least 1. Default 20.
    pub min_data_in_leaf: usize,
    /// L2 penalty on leaf values, `>= 0`. Default 0.
    pub lambda: f64,
    /// Smallest loss reduction for a split, `>= 0`. Default 0.
    pub min_gain_to_split: f64,
    /// Most value bins per feature, in 2..=255 (missing values get one more). Default 255.
    pub max_bins: usize,
    /// Fraction of rows each tree is grown on, in (0, 1]. Default 1 (no bagging).
    pub row_subsample: f64,
    /// Fraction of features each tree may split on, in (0, 1]. Default 1.
    pub feature_fraction: f64,
    /// The loss. Default squared error.
    pub loss: GbmLoss,
}

impl Default for GbmParams {
    fn default() -> Self {
        GbmParams {
            n_trees: 300,
            learning_rate: 0.05,
            num_leaves: 31,
            min_data_in_leaf: 20,
            lambda: 0.0,
            min_gain_to_split: 0.0,
            max_bins: binning::MAX_VALUE_BINS,
            row_subsample: 1.0,
            feature_fraction: 1.0,
            loss: GbmLoss::L2,
        }
    }
}

impl GbmParams {
    /// Checks the hyper-parameters; [`RegressorParams::fit`] calls this before any work.
    pub fn check(&self) -> Result<(), ModelError> {
        let bad = |name: &'static str, value: String, expected: &'static str| {
            Err(ModelError::BadParameter {
                name,
                value,
                expected,
            })
        };
        let in_unit = |v: f64| v > 0.0 && v <= 1.0;
        if !in_unit(self.learning_rate) {
            return bad(
                "learning_rate",
                self.learning_rate.to_string(),
                "a value in (0, 1]",
            );
        }
        if self.num_leaves < 2 || self.num_leaves > i32::MAX as usize {
            return bad("num_leaves", self.num_leaves.to_string(), "at least 2");
        }
        if self.min_data_in_leaf == 0 {
            return bad("min_data_in_leaf", "0".into(), "at least 1");
        }
        if !(self.lambda >= 0.0 && self.lambda.is_finite()) {
            return bad("lambda", self.lambda.to_string(), "a finite value >= 0");
        }
        if !(self.min_gain_to_split >= 0.0 && self.min_gain_to_split.is_finite()) {
            return bad(
                "min_gain_to_split",
                self.min_gain_to_split.to_string(),
                "a finite value >= 0",
            );
        }
        if !(2..=binning::MAX_VALUE_BINS).contains(&self.max_bins) {
            return bad("max_bins", self.max_bins.to_string(), "a value in 2..=255");
        }
        if !in_unit(self.row_subsample) {
            return bad(
                "row_subsample",
                self.row_subsample.to_string(),
                "a value in (0, 1]",
            );
        }
        if !in_unit(self.feature_fraction) {
            return bad(
                "feature_fraction",
                self.feature_fraction.to_string(),
                "a value in (0, 1]",
            );
        }
        if let GbmLoss::Quantile { alpha } = self.loss
            && !(alpha > 0.0 && alpha < 1.0)
        {
            return Err(ModelError::BadProbability(alpha));
        }
        Ok(())
    }
}

impl RegressorParams for GbmParams {
    type Fitted = FittedGbm;

    fn fit(
        &self,
        x: Rows<'_>,
        y: &[f64],
        names: &[String],
        seed: u64,
    ) -> Result<FittedGbm, ModelError> {
        self.check()?;
        check_training(x, y, 1)?;
        if u32::try_from(x.n_cols).is_err() || u32::try_from(x.n_rows()).is_err() {
            return Err(ModelError::Invalid {
                what: "the GBM's training set",
                reason: format!(
                    "{} x {}: a GBM fits at most {} rows and columns",
                    x.n_rows(),
                    x.n_cols,
                    u32::MAX
                ),
            });
        }
        let names = if names.is_empty() {
            (0..x.n_cols).map(|j| format!("x{j}")).collect()
        } else if names.len() == x.n_cols {
            names.to_vec()
        } else {
            return Err(ModelError::ShapeMismatch {
                what: "column names, one per feature column",
                expected: x.n_cols,
                got: names.len(),
            });
        };
        let ensemble = boost::boost(self, x, y, seed);
        Ok(FittedGbm {
            n_cols: x.n_cols,
            names,
            loss: self.loss,
            base_score: ensemble.base_score,
            trees: ensemble.trees,
        })
    }
}

/// A fitted gradient-boosted tree regressor: `base_score` plus the sum of the trees' outputs.
///
/// Plain data: it deserialises only if every tree is well formed for `n_cols` features, so
/// prediction can never index out of bounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "FittedGbmData")]
pub struct FittedGbm {
    n_cols: usize,
    names: Vec<String>,
    loss: GbmLoss,
    base_score: f64,
    trees: Vec<Tree>,
}

/// [`FittedGbm`] as read from a file, before its trees are checked.
#[derive(Deserialize)]
struct FittedGbmData {
    n_cols: usize,
    names: Vec<String>,
    loss: GbmLoss,
    base_score: f64,
    trees: Vec<Tree>,
}

impl TryFrom<FittedGbmData> for FittedGbm {
    type Error = ModelError;

    fn try_from(d: FittedGbmData) -> Result<Self, ModelError> {
        if d.n_cols == 0 || d.names.len() != d.n_cols {
            return Err(ModelError::Corrupt {
                what: "GBM",
                reason: format!("{} column names for {} columns", d.names.len(), d.n_cols),
            });
        }
        if !d.base_score.is_finite() {
            return Err(ModelError::Corrupt {
                what: "GBM",
                reason: format!("base score {} is not finite", d.base_score),
            });
        }
        for tree in &d.trees {
            tree.check(d.n_cols)?;
        }
        Ok(FittedGbm {
            n_cols: d.n_cols,
            names: d.names,
            loss: d.loss,
            base_score: d.base_score,
            trees: d.trees,
        })
    }
}

impl FittedGbm {
    /// Number of feature columns the model was fitted on.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// The feature column names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The loss the model was fitted with.
    pub fn loss(&self) -> GbmLoss {
        self.loss
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// Total split gain per feature (the loss reduction it bought), in column order.
    pub fn feature_importance(&self) -> Vec<(&str, f64)> {
        let mut gain = vec![0.0; self.n_cols];
        for node in self.trees.iter().flat_map(|t| &t.nodes) {
            if let Some(g) = gain.get_mut(node.feature as usize) {
                *g += node.gain;
            }
        }
        self.names.iter().map(String::as_str).zip(gain).collect()
    }

    /// The prediction for one row of `n_cols` values.
    fn predict_row(&self, row: &[f64]) -> f64 {
        self.trees
            .iter()
            .fold(self.base_score, |sum, tree| sum + tree.predict_row(row))
    }
}

impl Regressor for FittedGbm {
    fn predict_into(&self, x: Rows<'_>, out: &mut Vec<f64>) -> Result<(), ModelError> {
        if x.n_cols != self.n_cols || !x.x.len().is_multiple_of(self.n_cols) {
            return Err(wrong_columns(self.n_cols, x.n_cols));
        }
        out.reserve(x.n_rows());
        out.extend(
            x.x.chunks_exact(self.n_cols)
                .map(|row| self.predict_row(row)),
        );
        Ok(())
    }
}
