//! The member regressors a global model combines: their parameters and fitted forms, behind one
//! enum each so the registry stores them as tagged JSON.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::features::TrainingSet;
use crate::learned::gbm::{FittedGbm, GbmParams};
use crate::learned::linear::{FittedLinear, LinearParams};
use crate::learned::neural::{FittedNeural, NeuralParams};
use crate::learned::{Regressor, RegressorParams, Rows};

/// One member regressor's parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "regressor", content = "params", rename_all = "snake_case")]
pub enum LearnerParams {
    /// Ridge regression.
    Linear(LinearParams),
    /// Gradient-boosted trees.
    Gbm(GbmParams),
    /// Residual MLP.
    Neural(NeuralParams),
}

/// One fitted member regressor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "regressor", content = "fitted", rename_all = "snake_case")]
pub enum FittedLearner {
    /// Ridge regression.
    Linear(FittedLinear),
    /// Gradient-boosted trees.
    Gbm(FittedGbm),
    /// Residual MLP (boxed: its weights make it much larger than the other variants).
    Neural(Box<FittedNeural>),
}

impl LearnerParams {
    /// The member's name, as model ids and output columns spell it.
    pub fn name(&self) -> &'static str {
        match self {
            LearnerParams::Linear(_) => "linear",
            LearnerParams::Gbm(_) => "gbm",
            LearnerParams::Neural(_) => "neural",
        }
    }

    /// Fits the member on a training set.
    pub fn fit(&self, set: &TrainingSet, seed: u64) -> Result<FittedLearner, ModelError> {
        let rows = Rows::new(&set.x, set.n_cols())?;
        Ok(match self {
            LearnerParams::Linear(p) => {
                FittedLearner::Linear(p.fit(rows, &set.y, &set.names, seed)?)
            }
            LearnerParams::Gbm(p) => FittedLearner::Gbm(p.fit(rows, &set.y, &set.names, seed)?),
            LearnerParams::Neural(p) => {
                FittedLearner::Neural(Box::new(p.fit(rows, &set.y, &set.names, seed)?))
            }
        })
    }
}

impl FittedLearner {
    /// The member's name.
    pub fn name(&self) -> &'static str {
        match self {
            FittedLearner::Linear(_) => "linear",
            FittedLearner::Gbm(_) => "gbm",
            FittedLearner::Neural(_) => "neural",
        }
    }

    fn as_regressor(&self) -> &dyn Regressor {
        match self {
            FittedLearner::Linear(m) => m,
            FittedLearner::Gbm(m) => m,
            FittedLearner::Neural(m) => m.as_ref(),
        }
    }
}

impl Regressor for FittedLearner {
    fn predict_into(&self, x: Rows<'_>, out: &mut Vec<f64>) -> Result<(), ModelError> {
        self.as_regressor().predict_into(x, out)
    }
}
