//! Live accuracy: the forecasts a version issued, scored as their actuals arrived, by the
//! evaluation protocol's definitions (`civicast_model::metrics`, the same as `eval/score.py`),
//! and a drift test against what the version's backtest promised. Here, beside the issued
//! forecasts, so that the service's routes and `civicast-train fit --only-drifted` judge alike.
//!
//! A pair is one issued forecast (a series at one origin) whose whole horizon has actuals; the
//! figures are plain means over the pairs of a rolling window, the origins of the last four
//! weeks by default ([`Window`]), as the protocol averages over backtest pairs, plus the same
//! per horizon step. The service keeps them up to date incrementally ([`LiveScorer`]).
//!
//! # Drift
//!
//! A series drifts when its live error exceeds its backtest's by more than chance allows. The test
//! is one-sided on the live pairs' MASE minus the backtest's MASE for the series' model: the mean
//! difference over its standard error, where the standard error is Newey–West's with `h - 1`
//! lags, because forecasts from consecutive origins share `h - 1` target steps and their errors
//! are correlated (the correction Diebold and Mariano's test of forecast accuracy makes for the
//! same reason). With few pairs against the overlap that standard error is biased low, so the
//! statistic takes Harvey, Leybourne and Newbold's small-sample correction (the "modified
//! Diebold–Mariano test", 1997) and is compared with Student's t. A series is flagged when the
//! one-sided p-value is below [`DRIFT_ALPHA`] and at least [`min_pairs`] pairs are scored; the
//! false-alarm rate measured on the bundled datasets is in `docs/live.md`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::{Store, StoreError, decode_time, encode_time};
use civicast_model::metrics::{PairScores, ScoreSums, Scores, score_scaled};
use civicast_model::{Forecast, Frequency, TimePoint};
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Span of the default window, in days: the issued forecasts of the last four weeks are scored.
pub const WINDOW_DAYS: f64 = 28.0;

/// Most issued forecasts a window holds (a week of 1-minute data): what one series' scoring may
/// read and keep.
pub const MAX_WINDOW_ORIGINS: usize = 10_000;

/// The drift test's size: the chance of flagging a series whose live error is what the backtest
/// promised (one-sided).
pub const DRIFT_ALPHA: f64 = 0.01;

/// Which issued forecasts are scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// Those issued from origins in the latest [`window_steps`] steps: four weeks of origins,
    /// widened to 4h steps where four weeks hold fewer (so that the drift test always has twice
    /// the pairs it needs), and at most [`MAX_WINDOW_ORIGINS`].
    Recent,
    /// The latest this many.
    Latest(usize),
}

/// Steps spanned by [`Window::Recent`] at `frequency` with horizon `horizon`. Four weeks at any
/// frequency whose steps have a fixed length (1,344 half-hours, 28 days); calendar months and
/// integer steps have none, and take 4h steps (48 months at h = 12). The span is in time, not in
/// issued forecasts, because the sub-daily sets issue dozens a day: a count of origins there is a
/// few days, which one holiday fills.
pub fn window_steps(frequency: Frequency, horizon: usize) -> usize {
    let weeks = match frequency {
        Frequency::Minutes(_) | Frequency::Hours(_) | Frequency::Days(_) | Frequency::Weeks(_) => {
            (WINDOW_DAYS * frequency.steps_per_day()).round() as usize
        }
        Frequency::Months(_) | Frequency::Years(_) | Frequency::Index => 0,
    };
    weeks.max(4 * horizon).clamp(1, MAX_WINDOW_ORIGINS)
}

/// Steps of issued forecasts that `civicast-train prune-issued` keeps by default, back from the
/// latest observation: twice the live window, so that a window read while data arrive late or a
/// feed catches up still finds its forecasts, and a horizon, for the forecasts of the window's
/// first origins whose actuals are still arriving.
pub fn retention_steps(frequency: Frequency, horizon: usize) -> usize {
    2 * window_steps(frequency, horizon) + horizon
}

/// The fewest steps a retention may keep: the live window and a horizon (fewer would take
/// forecasts the live accuracy reads).
pub fn min_retention_steps(frequency: Frequency, horizon: usize) -> usize {
    window_steps(frequency, horizon) + horizon
}

