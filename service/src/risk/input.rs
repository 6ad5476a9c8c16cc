//! Reading `POST /v1/risk` lines from JSON or CSV into checked values, one line at a time.
//!
//! Both formats go through one [`Source`] trait, so a JSON field and a CSV column are checked by
//! the same code and fail with the same messages. A line's problem is a [`LineError`] naming the
//! field; it never fails the request.

use std::collections::HashMap;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

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

fn too_many(lines: usize, max_lines: usize) -> ApiError {
    ApiError::OverLimit {
        field: "lines".into(),
        limit: "max_risk_lines",
        maximum: max_lines,
        value: lines,
    }
}

/// The lines of a JSON body; only a body that is not `{"lines": [...]}` or has more than
/// `max_lines` lines fails as a whole. The body is read into [`JsonLine`]s, which keep only the
/// values a line can use, and lines past `max_lines` are counted, never kept: a megabyte of JSON
/// read into `serde_json::Value`s would take up to 75 times its size (docs/hardening.md).
pub(super) fn json_inputs(body: &[u8], max_lines: usize) -> Result<Vec<Input>, ApiError> {
    let mut json = serde_json::Deserializer::from_slice(body);
    let parsed = BodySeed { max_lines }
        .deserialize(&mut json)
        .and_then(|parsed| json.end().map(|()| parsed))
        .map_err(|e| ApiError::Invalid {
            field: None,
            detail: format!(
                "the body is not valid JSON: {}",
                crate::error::shorten_quotes(&e.to_string())
            ),
        })?;
    if let Some(other) = parsed.unknown {
        return Err(ApiError::invalid(
            field_name(&other),
            format!(
                "unknown field {}; the body has only \"lines\"",
                echo(&other)
            ),
        ));
    }
    let Some((lines, total)) = parsed.lines else {
        return Err(ApiError::invalid(
            "lines",
            "the body must be an object with a \"lines\" array",
        ));
    };
    if total > max_lines {
        return Err(too_many(total, max_lines));
    }
    Ok(lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            let Some(line) = line else {
                return Input {
                    id: default_id(i + 1),
                    fields: Err(LineError::new("line", "each line must be a JSON object")),
                };
            };
            let id = match line.text("id") {
                Ok(id) => id.unwrap_or_else(|| default_id(i + 1)),
                Err(e) => {
                    return Input {
                        id: default_id(i + 1),
                        fields: Err(e),
                    };
                }
            };
            let fields = match &line.unknown {
                Some(unknown) => Err(LineError::new(
                    &field_name(unknown),
                    format!(
                        "unknown field {}; expected {}",
                        echo(unknown),
                        FIELDS.join(", ")
                    ),
                )),
                None => fields(&line),
            };
            Input { id, fields }
        })
        .collect())
}

/// A JSON body as far as it matters: its lines (each an object, or `None` when it was something
/// else), how many lines it had in all, and its first unknown top-level field.
#[derive(Default)]
struct ParsedBody {
    lines: Option<(Vec<Option<JsonLine>>, usize)>,
    unknown: Option<String>,
}

struct BodySeed {
    max_lines: usize,
}

