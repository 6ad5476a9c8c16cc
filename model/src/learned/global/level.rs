//! Level scaling: how the size of a non-negative series' errors grows with its forecast, so a
//! quiet night and a busy afternoon get bands of their own size.

use serde::{Deserialize, Serialize};

/// How the size of a series' forecast errors grows with the level forecast: in proportion to
/// `((ŷ + offset) / (reference + offset))^power`, `ŷ` clipped at 0.
///
/// A count series with zeros — bike rentals by the hour — cannot have relative errors, yet its
/// errors at 3 a.m. are a few rentals and its errors at 5 p.m. a few dozen. Absolute errors pooled
/// per horizon step give the night the day's bands (the lower bound then sits at 0 and never
/// misses) and keep autumn's wide bands into a quieter winter. The power is fitted to the series'
/// own calibration errors (`fit_level_power`): 1 is relative errors, 0.5 the square-root law of
/// counts, 0 absolute.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelScaling {
    /// The exponent, in `[0, 1]`.
    pub power: f64,
    /// Added to the level so that a zero forecast keeps a positive scale (a twentieth of the
    /// training mean).
    pub offset: f64,
    /// The level at which the factor is 1 (the training mean).
    pub reference: f64,
}

impl LevelScaling {
    /// The scaling with `power` for a series whose training part has mean `mean` (the reference,
    /// and a twentieth of it as the offset); `None` when the mean is not positive.
    pub(super) fn at_mean(power: f64, mean: f64) -> Option<Self> {
        (mean > 0.0 && mean.is_finite()).then_some(LevelScaling {
            power,
            offset: mean / 20.0,
            reference: mean,
        })
    }

    /// The scaling of a series whose training part has mean `mean`, fitted to its calibration
    /// forecasts `points` and their `errors` (both in its own units); `None` when the mean is not
    /// positive or the errors do not grow with the level.
    pub(super) fn fit(points: &[f64], errors: &[f64], mean: f64) -> Option<Self> {
        let unfitted = LevelScaling::at_mean(0.0, mean)?;
        let mut pairs: Vec<(f64, f64)> = points
            .iter()
            .zip(errors)
            .map(|(&p, e)| (p, e.abs()))
            .collect();
        let power = fit_level_power(&mut pairs, unfitted.offset);
        (power > 0.0).then_some(LevelScaling { power, ..unfitted })
    }

    /// The factor errors of a forecast `point` are divided by when stored, and multiplied by
    /// when used.
    pub fn factor(&self, point: f64) -> f64 {
        ((point.max(0.0) + self.offset) / (self.reference + self.offset)).powf(self.power)
    }
}

/// Fits [`LevelScaling::power`] to `(forecast, absolute error)` pairs: the slope of the log mean
/// absolute error against the log mean (offset) forecast over ten equally filled bins of the
/// forecast, clamped to `[0, 1]`; 0 with fewer than 100 pairs or fewer than three usable bins.
pub(super) fn fit_level_power(pairs: &mut [(f64, f64)], offset: f64) -> f64 {
    const BINS: usize = 10;
    if pairs.len() < 100 {
        return 0.0;
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = pairs.len();
    let mut points: Vec<(f64, f64)> = Vec::with_capacity(BINS);
    for b in 0..BINS {
        let bin = &pairs[b * n / BINS..(b + 1) * n / BINS];
        let count = bin.len() as f64;
        let level = bin.iter().map(|p| p.0.max(0.0)).sum::<f64>() / count + offset;
        let error = bin.iter().map(|p| p.1).sum::<f64>() / count;
        if level > 0.0 && error > 0.0 && level.is_finite() && error.is_finite() {
            points.push((level.ln(), error.ln()));
        }
    }
    if points.len() < 3 {
        return 0.0;
    }
    let k = points.len() as f64;
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(x, y), p| (x + p.0 / k, y + p.1 / k));
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx <= 0.0 {
        return 0.0;
    }
    let slope = sxy / sxx;
    if slope.is_finite() {
        slope.clamp(0.0, 1.0)
    } else {
        0.0
    }
}
