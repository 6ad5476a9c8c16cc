//! Theta: optimised and dynamic optimised Theta, chosen automatically.
//!
//! Not implemented yet: fitting returns an error, so `fit_model` falls back to seasonal naive and
//! says so. The public API below is the one the implementation will keep.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::forecast::{Forecast, SamplePaths};
use crate::models::{Fit, Predict};

/// Unfitted Theta.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThetaParams {
    season_length: usize,
}

impl ThetaParams {
    /// AutoTheta: the Theta variant with the best in-sample fit.
    pub fn auto(season_length: usize) -> Self {
        ThetaParams { season_length }
    }
}

/// Fitted Theta.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FittedTheta {
    season_length: usize,
}

impl Fit for ThetaParams {
    type Fitted = FittedTheta;

    fn fit(&self, _y: &[f64]) -> Result<FittedTheta, ModelError> {
        Err(ModelError::Unsupported(
            "theta is not implemented yet".into(),
        ))
    }
}

impl Predict for FittedTheta {
    fn predict(&self, _horizon: usize, _probabilities: &[f64]) -> Result<Forecast, ModelError> {
        Err(ModelError::Unsupported(
            "theta is not implemented yet".into(),
        ))
    }

    fn sample_paths(&self, _h: usize, _n: usize, _seed: u64) -> Result<SamplePaths, ModelError> {
        Err(ModelError::Unsupported(
            "theta is not implemented yet".into(),
        ))
    }
}
