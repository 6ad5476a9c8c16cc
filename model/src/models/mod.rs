//! Forecasting models and the traits they share.
//!
//! Following linfa, unfitted parameters and fitted models are different types: `XParams`
//! implements [`Fit`] and produces `FittedX`, which implements [`Predict`] and is plain data
//! (`Serialize + Deserialize`), so the registry stores it as JSON and loading it runs no code.
//!
//! [`ModelId`] names the models on the command line and in output columns; [`fit_model`] fits one
//! by id for one series and falls back to a simpler model, saying why, when the series cannot
//! support it (too short, constant, zero-heavy). No model panics on such a series: each returns an
//! error that the fallback turns into a note.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::forecast::{Forecast, SamplePaths};

pub mod ets;
pub mod mstl;
pub mod snaive;
pub mod theta;
pub mod tsb;

/// Unfitted parameters of a univariate forecasting model.
pub trait Fit {
    /// The fitted model.
    type Fitted: Predict;
    /// Fits the model to the observations `y` (oldest first).
    fn fit(&self, y: &[f64]) -> Result<Self::Fitted, ModelError>;
}

/// A fitted model that forecasts.
pub trait Predict {
    /// Point forecasts and the quantiles at `probabilities` for the next `horizon` steps.
    fn predict(&self, horizon: usize, probabilities: &[f64]) -> Result<Forecast, ModelError>;
    /// `n_paths` joint draws of the next `horizon` steps, reproducible for a given `seed`.
    fn sample_paths(
        &self,
        horizon: usize,
        n_paths: usize,
        seed: u64,
    ) -> Result<SamplePaths, ModelError>;
}

/// A fitted model that takes in the observations that follow its data without refitting: its
/// parameters stay as fitted and its state moves on, so that its forecast from the new origin is
/// what the same fitted model gives on the extended series (each model's tests check this).
pub trait Absorb {
    /// Moves the state on over `y`, the observations after the last one seen (oldest first).
    /// An error leaves the model as it was.
    fn absorb(&mut self, y: &[f64]) -> Result<(), ModelError>;
}

/// The statistical models, by the ids used on the command line and as column names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelId {
    /// Seasonal naive.
    Snaive,
    /// AutoETS: exponential smoothing state-space models chosen by AICc.
    Ets,
    /// Multiple seasonal-trend decomposition with an ETS trend.
    Mstl,
    /// Optimised / dynamic optimised Theta.
    Theta,
    /// Teunter–Syntetos–Babai, for intermittent demand.
    Tsb,
    /// Global ridge regression on lags, calendar and exogenous features.
    Linear,
    /// Global gradient-boosted trees on the same features.
    Gbm,
    /// Global residual MLP on the same features.
    Neural,
    /// Per-series convex combination of the learned models, weighted by nested calibration error.
    Auto,
}

impl ModelId {
    /// Every model, in the order they are listed in help and output.
    pub const ALL: [ModelId; 9] = [
        ModelId::Snaive,
        ModelId::Ets,
        ModelId::Mstl,
        ModelId::Theta,
        ModelId::Tsb,
        ModelId::Linear,
        ModelId::Gbm,
        ModelId::Neural,
        ModelId::Auto,
    ];

    /// The univariate statistical models, fitted one series at a time by [`fit_model`].
    pub const STATISTICAL: [ModelId; 5] = [
        ModelId::Snaive,
        ModelId::Ets,
        ModelId::Mstl,
        ModelId::Theta,
        ModelId::Tsb,
    ];

    /// What `backtest` runs when no models are named: the statistical models the evaluation
    /// protocol's references also run.
    pub const DEFAULT_BACKTEST: [ModelId; 4] =
        [ModelId::Snaive, ModelId::Ets, ModelId::Mstl, ModelId::Theta];

    /// Every id, comma-separated, for messages.
    pub fn names() -> String {
        ModelId::ALL.map(|m| m.as_str()).join(", ")
    }

    /// Whether this is a global model learned across series (see [`crate::learned`]).
    pub fn is_learned(&self) -> bool {
        !ModelId::STATISTICAL.contains(self)
    }

    /// The id as written on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            ModelId::Snaive => "snaive",
            ModelId::Ets => "ets",
            ModelId::Mstl => "mstl",
            ModelId::Theta => "theta",
            ModelId::Tsb => "tsb",
            ModelId::Linear => "linear",
            ModelId::Gbm => "gbm",
            ModelId::Neural => "neural",
            ModelId::Auto => "auto",
        }
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModelId {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelId::ALL
            .into_iter()
            .find(|m| m.as_str() == s.trim())
            .ok_or_else(|| ModelError::UnknownModel(s.to_owned()))
    }
}

/// What a model needs to know about the data besides the values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesContext {
    /// Season lengths in steps; the first is the primary season.
    pub season_lengths: Vec<usize>,
}

