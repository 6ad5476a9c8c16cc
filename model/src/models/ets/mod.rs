//! ETS: exponential smoothing state-space models with automatic selection (AutoETS).
//!
//! A port of StatsForecast 2.1.1's `AutoETS`, itself a port of R forecast's `ets`, written so
//! that the same series gives the same candidates' AICc, the same model and the same forecasts.
//! Where StatsForecast 2.1.1's forecasts depart from the model it fitted (damped-trend point
//! forecasts, `core.rs`; three interval formulas, `variance.rs`) we follow the model, as R does,
//! so that intervals and sample paths describe the same distribution.
//!
//! * **Models.** Error additive or multiplicative; trend none, additive or additive damped;
//!   season none, additive or multiplicative. As in R and StatsForecast the set is restricted:
//!   no additive error with a multiplicative season, no multiplicative trend, and nothing
//!   multiplicative unless every observation is positive. A constant series gets simple
//!   exponential smoothing with `alpha = 0.9999` without a search.
//! * **Season.** Seasonal models need `1 < m <= 24` and more than `m` observations. For `m > 24`
//!   we fit non-seasonal models only, as R does ("frequency too high"), and say so in
//!   [`FittedEts::note`]. StatsForecast 2.1.1 itself does fit seasonal models there (one
//!   initial state per step of the season, so a weekly season of hourly data means 167 states
//!   for a simplex search); the MSTL model is the one meant for long seasons.
//! * **Estimation** (`selection.rs`): R's heuristic initial states (`init.rs`), StatsForecast's
//!   starting values and bounds (smoothing parameters in `[1e-4, 0.9999]`, `phi` in
//!   `[0.8, 0.98]`), the likelihood `n log(SSE) (+ 2 sum log|forecast|)` minimised over
//!   parameters and initial states by StatsForecast's Nelder-Mead ([`crate::optim`]), and the
//!   candidate with the smallest AICc chosen.
//! * **Forecasts.** Point forecasts are the model's forecast function; quantiles are Gaussian
//!   around them with the exact forecast variance of the model's class (`variance.rs`); sample
//!   paths simulate the fitted model with Gaussian errors of the fitted sigma (`simulate.rs`).
//!
//! Everything a forecast needs is in [`FittedEts`], which is plain data.

mod batch;
mod core;
mod init;
mod lanes;
mod logsum;
mod selection;
mod simulate;
mod spec;
mod variance;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::forecast::{Forecast, SamplePaths};
use crate::models::{Absorb, Fit, Predict};

use self::core::{Dynamics, State};
use self::selection::{
    Bounds, Candidate, CandidateSearch, candidates, fit_candidate, prepare_candidate,
};
use self::spec::parse_spec;
pub use self::spec::{ErrorKind, EtsModel, SeasonKind, TrendKind};

/// Longest season ETS handles (R forecast's limit; beyond it the states outnumber what the
/// optimiser can estimate).
pub const MAX_SEASON: usize = 24;

/// Alpha used, without a search, for a constant series (StatsForecast's choice).
const CONSTANT_ALPHA: f64 = 0.9999;

/// Unfitted ETS: which models to consider for a season length.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EtsParams {
    season_length: usize,
    spec: String,
}

impl EtsParams {
    /// AutoETS: every admissible error/trend/season combination ("ZZZ"), chosen by AICc.
    /// `season_length` 1 (or 0) means non-seasonal.
    pub fn auto(season_length: usize) -> Self {
        EtsParams {
            season_length,
            spec: "ZZZ".to_owned(),
        }
    }

    /// The models a specification allows, R-style: error `A|M|Z`, trend `N|A|Ad|Z`, season
    /// `N|A|M|Z`, where `Z` tries every option (`"ZZN"`: the non-seasonal models MSTL uses for
    /// its trend; `"AAdA"`: one model). A fixed `A` trend means undamped only.
    pub fn from_spec(spec: &str, season_length: usize) -> Result<Self, ModelError> {
        parse_spec(spec)?;
        Ok(EtsParams {
            season_length,
            spec: spec.trim().to_owned(),
        })
    }

