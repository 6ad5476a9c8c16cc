//! Reading a CSV or Parquet file into the columns a manifest asks for.
//!
//! Polars does the reading: its CSV parser is fast and multi-threaded, and it is our Parquet
//! reader. CSV columns are read as text (`infer_schema_length = 0`) and parsed by us, row by row,
//! so that a bad value becomes a problem that names its line and column instead of failing the
//! whole file with a type-inference error. Parquet columns arrive typed and are converted
//! directly.
//!
//! Polars counts data records, not lines. To name lines, [`record_lines`] scans the bytes once
//! with the same rules (quoted fields may span lines; a record ends at an unquoted newline) and
//! maps each record to the line it starts on. If the two counts ever disagree we say "row" instead
//! of "line" rather than guess.

use std::io::Cursor;
use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use polars::prelude::*;

use crate::problem::{Location, Problem, ProblemKind, Report};

/// The two file formats a manifest can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Comma-separated text with a header line.
    Csv,
    /// Apache Parquet.
    Parquet,
}

const PARQUET_MAGIC: &[u8] = b"PAR1";

impl Format {
    /// The format of `path`: by extension, else by content (Parquet files start with `PAR1`).
    fn detect(path: &Path, bytes: &[u8]) -> Format {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("parquet" | "pq") => Format::Parquet,
            Some("csv" | "txt") => Format::Csv,
            _ if bytes.starts_with(PARQUET_MAGIC) => Format::Parquet,
            _ => Format::Csv,
        }
    }
}

/// One cell, as the file gave it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    /// Empty or null.
    Missing,
    /// Text (every CSV cell; Parquet string columns).
    Text(String),
    /// A floating-point or boolean Parquet value.
    Number(f64),
    /// An integer Parquet value.
    Int(i64),
    /// A Parquet date or naive date-time.
    Time(NaiveDateTime),
}

/// The requested columns of a file, with a way to name each row's place in the file.
#[derive(Debug)]
pub(crate) struct Table {
    pub format: Format,
    pub height: usize,
    /// All column names of the file, in file order.
    pub all_columns: Vec<String>,
    /// SHA-256 of the bytes read, so that what is fitted and what is recorded as fitted are
    /// the same bytes even if the file changes afterwards.
    pub sha256: String,
    columns: Vec<(String, Vec<Value>)>,
    /// For CSV: the line each record starts on (header = line 1), when it could be determined.
    lines: Option<Vec<u64>>,
}

