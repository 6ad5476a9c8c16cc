//! Intervals for a series with no calibration errors to read them from: seasonal naive's.
//!
//! Conformal intervals need out-of-sample errors. A series too short for calibration origins of
//! its own borrows the errors of every series, pooled on the scaled axis; when no series of the
//! panel has any (a short panel, or one whose series are all too short), the quantiles would
//! equal the point and state certainty. Instead they are seasonal naive's: normal around the
//! point with the standard deviation of the training part's seasonal differences, growing with
//! the number of seasons ahead as in StatsForecast's `SeasonalNaive`. Seasonal naive's errors
//! are larger than a fitted model's, so these intervals err on the wide side, which is the side
//! a budget planner can act on; the forecast's notes say they were used.

use serde::{Deserialize, Serialize};

use crate::forecast::standard_normal_quantile;

/// Equally likely standard-normal quantiles the fallback's errors are spread over: enough that
/// the interpolated 2.5% and 97.5% quantiles are within 1% of the normal's.
const DRAWS: usize = 400;

/// Seasonal naive's error scale on a series' training part.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NaiveFallback {
    /// The season of the differences (1: naive).
    pub season: usize,
    /// Root mean square of the training part's differences at that lag.
    pub sigma: f64,
}

impl NaiveFallback {
    /// The fallback of a series whose training part is `training`, with season `season` when
    /// the part holds more than one season of it (else naive); `None` with fewer than two
    /// observations.
    pub fn of(training: &[f64], season: usize) -> Option<NaiveFallback> {
        let season = if season > 1 && training.len() > season {
            season
        } else {
            1
        };
        let n = training.len().checked_sub(season).filter(|&n| n > 0)?;
        let sum: f64 = (season..training.len())
            .map(|t| (training[t] - training[t - season]).powi(2))
            .sum();
        let sigma = (sum / n as f64).sqrt();
        sigma.is_finite().then_some(NaiveFallback { season, sigma })
    }

    /// Errors of forecast step `j` (0-based), equally weighted, whose weighted quantiles are the
    /// normal quantiles of seasonal naive's standard deviation at that step.
    pub(super) fn step_errors(&self, j: usize) -> Vec<(f64, f64)> {
        let seasons_ahead = (j / self.season.max(1) + 1) as f64;
        let sd = self.sigma * seasons_ahead.sqrt();
        (0..DRAWS)
            .map(|i| {
                let p = (i as f64 + 0.5) / DRAWS as f64;
                (standard_normal_quantile(p) * sd, 1.0)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_is_that_of_seasonal_differences_and_grows_by_season() {
        let y = [1.0, 2.0, 3.0, 2.0, 3.0, 4.0, 3.0, 4.0, 5.0];
        let fallback = NaiveFallback::of(&y, 3).unwrap();
        assert_eq!(fallback.season, 3);
        assert!((fallback.sigma - 1.0).abs() < 1e-12);
        let spread = |j: usize| {
            let errors = fallback.step_errors(j);
            errors.last().unwrap().0 - errors[0].0
        };
        assert!((spread(2) - spread(0)).abs() < 1e-12);
        assert!((spread(3) / spread(0) - 2f64.sqrt()).abs() < 1e-12);
        // Too short for the season: naive; a single value: nothing to go on.
        assert_eq!(NaiveFallback::of(&y[..3], 3).unwrap().season, 1);
        assert_eq!(NaiveFallback::of(&y[..1], 3), None);
    }
}
