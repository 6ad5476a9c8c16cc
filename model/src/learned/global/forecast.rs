//! Forecasting with a fitted global model: recursive point forecasts batched across series and
//! members, and quantiles and sample paths from the calibration errors, scaled back for each
//! forecast step by the level, phase, condition and adaptive factors they were divided by.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::level::LevelScaling;
use super::members::FittedLearner;
use super::statistical::Origin;
use super::{Bounds, FittedGlobal, ForecastInput, GlobalSeries, MIN_OWN_TRAJECTORIES};

/// Where a series' intervals come from (see [`FittedGlobal::interval_source`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntervalSource {
    /// Its own calibration errors.
    Own,
    /// The calibration errors of every series, pooled: it had too few of its own.
    Pooled,
    /// Seasonal naive's normal intervals: no series had calibration errors.
    SeasonalNaive,
    /// None: the quantiles equal the point (a fit made before the fallback existed, on a panel
    /// without calibration errors).
    None,
}

impl IntervalSource {
    /// What a forecast's notes say of it, when it is not the series' own errors.
    pub fn note(self) -> Option<&'static str> {
        match self {
            IntervalSource::Own => None,
            IntervalSource::Pooled => Some(
                "this series had too few calibration origins for intervals of its own: they \
                 come from the calibration errors of every series, pooled",
            ),
            IntervalSource::SeasonalNaive => Some(
                "no series had calibration origins: the intervals are seasonal naive's around \
                 the forecast (normal, from the training data's seasonal differences), wider \
                 than a calibrated model's",
            ),
            IntervalSource::None => Some("no calibration errors: the quantiles equal the point"),
        }
    }
}
use crate::error::ModelError;
use crate::features::{Featurizer, RecursiveState, SeriesScale};
use crate::forecast::{Forecast, SamplePaths, standard_normal_quantile};
use crate::learned::{Regressor, Rows};
use crate::panel::Series;

impl FittedGlobal {
    /// Moves series `index`'s forecast origin to `cutoff`: after observations taken in since the
    /// fit (see [`PublishedGlobal::absorb`](crate::learned::published::PublishedGlobal::absorb)),
    /// or when published at another cutoff. The phase its first forecast step lands on moves
    /// with it; every profile has the same period, [`CalibrationSpec::phase_period`], and
    /// without any the phase is never read.
    pub fn move_origin(&mut self, index: usize, cutoff: usize) {
        let period = self
            .series
            .iter()
            .map(|s| s.phase_scale.len())
            .find(|&len| len > 0);
        if let Some(known) = self.series.get_mut(index) {
            if let Some(period) = period {
                let forward = cutoff.max(known.cutoff) - known.cutoff.min(cutoff);
                let shift = forward % period;
                known.cutoff_phase = if cutoff >= known.cutoff {
                    (known.cutoff_phase + shift) % period
                } else {
                    (known.cutoff_phase + period - shift) % period
                };
            }
            known.cutoff = cutoff;
        }
    }

    /// The index of series `id`.
    pub fn series_index(&self, id: &str) -> Option<usize> {
        self.series.iter().position(|s| s.id == id)
    }

    /// Every series' index by id: one pass, for callers that look up many series.
    pub fn series_indices(&self) -> std::collections::HashMap<&str, usize> {
        self.series
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect()
    }

