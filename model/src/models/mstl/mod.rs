//! MSTL: multiple seasonal-trend decomposition by Loess, with the seasonally adjusted series
//! forecast by non-seasonal AutoETS.
//!
//! This follows StatsForecast 2.1.1's `MSTL(season_length=[...],
//! trend_forecaster=AutoETS(model='ZZN'))`:
//!
//! 1. [`decompose`] splits the series into one seasonal component per period, a trend and a
//!    remainder (StatsForecast's `mstl`, i.e. R's `forecast::mstl`, with STL set up as
//!    statsmodels' defaults; see that module for why each parameter is what it is).
//! 2. The seasonally adjusted series, trend + remainder, is fitted by AutoETS restricted to
//!    non-seasonal models ([`EtsParams::auto`] with season 1), the "ZZN" of StatsForecast.
//! 3. A forecast is the ETS forecast plus each seasonal component's last cycle repeated. The
//!    intervals are ETS's, shifted by the same seasonal forecast: the seasonal components are
//!    treated as known, exactly as StatsForecast does, so MSTL intervals are narrower than the
//!    series' own variability would suggest when the seasonality is unstable.
//!
//! Only the last cycle of each seasonal component and the fitted ETS model are stored, so a
//! [`FittedMstl`] stays small in the registry even for long hourly series.
//!
//! Why not the `stlrs` crate (a port of the same Fortran STL that statsmodels ports): with its
//! parameters set to statsmodels' it agrees with StatsForecast to 1e-14, but it refits every Loess
//! window from scratch: ~300 ms for one MSTL of a year of hourly data (8,760 points, seasons 24
//! and 168) on our shared CI cores. Our own STL (the private `stl` module) shares one kernel
//! across the interior of the series: ~15-20 ms on the same machine and load, 13-20 times faster,
//! and 4-5 times faster on short series with long seasons, where the series' ends dominate.

mod decompose;
mod stl;

use serde::{Deserialize, Serialize};

pub use decompose::{Decomposition, decompose, usable_periods};

use crate::error::ModelError;
use crate::forecast::{Forecast, SamplePaths};
use crate::models::ets::{EtsParams, FittedEts};
use crate::models::{Absorb, Fit, Predict};

/// Unfitted MSTL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MstlParams {
    season_lengths: Vec<usize>,
}

impl MstlParams {
    /// MSTL with these season lengths (in steps). Order does not matter; periods of 1, repeats,
    /// and periods that do not fit twice into the series being fitted are dropped at fit time.
    pub fn new(season_lengths: Vec<usize>) -> Self {
        MstlParams { season_lengths }
    }
}

/// One seasonal component's forecast: its last observed cycle, repeated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SeasonalCycle {
    /// The period, in steps.
    period: usize,
    /// The component's last `period` values; the first is the value one period before the
    /// first forecast step.
    last_cycle: Vec<f64>,
}

/// Fitted MSTL: the last cycle of each seasonal component and the ETS model of the seasonally
/// adjusted series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FittedMstl {
    seasons: Vec<SeasonalCycle>,
    /// Periods asked for that the series was too short to estimate.
    dropped: Vec<usize>,
    trend: FittedEts,
}

impl FittedMstl {
    /// The periods that were estimated, ascending.
    pub fn season_lengths(&self) -> Vec<usize> {
        self.seasons.iter().map(|s| s.period).collect()
    }

    /// The periods that were asked for but dropped because the series holds fewer than two
    /// cycles of them.
    pub fn dropped_season_lengths(&self) -> &[usize] {
        &self.dropped
    }

    /// The model of the seasonally adjusted series.
    pub fn trend_model(&self) -> &FittedEts {
        &self.trend
    }

    /// Point forecasts of the next `horizon` steps: the trend model's plus the seasonal cycles.
    pub fn point(&self, horizon: usize) -> Result<Vec<f64>, ModelError> {
        let mut point = self.trend.point(horizon)?;
        for (v, s) in point.iter_mut().zip(self.seasonal_forecast(horizon)) {
            *v += s;
        }
        Ok(point)
    }

