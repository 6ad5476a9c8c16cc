use super::*;
use crate::learned::global::tests::panel;
use crate::models::Predict;

fn recipe(horizon: usize) -> Recipe {
    Recipe {
        season_lengths: vec![7],
        horizon,
        input_size: None,
        holidays: None,
    }
}

fn forecaster(model: ModelId) -> Forecaster {
    ForecasterParams::new(model, recipe(7)).check().unwrap()
}

#[test]
fn parameters_are_checked_before_any_work_naming_the_bad_one() {
    let bad = ForecasterParams::new(ModelId::Ets, recipe(0))
        .check()
        .unwrap_err();
    assert!(
        matches!(
            bad,
            ModelError::BadParameter {
                name: "horizon",
                ..
            }
        ),
        "{bad}"
    );
    let mut zero_season = recipe(7);
    zero_season.season_lengths = vec![7, 0];
    let bad = ForecasterParams::new(ModelId::Gbm, zero_season)
        .check()
        .unwrap_err();
    assert!(bad.to_string().contains("season_lengths"), "{bad}");
    let wrong = forecaster(ModelId::Snaive)
        .fit(&panel(100), &[90])
        .unwrap_err();
    assert_eq!(
        wrong,
        ModelError::ShapeMismatch {
            what: "cutoffs, one per series of the panel",
            expected: 2,
            got: 1
        }
    );
}

#[test]
fn a_statistical_forecaster_is_each_series_own_model_up_to_its_cutoff() {
    let panel = panel(200);
    let cutoffs = [180, 170];
    let context = SeriesContext {
        season_lengths: vec![7],
    };
    let mut capped = recipe(7);
    capped.input_size = Some(100);
    for (input_size, params) in [
        (None, forecaster(ModelId::Ets)),
        (
            Some(100),
            ForecasterParams::new(ModelId::Ets, capped).check().unwrap(),
        ),
    ] {
        let fitted = params.fit(&panel, &cutoffs).unwrap();
        assert_eq!(fitted.len(), 2);
        for (s, &cutoff) in cutoffs.iter().enumerate() {
            let first = input_size.map_or(0, |n: usize| cutoff - n);
            let target = &panel.series()[s].target[first..cutoff];
            let direct = crate::models::fit_model(ModelId::Ets, &context, target).unwrap();
            let made = fitted.forecast(s, 7, &[0.1, 0.9], None).unwrap();
            assert_eq!(made.forecast, direct.model.predict(7, &[0.1, 0.9]).unwrap());
            assert!(made.notes.is_empty());
            assert_eq!(
                fitted.sample_paths(s, 7, 20, 3, None).unwrap(),
                direct.model.sample_paths(7, 20, 3).unwrap()
            );
        }
        let given = FutureValues::from([("temp".to_owned(), vec![1.0; 7])]);
        let noted = fitted.forecast(0, 7, &[0.5], Some(&given)).unwrap();
        assert!(noted.notes[0].contains("ignored"), "{:?}", noted.notes);
        assert!(matches!(
            fitted.forecast(2, 7, &[0.5], None),
            Err(ModelError::NoSeriesAt { index: 2, len: 2 })
        ));
    }
}

#[test]
fn a_learned_forecaster_serves_what_its_backtest_forecasts() {
    let panel = panel(300);
    let cutoffs = [280, 273];
    let fitted = forecaster(ModelId::Linear).fit(&panel, &cutoffs).unwrap();
    assert!(fitted.reads_future());
    let probabilities = [0.1, 0.5, 0.9];
    let backtest = fitted.forecast_in(&panel, 7, &probabilities).unwrap();
    // Serialized as the registry stores it, then served from the cutoff with the known values.
    // (Compared as JSON: empty climatology cells are NaN, which is never equal to itself.)
    let json = serde_json::to_string(&fitted).unwrap();
    let stored: FittedForecaster = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&stored).unwrap(), json);
    for (s, &cutoff) in cutoffs.iter().enumerate() {
        let temp = &panel.series()[s].exogenous[0][cutoff..cutoff + 7];
        let given = FutureValues::from([("temp".to_owned(), temp.to_vec())]);
        let served = stored.forecast(s, 7, &probabilities, Some(&given)).unwrap();
        assert!(served.notes.is_empty(), "{:?}", served.notes);
        assert_eq!(served.forecast, backtest[s], "series {s}");
        assert_eq!(stored.requested(s), Some(ModelId::Linear));
    }
    let unknown = FutureValues::from([("rain".to_owned(), vec![0.0])]);
    assert!(fitted.check_future(&unknown, 7).is_err());
}

