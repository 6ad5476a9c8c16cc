//! What a global model is asked to fit: its members, the horizon, and how its intervals are
//! calibrated ([`CalibrationSpec`]).

use serde::{Deserialize, Serialize};

use super::members::LearnerParams;
use crate::error::ModelError;
use crate::learned::gbm::GbmParams;
use crate::learned::linear::LinearParams;
use crate::learned::neural::NeuralParams;
use crate::models::ModelId;

/// Where calibration origins come from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationSpec {
    /// Steps before each cutoff held out of the calibration fit; origins lie inside them.
    pub span: usize,
    /// At most this many origins per series.
    pub max_origins: usize,
    /// Half-life, in steps, of an origin's weight in the conformal quantiles (0: equal weights).
    /// Recent errors count more, so a level shift shortly before the cutoff widens the intervals.
    pub half_life: usize,
    /// Whether errors are kept relative to the point forecast (`(y - ŷ) / ŷ`) for series that
    /// are positive, so intervals scale with the level forecast (busy days get wider bands).
    pub relative: bool,
    /// Whether the calibration errors of a combination are cross-fitted: an origin's error uses
    /// the member weights chosen on the other half of the origins, never weights it helped choose.
    /// Errors of weights fitted to them understate the combination's errors on new data.
    #[serde(default)]
    pub cross_fit: bool,
    /// Step size of the adaptive scale: after each calibration trajectory the scale is
    /// multiplied by `exp(adapt * (share of its steps outside the 80% interval - 0.2))`; 0 turns
    /// it off, as in fits made before it existed.
    #[serde(default)]
    pub adapt: f64,
    /// Whether a non-negative series whose errors are not relative (it has zeros, or `relative`
    /// is off) gets its errors normalised by a power of its forecast level fitted to its
    /// calibration errors (see [`LevelScaling`]), rather than kept absolute; off as in fits made
    /// before it existed.
    #[serde(default)]
    pub level_power: bool,
    /// How finely calibration fits are spaced: at points of a grid of `span / refits` steps
    /// fixed in time, from the last before the span on, each origin forecast by the latest fit
    /// before it — so no origin's fit is more than `span / refits` steps older than the origin.
    /// (1, as in fits made before it existed, is the coarsest.) The final fit forecasts from its
    /// own cutoff, so calibration forecasts from a fit much older than their origin overstate
    /// its errors — and, growing through the span as that fit ages, push the adaptive scale up
    /// too. The grid is fixed so that fits at nearby cutoffs share their calibration fits (see
    /// [`FitMemo`](super::FitMemo)).
    #[serde(default = "one_fit")]
    pub refits: usize,
    /// Length, in steps, of the cycle over which the size of errors is profiled — the shortest
    /// season: the half-hour of the day or the weekday a forecast step lands on (see
    /// [`phase_profile`]); 0 or 1 for none, as in fits made before it existed.
    #[serde(default)]
    pub phase_period: usize,
    /// Whether the size of errors is also profiled over the value of a future-known exogenous
    /// column at their target time (the column that explains most of it, see
    /// [`ConditionProfile`]); off as in fits made before it existed.
    #[serde(default)]
    pub condition: bool,
}

fn one_fit() -> usize {
    1
}

impl CalibrationSpec {
    /// A default for `horizon`: forty horizons of held-out data, up to 400 origins a series, a
    /// half-life of ten horizons, errors relative to the level for positive series, cross-fitted
    /// combinations, an adaptive scale with step 0.1, level scaling of series with zeros,
    /// calibration fits on a grid of half a span, and condition profiles. Each
    /// was chosen on backtests of every bundled dataset over many windows, and the alternatives
    /// tried and not kept are in `docs/accuracy-history.md` ("Calibration choices").
    pub fn for_horizon(horizon: usize) -> Self {
        CalibrationSpec {
            span: horizon.saturating_mul(40),
            max_origins: 400,
            half_life: horizon.saturating_mul(10),
            relative: true,
            cross_fit: true,
            adapt: 0.1,
            level_power: true,
            refits: 2,
            phase_period: 0,
            condition: true,
        }
    }
}

/// What [`fit_global`] fits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GlobalParams {
    /// The member regressors (at least one).
    pub members: Vec<LearnerParams>,
    /// The horizon the intervals are calibrated for.
    pub horizon: usize,
    /// Calibration origins.
    pub calibration: CalibrationSpec,
    /// Seed of every member's fit.
    pub seed: u64,
    /// Per-series statistical models combined with the learned members (`auto`).
    #[serde(default)]
    pub statistical: StatisticalMembers,
}

/// Statistical models that join a global model's combination: each fitted on every series
/// alone, forecasting the same calibration origins as the learned members (by absorbing the
/// observations up to each origin into the fold's fit), so that every member is weighed on the
/// same out-of-sample errors.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatisticalMembers {
    /// The models, in the order their weights follow the learned members'.
    pub models: Vec<ModelId>,
    /// The dataset's season lengths (the first is the primary season).
    pub season_lengths: Vec<usize>,
    /// Each fit sees at most this many latest observations.
    pub input_size: Option<usize>,
}

impl StatisticalMembers {
    /// How many there are.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

impl GlobalParams {
    /// The sizes of the member groups the combination weighs in stages (see
    /// [`super::combine::choose_weights`]): the learned members, then the statistical ones.
    pub(super) fn member_groups(&self) -> [usize; 2] {
        [self.members.len(), self.statistical.len()]
    }

    /// The default global model for a learned model id, calibrated for `horizon`: one member for
    /// `linear`, `gbm` and `neural`; every learned member for `auto`, with ETS, Theta and MSTL
    /// beside them (their seasons and input size come from the dataset's recipe).
    pub fn for_model(id: ModelId, horizon: usize) -> Result<GlobalParams, ModelError> {
        let members = match id {
            ModelId::Linear => vec![LearnerParams::Linear(LinearParams::default())],
            ModelId::Gbm => vec![LearnerParams::Gbm(GbmParams::default())],
            ModelId::Neural => vec![LearnerParams::Neural(NeuralParams::default())],
            ModelId::Auto => vec![
                LearnerParams::Gbm(GbmParams::default()),
                LearnerParams::Neural(NeuralParams::default()),
                LearnerParams::Linear(LinearParams::default()),
            ],
            other => {
                return Err(ModelError::WrongFamily {
                    model: other,
                    expected: "a learned model",
                });
            }
        };
        let statistical = StatisticalMembers {
            models: if id == ModelId::Auto {
                vec![ModelId::Ets, ModelId::Theta, ModelId::Mstl]
            } else {
                Vec::new()
            },
            ..StatisticalMembers::default()
        };
        Ok(GlobalParams {
            members,
            horizon,
            calibration: CalibrationSpec::for_horizon(horizon),
            seed: 0,
            statistical,
        })
    }
}
