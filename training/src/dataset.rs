//! Loading a dataset: manifest + data file + holiday table -> a validated [`Dataset`].
//!
//! Validation runs in one pass over the rows, then one pass per series, and collects every problem
//! (see [`crate::problem`]) instead of stopping at the first. Rows may come in any order: each
//! series is sorted by time before duplicates, gaps and off-grid timestamps are looked for. Rows
//! with a bad value still take part in the per-series checks, so one bad number does not hide a
//! duplicate next to it.

use std::collections::HashMap;
use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime};
use civicast_model::learned::global::FitMemo;
use civicast_model::{
    Forecaster, ForecasterParams, Frequency, HolidayCalendar, ModelError, ModelId, Panel, Recipe,
    Series, TimePoint,
};

use crate::calendar::load_calendar;
use crate::manifest::{FillGaps, Manifest};
use crate::problem::{Problem, ProblemKind, Report};
use crate::table::{Format, Table, Value};

/// A validated dataset, ready for modelling.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The manifest it was loaded from.
    pub manifest: Manifest,
    /// The series.
    pub panel: Panel,
    /// The holiday table, if the manifest names one.
    pub calendar: Option<HolidayCalendar>,
    /// Facts about the load that are not part of the data.
    pub info: LoadInfo,
    /// Calibration fits of global models made on this data, kept for later fits (a backtest's
    /// windows share them, and `fit`'s production fit takes those near its last window's).
    pub memo: FitMemo,
}

impl Dataset {
    /// The forecaster of `model` for this dataset: its seasons, horizon and holidays, per-series
    /// models fitted on at most `input_size` observations, global models keeping their
    /// calibration fits in [`Self::memo`]. Checked before any work.
    pub fn forecaster(
        &self,
        model: ModelId,
        input_size: Option<usize>,
    ) -> Result<Forecaster, ModelError> {
        let forecast = &self.manifest.forecast;
        ForecasterParams::new(
            model,
            Recipe {
                season_lengths: forecast.season_lengths.clone(),
                horizon: forecast.horizon,
                input_size,
                holidays: self.calendar.clone(),
            },
        )
        .check()
        .map(|forecaster| forecaster.remembering_with(self.memo.clone()))
    }
}

/// What happened while loading, for summaries.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LoadInfo {
    /// The data file's format.
    pub format: Format,
    /// Data rows in the file.
    pub rows_read: usize,
    /// Columns in the file that the manifest does not use.
    pub ignored_columns: Vec<String>,
    /// Per series (in panel order): how many missing time points were filled.
    pub filled: Vec<usize>,
    /// SHA-256 of the data file's bytes as read.
    pub data_sha256: String,
}

/// Reads and validates the dataset described by the manifest at `manifest_path`.
pub fn load_dataset(manifest_path: &Path) -> Result<Dataset, Report> {
    let manifest = Manifest::load(manifest_path)?;
    let mut report = Report::new();
    let calendar = match &manifest.holidays {
        Some(path) => load_calendar(path, &mut report),
        None => None,
    };
    let loaded = load_panel(&manifest, &mut report);
    match loaded {
        Some((panel, info)) if report.is_empty() => Ok(Dataset {
            manifest,
            panel,
            calendar,
            info,
            memo: FitMemo::new(),
        }),
        _ => Err(report),
    }
}

/// One data row that parsed well enough to place in its series.
struct Row {
    /// 0-based data row in the file.
    index: usize,
    time: TimePoint,
}

