use chrono::{Datelike, NaiveDate, Timelike};

use super::*;
use crate::features::FeatureSpec;
use crate::learned::gbm::GbmParams;
use crate::learned::global::tests::{panel, params};
use crate::learned::global::{
    CalibrationSpec, ConditionProfile, GlobalParams, LearnerParams, fit_global,
};
use crate::learned::linear::LinearParams;
use crate::panel::ExogenousSpec;
use crate::time::Frequency;

fn fitted(panel: &Panel) -> FittedGlobal {
    let featurizer = Featurizer::for_panel(
        FeatureSpec::default_for(Frequency::Days(1), &[7]),
        panel,
        None,
    )
    .unwrap();
    let base = params(vec![
        LearnerParams::Linear(LinearParams::default()),
        LearnerParams::Gbm(GbmParams {
            n_trees: 20,
            ..GbmParams::default()
        }),
    ]);
    let params = GlobalParams {
        calibration: CalibrationSpec {
            max_origins: 40,
            ..base.calibration
        },
        seed: 1,
        ..base
    };
    let cutoffs: Vec<usize> = panel.series().iter().map(Series::len).collect();
    fit_global(&params, &featurizer, panel, &cutoffs).unwrap()
}

fn given(panel: &Panel, series: usize, from: usize, steps: usize) -> FutureValues {
    let temp = &panel.series()[series].exogenous[0];
    FutureValues::from([("temp".to_owned(), temp[from..from + steps].to_vec())])
}

#[test]
fn a_served_forecast_equals_the_models_forecast_from_the_whole_series() {
    let full = panel(300);
    let seen = panel(280);
    let published = PublishedGlobal::new(fitted(&seen), &seen).unwrap();
    assert_eq!(
        published.tails[0].target.len(),
        published.model.featurizer.lookback()
    );
    for index in 0..2 {
        let (served, notes) = published
            .points(index, 7, &given(&full, index, 280, 7))
            .unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        let expected = published
            .model
            .points(
                &[ForecastInput {
                    index,
                    series: &full.series()[index],
                    origin: 280,
                }],
                7,
            )
            .unwrap();
        assert_eq!(served, expected[0], "series {index}");
    }
}

#[test]
fn missing_future_values_come_from_the_climatology_and_are_noted() {
    let seen = panel(280);
    let published = PublishedGlobal::new(fitted(&seen), &seen).unwrap();
    let (_, notes) = published.points(0, 7, &FutureValues::new()).unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("temp") && notes[0].contains("steps 1-7"),
        "{notes:?}"
    );
    let full = panel(300);
    let (_, notes) = published.points(0, 7, &given(&full, 0, 280, 3)).unwrap();
    assert!(notes[0].contains("steps 4-7"), "{notes:?}");
    // Given values change the forecast: temp moves the target by 2 per degree.
    let hot = FutureValues::from([("temp".to_owned(), vec![40.0; 7])]);
    let cold = FutureValues::from([("temp".to_owned(), vec![0.0; 7])]);
    let (hot, _) = published.points(0, 7, &hot).unwrap();
    let (cold, _) = published.points(0, 7, &cold).unwrap();
    assert!(hot[0] > cold[0] + 20.0, "hot {hot:?} cold {cold:?}");
}

#[test]
fn climatology_is_the_mean_of_the_same_month_weekday_and_time_of_day() {
    // Hourly values equal to the hour plus 100 on Sundays: every cell's mean is exact.
    let start = TimePoint::date(NaiveDate::from_ymd_opt(2023, 1, 1).unwrap());
    let frequency = Frequency::Hours(1);
    let n = 24 * 60;
    let value = |i: usize| {
        let t = frequency
            .advance(start, i as i64)
            .unwrap()
            .as_datetime()
            .unwrap();
        let sunday = t.weekday() == chrono::Weekday::Sun;
        f64::from(t.hour()) + if sunday { 100.0 } else { 0.0 }
    };
    let series = Series {
        id: "a".into(),
        start,
        target: vec![1.0; n],
        exogenous: vec![(0..n).map(value).collect()],
    };
    let exogenous = vec![ExogenousSpec {
        name: "x".into(),
        role: ExogenousRole::FutureKnown,
    }];
    let panel = Panel::new(frequency, exogenous, vec![series]).unwrap();
    let climatology = Climatology::of(&panel, &[n]);
    assert_eq!(climatology.key, ClimateKey::MonthWeekdaySlot { slots: 24 });
    for i in [0, 5, 30, 24 * 45 + 13] {
        let t = frequency.advance(start, i as i64);
        assert_eq!(climatology.value(0, 0, t), value(i), "step {i}");
    }
    // A month never seen falls back to the overall mean.
    let june = TimePoint::At(
        NaiveDate::from_ymd_opt(2023, 6, 5)
            .unwrap()
            .and_hms_opt(3, 0, 0)
            .unwrap(),
    );
    let overall = (0..n).map(value).sum::<f64>() / n as f64;
    assert!((climatology.value(0, 0, Some(june)) - overall).abs() < 1e-9);
}