/// Live figures of one series.
#[derive(Clone, Debug, Serialize)]
pub struct LiveAccuracy {
    /// Pairs scored (issued forecasts whose whole horizon has arrived).
    pub pairs: usize,
    /// Forecasts issued in the window and still waiting for some of their actuals.
    pub waiting: usize,
    /// Origin of the first and last scored pair, in the dataset's format.
    pub first_origin: Option<String>,
    /// Origin of the last scored pair.
    pub last_origin: Option<String>,
    /// The protocol's metrics over the pairs (MASE, sMAPE, RMSE, cov80, cov95, sCRPS).
    pub scores: Scores,
    /// The same per horizon step (step 1 first); empty when scored without them (the service's
    /// running figures).
    pub per_step: Vec<Scores>,
    /// The drift test.
    pub drift: DriftTest,
}

/// The drift test's result.
#[derive(Clone, Debug, Serialize)]
pub struct DriftTest {
    /// Whether the series is flagged.
    pub drifted: bool,
    /// The backtest's MASE of the served model on this series (what it promised).
    pub promised_mase: Option<f64>,
    /// Live MASE (mean over pairs).
    pub live_mase: Option<f64>,
    /// The test statistic: the mean difference over its Newey–West standard error, times
    /// Harvey, Leybourne and Newbold's small-sample correction.
    pub statistic: Option<f64>,
    /// Its one-sided p-value from Student's t with `pairs - 1` degrees of freedom.
    pub p_value: Option<f64>,
    /// The test's size.
    pub alpha: f64,
    /// Pairs needed before the test flags anything.
    pub min_pairs: usize,
    /// How the test works, in words.
    pub test: &'static str,
}

const TEST: &str = "one-sided test that live MASE exceeds the backtest's: mean of per-pair \
                    differences over its Newey-West standard error with h-1 lags, with Harvey, \
                    Leybourne and Newbold's small-sample correction, against Student's t";

/// Pairs needed before drift is judged: two horizons' worth (and at least 10), so that the
/// Newey–West variance sees more than one stretch of overlapping errors.
pub fn min_pairs(horizon: usize) -> usize {
    (2 * horizon).max(10)
}

/// Whose issued forecasts are scored, and against what.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// Dataset name.
    pub dataset: &'a str,
    /// Series id.
    pub series: &'a str,
    /// The version that issued them.
    pub version: &'a str,
    /// The dataset's frequency.
    pub frequency: Frequency,
    /// Steps in each forecast.
    pub horizon: usize,
    /// The backtest MASE of the series' model (what it promised).
    pub promised: Option<f64>,
}

/// Scores `subject`'s issued forecasts in `window` afresh, per horizon step too: what the
/// accuracy route answers and `civicast-train fit --only-drifted` judges.
pub async fn live_accuracy(
    store: &Store,
    subject: Subject<'_>,
    window: Window,
) -> Result<LiveAccuracy, StoreError> {
    LiveScorer::new(window).score(store, subject, true).await
}

/// Issued forecasts scored per chunk: what one chunk's forecasts take in memory is bounded by it.
const SCORE_CHUNK: usize = 256;

/// One series' live accuracy kept up to date as forecasts are issued and actuals arrive: each
/// update scores only the forecasts whose last actual arrived since, so the cost of a refresh
/// does not grow with the window. Per-pair figures are kept (not the forecasts), and a revision
/// of any of the series' values starts the scoring over, since it may change a scored pair.
#[derive(Clone, Debug)]
pub struct LiveScorer {
    window: Window,
    /// Scored pairs by origin.
    scored: BTreeMap<i64, PairScores>,
    /// Origins issued in the window and not yet complete.
    waiting: BTreeSet<i64>,
    /// The latest origin read.
    read_until: i64,
    /// The series' revision count the scores reflect.
    revisions: Option<i64>,
}

impl Default for LiveScorer {
    fn default() -> Self {
        LiveScorer::new(Window::Recent)
    }
}

impl LiveScorer {
    /// A scorer that has scored nothing yet.
    pub fn new(window: Window) -> Self {
        LiveScorer {
            window,
            scored: BTreeMap::new(),
            waiting: BTreeSet::new(),
            read_until: i64::MIN,
            revisions: None,
        }
    }