impl<'de> DeserializeSeed<'de> for BodySeed {
    type Value = ParsedBody;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<ParsedBody, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BodySeed {
    type Value = ParsedBody;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object with a \"lines\" array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ParsedBody, A::Error> {
        let mut body = ParsedBody::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "lines" && body.lines.is_none() {
                body.lines = Some(map.next_value_seed(LinesSeed {
                    max_lines: self.max_lines,
                })?);
            } else {
                body.unknown.get_or_insert_with(|| field_name(&key));
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(body)
    }
}

/// The `lines` array: the first `max_lines` + 1 lines kept, all counted.
struct LinesSeed {
    max_lines: usize,
}

impl<'de> DeserializeSeed<'de> for LinesSeed {
    type Value = (Vec<Option<JsonLine>>, usize);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for LinesSeed {
    type Value = (Vec<Option<JsonLine>>, usize);

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of budget lines")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut lines = Vec::new();
        let mut total = 0usize;
        loop {
            if lines.len() <= self.max_lines {
                match seq.next_element::<MaybeLine>()? {
                    Some(MaybeLine(line)) => lines.push(line),
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            total += 1;
        }
        Ok((lines, total))
    }
}

/// One element of `lines`: a [`JsonLine`] when it is an object, `None` otherwise.
struct MaybeLine(Option<JsonLine>);

impl<'de> Deserialize<'de> for MaybeLine {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LineVisitor;
        impl<'de> Visitor<'de> for LineVisitor {
            type Value = MaybeLine;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a budget line")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MaybeLine, A::Error> {
                let mut line = JsonLine::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match FIELDS.iter().find(|f| **f == key) {
                        Some(field) => {
                            let cell = map.next_value::<Cell>()?;
                            line.cells.retain(|(f, _)| f != field);
                            line.cells.push((field, cell));
                        }
                        None => {
                            line.unknown.get_or_insert_with(|| field_name(&key));
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(MaybeLine(Some(line)))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MaybeLine, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(MaybeLine(None))
            }

            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<MaybeLine, E> {
                Ok(MaybeLine(None))
            }

            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<MaybeLine, E> {
                Ok(MaybeLine(None))
            }

            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<MaybeLine, E> {
                Ok(MaybeLine(None))
            }

            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<MaybeLine, E> {
                Ok(MaybeLine(None))
            }

            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<MaybeLine, E> {
                Ok(MaybeLine(None))
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<MaybeLine, E> {
                Ok(MaybeLine(None))
            }
        }
        deserializer.deserialize_any(LineVisitor)
    }
}

/// A JSON field's value, kept only as far as a line can use it: text, a number, or which other
/// kind of value it was (its content skipped, never stored).
enum Cell {
    Null,
    Text(String),
    Number(f64),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CellVisitor;
        impl<'de> Visitor<'de> for CellVisitor {
            type Value = Cell;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a number")
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<Cell, E> {
                Ok(Cell::Null)
            }

            fn visit_none<E: serde::de::Error>(self) -> Result<Cell, E> {
                Ok(Cell::Null)
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Cell, E> {
                Ok(Cell::Text(v.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Cell, E> {
                Ok(Cell::Text(v))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Cell, E> {
                Ok(Cell::Number(v))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Cell, E> {
                Ok(Cell::Number(v as f64))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Cell, E> {
                Ok(Cell::Number(v as f64))
            }

            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Cell, E> {
                Ok(Cell::Other("a boolean"))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cell, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Cell::Other("an array"))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cell, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Cell::Other("an object"))
            }
        }
        deserializer.deserialize_any(CellVisitor)
    }
}

/// A JSON budget line: its known fields' values and its first unknown field's name.
#[derive(Default)]
struct JsonLine {
    cells: Vec<(&'static str, Cell)>,
    unknown: Option<String>,
}

impl JsonLine {
    fn cell(&self, field: &str) -> Option<&Cell> {
        self.cells.iter().find(|(f, _)| *f == field).map(|(_, c)| c)
    }
}

impl Source for JsonLine {
    fn text(&self, field: &str) -> Result<Option<String>, LineError> {
        match self.cell(field) {
            None | Some(Cell::Null) => Ok(None),
            Some(Cell::Text(s)) => Ok(Some(s.clone())),
            Some(Cell::Number(n)) => Err(LineError::new(
                field,
                format!("{field} must be a string, not the number {n}"),
            )),
            Some(Cell::Other(kind)) => Err(LineError::new(
                field,
                format!("{field} must be a string, not {kind}"),
            )),
        }
    }

    fn number(&self, field: &str) -> Result<Option<f64>, LineError> {
        match self.cell(field) {
            None | Some(Cell::Null) => Ok(None),
            Some(Cell::Number(n)) => Ok(Some(*n)),
            Some(Cell::Text(s)) => Err(LineError::new(
                field,
                format!("{field} must be a number, not the string {}", echo(s)),
            )),
            Some(Cell::Other(kind)) => Err(LineError::new(
                field,
                format!("{field} must be a number, not {kind}"),
            )),
        }
    }
}

/// Cells a CSV row may have: the contract's columns, with room for a spreadsheet's trailing
/// empty ones.
const MAX_CSV_CELLS: usize = 64;

/// The lines of a CSV body; only an unreadable CSV, a bad header or more than `max_lines` lines
/// fail as a whole. Rows past `max_lines` are counted, never kept.
pub(super) fn csv_inputs(body: &[u8], max_lines: usize) -> Result<Vec<Input>, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::invalid("body", format!("the CSV is not UTF-8: {e}")))?;
    let limits = super::csv::Limits {
        records: max_lines.saturating_add(1),
        fields: MAX_CSV_CELLS,
    };
    let table = super::csv::parse(text, limits).map_err(|e| {
        ApiError::invalid(
            format!("row {}", e.record),
            format!("row {} of the CSV: {}", e.record, e.detail),
        )
    })?;
    let lines = table.total.saturating_sub(1);
    if lines > max_lines {
        return Err(too_many(lines, max_lines));
    }
    let records = table.records;
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
