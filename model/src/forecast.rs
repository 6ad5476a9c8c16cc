//! What a model says about the future: a [`Forecast`] with point values, quantiles and, for
//! roll-ups, [`SamplePaths`].
//!
//! Quantiles are given for the probabilities a caller asks for, because every consumer wants a
//! different set (the evaluation protocol's 21 levels, a planner's 80/95% bands, the risk engine's
//! 90th percentile). Sample paths are separate because they are expensive and needed only where
//! steps are summed: the quantile of a sum over a month is not the sum of daily quantiles, and
//! only joint draws of the whole horizon give it.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// Point and quantile forecasts for `horizon` steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// Point forecast (the mean, or the median where a model has no mean), one per step.
    pub point: Vec<f64>,
    /// Quantile forecasts: `(probability, values per step)`, sorted by probability.
    pub quantiles: Vec<(f64, Vec<f64>)>,
}

impl Forecast {
    /// Number of steps.
    pub fn horizon(&self) -> usize {
        self.point.len()
    }

    /// The quantile forecast for `probability`, if it was requested.
    pub fn quantile(&self, probability: f64) -> Option<&[f64]> {
        self.quantiles
            .iter()
            .find(|(p, _)| (p - probability).abs() < 1e-12)
            .map(|(_, values)| values.as_slice())
    }

    /// A Gaussian forecast: `point ± z(p) · sd` per step, for each requested probability.
    pub fn normal(point: Vec<f64>, sd: &[f64], probabilities: &[f64]) -> Result<Self, ModelError> {
        check_probabilities(probabilities)?;
        let quantiles = sorted(probabilities)
            .into_iter()
            .map(|p| {
                let z = standard_normal_quantile(p);
                let values = point.iter().zip(sd).map(|(m, s)| m + z * s).collect();
                (p, values)
            })
            .collect();
        Ok(Forecast { point, quantiles })
    }

    /// Quantiles read off sample paths (type-7 empirical quantiles per step, as numpy's default),
    /// around a given point forecast.
    pub fn from_paths(
        point: Vec<f64>,
        paths: &SamplePaths,
        probabilities: &[f64],
    ) -> Result<Self, ModelError> {
        check_probabilities(probabilities)?;
        let quantiles = sorted(probabilities)
            .into_iter()
            .map(|p| (p, paths.quantile(p)))
            .collect();
        Ok(Forecast { point, quantiles })
    }
}

/// Joint draws of the whole horizon: `paths[i][t]` is draw `i` at step `t`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplePaths {
    /// The draws, each `horizon` long.
    pub paths: Vec<Vec<f64>>,
}

impl SamplePaths {
    /// Number of steps per path (0 when there are no paths).
    pub fn horizon(&self) -> usize {
        self.paths.first().map_or(0, Vec::len)
    }

    /// The type-7 empirical quantile of each step across paths.
    pub fn quantile(&self, probability: f64) -> Vec<f64> {
        (0..self.horizon())
            .map(|t| {
                let mut column: Vec<f64> = self.paths.iter().map(|p| p[t]).collect();
                empirical_quantile(&mut column, probability)
            })
            .collect()
    }

    /// Each path summed over steps `range` (e.g. the days of one month): draws of the total.
    pub fn sums(&self, range: std::ops::Range<usize>) -> Vec<f64> {
        self.paths
            .iter()
            .map(|p| p[range.clone()].iter().sum())
            .collect()
    }
}

/// A seed for sample paths that is the same on every run and platform (FNV-1a over `parts`, a
/// zero byte between them), unlike `DefaultHasher`'s: the same request must draw the same paths
/// in training and serving, on every replica.
pub fn stable_seed(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        let separator: &[u8] = if i > 0 { &[0] } else { &[] };
        for &byte in separator.iter().chain(part.iter()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// The type-7 (linear interpolation) empirical quantile of `values`, which it sorts.
pub fn empirical_quantile(values: &mut [f64], probability: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_unstable_by(f64::total_cmp);
    sorted_quantile(values, probability)
}

/// [`empirical_quantile`] of values already in ascending order: no copy, no sort.
pub fn sorted_quantile(values: &[f64], probability: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let position = probability.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let weight = position - below as f64;
    values[below] + weight * (values[above] - values[below])
}

/// The standard normal quantile function.
pub fn standard_normal_quantile(probability: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal};
    // `Normal::standard()` cannot fail; mean 0 and sd 1 are valid parameters.
    Normal::standard().inverse_cdf(probability)
}

pub(crate) fn check_probabilities(probabilities: &[f64]) -> Result<(), ModelError> {
    match probabilities.iter().find(|p| !(**p > 0.0 && **p < 1.0)) {
        Some(&p) => Err(ModelError::BadProbability(p)),
        None => Ok(()),
    }
}

pub(crate) fn sorted(probabilities: &[f64]) -> Vec<f64> {
    let mut p = probabilities.to_vec();
    p.sort_by(f64::total_cmp);
    p.dedup();
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_seeds_are_fnv1a_over_the_parts_joined_by_a_zero_byte() {
        // The seeds published versions and risk backtests were drawn with: the bytes in one run.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in b"rides\0a".iter() {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        assert_eq!(stable_seed(&[b"rides", b"a"]), hash);
        assert_ne!(stable_seed(&[b"ride", b"sa"]), hash);
        assert_eq!(stable_seed(&[]), 0xcbf2_9ce4_8422_2325);
    }

    #[test]
    fn normal_quantiles_are_symmetric_about_the_point() {
        let f = Forecast::normal(vec![10.0, 20.0], &[1.0, 2.0], &[0.975, 0.025, 0.5]).unwrap();
        let hi = f.quantile(0.975).unwrap();
        let lo = f.quantile(0.025).unwrap();
        assert!((hi[1] - 20.0 - 1.959_963_984_540_054 * 2.0).abs() < 1e-9);
        assert!((lo[0] - (10.0 - 1.959_963_984_540_054)).abs() < 1e-9);
        assert_eq!(f.quantile(0.5).unwrap(), &[10.0, 20.0]);
        assert_eq!(f.quantiles[0].0, 0.025, "sorted by probability");
    }

    #[test]
    fn rejects_probabilities_outside_the_open_unit_interval() {
        assert!(Forecast::normal(vec![1.0], &[1.0], &[1.0]).is_err());
        assert!(Forecast::normal(vec![1.0], &[1.0], &[f64::NAN]).is_err());
    }

    #[test]
    fn empirical_quantiles_interpolate_like_numpy() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(empirical_quantile(&mut v, 0.5), 2.5);
        assert_eq!(empirical_quantile(&mut v, 0.25), 1.75);
        assert_eq!(empirical_quantile(&mut v, 1.0), 4.0);
    }

    #[test]
    fn path_sums_add_up_each_draw() {
        let paths = SamplePaths {
            paths: vec![vec![1.0, 2.0, 3.0], vec![0.0, 1.0, 1.0]],
        };
        assert_eq!(paths.sums(0..2), vec![3.0, 1.0]);
        assert_eq!(paths.quantile(0.5), vec![0.5, 1.5, 2.0]);
    }
}