    /// The sum of the seasonal components over the next `horizon` steps.
    pub fn seasonal_forecast(&self, horizon: usize) -> Vec<f64> {
        (0..horizon)
            .map(|h| {
                self.seasons
                    .iter()
                    // `last_cycle` is never empty: periods are at least 2 (see `usable_periods`).
                    .map(|s| s.last_cycle.get(h % s.period).copied().unwrap_or(0.0))
                    .sum()
            })
            .collect()
    }
}

impl Fit for MstlParams {
    type Fitted = FittedMstl;

    fn fit(&self, y: &[f64]) -> Result<FittedMstl, ModelError> {
        let decomposition = decompose(y, &self.season_lengths)?;
        let trend = EtsParams::auto(1).fit(&decomposition.adjusted())?;
        let n = y.len();
        let seasons = decomposition
            .season_lengths
            .iter()
            .zip(&decomposition.seasonal)
            .map(|(&period, component)| SeasonalCycle {
                period,
                last_cycle: component[n - period..].to_vec(),
            })
            .collect();
        Ok(FittedMstl {
            seasons,
            dropped: decomposition.dropped,
            trend,
        })
    }
}

/// Each seasonal component goes on as its forecast does, repeating its last cycle; the trend model
/// absorbs what is left, the seasonally adjusted observations.
impl Absorb for FittedMstl {
    fn absorb(&mut self, y: &[f64]) -> Result<(), ModelError> {
        let seasonal = self.seasonal_forecast(y.len());
        let adjusted: Vec<f64> = y.iter().zip(&seasonal).map(|(v, s)| v - s).collect();
        self.trend.absorb(&adjusted)?;
        for season in &mut self.seasons {
            if !season.last_cycle.is_empty() {
                let turn = y.len() % season.last_cycle.len();
                season.last_cycle.rotate_left(turn);
            }
        }
        Ok(())
    }
}

impl Predict for FittedMstl {
    fn predict(&self, horizon: usize, probabilities: &[f64]) -> Result<Forecast, ModelError> {
        let mut forecast = self.trend.predict(horizon, probabilities)?;
        let seasonal = self.seasonal_forecast(horizon);
        let shift = |values: &mut Vec<f64>| {
            for (v, s) in values.iter_mut().zip(&seasonal) {
                *v += s;
            }
        };
        shift(&mut forecast.point);
        for (_, values) in &mut forecast.quantiles {
            shift(values);
        }
        Ok(forecast)
    }

