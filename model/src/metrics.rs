//! The evaluation protocol's metrics: MASE, sMAPE, RMSE, 80/95% coverage and scaled CRPS.
//!
//! Definitions follow `eval/PROTOCOL.md` (section 4) and its reference scorer `eval/score.py`
//! exactly, because data scientists compare our numbers with the reference libraries' numbers
//! computed by that scorer: a metric is computed per *pair* (one series at one backtest cutoff,
//! over the `h` forecast steps) and the dataset-level value is the plain mean over pairs. A pair
//! whose MASE scale is zero (or undefined) is left out of MASE, one whose mean absolute training
//! value is zero is left out of sCRPS, and both are counted.

use serde::{Deserialize, Serialize};

use crate::forecast::Forecast;

/// The 21 quantile levels the protocol's predictions file carries.
pub const PROTOCOL_QUANTILES: [f64; 21] = [
    0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8,
    0.85, 0.9, 0.95, 0.975,
];

/// The 19 levels `0.05 * k` whose mean pinball loss is the protocol's CRPS approximation.
pub const CRPS_QUANTILES: [f64; 19] = [
    0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85,
    0.9, 0.95,
];

/// The quantiles bounding the central 80% interval.
pub const INTERVAL_80: (f64, f64) = (0.1, 0.9);
/// The quantiles bounding the central 95% interval.
pub const INTERVAL_95: (f64, f64) = (0.025, 0.975);

/// Metrics of one (series, cutoff) pair. `None` where the pair is excluded or the forecast has
/// no quantiles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PairScores {
    /// Mean absolute error over the in-sample seasonal-naive MAE; `None` when that scale is 0.
    pub mase: Option<f64>,
    /// Symmetric MAPE in percent (0..200); a 0/0 term counts as 0.
    #[serde(with = "crate::serde_nan")]
    pub smape: f64,
    /// Root mean squared error.
    #[serde(with = "crate::serde_nan")]
    pub rmse: f64,
    /// Share of actuals inside the 80% interval (bounds inclusive).
    pub cov80: Option<f64>,
    /// Share of actuals inside the 95% interval.
    pub cov95: Option<f64>,
    /// Mean pinball loss over [`CRPS_QUANTILES`], over the mean absolute training value;
    /// `None` when that mean is 0 or quantiles are missing.
    pub scrps: Option<f64>,
}

/// The MASE scale: the in-sample MAE of the seasonal naive forecast with season `m` on `train`,
/// or `None` when there are not more than `m` observations.
pub fn mase_scale(train: &[f64], m: usize) -> Option<f64> {
    if train.len() <= m || m == 0 {
        return None;
    }
    let sum: f64 = (m..train.len())
        .map(|t| (train[t] - train[t - m]).abs())
        .sum();
    Some(sum / (train.len() - m) as f64)
}

/// The pinball (quantile) loss of predicting `q` at level `tau` when `actual` happened.
pub fn pinball(tau: f64, actual: f64, q: f64) -> f64 {
    let u = actual - q;
    (tau * u).max((tau - 1.0) * u)
}

/// The two scales a pair's metrics divide by, from the history up to its cutoff.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PairScales {
    /// MASE's scale ([`mase_scale`]); `None` when undefined.
    pub mase: Option<f64>,
    /// sCRPS's scale: the mean absolute value of the history; `None` when it is empty.
    pub level: Option<f64>,
}

impl PairScales {
    /// The scales of `train`, the whole history up to the cutoff, with MASE season `m`.
    pub fn of(train: &[f64], m: usize) -> PairScales {
        PairScales {
            mase: mase_scale(train, m),
            level: (!train.is_empty())
                .then(|| train.iter().map(|v| v.abs()).sum::<f64>() / train.len() as f64),
        }
    }
}

/// Scores one pair: `train` is the whole history up to the cutoff, `m` the MASE season, `actual`
/// the `h` values after the cutoff and `forecast` the model's forecast for them.
pub fn score_pair(train: &[f64], m: usize, actual: &[f64], forecast: &Forecast) -> PairScores {
    score_scaled(PairScales::of(train, m), actual, forecast)
}

