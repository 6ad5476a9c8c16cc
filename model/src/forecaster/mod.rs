//! One forecaster interface for every model family.
//!
//! Everything outside this crate — backtests, `fit`, the risk backtest, the service — fits and
//! forecasts through these types and never asks which family a model belongs to:
//!
//! 1. [`ForecasterParams`] names a model and the [`Recipe`] a dataset gives it (seasons, horizon,
//!    input-size cap, holidays). [`ForecasterParams::check`] validates it once, before any work,
//!    as linfa's `ParamGuard` does, and gives a [`Forecaster`].
//! 2. [`Forecaster::fit`] fits on a panel, each series up to its own cutoff, and gives a
//!    [`FittedForecaster`]: plain serde data that the registry stores.
//! 3. A [`FittedForecaster`] forecasts any of its series from its cutoff, with quantiles or joint
//!    sample paths, reading future-known values a caller gives and saying in notes what it filled
//!    in or ignored.
//! 4. [`FittedForecaster::absorb`] takes in the observations that follow a series' data without
//!    refitting, so forecasts start from the latest one.
//!
//! Inside, a statistical model is one fit per series ([`statistical`]) and a learned model one
//! fit across the panel ([`crate::learned::published`]); the difference stays here.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::calendar::HolidayCalendar;
use crate::error::ModelError;
use crate::features::{FeatureSpec, Featurizer};
use crate::forecast::{Forecast, SamplePaths};
use crate::learned::global::{
    FitMemo, ForecastInput, GlobalParams, GlobalPart, GlobalShared, assemble, fit_global_with,
    fit_part, fit_shared, prepare,
};
use crate::learned::published::{FutureInputError, FutureValues, PublishedGlobal};
use crate::models::{Fitted, ModelId, SeriesContext};
use crate::panel::Panel;

mod live;
pub mod statistical;

pub use live::{Filled, SeriesState, Step};

use statistical::StatisticalPanel;

/// What a dataset tells a model besides its values.
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    /// Season lengths in steps; the first is the primary season.
    pub season_lengths: Vec<usize>,
    /// The horizon forecasts are made for (learned models calibrate their intervals for it).
    pub horizon: usize,
    /// Per-series models fit on at most this many observations before a cutoff; learned models
    /// see every series whole, since the panel is what they learn from.
    pub input_size: Option<usize>,
    /// Public holidays, for the learned models' calendar features.
    pub holidays: Option<HolidayCalendar>,
}

/// A model and its recipe, not yet checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ForecasterParams {
    /// The model.
    pub model: ModelId,
    /// What the dataset tells it.
    pub recipe: Recipe,
}

impl ForecasterParams {
    /// `model` with `recipe`.
    pub fn new(model: ModelId, recipe: Recipe) -> ForecasterParams {
        ForecasterParams { model, recipe }
    }

