//! Tests across the feature module: no look-ahead (poisoned futures), agreement between training
//! and recursive rows, exogenous roles, rolling statistics by hand, and storage.

use chrono::NaiveDate;

use super::*;
use crate::calendar::Holiday;
use crate::panel::Series;

const FUTURE_KNOWN: usize = 0;
const HISTORIC: usize = 1;

fn spec_with_everything() -> FeatureSpec {
    let mut spec = FeatureSpec::default_for(Frequency::Days(1), &[7, 28]);
    spec.historic_lags = vec![1, 3];
    spec.calendar.push(CalendarFeature::Weekend);
    // The defaults keep windows over future-known columns for sub-daily data.
    spec.known_windows = vec![2, 7];
    spec
}

fn exogenous() -> Vec<ExogenousSpec> {
    vec![
        ExogenousSpec {
            name: "temp".into(),
            role: ExogenousRole::FutureKnown,
        },
        ExogenousSpec {
            name: "sensor".into(),
            role: ExogenousRole::Historic,
        },
    ]
}

fn holidays() -> HolidayCalendar {
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    HolidayCalendar::new(
        ["2024-03-01", "2024-05-06", "2024-05-15", "2024-06-06"]
            .iter()
            .map(|d| Holiday {
                date: day(d),
                name: "holiday".into(),
                name_local: None,
            })
            .collect(),
    )
}

/// A daily series with a weekly pattern, a trend and two exogenous columns.
fn daily_series(id: &str, n: usize, level: f64) -> Series {
    let start = TimePoint::date(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap());
    let target = (0..n)
        .map(|i| level * (10.0 + (i % 7) as f64 + 0.05 * i as f64 + ((i * 37) % 11) as f64 / 10.0))
        .collect();
    let temp = (0..n).map(|i| ((i * 13) % 17) as f64).collect();
    let sensor = (0..n).map(|i| 100.0 + ((i * 7) % 5) as f64).collect();
    Series {
        id: id.into(),
        start,
        target,
        exogenous: vec![temp, sensor],
    }
}

fn featurizer() -> Featurizer {
    Featurizer::new(
        spec_with_everything(),
        Frequency::Days(1),
        exogenous(),
        Some(holidays()),
    )
    .unwrap()
}

/// Rows for `horizon` recursive steps from `origin`, pushing `predictions` (scaled) and passing
/// the future-known values of `known`.
fn recursive_rows(
    f: &Featurizer,
    series: &Series,
    origin: usize,
    known: &Series,
    predictions: &[f64],
) -> Vec<Vec<f64>> {
    let scale = f.scale_for(&series.target[..origin]);
    let mut state = RecursiveState::new(f, series, origin, scale).unwrap();
    let mut rows = Vec::new();
    for (h, &z) in predictions.iter().enumerate() {
        let row = state
            .next_row(&[known.exogenous[FUTURE_KNOWN][origin + h]])
            .unwrap();
        rows.push(row);
        state.push_scaled(z).unwrap();
    }
    rows
}

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn poisoning_everything_after_the_cutoff_changes_no_training_or_recursive_row() {
    let f = featurizer();
    let clean = daily_series("a", 160, 1.0);
    let cutoff = 120;
    let predictions: Vec<f64> = (0..14).map(|h| 0.1 * h as f64 - 0.3).collect();
    let training = f.series_training_set(&clean, cutoff).unwrap();
    let rows = recursive_rows(&f, &clean, cutoff, &clean, &predictions);
    assert!(training.n_rows() > 50);

    for poison in [f64::NAN, 1e300, -1e300] {
        let mut poisoned = clean.clone();
        for t in cutoff..poisoned.len() {
            poisoned.target[t] = poison;
            poisoned.exogenous[HISTORIC][t] = poison;
            // Future-known values after the cutoff cannot reach training rows either.
            poisoned.exogenous[FUTURE_KNOWN][t] = poison;
        }
        let again = f.series_training_set(&poisoned, cutoff).unwrap();
        assert_eq!(bits(&again.x), bits(&training.x), "poison {poison}");
        assert_eq!(bits(&again.y), bits(&training.y), "poison {poison}");
        assert_eq!(again.series, training.series);
        // The caller passes the actual future-known values (oracle setting), the rest is poisoned.
        let again = recursive_rows(&f, &poisoned, cutoff, &clean, &predictions);
        for (a, b) in again.iter().zip(&rows) {
            assert_eq!(bits(a), bits(b), "poison {poison}");
        }
    }
}