/// [`score_pair`] with the history's scales computed beforehand (a live forecast stores them
/// when it is issued, so scoring it later need not read the history again).
pub fn score_scaled(scales: PairScales, actual: &[f64], forecast: &Forecast) -> PairScores {
    let h = actual.len().min(forecast.point.len());
    let hf = h as f64;
    let (actual, point) = (&actual[..h], &forecast.point[..h]);
    let abs_error: f64 = actual.iter().zip(point).map(|(a, f)| (a - f).abs()).sum();
    let mase = scales
        .mase
        .filter(|s| *s > 0.0 && s.is_finite())
        .map(|s| abs_error / hf / s);
    let smape = actual
        .iter()
        .zip(point)
        .map(|(a, f)| {
            let den = a.abs() + f.abs();
            if den == 0.0 {
                0.0
            } else {
                200.0 * (a - f).abs() / den
            }
        })
        .sum::<f64>()
        / hf;
    let rmse = (actual
        .iter()
        .zip(point)
        .map(|(a, f)| (a - f).powi(2))
        .sum::<f64>()
        / hf)
        .sqrt();

    let coverage = |(lo, hi): (f64, f64)| -> Option<f64> {
        let (lo, hi) = (forecast.quantile(lo)?, forecast.quantile(hi)?);
        let inside = (0..h)
            .filter(|&j| lo[j] <= actual[j] && actual[j] <= hi[j])
            .count();
        Some(inside as f64 / hf)
    };
    let scrps = (|| {
        let scale = scales.level.filter(|a| *a > 0.0 && a.is_finite())?;
        let mut loss = 0.0;
        for tau in CRPS_QUANTILES {
            let q = forecast.quantile(tau)?;
            loss += (0..h).map(|j| pinball(tau, actual[j], q[j])).sum::<f64>();
        }
        Some(loss / CRPS_QUANTILES.len() as f64 / hf / scale)
    })();
    PairScores {
        mase,
        smape,
        rmse,
        cov80: coverage(INTERVAL_80),
        cov95: coverage(INTERVAL_95),
        scrps,
    }
}

/// Dataset-level metrics: plain means over pairs, with the exclusions counted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Mean MASE over pairs with a non-zero scale.
    #[serde(rename = "MASE")]
    #[serde(with = "crate::serde_nan")]
    pub mase: f64,
    /// Mean sMAPE over pairs.
    #[serde(rename = "sMAPE")]
    #[serde(with = "crate::serde_nan")]
    pub smape: f64,
    /// Mean of per-pair RMSE.
    #[serde(rename = "RMSE")]
    #[serde(with = "crate::serde_nan")]
    pub rmse: f64,
    /// Mean 80% coverage (NaN when the model has no quantiles).
    #[serde(with = "crate::serde_nan")]
    pub cov80: f64,
    /// Mean 95% coverage (NaN when the model has no quantiles).
    #[serde(with = "crate::serde_nan")]
    pub cov95: f64,
    /// Mean scaled CRPS (NaN when the model has no quantiles).
    #[serde(rename = "sCRPS")]
    #[serde(with = "crate::serde_nan")]
    pub scrps: f64,
    /// Pairs scored.
    pub n_pairs: usize,
    /// Pairs left out of MASE because their scale is 0.
    #[serde(rename = "pairs_excluded_S0")]
    pub pairs_excluded_s0: usize,
    /// Pairs left out of sCRPS because their mean absolute training value is 0.
    #[serde(rename = "pairs_excluded_A0")]
    pub pairs_excluded_a0: usize,
}

impl Scores {
    /// Aggregates pair scores as the protocol does.
    pub fn from_pairs(pairs: &[PairScores]) -> Scores {
        let mut sums = ScoreSums::default();
        for pair in pairs {
            sums.add(pair);
        }
        sums.scores()
    }
}

/// [`Scores::from_pairs`] one pair at a time, for aggregates over more pairs than should be held
/// at once (live accuracy per horizon step). Adding pairs in the same order gives the same figures
/// to the bit.
#[derive(Clone, Debug, Default)]
pub struct ScoreSums {
    mase: (f64, usize),
    smape: f64,
    rmse: f64,
    cov80: (f64, usize),
    cov95: (f64, usize),
    scrps: (f64, usize),
    pairs: usize,
}

impl ScoreSums {
    /// Takes in one pair.
    pub fn add(&mut self, pair: &PairScores) {
        fn add(sum: &mut (f64, usize), value: Option<f64>) {
            if let Some(v) = value {
                sum.0 += v;
                sum.1 += 1;
            }
        }
        add(&mut self.mase, pair.mase);
        self.smape += pair.smape;
        self.rmse += pair.rmse;
        add(&mut self.cov80, pair.cov80);
        add(&mut self.cov95, pair.cov95);
        add(&mut self.scrps, pair.scrps);
        self.pairs += 1;
    }