impl Table {
    /// Reads `path`, keeping the `wanted` columns and those `optional` ones that it has. Problems
    /// (unreadable, empty, missing columns, unsupported column types) go to `report`; `None`
    /// means nothing further can be checked.
    pub fn read(
        path: &Path,
        wanted: &[&str],
        optional: &[&str],
        report: &mut Report,
    ) -> Option<Table> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                report.push(Problem::new(
                    ProblemKind::UnreadableFile,
                    path,
                    format!("cannot read the file: {e}"),
                ));
                return None;
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            report.push(Problem::new(
                ProblemKind::EmptyFile,
                path,
                "the file is empty; expected a header line and data rows",
            ));
            return None;
        }
        let format = Format::detect(path, &bytes);
        let frame = match format {
            Format::Csv => read_csv(&bytes),
            Format::Parquet => ParquetReader::new(Cursor::new(bytes.as_slice())).finish(),
        };
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                if format == Format::Csv && report_overlong_records(path, &bytes, report) {
                    return None;
                }
                let what = match format {
                    Format::Csv => "CSV",
                    Format::Parquet => "Parquet",
                };
                report.push(Problem::new(
                    ProblemKind::UnreadableFile,
                    path,
                    format!("cannot be read as {what}: {}", polars_message(&e)),
                ));
                return None;
            }
        };
        let all_columns: Vec<String> = frame
            .get_column_names()
            .into_iter()
            .map(|c| c.to_string())
            .collect();
        if frame.height() == 0 {
            report.push(Problem::new(
                ProblemKind::EmptyFile,
                path,
                "the file has no data rows; expected rows after the header",
            ));
            return None;
        }
        let mut columns = Vec::with_capacity(wanted.len());
        let mut missing = false;
        let present_optional = optional
            .iter()
            .filter(|&&name| all_columns.iter().any(|c| c == name));
        for &name in wanted.iter().chain(present_optional) {
            let Ok(column) = frame.column(name) else {
                missing = true;
                report.push(
                    Problem::new(
                        ProblemKind::MissingColumn,
                        path,
                        format!(
                            "the manifest names column {name:?}, but the file has no such column; its columns are {}",
                            quoted_list(&all_columns)
                        ),
                    )
                    .in_column(name),
                );
                continue;
            };
            match column_values(column.as_materialized_series()) {
                Ok(values) => columns.push((name.to_owned(), values)),
                Err(found) => {
                    missing = true;
                    report.push(
                        Problem::new(
                            ProblemKind::BadColumnType,
                            path,
                            format!(
                                "has type {found}; expected numbers, text, dates or date-times"
                            ),
                        )
                        .in_column(name),
                    );
                }
            }
        }
        if missing {
            return None;
        }
        let lines = match format {
            Format::Csv => {
                let lines: Vec<u64> = scan_records(&bytes).1.iter().map(|r| r.line).collect();
                (lines.len() == frame.height()).then_some(lines)
            }
            Format::Parquet => None,
        };
        Some(Table {
            format,
            height: frame.height(),
            sha256: civicast_registry::sha256_hex(&bytes),
            all_columns,
            columns,
            lines,
        })
    }

    /// The values of a column that [`Table::read`] was asked for.
    pub fn column(&self, name: &str) -> &[Value] {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[], |(_, values)| values.as_slice())
    }

    /// Where data row `row` (0-based) is in the file.
    pub fn location(&self, row: usize) -> Location {
        match &self.lines {
            Some(lines) => Location::Line(lines[row]),
            None => Location::Row(row as u64 + 1),
        }
    }
}

/// Polars rejects a record with more fields than the header without saying where it is; this
/// finds and reports such records by line. Returns whether it found any.
fn report_overlong_records(path: &Path, bytes: &[u8], report: &mut Report) -> bool {
    let (header_fields, records) = scan_records(bytes);
    let mut found = false;
    for record in records.iter().filter(|r| r.fields > header_fields) {
        found = true;
        report.push(
            Problem::new(
                ProblemKind::UnreadableFile,
                path,
                format!(
                    "has {} fields, but the header has {header_fields}; quote fields that contain commas",
                    record.fields
                ),
            )
            .at(Location::Line(record.line)),
        );
    }
    found
}

fn read_csv(bytes: &[u8]) -> PolarsResult<DataFrame> {
    CsvReadOptions::default()
        .with_has_header(true)
        // Every column as text: we parse values ourselves to report bad ones by line.
        .with_infer_schema_length(Some(0))
        .into_reader_with_file_handle(Cursor::new(bytes))
        .finish()
}

/// Polars' error text without its multi-line hints, for one-line problem messages.
fn polars_message(error: &PolarsError) -> String {
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default().trim();
    first.to_owned()
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Converts a polars column to cells; `Err` carries the unsupported type's name.
fn column_values(series: &Series) -> Result<Vec<Value>, String> {
    let dtype = series.dtype().clone();
    let cast = |to: &DataType| series.cast(to).map_err(|_| dtype.to_string());
    let values = match &dtype {
        DataType::String => series
            .str()
            .map_err(|_| dtype.to_string())?
            .iter()
            .map(|v| v.map_or(Value::Missing, |s| Value::Text(s.to_owned())))
            .collect(),
        DataType::Float32 | DataType::Float64 | DataType::Boolean => cast(&DataType::Float64)?
            .f64()
            .map_err(|_| dtype.to_string())?
            .iter()
            .map(|v| v.map_or(Value::Missing, Value::Number))
            .collect(),
        d if d.is_integer() => cast(&DataType::Int64)?
            .i64()
            .map_err(|_| dtype.to_string())?
            .iter()
            .map(|v| v.map_or(Value::Missing, Value::Int))
            .collect(),
        DataType::Date => {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
            cast(&DataType::Int32)?
                .i32()
                .map_err(|_| dtype.to_string())?
                .iter()
                .map(|days| {
                    days.and_then(|d| epoch.checked_add_signed(chrono::TimeDelta::days(d.into())))
                        .map_or(Value::Missing, |d| {
                            Value::Time(d.and_time(chrono::NaiveTime::MIN))
                        })
                })
                .collect()
        }
        DataType::Datetime(unit, None) => {
            let unit = *unit;
            cast(&DataType::Int64)?
                .i64()
                .map_err(|_| dtype.to_string())?
                .iter()
                .map(|v| {
                    v.and_then(|v| match unit {
                        TimeUnit::Nanoseconds => Some(DateTime::from_timestamp_nanos(v)),
                        TimeUnit::Microseconds => DateTime::from_timestamp_micros(v),
                        TimeUnit::Milliseconds => DateTime::from_timestamp_millis(v),
                    })
                    .map_or(Value::Missing, |t| Value::Time(t.naive_utc()))
                })
                .collect()
        }
        DataType::Datetime(_, Some(zone)) => {
            return Err(format!(
                "date-time with time zone {zone} (civicast expects naive local wall-clock times)"
            ));
        }
        _ => return Err(dtype.to_string()),
    };
    Ok(values)
}

/// Where one CSV record is: the line it starts on (header = line 1) and how many fields it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordSpan {
    pub line: u64,
    pub fields: usize,
}

