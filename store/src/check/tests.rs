use super::*;

fn rules() -> DatasetRules {
    let frequency: Frequency = "1d".parse().unwrap();
    DatasetRules {
        name: "rides".into(),
        frequency,
        series: ["A".to_owned(), "B".to_owned()].into_iter().collect(),
        allow_new_series: false,
        exogenous: vec!["temp".into(), "rain".into()],
        latest: frequency.parse_time("2020-01-10"),
    }
}

const LIMITS: CheckLimits = CheckLimits { rows: 100 };

fn check_json(body: serde_json::Value) -> Result<(Vec<Row>, Vec<SharedRow>), Vec<RowError>> {
    let (raw, errors) = parse_json_rows(&body);
    assert!(errors.is_empty(), "{errors:?}");
    check_rows(&raw, &rules(), LIMITS)
}

#[test]
fn good_rows_become_observations_and_shared_rows() {
    let (rows, shared) = check_json(serde_json::json!({
        "observations": [
            {"id": "A", "time": "2020-01-01", "value": 3.5, "exogenous": {"temp": 1.0}},
            {"id": "B", "time": "2020-01-01", "value": 4}
        ],
        "shared": [{"time": "2020-01-01", "exogenous": {"rain": 0.2}}]
    }))
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].target, 3.5);
    assert_eq!(rows[0].exogenous["temp"], 1.0);
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0].t, rows[1].t);
}

#[test]
fn every_bad_row_is_named_with_its_field() {
    let errors = check_json(serde_json::json!({
        "observations": [
            {"id": "Z", "time": "2020-01-01", "value": 1},
            {"id": "A", "time": "2020-01-01T12:00:00", "value": 1},
            {"id": "A", "time": "2031-01-01", "value": 1},
            {"id": "A", "time": "yesterday", "value": 1},
            {"id": "A", "time": "2020-01-02", "value": "many"},
            {"id": "A", "time": "2020-01-03"},
            {"id": "A", "time": "2020-01-04", "value": 1, "exogenous": {"wind": 3}},
            {"id": "A", "time": "2020-01-05", "value": 1},
            {"id": "A", "time": "2020-01-05", "value": 1}
        ]
    }))
    .unwrap_err();
    let found: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.row.as_str(), e.field.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("observations[0]", "id"),
            ("observations[1]", "time"),
            ("observations[2]", "time"),
            ("observations[3]", "time"),
            ("observations[4]", "value"),
            ("observations[5]", "value"),
            ("observations[6]", "wind"),
            ("observations[8]", "time"),
        ]
    );
    assert!(errors[0].message.contains("unknown series \"Z\""));
    assert!(errors[1].message.contains("grid"));
    assert!(errors[2].message.contains("future"));
    assert!(errors[6].message.contains("temp, rain"));
    assert!(errors[7].message.contains("observations[7]"));
}

#[test]
fn new_series_are_accepted_only_when_allowed() {
    let body = serde_json::json!({"observations": [{"id": "C", "time": "2020-01-01", "value": 1}]});
    let (raw, _) = parse_json_rows(&body);
    assert!(check_rows(&raw, &rules(), LIMITS).is_err());
    let open = DatasetRules {
        allow_new_series: true,
        ..rules()
    };
    let (rows, _) = check_rows(&raw, &open, LIMITS).unwrap();
    assert_eq!(rows[0].series, "C");
}

#[test]
fn too_many_rows_are_refused_before_any_is_checked() {
    let rows: Vec<RawRow> = (0..101).map(|_| RawRow::default()).collect();
    let errors = check_rows(&rows, &rules(), LIMITS).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.contains("at most 100 rows"));
}

#[test]
fn csv_rows_name_their_lines_and_an_empty_id_is_a_shared_row() {
    let records: Vec<Vec<String>> = [
        "unique_id,ds,y,temp",
        "A,2020-01-01,2.5,3",
        ",2020-01-01,,4",
        "B,2020-01-01,x,",
    ]
    .iter()
    .map(|l| l.split(',').map(str::to_owned).collect())
    .collect();
    let (raw, errors) = parse_csv_rows(&records, "y");
    assert!(errors.is_empty());
    let errors = check_rows(&raw, &rules(), LIMITS).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (errors[0].row.as_str(), errors[0].field.as_str()),
        ("line 4", "value")
    );
    let (raw, _) = parse_csv_rows(&records[..3], "y");
    let (rows, shared) = check_rows(&raw, &rules(), LIMITS).unwrap();
    assert_eq!((rows.len(), shared.len()), (1, 1));
    assert_eq!(shared[0].exogenous["temp"], 4.0);
    let (_, errors) = parse_csv_rows(&[vec!["id".into(), "when".into()]], "y");
    assert_eq!(errors.len(), 2);
}
