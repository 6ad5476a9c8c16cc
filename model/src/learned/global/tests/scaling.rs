//! Tests of the conformal scaling steps: level scaling, phase and condition profiles, the adaptive scale.

use super::*;

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
    // Pooled errors taken as they are would give the quiet day about the busy day's band (as
    // `a_count_series_with_zeros_gets_bands_that_follow_its_level` shows for unscaled errors).
    assert!(widths[5] < 0.6 * widths[0], "{widths:?}");
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