    /// Checks every parameter before any work and gives the forecaster that fits.
    pub fn check(self) -> Result<Forecaster, ModelError> {
        let recipe = &self.recipe;
        if recipe.horizon == 0 {
            return Err(ModelError::BadParameter {
                name: "horizon",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        if let Some(&bad) = recipe.season_lengths.iter().find(|&&m| m == 0) {
            return Err(ModelError::BadParameter {
                name: "season_lengths",
                value: bad.to_string(),
                expected: "season lengths of at least 1",
            });
        }
        if recipe.input_size == Some(0) {
            return Err(ModelError::BadParameter {
                name: "input_size",
                value: "0".into(),
                expected: "at least 1 when given",
            });
        }
        let kind = if self.model.is_learned() {
            let mut params = GlobalParams::for_model(self.model, recipe.horizon)?;
            params.calibration.phase_period = phase_period(&recipe.season_lengths);
            params.statistical.season_lengths = recipe.season_lengths.clone();
            params.statistical.input_size = recipe.input_size;
            Kind::Learned(Box::new(params))
        } else {
            Kind::Statistical(SeriesContext {
                season_lengths: recipe.season_lengths.clone(),
            })
        };
        Ok(Forecaster {
            model: self.model,
            recipe: self.recipe,
            kind,
            memo: None,
        })
    }
}

/// Learned models profile their error sizes over the shortest season: the time of day of
/// sub-daily data, the weekday of daily data (see `CalibrationSpec::phase_period`).
///
/// Calibration origins aligned to that season (the same weekday or time of day as the forecast
/// origin) were tried instead and covered worse; `docs/accuracy-history.md` has the figures.
fn phase_period(season_lengths: &[usize]) -> usize {
    season_lengths
        .iter()
        .copied()
        .filter(|&m| m > 1)
        .min()
        .unwrap_or(0)
}

/// `params` for a fit on `panel`: with the calibration fits of weekly and coarser data on a grid
/// [`COARSE_REFITS`] points to a span.
fn for_panel(params: &GlobalParams, panel: &Panel) -> GlobalParams {
    let mut params = params.clone();
    if panel.frequency().is_coarser_than_daily() {
        params.calibration.refits = params.calibration.refits.max(COARSE_REFITS);
    }
    params
}

/// Calibration fits to a span for weekly and coarser data, where the default is two. Their series
/// are short, so the span is about half of each series' history, and a fit at the start of a
/// two-point grid sees much less of it than the final fit does — for a statistical member even
/// a different model (ETS chooses the form of its season from what it sees) — while each fit
/// costs little. More than eight changed nothing further; `docs/accuracy-history.md`, "Finer
/// calibration fits for weekly and coarser data", has the figures.
const COARSE_REFITS: usize = 8;

/// Checked parameters: fits a [`FittedForecaster`] on a panel.
#[derive(Clone, Debug)]
pub struct Forecaster {
    model: ModelId,
    recipe: Recipe,
    kind: Kind,
    /// Calibration fits kept for later fits (see [`Self::remembering`]).
    memo: Option<FitMemo>,
}

#[derive(Clone, Debug)]
enum Kind {
    Statistical(SeriesContext),
    Learned(Box<GlobalParams>),
}

impl Forecaster {
    /// The model this fits.
    pub fn model(&self) -> ModelId {
        self.model
    }

    /// The recipe it was checked with.
    pub fn recipe(&self) -> &Recipe {
        &self.recipe
    }

    /// This forecaster keeping the calibration fits a global model makes, so that later fits on
    /// the same data reuse them (see [`FitMemo`]): the models are the same, value for value.
    /// Clones share the memo.
    pub fn remembering(self) -> Self {
        self.remembering_with(FitMemo::new())
    }

    /// [`Self::remembering`] in `memo`, which other forecasters may share: fits are kept under
    /// a digest of their parameters and data, so one memo serves any model and dataset.
    pub fn remembering_with(mut self, memo: FitMemo) -> Self {
        self.memo = Some(memo);
        self
    }

    /// The calibration fits it keeps, if [`Self::remembering`].
    pub fn memo(&self) -> Option<&FitMemo> {
        self.memo.as_ref()
    }

    /// Makes, in parallel, the calibration fits that fits at each of `windows`' cutoffs will
    /// share, so that those fits — in any order, on any thread — find them made. Nothing unless
    /// [`Self::remembering`], or for a per-series model.
    pub fn prepare(&self, panel: &Panel, windows: &[Vec<usize>]) -> Result<(), ModelError> {
        let (Kind::Learned(params), Some(memo)) = (&self.kind, &self.memo) else {
            return Ok(());
        };
        for cutoffs in windows {
            check_cutoffs(panel, cutoffs, &vec![true; panel.series().len()])?;
        }
        let params = for_panel(params, panel);
        prepare(&params, &self.featurizer(panel)?, panel, windows, memo)
    }

    /// Fits on `panel`, series `s` on `target[..cutoffs[s]]` (at most `input_size` of them for
    /// per-series models). Series are fitted in parallel.
    pub fn fit(&self, panel: &Panel, cutoffs: &[usize]) -> Result<FittedForecaster, ModelError> {
        self.fit_for(panel, cutoffs, &vec![true; panel.series().len()])
    }

    /// [`Self::fit`] for the series where `wanted` is true: a per-series model fits and keeps
    /// only those; a global model still learns from every series and keeps them all.
    pub fn fit_for(
        &self,
        panel: &Panel,
        cutoffs: &[usize],
        wanted: &[bool],
    ) -> Result<FittedForecaster, ModelError> {
        check_cutoffs(panel, cutoffs, wanted)?;
        let family = match &self.kind {
            Kind::Statistical(context) => {
                Family::Statistical(self.fit_statistical(context, panel, cutoffs, wanted)?)
            }
            Kind::Learned(params) => {
                let featurizer = self.featurizer(panel)?;
                let params = for_panel(params, panel);
                let fitted =
                    fit_global_with(&params, &featurizer, panel, cutoffs, self.memo.as_ref())?;
                Family::Learned(Box::new(PublishedGlobal::at(fitted, panel, cutoffs)?))
            }
        };
        Ok(FittedForecaster {
            model: self.model,
            family,
        })
    }

    /// The first of a fit's three stages, for a fit spread over processes or machines: what
    /// learns across series (a global model's member regressors), once per fit. Nothing for a
    /// per-series model. [`Self::fit_part`] then fits any subset of the series from it, and
    /// [`Self::assemble`] joins the parts into what [`Self::fit_for`] would have fitted, value
    /// for value.
    pub fn fit_shared(&self, panel: &Panel, cutoffs: &[usize]) -> Result<SharedFit, ModelError> {
        check_cutoffs(panel, cutoffs, &vec![true; panel.series().len()])?;
        Ok(SharedFit {
            model: self.model,
            stage: match &self.kind {
                Kind::Statistical(_) => SharedStage::Statistical,
                Kind::Learned(params) => {
                    let featurizer = self.featurizer(panel)?;
                    SharedStage::Learned(Box::new(fit_shared(
                        &for_panel(params, panel),
                        &featurizer,
                        panel,
                        cutoffs,
                        self.memo.as_ref(),
                    )?))
                }
            },
        })
    }

    /// The second stage: the series where `wanted` is true, fitted with `shared`.
    pub fn fit_part(
        &self,
        panel: &Panel,
        cutoffs: &[usize],
        shared: &SharedFit,
        wanted: &[bool],
    ) -> Result<PartFit, ModelError> {
        check_cutoffs(panel, cutoffs, wanted)?;
        let stage = match (&self.kind, &shared.stage) {
            (Kind::Statistical(context), SharedStage::Statistical) => {
                PartStage::Statistical(self.fit_statistical(context, panel, cutoffs, wanted)?)
            }
            (Kind::Learned(params), SharedStage::Learned(shared)) => {
                PartStage::Learned(Box::new(fit_part(
                    &for_panel(params, panel),
                    shared,
                    panel,
                    cutoffs,
                    wanted,
                    self.memo.as_ref(),
                )?))
            }
            _ => return Err(self.other_model(shared.model)),
        };
        Ok(PartFit {
            model: self.model,
            stage,
        })
    }

    /// The last stage: `parts`, which together hold every series, as the model
    /// [`Self::fit_for`] fits for the series where `wanted` is true.
    pub fn assemble(
        &self,
        panel: &Panel,
        cutoffs: &[usize],
        shared: SharedFit,
        parts: Vec<PartFit>,
        wanted: &[bool],
    ) -> Result<FittedForecaster, ModelError> {
        check_cutoffs(panel, cutoffs, wanted)?;
        if let Some(other) = std::iter::once(shared.model)
            .chain(parts.iter().map(|p| p.model))
            .find(|&m| m != self.model)
        {
            return Err(self.other_model(other));
        }
        let family = match (&self.kind, shared.stage) {
            (Kind::Statistical(_), SharedStage::Statistical) => {
                let parts = parts
                    .into_iter()
                    .filter_map(|p| match p.stage {
                        PartStage::Statistical(part) => Some(part),
                        PartStage::Learned(_) => None,
                    })
                    .collect();
                Family::Statistical(StatisticalPanel::assemble(parts, panel, wanted)?)
            }
            (Kind::Learned(params), SharedStage::Learned(shared)) => {
                let parts = parts
                    .into_iter()
                    .filter_map(|p| match p.stage {
                        PartStage::Learned(part) => Some(*part),
                        PartStage::Statistical(_) => None,
                    })
                    .collect();
                let fitted = assemble(&for_panel(params, panel), *shared, panel, cutoffs, parts)?;
                Family::Learned(Box::new(PublishedGlobal::at(fitted, panel, cutoffs)?))
            }
            _ => return Err(self.other_model(self.model)),
        };
        let fitted = FittedForecaster {
            model: self.model,
            family,
        };
        fitted.check()?;
        Ok(fitted)
    }

    /// The per-series model on each series where `wanted` is true.
    fn fit_statistical(
        &self,
        context: &SeriesContext,
        panel: &Panel,
        cutoffs: &[usize],
        wanted: &[bool],
    ) -> Result<StatisticalPanel, ModelError> {
        StatisticalPanel::fit(
            self.model,
            context,
            self.recipe.input_size,
            panel,
            cutoffs,
            wanted,
        )
    }

    fn other_model(&self, other: ModelId) -> ModelError {
        ModelError::Invalid {
            what: "the stages of a fit",
            reason: format!(
                "{other}'s stages cannot be joined into a fit of {}",
                self.model
            ),
        }
    }

    /// The features a learned model sees on `panel`: the defaults for its frequency and seasons.
    fn featurizer(&self, panel: &Panel) -> Result<Featurizer, ModelError> {
        let spec = FeatureSpec::default_for(panel.frequency(), &self.recipe.season_lengths);
        Featurizer::for_panel(spec, panel, self.recipe.holidays.clone())
    }
}

/// `cutoffs` and `wanted`, one per series of `panel`, each cutoff inside its series.
fn check_cutoffs(panel: &Panel, cutoffs: &[usize], wanted: &[bool]) -> Result<(), ModelError> {
    if wanted.len() != panel.series().len() {
        return Err(ModelError::ShapeMismatch {
            what: "wanted series, one per series of the panel",
            expected: panel.series().len(),
            got: wanted.len(),
        });
    }
    if cutoffs.len() != panel.series().len() {
        return Err(ModelError::ShapeMismatch {
            what: "cutoffs, one per series of the panel",
            expected: panel.series().len(),
            got: cutoffs.len(),
        });
    }
    for (series, &cutoff) in panel.series().iter().zip(cutoffs) {
        if cutoff == 0 || cutoff > series.len() {
            return Err(ModelError::BadParameter {
                name: "cutoff",
                value: format!("{cutoff} for series {:?}", series.id),
                expected: "between 1 and the series' length",
            });
        }
    }
    Ok(())
}

/// The first stage of a fit ([`Forecaster::fit_shared`]): plain serde data, so that it can be
/// written once and read by every part's process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedFit {
    model: ModelId,
    stage: SharedStage,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", content = "shared", rename_all = "snake_case")]
enum SharedStage {
    Statistical,
    Learned(Box<GlobalShared>),
}

/// One part of a fit ([`Forecaster::fit_part`]): plain serde data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartFit {
    model: ModelId,
    stage: PartStage,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", content = "part", rename_all = "snake_case")]
enum PartStage {
    Statistical(StatisticalPanel),
    Learned(Box<GlobalPart>),
}

/// A forecast and what the caller should know about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Made {
    /// The forecast.
    pub forecast: Forecast,
    /// Fallbacks, inputs ignored or taken from the climatology, in plain words.
    pub notes: Vec<String>,
}

/// A model fitted on a panel: forecasts each of its series from its cutoff.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FittedForecaster {
    /// The model that was fitted (a series may be forecast by its fallback).
    model: ModelId,
    family: Family,
}

/// Adjacently tagged so that a model's own field names can never collide with the tag.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", content = "fitted", rename_all = "snake_case")]
enum Family {
    Statistical(StatisticalPanel),
    Learned(Box<PublishedGlobal>),
}

impl FittedForecaster {
    /// Per-series statistical models fitted elsewhere (a registry version written before the
    /// forecaster interface): `model` is what was asked of them.
    pub fn from_series_models(model: ModelId, series: Vec<(String, Fitted)>) -> FittedForecaster {
        FittedForecaster {
            model,
            family: Family::Statistical(StatisticalPanel::from_parts(series)),
        }
    }

