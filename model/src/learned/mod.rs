//! Learned global models: one regressor trained on the feature rows of every series of a dataset.
//!
//! A learned model is a [`Featurizer`](crate::features::Featurizer) (which rows it sees) plus a
//! one-step-ahead [`Regressor`] (what it predicts from a row). Forecasts are recursive (see
//! [`crate::features`]): the regressor predicts step 1, the prediction is fed back as a lag, and
//! so on. The regressors differ only in how they map a row to a number:
//!
//! - `gbm`: gradient-boosted trees;
//! - `neural`: a residual MLP with hand-written backpropagation;
//! - `linear`: ridge regression (linfa), the sanity baseline.
//!
//! Rows are dense and row-major (`x[i * n_cols..(i + 1) * n_cols]`), targets are on the series'
//! scaled axis ([`SeriesScale`](crate::features::SeriesScale)). A regressor must be deterministic
//! for a given seed, never panic on NaN or infinite inputs (it may treat them as missing), and be
//! plain serde data once fitted so that the registry stores it without running code on load.

use crate::error::ModelError;

pub mod gbm;
pub mod global;
pub mod linear;
pub mod neural;
pub mod published;

/// A borrowed row-major matrix of feature rows.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    /// Values, row-major: row `i` is `x[i * n_cols..(i + 1) * n_cols]`.
    pub x: &'a [f64],
    /// Number of columns.
    pub n_cols: usize,
}

impl<'a> Rows<'a> {
    /// Wraps `x` as rows of `n_cols` columns; the length must be a multiple of `n_cols`.
    pub fn new(x: &'a [f64], n_cols: usize) -> Result<Self, ModelError> {
        if n_cols == 0 || !x.len().is_multiple_of(n_cols) {
            return Err(ragged(x.len(), n_cols));
        }
        Ok(Rows { x, n_cols })
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.x.len().checked_div(self.n_cols).unwrap_or(0)
    }

    /// Row `i` (empty when out of range).
    pub fn row(&self, i: usize) -> &'a [f64] {
        let start = i.saturating_mul(self.n_cols);
        self.x
            .get(start..start.saturating_add(self.n_cols))
            .unwrap_or_default()
    }
}

/// Unfitted parameters of a one-step regressor.
pub trait RegressorParams {
    /// The fitted regressor.
    type Fitted: Regressor;
    /// Fits targets `y` (one per row of `x`) from the rows `x`; `names` are the column names (for
    /// messages and importances). Deterministic for a given `seed`.
    fn fit(
        &self,
        x: Rows<'_>,
        y: &[f64],
        names: &[String],
        seed: u64,
    ) -> Result<Self::Fitted, ModelError>;
}

/// A fitted one-step regressor.
pub trait Regressor {
    /// Appends one prediction per row of `x` to `out`. Rows must have the column count the
    /// regressor was fitted with; a different count is an error, not a panic.
    fn predict_into(&self, x: Rows<'_>, out: &mut Vec<f64>) -> Result<(), ModelError>;

    /// One prediction per row.
    fn predict(&self, x: Rows<'_>) -> Result<Vec<f64>, ModelError> {
        let mut out = Vec::with_capacity(x.n_rows());
        self.predict_into(x, &mut out)?;
        Ok(out)
    }
}

/// Checks what every regressor's `fit` needs of its inputs: a well-shaped matrix, one finite
/// target per row, and at least `min_rows` rows.
pub(crate) fn check_training(x: Rows<'_>, y: &[f64], min_rows: usize) -> Result<(), ModelError> {
    if x.n_cols == 0 || !x.x.len().is_multiple_of(x.n_cols) {
        return Err(ragged(x.x.len(), x.n_cols));
    }
    if y.len() != x.n_rows() {
        return Err(ModelError::ShapeMismatch {
            what: "targets, one per feature row",
            expected: x.n_rows(),
            got: y.len(),
        });
    }
    if y.len() < min_rows.max(1) {
        return Err(ModelError::TooShort {
            needed: min_rows.max(1),
            got: y.len(),
        });
    }
    match y.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(ModelError::NonFinite(i)),
        None => Ok(()),
    }
}

/// The error for a matrix with the wrong number of columns.
pub(crate) fn wrong_columns(expected: usize, got: usize) -> ModelError {
    ModelError::ShapeMismatch {
        what: "feature columns the regressor was fitted on",
        expected,
        got,
    }
}

/// The error for `values` that do not make rows of `n_cols` columns.
fn ragged(values: usize, n_cols: usize) -> ModelError {
    ModelError::Invalid {
        what: "the feature matrix",
        reason: format!("{values} values do not make rows of {n_cols} columns"),
    }
}
