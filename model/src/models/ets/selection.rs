//! Fitting one ETS model by maximum likelihood, and choosing among candidates by AICc, as
//! StatsForecast's `etsmodel` and `ets_f` do.
//!
//! Two StatsForecast details are reproduced on purpose because they change the fitted models:
//!
//! * the parameter bounds are shared by all candidates of one selection and tightened in place
//!   as each candidate starts (`beta <= alpha_0`, `gamma <= 1 - alpha_0`, with `alpha_0` that
//!   candidate's starting alpha), so later candidates inherit the tightest bounds so far;
//!   [`Bounds`] is threaded through the candidates in StatsForecast's order for that reason;
//! * the optimiser only sees box bounds: the "usual" and "admissible" region checks apply to the
//!   starting values only, not to every trial point (R checks every trial point).
//!
//! The initial states are optimised along with the smoothing parameters (all but the last
//! seasonal state, which makes the season sum to 0, or to `m` when multiplicative).

use super::core::{Dynamics, State};
use super::init::initial_states;
use crate::optim::{NelderMead, Search, StopCheck};

use super::{ErrorKind, EtsModel, MAX_SEASON, SeasonKind, TrendKind};

/// Smallest and largest phi, StatsForecast's `_PHI_LOWER` / `_PHI_UPPER` (R: 0.8 .. 0.98).
pub(crate) const PHI_RANGE: (f64, f64) = (0.8, 0.98);
/// Smoothing parameters live in `[1e-4, 0.9999]`: StatsForecast's and R's default ranges.
const SMOOTHING_RANGE: (f64, f64) = (1.0e-4, 0.9999);

/// Bounds on `(alpha, beta, gamma, phi)`, shared and tightened across the candidates of one
/// selection (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Bounds {
    lower: [f64; 4],
    upper: [f64; 4],
}

impl Default for Bounds {
    fn default() -> Self {
        let (lo, hi) = SMOOTHING_RANGE;
        Bounds {
            lower: [lo, lo, lo, PHI_RANGE.0],
            upper: [hi, hi, hi, PHI_RANGE.1],
        }
    }
}

/// One fitted candidate.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Candidate {
    pub model: EtsModel,
    pub dynamics: Dynamics,
    /// Full initial state in StatsForecast's layout, implied seasonal state included.
    pub initial_state: Vec<f64>,
    /// State after the last observation, same layout.
    pub last_state: Vec<f64>,
    /// -2 log-likelihood (up to StatsForecast's constant).
    pub neg2_log_lik: f64,
    pub aic: f64,
    pub bic: f64,
    pub aicc: f64,
    pub sigma2: f64,
    /// Estimated parameters including sigma, as counted by the information criteria.
    pub n_params: usize,
}

/// The smoothing parameters a candidate estimates, in order, and their starting values.
struct Start {
    alpha: f64,
    beta: Option<f64>,
    gamma: Option<f64>,
    phi: Option<f64>,
}

/// StatsForecast's `initparam`: starting values, tightening `bounds` on the way.
fn starting_values(
    model: EtsModel,
    m: usize,
    bounds: &mut Bounds,
    fixed_alpha: Option<f64>,
) -> Start {
    let (lower, upper) = (&bounds.lower, &mut bounds.upper);
    let alpha = fixed_alpha.unwrap_or_else(|| {
        let a = lower[0] + 0.2 * (upper[0] - lower[0]) / m as f64;
        if (0.0..=1.0).contains(&a) {
            a
        } else {
            lower[0] + 2e-3
        }
    });
    let beta = (model.trend != TrendKind::None).then(|| {
        upper[1] = upper[1].min(alpha);
        let b = lower[1] + 0.1 * (upper[1] - lower[1]);
        if b < 0.0 || b > alpha {
            alpha - 1e-3
        } else {
            b
        }
    });
    let gamma = (model.season != SeasonKind::None).then(|| {
        upper[2] = upper[2].min(1.0 - alpha);
        let g = lower[2] + 0.05 * (upper[2] - lower[2]);
        if g < 0.0 || g > 1.0 - alpha {
            1.0 - alpha - 1e-3
        } else {
            g
        }
    });
    let phi = (model.trend == TrendKind::DampedAdditive).then(|| {
        let p = lower[3] + 0.99 * (upper[3] - lower[3]);
        if (0.0..=1.0).contains(&p) {
            p
        } else {
            upper[3] - 1e-3
        }
    });
    Start {
        alpha,
        beta,
        gamma,
        phi,
    }
}