    /// The season length asked for.
    pub fn season_length(&self) -> usize {
        self.season_length
    }
}

/// The score of one candidate model in a selection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    /// The candidate, e.g. `"MAdA"`.
    pub model: String,
    /// Its AICc; `None` when it could not be fitted (too many parameters for the data, no
    /// valid start, a non-finite likelihood).
    pub aicc: Option<f64>,
}

/// Estimated smoothing parameters; `None` for the components the model does not have.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SmoothingParameters {
    /// Level smoothing.
    pub alpha: f64,
    /// Trend smoothing.
    pub beta: Option<f64>,
    /// Seasonal smoothing.
    pub gamma: Option<f64>,
    /// Trend damping.
    pub phi: Option<f64>,
}

/// Fitted ETS: the chosen model, its parameters and final states, and how it was chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FittedEts {
    model: EtsModel,
    /// Season length the model uses (1 when it has no season).
    season_length: usize,
    /// Season length that was asked for.
    requested_season_length: usize,
    parameters: SmoothingParameters,
    /// States before the first observation, `[l, (b), s_1 .. s_m]` (`s_1` most recent).
    initial_state: Vec<f64>,
    /// States after the last observation, same layout.
    last_state: Vec<f64>,
    /// Variance of the innovations (relative errors for multiplicative models).
    sigma2: f64,
    aic: f64,
    aicc: f64,
    bic: f64,
    log_likelihood: f64,
    n_obs: usize,
    /// Every candidate tried, in order.
    candidates: Vec<CandidateScore>,
    /// Why the selection differed from what was asked (e.g. a season too long), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

impl FittedEts {
    /// The chosen model, e.g. `MAdM`.
    pub fn model(&self) -> EtsModel {
        self.model
    }

    /// The chosen model's name as R and StatsForecast print it, e.g. `"ETS(M,Ad,M)"`.
    pub fn method(&self) -> String {
        let name = self.model.to_string();
        let (e, rest) = name.split_at(1);
        let (t, s) = rest.split_at(rest.len() - 1);
        format!("ETS({e},{t},{s})")
    }

    /// Season length the model uses (1 when non-seasonal).
    pub fn season_length(&self) -> usize {
        self.season_length
    }

    /// Season length that was asked for.
    pub fn requested_season_length(&self) -> usize {
        self.requested_season_length
    }

    /// The smoothing parameters.
    pub fn parameters(&self) -> SmoothingParameters {
        self.parameters
    }

    /// States before the first observation: `[l, (b), s_1 .. s_m]`, `s_1` the most recent.
    pub fn initial_state(&self) -> &[f64] {
        &self.initial_state
    }

    /// States after the last observation, same layout as [`FittedEts::initial_state`].
    pub fn last_state(&self) -> &[f64] {
        &self.last_state
    }

    /// Innovation variance (of relative errors for multiplicative-error models).
    pub fn sigma2(&self) -> f64 {
        self.sigma2
    }

    /// Corrected Akaike information criterion of the chosen model (StatsForecast's scale).
    pub fn aicc(&self) -> f64 {
        self.aicc
    }

    /// Akaike information criterion.
    pub fn aic(&self) -> f64 {
        self.aic
    }

    /// Bayesian information criterion.
    pub fn bic(&self) -> f64 {
        self.bic
    }

    /// Log-likelihood, up to the constant StatsForecast and R leave out.
    pub fn log_likelihood(&self) -> f64 {
        self.log_likelihood
    }

    /// Number of observations fitted.
    pub fn n_obs(&self) -> usize {
        self.n_obs
    }

    /// Every candidate tried, in StatsForecast's order, with its AICc.
    pub fn candidates(&self) -> &[CandidateScore] {
        &self.candidates
    }

