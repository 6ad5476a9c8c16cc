use super::*;
use crate::learned::global::tests::panel;
use crate::learned::published::FutureValues;
use crate::models::ModelId;
use crate::{ForecasterParams, Recipe};

fn fitted(model: ModelId) -> (crate::panel::Panel, FittedForecaster) {
    let full = panel(227);
    let recipe = Recipe {
        season_lengths: vec![7],
        horizon: 7,
        input_size: None,
        holidays: None,
    };
    let fitted = ForecasterParams::new(model, recipe)
        .check()
        .unwrap()
        .fit(&full, &[200, 200])
        .unwrap();
    (full, fitted)
}

/// Series `s`'s steps from `from` to `to` as they would arrive, every column with them.
fn steps(full: &crate::panel::Panel, s: usize, from: usize, to: usize) -> Vec<Step> {
    let series = &full.series()[s];
    (from..to)
        .map(|i| Step {
            target: Some(series.target[i]),
            exogenous: full
                .exogenous()
                .iter()
                .zip(&series.exogenous)
                .map(|(spec, column)| (spec.name.clone(), column[i]))
                .collect(),
        })
        .collect()
}

fn forecast(f: &FittedForecaster, s: usize) -> crate::Forecast {
    let given = FutureValues::from([("temp".to_owned(), vec![10.0; 7])]);
    f.forecast(s, 7, &[0.1, 0.9], Some(&given))
        .unwrap()
        .forecast
}

#[test]
fn absorbing_steps_equals_absorbing_the_series_and_a_restore_undoes_it() {
    for model in [ModelId::Ets, ModelId::Theta, ModelId::Linear] {
        let (full, fitted) = fitted(model);
        let series = &full.series()[1];
        let exogenous: FutureValues = fitted
            .observed_columns()
            .iter()
            .map(|name| {
                let c = full
                    .exogenous()
                    .iter()
                    .position(|e| e.name == *name)
                    .unwrap();
                (name.to_string(), series.exogenous[c][200..220].to_vec())
            })
            .collect();
        let mut direct = fitted.clone();
        direct
            .absorb(1, &series.target[200..220], &exogenous)
            .unwrap();

        let mut live = fitted.clone();
        let as_fitted = live.series_state(1).unwrap();
        let filled = live.absorb_steps(1, &steps(&full, 1, 200, 220)).unwrap();
        assert_eq!(filled, Filled::default(), "{model}");
        assert_eq!(forecast(&live, 1), forecast(&direct, 1), "{model}");
        assert_ne!(forecast(&live, 1), forecast(&fitted, 1), "{model}");
        live.restore(1, &as_fitted).unwrap();
        assert_eq!(forecast(&live, 1), forecast(&fitted, 1), "{model}");
        assert_eq!(forecast(&live, 0), forecast(&fitted, 0), "{model}");
    }
}

#[test]
fn a_gap_is_the_models_own_one_step_forecast_and_is_reported() {
    for model in [ModelId::Ets, ModelId::Linear] {
        let (full, fitted) = fitted(model);
        let mut arrived = steps(&full, 0, 200, 210);
        arrived[4].target = None;
        let mut live = fitted.clone();
        let filled = live.absorb_steps(0, &arrived).unwrap();
        assert_eq!(filled.targets, [4], "{model}");

        // The same by hand: the first four, then the forecast of the fifth taken as observed.
        let mut by_hand = fitted.clone();
        by_hand.absorb_steps(0, &arrived[..4]).unwrap();
        let given: FutureValues = arrived[4]
            .exogenous
            .iter()
            .map(|(k, v)| (k.clone(), vec![*v]))
            .collect();
        let guess = by_hand
            .forecast(0, 1, &[], Some(&given))
            .unwrap()
            .forecast
            .point[0];
        let mut fifth = arrived[4].clone();
        fifth.target = Some(guess);
        by_hand.absorb_steps(0, &[fifth]).unwrap();
        by_hand.absorb_steps(0, &arrived[5..]).unwrap();
        assert_eq!(forecast(&live, 0), forecast(&by_hand, 0), "{model}");
    }
}

#[test]
fn missing_inputs_of_a_learned_model_are_filled_and_counted() {
    let (full, fitted) = fitted(ModelId::Linear);
    let mut arrived = steps(&full, 0, 200, 205);
    for step in &mut arrived[1..3] {
        step.exogenous.clear();
    }
    let mut live = fitted.clone();
    let filled = live.absorb_steps(0, &arrived).unwrap();
    assert!(filled.targets.is_empty());
    assert_eq!(filled.exogenous.get("temp"), Some(&2));
    // A statistical model reads no columns and fills none.
    let (_, ets) = self::fitted(ModelId::Ets);
    let filled = ets.clone().absorb_steps(0, &arrived).unwrap();
    assert_eq!(filled, Filled::default());
}

#[test]
fn a_bad_step_leaves_the_series_as_it_was() {
    for model in [ModelId::Ets, ModelId::Linear] {
        let (full, fitted) = fitted(model);
        let mut arrived = steps(&full, 0, 200, 210);
        arrived[6].target = Some(f64::NAN);
        let mut live = fitted.clone();
        assert!(live.absorb_steps(0, &arrived).is_err(), "{model}");
        assert_eq!(forecast(&live, 0), forecast(&fitted, 0), "{model}");
        let other = live.series_state(1).unwrap();
        assert!(live.restore(0, &other).is_err() || model == ModelId::Ets);
    }
}
