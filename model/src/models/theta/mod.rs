//! AutoTheta: the Theta method's four state-space models, the best one chosen automatically.
//!
//! The Theta method (Assimakopoulos & Nikolopoulos, 2000) forecasts by mixing a linear trend with
//! simple exponential smoothing. Fiorucci et al. (2016, "Models for optimising the theta method and
//! their relationship to state space models", IJF 32(4)) write it as a state-space model with a
//! smoothing weight `α` and a trend weight `θ`, in four variants ([`Variant`]): standard (`θ = 2`,
//! the classic method) or optimised (`θ` estimated), each with a trend line fitted once to the
//! whole series or updated dynamically with every observation. The recursion is in `state.rs`.
//!
//! This follows StatsForecast 2.1.1's `AutoTheta` (`statsforecast/theta.py` and `theta.cpp`), the
//! reference we are measured against:
//!
//! 1. **Season.** When the season length `m` is at least 4, the series has two full seasons and
//!    its lag-`m` autocorrelation is significant at 90%, the season is divided out (or subtracted,
//!    when the series has values `<= 0`) with a classical decomposition (`seasonality.rs`).
//! 2. **Fit.** Each variant's initial level, `α ∈ [0.1, 0.99]` and (optimised variants)
//!    `θ ∈ [1, 1e10]` minimise the sum of squared one-step errors (after three burn-in steps)
//!    divided by the mean absolute value, from `(y₀/2, 0.5, 2)`, by StatsForecast's own
//!    Nelder-Mead ([`crate::optim`] says why it must be that one).
//! 3. **Choose.** The variant with the smallest criterion wins; ties go to the earlier of STM, OTM,
//!    DSTM, DOTM.
//! 4. **Forecast.** Points run the recursion forward with forecasts standing in for observations,
//!    then put the season back. Intervals come from simulated paths, as StatsForecast's do: the
//!    recursion driven by Gaussian errors whose `σ` is the standard deviation of the in-sample
//!    residuals after burn-in, then reseasonalised (`simulation.rs`). StatsForecast draws 200
//!    paths (numpy's generator, which we do not reproduce); we draw
//!    [`PREDICT_PATHS`] with a fixed seed, so quantiles are steadier and `predict` is
//!    deterministic. [`Predict::sample_paths`] draws the same process with the caller's seed.
//!
//! StatsForecast's choices are kept even where they are odd, because they decide which variant is
//! chosen or how wide the intervals are: the criterion is not an MSE (it is scaled by the mean
//! absolute value, which does not change the choice); the simulation updates the trend line with
//! every draw even for the non-dynamic variants; and `σ` comes from residuals put back on the
//! original scale (multiplied by the season, or, for an additive season, with the season *added*,
//! which widens the intervals of additively deseasonalised series).
//!
//! The fit is a few thousand allocation-free passes over the series (four variants, up to 1000
//! Nelder-Mead iterations each): 2–4 ms in a release build for three years of daily data
//! (n = 1095, m = 7) or twelve weeks of half-hourly data (n = 4032, m = 48). A 28-step forecast
//! with 21 quantiles takes about 2 ms, most of it drawing and sorting the paths.

mod seasonality;
mod simulation;
mod state;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::forecast::{Forecast, SamplePaths};
use crate::models::{Absorb, Fit, Predict};
use crate::optim::{NelderMead, StopCheck, nelder_mead};

pub use seasonality::Seasonality;
pub use state::ThetaState;

use simulation::{SimulationStart, sorted_quantile};
use state::{BURN_IN, Coefficients};

/// Paths simulated by [`Predict::predict`] to read quantiles from. StatsForecast uses 200, which
/// leaves a 95% interval's width with about 8% sampling noise; 2000 bring that to about 3%, for
/// about 2 ms per 28-step forecast (30 ms for 336 steps).
pub const PREDICT_PATHS: usize = 2_000;

/// The seed of [`Predict::predict`]'s simulation, fixed so that a forecast can be reproduced.
pub const PREDICT_SEED: u64 = 0;

