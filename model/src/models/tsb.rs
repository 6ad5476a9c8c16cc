//! TSB (Teunter, Syntetos and Babai, 2011): intermittent demand — permit applications, incidents,
//! spare parts — where most steps are zero.
//!
//! Two exponential smoothings: of the *probability* that a step has demand (updated every step,
//! so a long run of zeros lowers it, unlike Croston's method, which only updates on demand), and
//! of the demand *size* (updated on steps with demand). The point forecast is their product, the
//! same for every step ahead. As StatsForecast's `TSB`, both start at the first value of what
//! they smooth, and the smoothing weights are given, not estimated.
//!
//! StatsForecast gives TSB no intervals. Ours read the model as it states itself: each future step
//! has demand with the smoothed probability `p`, independently, of a size drawn from the observed
//! demand sizes scaled so that their mean is the smoothed size `z`. Quantiles are exact under that
//! distribution (zero with probability `1 - p`, then the scaled sizes in order), and sample paths
//! draw from it, so both agree with the point `p · z`.

use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::forecast::{Forecast, SamplePaths, check_probabilities, sorted};
use crate::models::{Absorb, Fit, Predict};

/// Unfitted TSB: the smoothing weights of demand size and of demand probability.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TsbParams {
    alpha_d: f64,
    alpha_p: f64,
}

impl TsbParams {
    /// The weights `civicast` uses by default: 0.1 each, the middle of the range (0.05–0.3) the
    /// intermittent-demand literature recommends, so that a level reflects some ten demands.
    pub const DEFAULT_ALPHA: f64 = 0.1;

    /// TSB with size weight `alpha_d` and probability weight `alpha_p`, each in (0, 1].
    pub fn new(alpha_d: f64, alpha_p: f64) -> Result<Self, ModelError> {
        for (name, value) in [("alpha_d", alpha_d), ("alpha_p", alpha_p)] {
            if !(value > 0.0 && value <= 1.0) {
                return Err(ModelError::BadParameter {
                    name,
                    value: value.to_string(),
                    expected: "a smoothing weight in (0, 1]",
                });
            }
        }
        Ok(TsbParams { alpha_d, alpha_p })
    }

    /// TSB with the default weights.
    pub fn auto() -> Self {
        TsbParams {
            alpha_d: Self::DEFAULT_ALPHA,
            alpha_p: Self::DEFAULT_ALPHA,
        }
    }
}

/// Fitted TSB: the smoothed probability and size, and the observed sizes for the intervals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FittedTsb {
    alpha_d: f64,
    alpha_p: f64,
    probability: f64,
    size: f64,
    /// Observed demand sizes, ascending, divided by their mean (empty without demand).
    relative_sizes: Vec<f64>,
}

impl FittedTsb {
    /// The smoothed probability that a step has demand.
    pub fn probability(&self) -> f64 {
        self.probability
    }

    /// The smoothed demand size.
    pub fn size(&self) -> f64 {
        self.size
    }

    /// The forecast of every step ahead.
    pub fn point(&self) -> f64 {
        self.probability * self.size
    }

    /// The `probability` quantile of one step's demand.
    fn quantile(&self, probability: f64) -> f64 {
        let no_demand = 1.0 - self.probability;
        let k = self.relative_sizes.len();
        if k == 0 || probability <= no_demand {
            return 0.0;
        }
        // Smallest size whose cumulative probability reaches `probability`.
        let share = (probability - no_demand) / self.probability;
        let index = ((share * k as f64).ceil() as usize).clamp(1, k) - 1;
        self.size * self.relative_sizes[index]
    }
}

/// Simple exponential smoothing as StatsForecast's `_ses_forecast`: the level starts at the first
/// value, and the result is the forecast after the last.
fn smoothed(values: impl Iterator<Item = f64>, alpha: f64) -> Option<f64> {
    let mut level: Option<f64> = None;
    for x in values {
        level = Some(match level {
            None => x,
            Some(l) => alpha * x + (1.0 - alpha) * l,
        });
    }
    level
}