impl SeriesContext {
    /// The primary season length (1 when there is none).
    pub fn primary_season(&self) -> usize {
        self.season_lengths.first().copied().unwrap_or(1)
    }
}

/// Any fitted statistical model: what the registry stores.
///
/// Adjacently tagged (`{"model": "ets", "fitted": {...}}`) so that a model's own field names can
/// never collide with the tag.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", content = "fitted", rename_all = "snake_case")]
pub enum FittedModel {
    /// A fitted seasonal naive model.
    Snaive(snaive::FittedSeasonalNaive),
    /// A fitted ETS model.
    Ets(ets::FittedEts),
    /// A fitted MSTL model.
    Mstl(mstl::FittedMstl),
    /// A fitted Theta model.
    Theta(theta::FittedTheta),
    /// A fitted TSB model.
    Tsb(tsb::FittedTsb),
}

impl FittedModel {
    /// Which model this is.
    pub fn id(&self) -> ModelId {
        match self {
            FittedModel::Snaive(_) => ModelId::Snaive,
            FittedModel::Ets(_) => ModelId::Ets,
            FittedModel::Mstl(_) => ModelId::Mstl,
            FittedModel::Theta(_) => ModelId::Theta,
            FittedModel::Tsb(_) => ModelId::Tsb,
        }
    }

    /// Point forecasts of the next `horizon` steps, without the intervals [`Predict::predict`]
    /// computes (some by simulation).
    pub fn point(&self, horizon: usize) -> Result<Vec<f64>, ModelError> {
        match self {
            FittedModel::Snaive(m) => Ok(m.point(horizon)),
            FittedModel::Ets(m) => m.point(horizon),
            FittedModel::Mstl(m) => m.point(horizon),
            FittedModel::Theta(m) => Ok(m.point(horizon)),
            FittedModel::Tsb(m) => Ok(vec![m.point(); horizon]),
        }
    }

    /// Moves the model on over `y` (see [`Absorb`]); a value that is not a number is refused
    /// before anything changes.
    pub fn absorb(&mut self, y: &[f64]) -> Result<(), ModelError> {
        if let Some(i) = y.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::NonFinite(i));
        }
        match self {
            FittedModel::Snaive(m) => m.absorb(y),
            FittedModel::Ets(m) => m.absorb(y),
            FittedModel::Mstl(m) => m.absorb(y),
            FittedModel::Theta(m) => m.absorb(y),
            FittedModel::Tsb(m) => m.absorb(y),
        }
    }

    fn as_predict(&self) -> &dyn Predict {
        match self {
            FittedModel::Snaive(m) => m,
            FittedModel::Ets(m) => m,
            FittedModel::Mstl(m) => m,
            FittedModel::Theta(m) => m,
            FittedModel::Tsb(m) => m,
        }
    }
}

impl Predict for FittedModel {
    fn predict(&self, horizon: usize, probabilities: &[f64]) -> Result<Forecast, ModelError> {
        self.as_predict().predict(horizon, probabilities)
    }

    fn sample_paths(
        &self,
        horizon: usize,
        n_paths: usize,
        seed: u64,
    ) -> Result<SamplePaths, ModelError> {
        self.as_predict().sample_paths(horizon, n_paths, seed)
    }
}

/// A model fitted by [`fit_model`], with a note when it is not the model that was asked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fitted {
    /// The model that was asked for.
    pub requested: ModelId,
    /// The fitted model (the requested one, or its fallback).
    pub model: FittedModel,
    /// Why the requested model was replaced, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// Fits model `id` to `y`. When the model cannot be fitted (too little data, a degenerate series),
/// falls back to seasonal naive, or to naive (season 1) for series shorter than a season, and says
/// why in [`Fitted::fallback`].
pub fn fit_model(id: ModelId, context: &SeriesContext, y: &[f64]) -> Result<Fitted, ModelError> {
    fit_models(id, context, &[y])
        .pop()
        .unwrap_or_else(|| unreachable!("one series, one fit"))
}

/// [`fit_model`] on each series. The same fits, but ETS fits its series together
/// ([`ets::EtsParams::fit_many`]), which is several times faster on one core.
pub fn fit_models(
    id: ModelId,
    context: &SeriesContext,
    series: &[&[f64]],
) -> Vec<Result<Fitted, ModelError>> {
    let checked: Vec<Result<(), ModelError>> = series.iter().map(|y| check_input(id, y)).collect();
    let attempts: Vec<Result<FittedModel, ModelError>> = if id == ModelId::Ets {
        let valid: Vec<&[f64]> = series
            .iter()
            .zip(&checked)
            .filter(|(_, c)| c.is_ok())
            .map(|(y, _)| *y)
            .collect();
        let mut fits = ets::EtsParams::auto(context.primary_season())
            .fit_many(&valid)
            .into_iter();
        checked
            .iter()
            .map(|c| match c {
                Ok(()) => fits
                    .next()
                    .unwrap_or_else(|| unreachable!("a fit per valid series"))
                    .map(FittedModel::Ets),
                Err(e) => Err(e.clone()),
            })
            .collect()
    } else {
        series
            .iter()
            .zip(&checked)
            .map(|(y, c)| match c {
                Ok(()) => fit_one(id, context, y),
                Err(e) => Err(e.clone()),
            })
            .collect()
    };
    attempts
        .into_iter()
        .zip(checked)
        .zip(series)
        .map(|((attempt, checked), y)| {
            checked?;
            with_fallback(id, context, y, attempt)
        })
        .collect()
}

