//! ETS (exponential smoothing state-space models) with automatic model selection.
//!
//! Not implemented yet: fitting returns an error, so `fit_model` falls back to seasonal naive and
//! says so. The public API below is the one the implementation will keep.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::forecast::{Forecast, SamplePaths};
use crate::models::{Fit, Predict};

/// Unfitted ETS.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EtsParams {
    season_length: usize,
}

impl EtsParams {
    /// AutoETS: every admissible error/trend/season combination, chosen by AICc.
    pub fn auto(season_length: usize) -> Self {
        EtsParams { season_length }
    }
}

/// Fitted ETS.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FittedEts {
    season_length: usize,
}

impl Fit for EtsParams {
    type Fitted = FittedEts;

    fn fit(&self, _y: &[f64]) -> Result<FittedEts, ModelError> {
        Err(ModelError::Unsupported("ets is not implemented yet".into()))
    }
}

impl Predict for FittedEts {
    fn predict(&self, _horizon: usize, _probabilities: &[f64]) -> Result<Forecast, ModelError> {
        Err(ModelError::Unsupported("ets is not implemented yet".into()))
    }

    fn sample_paths(&self, _h: usize, _n: usize, _seed: u64) -> Result<SamplePaths, ModelError> {
        Err(ModelError::Unsupported("ets is not implemented yet".into()))
    }
}