    /// Takes in the forecasts issued and the actuals arrived since the last update, and returns
    /// the window's figures (per step only with `per_step`, which rescores the whole window).
    pub async fn score(
        &mut self,
        store: &Store,
        subject: Subject<'_>,
        per_step: bool,
    ) -> Result<LiveAccuracy, StoreError> {
        let revisions = store
            .revision_count(subject.dataset, subject.series)
            .await?;
        if per_step || self.revisions != Some(revisions) {
            *self = LiveScorer::new(self.window);
        }
        self.revisions = Some(revisions);
        let horizon = subject.horizon.max(1);
        let capacity = match self.window {
            Window::Recent => window_steps(subject.frequency, horizon),
            Window::Latest(n) => n.clamp(1, MAX_WINDOW_ORIGINS),
        };
        let new = store
            .issued_origins(
                subject.dataset,
                subject.series,
                subject.version,
                self.read_until,
                capacity,
            )
            .await?;
        if let Some(&latest) = new.first() {
            self.read_until = latest;
        }
        self.waiting.extend(new);
        self.trim(subject.frequency, capacity);

        let mut steps: Vec<ScoreSums> = Vec::new();
        if let (Some(&first), Some(&last)) = (self.waiting.first(), self.waiting.last()) {
            let end = decode_time(last, subject.frequency)
                .and_then(|t| subject.frequency.advance(t, horizon as i64))
                .map_or(i64::MAX, encode_time);
            let actuals: HashMap<i64, f64> = store
                .targets(subject.dataset, subject.series, first, end)
                .await?
                .into_iter()
                .collect();
            let complete: Vec<i64> = self
                .waiting
                .iter()
                .copied()
                .filter(|&o| actuals_of(o, horizon, subject.frequency, &actuals).is_some())
                .collect();
            for chunk in complete.chunks(SCORE_CHUNK) {
                let issued = store
                    .issued_at(subject.dataset, subject.series, subject.version, chunk)
                    .await?;
                for forecast in &issued {
                    let h = forecast.forecast.point.len();
                    let Some(actual) = actuals_of(forecast.origin, h, subject.frequency, &actuals)
                    else {
                        continue;
                    };
                    self.scored.insert(
                        forecast.origin,
                        score_scaled(forecast.scales, &actual, &forecast.forecast),
                    );
                    if per_step {
                        if steps.len() < h {
                            steps.resize_with(h, ScoreSums::default);
                        }
                        for (j, sums) in steps.iter_mut().enumerate().take(h) {
                            sums.add(&score_scaled(
                                forecast.scales,
                                &actual[j..=j],
                                &step_of(&forecast.forecast, j),
                            ));
                        }
                    }
                }
                for origin in chunk {
                    self.waiting.remove(origin);
                }
            }
        }
        Ok(self.figures(subject, steps))
    }

    /// Drops what fell out of the window.
    fn trim(&mut self, frequency: Frequency, capacity: usize) {
        let latest = self.read_until;
        let oldest_kept = match self.window {
            Window::Recent => decode_time(latest, frequency)
                .and_then(|t| frequency.advance(t, 1 - capacity as i64))
                .map_or(i64::MIN, encode_time),
            Window::Latest(_) => i64::MIN,
        };
        self.scored = self.scored.split_off(&oldest_kept);
        self.waiting = self.waiting.split_off(&oldest_kept);
        // At most `capacity` origins in all, the latest.
        while self.scored.len() + self.waiting.len() > capacity {
            let oldest_scored = self.scored.first_key_value().map(|(o, _)| *o);
            let oldest_waiting = self.waiting.first().copied();
            match (oldest_scored, oldest_waiting) {
                (Some(s), Some(w)) if w < s => {
                    self.waiting.pop_first();
                }
                (Some(_), _) => {
                    self.scored.pop_first();
                }
                (None, _) => {
                    self.waiting.pop_first();
                }
            }
        }
    }

    fn figures(&self, subject: Subject<'_>, steps: Vec<ScoreSums>) -> LiveAccuracy {
        let format = |t: Option<&i64>| {
            t.and_then(|&t| decode_time(t, subject.frequency))
                .map(|t: TimePoint| subject.frequency.format_time(t))
        };
        let mut sums = ScoreSums::default();
        let mut mases = Vec::with_capacity(self.scored.len());
        for pair in self.scored.values() {
            sums.add(pair);
            mases.extend(pair.mase);
        }
        LiveAccuracy {
            pairs: self.scored.len(),
            waiting: self.waiting.len(),
            first_origin: format(self.scored.keys().next()),
            last_origin: format(self.scored.keys().next_back()),
            scores: sums.scores(),
            per_step: steps.iter().map(ScoreSums::scores).collect(),
            drift: drift_test(&mases, subject.promised, subject.horizon.max(1)),
        }
    }
}

