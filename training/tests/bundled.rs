//! The bundled datasets load, and their summaries have the right numbers (series, rows, span).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use civicast_training::{Summary, load_dataset};

fn summary(name: &str) -> Summary {
    let path = common::datasets().join(name).join("dataset.toml");
    let dataset = load_dataset(&path).unwrap_or_else(|report| panic!("{name}: {report}"));
    Summary::of(&dataset)
}

#[test]
fn chicago_ridership_has_20_daily_station_series() {
    let s = summary("chicago_ridership");
    assert_eq!((s.series, s.rows, s.rows_read), (20, 113_960, 113_960));
    assert_eq!(
        (s.start.as_str(), s.end.as_str()),
        ("2001-01-08", "2016-08-14")
    );
    assert_eq!((s.min_length, s.max_length), (5_698, 5_698));
    assert_eq!(s.frequency, "1d");
    assert_eq!(s.future_known.len(), 9);
    assert_eq!(
        (s.horizon, s.backtest_windows, s.backtest_step),
        (14, 8, 14)
    );
    assert_eq!(s.season_lengths, vec![7, 365]);
    assert!(s.series_detail.iter().any(|d| d.id == "Clark_Lake"));
    assert!(s.calendar.unwrap().file.ends_with("holidays_us_il.csv"));
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

#[test]
fn bikeshare_is_one_hourly_year() {
    let s = summary("bikeshare_hourly");
    assert_eq!((s.series, s.rows), (1, 8_760));
    assert_eq!(
        (s.start.as_str(), s.end.as_str()),
        ("2011-01-01T00:00:00", "2011-12-31T23:00:00")
    );
    assert_eq!(s.frequency, "1h");
    assert_eq!(
        (s.horizon, s.backtest_windows, s.backtest_step),
        (24, 14, 144)
    );
}

#[test]
fn elecdemand_is_one_half_hourly_year() {
    let s = summary("elecdemand_halfhourly");
    assert_eq!((s.series, s.rows), (1, 17_520));
    assert_eq!(
        (s.start.as_str(), s.end.as_str()),
        ("2014-01-01T00:00:00", "2014-12-31T23:30:00")
    );
    assert_eq!(s.frequency, "30m");
    assert_eq!(s.future_known, vec!["Temperature", "WorkDay"]);
    assert_eq!(
        (s.horizon, s.backtest_windows, s.backtest_step),
        (48, 14, 288)
    );
}

#[test]
fn the_korean_calendar_keeps_its_korean_names() {
    let mut report = civicast_training::Report::new();
    let path = common::datasets().join("calendars/holidays_kr.csv");
    let calendar = civicast_training::calendar::load_calendar(&path, &mut report).unwrap();
    assert!(report.is_empty(), "{report}");
    let chuseok = calendar
        .on(chrono::NaiveDate::from_ymd_opt(2025, 10, 6).unwrap())
        .unwrap();
    assert_eq!(chuseok.name_local.as_deref(), Some("추석"));
}