    fn sample_paths(
        &self,
        horizon: usize,
        n_paths: usize,
        seed: u64,
    ) -> Result<SamplePaths, ModelError> {
        let mut paths = self.trend.sample_paths(horizon, n_paths, seed)?;
        let seasonal = self.seasonal_forecast(horizon);
        for path in &mut paths.paths {
            for (v, s) in path.iter_mut().zip(&seasonal) {
                *v += s;
            }
        }
        Ok(paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{ModelId, SeriesContext, fit_model};

    fn weekly_with_trend(n: usize) -> Vec<f64> {
        let pattern = [3.0, -1.0, 0.5, 2.0, -2.5, -1.0, -1.0];
        (0..n)
            .map(|t| {
                50.0 + 0.1 * t as f64 + pattern[t % 7] + 0.3 * ((t * 37 % 11) as f64 - 5.0) / 5.0
            })
            .collect()
    }

    #[test]
    fn the_forecast_repeats_each_seasons_last_cycle_on_top_of_the_trend_model() {
        let y = weekly_with_trend(140);
        let fitted = MstlParams::new(vec![7]).fit(&y).unwrap();
        let seasonal = fitted.seasonal_forecast(15);
        assert_eq!(seasonal[0], seasonal[7]);
        assert_eq!(seasonal[1], seasonal[8]);
        assert_eq!(seasonal[0], seasonal[14]);
        let ours = fitted.predict(15, &[0.1, 0.9]).unwrap();
        let trend = fitted.trend_model().predict(15, &[0.1, 0.9]).unwrap();
        for (h, s) in seasonal.iter().enumerate() {
            assert!((ours.point[h] - trend.point[h] - s).abs() < 1e-12);
            let hi = ours.quantile(0.9).unwrap()[h] - trend.quantile(0.9).unwrap()[h];
            assert!((hi - s).abs() < 1e-12, "intervals are shifted, not widened");
        }
    }

    #[test]
    fn absorbing_the_rest_forecasts_as_the_fitted_model_on_the_whole_series() {
        let y = weekly_with_trend(120);
        let cut = 85;
        let fitted = MstlParams::new(vec![7]).fit(&y[..cut]).unwrap();
        let mut absorbed = fitted.clone();
        absorbed.absorb(&y[cut..cut + 4]).unwrap();
        absorbed.absorb(&y[cut + 4..]).unwrap();

        // The reference: the fitted decomposition's season carried on over the rest as its
        // forecast, and the fitted trend model run over the whole adjusted series.
        let decomposition = decompose(&y[..cut], &[7]).unwrap();
        let mut adjusted = decomposition.adjusted();
        let rest = fitted.seasonal_forecast(y.len() - cut);
        adjusted.extend(y[cut..].iter().zip(&rest).map(|(v, s)| v - s));
        let mut whole = fitted.clone();
        whole.trend = fitted.trend.replayed(&adjusted);
        for season in &mut whole.seasons {
            season
                .last_cycle
                .rotate_left((y.len() - cut) % season.period);
        }

        // Equal to rounding (1e-9 relative).
        let a = absorbed.predict(21, &[0.1, 0.9]).unwrap();
        let b = whole.predict(21, &[0.1, 0.9]).unwrap();
        for (a, b) in a
            .point
            .iter()
            .zip(&b.point)
            .chain(a.quantiles[0].1.iter().zip(&b.quantiles[0].1))
        {
            assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b}");
        }
        assert_eq!(absorbed.seasons, whole.seasons);
        assert_ne!(a.point, fitted.predict(21, &[0.5]).unwrap().point);
    }

    #[test]
    fn sample_paths_are_the_trend_models_paths_plus_the_seasonal_forecast() {
        let y = weekly_with_trend(140);
        let fitted = MstlParams::new(vec![7]).fit(&y).unwrap();
        let paths = fitted.sample_paths(10, 50, 3).unwrap();
        assert_eq!(paths, fitted.sample_paths(10, 50, 3).unwrap());
        let trend = fitted.trend_model().sample_paths(10, 50, 3).unwrap();
        let seasonal = fitted.seasonal_forecast(10);
        for (ours, theirs) in paths.paths.iter().zip(&trend.paths) {
            for ((a, b), s) in ours.iter().zip(theirs).zip(&seasonal) {
                assert!((a - b - s).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn seasons_too_long_for_the_series_are_dropped_and_reported() {
        let y = weekly_with_trend(40);
        let fitted = MstlParams::new(vec![7, 365, 1]).fit(&y).unwrap();
        assert_eq!(fitted.season_lengths(), vec![7]);
        assert_eq!(fitted.dropped_season_lengths(), &[365]);
    }

    #[test]
    fn degenerate_series_never_panic() {
        let context = SeriesContext {
            season_lengths: vec![7, 30],
        };
        let series: [Vec<f64>; 5] = [
            vec![0.0; 100],
            vec![4.2; 100],
            vec![1.0, 2.0],
            vec![5.0],
            weekly_with_trend(20),
        ];
        for y in &series {
            // Either MSTL fits or fit_model falls back; neither may panic, and what is fitted
            // must forecast.
            let _ = MstlParams::new(vec![7, 30]).fit(y);
            let fitted = fit_model(ModelId::Mstl, &context, y).unwrap();
            let f = fitted.model.predict(10, &[0.5]).unwrap();
            assert!(f.point.iter().all(|v| v.is_finite()), "{y:?}");
        }
    }

    #[test]
    fn empty_and_non_finite_series_are_errors() {
        assert!(MstlParams::new(vec![7]).fit(&[]).is_err());
        let mut y = weekly_with_trend(30);
        y[3] = f64::INFINITY;
        assert_eq!(
            MstlParams::new(vec![7]).fit(&y),
            Err(ModelError::NonFinite(3))
        );
    }
}