    /// A published learned model (a registry version written before the forecaster interface).
    pub fn from_published(
        model: ModelId,
        published: PublishedGlobal,
    ) -> Result<FittedForecaster, ModelError> {
        published.check()?;
        Ok(FittedForecaster {
            model,
            family: Family::Learned(Box::new(published)),
        })
    }

    /// Checks that the parts fit together, after reading it from a file.
    pub fn check(&self) -> Result<(), ModelError> {
        match &self.family {
            Family::Statistical(panel) => panel.check(),
            Family::Learned(published) => published.check(),
        }
    }

    /// The model that was fitted.
    pub fn model(&self) -> ModelId {
        self.model
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        match &self.family {
            Family::Statistical(panel) => panel.len(),
            Family::Learned(published) => published.model.series.len(),
        }
    }

    /// Whether it has no series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of series `index`.
    pub fn series_id(&self, index: usize) -> Option<&str> {
        match &self.family {
            Family::Statistical(panel) => panel.id(index),
            Family::Learned(published) => published.model.series.get(index).map(|s| &*s.id),
        }
    }

    /// Every series' index by id, in one pass.
    pub fn series_indices(&self) -> std::collections::HashMap<&str, usize> {
        (0..self.len())
            .filter_map(|i| Some((self.series_id(i)?, i)))
            .collect()
    }