#[test]
fn fitting_for_some_series_keeps_those_of_a_per_series_model_and_all_of_a_global_one() {
    let panel = panel(300);
    let wanted = [false, true];
    let ets = forecaster(ModelId::Ets)
        .fit_for(&panel, &[300, 300], &wanted)
        .unwrap();
    assert_eq!(ets.len(), 1);
    assert_eq!(ets.series_id(0), Some("s1"));
    assert_eq!(ets.requested(0), Some(ModelId::Ets));
    let linear = forecaster(ModelId::Linear)
        .fit_for(&panel, &[300, 300], &wanted)
        .unwrap();
    assert_eq!(linear.len(), 2, "a global model learns from every series");
    assert!(ets.check().is_ok() && linear.check().is_ok());
}

#[test]
fn tsb_goes_through_the_same_interface_as_every_model() {
    let panel = panel(100);
    let fitted = forecaster(ModelId::Tsb).fit(&panel, &[100, 90]).unwrap();
    let made = fitted.forecast(1, 7, &[0.1, 0.9], None).unwrap();
    assert_eq!(made.forecast.point.len(), 7);
    assert_eq!(fitted.fallback(1), None);
}

/// Through the one interface, every model takes in the rest of a series and forecasts from its
/// end: what it says equals the same fitted forecaster given the whole series (for per-series
/// models, the model moved on by the model's own absorb, checked per model in `models/`; for
/// learned ones, the same model published at the later cutoff).
#[test]
fn every_model_absorbs_the_rest_of_a_series_through_the_one_interface() {
    let full = panel(227);
    let (cut, end) = ([200, 200], [220, 220]);
    for model in [
        ModelId::Snaive,
        ModelId::Ets,
        ModelId::Mstl,
        ModelId::Theta,
        ModelId::Tsb,
        ModelId::Linear,
        ModelId::Auto,
    ] {
        let fitted = forecaster(model).fit(&full, &cut).unwrap();
        let mut absorbed = fitted.clone();
        let columns = absorbed
            .observed_columns()
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>();
        for s in 0..2 {
            let series = &full.series()[s];
            let exogenous: FutureValues = columns
                .iter()
                .map(|name| {
                    let c = full
                        .exogenous()
                        .iter()
                        .position(|e| &e.name == name)
                        .unwrap();
                    (name.clone(), series.exogenous[c][200..220].to_vec())
                })
                .collect();
            absorbed
                .absorb(s, &series.target[200..220], &exogenous)
                .unwrap();
        }
        let given = |s: usize| {
            FutureValues::from([(
                "temp".to_owned(),
                full.series()[s].exogenous[0][220..227].to_vec(),
            )])
        };
        let reference = if model.is_learned() {
            // The same fitted model read from the longer panel at the later cutoff.
            let mut moved = fitted.clone();
            if let Family::Learned(published) = &mut moved.family {
                let mut whole = PublishedGlobal::at(published.model.clone(), &full, &end).unwrap();
                whole.climatology = published.climatology.clone();
                **published = whole;
            }
            moved
        } else {
            let mut moved = fitted.clone();
            if let Family::Statistical(panel) = &mut moved.family {
                for s in 0..2 {
                    let mut model = panel.fitted(s).unwrap().model.clone();
                    model.absorb(&full.series()[s].target[200..220]).unwrap();
                    panel.replace(s, model);
                }
            }
            moved
        };
        for s in 0..2 {
            let a = absorbed
                .forecast(s, 7, &[0.1, 0.9], Some(&given(s)))
                .unwrap();
            let b = reference
                .forecast(s, 7, &[0.1, 0.9], Some(&given(s)))
                .unwrap();
            assert_eq!(a.forecast, b.forecast, "{model} series {s}");
            let before = fitted.forecast(s, 7, &[0.5], Some(&given(s))).unwrap();
            assert_ne!(
                a.forecast.point, before.forecast.point,
                "{model} did not move"
            );
        }
    }
}

