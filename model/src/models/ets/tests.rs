use super::*;

#[test]
fn absorbing_the_rest_forecasts_as_the_fitted_model_on_the_whole_series() {
    let y: Vec<f64> = (0..120)
        .map(|t| 40.0 + 0.2 * t as f64 + 6.0 * ((t % 7) as f64) + ((t * 37) % 11) as f64)
        .collect();
    for spec in ["ANN", "AAdN", "AAA", "MAM", "MNM", "MAdA"] {
        let fitted = EtsParams::from_spec(spec, 7)
            .unwrap()
            .fit(&y[..90])
            .unwrap();
        let mut cut = fitted.clone();
        cut.absorb(&y[90..93]).unwrap();
        cut.absorb(&y[93..]).unwrap();
        let whole = fitted.replayed(&y);
        // The same recursion in two pieces or one: equal to rounding (1e-9 relative).
        for (a, b) in cut.last_state.iter().zip(&whole.last_state) {
            assert!(
                (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                "{spec}: {a} vs {b}"
            );
        }
        assert_eq!(cut.n_obs, 120);
        let (a, b) = (
            cut.predict(14, &[0.1, 0.9]).unwrap(),
            whole.predict(14, &[0.1, 0.9]).unwrap(),
        );
        for (a, b) in a.point.iter().zip(&b.point) {
            assert!(
                (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                "{spec}: {a} vs {b}"
            );
        }
        // And it moved: the forecast is not the cut fit's.
        assert_ne!(a.point, fitted.predict(14, &[0.5]).unwrap().point, "{spec}");
    }
}

#[test]
fn a_non_seasonal_spec_tries_the_six_non_seasonal_models() {
    let y: Vec<f64> = (0..50)
        .map(|t| 10.0 + (t % 5) as f64 + 0.1 * t as f64)
        .collect();
    let fit = EtsParams::from_spec("ZZN", 7).unwrap().fit(&y).unwrap();
    let names: Vec<&str> = fit.candidates().iter().map(|c| c.model.as_str()).collect();
    assert_eq!(
        names,
        ["ANN", "AAdN", "AAN", "MNN", "MAdN", "MAN"][..names.len()]
    );
    assert_eq!(names.len(), 6);
    assert_eq!(fit.season_length(), 1);
}

#[test]
fn a_season_longer_than_24_is_dropped_with_a_note() {
    let y: Vec<f64> = (0..200).map(|t| 10.0 + ((t % 30) as f64).sin()).collect();
    let fit = EtsParams::auto(30).fit(&y).unwrap();
    assert_eq!(fit.model().season, SeasonKind::None);
    assert!(
        fit.note().unwrap().contains("exceeds 24"),
        "{:?}",
        fit.note()
    );
    assert_eq!(fit.requested_season_length(), 30);
}

#[test]
fn a_constant_series_forecasts_itself_with_zero_width() {
    let fit = EtsParams::auto(7).fit(&[4.0; 30]).unwrap();
    assert_eq!(fit.model().to_string(), "ANN");
    let f = fit.predict(5, &[0.1, 0.9]).unwrap();
    for p in &f.point {
        assert!((p - 4.0).abs() < 1e-9, "{f:?}");
    }
    assert!((f.quantile(0.9).unwrap()[4] - 4.0).abs() < 1e-6, "{f:?}");
}

#[test]
fn degenerate_series_give_a_fit_or_an_error_never_a_panic() {
    let mut cases: Vec<Vec<f64>> = vec![
        vec![],
        vec![1.0],
        vec![0.0; 3],
        vec![0.0; 100],
        vec![1.0, 2.0, 3.0, 4.0, 5.0],
        vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
        vec![
            1e300, -1e300, 1e300, -1e300, 1e300, -1e300, 1e300, -1e300, 1e300,
        ],
        vec![1e-300; 20],
        (0..60).map(|t| 100.0 * 0.7f64.powi(t)).collect(),
        (0..60)
            .map(|t| if t % 7 == 0 { 5.0 } else { 0.0 })
            .collect(),
        (0..30).map(|t| -(t as f64)).collect(),
        (0..9).map(|t| (t % 3) as f64 + 1.0).collect(),
    ];
    cases.push(vec![f64::NAN; 10]);
    for y in &cases {
        for m in [1, 2, 3, 7, 12, 24, 25, 400] {
            if let Ok(fit) = EtsParams::auto(m).fit(y) {
                let f = fit.predict(10, &[0.05, 0.5, 0.95]);
                assert!(f.is_ok(), "{y:?} m={m}: {f:?}");
                assert!(fit.sample_paths(10, 20, 3).is_ok());
            }
        }
    }
}

#[test]
fn sample_paths_are_reproducible_and_match_the_intervals() {
    let pattern = [1.2, 0.8, 1.0, 1.1, 0.9, 0.6, 1.4];
    let y: Vec<f64> = (0..140)
        .map(|t| {
            (50.0 + 0.1 * t as f64)
                * pattern[t % 7]
                * (1.0 + 0.05 * (((t * 7919) % 13) as f64 - 6.0) / 6.0)
        })
        .collect();
    let fit = EtsParams::auto(7).fit(&y).unwrap();
    let a = fit.sample_paths(14, 4000, 11).unwrap();
    assert_eq!(a, fit.sample_paths(14, 4000, 11).unwrap());
    assert_ne!(a, fit.sample_paths(14, 4000, 12).unwrap());
    let f = fit.predict(14, &[0.1, 0.9]).unwrap();
    let (lo, hi) = (f.quantile(0.1).unwrap(), f.quantile(0.9).unwrap());
    let (plo, phi) = (a.quantile(0.1), a.quantile(0.9));
    for h in 0..14 {
        let width = hi[h] - lo[h];
        assert!(
            (phi[h] - plo[h] - width).abs() < 0.1 * width,
            "{} step {h}: {} vs {}",
            fit.model(),
            phi[h] - plo[h],
            width
        );
    }
}

#[test]
fn path_quantiles_agree_with_the_analytic_intervals_of_each_class() {
    let pattern = [0.7, 1.2, 1.3, 0.8];
    let y: Vec<f64> = (0..120)
        .map(|t| {
            let noise = 1.0 + 0.04 * (((t * 7919) % 17) as f64 - 8.0) / 8.0;
            (80.0 + 0.3 * t as f64) * pattern[t % 4] * noise
        })
        .collect();
    for spec in ["ANN", "AAdA", "MNA", "MAdN", "MNM", "MAdM"] {
        let fit = EtsParams::from_spec(spec, 4).unwrap().fit(&y).unwrap();
        let f = fit.predict(12, &[0.1, 0.9]).unwrap();
        let paths = fit.sample_paths(12, 6000, 5).unwrap();
        let (lo, hi) = (f.quantile(0.1).unwrap(), f.quantile(0.9).unwrap());
        let (plo, phi) = (paths.quantile(0.1), paths.quantile(0.9));
        for h in 0..12 {
            let (analytic, simulated) = (hi[h] - lo[h], phi[h] - plo[h]);
            assert!(
                (analytic - simulated).abs() < 0.06 * analytic,
                "{spec} step {h}: analytic {analytic} vs simulated {simulated}"
            );
        }
    }
}

/// Each selection's searches run one at a time, each likelihood by [`core::Dynamics::filter`]:
/// what [`EtsParams::fit_many`] must reproduce.
fn one_search_at_a_time(params: &EtsParams, y: &[f64]) -> Result<FittedEts, ModelError> {
    match params.plan(y)? {
        Plan::Done(fitted) => Ok(*fitted),
        Plan::Select(selection) => {
            let fitted = selection
                .searches
                .iter()
                .map(|search| {
                    let mut search = search.clone()?;
                    while let Some(value) =
                        search.search.point().map(|p| search.layout.objective(y, p))
                    {
                        search.search.tell(value);
                    }
                    search.finish(y)
                })
                .collect();
            selection.choose(fitted, y.len())
        }
    }
}

#[test]
fn fitting_series_together_gives_each_the_fit_it_gets_alone() {
    let noise = |t: usize, k: usize| (((t * 37 + k * 101) % 23) as f64 - 11.0) / 11.0;
    let seasonal = |n: usize, k: usize, level: f64| -> Vec<f64> {
        (0..n)
            .map(|t| {
                level
                    + 0.05 * (k as f64 + 1.0) * t as f64
                    + (3.0 + k as f64) * ((t % 7) as f64 - 3.0)
                    + 2.0 * noise(t, k)
            })
            .collect()
    };
    let mut with_zero = seasonal(180, 5, 20.0);
    with_zero[40] = 0.0;
    let series: Vec<Vec<f64>> = vec![
        seasonal(200, 0, 50.0),
        seasonal(200, 1, 80.0),
        seasonal(200, 2, 30.0),
        seasonal(150, 3, 60.0),
        with_zero,
        vec![5.0; 60],
        vec![1.0, 2.0, 3.0],
        seasonal(200, 4, 45.0),
    ];
    let ys: Vec<&[f64]> = series.iter().map(Vec::as_slice).collect();
    for params in [EtsParams::auto(7), EtsParams::from_spec("ZZN", 1).unwrap()] {
        let together = params.fit_many(&ys);
        assert_eq!(together.len(), ys.len());
        for (y, got) in ys.iter().zip(together) {
            let alone = one_search_at_a_time(&params, y);
            assert_eq!(got, alone, "{params:?} on {} observations", y.len());
        }
    }
}
