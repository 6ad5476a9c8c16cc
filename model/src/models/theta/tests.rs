use super::*;

fn weekly_with_trend(n: usize) -> Vec<f64> {
    let week = [1.1, 1.2, 1.15, 1.1, 1.0, 0.6, 0.5];
    (0..n)
        .map(|t| {
            let noise = ((t * 7919 % 101) as f64 / 101.0 - 0.5) * 0.4;
            (20.0 + 0.02 * t as f64) * week[t % 7] + noise
        })
        .collect()
}

#[test]
fn absorbing_the_rest_forecasts_as_the_fitted_model_on_the_whole_series() {
    let y = weekly_with_trend(150);
    let (cut, m) = (110, 7);
    for variant in [
        Variant::Standard,
        Variant::Optimised,
        Variant::DynamicStandard,
        Variant::DynamicOptimised,
    ] {
        let fitted = ThetaParams::auto(m)
            .with_variant(variant)
            .fit(&y[..cut])
            .unwrap();
        assert!(!matches!(fitted.seasonality, Seasonality::None));
        let mut absorbed = fitted.clone();
        absorbed.absorb(&y[cut..cut + 3]).unwrap();
        absorbed.absorb(&y[cut + 3..]).unwrap();

        // The reference: the fitted model over the whole series. A classical decomposition's
        // season is periodic, so the fitted indices, turned back, deseasonalise all of it;
        // the recursion starts as the fit's did (the standard variants' trend line is the
        // one through the fitted part) and runs to the end.
        let d: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(t, &v)| fitted.seasonality.remove((t + m - cut % m) % m, v))
            .collect();
        let c = fitted.coefficients();
        let mut state = c.initial_state(&d[..cut]);
        let mut decay = 1.0;
        for (i, &v) in d.iter().enumerate().skip(1) {
            decay *= 1.0 - c.alpha;
            state = c.step(&state, i, decay, Some(v));
        }
        let mut whole = fitted.clone();
        whole.last_state = state;
        whole.observations = y.len();
        whole.mean = d.iter().sum::<f64>() / d.len() as f64;
        whole.seasonality.advance(y.len() - cut);

        // Equal to rounding (1e-9 relative): the decay is a running product here and a
        // power there.
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
        let (a, b) = (absorbed.last_state, whole.last_state);
        for (a, b) in [
            (a.level, b.level),
            (a.mean, b.mean),
            (a.intercept, b.intercept),
            (a.slope, b.slope),
            (a.forecast, b.forecast),
        ] {
            assert!(close(a, b), "{variant:?}: {a} vs {b}");
        }
        let a = absorbed.predict(14, &[0.1, 0.9]).unwrap();
        let b = whole.predict(14, &[0.1, 0.9]).unwrap();
        for (a, b) in a
            .point
            .iter()
            .zip(&b.point)
            .chain(a.quantiles[1].1.iter().zip(&b.quantiles[1].1))
        {
            assert!(close(*a, *b), "{variant:?}: {a} vs {b}");
        }
        assert_ne!(a.point, fitted.predict(14, &[0.5]).unwrap().point);
    }
}

#[test]
fn a_weekly_series_is_deseasonalised_and_forecast_with_its_pattern() {
    let y = weekly_with_trend(140);
    let fitted = ThetaParams::auto(7).fit(&y).unwrap();
    assert!(matches!(
        fitted.seasonality(),
        Seasonality::Multiplicative { .. }
    ));
    let f = fitted.predict(14, &[0.1, 0.9]).unwrap();
    // Weekends (t % 7 in {5, 6}) stay low: 140 % 7 == 0, so steps 5, 6, 12, 13.
    assert!(f.point[5] < 0.7 * f.point[2], "{:?}", f.point);
    assert!(f.point[12] < 0.7 * f.point[9], "{:?}", f.point);
    let lo = f.quantile(0.1).unwrap();
    let hi = f.quantile(0.9).unwrap();
    for t in 0..14 {
        assert!(lo[t] < f.point[t] && f.point[t] < hi[t], "step {t}");
    }
}

#[test]
fn sample_paths_are_reproducible_per_seed_and_agree_with_predict() {
    let y = weekly_with_trend(100);
    let fitted = ThetaParams::auto(7).fit(&y).unwrap();
    let a = fitted.sample_paths(10, 500, 7).unwrap();
    assert_eq!(a, fitted.sample_paths(10, 500, 7).unwrap());
    assert_ne!(a, fitted.sample_paths(10, 500, 8).unwrap());
    assert_eq!(a.paths.len(), 500);
    assert!(a.paths.iter().all(|p| p.len() == 10));
    // predict is the simulation with its own fixed seed: the same paths, the same quantiles.
    let f = fitted.predict(10, &[0.25]).unwrap();
    let own = fitted
        .sample_paths(10, PREDICT_PATHS, PREDICT_SEED)
        .unwrap();
    assert_eq!(f.quantile(0.25).unwrap(), own.quantile(0.25).as_slice());
    assert_eq!(f, fitted.predict(10, &[0.25]).unwrap());
}

