//! Per-feature quantile binning: every column becomes `u8` bin indices before any tree is grown.
//!
//! Each feature gets at most [`MAX_VALUE_BINS`] value bins whose boundaries are quantiles of its
//! finite values (every distinct value gets its own bin when there are few enough), plus one
//! extra bin for missing values, so a bin index always fits a `u8`. NaN and ±inf are both
//! "missing": the fitted trees send them the learned default direction, so training and
//! prediction agree on them without ever storing an infinite threshold (JSON has no infinity).
//!
//! A value `x` falls in the first bin whose upper bound is `>= x`. Upper bounds are strictly
//! increasing and the last is `f64::MAX`, so "bin <= t" is exactly "x <= upper[t]" for every
//! finite `x`: a split found on bins becomes a threshold on raw values with no rounding.

use rayon::prelude::*;

use crate::learned::Rows;

/// Most value bins per feature; with the missing bin, bin indices span `0..=255`.
pub(super) const MAX_VALUE_BINS: usize = 255;

/// Most rows looked at to place bin boundaries (LightGBM's `bin_construct_sample_cnt`): quantiles
/// of 200k values are as good as those of all of them and sorting stays cheap.
const BOUNDARY_SAMPLE: usize = 200_000;

/// The bins of one feature.
#[derive(Clone, Debug)]
pub(super) struct FeatureBins {
    /// Upper bounds of the value bins, strictly increasing, the last `f64::MAX`.
    pub(super) uppers: Vec<f64>,
    /// Whether any training value of the feature is missing.
    pub(super) has_missing: bool,
}

impl FeatureBins {
    /// The index of the missing bin (one past the value bins).
    pub(super) fn missing_bin(&self) -> usize {
        self.uppers.len()
    }

    /// Whether a split on this feature can separate anything.
    pub(super) fn splittable(&self) -> bool {
        self.uppers.len() + usize::from(self.has_missing) > 1
    }

    fn bin(&self, x: f64) -> u8 {
        let b = if x.is_finite() {
            self.uppers.partition_point(|&u| u < x)
        } else {
            self.missing_bin()
        };
        // At most MAX_VALUE_BINS value bins, so the missing bin is at most 255.
        u8::try_from(b).unwrap_or(u8::MAX)
    }
}

/// A feature matrix as bin indices, column-major so that histogram building reads one column.
#[derive(Clone, Debug)]
pub(super) struct Binned {
    /// Column `j` is `bins[j * n_rows..(j + 1) * n_rows]`.
    pub(super) bins: Vec<u8>,
    /// Number of rows.
    pub(super) n_rows: usize,
    /// Bin boundaries per feature.
    pub(super) features: Vec<FeatureBins>,
}

impl Binned {
    /// Bins every column of `x` with at most `max_bins` value bins per feature.
    pub(super) fn new(x: Rows<'_>, max_bins: usize) -> Binned {
        let n_rows = x.n_rows();
        let n_cols = x.n_cols;
        let max_bins = max_bins.clamp(1, MAX_VALUE_BINS);
        let stride = n_rows.div_ceil(BOUNDARY_SAMPLE).max(1);
        let columns: Vec<(FeatureBins, Vec<u8>)> = (0..n_cols)
            .into_par_iter()
            .map(|j| {
                let column =
                    (0..n_rows).map(|i| x.x.get(i * n_cols + j).copied().unwrap_or(f64::NAN));
                let sample: Vec<f64> = column.clone().step_by(stride).collect();
                let has_missing = column.clone().any(|v| !v.is_finite());
                let bins = FeatureBins {
                    uppers: boundaries(sample, max_bins),
                    has_missing,
                };
                let binned = column.map(|v| bins.bin(v)).collect();
                (bins, binned)
            })
            .collect();
        let mut bins = Vec::with_capacity(n_rows * n_cols);
        let mut features = Vec::with_capacity(n_cols);
        for (f, b) in columns {
            features.push(f);
            bins.extend_from_slice(&b);
        }
        Binned {
            bins,
            n_rows,
            features,
        }
    }