    /// The protocol's aggregate of the pairs taken in.
    pub fn scores(&self) -> Scores {
        let mean = |(sum, n): (f64, usize)| if n == 0 { f64::NAN } else { sum / n as f64 };
        // Coverage and sCRPS are defined only when every pair has quantiles.
        let all = |(sum, n): (f64, usize)| {
            if n == self.pairs {
                mean((sum, n))
            } else {
                f64::NAN
            }
        };
        let has_quantiles = self.cov80.1 == self.pairs;
        Scores {
            mase: mean(self.mase),
            smape: mean((self.smape, self.pairs)),
            rmse: mean((self.rmse, self.pairs)),
            cov80: all(self.cov80),
            cov95: all(self.cov95),
            scrps: if has_quantiles {
                mean(self.scrps)
            } else {
                f64::NAN
            },
            n_pairs: self.pairs,
            pairs_excluded_s0: self.pairs - self.mase.1,
            pairs_excluded_a0: if has_quantiles {
                self.pairs - self.scrps.1
            } else {
                0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forecast(point: Vec<f64>, spread: f64) -> Forecast {
        let quantiles = PROTOCOL_QUANTILES
            .iter()
            .map(|&t| (t, point.iter().map(|p| p + spread * (t - 0.5)).collect()))
            .collect();
        Forecast { point, quantiles }
    }

    #[test]
    fn a_perfect_forecast_scores_zero_error_and_full_coverage() {
        let train = [1.0, 2.0, 3.0, 2.0, 3.0, 4.0];
        let s = score_pair(&train, 3, &[5.0, 6.0], &forecast(vec![5.0, 6.0], 1.0));
        assert_eq!((s.mase, s.smape, s.rmse), (Some(0.0), 0.0, 0.0));
        assert_eq!((s.cov80, s.cov95), (Some(1.0), Some(1.0)));
    }

    #[test]
    fn mase_divides_by_the_seasonal_naive_scale() {
        // Seasonal differences |2-1|, |3-2|, |4-3| = 1 each: scale 1.
        let train = [1.0, 2.0, 3.0, 2.0, 3.0, 4.0];
        assert_eq!(mase_scale(&train, 3), Some(1.0));
        let s = score_pair(&train, 3, &[5.0, 6.0], &forecast(vec![6.0, 4.0], 1.0));
        assert_eq!(s.mase, Some(1.5));
        assert_eq!(mase_scale(&train[..3], 3), None);
    }

    #[test]
    fn zero_over_zero_smape_terms_count_as_zero() {
        let s = score_pair(&[1.0, 1.0], 1, &[0.0, 1.0], &forecast(vec![0.0, 3.0], 0.0));
        assert_eq!(s.smape, (0.0 + 200.0 * 2.0 / 4.0) / 2.0);
    }

    #[test]
    fn constant_training_data_leave_the_pair_out_of_mase_and_are_counted() {
        let pairs = [
            score_pair(&[2.0, 2.0, 2.0], 1, &[2.0], &forecast(vec![3.0], 1.0)),
            score_pair(&[1.0, 2.0, 3.0], 1, &[4.0], &forecast(vec![3.0], 1.0)),
        ];
        let scores = Scores::from_pairs(&pairs);
        assert_eq!(scores.mase, 1.0);
        assert_eq!(scores.pairs_excluded_s0, 1);
        assert_eq!(scores.n_pairs, 2);
    }

    #[test]
    fn undefined_metrics_round_trip_through_json_as_null() {
        let scores = Scores::from_pairs(&[]);
        let json = serde_json::to_string(&scores).unwrap();
        assert!(json.contains("\"MASE\":null"), "{json}");
        let back: Scores = serde_json::from_str(&json).unwrap();
        assert!(back.mase.is_nan() && back.scrps.is_nan());
    }

    #[test]
    fn pinball_loss_weighs_under_and_over_prediction_by_tau() {
        assert!((pinball(0.9, 10.0, 8.0) - 1.8).abs() < 1e-12);
        assert!((pinball(0.9, 8.0, 10.0) - 0.2).abs() < 1e-12);
    }
}
