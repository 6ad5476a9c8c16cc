//! Each kind of broken file gets an error that names the right place, column and problem.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use civicast_training::problem::Location;
use civicast_training::{ProblemKind, load_dataset};
use common::*;

#[test]
fn a_valid_fixture_loads_with_both_series() {
    let fixture = Fixture::new(&manifest(), &valid_csv());
    let dataset = load_dataset(&fixture.manifest()).unwrap();
    assert_eq!(dataset.panel.series().len(), 2);
    assert_eq!(dataset.panel.rows(), 60);
    let a = dataset.panel.get("a").unwrap();
    assert_eq!(a.target[..3], [10.0, 11.0, 12.0]);
    assert_eq!(a.exogenous[0][..2], [20.0, 21.0]);
}

#[test]
fn rows_in_any_order_are_sorted_into_their_series() {
    let mut rows = rows(&["a", "b"], 30);
    rows.reverse();
    let fixture = Fixture::new(&manifest(), &csv(&rows));
    let dataset = load_dataset(&fixture.manifest()).unwrap();
    let a = dataset.panel.get("a").unwrap();
    assert_eq!(a.start.to_string(), "2024-01-01");
    assert_eq!(a.target[..3], [10.0, 11.0, 12.0]);
}

#[test]
fn a_missing_column_is_named_with_the_columns_the_file_has() {
    let data = valid_csv().replace("temp", "temperature");
    let report = Fixture::new(&manifest(), &data).problems();
    let problem = only(&report, ProblemKind::MissingColumn);
    assert_eq!(problem.column.as_deref(), Some("temp"));
    assert!(problem.message.contains("\"temperature\""), "{problem}");
    assert!(problem.file.ends_with("data.csv"));
}

#[test]
fn an_unparseable_timestamp_names_its_line_series_and_column() {
    let mut rows = rows(&["a", "b"], 30);
    rows[33][1] = "2024-02-30".into(); // line 35, series b
    let report = Fixture::new(&manifest(), &csv(&rows)).problems();
    let problem = only(&report, ProblemKind::BadTimestamp);
    assert_eq!(problem.location, Some(Location::Line(35)));
    assert_eq!(problem.series.as_deref(), Some("b"));
    assert_eq!(problem.column.as_deref(), Some("ds"));
    assert!(problem.message.contains("\"2024-02-30\""), "{problem}");
}

#[test]
fn a_timestamp_off_the_declared_frequency_is_named() {
    let mut rows = rows(&["a"], 30);
    rows[5][1] = "2024-01-06T12:00:00".into(); // line 7
    let report = Fixture::new(&manifest(), &csv(&rows)).problems();
    let problem = only(&report, ProblemKind::OffFrequency);
    assert_eq!(problem.location, Some(Location::Line(7)));
    assert!(problem.message.contains("1d"), "{problem}");
}

#[test]
fn a_weekly_series_that_changes_weekday_is_off_its_grid() {
    let manifest = manifest()
        .replace("frequency = \"1d\"", "frequency = \"1w\"")
        .replace("season_lengths = [7]", "season_lengths = [2]");
    let mut text = String::from("unique_id,ds,y,temp\n");
    let monday = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    for week in 0..20 {
        let mut day = monday + chrono::TimeDelta::weeks(week);
        if week == 9 {
            day += chrono::TimeDelta::days(1); // line 11: a Tuesday
        }
        text.push_str(&format!("a,{day},1,2\n"));
    }
    let report = Fixture::new(&manifest, &text).problems();
    let problem = only(&report, ProblemKind::OffFrequency);
    assert_eq!(problem.location, Some(Location::Line(11)));
}

#[test]
fn a_duplicate_names_both_lines() {
    let mut rows = rows(&["a", "b"], 30);
    rows[12][1] = rows[11][1].clone(); // lines 13 and 14 share a timestamp
    let report = Fixture::new(&manifest(), &csv(&rows)).problems();
    let problem = only(&report, ProblemKind::DuplicateTimestamp);
    assert_eq!(problem.location, Some(Location::Line(14)));
    assert!(problem.message.contains("line 13"), "{problem}");
    assert_eq!(problem.series.as_deref(), Some("a"));
}

#[test]
fn gaps_are_counted_and_the_first_one_is_named() {
    let mut rows = rows(&["a", "b"], 30);
    rows.remove(40); // b, 2024-01-11
    rows.remove(40); // b, 2024-01-12
    rows.remove(45); // b, 2024-01-19
    let report = Fixture::new(&manifest(), &csv(&rows)).problems();
    let problem = only(&report, ProblemKind::Gap);
    assert_eq!(problem.series.as_deref(), Some("b"));
    assert!(
        problem.message.contains("2 gaps with 3 missing timestamps"),
        "{problem}"
    );
    assert!(
        problem.message.contains("first missing is 2024-01-11"),
        "{problem}"
    );
    assert!(problem.message.contains("fill_gaps"), "{problem}");
}