fn load_panel(manifest: &Manifest, report: &mut Report) -> Option<(Panel, LoadInfo)> {
    let data = &manifest.data;
    let file = data.path.as_path();
    let mut wanted: Vec<&str> = Vec::new();
    if let Some(id) = &data.id {
        wanted.push(id);
    }
    wanted.push(&data.time);
    wanted.push(&data.target);
    wanted.extend(manifest.exogenous.iter().map(|e| e.name.as_str()));
    let table = Table::read(file, &wanted, &[], report)?;

    let ids = data.id.as_deref().map(|c| table.column(c));
    let times = table.column(&data.time);
    let targets = table.column(&data.target);
    let exogenous: Vec<&[Value]> = manifest
        .exogenous
        .iter()
        .map(|e| table.column(&e.name))
        .collect();

    // Pass 1: parse each row's cells and place it in its series.
    let mut series_ids: Vec<String> = Vec::new();
    let mut series_of: HashMap<String, usize> = HashMap::new();
    let mut rows: Vec<Vec<Row>> = Vec::new();
    let mut target_values = vec![f64::NAN; table.height];
    let mut exogenous_values = vec![vec![f64::NAN; table.height]; exogenous.len()];
    for index in 0..table.height {
        let at = table.location(index);
        let problem = |kind, column: &str, message: String| {
            Problem::new(kind, file, message)
                .at(at.clone())
                .in_column(column)
        };
        let row_is_blank = ids.is_none_or(|c| c[index] == Value::Missing)
            && times[index] == Value::Missing
            && targets[index] == Value::Missing;
        if row_is_blank {
            report.push(
                Problem::new(
                    ProblemKind::BadTimestamp,
                    file,
                    "the row is empty; expected a timestamp and a target value",
                )
                .at(at.clone()),
            );
            continue;
        }
        let id = match (ids, data.id.as_deref()) {
            (Some(column), Some(name)) => match &column[index] {
                Value::Text(s) if !s.trim().is_empty() => s.trim().to_owned(),
                Value::Int(i) => i.to_string(),
                other => {
                    report.push(problem(
                        ProblemKind::BadSeriesId,
                        name,
                        format!("expected a series id, found {}", describe(other)),
                    ));
                    continue;
                }
            },
            _ => manifest.name.clone(),
        };
        let series = *series_of.entry(id.clone()).or_insert_with(|| {
            series_ids.push(id);
            rows.push(Vec::new());
            series_ids.len() - 1
        });
        let in_series = |p: Problem| p.in_series(&series_ids[series]);

        match parse_time(&times[index], data.frequency) {
            Ok(time) if data.frequency.is_aligned(time) => rows[series].push(Row { index, time }),
            Ok(time) => report.push(in_series(problem(
                ProblemKind::OffFrequency,
                &data.time,
                format!(
                    "{time} is not on the declared frequency {}: expected {}",
                    data.frequency,
                    data.frequency.alignment_rule()
                ),
            ))),
            Err(message) => report.push(in_series(problem(
                ProblemKind::BadTimestamp,
                &data.time,
                message,
            ))),
        }
        match parse_number(&targets[index]) {
            Ok(v) => target_values[index] = v,
            Err(bad) => {
                let kind = match bad {
                    BadNumber::NonFinite(_) => ProblemKind::NonFiniteTarget,
                    _ => ProblemKind::BadTarget,
                };
                report.push(in_series(problem(kind, &data.target, bad.message())));
            }
        }
        for ((spec, column), values) in manifest
            .exogenous
            .iter()
            .zip(&exogenous)
            .zip(exogenous_values.iter_mut())
        {
            match parse_number(&column[index]) {
                Ok(v) => values[index] = v,
                Err(bad) => {
                    let kind = match bad {
                        BadNumber::Missing => ProblemKind::MissingExogenous,
                        _ => ProblemKind::BadExogenous,
                    };
                    report.push(in_series(problem(kind, &spec.name, bad.message())));
                }
            }
        }
    }

    // Pass 2: per series, order by time and check the grid.
    let min_length = manifest.min_series_length();
    let mut built = Vec::with_capacity(rows.len());
    let mut filled = Vec::with_capacity(rows.len());
    for (id, mut series_rows) in series_ids.iter().zip(rows) {
        series_rows.sort_by_key(|r| (r.time, r.index));
        let Some(first) = series_rows.first() else {
            continue; // every row of this series had a bad timestamp, already reported
        };
        let start = first.time;
        let mut kept: Vec<&Row> = Vec::with_capacity(series_rows.len());
        let mut missing_points = 0usize;
        let mut gaps = 0usize;
        let mut first_gap: Option<(TimePoint, usize)> = None;
        let mut positions: Vec<i64> = Vec::with_capacity(series_rows.len());
        for row in &series_rows {
            if let Some(previous) = kept.last() {
                if previous.time == row.time {
                    report.push(
                        Problem::new(
                            ProblemKind::DuplicateTimestamp,
                            file,
                            format!(
                                "timestamp {} appears twice in the series (also at {}); expected one row per series and timestamp",
                                row.time,
                                table.location(previous.index)
                            ),
                        )
                        .at(table.location(row.index))
                        .in_series(id)
                        .in_column(&data.time),
                    );
                    continue;
                }
                let Some(position) = data.frequency.steps_between(start, row.time) else {
                    report.push(
                        Problem::new(
                            ProblemKind::OffFrequency,
                            file,
                            format!(
                                "{} is not a whole number of {} steps after the series start {start}",
                                row.time, data.frequency
                            ),
                        )
                        .at(table.location(row.index))
                        .in_series(id)
                        .in_column(&data.time),
                    );
                    continue;
                };
                let previous_position = positions.last().copied().unwrap_or(0);
                let skipped = (position - previous_position - 1).max(0) as usize;
                if skipped > 0 {
                    gaps += 1;
                    missing_points += skipped;
                    if first_gap.is_none() {
                        let missing = data
                            .frequency
                            .advance(previous.time, 1)
                            .unwrap_or(previous.time);
                        first_gap = Some((missing, previous.index));
                    }
                }
                positions.push(position);
            } else {
                positions.push(0);
            }
            kept.push(row);
        }
        if let (Some((missing, after)), FillGaps::None) = (first_gap, data.fill_gaps) {
            report.push(
                Problem::new(
                    ProblemKind::Gap,
                    file,
                    format!(
                        "{gaps} gap{} with {missing_points} missing timestamp{}; the first missing is {missing} (after {}). \
                         Expected consecutive {} steps, or set data.fill_gaps = \"zero\" or \"forward\" in the manifest",
                        plural(gaps),
                        plural(missing_points),
                        table.location(after),
                        data.frequency
                    ),
                )
                .in_series(id)
                .in_column(&data.time),
            );
        }
        let length = positions.last().map_or(0, |&p| p as usize + 1);
        if length < min_length {
            report.push(
                Problem::new(
                    ProblemKind::SeriesTooShort,
                    file,
                    format!(
                        "has {length} observations; expected at least {min_length}: {} cycles of the longest season ({}) + {} backtest windows {} steps apart + horizon {}",
                        crate::manifest::MIN_SEASON_CYCLES,
                        manifest.forecast.season_lengths.iter().max().copied().unwrap_or(1),
                        manifest.backtest.windows,
                        manifest.backtest.step,
                        manifest.forecast.horizon,
                    ),
                )
                .in_series(id),
            );
        }
        if !report.is_empty() {
            continue; // the panel will not be built; keep checking the other series
        }
        let series = fill_series(
            id,
            start,
            length,
            &kept,
            &positions,
            &target_values,
            &exogenous_values,
            data.fill_gaps,
        );
        filled.push(missing_points);
        built.push(series);
    }
    if !report.is_empty() {
        return None;
    }
    let panel = match Panel::new(data.frequency, manifest.exogenous.clone(), built) {
        Ok(panel) => panel,
        Err(e) => {
            // Unreachable for data that passed the checks above; reported rather than trusted.
            report.push(Problem::new(ProblemKind::BadValue, file, e.to_string()));
            return None;
        }
    };
    let ignored_columns = table
        .all_columns
        .iter()
        .filter(|c| !wanted.contains(&c.as_str()))
        .cloned()
        .collect();
    let info = LoadInfo {
        format: table.format,
        rows_read: table.height,
        ignored_columns,
        filled,
        data_sha256: table.sha256.clone(),
    };
    Some((panel, info))
}

