//! MSTL: multiple seasonal-trend decomposition with an ETS trend.
//!
//! Not implemented yet: fitting returns an error, so `fit_model` falls back to seasonal naive and
//! says so. The public API below is the one the implementation will keep.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::forecast::{Forecast, SamplePaths};
use crate::models::{Fit, Predict};

/// Unfitted MSTL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MstlParams {
    season_lengths: Vec<usize>,
}

impl MstlParams {
    /// MSTL with these season lengths (in steps).
    pub fn new(season_lengths: Vec<usize>) -> Self {
        MstlParams { season_lengths }
    }
}

/// Fitted MSTL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FittedMstl {
    season_length: usize,
}

impl Fit for MstlParams {
    type Fitted = FittedMstl;

    fn fit(&self, _y: &[f64]) -> Result<FittedMstl, ModelError> {
        Err(ModelError::Unsupported(
            "mstl is not implemented yet".into(),
        ))
    }
}

impl Predict for FittedMstl {
    fn predict(&self, _horizon: usize, _probabilities: &[f64]) -> Result<Forecast, ModelError> {
        Err(ModelError::Unsupported(
            "mstl is not implemented yet".into(),
        ))
    }

    fn sample_paths(&self, _h: usize, _n: usize, _seed: u64) -> Result<SamplePaths, ModelError> {
        Err(ModelError::Unsupported(
            "mstl is not implemented yet".into(),
        ))
    }
}