    /// Why fewer models were tried than asked for (a season too long or longer than the
    /// series), if so.
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// Point forecasts of the next `horizon` steps: the model's forecast function.
    pub fn point(&self, horizon: usize) -> Result<Vec<f64>, ModelError> {
        Ok(self.dynamics().forecast(&self.state()?, horizon))
    }

    fn dynamics(&self) -> Dynamics {
        let has_season = self.model.season != SeasonKind::None;
        Dynamics {
            error: self.model.error,
            trend: self.model.trend != TrendKind::None,
            season: self.model.season,
            m: if has_season {
                self.season_length.clamp(1, MAX_SEASON)
            } else {
                1
            },
            alpha: self.parameters.alpha,
            beta: self.parameters.beta.unwrap_or(0.0),
            gamma: self.parameters.gamma.unwrap_or(0.0),
            phi: self.parameters.phi.unwrap_or(1.0),
        }
    }

    fn state(&self) -> Result<State, ModelError> {
        let d = self.dynamics();
        let expected =
            1 + usize::from(d.trend) + if d.season == SeasonKind::None { 0 } else { d.m };
        if self.last_state.len() != expected {
            return Err(ModelError::Corrupt {
                what: "ETS model",
                reason: format!(
                    "{} has {} states; expected {expected}",
                    self.model,
                    self.last_state.len()
                ),
            });
        }
        Ok(State::from_layout(&self.last_state, d.trend, d.season, d.m))
    }

    fn from_candidate(
        c: Candidate,
        requested: usize,
        n_obs: usize,
        scores: Vec<CandidateScore>,
        note: Option<String>,
    ) -> Self {
        let d = c.dynamics;
        FittedEts {
            model: c.model,
            season_length: d.m,
            requested_season_length: requested,
            parameters: SmoothingParameters {
                alpha: d.alpha,
                beta: d.trend.then_some(d.beta),
                gamma: (d.season != SeasonKind::None).then_some(d.gamma),
                phi: (c.model.trend == TrendKind::DampedAdditive).then_some(d.phi),
            },
            initial_state: c.initial_state,
            last_state: c.last_state,
            sigma2: c.sigma2,
            aic: c.aic,
            aicc: c.aicc,
            bic: c.bic,
            log_likelihood: -0.5 * c.neg2_log_lik,
            n_obs,
            candidates: scores,
            note,
        }
    }
}

/// The filter runs on from the last state with the fitted parameters; sigma, the information
/// criteria and the candidates stay those of the fit.
impl Absorb for FittedEts {
    fn absorb(&mut self, y: &[f64]) -> Result<(), ModelError> {
        let d = self.dynamics();
        let mut state = self.state()?;
        d.filter(y, &mut state);
        self.last_state = state.to_layout(d.trend, d.season);
        self.n_obs += y.len();
        Ok(())
    }
}

/// Number of simulated paths used for intervals of models without a variance formula
/// (StatsForecast's `nsim`).
const INTERVAL_PATHS: usize = 5_000;

impl Fit for EtsParams {
    type Fitted = FittedEts;

    fn fit(&self, y: &[f64]) -> Result<FittedEts, ModelError> {
        self.fit_many(&[y])
            .pop()
            .unwrap_or_else(|| unreachable!("one series, one fit"))
    }
}