/// Lays a series' rows on its grid, filling gaps by `fill`.
#[allow(clippy::too_many_arguments)]
fn fill_series(
    id: &str,
    start: TimePoint,
    length: usize,
    rows: &[&Row],
    positions: &[i64],
    targets: &[f64],
    exogenous: &[Vec<f64>],
    fill: FillGaps,
) -> Series {
    let mut target = Vec::with_capacity(length);
    let mut columns: Vec<Vec<f64>> = vec![Vec::with_capacity(length); exogenous.len()];
    for (k, (row, &position)) in rows.iter().zip(positions).enumerate() {
        if k > 0 {
            let gap = position as usize - target.len();
            let gap_target = match fill {
                FillGaps::Zero => 0.0,
                FillGaps::Forward | FillGaps::None => target.last().copied().unwrap_or(0.0),
            };
            target.extend(std::iter::repeat_n(gap_target, gap));
            for column in &mut columns {
                let last = column.last().copied().unwrap_or(0.0);
                column.extend(std::iter::repeat_n(last, gap));
            }
        }
        target.push(targets[row.index]);
        for (column, values) in columns.iter_mut().zip(exogenous) {
            column.push(values[row.index]);
        }
    }
    Series {
        id: id.to_owned(),
        start,
        target,
        exogenous: columns,
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A short description of a cell for messages, never echoing more than a few dozen characters.
fn describe(value: &Value) -> String {
    const MAX_ECHO: usize = 40;
    match value {
        Value::Missing => "an empty cell".to_owned(),
        Value::Text(s) if s.chars().count() > MAX_ECHO => {
            let head: String = s.chars().take(MAX_ECHO).collect();
            format!("{head:?}...")
        }
        Value::Text(s) => format!("{s:?}"),
        Value::Number(v) => v.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Time(t) => t.to_string(),
    }
}

/// Why a cell is not a usable number.
enum BadNumber {
    Missing,
    NotNumber(String),
    NonFinite(String),
}

impl BadNumber {
    fn message(&self) -> String {
        match self {
            BadNumber::Missing => "the value is missing; expected a number".to_owned(),
            BadNumber::NotNumber(found) => format!("expected a number, found {found}"),
            BadNumber::NonFinite(found) => format!("expected a finite number, found {found}"),
        }
    }
}

fn parse_number(value: &Value) -> Result<f64, BadNumber> {
    let number = match value {
        Value::Missing => return Err(BadNumber::Missing),
        Value::Text(s) if s.trim().is_empty() => return Err(BadNumber::Missing),
        Value::Text(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| BadNumber::NotNumber(describe(value)))?,
        Value::Number(v) => *v,
        Value::Int(i) => *i as f64,
        Value::Time(_) => return Err(BadNumber::NotNumber(describe(value))),
    };
    if number.is_finite() {
        Ok(number)
    } else {
        Err(BadNumber::NonFinite(describe(value)))
    }
}

/// Date-time layouts accepted in text cells, tried in order.
const DATETIME_FORMATS: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

fn parse_time(value: &Value, frequency: Frequency) -> Result<TimePoint, String> {
    if frequency.is_index() {
        return match value {
            Value::Int(i) => Ok(TimePoint::Step(*i)),
            Value::Text(s) => s.trim().parse::<i64>().map(TimePoint::Step).map_err(|_| {
                format!(
                    "expected an integer step (frequency \"index\"), found {}",
                    describe(value)
                )
            }),
            _ => Err(format!(
                "expected an integer step (frequency \"index\"), found {}",
                describe(value)
            )),
        };
    }
    let expected = "expected a date (2024-01-31) or a naive date-time (2024-01-31T08:30:00)";
    match value {
        Value::Time(t) => Ok(TimePoint::At(*t)),
        Value::Text(s) => {
            let s = s.trim();
            if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                return Ok(TimePoint::date(date));
            }
            DATETIME_FORMATS
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
                .map(TimePoint::At)
                .ok_or_else(|| {
                    let zone_hint = if s.ends_with('Z')
                        || s.get(19..).is_some_and(|t| t.contains(['+', '-']))
                    {
                        " (time-zone offsets are not supported: use local wall-clock time)"
                    } else {
                        ""
                    };
                    format!("{expected}, found {}{zone_hint}", describe(value))
                })
        }
        _ => Err(format!("{expected}, found {}", describe(value))),
    }
}
