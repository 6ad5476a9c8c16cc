use chrono::NaiveDate;

use super::combine::{choose_weights, cross_fitted_weights, mean_abs_error, parity};
use super::forecast::weighted_quantile;
use super::level::fit_level_power;
use super::phase::phase_profile;
use super::scaling::adaptive_scale;
use super::*;
use crate::features::FeatureSpec;
use crate::forecast::Forecast;
use crate::learned::gbm::GbmParams;
use crate::learned::linear::LinearParams;
use crate::panel::{ExogenousRole, ExogenousSpec};
use crate::time::{Frequency, TimePoint};

/// Two daily series with a weekly pattern, an exogenous effect and deterministic wiggle.
pub(crate) fn panel(n: usize) -> Panel {
    daily_panel(n, |i, temp| 2.0 * temp + ((i * 37) % 11) as f64)
}

/// Two daily series at levels 100 and 200 with a weekly pattern and a future-known `temp`;
/// `extra(i, temp)` adds the rest of step `i`'s value.
fn daily_panel(n: usize, extra: impl Fn(usize, f64) -> f64) -> Panel {
    temp_series_panel(
        |s| (0..n).map(|i| ((i * 13 + s * 5) % 17) as f64).collect(),
        |s, temp| {
            (0..n)
                .map(|i| 100.0 * (s + 1) as f64 + 10.0 * (i % 7) as f64 + extra(i, temp[i]))
                .collect()
        },
    )
}

/// Two daily series from 2022-01-01 with one future-known column `temp`: series `s` has the
/// column `temp(s)` and the target `target(s, &temp(s))`.
fn temp_series_panel(
    temp: impl Fn(usize) -> Vec<f64>,
    target: impl Fn(usize, &[f64]) -> Vec<f64>,
) -> Panel {
    let start = TimePoint::date(NaiveDate::from_ymd_opt(2022, 1, 1).unwrap());
    let series = (0..2)
        .map(|s| {
            let temp = temp(s);
            Series {
                id: format!("s{s}"),
                start,
                target: target(s, &temp),
                exogenous: vec![temp],
            }
        })
        .collect();
    let exogenous = vec![ExogenousSpec {
        name: "temp".into(),
        role: ExogenousRole::FutureKnown,
    }];
    Panel::new(Frequency::Days(1), exogenous, series).unwrap()
}

fn featurizer(panel: &Panel) -> Featurizer {
    Featurizer::for_panel(
        FeatureSpec::default_for(Frequency::Days(1), &[7]),
        panel,
        None,
    )
    .unwrap()
}

/// A global model of `members` calibrated for a horizon of 7 over 70 steps, one fit.
pub(crate) fn params(members: Vec<LearnerParams>) -> GlobalParams {
    GlobalParams {
        members,
        horizon: 7,
        calibration: CalibrationSpec {
            span: 70,
            max_origins: 50,
            half_life: 21,
            relative: true,
            cross_fit: true,
            adapt: 0.05,
            level_power: true,
            refits: 1,
            phase_period: 0,
            condition: false,
        },
        seed: 3,
    }
}

fn linear() -> LearnerParams {
    LearnerParams::Linear(LinearParams::default())
}

fn small_gbm() -> LearnerParams {
    LearnerParams::Gbm(GbmParams {
        n_trees: 30,
        ..GbmParams::default()
    })
}

fn forecasts(model: &FittedGlobal, panel: &Panel, cutoff: usize) -> Vec<Forecast> {
    let inputs: Vec<ForecastInput<'_>> = panel
        .series()
        .iter()
        .enumerate()
        .map(|(index, series)| ForecastInput {
            index,
            series,
            origin: cutoff,
        })
        .collect();
    let points = model.points(&inputs, 7).unwrap();
    inputs
        .iter()
        .zip(points)
        .map(|(input, p)| model.forecast(input, p, &[0.1, 0.5, 0.9]).unwrap())
        .collect()
}

#[test]
fn poisoning_everything_after_the_cutoff_changes_nothing_fitted_or_forecast() {
    let clean = panel(400);
    let cutoff = 300;
    let mut poisoned_series = clean.series().to_vec();
    for s in &mut poisoned_series {
        for v in &mut s.target[cutoff..] {
            *v = 1e9;
        }
    }
    let poisoned = Panel::new(
        clean.frequency(),
        clean.exogenous().to_vec(),
        poisoned_series,
    )
    .unwrap();
    let f = featurizer(&clean);
    // One calibration fit, and two (the second inside the calibration span).
    for refits in [1, 2] {
        let mut p = params(vec![small_gbm(), linear()]);
        p.calibration.refits = refits;
        let a = fit_global(&p, &f, &clean, &[cutoff, cutoff]).unwrap();
        let b = fit_global(&p, &f, &poisoned, &[cutoff, cutoff]).unwrap();
        assert_eq!(
            a, b,
            "the fit read a value at or after the cutoff ({refits} refits)"
        );
        assert_eq!(
            forecasts(&a, &clean, cutoff),
            forecasts(&b, &poisoned, cutoff)
        );
    }
}

