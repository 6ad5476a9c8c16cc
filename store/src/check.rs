//! Checking rows before they are stored: the dataset's rules applied to every row of a request,
//! every failure reported with its row and field, so a caller fixes a batch in one round trip.
//!
//! Rows arrive as JSON objects or as records of a CSV table in the dataset's long format; both
//! become [`RawRow`]s first, so one checker serves both. A row is for one series, or shared by
//! every series of the dataset (no id): shared rows carry exogenous values only, such as the
//! city's weather sent once per time step.

use std::collections::{BTreeMap, HashMap, HashSet};

use civicast_model::{Frequency, TimePoint};
use serde::Serialize;
use serde_json::Value;

use crate::ingest::{Row, SharedRow};
use crate::time::encode_time;

/// What a dataset accepts.
#[derive(Clone, Debug)]
pub struct DatasetRules {
    /// The dataset's name (for messages).
    pub name: String,
    /// Its frequency: times must be on its grid.
    pub frequency: Frequency,
    /// Its series.
    pub series: HashSet<String>,
    /// Whether rows of a series not in `series` are accepted (and the series created).
    pub allow_new_series: bool,
    /// Its exogenous columns.
    pub exogenous: Vec<String>,
    /// Times after this are refused as in the future (`None`: no limit, as for integer steps).
    pub latest: Option<TimePoint>,
}

/// Bounds on one request, checked before the rows are.
#[derive(Clone, Copy, Debug)]
pub struct CheckLimits {
    /// Rows one request may hold (observations and shared rows together).
    pub rows: usize,
}

/// A row before checking: texts and numbers as the caller sent them.
#[derive(Clone, Debug, Default)]
pub struct RawRow {
    /// Where it is, for errors: `observations[3]`, `shared[0]` or `line 5`.
    pub place: String,
    /// Its series, `None` for a shared row.
    pub series: Option<String>,
    /// Its time as text.
    pub time: Option<String>,
    /// Its target: `Ok(value)`, or what was sent instead of a number.
    pub target: Option<Result<f64, String>>,
    /// Exogenous values by column: a number, or what was sent instead.
    pub exogenous: Vec<(String, Result<f64, String>)>,
}