impl EtsParams {
    /// Fits every series, each on its own: the same models as [`Fit::fit`] one series at a
    /// time, but the candidates' likelihood searches of all the series run side by side
    /// (`batch.rs`), which on one core takes a fraction of the time.
    pub fn fit_many(&self, series: &[&[f64]]) -> Vec<Result<FittedEts, ModelError>> {
        let plans: Vec<Result<Plan, ModelError>> = series.iter().map(|y| self.plan(y)).collect();
        let mut jobs = Vec::new();
        let mut owners = Vec::new();
        for (index, plan) in plans.iter().enumerate() {
            if let Ok(Plan::Select(selection)) = plan {
                for search in selection.searches.iter().flatten() {
                    jobs.push(batch::Job {
                        y: series[index],
                        search: search.clone(),
                    });
                    owners.push(index);
                }
            }
        }
        batch::run_all(&mut jobs);
        let mut finished = jobs.into_iter().map(|job| job.search.finish(job.y));
        plans
            .into_iter()
            .zip(series)
            .map(|(plan, y)| match plan? {
                Plan::Done(fitted) => Ok(*fitted),
                Plan::Select(selection) => {
                    let candidates = selection
                        .searches
                        .iter()
                        .map(|search| search.as_ref().and_then(|_| finished.next().flatten()))
                        .collect();
                    selection.choose(candidates, y.len())
                }
            })
            .collect()
    }

    /// The checks and the candidates' searches of one selection, prepared in StatsForecast's
    /// order (they tighten shared bounds), or the whole answer when no search is needed.
    fn plan(&self, y: &[f64]) -> Result<Plan, ModelError> {
        let spec = parse_spec(&self.spec)?;
        let n = y.len();
        if let Some(i) = y.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::NonFinite(i));
        }
        let requested = self.season_length;
        if n < 4 {
            return Err(ModelError::TooShort { needed: 4, got: n });
        }
        if y.iter().all(|v| *v == y[0]) {
            return fit_constant(y, requested).map(|f| Plan::Done(Box::new(f)));
        }
        let mut m = requested.max(1);
        let mut seasons = spec.seasons.clone();
        let mut note = None;
        let wants_season = seasons.iter().any(|s| *s != SeasonKind::None);
        if wants_season && m == 1 && seasons.len() == 1 {
            return Err(ModelError::BadParameter {
                name: "season_length",
                value: "1".into(),
                expected: "more than 1 for a seasonal ETS model",
            });
        }
        if wants_season && m > MAX_SEASON {
            note = Some(format!(
                "season length {m} exceeds {MAX_SEASON}: only non-seasonal models were tried"
            ));
            seasons = vec![SeasonKind::None];
            m = 1;
        } else if wants_season && m > 1 && n <= m {
            note = Some(format!(
                "{n} observations do not cover a season of {m}: only non-seasonal models were tried"
            ));
            seasons = vec![SeasonKind::None];
            m = 1;
        }
        let needed = 2 + spec.fixed_parameters + 5;
        if n < needed {
            return Err(ModelError::TooShort { needed, got: n });
        }
        let data_positive = y.iter().all(|v| *v > 0.0);
        if !data_positive && spec.errors == [ErrorKind::Multiplicative] {
            return Err(ModelError::NotPositive {
                model: "multiplicative-error ETS",
            });
        }
        let models = candidates(&spec.errors, &spec.trends, &seasons, m, data_positive);
        let mut bounds = Bounds::default();
        let searches = models
            .iter()
            .map(|&model| prepare_candidate(y, model, m, &mut bounds, None))
            .collect();
        Ok(Plan::Select(Selection {
            requested,
            models,
            searches,
            note,
        }))
    }
}

/// What a selection needs done, from [`EtsParams::plan`].
enum Plan {
    /// Answered without a search (a constant series).
    Done(Box<FittedEts>),
    Select(Selection),
}

/// The candidates of one selection and their searches (`None`: the candidate cannot be fitted).
struct Selection {
    requested: usize,
    models: Vec<EtsModel>,
    searches: Vec<Option<CandidateSearch>>,
    note: Option<String>,
}