#[test]
fn a_learned_model_beats_the_weekly_pattern_alone_and_intervals_are_ordered() {
    let data = panel(400);
    let f = featurizer(&data);
    let cutoff = 393;
    let model = fit_global(&params(vec![linear()]), &f, &data, &[cutoff, cutoff]).unwrap();
    assert!(model.is_calibrated(0));
    for (s, forecast) in forecasts(&model, &data, cutoff).iter().enumerate() {
        let actual = &data.series()[s].target[cutoff..cutoff + 7];
        let mae: f64 = forecast
            .point
            .iter()
            .zip(actual)
            .map(|(p, a)| (p - a).abs())
            .sum::<f64>()
            / 7.0;
        // The exogenous effect alone moves the series by up to 32; the linear model sees it.
        assert!(mae < 8.0, "series {s}: MAE {mae}");
        let (lo, hi) = (
            forecast.quantile(0.1).unwrap(),
            forecast.quantile(0.9).unwrap(),
        );
        assert!(lo.iter().zip(hi).all(|(l, h)| l <= h));
    }
}

#[test]
fn weights_are_convex_and_favour_the_better_member() {
    let data = panel(400);
    let f = featurizer(&data);
    // A ridge so heavy it predicts the mean cannot compete with a plain ridge.
    let useless = LearnerParams::Linear(LinearParams { penalty: 1e6 });
    let model = fit_global(&params(vec![useless, linear()]), &f, &data, &[380, 380]).unwrap();
    for s in &model.series {
        assert!((s.weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(s.weights.iter().all(|&w| (0.0..=1.0).contains(&w)));
        assert!(s.weights[1] > s.weights[0], "weights {:?}", s.weights);
        assert!(s.calibration_mae[1] < s.calibration_mae[0]);
    }
}

#[test]
fn cross_fitted_errors_use_the_weights_chosen_on_the_other_half() {
    // Horizon 2, four origins in alternate blocks: member 0 is exact on the even blocks (origins 0
    // and 4) and member 1 on the odd ones (2 and 6); each is off by 1 elsewhere.
    let horizon = 2;
    let origins = vec![(0, 0), (0, 2), (0, 4), (0, 6)];
    let actual = vec![0.0; 8];
    let exact_on = |p: usize| -> Vec<f64> {
        (0..4)
            .flat_map(|k| [if k % 2 == p { 0.0 } else { 1.0 }; 2])
            .collect()
    };
    let paths = vec![exact_on(0), exact_on(1)];
    let rows = [0, 1, 2, 3];
    let halves = cross_fitted_weights(&rows, &origins, &paths, &actual, horizon).unwrap();
    // Chosen on the even half: all on member 0; on the odd half: all on member 1. An even origin's
    // error therefore uses member 1's weights (and is 1, not the 0 it would show scoring itself).
    assert_eq!(halves[0], vec![1.0, 0.0]);
    assert_eq!(halves[1], vec![0.0, 1.0]);
    assert_eq!(parity(0, horizon), 0);
    assert_eq!(parity(2, horizon), 1);
    // One member, or an empty half: nothing to cross-fit.
    assert!(cross_fitted_weights(&rows, &origins, &paths[..1], &actual, horizon).is_none());
    assert!(cross_fitted_weights(&[0, 2], &origins, &paths, &actual, horizon).is_none());

    // And in a fit: a combination's stored (absolute) errors are never smaller than when each
    // origin scored the weights chosen on all of them. With totals A(w) and B(w) over the halves,
    // w_A and w_B minimising each and w minimising A + B:
    // A(w_B) + B(w_A) >= 2 (A + B)(w) - (A(w_A) + B(w_B)) >= (A + B)(w).
    let data = panel(400);
    let f = featurizer(&data);
    let mut crossed_params = params(vec![small_gbm(), linear()]);
    crossed_params.calibration.relative = false;
    let crossed = fit_global(&crossed_params, &f, &data, &[380, 380]).unwrap();
    let mut plain_params = crossed_params.clone();
    plain_params.calibration.cross_fit = false;
    let plain = fit_global(&plain_params, &f, &data, &[380, 380]).unwrap();
    for (c, p) in crossed.series.iter().zip(&plain.series) {
        assert_eq!(c.weights, p.weights);
        let mae = |e: &[f64]| e.iter().map(|v| v.abs()).sum::<f64>() / e.len() as f64;
        assert!(
            mae(&c.errors) >= mae(&p.errors) - 1e-12,
            "{} vs {}",
            mae(&c.errors),
            mae(&p.errors)
        );
    }
}

#[test]
fn the_adaptive_scale_widens_growing_errors_and_narrows_shrinking_ones() {
    // 80 non-overlapping trajectories of 2 steps; errors spread evenly over [-a, a] (a
    // low-discrepancy sequence) with an amplitude `a` that may change halfway.
    let horizon = 2;
    let n = 80;
    let starts: Vec<usize> = (0..n).map(|k| k * horizon).collect();
    let errors = |amplitude: &dyn Fn(usize) -> f64| -> Vec<f64> {
        (0..n * horizon)
            .map(|i| {
                let u = (i as f64 * 0.618_033_988_75).fract();
                amplitude(i / horizon) * (2.0 * u - 1.0)
            })
            .collect()
    };
    let spec = CalibrationSpec {
        half_life: 0,
        ..CalibrationSpec::for_horizon(horizon)
    };
    let steady = adaptive_scale(&errors(&|_| 1.0), &starts, horizon, &spec);
    let growing = adaptive_scale(
        &errors(&|k| if k < n / 2 { 1.0 } else { 3.0 }),
        &starts,
        horizon,
        &spec,
    );
    let shrinking = adaptive_scale(
        &errors(&|k| if k < n / 2 { 3.0 } else { 1.0 }),
        &starts,
        horizon,
        &spec,
    );
    assert!((0.85..1.15).contains(&steady), "steady {steady}");
    assert!(growing > 1.3, "growing {growing}");
    assert!(shrinking < 0.8, "shrinking {shrinking}");
    // Off, or too few trajectories to walk: exactly 1.
    let off = CalibrationSpec { adapt: 0.0, ..spec };
    assert_eq!(
        adaptive_scale(&errors(&|_| 3.0), &starts, horizon, &off),
        1.0
    );
    assert_eq!(
        adaptive_scale(&errors(&|_| 1.0)[..10], &starts[..5], horizon, &spec),
        1.0
    );
    // Overlapping trajectories are skipped, not counted twice: adding a copy of every
    // trajectory one step later changes nothing.
    let doubled_starts: Vec<usize> = starts.iter().flat_map(|&o| [o, o + 1]).collect();
    let growing_errors = errors(&|k| if k < n / 2 { 1.0 } else { 3.0 });
    let doubled_errors: Vec<f64> = growing_errors
        .chunks(horizon)
        .flat_map(|t| t.iter().chain(t).copied().collect::<Vec<_>>())
        .collect();
    assert_eq!(
        adaptive_scale(&doubled_errors, &doubled_starts, horizon, &spec),
        growing
    );
}

#[test]
fn sample_paths_have_the_intervals_marginal_quantiles() {
    let data = panel(400);
    let f = featurizer(&data);
    let model = fit_global(&params(vec![linear()]), &f, &data, &[393, 393]).unwrap();
    let input = ForecastInput {
        index: 0,
        series: &data.series()[0],
        origin: 393,
    };
    let point = model.points(&[input], 7).unwrap().remove(0);
    let forecast = model.forecast(&input, point.clone(), &[0.1, 0.9]).unwrap();
    let paths = model.sample_paths(&input, &point, 20_000, 7).unwrap();
    for (p, values) in &forecast.quantiles {
        let from_paths = paths.quantile(*p);
        for (j, (a, b)) in values.iter().zip(&from_paths).enumerate() {
            let spread = forecast.quantile(0.9).unwrap()[j] - forecast.quantile(0.1).unwrap()[j];
            assert!(
                (a - b).abs() <= 0.15 * spread + 1e-9,
                "step {j} p {p}: interval {a} vs paths {b}"
            );
        }
    }
    assert_eq!(
        paths,
        model.sample_paths(&input, &point, 20_000, 7).unwrap()
    );
}

#[test]
fn a_fitted_global_model_round_trips_through_json() {
    let data = panel(300);
    let f = featurizer(&data);
    let model = fit_global(&params(vec![small_gbm(), linear()]), &f, &data, &[290, 290]).unwrap();
    let back: FittedGlobal = serde_json::from_str(&serde_json::to_string(&model).unwrap()).unwrap();
    assert_eq!(forecasts(&back, &data, 290), forecasts(&model, &data, 290));
}

#[test]
fn weighted_quantiles_interpolate_and_follow_the_weights() {
    let equal: Vec<(f64, f64)> = (1..=5).map(|v| (v as f64, 1.0)).collect();
    // Hazen: the median of 1..5 is 3; p = 0.1 is the first midpoint, 1.
    assert_eq!(weighted_quantile(&equal, 0.5), 3.0);
    assert_eq!(weighted_quantile(&equal, 0.1), 1.0);
    assert_eq!(weighted_quantile(&equal, 0.99), 5.0);
    let heavy_top: Vec<(f64, f64)> = vec![(1.0, 1.0), (2.0, 1.0), (10.0, 8.0)];
    // Midpoints 0.05, 0.15 and 0.6: the median interpolates between 2 and 10, far above the
    // unweighted median of 2; past the last midpoint it is the largest value.
    let median = weighted_quantile(&heavy_top, 0.5);
    assert!(
        (median - (2.0 + 8.0 * 0.35 / 0.45)).abs() < 1e-12,
        "{median}"
    );
    assert_eq!(weighted_quantile(&heavy_top, 0.7), 10.0);
    assert_eq!(weighted_quantile(&[], 0.5), 0.0);
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let data = panel(200);
    let f = featurizer(&data);
    assert!(fit_global(&params(vec![linear()]), &f, &data, &[150]).is_err());
    assert!(fit_global(&params(vec![]), &f, &data, &[150, 150]).is_err());
    // Too little data for any training row.
    assert!(fit_global(&params(vec![linear()]), &f, &data, &[5, 5]).is_err());
    let model = fit_global(&params(vec![linear()]), &f, &data, &[190, 190]).unwrap();
    let input = |index| ForecastInput {
        index,
        series: &data.series()[0],
        origin: 190,
    };
    assert!(model.forecast(&input(9), vec![1.0], &[0.5]).is_err());
    assert!(model.forecast(&input(0), vec![1.0], &[1.5]).is_err());
    assert!(model.sample_paths(&input(9), &[1.0], 10, 1).is_err());
}

#[test]
fn the_level_power_is_the_slope_of_error_against_level() {
    // Errors `c * level^p` over levels 1..=1000, for powers inside and outside [0, 1]. The slope
    // is fitted to bin means, so it is exact only for powers 0 and 1.
    let pairs = |power: f64| -> Vec<(f64, f64)> {
        (1..=1000)
            .map(|l| (l as f64, 3.0 * (l as f64).powf(power)))
            .collect()
    };
    for power in [0.0, 0.5, 0.8, 1.0] {
        let fitted = fit_level_power(&mut pairs(power), 0.0);
        assert!((fitted - power).abs() < 0.03, "{power}: {fitted}");
    }
    assert_eq!(fit_level_power(&mut pairs(1.7), 0.0), 1.0);
    assert_eq!(fit_level_power(&mut pairs(-0.5), 0.0), 0.0);
    // The offset is part of the law: errors `c * (level + 100)^0.5` fitted with offset 100.
    let mut offset_pairs: Vec<(f64, f64)> = (1..=1000)
        .map(|l| (l as f64, 3.0 * (l as f64 + 100.0).sqrt()))
        .collect();
    let offset = fit_level_power(&mut offset_pairs, 100.0);
    assert!((offset - 0.5).abs() < 0.03, "{offset}");
    // Too few pairs, or all at one level, or no errors: no scaling.
    assert_eq!(fit_level_power(&mut pairs(0.5)[..99].to_vec(), 0.0), 0.0);
    assert_eq!(fit_level_power(&mut vec![(5.0, 1.0); 500], 0.0), 0.0);
    assert_eq!(fit_level_power(&mut vec![(5.0, 0.0); 500], 0.0), 0.0);
}

/// Daily count series (one per entry of `sizes`, scaled by it), busy on weekdays and quiet at
/// weekends, zero on Sundays, with noise that grows with the square root of the level.
fn counts(n: usize, sizes: &[f64]) -> Panel {
    let start = TimePoint::date(NaiveDate::from_ymd_opt(2022, 1, 1).unwrap());
    let levels = [400.0, 420.0, 410.0, 430.0, 390.0, 30.0, 0.0];
    let series = sizes
        .iter()
        .enumerate()
        .map(|(s, &size)| Series {
            id: format!("counts{s}"),
            start,
            target: (0..n)
                .map(|i| {
                    let level: f64 = levels[i % 7];
                    let u = ((i + 3 * s) as f64 * 0.618_033_988_75).fract() * 2.0 - 1.0;
                    size * (level + 2.0 * level.sqrt() * u).max(0.0)
                })
                .collect(),
            exogenous: vec![],
        })
        .collect();
    Panel::new(Frequency::Days(1), vec![], series).unwrap()
}

fn count_model(data: &Panel, level_power: bool) -> FittedGlobal {
    let f = Featurizer::for_panel(
        FeatureSpec::default_for(Frequency::Days(1), &[7]),
        data,
        None,
    )
    .unwrap();
    let mut p = params(vec![linear()]);
    p.calibration.level_power = level_power;
    p.calibration.adapt = 0.0;
    let cutoffs = vec![595; data.series().len()];
    fit_global(&p, &f, data, &cutoffs).unwrap()
}

/// Series `index`'s forecast from 595 and its 80% band widths, step by step.
fn count_band(model: &FittedGlobal, data: &Panel, index: usize) -> (Vec<f64>, Vec<f64>) {
    let input = ForecastInput {
        index,
        series: &data.series()[index],
        origin: 595,
    };
    let point = model.points(&[input], 7).unwrap().remove(0);
    let forecast = model.forecast(&input, point.clone(), &[0.1, 0.9]).unwrap();
    let widths = (0..7)
        .map(|j| forecast.quantile(0.9).unwrap()[j] - forecast.quantile(0.1).unwrap()[j])
        .collect();
    (point, widths)
}

#[test]
fn a_count_series_with_zeros_gets_bands_that_follow_its_level() {
    let data = counts(600, &[1.0]);
    let scaled = count_model(&data, true);
    let plain = count_model(&data, false);
    // Steps: 595 % 7 = 0, so step j is day (595 + j) % 7 = j: steps 5 and 6 are the quiet days.
    let scaling = scaled.series[0]
        .level_scaling
        .expect("a level scaling for a series with zeros");
    assert!(scaling.power > 0.2 && scaling.power <= 1.0, "{scaling:?}");
    assert_eq!(plain.series[0].level_scaling, None);
    // The stored errors are the plain ones divided by a factor that varies with the level.
    let ratios: Vec<f64> = plain.series[0]
        .errors
        .iter()
        .zip(&scaled.series[0].errors)
        .filter(|(p, _)| p.abs() > 1e-9)
        .map(|(p, s)| p / s)
        .collect();
    assert!(!ratios.is_empty() && ratios.iter().all(|&r| r > 0.0));
    let (low, high) = ratios
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(l, h), &r| (l.min(r), h.max(r)));
    assert!(high > 2.0 * low, "{low} .. {high}");
    // The quiet day gets a narrower band; without scaling, absolute errors pooled per step give
    // it a busy day's.
    let (point, widths) = count_band(&scaled, &data, 0);
    assert!(point[5] < 100.0 && point[0] > 300.0, "{point:?}");
    assert!(widths[5] < 0.5 * widths[0], "{widths:?}");
    let (_, flat) = count_band(&plain, &data, 0);
    assert!(flat[5] > 0.8 * flat[0], "{flat:?}");
    // The scaling is stored: a model read back forecasts the same.
    let back: FittedGlobal =
        serde_json::from_str(&serde_json::to_string(&scaled).unwrap()).unwrap();
    assert_eq!(count_band(&back, &data, 0), count_band(&scaled, &data, 0));
}

#[test]
fn pooled_level_scaled_errors_follow_the_borrowing_series_level() {
    // A series without calibration errors of its own borrows every series' errors; level-scaled
    // ones must be scaled back at its own level, or its quiet days get its busy days' bands.
    let data = counts(600, &[1.0, 10.0]);
    let mut model = count_model(&data, true);
    assert!(model.series.iter().all(|s| s.level_scaling.is_some()));
    model.series[1].errors.clear();
    model.series[1].error_weights.clear();
    model.series[1].level_scaling = None;
    let (point, widths) = count_band(&model, &data, 1);
    assert!(point[5] < 1000.0 && point[0] > 3000.0, "{point:?}");
    assert!(widths[5] < 0.5 * widths[0], "{widths:?}");
}

#[test]
fn refits_inside_the_span_forecast_later_origins_and_never_earlier_ones() {
    // The response changes where the calibration span starts (cutoff 300, span 70): the one
    // fit before the span never sees the new regime, a second fit halfway through it does.
    let cutoff = 300;
    let change = cutoff - 70;
    let data = daily_panel(400, |i, temp| {
        let effect = if i < change { 2.0 } else { 6.0 };
        effect * temp
    });
    let f = featurizer(&data);
    let fit = |refits: usize| {
        let mut p = params(vec![linear()]);
        p.calibration = CalibrationSpec {
            half_life: 0,
            relative: false,
            adapt: 0.0,
            level_power: false,
            refits,
            ..p.calibration
        };
        fit_global(&p, &f, &data, &[cutoff, cutoff]).unwrap()
    };
    let (one, two) = (fit(1), fit(2));
    let mae = |e: &[f64]| e.iter().map(|v| v.abs()).sum::<f64>() / e.len() as f64;
    for (a, b) in one.series.iter().zip(&two.series) {
        // Trajectories are stored latest origin first. Origins before the second fit's cutoff
        // (cutoff - 35) keep the first fit's forecasts exactly: the second fit, which read data
        // after them, never forecasts them. The later ones are the second fit's.
        let h = one.horizon;
        let differing = a
            .errors
            .chunks_exact(h)
            .zip(b.errors.chunks_exact(h))
            .take_while(|(x, y)| x != y)
            .count();
        let n = a.errors.len() / h;
        // Origins every other step from cutoff - 7 back: cutoff - 7 - 2r >= cutoff - 35.
        assert_eq!(differing, 15, "{} of {n} trajectories changed", differing);
        assert_eq!(a.errors[differing * h..], b.errors[differing * h..]);
        // ...and, having seen the new regime, err less.
        let (late_one, late_two) = (
            mae(&a.errors[..differing * h]),
            mae(&b.errors[..differing * h]),
        );
        assert!(late_two < 0.5 * late_one, "{late_two} vs {late_one}");
    }
    // The final fit is the same either way.
    assert_eq!(one.members, two.members);
}

/// Two positive daily series whose noise is large on Thursdays (day `i` with `(i + 2) % 7 == 0`
/// of a start on Saturday 2022-01-01: phase 0, the epoch's weekday) and small on other days.
fn noisy_weekday(n: usize) -> Panel {
    daily_panel(n, |i, temp| {
        let u = (i as f64 * 0.618_033_988_75).fract() * 2.0 - 1.0;
        let size = if (i + 2) % 7 == 0 { 60.0 } else { 3.0 };
        0.5 * temp + size * u
    })
}

fn phase_model(data: &Panel, period: usize) -> FittedGlobal {
    let mut p = params(vec![linear()]);
    p.calibration.phase_period = period;
    p.calibration.span = 280;
    p.calibration.max_origins = 273;
    p.calibration.adapt = 0.0;
    fit_global(&p, &featurizer(data), data, &[595, 595]).unwrap()
}

#[test]
fn a_phase_profile_recovers_how_error_size_varies_over_the_cycle() {
    // Errors of size 1 at phases 0..3 and 3 at phase 3, in trajectories of 2 steps whose origins
    // cover every phase; step 2's errors are twice step 1's, which the profile must not read as
    // a phase effect.
    let period = 4;
    let (mut errors, mut phases) = (Vec::new(), Vec::new());
    for r in 0..200 {
        let phase = r % period;
        let sign = if (r / period) % 2 == 0 { 1.0 } else { -1.0 };
        for j in 0..2 {
            let size = if (phase + j) % period == 3 { 3.0 } else { 1.0 };
            errors.push(sign * size * (j + 1) as f64);
        }
        phases.push(phase);
    }
    let profile = phase_profile(&errors, &phases, &[], 2, period).unwrap();
    // Relative sizes 1 : 1 : 1 : 3, with mean 1.
    let expected = [2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 2.0];
    for (p, e) in profile.iter().zip(expected) {
        assert!((p - e).abs() < 1e-9, "{profile:?}");
    }
    // Too few errors per phase, or none positive: no profile.
    assert!(phase_profile(&errors[..20], &phases[..10], &[], 2, period).is_none());
    assert!(phase_profile(&vec![0.0; 400], &phases, &[], 2, period).is_none());
    assert!(phase_profile(&errors, &phases, &[], 2, 1).is_none());
    // A phase with no error at all is floored, not zero.
    let quiet: Vec<f64> = errors
        .iter()
        .enumerate()
        .map(|(i, &e)| {
            if (phases[i / 2] + i % 2) % period == 1 {
                0.0
            } else {
                e
            }
        })
        .collect();
    let floored = phase_profile(&quiet, &phases, &[], 2, period).unwrap();
    assert_eq!(floored[1], phase::MIN_PHASE_SCALE);
}

#[test]
fn a_noisy_weekday_gets_a_wide_band_and_the_quiet_days_narrow_ones() {
    let data = noisy_weekday(600);
    let profiled = phase_model(&data, 7);
    let pooled = phase_model(&data, 0);
    let series = &profiled.series[0];
    assert_eq!(series.phase_scale.len(), 7);
    assert!(pooled.series[0].phase_scale.is_empty());
    // The forecast from 595 starts on day 595 of a series starting on a Saturday (2022-01-01,
    // two days after the epoch's Thursday): phase (2 + 595) % 7 = 2, and the noisy days are
    // those with (i + 2) % 7 == 0, i.e. phase 0, reached at step 5.
    assert_eq!(series.cutoff_phase, 2);
    let noisy = series.phase_scale[0];
    // The noisy day's errors also spill into the next days through lags and rolling windows, so
    // the other entries are not all equal; none comes near the noisy day's.
    assert!(
        series.phase_scale[1..].iter().all(|&q| noisy > 1.7 * q),
        "{:?}",
        series.phase_scale
    );
    let band = |model: &FittedGlobal| count_band(model, &data, 0).1;
    let widths = band(&profiled);
    let quiet = [0, 1, 2, 3, 4, 6];
    for j in quiet {
        assert!(widths[5] > 1.8 * widths[j], "{widths:?}");
    }
    // Pooled over origins at every weekday, each step's band mixes the noisy day in: about the
    // same width at every step, too narrow for the noisy day and too wide for the others.
    let flat = band(&pooled);
    for j in quiet {
        assert!(flat[5] < 1.5 * flat[j], "{flat:?}");
    }
    assert!(widths[5] > 2.0 * flat[5], "{widths:?} against {flat:?}");
    let mean = |w: &[f64]| quiet.iter().map(|&j| w[j]).sum::<f64>() / quiet.len() as f64;
    assert!(mean(&widths) < mean(&flat), "{widths:?} against {flat:?}");
    // The profile is stored: a model read back gives the same bands.
    let back: FittedGlobal =
        serde_json::from_str(&serde_json::to_string(&profiled).unwrap()).unwrap();
    assert_eq!(band(&back), widths);
}

/// Candidate layouts for `data`: the daily defaults, and the same with the future-known column
/// averaged over the last week.
fn layouts(data: &Panel) -> Vec<Featurizer> {
    let plain = FeatureSpec::default_for(Frequency::Days(1), &[7]);
    let windowed = FeatureSpec {
        known_windows: vec![7],
        ..plain.clone()
    };
    [plain, windowed]
        .into_iter()
        .map(|spec| Featurizer::for_panel(spec, data, None).unwrap())
        .collect()
}

/// A deterministic pseudo-random sequence in [0, 1) (xorshift), for data without hidden structure.
fn uniforms(seed: u64, n: usize) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// Two daily series with a random future-known `temp`, whose target is `effect(temp, i)` on top of
/// a level, a weekly pattern and independent noise.
fn temp_panel(effect: impl Fn(&[f64], usize) -> f64) -> Panel {
    temp_series_panel(
        |s| {
            uniforms(1 + s as u64, 400)
                .iter()
                .map(|u| 30.0 * u)
                .collect()
        },
        |s, temp| {
            let noise = uniforms(10 + s as u64, 400);
            (0..400)
                .map(|i| {
                    100.0 * (s + 1) as f64
                        + 10.0 * (i % 7) as f64
                        + effect(temp, i)
                        + 4.0 * noise[i]
                })
                .collect()
        },
    )
}

#[test]
fn a_window_over_a_future_known_column_lets_a_global_model_follow_the_weeks_weather() {
    // Demand that follows the week's mean temperature: only the windowed layout sees it, and a
    // model fitted with it forecasts the unseen 100 days better.
    let weekly = temp_panel(|temp, i| {
        let from = i.saturating_sub(6);
        8.0 * temp[from..=i].iter().sum::<f64>() / (i - from + 1) as f64
    });
    let p = params(vec![linear()]);
    let error = |featurizer: &Featurizer, data: &Panel| {
        let model = fit_global(&p, featurizer, data, &[300, 300]).unwrap();
        let mut total = 0.0;
        for (index, series) in data.series().iter().enumerate() {
            for origin in (300..393).step_by(7) {
                let input = ForecastInput {
                    index,
                    series,
                    origin,
                };
                let point = model.points(&[input], 7).unwrap().remove(0);
                for (z, y) in point.iter().zip(&series.target[origin..origin + 7]) {
                    total += (z - y).abs();
                }
            }
        }
        total
    };
    let [plain, windowed] = <[Featurizer; 2]>::try_from(layouts(&weekly)).unwrap();
    let (without, with) = (error(&plain, &weekly), error(&windowed, &weekly));
    assert!(with < 0.6 * without, "{with} against {without}");
    // Demand the temperature does not move: the window neither helps nor does much harm.
    let unmoved = temp_panel(|_, _| 0.0);
    let (without, with) = (error(&plain, &unmoved), error(&windowed, &unmoved));
    assert!(with < 1.1 * without, "{with} against {without}");
}

#[test]
fn combination_weights_find_the_blend_that_cancels_opposite_biases() {
    // Member 0 forecasts 3 too high and member 1 forecasts 1 too low at every step: the blend
    // 0.25 / 0.75 has no error at all, and a grid of tenths would stop at 0.2 or 0.3.
    let horizon = 4;
    let actual: Vec<f64> = (0..3 * horizon).map(|i| (i % 5) as f64).collect();
    let member_paths = vec![
        actual.iter().map(|y| y + 3.0).collect::<Vec<f64>>(),
        actual.iter().map(|y| y - 1.0).collect(),
    ];
    let rows = [0, 1, 2];
    let mae: Vec<f64> = (0..2)
        .map(|m| mean_abs_error(&rows, &member_paths, m, &actual, horizon, &[]))
        .collect();
    assert_eq!(mae, vec![3.0, 1.0]);
    let weights = choose_weights(&rows, &member_paths, &actual, horizon, &mae);
    assert_eq!(weights, vec![0.25, 0.75]);
    let blended = mean_abs_error(&rows, &member_paths, 0, &actual, horizon, &weights);
    assert!(blended < 1e-12, "{blended}");
}

/// Two positive daily series, `temp` effect plus noise that is large on days whose `temp` is 12
/// or more (five of its seventeen values) and small on the others. No weekly pattern: lags would
/// carry a hot day's noise into the next week's forecasts.
fn noisy_when_hot(n: usize) -> Panel {
    temp_series_panel(
        |s| (0..n).map(|i| ((i * 13 + s * 5) % 17) as f64).collect(),
        |s, temp| {
            (0..n)
                .map(|i| {
                    let u = (i as f64 * 0.618_033_988_75).fract() * 2.0 - 1.0;
                    let size = if temp[i] >= 12.0 { 12.0 } else { 2.0 };
                    100.0 * (s + 1) as f64 + 2.0 * temp[i] + size * u
                })
                .collect()
        },
    )
}

/// The 80% band widths of series 0's forecast from 595, and the temp of each step.
fn band_and_temp(model: &FittedGlobal, data: &Panel) -> (Vec<f64>, Vec<f64>) {
    let (_, widths) = count_band(model, data, 0);
    (widths, data.series()[0].exogenous[0][595..602].to_vec())
}

#[test]
fn a_condition_profile_widens_the_band_of_steps_whose_future_value_brought_large_errors() {
    let data = noisy_when_hot(610);
    let fit = |condition| {
        let mut p = params(vec![linear()]);
        p.calibration.condition = condition;
        p.calibration.span = 280;
        p.calibration.max_origins = 273;
        p.calibration.adapt = 0.0;
        fit_global(&p, &featurizer(&data), &data, &[595, 595]).unwrap()
    };
    let (plain, profiled) = (fit(false), fit(true));
    assert!(plain.series.iter().all(|s| s.condition.is_none()));
    let profile = profiled.series[0].condition.as_ref().unwrap();
    assert_eq!(profile.column, 0);
    assert!(
        profile.factor(16.0) > 2.0 * profile.factor(8.0),
        "{profile:?}"
    );

    let (widths, temp) = band_and_temp(&profiled, &data);
    // Mild steps away from the coldest values, whose forecasts a line fitted to such
    // uneven noise also misses more often.
    let hot: Vec<usize> = (0..7).filter(|&j| temp[j] >= 12.0).collect();
    let mild: Vec<usize> = (0..7).filter(|&j| (2.0..12.0).contains(&temp[j])).collect();
    assert!(!hot.is_empty() && !mild.is_empty(), "{temp:?}");
    for &h in &hot {
        for &m in &mild {
            assert!(widths[h] > 1.5 * widths[m], "{widths:?} at temp {temp:?}");
        }
    }
    // Without the profile every step gets the pooled spread: no such gap.
    let (widths, _) = band_and_temp(&plain, &data);
    for &h in &hot {
        for &m in &mild {
            assert!(widths[h] < 1.2 * widths[m], "{widths:?} at temp {temp:?}");
        }
    }

    // A forecast reads the condition from the future values it is given: the same steps with
    // every temp made mild get the mild band.
    let mut cooled = data.series()[0].clone();
    for t in &mut cooled.exogenous[0][595..] {
        *t = 5.0;
    }
    let input = ForecastInput {
        index: 0,
        series: &cooled,
        origin: 595,
    };
    let point = profiled.points(&[input], 7).unwrap().remove(0);
    let forecast = profiled.forecast(&input, point, &[0.1, 0.9]).unwrap();
    for &h in &hot {
        let width = forecast.quantile(0.9).unwrap()[h] - forecast.quantile(0.1).unwrap()[h];
        assert!(width < 0.5 * widths[h], "step {h}: {width}");
    }
}
