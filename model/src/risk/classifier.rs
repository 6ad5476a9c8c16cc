//! The fitted waste-risk classifier: a logistic regression over [`RiskFeatures`] that turns the
//! forecast-implied waste probability into a calibrated one.
//!
//! Why calibrate: the forecast's own probability is only as good as its intervals. A model whose
//! 80% intervals cover 70% of outcomes makes waste look less (or more) likely than it is, and the
//! error depends on things the forecast does not see — how far ahead the period is, how long it
//! is, the season, how well the model did on that series before. Backtests show what actually
//! happened to plans set by a known rule, and a logistic regression maps the forecast's
//! probability plus those features to the frequency of waste observed.
//!
//! Fitting lives in the training tool (linfa); this module holds only the fitted coefficients and
//! their evaluation, which is a dot product, so the service needs no ML dependency to apply it.
//! Features are standardised with the training set's mean and scale, stored beside the weights.

use std::ops::Range;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::{BudgetLine, PeriodDemand, raw_waste_probability};
use crate::forecast::SamplePaths;

/// Version of the stored classifier format; bump it when [`FEATURE_NAMES`] change.
pub const CLASSIFIER_FORMAT: u32 = 1;

/// The features, in the order of [`RiskFeatures::vector`].
pub const FEATURE_NAMES: [&str; 7] = [
    "logit_raw_waste_probability",
    "gap_sd",
    "horizon_steps",
    "period_steps",
    "season_sin",
    "season_cos",
    "backtest_mase",
];

/// Raw probabilities are clipped to `[EPS, 1 − EPS]` before the logit: with 1,000 paths a
/// probability of exactly 0 or 1 means "fewer than 1 in 1,000", not certainty.
const EPS: f64 = 1e-3;

/// Everything the classifier looks at for one budget line.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskFeatures {
    /// The forecast-implied waste probability, `P(D < planned·(1 − tolerance))`.
    pub raw_probability: f64,
    /// `(planned − mean) / sd` of period demand: how far the plan sits from the forecast.
    pub gap_sd: f64,
    /// Steps from the forecast origin to the end of the period.
    pub horizon_steps: f64,
    /// Steps in the period.
    pub period_steps: f64,
    /// Day of the year (1-366) of the period's first day: the season.
    pub day_of_year: f64,
    /// The serving model's backtest MASE on this series (1.0 when unknown: as good as the
    /// seasonal naive, the neutral value of the scale).
    pub backtest_mase: f64,
}

impl RiskFeatures {
    /// The features of `line` against its period's `demand`: the one definition training and
    /// serving both use. The period is steps `steps` after the forecast origin and starts on
    /// `first_day` (unknown for integer-indexed data: day 1). `backtest_mase` is the forecasting
    /// model's mean MASE on this series over backtest forecasts made before the origin: in
    /// training, the risk backtest's earlier origins; in serving, the protocol backtest of the
    /// served model, whose windows all end before the version's data do (unknown: 1.0).
    pub fn of_line(
        line: &BudgetLine,
        demand: &PeriodDemand,
        steps: Range<usize>,
        first_day: Option<NaiveDate>,
        backtest_mase: Option<f64>,
    ) -> RiskFeatures {
        let sd = demand.sd();
        RiskFeatures {
            raw_probability: raw_waste_probability(line, demand),
            gap_sd: if sd > 0.0 {
                (line.planned - demand.mean()) / sd
            } else {
                0.0
            },
            horizon_steps: steps.end as f64,
            period_steps: steps.len() as f64,
            day_of_year: first_day.map_or(1.0, |d| f64::from(d.ordinal())),
            backtest_mase: backtest_mase.unwrap_or(1.0),
        }
    }

    /// The demand over `steps` of a forecast whose joint sample paths are `paths`, and the
    /// features of `line` planned for those steps ([`RiskFeatures::of_line`]); `None` when the
    /// paths do not cover the steps.
    pub fn of_paths(
        line: &BudgetLine,
        paths: &SamplePaths,
        steps: Range<usize>,
        first_day: Option<NaiveDate>,
        backtest_mase: Option<f64>,
    ) -> Option<(PeriodDemand, RiskFeatures)> {
        let demand = PeriodDemand::from_paths(paths, steps.clone())?;
        let features = RiskFeatures::of_line(line, &demand, steps, first_day, backtest_mase);
        Some((demand, features))
    }

    /// The feature vector, in [`FEATURE_NAMES`] order. The season is a point on the unit circle
    /// so December and January are neighbours.
    pub fn vector(&self) -> [f64; 7] {
        let p = self.raw_probability.clamp(EPS, 1.0 - EPS);
        let angle = 2.0 * std::f64::consts::PI * self.day_of_year / 365.25;
        let finite = |x: f64, default: f64| if x.is_finite() { x } else { default };
        [
            (p / (1.0 - p)).ln(),
            finite(self.gap_sd, 0.0).clamp(-50.0, 50.0),
            self.horizon_steps,
            self.period_steps,
            angle.sin(),
            angle.cos(),
            finite(self.backtest_mase, 1.0),
        ]
    }
}

/// A fitted classifier: `P(waste) = σ(intercept + Σ weights·(x − mean)/scale)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskClassifier {
    /// [`CLASSIFIER_FORMAT`] when it was written.
    pub format: u32,
    /// The feature names, as [`FEATURE_NAMES`] when it was written.
    pub features: Vec<String>,
    /// Training mean of each feature.
    pub mean: Vec<f64>,
    /// Training standard deviation of each feature (1 where it was 0).
    pub scale: Vec<f64>,
    /// Coefficient of each standardised feature.
    pub weights: Vec<f64>,
    /// The intercept.
    pub intercept: f64,
    /// The longest horizon (steps from origin to a period's end) it was trained on.
    pub max_horizon_steps: f64,
    /// The period lengths (steps) it was trained on.
    pub period_steps: Vec<f64>,
}