impl Fit for TsbParams {
    type Fitted = FittedTsb;

    fn fit(&self, y: &[f64]) -> Result<FittedTsb, ModelError> {
        if y.is_empty() {
            return Err(ModelError::TooShort { needed: 1, got: 0 });
        }
        if let Some(i) = y.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::NonFinite(i));
        }
        if y.iter().any(|&v| v < 0.0) {
            return Err(ModelError::Negative {
                index: y.iter().position(|&v| v < 0.0).unwrap_or(0),
            });
        }
        let probability = smoothed(
            y.iter().map(|&v| f64::from(u8::from(v != 0.0))),
            self.alpha_p,
        )
        .unwrap_or(0.0);
        let size = smoothed(y.iter().copied().filter(|&v| v > 0.0), self.alpha_d).unwrap_or(0.0);
        let mut relative_sizes: Vec<f64> = y.iter().copied().filter(|&v| v > 0.0).collect();
        let mean = relative_sizes.iter().sum::<f64>() / relative_sizes.len().max(1) as f64;
        relative_sizes.sort_unstable_by(f64::total_cmp);
        for v in &mut relative_sizes {
            *v /= mean;
        }
        Ok(FittedTsb {
            alpha_d: self.alpha_d,
            alpha_p: self.alpha_p,
            probability,
            size,
            relative_sizes,
        })
    }
}

/// Both smoothings go on with the fitted weights; the shape of the size distribution (the relative
/// sizes) stays as fitted. A series that had no demand when fitted starts its size at the first
/// demand, as the fit would have, with that size alone as its distribution.
impl Absorb for FittedTsb {
    fn absorb(&mut self, y: &[f64]) -> Result<(), ModelError> {
        if let Some(index) = y.iter().position(|&v| v < 0.0) {
            return Err(ModelError::Negative { index });
        }
        for &v in y {
            let demand = f64::from(u8::from(v != 0.0));
            self.probability = self.alpha_p * demand + (1.0 - self.alpha_p) * self.probability;
            if v > 0.0 {
                if self.relative_sizes.is_empty() {
                    self.size = v;
                    self.relative_sizes = vec![1.0];
                } else {
                    self.size = self.alpha_d * v + (1.0 - self.alpha_d) * self.size;
                }
            }
        }
        Ok(())
    }
}

impl Predict for FittedTsb {
    fn predict(&self, horizon: usize, probabilities: &[f64]) -> Result<Forecast, ModelError> {
        check_probabilities(probabilities)?;
        let quantiles = sorted(probabilities)
            .into_iter()
            .map(|p| (p, vec![self.quantile(p); horizon]))
            .collect();
        Ok(Forecast {
            point: vec![self.point(); horizon],
            quantiles,
        })
    }

    fn sample_paths(
        &self,
        horizon: usize,
        n_paths: usize,
        seed: u64,
    ) -> Result<SamplePaths, ModelError> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let k = self.relative_sizes.len();
        let paths = (0..n_paths)
            .map(|_| {
                (0..horizon)
                    .map(|_| {
                        if k == 0 || rng.random::<f64>() >= self.probability {
                            0.0
                        } else {
                            self.size * self.relative_sizes[rng.random_range(0..k)]
                        }
                    })
                    .collect()
            })
            .collect();
        Ok(SamplePaths { paths })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absorbing_the_rest_forecasts_as_the_fitted_model_on_the_whole_series() {
        let y: Vec<f64> = (0..80)
            .map(|t| {
                if t % 3 == 0 || t % 7 == 0 {
                    ((t * 13) % 5 + 1) as f64
                } else {
                    0.0
                }
            })
            .collect();
        let params = TsbParams::new(0.2, 0.1).unwrap();
        let mut cut = params.fit(&y[..50]).unwrap();
        cut.absorb(&y[50..52]).unwrap();
        cut.absorb(&y[52..]).unwrap();
        // Both smoothings start at the first value either way, so the whole-series fit has the
        // same state; the relative sizes are the cut fit's (a parameter, kept).
        let mut whole = params.fit(&y).unwrap();
        assert!((cut.probability - whole.probability).abs() < 1e-12);
        assert!((cut.size - whole.size).abs() < 1e-12);
        whole.relative_sizes = cut.relative_sizes.clone();
        let (a, b) = (
            cut.predict(5, &[0.5, 0.9]).unwrap(),
            whole.predict(5, &[0.5, 0.9]).unwrap(),
        );
        for (a, b) in a
            .point
            .iter()
            .zip(&b.point)
            .chain(a.quantiles[1].1.iter().zip(&b.quantiles[1].1))
        {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }

        let mut silent = params.fit(&[0.0; 10]).unwrap();
        silent.absorb(&[0.0, 4.0]).unwrap();
        assert_eq!(silent.size(), 4.0);
        assert!(silent.predict(1, &[0.99]).unwrap().quantiles[0].1[0] > 0.0);
        assert_eq!(
            silent.absorb(&[1.0, -2.0]),
            Err(ModelError::Negative { index: 1 })
        );
    }

