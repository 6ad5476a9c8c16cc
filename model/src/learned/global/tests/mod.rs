use chrono::NaiveDate;

use super::calibrate;
use super::combine::{choose_weights, cross_fitted_weights, mean_abs_error, parity};
use super::forecast::{tail_quantile, weighted_quantile};
use super::level::fit_level_power;
use super::phase::phase_profile;
use super::scaling::adaptive_scale;
use super::*;
use crate::features::FeatureSpec;
use crate::forecast::Forecast;
use crate::learned::gbm::GbmParams;
use crate::learned::linear::LinearParams;
use crate::models::ModelId;
use crate::panel::{ExogenousRole, ExogenousSpec};
use crate::time::{Frequency, TimePoint};

mod scaling;
mod short;

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
        statistical: StatisticalMembers::default(),
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
fn statistical_members_join_the_combination_and_forecast_alike_from_panel_and_tails() {
    let data = panel(400);
    let f = featurizer(&data);
    let mut p = params(vec![linear()]);
    p.statistical = StatisticalMembers {
        models: vec![ModelId::Ets, ModelId::Theta, ModelId::Mstl],
        season_lengths: vec![7],
        input_size: Some(300),
    };
    let cutoff = 380;
    let model = fit_global(&p, &f, &data, &[cutoff, cutoff]).unwrap();
    assert_eq!(model.statistical, p.statistical.models);
    for known in &model.series {
        assert_eq!(known.weights.len(), 4);
        assert!((known.weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(known.weights.iter().all(|&w| w >= 0.0));
        assert_eq!(known.statistical.len(), 3);
        assert_eq!(known.calibration_mae.len(), 4);
        assert!(
            known.calibration_mae.iter().all(|m| m.is_finite()),
            "{known:?}"
        );
    }
    // Weights chosen in two blocks (the learned member, the statistical ones): each a share in
    // twentieths times a weight in twentieths within its block.
    for w in &model.series[0].weights {
        assert!((w * 400.0 - (w * 400.0).round()).abs() < 1e-9, "{w}");
    }
    // The same point forecasts from the panel at the cutoff, from later origins (members
    // absorb), and from a published model's tails.
    let published =
        crate::learned::published::PublishedGlobal::at(model.clone(), &data, &[cutoff, cutoff])
            .unwrap();
    let given = crate::learned::published::FutureValues::from([(
        "temp".to_owned(),
        data.series()[0].exogenous[0][cutoff..cutoff + 7].to_vec(),
    )]);
    let (served, _) = published.points(0, 7, &given).unwrap();
    let input = ForecastInput {
        index: 0,
        series: &data.series()[0],
        origin: cutoff,
    };
    assert_eq!(served, model.points(&[input], 7).unwrap()[0]);
    let mut later = published.clone();
    let exogenous = crate::learned::published::FutureValues::from([(
        "temp".to_owned(),
        data.series()[0].exogenous[0][cutoff..cutoff + 5].to_vec(),
    )]);
    later
        .absorb(0, &data.series()[0].target[cutoff..cutoff + 5], &exogenous)
        .unwrap();
    let given = crate::learned::published::FutureValues::from([(
        "temp".to_owned(),
        data.series()[0].exogenous[0][cutoff + 5..cutoff + 12].to_vec(),
    )]);
    let (served, _) = later.points(0, 7, &given).unwrap();
    let input = ForecastInput {
        index: 0,
        series: &data.series()[0],
        origin: cutoff + 5,
    };
    let from_panel = model.points(&[input], 7).unwrap().remove(0);
    for (a, b) in served.iter().zip(&from_panel) {
        assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b}");
    }
    // A forecast origin before the members' fit is refused.
    let early = ForecastInput {
        index: 0,
        series: &data.series()[0],
        origin: cutoff - 1,
    };
    if model.series[0].weights[1..].iter().any(|&w| w > 0.0) {
        assert!(model.points(&[early], 7).is_err());
    }
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
        // Statistical members too: their calibration forecasts absorb up to each origin only.
        p.statistical = StatisticalMembers {
            models: vec![ModelId::Ets, ModelId::Theta],
            season_lengths: vec![7],
            input_size: None,
        };
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
    assert_eq!(model.interval_source(0), IntervalSource::Own);
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
    let halves = cross_fitted_weights(&rows, &origins, &paths, &actual, horizon, &[2]).unwrap();
    // Chosen on the even half: all on member 0; on the odd half: all on member 1. An even origin's
    // error therefore uses member 1's weights (and is 1, not the 0 it would show scoring itself).
    assert_eq!(halves[0], vec![1.0, 0.0]);
    assert_eq!(halves[1], vec![0.0, 1.0]);
    assert_eq!(parity(0, horizon), 0);
    assert_eq!(parity(2, horizon), 1);
    // One member, or an empty half: nothing to cross-fit.
    assert!(cross_fitted_weights(&rows, &origins, &paths[..1], &actual, horizon, &[1]).is_none());
    assert!(cross_fitted_weights(&[0, 2], &origins, &paths, &actual, horizon, &[2]).is_none());

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
fn outer_tails_are_at_least_as_wide_as_a_normal_distributions() {
    let z = |p: f64| crate::forecast::standard_normal_quantile(p);
    // Forty evenly spread errors on [-1, 1]: a uniform distribution, lighter-tailed than normal.
    let uniform: Vec<(f64, f64)> = (0..40)
        .map(|i| (-1.0 + 2.0 * (i as f64 + 0.5) / 40.0, 1.0))
        .collect();
    // Inside the central 80% the empirical quantile stands.
    for p in [0.1, 0.25, 0.5, 0.75, 0.9] {
        assert_eq!(tail_quantile(&uniform, p), weighted_quantile(&uniform, p));
    }
    // Outside it the tail reaches as far beyond the 90% quantile as a normal's would: past
    // every error, where the empirical quantile stops at the largest.
    let q90 = weighted_quantile(&uniform, 0.9);
    let q975 = tail_quantile(&uniform, 0.975);
    assert!((q975 - q90 * z(0.975) / z(0.9)).abs() < 1e-12, "{q975}");
    assert!(q975 > weighted_quantile(&uniform, 0.975) + 0.25, "{q975}");
    let q025 = tail_quantile(&uniform, 0.025);
    assert!(
        (q025 + q975).abs() < 1e-12,
        "symmetric errors, symmetric tails: {q025}"
    );
    // A tail heavier than normal keeps its own quantile: one error of 30 among the forty.
    let mut heavy = uniform.clone();
    heavy[39].0 = 30.0;
    assert_eq!(tail_quantile(&heavy, 0.99), weighted_quantile(&heavy, 0.99));
    assert!(tail_quantile(&heavy, 0.99) > 10.0);
    // The quantiles stay in order across the boundary of the central 80%.
    let ps = [0.025, 0.05, 0.075, 0.1, 0.5, 0.9, 0.925, 0.95, 0.975];
    let qs: Vec<f64> = ps.iter().map(|&p| tail_quantile(&uniform, p)).collect();
    assert!(qs.windows(2).all(|w| w[0] <= w[1]), "{qs:?}");
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
fn calibration_fits_sit_on_a_grid_fixed_in_time_and_every_origin_has_one_shortly_before_it() {
    // Two series starting 10 days apart, so their positions differ at the same date.
    let mut data = panel(400);
    let early = data.series()[0].clone();
    let late = Series {
        id: "late".into(),
        start: TimePoint::date(NaiveDate::from_ymd_opt(2022, 1, 11).unwrap()),
        target: early.target[10..].to_vec(),
        exogenous: early.exogenous.iter().map(|c| c[10..].to_vec()).collect(),
    };
    data = Panel::new(
        data.frequency(),
        data.exogenous().to_vec(),
        vec![early, late],
    )
    .unwrap();
    let (span, refits, grid) = (70, 2, 35);
    let folds_at = |cutoff: usize| {
        // The same date for both series.
        let cutoffs = [cutoff, cutoff - 10];
        let spans = calibrate::spans(&cutoffs, span, 20, 7);
        calibrate::fold_cutoffs(data.series(), data.frequency(), &cutoffs, &spans, refits)
    };
    for cutoff in 300..340 {
        let folds = folds_at(cutoff);
        assert_eq!(folds.len(), refits + 1);
        for (f, fold) in folds.iter().enumerate() {
            // Every series' fit of a fold is at one date, on the grid counted from the epoch.
            assert_eq!(fold[1], fold[0] - 10, "fold {f} at {cutoff}");
            let days = data
                .frequency()
                .phase(data.series()[0].start, grid)
                .unwrap();
            assert_eq!((days + fold[0]) % grid, 0, "fold {f} at {cutoff}");
            assert!(fold[0] <= cutoff);
        }
        // The first fit is at or before the span's first origin, and each origin's latest fit
        // is less than a grid step before it.
        assert!(folds[0][0] <= cutoff - span && folds[0][0] + grid > cutoff - span);
        assert!(folds.windows(2).all(|w| w[1][0] == w[0][0] + grid));
        for origin in cutoff - span..=cutoff - 7 {
            let latest = folds.iter().rev().find(|f| f[0] <= origin).unwrap()[0];
            assert!(origin - latest < grid, "origin {origin} at {cutoff}");
        }
    }
    // Cutoffs a week apart ask for the same fits: of the 4 x 3 folds of four weekly cutoffs,
    // only the grid points from before the first span to the last cutoff are distinct.
    let mut distinct: Vec<Vec<usize>> = (0..4).flat_map(|k| folds_at(300 + 7 * k)).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(
        distinct.len() <= (70 + 21 + grid) / grid + 1,
        "{distinct:?}"
    );
}

#[test]
fn remembered_statistical_calibration_fits_give_the_same_model() {
    let data = panel(400);
    let f = featurizer(&data);
    let mut p = params(vec![linear()]);
    p.calibration.refits = 2;
    p.statistical = StatisticalMembers {
        models: vec![ModelId::Ets, ModelId::Theta],
        season_lengths: vec![7],
        input_size: None,
    };
    let windows: Vec<Vec<usize>> = (0..4).map(|k| vec![330 + 7 * k; 2]).collect();
    let memo = FitMemo::new();
    prepare(&p, &f, &data, &windows, &memo).unwrap();
    // Two members on two series at the grid points of four windows: a span of 70 with fits
    // every 35, 21 steps between the first and last cutoffs, so at most four grid points.
    let statistical = memo.statistical_len();
    assert!(
        (2 * 2 * 2..=2 * 2 * 4).contains(&statistical),
        "{statistical}"
    );
    for cutoffs in &windows {
        let plain = fit_global(&p, &f, &data, cutoffs).unwrap();
        let kept = fit_global_with(&p, &f, &data, cutoffs, Some(&memo)).unwrap();
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            serde_json::to_string(&kept).unwrap(),
            "{cutoffs:?}"
        );
    }
    assert_eq!(
        memo.statistical_len(),
        statistical,
        "every fit found them made"
    );
}

#[test]
fn fits_after_a_change_of_regime_forecast_the_origins_after_them() {
    // The response to temp changes where the calibration span starts (cutoff 300, span 70).
    // Origins forecast by a fit from before the change err as the old regime does; those forecast
    // by a fit that saw some of the new regime err much less.
    let cutoff = 300;
    let change = cutoff - 70;
    let data = daily_panel(400, |i, temp| {
        let effect = if i < change { 2.0 } else { 6.0 };
        effect * temp
    });
    let f = featurizer(&data);
    let mut p = params(vec![linear()]);
    p.calibration = CalibrationSpec {
        half_life: 0,
        relative: false,
        adapt: 0.0,
        level_power: false,
        refits: 2,
        ..p.calibration
    };
    let shared = fit_shared(&p, &f, &data, &[cutoff, cutoff], None).unwrap();
    let after: Vec<bool> = shared
        .origin_fold
        .iter()
        .map(|&fold| shared.folds[fold][0] >= change + 14)
        .collect();
    assert!(after.iter().any(|&a| a) && after.iter().any(|&a| !a));
    let fit = fit_global(&p, &f, &data, &[cutoff, cutoff]).unwrap();
    let mae = |e: &[f64]| e.iter().map(|v| v.abs()).sum::<f64>() / e.len() as f64;
    let h = fit.horizon;
    for (s, series) in fit.series.iter().enumerate() {
        // Trajectories are stored per series in the order of the shared origins.
        let flags: Vec<bool> = shared
            .origins
            .iter()
            .zip(&after)
            .filter(|((series, _), _)| *series == s)
            .map(|(_, &a)| a)
            .collect();
        let pick = |want: bool| -> Vec<f64> {
            series
                .errors
                .chunks_exact(h)
                .zip(&flags)
                .filter(|(_, a)| **a == want)
                .flat_map(|(e, _)| e.iter().copied())
                .collect()
        };
        let (late, early) = (mae(&pick(true)), mae(&pick(false)));
        assert!(late < 0.5 * early, "series {s}: {late} vs {early}");
    }
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
    let weights = choose_weights(&rows, &member_paths, &actual, horizon, &[2]);
    assert_eq!(weights, vec![0.25, 0.75]);
    let blended = mean_abs_error(&rows, &member_paths, 0, &actual, horizon, &weights);
    assert!(blended < 1e-12, "{blended}");
}

#[test]
fn a_block_of_members_that_does_not_help_leaves_the_other_blocks_combination_unchanged() {
    // Block one: the opposite biases of the test above, whose 0.25 / 0.75 blend is exact. Block
    // two: three members off by 2, 5 and -4 at every step, none of which can improve on an exact
    // blend. Chosen by blocks, the weights are block one's alone, with share 0 for block two.
    let horizon = 3;
    let actual: Vec<f64> = (0..4 * horizon).map(|i| (i % 7) as f64).collect();
    let shifted = |d: f64| actual.iter().map(|y| y + d).collect::<Vec<f64>>();
    let member_paths = vec![
        shifted(3.0),
        shifted(-1.0),
        shifted(2.0),
        shifted(5.0),
        shifted(-4.0),
    ];
    let rows = [0, 1, 2, 3];
    let alone = choose_weights(&rows, &member_paths[..2], &actual, horizon, &[2]);
    let blocks = choose_weights(&rows, &member_paths, &actual, horizon, &[2, 3]);
    assert_eq!(blocks[..2], alone[..]);
    assert_eq!(blocks[2..], [0.0, 0.0, 0.0]);
    // (Block two has no exact blend on the grid: 2a + 5b = 4c with a + b + c = 20 has no
    // solution in whole twentieths.)
    let mae = mean_abs_error(&rows, &member_paths, 0, &actual, horizon, &blocks);
    assert!(mae < 1e-12, "{mae}");
    // An empty block is no block: the choice is the flat one.
    let flat = choose_weights(&rows, &member_paths[..2], &actual, horizon, &[2, 0]);
    assert_eq!(flat, alone);
}

/// Two monthly series growing steadily with a yearly pattern.
fn trending_monthly_panel(n: usize) -> Panel {
    let start = TimePoint::date(NaiveDate::from_ymd_opt(2000, 1, 1).unwrap());
    let series = (0..2)
        .map(|s| Series {
            id: format!("m{s}"),
            start,
            target: (0..n)
                .map(|i| {
                    let season = (2.0 * std::f64::consts::PI * (i % 12) as f64 / 12.0).sin();
                    100.0 * (s + 1) as f64 + 2.0 * i as f64 + 10.0 * season
                })
                .collect(),
            exogenous: vec![],
        })
        .collect();
    Panel::new(Frequency::Months(1), vec![], series).unwrap()
}

#[test]
fn trees_of_changes_carry_a_trend_past_the_levels_they_were_trained_on() {
    let data = trending_monthly_panel(240);
    let cutoff = 230;
    let mae_of = |difference: bool| {
        let spec = FeatureSpec {
            difference,
            ..FeatureSpec::default_for(Frequency::Months(1), &[12])
        };
        let f = Featurizer::for_panel(spec, &data, None).unwrap();
        let model = fit_global(&params(vec![small_gbm()]), &f, &data, &[cutoff, cutoff]).unwrap();
        let mut total = 0.0;
        for (s, forecast) in forecasts(&model, &data, cutoff).iter().enumerate() {
            let series = &data.series()[s].target;
            let highest = series[..cutoff].iter().copied().fold(f64::MIN, f64::max);
            if difference {
                assert!(
                    forecast.point[6] > highest,
                    "series {s}: {} does not pass the highest level {highest}",
                    forecast.point[6]
                );
            }
            total += forecast
                .point
                .iter()
                .zip(&series[cutoff..cutoff + 7])
                .map(|(p, a)| (p - a).abs())
                .sum::<f64>()
                / 14.0;
        }
        total
    };
    let (changes, levels) = (mae_of(true), mae_of(false));
    assert!(
        changes < 0.5 * levels,
        "MAE {changes} on changes against {levels} on levels"
    );
}