impl RiskClassifier {
    /// Whether this classifier was written for the features this code computes.
    pub fn is_compatible(&self) -> bool {
        self.format == CLASSIFIER_FORMAT
            && self.features.iter().map(String::as_str).eq(FEATURE_NAMES)
            && self.mean.len() == FEATURE_NAMES.len()
            && self.scale.len() == FEATURE_NAMES.len()
            && self.weights.len() == FEATURE_NAMES.len()
    }

    /// Whether `features` lie where the classifier was trained: a period length it saw and a
    /// horizon no longer than it saw. A logistic regression extrapolates without warning, so a
    /// caller should fall back to the raw probability elsewhere (a month three months ahead is
    /// not what a classifier trained on the next two weeks knows about).
    pub fn covers(&self, features: &RiskFeatures) -> bool {
        features.horizon_steps <= self.max_horizon_steps
            && self
                .period_steps
                .iter()
                .any(|&p| (p - features.period_steps).abs() < 0.5)
    }

    /// The calibrated waste probability of `features`.
    pub fn probability(&self, features: &RiskFeatures) -> f64 {
        let x = features.vector();
        let z = self.intercept
            + x.iter()
                .zip(&self.mean)
                .zip(&self.scale)
                .zip(&self.weights)
                .map(|(((x, m), s), w)| w * (x - m) / s)
                .sum::<f64>();
        1.0 / (1.0 + (-z).exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lines_features_follow_their_definitions() {
        // Demand draws 80, 90, ..., 170: mean 125, and a plan of 150 with 10% tolerance wastes
        // when demand is under 135, in 6 of 10 draws.
        let demand =
            PeriodDemand::from_draws((0..10).map(|k| 80.0 + 10.0 * k as f64).collect()).unwrap();
        let line = BudgetLine::new(150.0, 1.0, Some(0.1), None, None).unwrap();
        let day = NaiveDate::from_ymd_opt(2024, 2, 1).unwrap();
        let f = RiskFeatures::of_line(&line, &demand, 14..21, Some(day), Some(0.8));
        assert_eq!(f.raw_probability, raw_waste_probability(&line, &demand));
        assert!((f.gap_sd - (150.0 - 125.0) / demand.sd()).abs() < 1e-12);
        assert_eq!((f.horizon_steps, f.period_steps), (21.0, 7.0));
        assert_eq!((f.day_of_year, f.backtest_mase), (32.0, 0.8));
        let unknown = RiskFeatures::of_line(&line, &demand, 0..7, None, None);
        assert_eq!((unknown.day_of_year, unknown.backtest_mase), (1.0, 1.0));
    }

    fn features(raw: f64) -> RiskFeatures {
        RiskFeatures {
            raw_probability: raw,
            gap_sd: 0.0,
            horizon_steps: 7.0,
            period_steps: 7.0,
            day_of_year: 100.0,
            backtest_mase: 1.0,
        }
    }

    #[test]
    fn a_classifier_that_only_reads_the_logit_returns_the_raw_probability() {
        let mut weights = vec![0.0; 7];
        weights[0] = 1.0;
        let identity = RiskClassifier {
            format: CLASSIFIER_FORMAT,
            features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            mean: vec![0.0; 7],
            scale: vec![1.0; 7],
            weights,
            intercept: 0.0,
            max_horizon_steps: 14.0,
            period_steps: vec![7.0],
        };
        assert!(identity.is_compatible());
        assert!(identity.covers(&features(0.5)));
        let month = RiskFeatures {
            period_steps: 30.0,
            horizon_steps: 30.0,
            ..features(0.5)
        };
        assert!(!identity.covers(&month));
        for raw in [0.05, 0.3, 0.5, 0.9] {
            assert!((identity.probability(&features(raw)) - raw).abs() < 1e-12);
        }
        // Certainty is clipped: a classifier never returns exactly 0 or 1 from a raw 0 or 1.
        assert!((identity.probability(&features(0.0)) - EPS).abs() < 1e-12);
    }

    #[test]
    fn a_classifier_for_other_features_is_not_compatible() {
        let other = RiskClassifier {
            format: CLASSIFIER_FORMAT,
            features: vec!["something_else".into()],
            mean: vec![0.0],
            scale: vec![1.0],
            weights: vec![1.0],
            intercept: 0.0,
            max_horizon_steps: 1.0,
            period_steps: vec![1.0],
        };
        assert!(!other.is_compatible());
    }

    #[test]
    fn december_and_january_are_neighbours_on_the_season_circle() {
        let dec = RiskFeatures {
            day_of_year: 365.0,
            ..features(0.5)
        }
        .vector();
        let jan = RiskFeatures {
            day_of_year: 1.0,
            ..features(0.5)
        }
        .vector();
        let jul = RiskFeatures {
            day_of_year: 182.0,
            ..features(0.5)
        }
        .vector();
        let distance = |a: &[f64; 7], b: &[f64; 7]| (a[4] - b[4]).hypot(a[5] - b[5]);
        assert!(distance(&dec, &jan) < 0.05);
        assert!(distance(&dec, &jul) > 1.9);
    }
}
