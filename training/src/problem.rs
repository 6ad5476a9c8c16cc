//! Problems found in a dataset, and the [`Report`] that collects them.
//!
//! Validation does not stop at the first problem: a data scientist fixing a file wants to see all
//! of them at once. Each [`Problem`] names the file, where in it (CSV line, Parquet row, manifest
//! key), the series and the column, and says what was found and what was expected. A [`Report`]
//! keeps the first [`MAX_REPORTED_PROBLEMS`] and counts the rest, so a file with a million bad rows
//! still gives a readable answer.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// How many problems a report keeps in full; the rest are only counted. Fifty is a screenful:
/// enough to see a pattern, few enough to read.
pub const MAX_REPORTED_PROBLEMS: usize = 50;

/// The kind of a problem, stable for scripts that read `--json` output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The manifest is not valid TOML.
    ManifestSyntax,
    /// The manifest has a key the schema does not know (often a misspelling).
    UnknownKey,
    /// A manifest value is missing or out of range.
    BadValue,
    /// A file the manifest names does not exist.
    MissingFile,
    /// A file exists but cannot be read or parsed as its format.
    UnreadableFile,
    /// A data file without data rows.
    EmptyFile,
    /// A column the manifest names is not in the file.
    MissingColumn,
    /// A column has a type that cannot hold what the manifest says it holds.
    BadColumnType,
    /// A series id that is missing or not text.
    BadSeriesId,
    /// A timestamp that cannot be parsed.
    BadTimestamp,
    /// A timestamp that does not fit the declared frequency.
    OffFrequency,
    /// The same (series, timestamp) twice.
    DuplicateTimestamp,
    /// Missing timestamps inside a series.
    Gap,
    /// A target value that is missing or not a number.
    BadTarget,
    /// A target value that is NaN or infinite.
    NonFiniteTarget,
    /// An exogenous value that is missing.
    MissingExogenous,
    /// An exogenous value that is not a finite number.
    BadExogenous,
    /// A series too short for its seasons, horizon and backtest.
    SeriesTooShort,
    /// A problem in the holiday calendar file.
    BadCalendar,
}

/// Where in a file a problem is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// A CSV line, counting the header as line 1.
    Line(u64),
    /// A data row of a file without lines (Parquet), counting from 1.
    Row(u64),
    /// A key of a TOML manifest, dotted (`data.frequency`), with its line when known.
    Key {
        /// The dotted key.
        key: String,
        /// Its line, counting from 1, when the parser said.
        #[serde(skip_serializing_if = "Option::is_none")]
        line: Option<u64>,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Row(n) => write!(f, "row {n}"),
            Location::Key { key, line: Some(n) } => write!(f, "line {n}, key `{key}`"),
            Location::Key { key, line: None } => write!(f, "key `{key}`"),
        }
    }
}

/// One thing wrong with a dataset.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Problem {
    /// What kind of problem.
    pub kind: ProblemKind,
    /// The file it is in.
    pub file: PathBuf,
    /// Where in the file, when it is one place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// The series it concerns, when it is one series.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    /// The column it concerns, when it is one column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// What was found and what was expected.
    pub message: String,
}

impl Problem {
    /// A problem of `kind` in `file` with this message; add places with the `at_*` methods.
    pub fn new(kind: ProblemKind, file: &Path, message: impl Into<String>) -> Self {
        Problem {
            kind,
            file: file.to_path_buf(),
            location: None,
            series: None,
            column: None,
            message: message.into(),
        }
    }

    /// The same problem, at `location`.
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    /// The same problem, in series `id`.
    pub fn in_series(mut self, id: &str) -> Self {
        self.series = Some(id.to_owned());
        self
    }

    /// The same problem, in column `name`.
    pub fn in_column(mut self, name: &str) -> Self {
        self.column = Some(name.to_owned());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(location) = &self.location {
            write!(f, ", {location}")?;
        }
        if let Some(series) = &self.series {
            write!(f, ", series {series:?}")?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column {column:?}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The problems found in one dataset: the first [`MAX_REPORTED_PROBLEMS`] in full, and a count of
/// all of them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    problems: Vec<Problem>,
    total: usize,
}

impl Report {
    /// An empty report.
    pub fn new() -> Self {
        Report::default()
    }

    /// Records a problem (kept in full while under the cap, counted always).
    pub fn push(&mut self, problem: Problem) {
        self.total += 1;
        if self.problems.len() < MAX_REPORTED_PROBLEMS {
            self.problems.push(problem);
        }
    }

    /// Appends another report's problems.
    pub fn extend(&mut self, other: Report) {
        let uncounted = other.total - other.problems.len();
        for problem in other.problems {
            self.push(problem);
        }
        self.total += uncounted;
    }

    /// Counts `n` more problems that are not kept in full.
    pub fn add_uncounted(&mut self, n: usize) {
        self.total += n;
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The problems kept in full.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// How many problems were found, kept or not.
    pub fn total(&self) -> usize {
        self.total
    }

    /// `Ok(value)` when the report is empty, otherwise the report as an error.
    pub fn into_result<T>(self, value: T) -> Result<T, Report> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.total == 1 { "" } else { "s" };
        write!(f, "{} problem{plural} found:", self.total)?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        let unlisted = self.total - self.problems.len();
        if unlisted > 0 {
            write!(
                f,
                "\n  ... and {unlisted} more (only the first {MAX_REPORTED_PROBLEMS} are listed)"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Report {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_problems_and_counts_all() {
        let mut report = Report::new();
        for i in 0..(MAX_REPORTED_PROBLEMS + 7) {
            report.push(Problem::new(
                ProblemKind::BadTarget,
                Path::new("x.csv"),
                format!("bad {i}"),
            ));
        }
        assert_eq!(report.total(), MAX_REPORTED_PROBLEMS + 7);
        assert_eq!(report.problems().len(), MAX_REPORTED_PROBLEMS);
        assert!(report.to_string().contains("and 7 more"));
    }

    #[test]
    fn names_file_line_series_and_column() {
        let problem = Problem::new(
            ProblemKind::BadTarget,
            Path::new("d.csv"),
            "expected a number",
        )
        .at(Location::Line(17))
        .in_series("Austin")
        .in_column("y");
        assert_eq!(
            problem.to_string(),
            "d.csv, line 17, series \"Austin\", column \"y\": expected a number"
        );
    }
}