#[test]
fn the_first_steps_do_not_depend_on_the_horizon() {
    let y = weekly_with_trend(60);
    let fitted = ThetaParams::auto(7).fit(&y).unwrap();
    let short = fitted.predict(3, &[0.05, 0.95]).unwrap();
    let long = fitted.predict(30, &[0.05, 0.95]).unwrap();
    assert_eq!(short.point, long.point[..3]);
    assert_eq!(
        short.quantile(0.95).unwrap(),
        &long.quantile(0.95).unwrap()[..3]
    );
}

#[test]
fn a_series_of_three_points_is_too_short() {
    let err = ThetaParams::auto(1).fit(&[1.0, 2.0, 3.0]).unwrap_err();
    assert_eq!(err, ModelError::TooShort { needed: 4, got: 3 });
    assert!(ThetaParams::auto(7).fit(&[]).is_err());
}

#[test]
fn a_constant_series_forecasts_itself_with_no_spread() {
    let fitted = ThetaParams::auto(7).fit(&[5.0; 30]).unwrap();
    let f = fitted.predict(5, &[0.05, 0.95]).unwrap();
    for (p, hi) in f.point.iter().zip(f.quantile(0.95).unwrap()) {
        assert!((p - 5.0).abs() < 1e-3, "{f:?}");
        assert!((hi - 5.0).abs() < 1e-3, "{f:?}");
    }
}

#[test]
fn an_all_zero_series_forecasts_zero() {
    let fitted = ThetaParams::auto(7).fit(&[0.0; 20]).unwrap();
    let f = fitted.predict(4, &[0.5]).unwrap();
    assert!(f.point.iter().all(|v| v.abs() < 1e-9), "{f:?}");
    assert!(
        fitted
            .sample_paths(4, 10, 1)
            .unwrap()
            .paths
            .iter()
            .flatten()
            .all(|v| v.is_finite())
    );
}

#[test]
fn degenerate_series_fit_or_fail_without_panicking() {
    let mut cases: Vec<Vec<f64>> = vec![
        vec![0.0, 0.0, 0.0, 1.0],
        vec![
            0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0,
        ],
        (0..60).map(|t| 1e3 * 0.7f64.powi(t)).collect(),
        (0..60)
            .map(|t| if t % 7 == 0 { 1.0 } else { 0.0 })
            .collect(),
        (0..60)
            .map(|t| if t % 2 == 0 { -1.0 } else { 1.0 })
            .collect(),
        vec![1e300, -1e300, 1e300, -1e300, 1e300, 1e300],
        vec![1e-300; 10],
        vec![f64::MAX; 12],
    ];
    cases.push((0..30).map(|t| 1e-12 * t as f64).collect());
    for y in &cases {
        for m in [1, 4, 7, 12] {
            match ThetaParams::auto(m).fit(y) {
                Ok(fitted) => {
                    let f = fitted.predict(9, &[0.1, 0.9]).unwrap();
                    assert_eq!(f.point.len(), 9);
                    assert!(f.point.iter().all(|v| v.is_finite()), "{y:?} m={m}: {f:?}");
                }
                Err(e) => assert!(
                    matches!(e, ModelError::Diverged { .. } | ModelError::TooShort { .. }),
                    "{e:?}"
                ),
            }
        }
    }
    assert_eq!(
        ThetaParams::auto(1).fit(&[1.0, f64::NAN, 2.0, 3.0]),
        Err(ModelError::NonFinite(1))
    );
}

#[test]
fn a_single_variant_can_be_asked_for() {
    let y = weekly_with_trend(80);
    for variant in Variant::ALL {
        let fitted = ThetaParams::auto(7).with_variant(variant).fit(&y).unwrap();
        assert_eq!(fitted.variant(), variant);
        if !variant.optimises_theta() {
            assert_eq!(fitted.theta(), STANDARD_THETA);
        }
        assert!((ALPHA_BOUNDS.0..=ALPHA_BOUNDS.1).contains(&fitted.alpha()));
    }
}

#[test]
fn rejects_probabilities_outside_the_unit_interval() {
    let fitted = ThetaParams::auto(1)
        .fit(&[1.0, 2.0, 3.0, 4.0, 5.0])
        .unwrap();
    assert_eq!(
        fitted.predict(2, &[1.0]),
        Err(ModelError::BadProbability(1.0))
    );
}
