//! # civicast-model
//!
//! The shared vocabulary of civicast: what a dataset *is* once it has been read and validated, and
//! (as the project grows) the forecasts, models and metrics built on it. Both the training tool and
//! the inference service depend on this crate, so it does no I/O and pulls in no data-frame
//! machinery: a deployed service links only this and its HTTP stack.
//!
//! - [`time`]: [`Frequency`] and [`TimePoint`], the regular time axes of series, including calendar
//!   months and integer-indexed data.
//! - [`panel`]: [`Panel`], many regular series with exogenous columns, whose invariants are
//!   checked once at construction ("parse, don't validate").
//! - [`calendar`]: [`HolidayCalendar`], public holidays for calendar features.
//! - [`forecast`]: [`Forecast`] (points and quantiles) and [`SamplePaths`] (joint draws for
//!   roll-ups).
//! - [`forecaster`]: the one interface every model family implements and everything else uses:
//!   [`ForecasterParams`] checked into a [`Forecaster`], fitted on a panel into a
//!   [`FittedForecaster`], which forecasts and absorbs new observations without refitting. A new
//!   model goes in [`models`] (per series) or [`learned`] (global) and is reached from here.
//! - [`models`]: the [`Fit`]/[`Predict`]/[`Absorb`](models::Absorb) traits and the statistical
//!   models (seasonal naive, ETS, MSTL, Theta, TSB), with [`fit_model`] choosing a fallback for
//!   series a model cannot handle.
//! - [`metrics`]: the evaluation protocol's accuracy and calibration metrics.
//! - [`features`]: lags, rolling statistics, calendar, holiday and exogenous features for global
//!   models, built leak-free for training and for recursive forecasting.
//! - [`learned`]: global models learned across a panel's series — gradient-boosted trees, a residual
//!   MLP and ridge — forecasting recursively, combined per series (`auto`) and calibrated by
//!   recency-weighted conformal prediction with consistent sample paths.
//! - [`rollup`]: step forecasts summed to weeks, months, quarters and fiscal years from sample
//!   paths (the quantile of a sum, not the sum of quantiles).
//! - [`risk`]: budget-waste risk of a planned quantity over a period — waste and shortage
//!   probabilities, expected waste in quantity and currency, the newsvendor provision, flags and
//!   reasons — and the logistic classifier that calibrates the waste probability.
//! - [`optim`]: bounded Nelder-Mead, shared by models that estimate parameters.

pub mod calendar;
pub mod error;
pub mod features;
pub mod forecast;
pub mod forecaster;
pub mod learned;
pub mod metrics;
pub mod models;
pub mod optim;
pub mod panel;
pub mod risk;
pub mod rollup;
mod serde_nan;
pub mod time;

pub use calendar::{Holiday, HolidayCalendar};
pub use error::ModelError;
pub use forecast::{Forecast, SamplePaths};
pub use forecaster::{
    Filled, FittedForecaster, Forecaster, ForecasterParams, Made, PartFit, Recipe, SeriesState,
    SharedFit, Step,
};
pub use models::{Fit, Fitted, FittedModel, ModelId, Predict, SeriesContext, fit_model};
pub use panel::{ExogenousRole, ExogenousSpec, Panel, Series};
pub use time::{Frequency, TimePoint};
