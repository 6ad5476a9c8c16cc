//! Condition profiles: how the size of a series' calibration errors varies with the value of a
//! future-known exogenous column (temperature, rain) at the time a forecast step lands on.
//!
//! A model that has seen few hot afternoons errs more on them, and the pooled errors of mild days
//! give them a band too narrow: on the half-hourly electricity data, `auto`'s 80% coverage was
//! 0.37 over the half-hours at 30 °C and above and 0.86–0.88 over mild ones, with errors three
//! times the mild ones' and bands only 1.5 times as wide. A profile splits the calibration errors
//! into bins of the column's value at their target time (edges at its calibration quantiles
//! [`EDGE_PROBABILITIES`]), divides each error by its bin's mean size relative to all errors, and
//! multiplies a forecast step's quantiles by the entry of the bin its own future value falls in.
//! Values outside the calibration range take the end bins' entries: the profile does not
//! extrapolate. An unknown value (NaN) takes 1, the mean size of all errors: a published model
//! passes the steps whose future value it filled from the climatology as unknown, since a mean
//! of past weather is no forecast of the weather and would pick one bin's size as if it were.
//!
//! Each series gets the column whose bins explain most of its errors' size: the largest gain in
//! the Laplace log-likelihood of the errors with a scale per bin over one scale for all, kept only
//! above [`MIN_GAIN`] per error, so a column unrelated to the errors is not used to add noise.

use serde::{Deserialize, Serialize};

use super::phase::MIN_PHASE_SCALE;

/// The size of a series' calibration errors by bins of one future-known exogenous column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConditionProfile {
    /// The column, an index into the panel's exogenous columns.
    pub column: usize,
    /// Upper edges of every bin but the last, ascending: value `x` falls in bin
    /// `edges.partition_point(|&e| e < x)`.
    pub edges: Vec<f64>,
    /// Each bin's mean absolute error relative to that of all errors (floored at
    /// [`MIN_PHASE_SCALE`]); one more than `edges`.
    pub scale: Vec<f64>,
}

impl ConditionProfile {
    /// The factor for a step whose column value is `value`: its bin's entry, or 1 (the mean) when
    /// the value is unknown (NaN).
    pub fn factor(&self, value: f64) -> f64 {
        if value.is_nan() {
            return 1.0;
        }
        let bin = self.edges.partition_point(|&e| e < value);
        self.scale.get(bin).copied().unwrap_or(1.0)
    }
}

/// Bin edges sit at these weighted quantiles of the column's calibration values: tail bins of a
/// tenth each, so extremes get their own entry, and three between.
const EDGE_PROBABILITIES: [f64; 5] = [0.1, 0.3, 0.5, 0.7, 0.9];

/// Every bin holds at least this share of the errors (a bin with fewer merges into a neighbour).
const MIN_BIN_SHARE: f64 = 0.04;

/// And at least this many errors.
const MIN_BIN_ERRORS: usize = 100;

/// A profile is kept only when it raises the errors' mean Laplace log-likelihood by this much:
/// up to six scales fitted to the same errors always gain something, and a column whose bins
/// differ in size by a few percent only by chance should not reshape the bands. (A gain of 0.01
/// is what bins whose mean sizes spread by about ±15% around the overall mean give.)
pub(super) const MIN_GAIN: f64 = 0.01;

/// The best profile for `errors` (trajectories of `horizon` steps, one per row, weighted by
/// `weights`, 1 when empty) among `columns`: each a column index and its value at every error's
/// target time (same layout as `errors`, NaN where unknown). `None` when no column gains
/// [`MIN_GAIN`].
pub(super) fn condition_profile(
    errors: &[f64],
    weights: &[f64],
    horizon: usize,
    columns: &[(usize, Vec<f64>)],
) -> Option<ConditionProfile> {
    let weight = |i: usize| weights.get(i / horizon.max(1)).copied().unwrap_or(1.0);
    let mut best: Option<(f64, ConditionProfile)> = None;
    for (column, values) in columns {
        let mut known: Vec<(f64, f64, f64)> = values
            .iter()
            .zip(errors)
            .enumerate()
            .filter(|(_, (v, e))| v.is_finite() && e.is_finite())
            .map(|(i, (&v, &e))| (v, e.abs(), weight(i)))
            .filter(|&(_, _, w)| w > 0.0)
            .collect();
        if known.len() < 2 * MIN_BIN_ERRORS {
            continue;
        }
        known.sort_by(|a, b| a.0.total_cmp(&b.0));
        let Some((gain, profile)) = profile_of(&known, *column) else {
            continue;
        };
        if gain >= MIN_GAIN && best.as_ref().is_none_or(|(g, _)| gain > *g) {
            best = Some((gain, profile));
        }
    }
    best.map(|(_, profile)| profile)
}