    #[test]
    fn smooths_probability_every_step_and_size_on_demand() {
        let y = [0.0, 3.0, 0.0, 0.0, 5.0, 0.0];
        let fitted = TsbParams::new(0.5, 0.2).unwrap().fit(&y).unwrap();
        // Probability: 0 → 0.2 → 0.16 → 0.128 → 0.3024 → 0.24192.
        assert!((fitted.probability() - 0.24192).abs() < 1e-12);
        // Size: 3 → 0.5·5 + 0.5·3 = 4.
        assert!((fitted.size() - 4.0).abs() < 1e-12);
        let forecast = fitted.predict(3, &[0.5]).unwrap();
        assert_eq!(forecast.point.len(), 3);
        assert!(
            forecast
                .point
                .iter()
                .all(|v| (v - 0.24192 * 4.0).abs() < 1e-12)
        );
    }

    #[test]
    fn quantiles_are_zero_below_the_no_demand_share_then_the_scaled_sizes() {
        let y = [0.0, 2.0, 0.0, 6.0, 0.0, 0.0, 4.0, 0.0];
        let fitted = TsbParams::auto().fit(&y).unwrap();
        let p = fitted.probability();
        let forecast = fitted.predict(2, &[0.05, 0.999]).unwrap();
        assert_eq!(forecast.quantile(0.05).unwrap(), [0.0, 0.0]);
        // The largest size (6 of mean 4) scaled to the smoothed size.
        let top = fitted.size() * 6.0 / 4.0;
        assert!((forecast.quantile(0.999).unwrap()[0] - top).abs() < 1e-12);
        // Paths: demand on about a share p of steps, with mean p·z.
        let paths = fitted.sample_paths(1, 40_000, 7).unwrap();
        let share = paths.paths.iter().filter(|p| p[0] > 0.0).count() as f64 / 40_000.0;
        assert!((share - p).abs() < 0.01, "{share} vs {p}");
        let mean = paths.paths.iter().map(|p| p[0]).sum::<f64>() / 40_000.0;
        assert!(
            (mean - fitted.point()).abs() < 0.03 * fitted.point().max(0.1),
            "{mean}"
        );
    }

    #[test]
    fn refuses_weights_outside_zero_to_one_and_negative_demand() {
        assert!(matches!(
            TsbParams::new(0.0, 0.1),
            Err(ModelError::BadParameter {
                name: "alpha_d",
                ..
            })
        ));
        assert!(TsbParams::new(0.1, 1.5).is_err());
        assert!(TsbParams::auto().fit(&[1.0, -1.0]).is_err());
        let zeros = TsbParams::auto().fit(&[0.0; 5]).unwrap();
        assert_eq!(
            zeros.predict(2, &[0.9]).unwrap().quantile(0.9).unwrap(),
            [0.0, 0.0]
        );
    }
}