/// A model needs more observations than the three burn-in steps of the criterion (StatsForecast
/// refuses `n <= 3` as a "tiny dataset").
const MIN_OBSERVATIONS: usize = BURN_IN + 1;

/// Search box of the initial level: StatsForecast's "unbounded".
const LEVEL_BOUND: f64 = 1e10;
/// Search interval of `α`: StatsForecast's bounds, which keep the recursion stable and the
/// division by `α` in the forecast safe.
const ALPHA_BOUNDS: (f64, f64) = (0.1, 0.99);
/// Search interval of `θ`: at `θ = 1` the trend line has no weight (simple exponential smoothing).
const THETA_BOUNDS: (f64, f64) = (1.0, 1e10);
/// Starting `α` and `θ` of the search; the initial level starts at half the first observation.
const START_ALPHA: f64 = 0.5;
/// `θ` of the standard variants, and the search's starting `θ` for the optimised ones.
const STANDARD_THETA: f64 = 2.0;

/// One of the four Theta models of Fiorucci et al. (2016).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// Standard Theta model (STM): `θ = 2`, trend line fitted to the whole series.
    Standard,
    /// Optimised Theta model (OTM): `θ` estimated, trend line fitted to the whole series.
    Optimised,
    /// Dynamic standard Theta model (DSTM): `θ = 2`, trend line updated with each observation.
    DynamicStandard,
    /// Dynamic optimised Theta model (DOTM): `θ` estimated, trend line updated.
    DynamicOptimised,
}

impl Variant {
    /// All variants, in the order AutoTheta tries them (ties go to the earlier one).
    pub const ALL: [Variant; 4] = [
        Variant::Standard,
        Variant::Optimised,
        Variant::DynamicStandard,
        Variant::DynamicOptimised,
    ];

    /// The usual abbreviation (STM, OTM, DSTM, DOTM), as StatsForecast names them.
    pub fn abbreviation(&self) -> &'static str {
        match self {
            Variant::Standard => "STM",
            Variant::Optimised => "OTM",
            Variant::DynamicStandard => "DSTM",
            Variant::DynamicOptimised => "DOTM",
        }
    }

    /// Whether the trend line is updated with each observation.
    pub fn is_dynamic(&self) -> bool {
        matches!(self, Variant::DynamicStandard | Variant::DynamicOptimised)
    }

    /// Whether `θ` is estimated (otherwise it is 2).
    pub fn optimises_theta(&self) -> bool {
        matches!(self, Variant::Optimised | Variant::DynamicOptimised)
    }
}

/// Unfitted Theta: the season length and the variants to choose from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThetaParams {
    season_length: usize,
    variants: Vec<Variant>,
}

impl ThetaParams {
    /// AutoTheta: the Theta variant with the best in-sample fit.
    pub fn auto(season_length: usize) -> Self {
        ThetaParams {
            season_length: season_length.max(1),
            variants: Variant::ALL.to_vec(),
        }
    }

    /// Fits only `variant` instead of choosing (StatsForecast's `AutoTheta(model=...)`).
    pub fn with_variant(mut self, variant: Variant) -> Self {
        self.variants = vec![variant];
        self
    }
}

/// A fitted Theta model: the chosen variant, its parameters, the final state and the season.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FittedTheta {
    season_length: usize,
    variant: Variant,
    initial_level: f64,
    alpha: f64,
    theta: f64,
    criterion: f64,
    observations: usize,
    last_state: ThetaState,
    mean: f64,
    sigma: f64,
    seasonality: Seasonality,
}

impl FittedTheta {
    /// The chosen variant.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// The smoothing weight `α`.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The trend weight `θ` (2 for the standard variants).
    pub fn theta(&self) -> f64 {
        self.theta
    }

    /// The estimated level before the first observation (of the deseasonalised series).
    pub fn initial_level(&self) -> f64 {
        self.initial_level
    }

    /// StatsForecast's selection criterion: the sum of squared one-step errors after burn-in,
    /// divided by the mean absolute (deseasonalised) observation.
    pub fn criterion(&self) -> f64 {
        self.criterion
    }