/// One problem of one row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RowError {
    /// The row: `observations[3]`, `shared[0]` or `line 5`.
    pub row: String,
    /// The field at fault.
    pub field: String,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Rows of a JSON body: `{"observations": [{"id", "time", "value", "exogenous": {..}}],
/// "shared": [{"time", "exogenous": {..}}]}` (the `dataset` field is the caller's to read).
/// Structural problems (not an array, a row not an object) are row errors too.
pub fn parse_json_rows(body: &Value) -> (Vec<RawRow>, Vec<RowError>) {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for section in ["observations", "shared"] {
        let Some(list) = body.get(section) else {
            continue;
        };
        let Some(list) = list.as_array() else {
            errors.push(RowError {
                row: section.into(),
                field: section.into(),
                message: "expected an array of rows".into(),
            });
            continue;
        };
        for (i, item) in list.iter().enumerate() {
            let place = format!("{section}[{i}]");
            let Some(object) = item.as_object() else {
                errors.push(RowError {
                    row: place,
                    field: String::new(),
                    message: "expected an object".into(),
                });
                continue;
            };
            let mut row = RawRow {
                place: place.clone(),
                ..RawRow::default()
            };
            let allowed: &[&str] = if section == "shared" {
                &["time", "exogenous"]
            } else {
                &["id", "time", "value", "exogenous"]
            };
            for (key, value) in object {
                if !allowed.contains(&key.as_str()) {
                    errors.push(RowError {
                        row: place.clone(),
                        field: key.clone(),
                        message: format!("unknown field; expected one of {}", allowed.join(", ")),
                    });
                    continue;
                }
                match key.as_str() {
                    "id" => row.series = Some(text(value)),
                    "time" => row.time = Some(text(value)),
                    "value" => row.target = Some(number(value)),
                    _ => match value.as_object() {
                        Some(columns) => {
                            row.exogenous = columns
                                .iter()
                                .map(|(name, v)| (name.clone(), number(v)))
                                .collect();
                        }
                        None => errors.push(RowError {
                            row: place.clone(),
                            field: "exogenous".into(),
                            message: "expected an object of column -> number".into(),
                        }),
                    },
                }
            }
            if section == "observations" && row.series.is_none() {
                errors.push(RowError {
                    row: place.clone(),
                    field: "id".into(),
                    message: "missing: the series id (values every series shares go in \"shared\")"
                        .into(),
                });
                continue;
            }
            rows.push(row);
        }
    }
    (rows, errors)
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn number(value: &Value) -> Result<f64, String> {
    match value.as_f64() {
        Some(v) => Ok(v),
        None => Err(clip(&value.to_string())),
    }
}

/// Rows of a CSV table in the dataset's long format: a header naming the id column (`unique_id`
/// or `id`), the time column (`ds` or `time`), the target column (`target` here, `y`, or `value`)
/// and any exogenous columns; an empty id makes a shared row, whose target must be empty. Record
/// numbers are lines of the file (the header is line 1).
pub fn parse_csv_rows(records: &[Vec<String>], target: &str) -> (Vec<RawRow>, Vec<RowError>) {
    let mut errors = Vec::new();
    let Some((header, body)) = records.split_first() else {
        return (Vec::new(), errors);
    };
    let position = |names: &[&str]| header.iter().position(|h| names.contains(&h.trim()));
    let id = position(&["unique_id", "id"]);
    let time = position(&["ds", "time"]);
    let value = position(&[target, "y", "value"]);
    for (column, names) in [
        (id, "unique_id (or id)"),
        (time, "ds (or time)"),
        (value, "the target column"),
    ] {
        if column.is_none() {
            errors.push(RowError {
                row: "line 1".into(),
                field: names.into(),
                message: format!("the header has no column {names}"),
            });
        }
    }
    let (Some(id), Some(time), Some(value)) = (id, time, value) else {
        return (Vec::new(), errors);
    };
    let rows = body
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let cell = |c: usize| record.get(c).map_or("", |s| s.trim());
            let series = Some(cell(id)).filter(|s| !s.is_empty()).map(str::to_owned);
            let target = Some(cell(value))
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<f64>().map_err(|_| clip(s)));
            let exogenous = header
                .iter()
                .enumerate()
                .filter(|&(c, _)| c != id && c != time && c != value)
                .filter(|&(c, _)| !cell(c).is_empty())
                .map(|(c, name)| {
                    let v = cell(c);
                    (
                        name.trim().to_owned(),
                        v.parse::<f64>().map_err(|_| clip(v)),
                    )
                })
                .collect();
            RawRow {
                place: format!("line {}", i + 2),
                series,
                time: Some(cell(time).to_owned()),
                target,
                exogenous,
            }
        })
        .collect();
    (rows, errors)
}

/// Longest piece of a caller's text quoted back in an error.
const QUOTE: usize = 60;