    /// The model asked of series `index`: [`Self::model`], or for a version that chose per
    /// series, that series' choice.
    pub fn requested(&self, index: usize) -> Option<ModelId> {
        match &self.family {
            Family::Statistical(panel) => panel.fitted(index).map(|f| f.requested),
            Family::Learned(_) => (index < self.len()).then_some(self.model),
        }
    }

    /// Why series `index` is forecast by a simpler model than the one asked, if it is.
    pub fn fallback(&self, index: usize) -> Option<&str> {
        match &self.family {
            Family::Statistical(panel) => panel.fitted(index)?.fallback.as_deref(),
            Family::Learned(_) => None,
        }
    }

    /// Whether forecasts read future-known exogenous values.
    pub fn reads_future(&self) -> bool {
        matches!(self.family, Family::Learned(_))
    }

    /// Checks a caller's future values for a forecast of `horizon` steps. A model that reads none
    /// accepts any (its answer says they were ignored).
    pub fn check_future(
        &self,
        given: &FutureValues,
        horizon: usize,
    ) -> Result<(), FutureInputError> {
        match &self.family {
            Family::Statistical(_) => Ok(()),
            Family::Learned(published) => published.check_future(given, horizon),
        }
    }

    /// The exogenous columns [`FittedForecaster::absorb`] needs with each observation: every
    /// column a learned model was fitted with; none for per-series models.
    pub fn observed_columns(&self) -> Vec<&str> {
        match &self.family {
            Family::Statistical(_) => Vec::new(),
            Family::Learned(published) => published
                .featurizer()
                .exogenous()
                .iter()
                .map(|spec| spec.name.as_str())
                .collect(),
        }
    }