/// What every per-series model needs of its input.
fn check_input(id: ModelId, y: &[f64]) -> Result<(), ModelError> {
    if y.is_empty() {
        return Err(ModelError::TooShort { needed: 1, got: 0 });
    }
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(ModelError::NonFinite(i));
    }
    if id.is_learned() {
        return Err(ModelError::WrongFamily {
            model: id,
            expected: "a per-series model: it is learned across the series of a panel \
                       (civicast_model::Forecaster::fit)",
        });
    }
    Ok(())
}

fn fit_one(id: ModelId, context: &SeriesContext, y: &[f64]) -> Result<FittedModel, ModelError> {
    match id {
        ModelId::Snaive => snaive_for(context, y).map(FittedModel::Snaive),
        ModelId::Ets => ets::EtsParams::auto(context.primary_season())
            .fit(y)
            .map(FittedModel::Ets),
        ModelId::Mstl => mstl::MstlParams::new(context.season_lengths.clone())
            .fit(y)
            .map(FittedModel::Mstl),
        ModelId::Theta => theta::ThetaParams::auto(context.primary_season())
            .fit(y)
            .map(FittedModel::Theta),
        ModelId::Tsb => tsb::TsbParams::auto().fit(y).map(FittedModel::Tsb),
        ModelId::Linear | ModelId::Gbm | ModelId::Neural | ModelId::Auto => {
            Err(ModelError::UnknownModel(id.to_string()))
        }
    }
}

/// The fitted model, or seasonal naive (naive for a series shorter than a season) with the
/// reason when model `id` could not be fitted.
fn with_fallback(
    id: ModelId,
    context: &SeriesContext,
    y: &[f64],
    attempt: Result<FittedModel, ModelError>,
) -> Result<Fitted, ModelError> {
    match attempt {
        Ok(model) => Ok(Fitted {
            requested: id,
            model,
            fallback: None,
        }),
        Err(ModelError::UnknownModel(name)) => Err(ModelError::UnknownModel(name)),
        Err(why) if id != ModelId::Snaive => {
            let model = snaive_for(context, y)?;
            let used = if model.season_length() == 1 {
                "naive"
            } else {
                "seasonal naive"
            };
            Ok(Fitted {
                requested: id,
                model: FittedModel::Snaive(model),
                fallback: Some(format!(
                    "{id} could not be fitted ({why}); used {used} instead"
                )),
            })
        }
        Err(why) => Err(why),
    }
}

/// Seasonal naive with the primary season, or naive when the series is shorter than two seasons.
fn snaive_for(
    context: &SeriesContext,
    y: &[f64],
) -> Result<snaive::FittedSeasonalNaive, ModelError> {
    let season = context.primary_season();
    let season = if y.len() > season { season } else { 1 };
    snaive::SeasonalNaiveParams::new(season).fit(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Weekly pattern with a trend and noise-like wiggle: every model fits it without falling back.
    fn series() -> Vec<f64> {
        (0..140)
            .map(|t| 50.0 + 0.1 * t as f64 + 8.0 * ((t % 7) as f64) + ((t * 37) % 11) as f64 * 0.3)
            .collect()
    }

    #[test]
    fn every_fitted_model_round_trips_through_json_and_forecasts_the_same() {
        let context = SeriesContext {
            season_lengths: vec![7, 28],
        };
        for id in ModelId::STATISTICAL {
            let fitted = fit_model(id, &context, &series()).unwrap();
            assert_eq!(
                fitted.model.id(),
                id,
                "{id} fell back: {:?}",
                fitted.fallback
            );
            let json = serde_json::to_string(&fitted).unwrap();
            let back: Fitted = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(back, fitted, "{id}");
            let a = fitted.model.predict(14, &[0.1, 0.9]).unwrap();
            let b = back.model.predict(14, &[0.1, 0.9]).unwrap();
            assert_eq!(a, b, "{id}");
        }
    }

    #[test]
    fn model_ids_parse_and_print_as_on_the_command_line() {
        for id in ModelId::ALL {
            assert_eq!(id.as_str().parse::<ModelId>().unwrap(), id);
        }
        assert!("prophet".parse::<ModelId>().is_err());
    }
}
