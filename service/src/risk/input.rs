//! Reading `POST /v1/risk` lines from JSON or CSV into checked values, one line at a time.
//!
//! Both formats go through one [`Source`] trait, so a JSON field and a CSV column are checked by
//! the same code and fail with the same messages. A line's problem is a [`LineError`] naming the
//! field; it never fails the request.

use std::collections::HashMap;

use chrono::NaiveDate;
use civicast_model::ModelError;
use civicast_model::risk::BudgetLine;

use super::LineError;
use crate::error::{ApiError, echo, field_name};

/// One parsed line: its label, and its fields or what was wrong with them.
pub(super) struct Input {
    /// The caller's label, or `line <n>`.
    pub(super) id: String,
    /// The checked fields, or the first thing wrong with them.
    pub(super) fields: Result<Fields, LineError>,
}

/// A line's checked values.
#[derive(Clone)]
pub(super) struct Fields {
    pub(super) dataset: String,
    pub(super) series: String,
    pub(super) start: NaiveDate,
    pub(super) end: NaiveDate,
    pub(super) line: BudgetLine,
}

/// The field names, in the CSV column order of the contract.
const FIELDS: [&str; 10] = [
    "id",
    "dataset",
    "series",
    "start",
    "end",
    "planned",
    "unit_cost",
    "tolerance",
    "waste_cost",
    "shortage_cost",
];
const REQUIRED: [&str; 6] = ["dataset", "series", "start", "end", "planned", "unit_cost"];

/// Where a line's raw values come from: a JSON object or a CSV row.
trait Source {
    /// The text of `field`, `None` when absent or empty.
    fn text(&self, field: &str) -> Result<Option<String>, LineError>;
    /// The number in `field`, `None` when absent or empty.
    fn number(&self, field: &str) -> Result<Option<f64>, LineError>;
}

struct JsonLine<'a>(&'a serde_json::Map<String, serde_json::Value>);

impl Source for JsonLine<'_> {
    fn text(&self, field: &str) -> Result<Option<String>, LineError> {
        match self.0.get(field) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(LineError::new(
                field,
                format!("{field} must be a string, not {}", echo(&other.to_string())),
            )),
        }
    }

    fn number(&self, field: &str) -> Result<Option<f64>, LineError> {
        match self.0.get(field) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Number(n)) => Ok(n.as_f64()),
            Some(other) => Err(LineError::new(
                field,
                format!("{field} must be a number, not {}", echo(&other.to_string())),
            )),
        }
    }
}

struct CsvLine<'a> {
    columns: &'a HashMap<String, usize>,
    cells: &'a [String],
}

impl Source for CsvLine<'_> {
    fn text(&self, field: &str) -> Result<Option<String>, LineError> {
        Ok(self
            .columns
            .get(field)
            .and_then(|&i| self.cells.get(i))
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
            .map(str::to_owned))
    }

    fn number(&self, field: &str) -> Result<Option<f64>, LineError> {
        match self.text(field)? {
            None => Ok(None),
            Some(text) => text.parse::<f64>().map(Some).map_err(|_| {
                LineError::new(
                    field,
                    format!("column {field}: {} is not a number", echo(&text)),
                )
            }),
        }
    }
}

fn required<T>(field: &str, value: Option<T>) -> Result<T, LineError> {
    value.ok_or_else(|| LineError::new(field, format!("{field} is required")))
}

fn date(field: &str, text: &str) -> Result<NaiveDate, LineError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        LineError::new(
            field,
            format!("{field} {} is not a date like 2016-09-01", echo(text)),
        )
    })
}

fn fields(source: &dyn Source) -> Result<Fields, LineError> {
    let dataset = required("dataset", source.text("dataset")?)?;
    let series = required("series", source.text("series")?)?;
    let start = date("start", &required("start", source.text("start")?)?)?;
    let end = date("end", &required("end", source.text("end")?)?)?;
    let line = BudgetLine::new(
        required("planned", source.number("planned")?)?,
        required("unit_cost", source.number("unit_cost")?)?,
        source.number("tolerance")?,
        source.number("waste_cost")?,
        source.number("shortage_cost")?,
    )
    .map_err(|e| match e {
        ModelError::BadBudgetLine { field, detail } => LineError { field, detail },
        other => LineError::new("planned", other.to_string()),
    })?;
    Ok(Fields {
        dataset,
        series,
        start,
        end,
        line,
    })
}