    /// The standard deviation of the simulation's errors.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// How the season was taken out, if it was.
    pub fn seasonality(&self) -> &Seasonality {
        &self.seasonality
    }

    /// The state after the last observation.
    pub fn last_state(&self) -> &ThetaState {
        &self.last_state
    }

    fn coefficients(&self) -> Coefficients {
        Coefficients {
            variant: self.variant,
            initial_level: self.initial_level,
            alpha: self.alpha,
            theta: self.theta,
        }
    }

    fn simulation(&self) -> SimulationStart<'_> {
        SimulationStart {
            alpha: self.alpha,
            theta: self.theta,
            n: self.observations,
            last: self.last_state,
            mean: self.mean,
            sigma: self.sigma,
            seasonality: &self.seasonality,
        }
    }

    /// Point forecasts on the original scale.
    pub fn point(&self, horizon: usize) -> Vec<f64> {
        self.coefficients()
            .forecast(&self.last_state, self.observations, horizon)
            .into_iter()
            .enumerate()
            .map(|(step, value)| self.seasonality.apply(step, value))
            .collect()
    }
}

/// Fits one variant to the deseasonalised series.
fn fit_variant(y: &[f64], variant: Variant, mean_abs: f64) -> Coefficients {
    let initial_level = y.first().map_or(0.0, |v| v / 2.0);
    let model = |x: &[f64]| Coefficients {
        variant,
        initial_level: x[0],
        alpha: x[1],
        theta: if variant.optimises_theta() {
            x[2]
        } else {
            STANDARD_THETA
        },
    };
    let (x0, lower, upper) = if variant.optimises_theta() {
        (
            vec![initial_level, START_ALPHA, STANDARD_THETA],
            vec![-LEVEL_BOUND, ALPHA_BOUNDS.0, THETA_BOUNDS.0],
            vec![LEVEL_BOUND, ALPHA_BOUNDS.1, THETA_BOUNDS.1],
        )
    } else {
        (
            vec![initial_level, START_ALPHA],
            vec![-LEVEL_BOUND, ALPHA_BOUNDS.0],
            vec![LEVEL_BOUND, ALPHA_BOUNDS.1],
        )
    };
    // A NaN criterion (an overflowing recursion) rejects the point: it scores +inf.
    let objective = |x: &[f64]| {
        let criterion = model(x).criterion(y, mean_abs);
        if criterion.is_nan() {
            f64::INFINITY
        } else {
            criterion
        }
    };
    let optimum = nelder_mead(
        objective,
        &x0,
        &lower,
        &upper,
        &NelderMead::statsforecast(StopCheck::AfterRanking),
    );
    model(&optimum.x)
}