#[test]
fn recursive_rows_fed_the_actual_values_equal_the_training_rows_bit_for_bit() {
    let mut spec = spec_with_everything();
    // Historic lags beyond the horizon, so that no value needs carrying forward.
    spec.historic_lags = vec![20];
    let f = Featurizer::new(spec, Frequency::Days(1), exogenous(), Some(holidays())).unwrap();
    let series = daily_series("a", 160, 3.0);
    let (origin, horizon) = (120, 14);
    let full = f.series_training_set(&series, origin + horizon).unwrap();
    let scale = full.series[0].scale;
    let mut state = RecursiveState::new(&f, &series, origin, scale).unwrap();
    for h in 0..horizon {
        let row = state
            .next_row(&[series.exogenous[FUTURE_KNOWN][origin + h]])
            .unwrap();
        let i = full.rows.iter().position(|r| r.step == origin + h).unwrap();
        assert_eq!(bits(&row), bits(full.row(i).unwrap()), "step {h}");
        state.push_value(series.target[origin + h]).unwrap();
    }
}

#[test]
fn a_future_known_value_enters_its_own_step_and_the_windows_of_later_steps_only() {
    let f = featurizer();
    let series = daily_series("a", 160, 1.0);
    let origin = 120;
    let changed_step = 3;
    let column = f.names().iter().position(|n| n == "exog_temp").unwrap();
    // Window columns and their lengths, e.g. ("exog_temp_mean7", 7).
    let windows: Vec<(usize, usize)> = f
        .names()
        .iter()
        .enumerate()
        .filter_map(|(c, n)| Some((c, n.strip_prefix("exog_temp_mean")?.parse().ok()?)))
        .collect();
    assert_eq!(
        windows.iter().map(|w| w.1).collect::<Vec<_>>(),
        f.spec().known_windows
    );
    let predictions = [0.5; 10];
    let base = recursive_rows(&f, &series, origin, &series, &predictions);
    let mut changed = series.clone();
    changed.exogenous[FUTURE_KNOWN][origin + changed_step] = -999.0;
    let rows = recursive_rows(&f, &series, origin, &changed, &predictions);
    for (h, (a, b)) in rows.iter().zip(&base).enumerate() {
        for (c, (x, y)) in a.iter().zip(b).enumerate() {
            let in_window = windows
                .iter()
                .any(|&(wc, w)| wc == c && h >= changed_step && h < changed_step + w);
            if (h == changed_step && c == column) || in_window {
                assert_ne!(
                    x.to_bits(),
                    y.to_bits(),
                    "step {h} column {c} should change"
                );
            } else {
                assert_eq!(x.to_bits(), y.to_bits(), "step {h} column {c}");
            }
        }
    }
    assert_eq!(rows[changed_step][column], -999.0);
    // A window reaching back before the origin averages observed and given values.
    let temp = &changed.exogenous[FUTURE_KNOWN];
    for &(c, w) in &windows {
        let t = origin + changed_step;
        let expected = temp[t + 1 - w..=t].iter().sum::<f64>() / w as f64;
        assert!(
            (rows[changed_step][c] - expected).abs() < 1e-9,
            "window {w}"
        );
    }
    // In training the value at t is the feature of row t, and its windows end at t.
    let training = f.series_training_set(&series, origin).unwrap();
    let row = training.rows.iter().position(|r| r.step == 100).unwrap();
    let temp = &series.exogenous[FUTURE_KNOWN];
    assert_eq!(training.row(row).unwrap()[column], temp[100]);
    for &(c, w) in &windows {
        let expected = temp[101 - w..=100].iter().sum::<f64>() / w as f64;
        assert!((training.row(row).unwrap()[c] - expected).abs() < 1e-9);
    }
}

#[test]
fn a_window_over_a_future_known_column_skips_unknown_values() {
    let f = featurizer();
    let series = daily_series("a", 160, 1.0);
    let origin = 120;
    let mean2 = f
        .names()
        .iter()
        .position(|n| n == "exog_temp_mean2")
        .unwrap();
    let temp = |k: usize| series.exogenous[FUTURE_KNOWN][k];
    let scale = f.scale_for(&series.target[..origin]);
    let mut state = RecursiveState::new(&f, &series, origin, scale).unwrap();
    // A step whose value nobody gave (NaN, as the climatology leaves an empty cell): its own
    // column is unknown, its windows average the known values.
    let row = state.next_row(&[f64::NAN]).unwrap();
    assert!(row[f.names().iter().position(|n| n == "exog_temp").unwrap()].is_nan());
    assert_eq!(row[mean2], temp(origin - 1));
    state.push_scaled(0.0).unwrap();
    let row = state.next_row(&[f64::NAN]).unwrap();
    assert!(row[mean2].is_nan(), "no known value in the window");
    // Asking for a step's row again replaces the value it was given.
    let row = state.next_row(&[4.0]).unwrap();
    assert_eq!(row[mean2], 4.0);
}