    /// Takes in the observations that follow series `index`'s data without refitting: `target`
    /// and every column of [`FittedForecaster::observed_columns`] over the same steps (a model
    /// without any ignores `exogenous`). The
    /// parameters stay as fitted and the state moves on, so the next forecast starts after the
    /// last of them and equals what the same fitted model gives on the extended series. An
    /// error leaves the forecaster as it was.
    pub fn absorb(
        &mut self,
        index: usize,
        target: &[f64],
        exogenous: &FutureValues,
    ) -> Result<(), ModelError> {
        match &mut self.family {
            Family::Statistical(panel) => panel.absorb(index, target),
            Family::Learned(published) => published.absorb(index, target, exogenous),
        }
    }

    /// The forecast of series `index`, `horizon` steps from its cutoff with quantiles at
    /// `probabilities`, reading `given` future values (the climatology fills the rest).
    pub fn forecast(
        &self,
        index: usize,
        horizon: usize,
        probabilities: &[f64],
        given: Option<&FutureValues>,
    ) -> Result<Made, ModelError> {
        match &self.family {
            Family::Statistical(panel) => panel.forecast(index, horizon, probabilities, given),
            Family::Learned(published) => {
                self.check_index(index)?;
                let empty = FutureValues::new();
                let made =
                    published.forecast(index, horizon, probabilities, given.unwrap_or(&empty))?;
                Ok(Made {
                    forecast: made.forecast,
                    notes: made.notes,
                })
            }
        }
    }