/// The header's field count and every data record of a CSV file, following the record rules of
/// polars' reader (checked in the tests below): empty lines before the header are skipped; after
/// it every line is a record, empty ones included; a record ends at a `\n` outside quotes (a `\r`
/// before it belongs to the line ending); `"` toggles quoting; the empty text after the final
/// newline is not a record.
pub(crate) fn scan_records(bytes: &[u8]) -> (usize, Vec<RecordSpan>) {
    let mut header_fields = 0;
    let mut records: Vec<RecordSpan> = Vec::new();
    let mut line: u64 = 1;
    let mut in_quotes = false;
    let mut header_seen = false;
    let mut at_line_start = true;
    for (i, &b) in bytes.iter().enumerate() {
        if at_line_start {
            at_line_start = false;
            let blank = b == b'\n' || (b == b'\r' && bytes.get(i + 1) == Some(&b'\n'));
            if header_seen {
                records.push(RecordSpan { line, fields: 1 });
            } else if !blank {
                header_seen = true;
                header_fields = 1;
            }
        }
        match b {
            b'"' => in_quotes = !in_quotes,
            b',' if !in_quotes => match records.last_mut() {
                Some(record) => record.fields += 1,
                None => header_fields += 1,
            },
            b'\n' => {
                line += 1;
                at_line_start = !in_quotes;
            }
            _ => {}
        }
    }
    (header_fields, records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_records_to_lines_across_blank_lines_and_quoted_newlines() {
        let lines =
            |csv: &[u8]| -> Vec<u64> { scan_records(csv).1.iter().map(|r| r.line).collect() };
        assert_eq!(lines(b"a,b\n1,2\n\n3,\"x\ny\"\n4,5"), vec![2, 3, 4, 6]);
        assert_eq!(lines(b"\r\na,b\r\n1,2\r\n3,4\r\n"), vec![3, 4]);
        let (header, records) = scan_records(b"a,b,c\n1,\"2,3\",4,5\n");
        assert_eq!((header, records[0].fields), (3, 4));
    }

    /// The scanner's record count must equal polars' row count, or line numbers would be wrong.
    #[test]
    fn scanner_agrees_with_polars_on_record_counts() {
        let cases: [&[u8]; 8] = [
            b"a,b\n1,2\n\n3,4\n",
            b"a,b\n1,2\n\n\n",
            b"\na,b\n1,2\n",
            b"a,b\n1,2",
            b"a,b\n1,\"x\ny\"\n3,4",
            b"a,b\r\n1,2\r\n\r\n3,4\r\n",
            b"a,b\n1\n3,4\n",
            b"a,b\n1,2\n,\n3,4\n",
        ];
        for csv in cases {
            let frame = read_csv(csv).unwrap();
            assert_eq!(
                scan_records(csv).1.len(),
                frame.height(),
                "{:?}",
                String::from_utf8_lossy(csv)
            );
        }
    }
}
