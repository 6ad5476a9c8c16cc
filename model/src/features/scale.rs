//! Per-series target scaling, so that one global model learns across series of different sizes.
//!
//! A series' scale is the mean and standard deviation of its *training part* only (never of values
//! after the cutoff), as MLForecast's `LocalStandardScaler` does. A fitted model stores the scale
//! of every series and unscales its predictions with it; a forecast from a later origin reuses the
//! stored scale, so the model sees the inputs on the scale it was trained on.

use serde::{Deserialize, Serialize};

/// `(y - mean) / std` for one series.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesScale {
    /// Mean of the training part.
    pub mean: f64,
    /// Population standard deviation of the training part; 1 when that is zero or undefined.
    pub std: f64,
}

impl SeriesScale {
    /// The identity scale (for specs with scaling off).
    pub const IDENTITY: SeriesScale = SeriesScale {
        mean: 0.0,
        std: 1.0,
    };

    /// The scale of `training` (the target up to the cutoff). A constant or one-value series gets
    /// a standard deviation of 1, as in MLForecast, so scaling only centres it; an empty one gets
    /// the identity.
    pub fn fit(training: &[f64]) -> Self {
        if training.is_empty() {
            return SeriesScale::IDENTITY;
        }
        let n = training.len() as f64;
        let mean = training.iter().sum::<f64>() / n;
        let var = training.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / n;
        let std = var.sqrt();
        // A spread this small relative to the level is rounding noise, not signal; dividing by
        // it would blow lags up to huge values.
        let negligible = std <= f64::EPSILON * mean.abs().max(1.0);
        SeriesScale {
            mean: if mean.is_finite() { mean } else { 0.0 },
            std: if std.is_finite() && !negligible {
                std
            } else {
                1.0
            },
        }
    }

    /// A value on the model's scale.
    pub fn scale(&self, y: f64) -> f64 {
        (y - self.mean) / self.std
    }

    /// A model output back on the series' scale.
    pub fn unscale(&self, z: f64) -> f64 {
        z * self.std + self.mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_round_trips_and_standardises_the_training_part() {
        let y = [3.0, 5.0, 7.0, 9.0, 120.5];
        let scale = SeriesScale::fit(&y);
        let z: Vec<f64> = y.iter().map(|&v| scale.scale(v)).collect();
        let mean = z.iter().sum::<f64>() / z.len() as f64;
        let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / z.len() as f64;
        assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12);
        for (&v, &s) in y.iter().zip(&z) {
            assert!((scale.unscale(s) - v).abs() < 1e-12);
        }
    }

    #[test]
    fn a_constant_series_is_only_centred_and_an_empty_one_is_untouched() {
        let scale = SeriesScale::fit(&[4.2; 10]);
        assert_eq!(scale.std, 1.0);
        assert!(scale.scale(4.2).abs() < 1e-12);
        assert_eq!(SeriesScale::fit(&[]), SeriesScale::IDENTITY);
    }
}