/// The profile of `known` — `(value, |error|, weight)` sorted by value — and its gain.
fn profile_of(known: &[(f64, f64, f64)], column: usize) -> Option<(f64, ConditionProfile)> {
    let total: f64 = known.iter().map(|k| k.2).sum();
    let mut edges: Vec<f64> = Vec::new();
    let mut below = 0.0;
    let mut next = EDGE_PROBABILITIES.iter().peekable();
    for k in known {
        below += k.2;
        while let Some(&&p) = next.peek() {
            if below / total < p {
                break;
            }
            next.next();
            if edges.last() != Some(&k.0) {
                edges.push(k.0);
            }
        }
    }
    // The largest value is never an upper edge: nothing would fall above it.
    let largest = known.last()?.0;
    edges.retain(|&e| e < largest);
    let tally = |edges: &[f64]| {
        let mut mass = vec![0.0; edges.len() + 1];
        let mut count = vec![0usize; edges.len() + 1];
        let mut sum = vec![0.0; edges.len() + 1];
        for &(v, e, w) in known {
            let bin = edges.partition_point(|&edge| edge < v);
            mass[bin] += w;
            count[bin] += 1;
            sum[bin] += w * e;
        }
        (mass, count, sum)
    };
    // Merge bins too small to be measured into their smaller neighbour.
    loop {
        let (mass, count, _) = tally(&edges);
        let small = (0..mass.len())
            .filter(|&b| mass[b] < MIN_BIN_SHARE * total || count[b] < MIN_BIN_ERRORS)
            .min_by(|&a, &b| mass[a].total_cmp(&mass[b]));
        let Some(b) = small else { break };
        if edges.is_empty() {
            return None;
        }
        // Removing edge `b - 1` merges bin `b` with the one below, edge `b` with the one above.
        let edge = if b == 0 {
            0
        } else if b == mass.len() - 1 || mass[b - 1] <= mass[b + 1] {
            b - 1
        } else {
            b
        };
        edges.remove(edge);
    }
    if edges.is_empty() {
        return None;
    }
    let (mass, _, sum) = tally(&edges);
    let overall = sum.iter().sum::<f64>() / total;
    if !(overall > 0.0 && overall.is_finite()) {
        return None;
    }
    let scale: Vec<f64> = sum
        .iter()
        .zip(&mass)
        .map(|(&s, &m)| (s / m / overall).max(MIN_PHASE_SCALE))
        .collect();
    // Laplace log-likelihood with one scale per bin over one scale for all: log of the overall
    // mean minus the mass-weighted mean log of the bins' means.
    let gain = -scale
        .iter()
        .zip(&mass)
        .map(|(&q, &m)| m / total * q.ln())
        .sum::<f64>();
    Some((
        gain,
        ConditionProfile {
            column,
            edges,
            scale,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Errors of size 1 at values below 10 and of size 3 above 20, with values 0..30 cycling.
    fn heat_errors(n: usize) -> (Vec<f64>, Vec<f64>) {
        let values: Vec<f64> = (0..n).map(|i| (i % 30) as f64).collect();
        let errors = values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                sign * if v > 20.0 { 3.0 } else { 1.0 }
            })
            .collect();
        (errors, values)
    }

    #[test]
    fn a_column_that_sizes_the_errors_gets_a_profile_and_the_hot_bin_the_large_entry() {
        let (errors, values) = heat_errors(3000);
        let profile = condition_profile(&errors, &[], 10, &[(2, values)]).unwrap();
        assert_eq!(profile.column, 2);
        assert_eq!(profile.scale.len(), profile.edges.len() + 1);
        let (cold, hot) = (profile.factor(0.0), profile.factor(29.0));
        assert!((hot / cold - 3.0).abs() < 1e-9, "{profile:?}");
        // Beyond the calibration range the end bins hold; unknown values get the mean.
        assert_eq!(profile.factor(45.0), hot);
        assert_eq!(profile.factor(-5.0), cold);
        assert_eq!(profile.factor(f64::NAN), 1.0);
    }

    #[test]
    fn the_column_that_explains_the_errors_wins_and_an_unrelated_one_gets_none() {
        let (errors, heat) = heat_errors(3000);
        // A column independent of the errors' size: alternating signs carry no size.
        let unrelated: Vec<f64> = (0..3000).map(|i| ((i / 2) % 7) as f64).collect();
        let chosen = condition_profile(
            &errors,
            &[],
            10,
            &[(0, unrelated.clone()), (1, heat.clone())],
        )
        .unwrap();
        assert_eq!(chosen.column, 1);
        assert_eq!(condition_profile(&errors, &[], 10, &[(0, unrelated)]), None);
    }

    #[test]
    fn a_binary_column_gets_two_bins_and_a_constant_one_none() {
        let values: Vec<f64> = (0..2000).map(|i| ((i / 5) % 2) as f64).collect();
        let errors: Vec<f64> = values.iter().map(|&v| 1.0 + v).collect();
        let profile = condition_profile(&errors, &[], 5, &[(0, values)]).unwrap();
        assert_eq!(profile.edges, vec![0.0]);
        assert!((profile.factor(1.0) / profile.factor(0.0) - 2.0).abs() < 1e-9);
        assert_eq!(
            condition_profile(&errors, &[], 5, &[(0, vec![4.0; 2000])]),
            None
        );
    }
}