#[test]
fn historic_lags_past_the_origin_carry_the_last_observed_value_forward() {
    let f = featurizer();
    let series = daily_series("a", 160, 1.0);
    let origin = 120;
    let lag1 = f
        .names()
        .iter()
        .position(|n| n == "exog_sensor_lag1")
        .unwrap();
    let lag3 = f
        .names()
        .iter()
        .position(|n| n == "exog_sensor_lag3")
        .unwrap();
    let rows = recursive_rows(&f, &series, origin, &series, &[0.0; 5]);
    let sensor = &series.exogenous[HISTORIC];
    let last = sensor[origin - 1];
    let lag1_values: Vec<f64> = rows.iter().map(|r| r[lag1]).collect();
    let lag3_values: Vec<f64> = rows.iter().map(|r| r[lag3]).collect();
    assert_eq!(lag1_values, vec![last; 5]);
    assert_eq!(
        lag3_values,
        vec![sensor[origin - 3], sensor[origin - 2], last, last, last]
    );
    assert!(!f.names().iter().any(|n| n.ends_with("sensor")));
}

#[test]
fn predictions_pushed_become_the_lags_of_later_steps() {
    let f = featurizer();
    let series = daily_series("a", 160, 1.0);
    let rows = recursive_rows(&f, &series, 120, &series, &[0.25, -0.75, 1.5]);
    let lag = |k: usize| {
        f.names()
            .iter()
            .position(|n| *n == format!("lag{k}"))
            .unwrap()
    };
    assert_eq!(rows[1][lag(1)], 0.25);
    assert_eq!((rows[2][lag(1)], rows[2][lag(2)]), (-0.75, 0.25));
}

#[test]
fn rolling_statistics_match_a_hand_computation_over_the_lagged_window() {
    let spec = FeatureSpec {
        lags: vec![1],
        rolling: [
            RollingStat::Mean,
            RollingStat::Std,
            RollingStat::Min,
            RollingStat::Max,
        ]
        .into_iter()
        .map(|stat| RollingFeature {
            stat,
            lag: 2,
            window: 3,
        })
        .collect(),
        calendar: vec![],
        holidays: None,
        exogenous: false,
        historic_lags: vec![],
        known_windows: vec![],
        scale: false,
        input_size: None,
        difference: false,
    };
    let f = Featurizer::new(spec, Frequency::Index, vec![], None).unwrap();
    let series = Series {
        id: "a".into(),
        start: TimePoint::Step(0),
        target: vec![4.0, 8.0, 6.0, 1.0, 9.0, 100.0],
        exogenous: vec![],
    };
    assert_eq!(f.lookback(), 4);
    let set = f.series_training_set(&series, 6).unwrap();
    // Row t = 5: the window is y[1..=3] = 8, 6, 1 (t - lag - window + 1 ..= t - lag).
    let row = set.row(1).unwrap();
    let mean = 5.0;
    let std = (((8.0 - mean) * (8.0f64 - mean) + 1.0 + 16.0) / 2.0f64).sqrt();
    assert_eq!(set.rows[1].step, 5);
    assert_eq!(row[0], 9.0);
    assert!((row[1] - mean).abs() < 1e-12 && (row[2] - std).abs() < 1e-12);
    assert_eq!((row[3], row[4]), (1.0, 8.0));
    assert_eq!(
        f.names()[1..],
        [
            "rolling_mean_lag2_window3",
            "rolling_std_lag2_window3",
            "rolling_min_lag2_window3",
            "rolling_max_lag2_window3",
        ]
    );
}

#[test]
fn scaled_rows_are_the_same_for_a_series_at_any_level_and_unscale_back() {
    let f = featurizer();
    let small = daily_series("small", 160, 1.0);
    let big = daily_series("big", 160, 1000.0);
    let a = f.series_training_set(&small, 120).unwrap();
    let b = f.series_training_set(&big, 120).unwrap();
    let lag_columns = f.spec().lags.len() + f.spec().rolling.len();
    for i in 0..a.n_rows() {
        let (ra, rb) = (a.row(i).unwrap(), b.row(i).unwrap());
        for c in 0..lag_columns {
            assert!((ra[c] - rb[c]).abs() < 1e-9, "row {i} column {c}");
        }
        assert!((a.y[i] - b.y[i]).abs() < 1e-9);
    }
    let scale = b.series[0].scale;
    let t = b.rows[7].step;
    assert!((scale.unscale(b.y[7]) - big.target[t]).abs() < 1e-9);
}