/// StatsForecast's `check_param` with `bounds = "both"` on the starting values: the usual
/// region, then the simple admissibility inequalities. (The characteristic-root test of the
/// seasonal admissible region is not reproduced: StatsForecast's default starting values always
/// pass it, and it is never applied during the search.)
fn start_is_valid(start: &Start, bounds: &Bounds, m: usize) -> bool {
    let (lo, hi) = (&bounds.lower, &bounds.upper);
    let a = start.alpha;
    if a < lo[0] || a > hi[0] {
        return false;
    }
    if start.beta.is_some_and(|b| b < lo[1] || b > a || b > hi[1]) {
        return false;
    }
    if start.phi.is_some_and(|p| p < lo[3] || p > hi[3]) {
        return false;
    }
    if start
        .gamma
        .is_some_and(|g| g < lo[2] || g > 1.0 - a || g > hi[2])
    {
        return false;
    }
    let phi = start.phi.unwrap_or(1.0);
    if !(0.0..=1.0 + 1e-8).contains(&phi) {
        return false;
    }
    match start.gamma {
        None => {
            let beta_ok = start
                .beta
                .is_none_or(|b| b >= a * (phi - 1.0) && b <= (1.0 + phi) * (2.0 - a));
            a >= 1.0 - 1.0 / phi && a <= 1.0 + 1.0 / phi && beta_ok
        }
        Some(g) if m > 1 => {
            let b = start.beta.unwrap_or(0.0);
            let mf = m as f64;
            g >= (1.0 - 1.0 / phi - a).max(0.0)
                && g <= 1.0 + 1.0 / phi - a
                && a >= 1.0 - 1.0 / phi - g * (1.0 - mf + phi + phi * mf) / (2.0 * phi * mf)
                && b >= -(1.0 - phi) * (g / mf + a)
        }
        Some(_) => true,
    }
}

/// Everything the objective needs to turn a parameter vector into a likelihood.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub(crate) model: EtsModel,
    m: usize,
    fixed_alpha: Option<f64>,
    /// Number of initial states estimated (the last seasonal state is implied).
    n_states: usize,
}

impl Layout {
    /// Dynamics and the full initial state (written into `full`, returning its length).
    fn unpack(&self, params: &[f64], full: &mut [f64; MAX_SEASON + 2]) -> (Dynamics, usize) {
        let mut j = 0;
        let mut next = || {
            let v = params.get(j).copied().unwrap_or(f64::NAN);
            j += 1;
            v
        };
        let alpha = next();
        let alpha = self.fixed_alpha.unwrap_or(alpha);
        let trend = self.model.trend != TrendKind::None;
        let beta = if trend { next() } else { 0.0 };
        let gamma = if self.model.season != SeasonKind::None {
            next()
        } else {
            0.0
        };
        let phi = if self.model.trend == TrendKind::DampedAdditive {
            next()
        } else {
            1.0
        };
        let states = &params[params.len() - self.n_states..];
        full[..self.n_states].copy_from_slice(states);
        let mut len = self.n_states;
        if self.model.season != SeasonKind::None {
            let first = 1 + usize::from(trend);
            let sum: f64 = states[first..].iter().sum();
            let total = if self.model.season == SeasonKind::Multiplicative {
                self.m as f64
            } else {
                0.0
            };
            full[len] = total - sum;
            len += 1;
        }
        let dynamics = Dynamics {
            error: self.model.error,
            trend,
            season: self.model.season,
            m: self.m,
            alpha,
            beta,
            gamma,
            phi,
        };
        (dynamics, len)
    }

    /// StatsForecast's `ObjectiveFunction` for the likelihood criterion.
    pub(crate) fn objective(&self, y: &[f64], params: &[f64]) -> f64 {
        match self.start(params) {
            Some((dynamics, mut state)) => score(dynamics.filter(y, &mut state).0),
            None => f64::INFINITY,
        }
    }