    /// Point forecasts of `horizon` steps for each input, on the series' own scale, batched.
    /// Each input's series is indexed as the panel the model was fitted on, so the statistical
    /// members, fitted to each series' cutoff, absorb what lies between it and the origin.
    pub fn points(
        &self,
        inputs: &[ForecastInput<'_>],
        horizon: usize,
    ) -> Result<Vec<Vec<f64>>, ModelError> {
        self.points_with(inputs, horizon, Origin::PanelIndex)
    }

    /// [`FittedGlobal::points`] for inputs that end where the statistical members' state does
    /// (a published model's tails, which absorb alongside them).
    pub(crate) fn points_at_state(
        &self,
        inputs: &[ForecastInput<'_>],
        horizon: usize,
    ) -> Result<Vec<Vec<f64>>, ModelError> {
        self.points_with(inputs, horizon, Origin::MembersState)
    }

    fn points_with(
        &self,
        inputs: &[ForecastInput<'_>],
        horizon: usize,
        origin: Origin,
    ) -> Result<Vec<Vec<f64>>, ModelError> {
        let mut combined = vec![0.0; inputs.len() * horizon];
        let starts = inputs
            .iter()
            .map(|input| {
                let known = self.series.get(input.index).ok_or(ModelError::NoSeriesAt {
                    index: input.index,
                    len: self.series.len(),
                })?;
                Ok((input.series, input.origin, known.scale))
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let floors: Vec<f64> = inputs
            .iter()
            .map(|input| {
                let known = &self.series[input.index];
                if known.non_negative {
                    known.scale.scale(0.0)
                } else {
                    f64::NEG_INFINITY
                }
            })
            .collect();
        for (m, member) in self.members.iter().enumerate() {
            let paths = recursive_points(
                member,
                &self.featurizer,
                &starts,
                horizon,
                self.bounds,
                &floors,
            )?;
            for (k, input) in inputs.iter().enumerate() {
                let w = self.series[input.index]
                    .weights
                    .get(m)
                    .copied()
                    .unwrap_or(0.0);
                if w == 0.0 {
                    continue;
                }
                for j in 0..horizon {
                    combined[k * horizon + j] += w * paths[k * horizon + j];
                }
            }
        }
        self.add_statistical_points(inputs, horizon, origin, &floors, &mut combined)?;
        Ok(inputs
            .iter()
            .enumerate()
            .map(|(k, input)| {
                let known = &self.series[input.index];
                combined[k * horizon..(k + 1) * horizon]
                    .iter()
                    .map(|&z| clip(known, known.scale.unscale(z)))
                    .collect()
            })
            .collect())
    }

    /// The calibration errors of `input`'s series at step `j` on its own scale, with their
    /// weights.
    fn step_errors(&self, input: &ForecastInput<'_>, j: usize, point: f64) -> Vec<(f64, f64)> {
        let known = &self.series[input.index];
        let h = self.horizon.max(1);
        let (step, widen) = if j < h {
            (j, 1.0)
        } else {
            (h - 1, ((j + 1) as f64 / h as f64).sqrt())
        };
        let pick = |s: &GlobalSeries, out: &mut Vec<(f64, f64)>| {
            // Relative errors scale with this series' point forecast; absolute ones (its own or
            // another series' pooled) are in scaled units, so with this series' spread, and, when
            // they were level-scaled, with its level: another series' power at this series' mean.
            let level = if std::ptr::eq(s, known) {
                known.level_scaling
            } else {
                s.level_scaling
                    .and_then(|l| LevelScaling::at_mean(l.power, known.scale.mean))
            };
            let unit = if s.relative {
                point.abs()
            } else {
                known.scale.std * level.map_or(1.0, |l| l.factor(point))
            };
            // Errors stored per phase are scaled back by the entry of the phase this step lands
            // on (phases count from a common epoch, so a borrowed profile is read at this
            // series' phase), and those stored per condition by the entry of this step's value.
            let phase = s
                .phase_scale
                .get((known.cutoff_phase + j) % s.phase_scale.len().max(1))
                .copied()
                .unwrap_or(1.0);
            let condition = s.condition.as_ref().map_or(1.0, |profile| {
                profile.factor(future_value(input, profile.column, j))
            });
            let unit = unit * phase * condition;
            for (o, trajectory) in s.errors.chunks_exact(h).enumerate() {
                let weight = s.error_weights.get(o).copied().unwrap_or(1.0);
                out.push((trajectory[step] * widen * unit, weight));
            }
        };
        let mut out = Vec::new();
        match self.interval_source(input.index) {
            IntervalSource::Own => pick(known, &mut out),
            IntervalSource::Pooled => {
                for s in &self.series {
                    pick(s, &mut out);
                }
                for (e, _) in &mut out {
                    *e *= known.pooled_scale;
                }
            }
            IntervalSource::SeasonalNaive => {
                if let Some(naive) = known.naive {
                    out = naive.step_errors(j);
                }
            }
            IntervalSource::None => {}
        }
        out
    }

    /// The series of `input` or an error naming it.
    fn known(&self, input: &ForecastInput<'_>) -> Result<&GlobalSeries, ModelError> {
        self.series.get(input.index).ok_or(ModelError::NoSeriesAt {
            index: input.index,
            len: self.series.len(),
        })
    }

    /// A forecast around `point` (from [`FittedGlobal::points`] for `input`), with the
    /// conformal quantiles at `probabilities`. The forecast is taken to start at the series'
    /// cutoff, as backtests and published models forecast: step `j` reads the phase profile at
    /// `cutoff + j`, and the condition profile at `input`'s future value of its column at
    /// `origin + j`. The errors are the series' own or pooled, or seasonal naive's (see
    /// [`FittedGlobal::interval_source`], whose note a caller should pass on).
    pub fn forecast(
        &self,
        input: &ForecastInput<'_>,
        point: Vec<f64>,
        probabilities: &[f64],
    ) -> Result<Forecast, ModelError> {
        let known = self.known(input)?;
        let per_step: Vec<Vec<(f64, f64)>> = (0..point.len())
            .map(|j| {
                let mut errors = self.step_errors(input, j, point[j]);
                errors.sort_by(|a, b| a.0.total_cmp(&b.0));
                errors
            })
            .collect();
        let mut sorted_probabilities = probabilities.to_vec();
        sorted_probabilities.sort_by(f64::total_cmp);
        let mut quantiles = Vec::with_capacity(probabilities.len());
        for &p in &sorted_probabilities {
            if !(p > 0.0 && p < 1.0) {
                return Err(ModelError::BadProbability(p));
            }
            let values = point
                .iter()
                .zip(&per_step)
                .map(|(&m, errors)| clip(known, m + tail_quantile(errors, p)))
                .collect();
            quantiles.push((p, values));
        }
        Ok(Forecast { point, quantiles })
    }

    /// Where series `index`'s intervals come from: its own calibration errors when it has
    /// [`MIN_OWN_TRAJECTORIES`] of them, else every series' pooled, else seasonal naive's.
    pub fn interval_source(&self, index: usize) -> IntervalSource {
        let Some(known) = self.series.get(index) else {
            return IntervalSource::None;
        };
        let h = self.horizon.max(1);
        if known.errors.len() / h >= MIN_OWN_TRAJECTORIES {
            IntervalSource::Own
        } else if self.series.iter().any(|s| !s.errors.is_empty()) {
            IntervalSource::Pooled
        } else if known.naive.is_some() {
            IntervalSource::SeasonalNaive
        } else {
            IntervalSource::None
        }
    }

    /// `n_paths` sample paths around `point` (for `input`, as [`FittedGlobal::forecast`]): each
    /// the point plus one calibration error trajectory drawn at random (reproducible for `seed`).
    pub fn sample_paths(
        &self,
        input: &ForecastInput<'_>,
        point: &[f64],
        n_paths: usize,
        seed: u64,
    ) -> Result<SamplePaths, ModelError> {
        let known = self.known(input)?;
        let per_step: Vec<Vec<(f64, f64)>> = (0..point.len())
            .map(|j| self.step_errors(input, j, point[j]))
            .collect();
        // Trajectory `o` has the same weight at every step: draw it by its cumulative weight.
        let mut cumulative = Vec::new();
        let mut total = 0.0;
        for &(_, w) in per_step.first().map_or(&[][..], Vec::as_slice) {
            total += w;
            cumulative.push(total);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let paths = (0..n_paths)
            .map(|_| {
                let o = (total > 0.0).then(|| {
                    let u = rng.random::<f64>() * total;
                    cumulative
                        .partition_point(|&c| c <= u)
                        .min(cumulative.len() - 1)
                });
                point
                    .iter()
                    .zip(&per_step)
                    .map(|(&m, errors)| {
                        let e = o.and_then(|o| errors.get(o)).map_or(0.0, |&(e, _)| e);
                        clip(known, m + e)
                    })
                    .collect()
            })
            .collect();
        Ok(SamplePaths { paths })
    }
}

/// The value of exogenous `column` at step `j` of `input`'s forecast; NaN when the series does
/// not reach it.
fn future_value(input: &ForecastInput<'_>, column: usize, j: usize) -> f64 {
    input
        .series
        .exogenous
        .get(column)
        .and_then(|values| values.get(input.origin + j))
        .copied()
        .unwrap_or(f64::NAN)
}

/// The `p`-quantile of a step's `errors` (sorted, as [`weighted_quantile`]) with a tail at least
/// as wide as a normal distribution's: beyond the central 80%, at least as far from the median
/// as the 10% or 90% quantile is, times the normal distribution's ratio of the two distances.
///
/// A few dozen calibration origins pin the central 80% well but not the outer tails: the
/// 97.5% quantile of forty errors is interpolated between their two largest, which on
/// average lie inside the distribution's, and on monthly and quarterly panels the 95% band
/// under-covered by four to six points. Forecast errors are rarely lighter-tailed than
/// normal, so the normal's shape is a floor, not a model; where the errors' own tail is wider
/// (most sub-daily series) it is what counts. Figures: `docs/accuracy-history.md`, "A normal
/// floor under the outer tails".
pub(super) fn tail_quantile(errors: &[(f64, f64)], p: f64) -> f64 {
    const INNER: f64 = 0.1;
    let q = weighted_quantile(errors, p);
    if (INNER..=1.0 - INNER).contains(&p) {
        return q;
    }
    let median = weighted_quantile(errors, 0.5);
    let (anchor, tail) = if p < INNER {
        (weighted_quantile(errors, INNER), INNER)
    } else {
        (weighted_quantile(errors, 1.0 - INNER), 1.0 - INNER)
    };
    let ratio = standard_normal_quantile(p) / standard_normal_quantile(tail);
    let floor = median + ratio * (anchor - median);
    if p < INNER {
        q.min(floor)
    } else {
        q.max(floor)
    }
}

/// The weighted `p`-quantile of `errors` (sorted by value; `(value, weight)`), interpolating
/// between the midpoints of each value's share of the total weight — with equal weights this is
/// the Hazen (type-5) empirical quantile. 0 when there are no errors.
pub(super) fn weighted_quantile(errors: &[(f64, f64)], p: f64) -> f64 {
    let total: f64 = errors.iter().map(|&(_, w)| w).sum();
    if errors.is_empty() || total <= 0.0 {
        return 0.0;
    }
    let mut below = 0.0;
    let mut previous: Option<(f64, f64)> = None;
    for &(value, w) in errors {
        let middle = (below + w / 2.0) / total;
        if middle >= p {
            return match previous {
                None => value,
                Some((v0, m0)) if middle > m0 => v0 + (value - v0) * (p - m0) / (middle - m0),
                Some(_) => value,
            };
        }
        previous = Some((value, middle));
        below += w;
    }
    errors.last().map_or(0.0, |&(v, _)| v)
}

fn clip(series: &GlobalSeries, value: f64) -> f64 {
    if series.non_negative {
        value.max(0.0)
    } else {
        value
    }
}

/// Recursive point forecasts of `horizon` steps from each `(series, origin)`, on the scaled axis,
/// batched across origins: `out[k * horizon + j]`.
pub(super) fn recursive_points(
    member: &FittedLearner,
    featurizer: &Featurizer,
    starts: &[(&Series, usize, SeriesScale)],
    horizon: usize,
    bounds: Bounds,
    floors: &[f64],
) -> Result<Vec<f64>, ModelError> {
    let mut states = starts
        .iter()
        .map(|&(series, o, scale)| RecursiveState::new(featurizer, series, o, scale))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = vec![0.0; starts.len() * horizon];
    let mut x = Vec::with_capacity(starts.len() * featurizer.n_cols());
    let mut known = Vec::with_capacity(featurizer.n_future_known());
    let mut predicted = Vec::with_capacity(starts.len());
    for j in 0..horizon {
        x.clear();
        for (state, &(series, o, _)) in states.iter_mut().zip(starts) {
            known.clear();
            featurizer.push_future_known(series, o + j, &mut known);
            state.push_next_row(&known, &mut x)?;
        }
        predicted.clear();
        member.predict_into(Rows::new(&x, featurizer.n_cols())?, &mut predicted)?;
        for (k, (state, &z)) in states.iter_mut().zip(&predicted).enumerate() {
            // A regressor that diverges on one row must not poison the batch: hold the last
            // value instead.
            let z = if z.is_finite() {
                state.level_of(z)
            } else {
                last_or_zero(&out, k, j, horizon)
            };
            let floor = floors.get(k).copied().unwrap_or(f64::NEG_INFINITY);
            let z = z.clamp(bounds.low, bounds.high).max(floor);
            state.push_scaled(z)?;
            out[k * horizon + j] = z;
        }
    }
    Ok(out)
}

/// The scaled zero of a series whose training part is never negative (else no floor).
pub(super) fn floor_of(training: &[f64], scale: SeriesScale) -> f64 {
    floor_if(is_non_negative(training), scale)
}

/// Whether `training` has data and none of it is negative (see [`floor_of`]).
pub(super) fn is_non_negative(training: &[f64]) -> bool {
    !training.is_empty() && training.iter().all(|&y| y >= 0.0)
}

/// [`floor_of`] for a training part whose [`is_non_negative`] is known.
pub(super) fn floor_if(non_negative: bool, scale: SeriesScale) -> f64 {
    if non_negative {
        scale.scale(0.0)
    } else {
        f64::NEG_INFINITY
    }
}

fn last_or_zero(out: &[f64], k: usize, j: usize, horizon: usize) -> f64 {
    if j == 0 {
        0.0
    } else {
        out[k * horizon + j - 1]
    }
}