fn clip(text: &str) -> String {
    match text.char_indices().nth(QUOTE) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// The rows, checked: observations and shared rows ready to store, or every problem found.
/// A request with any problem stores nothing, so all of them are reported at once.
pub fn check_rows(
    raw: &[RawRow],
    rules: &DatasetRules,
    limits: CheckLimits,
) -> Result<(Vec<Row>, Vec<SharedRow>), Vec<RowError>> {
    if raw.len() > limits.rows {
        return Err(vec![RowError {
            row: format!("{} rows", raw.len()),
            field: String::new(),
            message: format!(
                "a request holds at most {} rows: send them in batches",
                limits.rows
            ),
        }]);
    }
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    let mut shared = Vec::new();
    // Where each (series, time) was first seen, to name repeats.
    let mut seen: HashMap<(Option<&str>, i64), &str> = HashMap::new();
    for row in raw {
        let mut fail = |field: &str, message: String| {
            errors.push(RowError {
                row: row.place.clone(),
                field: field.into(),
                message,
            })
        };
        let mut ok = true;
        if let Some(series) = &row.series
            && !rules.series.contains(series)
        {
            if series.is_empty() || series.len() > 200 || series.chars().any(char::is_control) {
                fail(
                    "id",
                    "expected a series id: 1 to 200 characters, no control characters".into(),
                );
                ok = false;
            } else if !rules.allow_new_series {
                fail(
                    "id",
                    format!(
                        "unknown series {:?} of dataset {:?} (new series are not accepted by \
                         this service's configuration)",
                        clip(series),
                        rules.name
                    ),
                );
                ok = false;
            }
        }
        let time = match row.time.as_deref() {
            None | Some("") => {
                fail("time", "missing".into());
                None
            }
            Some(text) => match rules.frequency.parse_time(text) {
                None => {
                    fail(
                        "time",
                        format!(
                            "{:?} is not a time: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS{}",
                            clip(text),
                            if rules.frequency.is_index() {
                                " (here: an integer step)"
                            } else {
                                ""
                            }
                        ),
                    );
                    None
                }
                Some(t) if !rules.frequency.is_aligned(t) => {
                    fail(
                        "time",
                        format!(
                            "{text} is not on the dataset's {} grid: expected {}",
                            rules.frequency,
                            rules.frequency.alignment_rule()
                        ),
                    );
                    None
                }
                Some(t) if rules.latest.is_some_and(|latest| t > latest) => {
                    fail(
                        "time",
                        format!("{text} is in the future: observations are of times that passed"),
                    );
                    None
                }
                Some(t) => Some(t),
            },
        };
        let target = match (&row.series, &row.target) {
            (Some(_), None) => {
                fail("value", "missing: expected a finite number".into());
                None
            }
            (Some(_), Some(Ok(v))) if v.is_finite() => Some(*v),
            (Some(_), Some(Ok(_))) => {
                fail("value", "expected a finite number".into());
                None
            }
            (Some(_), Some(Err(sent))) => {
                fail("value", format!("{sent:?} is not a number"));
                None
            }
            (None, Some(_)) => {
                fail(
                    "value",
                    "a shared row (no id) carries exogenous values only".into(),
                );
                None
            }
            (None, None) => None,
        };
        let mut exogenous = BTreeMap::new();
        for (name, value) in &row.exogenous {
            if !rules.exogenous.contains(name) {
                fail(
                    name,
                    format!(
                        "unknown column of dataset {:?}; expected one of: {}",
                        rules.name,
                        if rules.exogenous.is_empty() {
                            "(none: it has no exogenous columns)".to_owned()
                        } else {
                            rules.exogenous.join(", ")
                        }
                    ),
                );
                continue;
            }
            match value {
                Ok(v) if v.is_finite() => {
                    exogenous.insert(name.clone(), *v);
                }
                Ok(_) => fail(name, "expected a finite number".into()),
                Err(sent) => fail(name, format!("{sent:?} is not a number")),
            }
        }
        if row.series.is_none() && row.exogenous.is_empty() {
            fail("exogenous", "a shared row needs at least one value".into());
        }
        let Some(time) = time else { continue };
        if !ok || (row.series.is_some() && target.is_none()) {
            continue;
        }
        let t = encode_time(time);
        if let Some(first) = seen.insert((row.series.as_deref(), t), &row.place) {
            fail(
                "time",
                format!("repeats the series and time of {first}: send each once"),
            );
            continue;
        }
        match (&row.series, target) {
            (Some(series), Some(target)) => rows.push(Row {
                series: series.clone(),
                t,
                target,
                exogenous,
            }),
            _ => shared.push(SharedRow { t, exogenous }),
        }
    }
    if errors.is_empty() {
        Ok((rows, shared))
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests;