    /// The model and the state before the first observation at `params`; `None` where the
    /// objective is `+inf` without running the filter (a negative multiplicative seasonal
    /// state).
    pub(crate) fn start(&self, params: &[f64]) -> Option<(Dynamics, State)> {
        let mut full = [0.0; MAX_SEASON + 2];
        let (dynamics, len) = self.unpack(params, &mut full);
        let trend = dynamics.trend;
        if self.model.season == SeasonKind::Multiplicative
            && full[1 + usize::from(trend)..len].iter().any(|s| *s < 0.0)
        {
            return None;
        }
        let state = State::from_layout(&full[..len], trend, dynamics.season, self.m);
        Some((dynamics, state))
    }
}

/// The objective's value for a likelihood from [`Dynamics::filter`]. A NaN likelihood scores
/// -inf, as in StatsForecast; the candidate is then dropped when its final likelihood is NaN.
pub(crate) fn score(neg2_log_lik: f64) -> f64 {
    if neg2_log_lik.is_nan() {
        f64::NEG_INFINITY
    } else {
        neg2_log_lik.max(-1e10)
    }
}

/// Fits `model` to `y` (season length `m`, ignored without a season). `None` when the model
/// cannot be fitted: no valid start, too many parameters for the data, or a NaN likelihood.
pub(crate) fn fit_candidate(
    y: &[f64],
    model: EtsModel,
    m: usize,
    bounds: &mut Bounds,
    fixed_alpha: Option<f64>,
) -> Option<Candidate> {
    let mut search = prepare_candidate(y, model, m, bounds, fixed_alpha)?;
    while let Some(value) = search.search.point().map(|p| search.layout.objective(y, p)) {
        search.search.tell(value);
    }
    search.finish(y)
}

/// One candidate's maximum-likelihood search, ready to be run ([`CandidateSearch::search`]
/// asks for the likelihood at one point after another) and then finished.
#[derive(Clone, Debug)]
pub(crate) struct CandidateSearch {
    pub(crate) layout: Layout,
    pub(crate) search: Search,
}

/// Everything [`fit_candidate`] does before its search: `None` when the model cannot be fitted
/// (no valid start, too many parameters for the data). `bounds` are tightened here, so the
/// candidates of one selection must be prepared in order; their searches are independent.
pub(crate) fn prepare_candidate(
    y: &[f64],
    model: EtsModel,
    m: usize,
    bounds: &mut Bounds,
    fixed_alpha: Option<f64>,
) -> Option<CandidateSearch> {
    let m = if model.season == SeasonKind::None {
        1
    } else {
        m
    };
    if m > MAX_SEASON {
        return None;
    }
    let start = starting_values(model, m, bounds, fixed_alpha);
    if !start_is_valid(&start, bounds, m) {
        return None;
    }
    let states = initial_states(y, m, model.trend != TrendKind::None, model.season)?;
    let mut x0 = vec![start.alpha];
    let mut lower = vec![bounds.lower[0]];
    let mut upper = vec![bounds.upper[0]];
    for (value, k) in [(start.beta, 1), (start.gamma, 2), (start.phi, 3)] {
        if let Some(v) = value {
            x0.push(v);
            lower.push(bounds.lower[k]);
            upper.push(bounds.upper[k]);
        }
    }
    let n_states = states.len();
    x0.extend_from_slice(&states);
    lower.resize(x0.len(), f64::NEG_INFINITY);
    upper.resize(x0.len(), f64::INFINITY);
    if x0.len() + 1 >= y.len() {
        return None;
    }
    let layout = Layout {
        model,
        m,
        fixed_alpha,
        n_states,
    };
    let search = Search::new(
        &x0,
        &lower,
        &upper,
        &NelderMead::statsforecast(StopCheck::BeforeRanking),
    );
    Some(CandidateSearch { layout, search })
}