/// A fit in three stages, with the series split over parts in any way, is the fit in one piece,
/// value for value: with every series calibrated on its own, and with one too short for that,
/// whose combination the assembly chooses on every part's trajectories.
#[test]
fn a_fit_spread_over_parts_is_the_fit_in_one_piece() {
    let panel = panel(300);
    for (cutoffs, pooled) in [([280, 273], false), ([280, 50], true)] {
        for model in [ModelId::Auto, ModelId::Linear, ModelId::Ets] {
            let forecaster = forecaster(model);
            let whole = forecaster.fit(&panel, &cutoffs).unwrap();
            let shared = forecaster.fit_shared(&panel, &cutoffs).unwrap();
            // Through JSON, as the stages travel between processes.
            let shared: SharedFit =
                serde_json::from_str(&serde_json::to_string(&shared).unwrap()).unwrap();
            if let SharedStage::Learned(global) = &shared.stage {
                assert_eq!(global.pooled, pooled && model == ModelId::Auto, "{model}");
            }
            let parts: Vec<PartFit> = [[false, true], [true, false]]
                .iter()
                .map(|wanted| {
                    let part = forecaster
                        .fit_part(&panel, &cutoffs, &shared, wanted)
                        .unwrap();
                    serde_json::from_str(&serde_json::to_string(&part).unwrap()).unwrap()
                })
                .collect();
            let all = [true, true];
            let joined = forecaster
                .assemble(&panel, &cutoffs, shared.clone(), parts.clone(), &all)
                .unwrap();
            assert_eq!(
                serde_json::to_string(&joined).unwrap(),
                serde_json::to_string(&whole).unwrap(),
                "{model} at {cutoffs:?}"
            );
            let missing = forecaster
                .assemble(&panel, &cutoffs, shared, parts[..1].to_vec(), &all)
                .unwrap_err();
            assert!(missing.to_string().contains("s0"), "{missing}");
        }
    }
}

#[test]
fn remembered_calibration_fits_give_the_same_models_and_near_cutoffs_share_them() {
    let panel = panel(900);
    // Four weekly windows, as a backtest places them.
    let windows: Vec<Vec<usize>> = (0..4).map(|k| vec![859 + 7 * k; 2]).collect();
    let plain = forecaster(ModelId::Gbm);
    let remembering = forecaster(ModelId::Gbm).remembering();
    assert!(plain.memo().is_none());
    remembering.prepare(&panel, &windows).unwrap();
    let memo = remembering.memo().unwrap();
    let made = memo.len();
    // A horizon of 7 calibrates over 280 steps with fits every 140 (three per window): the four
    // windows, 21 steps apart, need the grid points from before the first span to the last
    // cutoff, at most four of them rather than twelve.
    assert!((2..=4).contains(&made), "{made} calibration fits");
    for cutoffs in &windows {
        let a = plain.fit(&panel, cutoffs).unwrap();
        let b = remembering.fit(&panel, cutoffs).unwrap();
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap(),
            "{cutoffs:?}"
        );
    }
    assert_eq!(
        memo.len(),
        made,
        "every fit found its calibration fits made"
    );
    // One value changed long before the cutoffs makes other rows: nothing remembered is reused.
    let mut series = panel.series().to_vec();
    series[1].target[100] += 1.0;
    let other = Panel::new(panel.frequency(), panel.exogenous().to_vec(), series).unwrap();
    let a = plain.fit(&other, &windows[0]).unwrap();
    let b = remembering.fit(&other, &windows[0]).unwrap();
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    assert!(memo.len() > made);
}

#[test]
fn weekly_and_coarser_data_calibrate_on_a_finer_grid_of_fits() {
    // The same two series read as monthly: short series whose calibration span is half their
    // history get a fit every span / COARSE_REFITS steps, not every half span.
    use crate::panel::Series;
    use crate::time::{Frequency, TimePoint};
    let daily = panel(240);
    let start = TimePoint::date(chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap());
    let series = daily
        .series()
        .iter()
        .map(|s| Series { start, ..s.clone() })
        .collect();
    let monthly = Panel::new(Frequency::Months(1), daily.exogenous().to_vec(), series).unwrap();
    let calibration_fits = |panel: &Panel, season: usize| {
        let recipe = Recipe {
            season_lengths: vec![season],
            horizon: 12,
            input_size: None,
            holidays: None,
        };
        let forecaster = ForecasterParams::new(ModelId::Linear, recipe)
            .check()
            .unwrap()
            .remembering();
        forecaster.prepare(panel, &[vec![228; 2]]).unwrap();
        forecaster.memo().unwrap().len()
    };
    let coarse = calibration_fits(&monthly, 12);
    assert!(coarse >= COARSE_REFITS, "{coarse} calibration fits");
    let fine = calibration_fits(&daily, 7);
    assert!(fine <= 3, "{fine} calibration fits");
}