#[test]
fn gaps_are_filled_with_zeros_or_carried_forward_when_the_manifest_says_so() {
    let mut rows = rows(&["a"], 30);
    rows.remove(3); // 2024-01-04, y = 13 at 20+3
    for (fill, expected) in [("zero", 0.0), ("forward", 12.0)] {
        let manifest = manifest_with(&format!("fill_gaps = \"{fill}\""));
        let fixture = Fixture::new(&manifest, &csv(&rows));
        let dataset = load_dataset(&fixture.manifest()).unwrap();
        let a = dataset.panel.get("a").unwrap();
        assert_eq!(a.len(), 30);
        assert_eq!(a.target[3], expected, "fill {fill}");
        assert_eq!(a.target[4], 14.0);
        assert_eq!(
            a.exogenous[0][3], a.exogenous[0][2],
            "exogenous carried forward"
        );
        assert_eq!(dataset.info.filled, vec![1]);
    }
}

#[test]
fn non_numeric_and_non_finite_targets_are_told_apart() {
    let mut rows = rows(&["a", "b"], 30);
    rows[2][2] = "12,5".into(); // line 4 (quoted below)
    rows[8][2] = "NaN".into(); // line 10
    rows[9][2] = "inf".into(); // line 11
    rows[10][2] = String::new(); // line 12
    let mut text = csv(&rows);
    text = text.replace("a,2024-01-03,12,5,", "a,2024-01-03,\"12,5\",");
    let report = Fixture::new(&manifest(), &text).problems();
    let bad: Vec<_> = of_kind(&report, ProblemKind::BadTarget)
        .iter()
        .map(|p| p.location.clone())
        .collect();
    assert_eq!(bad, vec![Some(Location::Line(4)), Some(Location::Line(12))]);
    let non_finite: Vec<_> = of_kind(&report, ProblemKind::NonFiniteTarget)
        .iter()
        .map(|p| p.location.clone())
        .collect();
    assert_eq!(
        non_finite,
        vec![Some(Location::Line(10)), Some(Location::Line(11))]
    );
    assert!(
        report
            .problems()
            .iter()
            .all(|p| p.column.as_deref() == Some("y"))
    );
}

#[test]
fn a_missing_exogenous_value_names_line_and_column() {
    let mut rows = rows(&["a", "b"], 30);
    rows[47][3] = String::new(); // line 49, series b
    rows[48][3] = "warm".into(); // line 50
    let report = Fixture::new(&manifest(), &csv(&rows)).problems();
    let missing = only(&report, ProblemKind::MissingExogenous);
    assert_eq!(missing.location, Some(Location::Line(49)));
    assert_eq!(missing.column.as_deref(), Some("temp"));
    assert_eq!(missing.series.as_deref(), Some("b"));
    let bad = only(&report, ProblemKind::BadExogenous);
    assert_eq!(bad.location, Some(Location::Line(50)));
}

#[test]
fn a_series_too_short_for_its_seasons_and_horizon_is_named() {
    let mut rows = rows(&["a"], 30);
    rows.extend(common::rows(&["short"], 19));
    let report = Fixture::new(&manifest(), &csv(&rows)).problems();
    let problem = only(&report, ProblemKind::SeriesTooShort);
    assert_eq!(problem.series.as_deref(), Some("short"));
    assert!(
        problem
            .message
            .contains("has 19 observations; expected at least 20"),
        "{problem}"
    );
}

#[test]
fn empty_files_and_header_only_files_are_empty() {
    for text in ["", "\n\n", "unique_id,ds,y,temp\n"] {
        let report = Fixture::new(&manifest(), text).problems();
        let problem = only(&report, ProblemKind::EmptyFile);
        assert!(problem.file.ends_with("data.csv"));
    }
}

#[test]
fn a_blank_line_inside_the_data_is_named() {
    let text = valid_csv().replacen("a,2024-01-05", "\na,2024-01-05", 1);
    let report = Fixture::new(&manifest(), &text).problems();
    assert!(
        report
            .problems()
            .iter()
            .any(|p| p.location == Some(Location::Line(6)) && p.message.contains("empty")),
        "{report}"
    );
}

#[test]
fn a_line_with_too_many_fields_is_named() {
    let text = valid_csv().replacen("a,2024-01-05,14,24.0", "a,2024-01-05,14,24.0,7", 1);
    let report = Fixture::new(&manifest(), &text).problems();
    let problem = only(&report, ProblemKind::UnreadableFile);
    assert_eq!(problem.location, Some(Location::Line(6)));
    assert!(problem.message.contains("5 fields"), "{problem}");
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let mut rows = rows(&["a", "b"], 30);
    for r in rows.iter_mut().step_by(2) {
        r[2] = "x".into();
    }
    let report = Fixture::new(&manifest(), &csv(&rows)).problems();
    assert_eq!(report.total(), 30);
    assert_eq!(of_kind(&report, ProblemKind::BadTarget).len(), 30);
}