/// The actuals of the `h` steps after `origin`, if all have arrived.
fn actuals_of(
    origin: i64,
    h: usize,
    frequency: Frequency,
    actuals: &HashMap<i64, f64>,
) -> Option<Vec<f64>> {
    let origin = decode_time(origin, frequency)?;
    (1..=h as i64)
        .map(|j| {
            let t = frequency.advance(origin, j)?;
            actuals.get(&encode_time(t)).copied()
        })
        .collect()
}

/// Step `j` of `forecast` as a one-step forecast.
fn step_of(forecast: &Forecast, j: usize) -> Forecast {
    Forecast {
        point: vec![forecast.point[j]],
        quantiles: forecast
            .quantiles
            .iter()
            .map(|(tau, values)| (*tau, vec![values[j]]))
            .collect(),
    }
}

/// The drift test of the module doc on per-pair live MASE values in origin order.
pub fn drift_test(mases: &[f64], promised: Option<f64>, horizon: usize) -> DriftTest {
    let n = mases.len();
    let live = (n > 0).then(|| mases.iter().sum::<f64>() / n as f64);
    let needed = min_pairs(horizon);
    let mut result = DriftTest {
        drifted: false,
        promised_mase: promised,
        live_mase: live,
        statistic: None,
        p_value: None,
        alpha: DRIFT_ALPHA,
        min_pairs: needed,
        test: TEST,
    };
    let (Some(promised), Some(live)) = (promised.filter(|p| p.is_finite()), live) else {
        return result;
    };
    if n < 2 {
        return result;
    }
    let centred: Vec<f64> = mases.iter().map(|m| m - live).collect();
    let autocovariance = |k: usize| -> f64 {
        centred[k..]
            .iter()
            .zip(&centred)
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / n as f64
    };
    let lags = horizon.saturating_sub(1).min(n - 1);
    let mut variance = autocovariance(0);
    for k in 1..=lags {
        variance += 2.0 * (1.0 - k as f64 / (lags + 1) as f64) * autocovariance(k);
    }
    if variance.is_nan() || variance <= 0.0 {
        return result;
    }
    // Newey–West's estimate is biased low when the pairs are few against the overlap, which
    // makes the plain statistic reject too often; the correction (1997) scales it back.
    let h = horizon as f64;
    let nf = n as f64;
    let correction = (nf + 1.0 - 2.0 * h + h * (h - 1.0) / nf) / nf;
    if correction <= 0.0 {
        return result;
    }
    let statistic = correction.sqrt() * (live - promised) / (variance / nf).sqrt();
    let Ok(student) = StudentsT::new(0.0, 1.0, nf - 1.0) else {
        return result;
    };
    let p_value = 1.0 - student.cdf(statistic);
    result.statistic = Some(statistic);
    result.p_value = Some(p_value);
    result.drifted = n >= needed && p_value < DRIFT_ALPHA;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_four_weeks_or_four_horizons_of_origins() {
        let steps = |f: &str, h| window_steps(f.parse().unwrap(), h);
        assert_eq!(steps("30m", 48), 28 * 48);
        assert_eq!(steps("1h", 24), 28 * 24);
        assert_eq!(steps("1d", 7), 28);
        assert_eq!(steps("1d", 14), 56);
        assert_eq!(steps("1mo", 12), 48);
        assert_eq!(steps("3mo", 8), 32);
        assert_eq!(steps("1m", 60), MAX_WINDOW_ORIGINS);
    }

    #[test]
    fn errors_as_promised_do_not_drift_and_doubled_errors_do() {
        // Per-pair MASE wandering around 1.0 with overlap-like persistence.
        let around = |level: f64| -> Vec<f64> {
            (0..60)
                .map(|i| level + 0.2 * ((i as f64) * 0.7).sin())
                .collect()
        };
        let calm = drift_test(&around(1.0), Some(1.0), 7);
        assert!(!calm.drifted, "{calm:?}");
        let worse = drift_test(&around(2.0), Some(1.0), 7);
        assert!(worse.drifted && worse.p_value.unwrap() < 1e-6, "{worse:?}");
        // Too few pairs: never flagged, whatever the errors.
        let early = drift_test(&around(2.0)[..10], Some(1.0), 7);
        assert!(!early.drifted && early.statistic.is_some());
        // No promise (no backtest): no test.
        assert!(drift_test(&around(2.0), None, 7).statistic.is_none());
    }
}