/// Sample standard deviation (`ddof = 1`); 0 for fewer than two values.
fn sample_sd(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

impl Fit for ThetaParams {
    type Fitted = FittedTheta;

    fn fit(&self, y: &[f64]) -> Result<FittedTheta, ModelError> {
        if y.len() < MIN_OBSERVATIONS {
            return Err(ModelError::TooShort {
                needed: MIN_OBSERVATIONS,
                got: y.len(),
            });
        }
        if let Some(i) = y.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::NonFinite(i));
        }
        let m = self.season_length.max(1);
        let d = seasonality::deseasonalise(y, m);
        let mean_abs = d.y.iter().map(|v| v.abs()).sum::<f64>() / d.y.len() as f64;

        let mut best: Option<(f64, Coefficients)> = None;
        for &variant in &self.variants {
            let model = fit_variant(&d.y, variant, mean_abs);
            let criterion = model.criterion(&d.y, mean_abs);
            // Strictly smaller wins, so ties keep the earlier variant; NaN never wins.
            if criterion < best.map_or(f64::INFINITY, |(c, _)| c) {
                best = Some((criterion, model));
            }
        }
        let Some((_, model)) = best else {
            return Err(ModelError::Diverged {
                model: "Theta",
                reason: "every variant's in-sample criterion is infinite or NaN (are the values \
                         too large?)"
                    .into(),
            });
        };
        let (criterion, mut residuals, last_state) = model.residuals(&d.y, mean_abs);

        // StatsForecast's σ: residuals put back on the original scale, burn-in dropped.
        for (e, s) in residuals.iter_mut().zip(&d.in_sample) {
            match d.seasonality {
                Seasonality::Multiplicative { .. } => *e *= s,
                Seasonality::Additive { .. } => *e += s,
                Seasonality::None => {}
            }
        }
        let tail = &residuals[BURN_IN..];
        let sigma = sample_sd(if tail.len() >= 2 { tail } else { &residuals });
        let mean = d.y.iter().sum::<f64>() / d.y.len() as f64;

        let indices_finite = match &d.seasonality {
            Seasonality::None => true,
            Seasonality::Multiplicative { indices } | Seasonality::Additive { indices } => {
                indices.iter().all(|v| v.is_finite())
            }
        };
        let state_finite = [
            last_state.level,
            last_state.mean,
            last_state.intercept,
            last_state.slope,
            last_state.forecast,
        ]
        .iter()
        .all(|v| v.is_finite());
        if !(state_finite && indices_finite && sigma.is_finite() && mean.is_finite()) {
            return Err(ModelError::Diverged {
                model: "Theta",
                reason: format!(
                    "{} reached a non-finite state (the values are too large to smooth)",
                    model.variant.abbreviation()
                ),
            });
        }
        Ok(FittedTheta {
            season_length: m,
            variant: model.variant,
            initial_level: model.initial_level,
            alpha: model.alpha,
            theta: model.theta,
            criterion,
            observations: y.len(),
            last_state,
            mean,
            sigma,
            seasonality: d.seasonality,
        })
    }
}

/// The recursion runs on over the deseasonalised observations with the fitted `α`, `θ` and (standard
/// variants) trend line; the season indices turn with it, and `σ` stays as fitted.
impl Absorb for FittedTheta {
    fn absorb(&mut self, y: &[f64]) -> Result<(), ModelError> {
        let deseasonalised: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(step, &v)| self.seasonality.remove(step, v))
            .collect();
        let n = self.observations;
        let state = self
            .coefficients()
            .absorb(&self.last_state, n, &deseasonalised);
        let sum = self.mean * n as f64 + deseasonalised.iter().sum::<f64>();
        self.observations = n + y.len();
        self.mean = sum / self.observations as f64;
        self.last_state = state;
        self.seasonality.advance(y.len());
        Ok(())
    }
}

impl Predict for FittedTheta {
    fn predict(&self, horizon: usize, probabilities: &[f64]) -> Result<Forecast, ModelError> {
        if let Some(&p) = probabilities.iter().find(|p| !(**p > 0.0 && **p < 1.0)) {
            return Err(ModelError::BadProbability(p));
        }
        let mut probabilities = probabilities.to_vec();
        probabilities.sort_by(f64::total_cmp);
        probabilities.dedup();

        let mut draws = self
            .simulation()
            .draws(horizon, PREDICT_PATHS, PREDICT_SEED);
        let mut quantiles: Vec<(f64, Vec<f64>)> = probabilities
            .iter()
            .map(|&p| (p, Vec::with_capacity(horizon)))
            .collect();
        // Sort each step's draws once and read every quantile off them (`SamplePaths::quantile`
        // sorts once per probability).
        for step_draws in draws.chunks_mut(PREDICT_PATHS) {
            step_draws.sort_unstable_by(f64::total_cmp);
            for (p, values) in &mut quantiles {
                values.push(sorted_quantile(step_draws, *p));
            }
        }
        Ok(Forecast {
            point: self.point(horizon),
            quantiles,
        })
    }

    fn sample_paths(
        &self,
        horizon: usize,
        n_paths: usize,
        seed: u64,
    ) -> Result<SamplePaths, ModelError> {
        let draws = self.simulation().draws(horizon, n_paths, seed);
        let paths = (0..n_paths)
            .map(|path| {
                (0..horizon)
                    .map(|step| draws[step * n_paths + path])
                    .collect()
            })
            .collect();
        Ok(SamplePaths { paths })
    }
}

#[cfg(test)]
mod tests;