#[test]
fn a_file_with_a_million_problems_lists_a_readable_number() {
    let mut rows = rows(&["a"], 30);
    for _ in 0..6 {
        let copy = rows.clone();
        rows.extend(copy);
    }
    for r in &mut rows {
        r[2] = "?".into();
    }
    let report = Fixture::new(&manifest(), &csv(&rows)).problems();
    assert_eq!(
        report.problems().len(),
        civicast_training::problem::MAX_REPORTED_PROBLEMS
    );
    assert!(
        report.total() > rows.len(),
        "bad targets plus duplicates are all counted"
    );
}

#[test]
fn a_parquet_file_is_read_and_its_problems_name_rows() {
    use polars::prelude::*;
    let fixture = Fixture::new(&manifest().replace("data.csv", "data.parquet"), "");
    let days: Vec<String> = rows(&["a"], 30).into_iter().map(|r| r[1].clone()).collect();
    let mut y: Vec<Option<f64>> = (0..30).map(|d| Some(f64::from(d))).collect();
    y[4] = None;
    let mut frame = df!(
        "unique_id" => vec!["a"; 30],
        "ds" => days,
        "y" => y,
        "temp" => vec![1.5f64; 30],
    )
    .unwrap();
    let file = std::fs::File::create(fixture.path("data.parquet")).unwrap();
    ParquetWriter::new(file).finish(&mut frame).unwrap();
    let report = fixture.problems();
    let problem = only(&report, ProblemKind::BadTarget);
    assert_eq!(problem.location, Some(Location::Row(5)));
}

#[test]
fn a_parquet_file_with_typed_dates_loads() {
    use polars::prelude::*;
    let fixture = Fixture::new(&manifest().replace("data.csv", "data.parquet"), "");
    let days: Vec<i32> = (0..30).map(|d| 19_723 + d).collect(); // 2024-01-01 = day 19723
    let mut frame = df!(
        "unique_id" => vec!["a"; 30],
        "ds" => days,
        "y" => (0..30).map(f64::from).collect::<Vec<_>>(),
        "temp" => vec![2i64; 30],
    )
    .unwrap();
    frame
        .apply("ds", |c| c.cast(&DataType::Date).unwrap())
        .unwrap();
    let file = std::fs::File::create(fixture.path("data.parquet")).unwrap();
    ParquetWriter::new(file).finish(&mut frame).unwrap();
    let dataset = load_dataset(&fixture.manifest()).unwrap();
    let a = dataset.panel.get("a").unwrap();
    assert_eq!(a.start.to_string(), "2024-01-01");
    assert_eq!(a.target[29], 29.0);
    assert_eq!(a.exogenous[0][0], 2.0);
}

#[test]
fn a_broken_holiday_table_is_a_calendar_problem_with_its_line() {
    let manifest = format!("{}\n[calendar]\nholidays = \"holidays.csv\"\n", manifest());
    let fixture = Fixture::new(&manifest, &valid_csv());
    std::fs::write(
        fixture.path("holidays.csv"),
        "date,name\n2024-01-01,New Year\n2024-13-01,Nonsense\n",
    )
    .unwrap();
    let report = fixture.problems();
    let problem = only(&report, ProblemKind::BadCalendar);
    assert_eq!(problem.location, Some(Location::Line(3)));
    assert!(problem.file.ends_with("holidays.csv"));
}

#[test]
fn a_single_series_file_needs_no_id_column() {
    let manifest = manifest().replace("id = \"unique_id\"\n", "");
    let text = csv(&rows(&["a"], 30));
    let fixture = Fixture::new(&manifest, &text);
    let dataset = load_dataset(&fixture.manifest()).unwrap();
    assert_eq!(dataset.panel.series()[0].id, "tiny");
    assert_eq!(dataset.info.ignored_columns, vec!["unique_id".to_owned()]);
}

#[test]
fn integer_indexed_data_load_with_frequency_index() {
    let manifest = manifest().replace("frequency = \"1d\"", "frequency = \"index\"");
    let mut text = String::from("unique_id,ds,y,temp\n");
    for step in 0..25 {
        text.push_str(&format!("a,{step},{},0\n", step * 2));
    }
    let fixture = Fixture::new(&manifest, &text);
    let dataset = load_dataset(&fixture.manifest()).unwrap();
    assert_eq!(dataset.panel.rows(), 25);
    let bad = Fixture::new(&manifest, &text.replace("a,7,", "a,7.5,")).problems();
    assert_eq!(
        only(&bad, ProblemKind::BadTimestamp).location,
        Some(Location::Line(9))
    );
}