    /// The bins of column `j`.
    pub(super) fn column(&self, j: usize) -> &[u8] {
        self.bins
            .get(j * self.n_rows..(j + 1) * self.n_rows)
            .unwrap_or_default()
    }
}

/// Upper bounds of at most `max_bins` bins holding roughly equal numbers of the finite `values`.
fn boundaries(mut values: Vec<f64>, max_bins: usize) -> Vec<f64> {
    values.retain(|v| v.is_finite());
    values.sort_unstable_by(f64::total_cmp);
    // Distinct values with their counts.
    let mut distinct: Vec<(f64, usize)> = Vec::new();
    for v in values {
        match distinct.last_mut() {
            Some((last, count)) if *last == v => *count += 1,
            _ => distinct.push((v, 1)),
        }
    }
    let mut uppers = Vec::new();
    if distinct.len() <= max_bins {
        for pair in distinct.windows(2) {
            if let [(a, _), (b, _)] = pair {
                uppers.push(between(*a, *b));
            }
        }
    } else {
        // Greedy equal-count bins; re-aiming at (rows left) / (bins left) after every cut lets a
        // heavy value take a bin of its own without starving the bins after it.
        let mut remaining: usize = distinct.iter().map(|d| d.1).sum();
        let mut in_bin = 0usize;
        for (k, pair) in distinct.windows(2).enumerate() {
            let bins_left = max_bins - uppers.len();
            if bins_left <= 1 {
                break;
            }
            let (Some((a, count)), Some((b, _))) = (pair.first(), pair.get(1)) else {
                break;
            };
            in_bin += count;
            let values_left = distinct.len() - k - 1;
            if in_bin * bins_left >= remaining || values_left < bins_left {
                uppers.push(between(*a, *b));
                remaining -= in_bin;
                in_bin = 0;
            }
        }
    }
    uppers.push(f64::MAX);
    uppers
}

/// A boundary `m` with `a <= m < b` for finite `a < b`, the midpoint when it is representable.
fn between(a: f64, b: f64) -> f64 {
    let m = a / 2.0 + b / 2.0;
    if m >= a && m < b { m } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_one_bin_each_and_missing_its_own() {
        let x = [1.0, 2.0, f64::NAN, 2.0, 3.0, f64::INFINITY];
        let b = Binned::new(Rows { x: &x, n_cols: 1 }, 255);
        assert_eq!(b.features[0].uppers, vec![1.5, 2.5, f64::MAX]);
        assert_eq!(b.bins, vec![0, 1, 3, 1, 2, 3]);
        assert!(b.features[0].has_missing);
    }

    #[test]
    fn many_values_are_cut_into_equal_count_bins() {
        let x: Vec<f64> = (0..10_000).map(f64::from).collect();
        let b = Binned::new(Rows { x: &x, n_cols: 1 }, 100);
        let uppers = &b.features[0].uppers;
        assert_eq!(uppers.len(), 100);
        assert!(uppers.windows(2).all(|w| w[0] < w[1]));
        let mut counts = [0usize; 256];
        for &v in &b.bins {
            counts[usize::from(v)] += 1;
        }
        assert!(
            counts[..100].iter().all(|&c| (90..=110).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn bin_order_matches_raw_thresholds() {
        let x: Vec<f64> = (0..5_000)
            .map(|i| ((i * 7919) % 1000) as f64 / 7.0)
            .collect();
        let b = Binned::new(Rows { x: &x, n_cols: 1 }, 32);
        let uppers = &b.features[0].uppers;
        for (v, &bin) in x.iter().zip(&b.bins) {
            for (t, &u) in uppers.iter().enumerate() {
                assert_eq!(usize::from(bin) <= t, *v <= u);
            }
        }
    }
}