impl Selection {
    /// The candidate with the smallest AICc among the fitted ones (`None`: not fitted), one per
    /// model in order.
    fn choose(self, fitted: Vec<Option<Candidate>>, n: usize) -> Result<FittedEts, ModelError> {
        let mut best: Option<Candidate> = None;
        let mut scores = Vec::with_capacity(self.models.len());
        for (model, fit) in self.models.iter().zip(fitted) {
            let aicc = fit.as_ref().map(|c| c.aicc).filter(|a| a.is_finite());
            scores.push(CandidateScore {
                model: model.to_string(),
                aicc,
            });
            if let (Some(fit), Some(aicc)) = (fit, aicc)
                && best.as_ref().is_none_or(|b| aicc < b.aicc)
                && fit.sigma2.is_finite()
            {
                best = Some(fit);
            }
        }
        let best = best.ok_or_else(|| ModelError::Diverged {
            model: "ETS",
            reason: format!("no candidate model could be fitted to these {n} observations"),
        })?;
        Ok(FittedEts::from_candidate(
            best,
            self.requested,
            n,
            scores,
            self.note,
        ))
    }
}

/// A constant series: simple exponential smoothing with alpha fixed, as StatsForecast does.
fn fit_constant(y: &[f64], requested: usize) -> Result<FittedEts, ModelError> {
    let model = EtsModel {
        error: ErrorKind::Additive,
        trend: TrendKind::None,
        season: SeasonKind::None,
    };
    let fit = fit_candidate(y, model, 1, &mut Bounds::default(), Some(CONSTANT_ALPHA))
        .filter(|c| c.sigma2.is_finite())
        .ok_or(ModelError::TooShort {
            needed: 5,
            got: y.len(),
        })?;
    let scores = vec![CandidateScore {
        model: model.to_string(),
        aicc: Some(fit.aicc).filter(|a| a.is_finite()),
    }];
    let note =
        Some("the series is constant: simple exponential smoothing with alpha = 0.9999".to_owned());
    let mut fitted = FittedEts::from_candidate(fit, requested, y.len(), scores, note);
    // StatsForecast's AICc of the constant fit is finite (it uses log(SSE + 1e-8)); keep it.
    fitted.aicc = if fitted.aicc.is_finite() {
        fitted.aicc
    } else {
        f64::MAX
    };
    Ok(fitted)
}

impl Predict for FittedEts {
    fn predict(&self, horizon: usize, probabilities: &[f64]) -> Result<Forecast, ModelError> {
        let d = self.dynamics();
        let state = self.state()?;
        let point = d.forecast(&state, horizon);
        match variance::forecast_variance(&d, self.sigma2, &self.last_state, &point) {
            Some(var) => {
                let sd: Vec<f64> = var.iter().map(|v| v.max(0.0).sqrt()).collect();
                Forecast::normal(point, &sd, probabilities)
            }
            None => {
                // No formula for this class: simulate, as StatsForecast does (its seed, 1).
                let paths = self.sample_paths(horizon, INTERVAL_PATHS, 1)?;
                Forecast::from_paths(point, &paths, probabilities)
            }
        }
    }

    fn sample_paths(
        &self,
        horizon: usize,
        n_paths: usize,
        seed: u64,
    ) -> Result<SamplePaths, ModelError> {
        let d = self.dynamics();
        let state = self.state()?;
        let sigma = self.sigma2.max(0.0).sqrt();
        if !sigma.is_finite() {
            return Err(ModelError::Corrupt {
                what: "ETS model",
                reason: format!("sigma^2 is {}", self.sigma2),
            });
        }
        Ok(SamplePaths {
            paths: simulate::simulate(&d, &state, sigma, horizon, n_paths, seed),
        })
    }
}

#[cfg(test)]
impl FittedEts {
    /// The fitted model run over `y` from its initial state with its parameters: what the same
    /// fitted model gives on a series longer than the one it was fitted to.
    pub(crate) fn replayed(&self, y: &[f64]) -> FittedEts {
        let d = self.dynamics();
        let mut state = State::from_layout(&self.initial_state, d.trend, d.season, d.m);
        d.filter(y, &mut state);
        FittedEts {
            last_state: state.to_layout(d.trend, d.season),
            n_obs: y.len(),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests;