fn default_id(n: usize) -> String {
    format!("line {n}")
}

/// The lines of a JSON body; only a body that is not `{"lines": [...]}` fails as a whole.
pub(super) fn json_inputs(body: &[u8]) -> Result<Vec<Input>, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| ApiError::Invalid {
        field: None,
        detail: format!(
            "the body is not valid JSON: {}",
            crate::error::shorten_quotes(&e.to_string())
        ),
    })?;
    let lines = value
        .as_object()
        .and_then(|o| o.get("lines"))
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| {
            ApiError::invalid("lines", "the body must be an object with a \"lines\" array")
        })?;
    if let Some(other) = value
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "lines"))
    {
        return Err(ApiError::invalid(
            field_name(other),
            format!("unknown field {}; the body has only \"lines\"", echo(other)),
        ));
    }
    Ok(lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let Some(object) = line.as_object() else {
                return Input {
                    id: default_id(i + 1),
                    fields: Err(LineError::new("line", "each line must be a JSON object")),
                };
            };
            let source = JsonLine(object);
            let id = match source.text("id") {
                Ok(id) => id.unwrap_or_else(|| default_id(i + 1)),
                Err(e) => {
                    return Input {
                        id: default_id(i + 1),
                        fields: Err(e),
                    };
                }
            };
            let fields = match object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
                Some(unknown) => Err(LineError::new(
                    &field_name(unknown),
                    format!(
                        "unknown field {}; expected {}",
                        echo(unknown),
                        FIELDS.join(", ")
                    ),
                )),
                None => fields(&source),
            };
            Input { id, fields }
        })
        .collect())
}

/// The lines of a CSV body; only an unreadable CSV or a bad header fails as a whole.
pub(super) fn csv_inputs(body: &[u8]) -> Result<Vec<Input>, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::invalid("body", format!("the CSV is not UTF-8: {e}")))?;
    let records = super::csv::parse(text).map_err(|e| {
        ApiError::invalid(
            format!("row {}", e.record),
            format!("row {} of the CSV: {}", e.record, e.detail),
        )
    })?;
    let Some((header, rows)) = records.split_first() else {
        return Err(ApiError::invalid(
            "lines",
            "the CSV is empty; it needs a header row and at least one line",
        ));
    };
    let mut columns = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        let name = name.trim();
        if !FIELDS.contains(&name) {
            return Err(ApiError::invalid(
                field_name(name),
                format!(
                    "unknown column {} in the header; expected {}",
                    echo(name),
                    FIELDS.join(",")
                ),
            ));
        }
        if columns.insert(name.to_owned(), i).is_some() {
            return Err(ApiError::invalid(
                name,
                format!("column {name} appears twice in the header"),
            ));
        }
    }
    if let Some(missing) = REQUIRED.iter().find(|c| !columns.contains_key(**c)) {
        return Err(ApiError::invalid(
            *missing,
            format!(
                "the header has no {missing} column; required: {}",
                REQUIRED.join(",")
            ),
        ));
    }
    Ok(rows
        .iter()
        .enumerate()
        .map(|(i, cells)| {
            let source = CsvLine {
                columns: &columns,
                cells,
            };
            let id = source
                .text("id")
                .ok()
                .flatten()
                .unwrap_or_else(|| default_id(i + 1));
            let fields = if cells.len() != header.len() {
                Err(LineError::new(
                    "row",
                    format!(
                        "row {} has {} cells; the header has {}",
                        i + 2,
                        cells.len(),
                        header.len()
                    ),
                ))
            } else {
                fields(&source)
            };
            Input { id, fields }
        })
        .collect())
}