impl CandidateSearch {
    /// The fitted candidate at the point the search returned; `None` for a NaN likelihood or
    /// states that are not finite.
    pub(crate) fn finish(&self, y: &[f64]) -> Option<Candidate> {
        let optimum = self.search.minimum();
        let n_par = optimum.x.len();
        let m = self.layout.m;
        let mut full = [0.0; MAX_SEASON + 2];
        let (dynamics, len) = self.layout.unpack(&optimum.x, &mut full);
        let initial_state = full[..len].to_vec();
        let mut state = State::from_layout(&initial_state, dynamics.trend, dynamics.season, m);
        let (lik, sse) = dynamics.filter(y, &mut state);
        let last_state = state.to_layout(dynamics.trend, dynamics.season);
        // Non-finite states could not be stored (JSON has no infinities) nor forecast from.
        let states_finite = initial_state
            .iter()
            .chain(&last_state)
            .all(|v| v.is_finite());
        if !lik.is_finite() || !states_finite {
            return None;
        }
        let n = y.len() as f64;
        let k = (n_par + 1) as f64;
        let aic = lik + 2.0 * k;
        let bic = lik + n.ln() * k;
        let aicc = if n - k - 1.0 != 0.0 {
            aic + 2.0 * k * (k + 1.0) / (n - k - 1.0)
        } else {
            f64::INFINITY
        };
        Some(Candidate {
            model: self.layout.model,
            dynamics,
            initial_state,
            last_state,
            neg2_log_lik: lik,
            aic,
            bic,
            aicc,
            sigma2: sse / (n - k - 1.0),
            n_params: n_par + 1,
        })
    }
}

/// The candidate models of a selection, in StatsForecast's order: error, then trend family
/// (none, additive), then season, then damped before undamped. The order matters because the
/// bounds tighten from one candidate to the next. StatsForecast's restrictions apply: no additive
/// error with a multiplicative season, nothing multiplicative on data that are not all
/// positive, and no season when `m == 1`.
pub(crate) fn candidates(
    errors: &[ErrorKind],
    trends: &[TrendKind],
    seasons: &[SeasonKind],
    m: usize,
    data_positive: bool,
) -> Vec<EtsModel> {
    let damped_first = [TrendKind::DampedAdditive, TrendKind::Additive];
    let mut out = Vec::new();
    for &error in errors {
        for family in [&[TrendKind::None][..], &damped_first[..]] {
            for &season in seasons {
                for &trend in family.iter().filter(|t| trends.contains(t)) {
                    let forbidden =
                        error == ErrorKind::Additive && season == SeasonKind::Multiplicative;
                    let needs_positive =
                        error == ErrorKind::Multiplicative || season == SeasonKind::Multiplicative;
                    let seasonless = season != SeasonKind::None && m == 1;
                    if !forbidden && (data_positive || !needs_positive) && !seasonless {
                        out.push(EtsModel {
                            error,
                            trend,
                            season,
                        });
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_candidate_order_is_statsforecasts() {
        use ErrorKind as E;
        use SeasonKind as S;
        use TrendKind as T;
        let names: Vec<String> = candidates(
            &[E::Additive, E::Multiplicative],
            &[T::None, T::DampedAdditive, T::Additive],
            &[S::None, S::Additive, S::Multiplicative],
            7,
            true,
        )
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(names[..6], ["ANN", "ANA", "AAdN", "AAN", "AAdA", "AAA"]);
        assert_eq!(names.len(), 15);
    }

    #[test]
    fn bounds_tighten_as_candidates_start() {
        let mut bounds = Bounds::default();
        let model: EtsModel = "AAdN".parse().unwrap();
        let start = starting_values(model, 1, &mut bounds, None);
        assert!((start.alpha - (1e-4 + 0.2 * 0.9998)).abs() < 1e-12);
        assert_eq!(bounds.upper[1], start.alpha);
        assert!((start.phi.unwrap() - 0.9782).abs() < 1e-12);
    }

    #[test]
    fn simple_exponential_smoothing_fits_a_noisy_level() {
        let y: Vec<f64> = (0..60)
            .map(|t| 10.0 + ((t * 37 % 11) as f64 - 5.0) * 0.3)
            .collect();
        let fit =
            fit_candidate(&y, "ANN".parse().unwrap(), 1, &mut Bounds::default(), None).unwrap();
        assert!(fit.aicc.is_finite() && fit.sigma2 > 0.0, "{fit:?}");
        assert!((fit.last_state[0] - 10.0).abs() < 1.5, "{fit:?}");
    }
}
