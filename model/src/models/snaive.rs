//! Seasonal naive: tomorrow looks like the same day last season.
//!
//! The point forecast repeats the last observed season. Intervals are normal around it, with the
//! standard deviation of the in-sample seasonal-naive errors growing with the number of seasons
//! ahead, `sigma * sqrt(floor((h - 1) / m) + 1)`, as in StatsForecast's `SeasonalNaive`. Sample
//! paths are a seasonal random walk with those errors, so they agree with the intervals.

use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::forecast::{Forecast, SamplePaths};
use crate::models::{Absorb, Fit, Predict};

/// Unfitted seasonal naive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeasonalNaiveParams {
    season_length: usize,
}

impl SeasonalNaiveParams {
    /// Seasonal naive with this season length (1 = naive).
    pub fn new(season_length: usize) -> Self {
        SeasonalNaiveParams {
            season_length: season_length.max(1),
        }
    }
}

/// Fitted seasonal naive: the last season and the in-sample error scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FittedSeasonalNaive {
    season_length: usize,
    last_season: Vec<f64>,
    sigma: f64,
}

impl FittedSeasonalNaive {
    /// The season length used.
    pub fn season_length(&self) -> usize {
        self.season_length
    }

    /// Point forecasts of the next `horizon` steps: the last season repeated.
    pub fn point(&self, horizon: usize) -> Vec<f64> {
        (0..horizon)
            .map(|h| {
                self.last_season
                    .get(h % self.season_length.max(1))
                    .copied()
                    .unwrap_or(f64::NAN)
            })
            .collect()
    }

    fn sd(&self, horizon: usize) -> Vec<f64> {
        (0..horizon)
            .map(|h| self.sigma * (((h / self.season_length) + 1) as f64).sqrt())
            .collect()
    }
}

impl Fit for SeasonalNaiveParams {
    type Fitted = FittedSeasonalNaive;

    fn fit(&self, y: &[f64]) -> Result<FittedSeasonalNaive, ModelError> {
        let m = self.season_length;
        if y.len() < m {
            return Err(ModelError::TooShort {
                needed: m,
                got: y.len(),
            });
        }
        let errors = y.len() - m;
        let sigma = if errors > 0 {
            let sum: f64 = (m..y.len()).map(|t| (y[t] - y[t - m]).powi(2)).sum();
            (sum / errors as f64).sqrt()
        } else {
            0.0
        };
        Ok(FittedSeasonalNaive {
            season_length: m,
            last_season: y[y.len() - m..].to_vec(),
            sigma,
        })
    }
}

/// The last season moves on; the error scale stays as fitted.
impl Absorb for FittedSeasonalNaive {
    fn absorb(&mut self, y: &[f64]) -> Result<(), ModelError> {
        self.last_season.extend_from_slice(y);
        let surplus = self.last_season.len().saturating_sub(self.season_length);
        self.last_season.drain(..surplus);
        Ok(())
    }
}

impl Predict for FittedSeasonalNaive {
    fn predict(&self, horizon: usize, probabilities: &[f64]) -> Result<Forecast, ModelError> {
        Forecast::normal(self.point(horizon), &self.sd(horizon), probabilities)
    }

    fn sample_paths(
        &self,
        horizon: usize,
        n_paths: usize,
        seed: u64,
    ) -> Result<SamplePaths, ModelError> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let noise = Normal::new(0.0, self.sigma).map_err(|_| ModelError::NonFinite(0))?;
        let m = self.season_length;
        let paths = (0..n_paths)
            .map(|_| {
                let mut path: Vec<f64> = Vec::with_capacity(horizon);
                for h in 0..horizon {
                    let base = if h < m {
                        self.last_season[h]
                    } else {
                        path[h - m]
                    };
                    path.push(base + noise.sample(&mut rng));
                }
                path
            })
            .collect();
        Ok(SamplePaths { paths })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_the_last_season() {
        let y = [1.0, 2.0, 3.0, 1.5, 2.5, 3.5];
        let fitted = SeasonalNaiveParams::new(3).fit(&y).unwrap();
        let f = fitted.predict(5, &[0.5]).unwrap();
        assert_eq!(f.point, vec![1.5, 2.5, 3.5, 1.5, 2.5]);
    }

    #[test]
    fn absorbing_the_rest_forecasts_as_the_fitted_model_on_the_whole_series() {
        let y: Vec<f64> = (0..40)
            .map(|t| ((t * 7) % 5) as f64 + t as f64 * 0.1)
            .collect();
        let mut cut = SeasonalNaiveParams::new(7).fit(&y[..25]).unwrap();
        cut.absorb(&y[25..28]).unwrap();
        cut.absorb(&y[28..]).unwrap();
        // The same parameter (the cut fit's error scale) with the whole series' last season.
        let mut whole = SeasonalNaiveParams::new(7).fit(&y).unwrap();
        whole.sigma = cut.sigma;
        assert_eq!(cut, whole);
        assert_eq!(
            cut.predict(9, &[0.1]).unwrap(),
            whole.predict(9, &[0.1]).unwrap()
        );
    }

    #[test]
    fn intervals_widen_each_season_ahead() {
        let y = [1.0, 2.0, 3.0, 1.5, 2.5, 3.5];
        let fitted = SeasonalNaiveParams::new(3).fit(&y).unwrap();
        // In-sample errors are all 0.5, so sigma = 0.5.
        let f = fitted.predict(4, &[0.975]).unwrap();
        let hi = f.quantile(0.975).unwrap();
        let z = 1.959_963_984_540_054;
        assert!((hi[0] - (1.5 + z * 0.5)).abs() < 1e-9);
        assert!((hi[3] - (1.5 + z * 0.5 * 2f64.sqrt())).abs() < 1e-9);
    }

    #[test]
    fn sample_paths_are_reproducible_and_centred() {
        let y: Vec<f64> = (0..70)
            .map(|t| (t % 7) as f64 + if t % 2 == 0 { 0.3 } else { -0.3 })
            .collect();
        let fitted = SeasonalNaiveParams::new(7).fit(&y).unwrap();
        let a = fitted.sample_paths(14, 2000, 42).unwrap();
        assert_eq!(a, fitted.sample_paths(14, 2000, 42).unwrap());
        let point = fitted.predict(14, &[0.5]).unwrap().point;
        let medians = a.quantile(0.5);
        for (m, p) in medians.iter().zip(&point) {
            assert!((m - p).abs() < 0.1, "{m} vs {p}");
        }
    }

    #[test]
    fn a_series_shorter_than_a_season_is_an_error_not_a_panic() {
        assert!(SeasonalNaiveParams::new(7).fit(&[1.0, 2.0]).is_err());
    }
}