    /// `n_paths` joint draws of series `index`'s next `horizon` steps, reproducible for `seed`.
    pub fn sample_paths(
        &self,
        index: usize,
        horizon: usize,
        n_paths: usize,
        seed: u64,
        given: Option<&FutureValues>,
    ) -> Result<SamplePaths, ModelError> {
        match &self.family {
            Family::Statistical(panel) => panel.sample_paths(index, horizon, n_paths, seed),
            Family::Learned(published) => {
                self.check_index(index)?;
                let empty = FutureValues::new();
                published.sample_paths(index, horizon, n_paths, seed, given.unwrap_or(&empty))
            }
        }
    }

    /// Every series' forecast from its cutoff, reading the future-known columns over the horizon
    /// from `panel` — the panel it was fitted on, in a backtest, where those values are known.
    /// Learned models forecast all series in one batch.
    pub fn forecast_in(
        &self,
        panel: &Panel,
        horizon: usize,
        probabilities: &[f64],
    ) -> Result<Vec<Forecast>, ModelError> {
        match &self.family {
            Family::Statistical(panel) => (0..panel.len())
                .into_par_iter()
                .map(|i| Ok(panel.forecast(i, horizon, probabilities, None)?.forecast))
                .collect(),
            Family::Learned(published) => {
                let model = &published.model;
                let inputs = model
                    .series
                    .iter()
                    .enumerate()
                    .map(|(index, known)| {
                        let series =
                            panel
                                .get(&known.id)
                                .ok_or_else(|| ModelError::UnknownSeries {
                                    id: known.id.clone(),
                                })?;
                        Ok(ForecastInput {
                            index,
                            series,
                            origin: known.cutoff,
                        })
                    })
                    .collect::<Result<Vec<_>, ModelError>>()?;
                let points = model.points(&inputs, horizon)?;
                inputs
                    .iter()
                    .zip(points)
                    .map(|(input, point)| model.forecast(input, point, probabilities))
                    .collect()
            }
        }
    }

    fn check_index(&self, index: usize) -> Result<(), ModelError> {
        if index < self.len() {
            Ok(())
        } else {
            Err(ModelError::NoSeriesAt {
                index,
                len: self.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests;
