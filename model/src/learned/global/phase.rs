//! Phase profiles: how the size of a series' calibration errors varies with the time of day (or
//! the weekday) its forecast steps land on.
//!
//! Conformal quantiles are taken per horizon step over origins at every phase, so a forecast made
//! at midnight gets, at 4 p.m., the spread of every hour's errors 16 hours ahead: a mixture of
//! quiet night-time errors and large afternoon ones, too narrow for the afternoon at 80% and too
//! wide for the night (its 95% band, set by the mixture's tail, is about right; `docs/accuracy-history.md`
//! has how far coverage fell through the day). With a profile each error is divided by its phase's entry and the
//! quantiles of a forecast step are multiplied by the entry of the phase it lands on, so each time
//! of day gets its own spread while every step's quantiles still come from all origins (origins of
//! one phase alone, a tenth as many, left the quantiles too noisy; see `learned_params` in the
//! training crate).

/// How the size of a series' calibration errors varies over a cycle of `period` phases: entry `p`
/// is the recency-weighted mean of `|error| / g(j)` over the steps that landed on phase `p`, where
/// `g(j)` is the weighted mean absolute error at horizon step `j`, scaled so that the weighted
/// mean over all steps is 1 (and floored at [`MIN_PHASE_SCALE`]).
///
/// `errors` are trajectories of `horizon` steps, one per row; `phases[r]` is the phase of row
/// `r`'s origin and `weights[r]` its weight (1 when `weights` is empty). `None` with fewer than
/// [`MIN_PHASE_ERRORS`] errors per phase on average, or when no error is positive.
pub(super) fn phase_profile(
    errors: &[f64],
    phases: &[usize],
    weights: &[f64],
    horizon: usize,
    period: usize,
) -> Option<Vec<f64>> {
    if period < 2 || phases.len() * horizon < MIN_PHASE_ERRORS * period {
        return None;
    }
    let weight = |r: usize| weights.get(r).copied().unwrap_or(1.0);
    let total: f64 = (0..phases.len()).map(weight).sum();
    let step_mae: Vec<f64> = (0..horizon)
        .map(|j| {
            let sum: f64 = (0..phases.len())
                .map(|r| weight(r) * errors[r * horizon + j].abs())
                .sum();
            sum / total
        })
        .collect();
    let mut sum = vec![0.0; period];
    let mut mass = vec![0.0; period];
    for (r, &phase) in phases.iter().enumerate() {
        for (j, &g) in step_mae.iter().enumerate() {
            if g > 0.0 && g.is_finite() {
                let p = (phase + j) % period;
                sum[p] += weight(r) * errors[r * horizon + j].abs() / g;
                mass[p] += weight(r);
            }
        }
    }
    let all_mass: f64 = mass.iter().sum();
    let mean = sum.iter().sum::<f64>() / all_mass;
    if !(mean > 0.0 && mean.is_finite()) {
        return None;
    }
    Some(
        sum.iter()
            .zip(&mass)
            .map(|(&s, &m)| {
                let scale = if m > 0.0 { s / m / mean } else { 1.0 };
                scale.max(MIN_PHASE_SCALE)
            })
            .collect(),
    )
}

/// A phase profile needs this many calibration errors per phase on average.
const MIN_PHASE_ERRORS: usize = 30;

/// No phase's errors are taken to be smaller than this fraction of the mean: a phase whose errors
/// were all near zero (a closed station's nights) must not get a band of zero width.
pub(super) const MIN_PHASE_SCALE: f64 = 0.1;