#[test]
fn bad_future_values_are_refused_with_the_column() {
    let seen = panel(280);
    let published = PublishedGlobal::new(fitted(&seen), &seen).unwrap();
    let check = |name: &str, values: Vec<f64>| {
        published
            .check_future(&FutureValues::from([(name.to_owned(), values)]), 7)
            .unwrap_err()
    };
    let unknown = check("rain", vec![1.0]);
    assert_eq!(unknown.column(), "rain");
    assert!(unknown.to_string().contains("it reads temp"), "{unknown}");
    assert!(matches!(
        check("temp", vec![1.0; 8]),
        FutureInputError::TooLong {
            given: 8,
            horizon: 7,
            ..
        }
    ));
    assert!(matches!(
        check("temp", vec![1.0, f64::NAN]),
        FutureInputError::NotFinite { index: 1, .. }
    ));
    assert!(published.check_future(&given(&seen, 0, 0, 7), 7).is_ok());
}

#[test]
fn a_published_model_survives_json_with_undefined_values() {
    let seen = panel(280);
    let mut published = PublishedGlobal::new(fitted(&seen), &seen).unwrap();
    published.model.series[0].calibration_mae[0] = f64::NAN;
    let json = serde_json::to_string(&published).unwrap();
    let back: PublishedGlobal = serde_json::from_str(&json).unwrap();
    assert!(back.model.series[0].calibration_mae[0].is_nan());
    back.check().unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
    let (a, _) = published.points(1, 7, &FutureValues::new()).unwrap();
    let (b, _) = back.points(1, 7, &FutureValues::new()).unwrap();
    assert_eq!(a, b);
}

/// `model` with every series' errors sized by temp (column 0): half the mean below 8, twice above.
fn with_temp_profile(mut model: FittedGlobal) -> FittedGlobal {
    for s in &mut model.series {
        s.condition = Some(ConditionProfile {
            column: 0,
            edges: vec![8.0],
            scale: vec![0.5, 2.0],
        });
    }
    model
}

#[test]
fn a_served_band_reads_the_condition_profile_at_the_given_future_values() {
    let full = panel(300);
    let seen = panel(280);
    let model = with_temp_profile(fitted(&seen));
    let published = PublishedGlobal::new(model, &seen).unwrap();
    published.check().unwrap();
    let served = published
        .forecast(0, 7, &[0.1, 0.9], &given(&full, 0, 280, 7))
        .unwrap()
        .forecast;
    let input = ForecastInput {
        index: 0,
        series: &full.series()[0],
        origin: 280,
    };
    let point = published.model.points(&[input], 7).unwrap().remove(0);
    assert_eq!(
        served,
        published
            .model
            .forecast(&input, point, &[0.1, 0.9])
            .unwrap()
    );
    // Relative errors scale with the point, so the band relative to the point is four times as
    // wide at every step when every given temp falls in the upper bin.
    let relative_widths = |temp: f64| {
        let given = FutureValues::from([("temp".to_owned(), vec![temp; 7])]);
        let f = published
            .forecast(0, 7, &[0.1, 0.9], &given)
            .unwrap()
            .forecast;
        let (low, high) = (f.quantile(0.1).unwrap(), f.quantile(0.9).unwrap());
        (0..7)
            .map(|j| (high[j] - low[j]) / f.point[j])
            .collect::<Vec<f64>>()
    };
    let (cold, hot) = (relative_widths(0.0), relative_widths(16.0));
    for j in 0..7 {
        assert!(cold[j] > 0.0);
        assert!(
            (hot[j] / cold[j] - 4.0).abs() < 1e-9,
            "step {j}: {hot:?} {cold:?}"
        );
    }
}

#[test]
fn steps_whose_future_value_came_from_the_climatology_get_the_mean_error_size() {
    let seen = panel(280);
    let plain = fitted(&seen);
    let profiled = with_temp_profile(plain.clone());
    let plain = PublishedGlobal::new(plain, &seen).unwrap();
    let profiled = PublishedGlobal::new(profiled, &seen).unwrap();
    // The first three steps' temp is given (hot), the other four come from the climatology.
    let given = FutureValues::from([("temp".to_owned(), vec![16.0; 3])]);
    let forecast = |model: &PublishedGlobal| {
        let served = model.forecast(0, 7, &[0.1, 0.9], &given).unwrap();
        assert!(served.notes[0].contains("steps 4-7"), "{:?}", served.notes);
        served.forecast
    };
    let (with, without) = (forecast(&profiled), forecast(&plain));
    assert_eq!(with.point, without.point);
    let width = |f: &Forecast, j: usize| f.quantile(0.9).unwrap()[j] - f.quantile(0.1).unwrap()[j];
    for j in 0..3 {
        assert!(
            (width(&with, j) / width(&without, j) - 2.0).abs() < 1e-9,
            "step {j}"
        );
    }
    // A climatology mean is not a forecast of the weather: no bin's size, the mean of all.
    for j in 3..7 {
        assert!(
            (width(&with, j) - width(&without, j)).abs() < 1e-9,
            "step {j}"
        );
    }
    let paths = |model: &PublishedGlobal| model.sample_paths(0, 7, 200, 5, &given).unwrap();
    let (with, without) = (paths(&profiled), paths(&plain));
    for p in [0.1, 0.9] {
        let (a, b) = (with.quantile(p), without.quantile(p));
        for j in 3..7 {
            assert!((a[j] - b[j]).abs() < 1e-9, "paths, step {j}");
        }
    }
}