#[test]
fn column_names_count_matches_every_row_for_each_bundled_dataset_layout() {
    // Chicago-like: daily, 9 future-known columns; bike-like: hourly, 7; electricity: 30m, 2,
    // each averaged over three windows at sub-daily steps.
    for (freq, seasons, n_exog, expected) in [
        (Frequency::Days(1), vec![7, 365], 9, 46),
        (Frequency::Hours(1), vec![24, 168], 7, 52 + 7 * 3),
        (Frequency::Minutes(30), vec![48, 336], 2, 72 + 2 * 3),
    ] {
        let exog: Vec<ExogenousSpec> = (0..n_exog)
            .map(|i| ExogenousSpec {
                name: format!("x{i}"),
                role: ExogenousRole::FutureKnown,
            })
            .collect();
        let spec = FeatureSpec::default_for(freq, &seasons);
        let f = Featurizer::new(spec, freq, exog, Some(holidays())).unwrap();
        assert_eq!(f.n_cols(), expected, "{freq}");
        let n = f.lookback() + 50;
        let start = TimePoint::date(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap());
        let series = Series {
            id: "s".into(),
            start,
            target: (0..n).map(|i| (i % 13) as f64).collect(),
            exogenous: vec![vec![1.0; n]; n_exog],
        };
        let set = f.series_training_set(&series, n).unwrap();
        assert_eq!(set.n_rows(), 50);
        assert_eq!(set.x.len(), 50 * expected);
        assert!(set.x.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn a_recursive_state_needs_the_lookback_and_the_right_number_of_known_values() {
    let f = featurizer();
    let series = daily_series("a", 160, 1.0);
    let short = RecursiveState::new(&f, &series, f.lookback() - 1, SeriesScale::IDENTITY);
    assert!(matches!(short, Err(ModelError::TooShort { .. })));
    let mut state = RecursiveState::new(&f, &series, 120, SeriesScale::IDENTITY).unwrap();
    assert!(state.next_row(&[]).is_err());
    assert!(state.next_row(&[1.0, 2.0]).is_err());
    assert!(state.push_scaled(f64::NAN).is_err());
    assert_eq!(state.step(), 0);
    assert_eq!(
        state.next_time(),
        Some(TimePoint::date(
            NaiveDate::from_ymd_opt(2024, 4, 30).unwrap()
        ))
    );
}

#[test]
fn a_featurizer_survives_a_json_round_trip_and_is_rechecked_on_load() {
    let f = featurizer();
    let json = serde_json::to_string(&f).unwrap();
    let back: Featurizer = serde_json::from_str(&json).unwrap();
    assert_eq!(back, f);
    let broken = json.replacen("\"lags\":[1,", "\"lags\":[0,", 1);
    assert!(serde_json::from_str::<Featurizer>(&broken).is_err());
}

#[test]
fn series_that_do_not_fit_the_featurizer_are_rejected_not_indexed() {
    let f = featurizer();
    let mut series = daily_series("a", 160, 1.0);
    series.exogenous.pop();
    assert!(f.series_training_set(&series, 100).is_err());
    assert!(RecursiveState::new(&f, &series, 100, SeriesScale::IDENTITY).is_err());
    let mut series = daily_series("a", 160, 1.0);
    series.exogenous[0].truncate(50);
    assert!(f.series_training_set(&series, 100).is_err());
    let mut series = daily_series("a", 160, 1.0);
    series.start = TimePoint::Step(0);
    assert!(f.series_training_set(&series, 100).is_err());
}

#[test]
fn exogenous_columns_named_like_calendar_features_get_their_own_names() {
    let exog = ["holiday", "month", "is_holiday"]
        .iter()
        .map(|n| ExogenousSpec {
            name: (*n).into(),
            role: ExogenousRole::FutureKnown,
        })
        .collect();
    let spec = FeatureSpec::default_for(Frequency::Days(1), &[7]);
    let f = Featurizer::new(spec, Frequency::Days(1), exog, Some(holidays())).unwrap();
    let names = f.names();
    assert!(names.contains(&"is_holiday".to_owned()) && names.contains(&"month".to_owned()));
    assert!(names.contains(&"exog_is_holiday".to_owned()));
    let mut repeated = FeatureSpec::default_for(Frequency::Days(1), &[7]);
    repeated.lags.push(1);
    assert!(Featurizer::new(repeated, Frequency::Days(1), vec![], None).is_err());
}

#[test]
fn without_exogenous_features_recursive_rows_take_the_same_inputs_and_ignore_them() {
    let mut spec = spec_with_everything();
    spec.exogenous = false;
    let f = Featurizer::new(spec, Frequency::Days(1), exogenous(), Some(holidays())).unwrap();
    assert!(!f.names().iter().any(|n| n.starts_with(EXOGENOUS_PREFIX)));
    assert_eq!(f.future_known_names(), vec!["temp"]);
    let series = daily_series("a", 160, 1.0);
    let mut state = RecursiveState::new(&f, &series, 120, SeriesScale::IDENTITY).unwrap();
    let row = state.next_row(&[1.0]).unwrap();
    assert_eq!(row, state.next_row(&[-50.0]).unwrap());
    assert_eq!(row.len(), f.n_cols());
}