#[test]
fn a_condition_profile_that_does_not_fit_the_columns_is_refused() {
    let seen = panel(280);
    let published = PublishedGlobal::new(fitted(&seen), &seen).unwrap();
    for (column, edges, scale) in [
        (1, vec![8.0], vec![0.5, 2.0]),
        (0, vec![8.0], vec![0.5]),
        (0, vec![8.0], vec![0.5, f64::NAN]),
    ] {
        let mut bad = published.clone();
        bad.model.series[1].condition = Some(ConditionProfile {
            column,
            edges,
            scale,
        });
        let message = bad.check().unwrap_err().to_string();
        assert!(
            message.contains("condition profile of series \"s1\""),
            "{message}"
        );
    }
}

#[test]
fn absorbing_the_rest_forecasts_as_the_fitted_model_on_the_whole_series() {
    let full = panel(300);
    let seen = panel(280);
    // A weekly phase profile, so that the phase its forecasts start at matters.
    let featurizer = Featurizer::for_panel(
        FeatureSpec::default_for(Frequency::Days(1), &[7]),
        &seen,
        None,
    )
    .unwrap();
    let base = params(vec![LearnerParams::Linear(LinearParams::default())]);
    let params = GlobalParams {
        calibration: CalibrationSpec {
            max_origins: 40,
            phase_period: 7,
            ..base.calibration
        },
        ..base
    };
    let model = fit_global(&params, &featurizer, &seen, &[280, 280]).unwrap();
    assert!(model.series.iter().all(|s| s.phase_scale.len() == 7));
    let cut = PublishedGlobal::new(model.clone(), &seen).unwrap();

    let mut absorbed = cut.clone();
    let observed = |s: usize, from: usize, to: usize| {
        (
            full.series()[s].target[from..to].to_vec(),
            FutureValues::from([(
                "temp".to_owned(),
                full.series()[s].exogenous[0][from..to].to_vec(),
            )]),
        )
    };
    for (s, from, to) in [(0, 280, 290), (1, 280, 283), (1, 283, 290)] {
        let (target, exogenous) = observed(s, from, to);
        absorbed.absorb(s, &target, &exogenous).unwrap();
    }

    // The same fitted model published at the later cutoffs of the whole series, with the
    // climatology of its training data (a parameter, kept).
    let mut whole = PublishedGlobal::at(model, &full, &[290, 290]).unwrap();
    whole.climatology = cut.climatology.clone();
    // As JSON: the climatology's empty cells are NaN, which is not equal to itself.
    let json = |p: &PublishedGlobal| serde_json::to_string(p).unwrap();
    assert!(
        json(&absorbed) == json(&whole),
        "the absorbed model differs"
    );
    for s in 0..2 {
        assert_eq!(absorbed.model.series[s].cutoff, 290);
        assert_eq!(
            absorbed.model.series[s].cutoff_phase,
            (cut.model.series[s].cutoff_phase + 10) % 7
        );
        // And its forecast is the model's from the whole series at the new origin.
        let made = absorbed
            .forecast(s, 7, &[0.1, 0.9], &given(&full, s, 290, 7))
            .unwrap();
        let point = absorbed
            .model
            .points(
                &[ForecastInput {
                    index: s,
                    series: &full.series()[s],
                    origin: 290,
                }],
                7,
            )
            .unwrap();
        assert_eq!(made.forecast.point, point[0]);
    }

    // Bad observations are refused, naming what is wrong, and change nothing.
    let before = absorbed.clone();
    let (target, mut exogenous) = observed(0, 290, 292);
    assert_eq!(
        absorbed.absorb(0, &target, &FutureValues::new()),
        Err(ModelError::MissingColumn {
            column: "temp".into()
        })
    );
    exogenous.insert("rain".into(), vec![0.0, 0.0]);
    assert!(matches!(
        absorbed.absorb(0, &target, &exogenous),
        Err(ModelError::UnknownColumn { .. })
    ));
    assert_eq!(
        absorbed.absorb(0, &[1.0, f64::NAN], &observed(0, 290, 292).1),
        Err(ModelError::NonFinite(1))
    );
    assert!(matches!(
        absorbed.absorb(0, &target[..1], &observed(0, 290, 292).1),
        Err(ModelError::ShapeMismatch { .. })
    ));
    assert_eq!(
        absorbed.absorb(2, &target, &observed(0, 290, 292).1),
        Err(ModelError::NoSeriesAt { index: 2, len: 2 })
    );
    assert!(
        json(&absorbed) == json(&before),
        "a refused absorb changed the model"
    );
}
