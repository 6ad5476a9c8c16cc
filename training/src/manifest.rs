//! The dataset manifest (`dataset.toml`): what a data file holds and how to forecast it.
//!
//! The schema is a product feature, documented in `datasets/README.md`: any dataset described this
//! way must work, not just the bundled ones. Reading happens in two steps. Serde parses the TOML
//! into raw structs that reject unknown keys (a misspelt `horizn` must not silently become the
//! default horizon); then [`Manifest::load`] checks every value, resolves paths against the
//! manifest's folder, and reports all bad values at once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use civicast_model::{ExogenousRole, ExogenousSpec, Frequency};
use serde::{Deserialize, Serialize};

use crate::problem::{Location, Problem, ProblemKind, Report};

/// Default name of the time column (Nixtla's long format).
pub const DEFAULT_TIME_COLUMN: &str = "ds";
/// Default name of the target column (Nixtla's long format).
pub const DEFAULT_TARGET_COLUMN: &str = "y";

/// How gaps in a series are handled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FillGaps {
    /// Gaps are an error.
    #[default]
    None,
    /// Missing targets are 0 (counts: an absent hour is an hour without rentals); exogenous
    /// values are carried forward.
    Zero,
    /// Missing targets and exogenous values are carried forward from the last observation.
    Forward,
}

/// Where the data are and how to read them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataSpec {
    /// The data file (CSV or Parquet), resolved against the manifest's folder.
    pub path: PathBuf,
    /// The series-id column; `None` means the file is one series, named after the dataset.
    pub id: Option<String>,
    /// The time column.
    pub time: String,
    /// The target column.
    pub target: String,
    /// The spacing of observations.
    pub frequency: Frequency,
    /// What to do with gaps.
    pub fill_gaps: FillGaps,
}

/// Forecast settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ForecastSpec {
    /// Steps ahead to forecast.
    pub horizon: usize,
    /// Season lengths in steps; the first is the primary season (MASE, seasonal naive).
    pub season_lengths: Vec<usize>,
    /// Statistical models are fitted on at most this many of the latest observations
    /// (`None`: all). A model choice that trades a little accuracy on long histories for speed.
    pub input_size: Option<usize>,
}

/// Rolling-origin backtest settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BacktestSpec {
    /// Number of forecast origins.
    pub windows: usize,
    /// Steps between consecutive origins.
    pub step: usize,
}

/// A checked manifest with resolved paths.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Manifest {
    /// The manifest file itself.
    pub file: PathBuf,
    /// Dataset name: letters, digits, `_` and `-` (it names registry folders).
    pub name: String,
    /// One-line description.
    pub title: Option<String>,
    /// Unit of the target.
    pub unit: Option<String>,
    /// Where the data come from, and their licence.
    pub source: Option<String>,
    /// The data file.
    pub data: DataSpec,
    /// The holiday table, resolved against the manifest's folder.
    pub holidays: Option<PathBuf>,
    /// Exogenous columns: future-known ones first, then historic ones, each in manifest order.
    pub exogenous: Vec<ExogenousSpec>,
    /// Forecast settings.
    pub forecast: ForecastSpec,
    /// Backtest settings.
    pub backtest: BacktestSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    title: Option<String>,
    unit: Option<String>,
    source: Option<String>,
    data: RawData,
    #[serde(default)]
    calendar: RawCalendar,
    #[serde(default)]
    exogenous: RawExogenous,
    forecast: RawForecast,
    backtest: Option<RawBacktest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    path: String,
    id: Option<String>,
    time: Option<String>,
    target: Option<String>,
    frequency: String,
    #[serde(default)]
    fill_gaps: FillGaps,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    holidays: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExogenous {
    #[serde(default)]
    future_known: Vec<String>,
    #[serde(default)]
    historic: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForecast {
    horizon: i64,
    #[serde(default)]
    season_lengths: Vec<i64>,
    input_size: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBacktest {
    windows: i64,
    step: Option<i64>,
}

impl Manifest {
    /// Reads and checks the manifest at `path`. Every problem found is in the returned report.
    pub fn load(path: &Path) -> Result<Manifest, Report> {
        let mut report = Report::new();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                let kind = if e.kind() == std::io::ErrorKind::NotFound {
                    ProblemKind::MissingFile
                } else {
                    ProblemKind::UnreadableFile
                };
                report.push(Problem::new(
                    kind,
                    path,
                    format!("cannot read the manifest: {e}"),
                ));
                return Err(report);
            }
        };
        let raw: RawManifest = match toml::from_str(&text) {
            Ok(raw) => raw,
            Err(e) => {
                report.push(toml_problem(path, &text, &e));
                return Err(report);
            }
        };
        let folder = path.parent().unwrap_or(Path::new("."));
        if raw.name.is_empty()
            || !raw
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            bad_value(
                &mut report,
                path,
                "name",
                format!(
                    "{:?} is not a valid dataset name: use letters, digits, '_' and '-' only",
                    raw.name
                ),
            );
        }
        let frequency = match raw.data.frequency.parse::<Frequency>() {
            Ok(f) => Some(f),
            Err(e) => {
                bad_value(&mut report, path, "data.frequency", e.to_string());
                None
            }
        };
        let horizon = positive(raw.forecast.horizon);
        if horizon.is_none() {
            bad_value(
                &mut report,
                path,
                "forecast.horizon",
                format!(
                    "expected a whole number of steps >= 1, found {}",
                    raw.forecast.horizon
                ),
            );
        }
        let input_size = raw.forecast.input_size.map(positive);
        if let Some(None) = input_size {
            bad_value(
                &mut report,
                path,
                "forecast.input_size",
                format!(
                    "expected a whole number of observations >= 1, found {}",
                    raw.forecast.input_size.unwrap_or_default()
                ),
            );
        }
        let mut season_lengths = Vec::with_capacity(raw.forecast.season_lengths.len());
        for &season in &raw.forecast.season_lengths {
            match usize::try_from(season) {
                Ok(s) if s >= 2 => season_lengths.push(s),
                _ => bad_value(
                    &mut report,
                    path,
                    "forecast.season_lengths",
                    format!("expected season lengths of at least 2 steps, found {season}"),
                ),
            }
        }
        let (windows, step) = match &raw.backtest {
            None => (Some(1), horizon),
            Some(b) => (positive(b.windows), b.step.map_or(horizon, positive)),
        };
        if let Some(b) = &raw.backtest {
            if windows.is_none() {
                bad_value(
                    &mut report,
                    path,
                    "backtest.windows",
                    format!("expected a whole number >= 1, found {}", b.windows),
                );
            }
            if let Some(step) = b.step.filter(|&s| positive(s).is_none()) {
                bad_value(
                    &mut report,
                    path,
                    "backtest.step",
                    format!("expected a whole number of steps >= 1, found {step}"),
                );
            }
        }

        let time = raw
            .data
            .time
            .unwrap_or_else(|| DEFAULT_TIME_COLUMN.to_owned());
        let target = raw
            .data
            .target
            .unwrap_or_else(|| DEFAULT_TARGET_COLUMN.to_owned());
        let mut seen: HashSet<String> = HashSet::new();
        let mut claim = |report: &mut Report, key: &str, column: &str| {
            if column.is_empty() {
                bad_value(
                    report,
                    path,
                    key,
                    "a column name cannot be empty".to_owned(),
                );
            } else if !seen.insert(column.to_owned()) {
                bad_value(
                    report,
                    path,
                    key,
                    format!(
                        "column {column:?} is named twice in the manifest; each column has one role"
                    ),
                );
            }
        };
        if let Some(id) = &raw.data.id {
            claim(&mut report, "data.id", id);
        }
        claim(&mut report, "data.time", &time);
        claim(&mut report, "data.target", &target);
        for name in &raw.exogenous.future_known {
            claim(&mut report, "exogenous.future_known", name);
        }
        for name in &raw.exogenous.historic {
            claim(&mut report, "exogenous.historic", name);
        }

        let data_path = normalize(&folder.join(&raw.data.path));
        if !data_path.is_file() {
            report.push(
                Problem::new(
                    ProblemKind::MissingFile,
                    path,
                    format!(
                        "data file {} does not exist (paths are relative to the manifest's folder)",
                        data_path.display()
                    ),
                )
                .at(Location::Key {
                    key: "data.path".into(),
                    line: None,
                }),
            );
        }
        let holidays = raw
            .calendar
            .holidays
            .as_ref()
            .map(|h| normalize(&folder.join(h)));
        if let Some(h) = holidays.as_ref().filter(|h| !h.is_file()) {
            report.push(
                Problem::new(
                    ProblemKind::MissingFile,
                    path,
                    format!(
                        "holiday table {} does not exist (paths are relative to the manifest's folder)",
                        h.display()
                    ),
                )
                .at(Location::Key {
                    key: "calendar.holidays".into(),
                    line: None,
                }),
            );
        }

        let exogenous = raw
            .exogenous
            .future_known
            .iter()
            .map(|name| (name, ExogenousRole::FutureKnown))
            .chain(
                raw.exogenous
                    .historic
                    .iter()
                    .map(|name| (name, ExogenousRole::Historic)),
            )
            .map(|(name, role)| ExogenousSpec {
                name: name.clone(),
                role,
            })
            .collect();

        match (frequency, horizon, windows, step) {
            (Some(frequency), Some(horizon), Some(windows), Some(step)) if report.is_empty() => {
                Ok(Manifest {
                    file: path.to_path_buf(),
                    name: raw.name,
                    title: raw.title,
                    unit: raw.unit,
                    source: raw.source,
                    data: DataSpec {
                        path: data_path,
                        id: raw.data.id,
                        time,
                        target,
                        frequency,
                        fill_gaps: raw.data.fill_gaps,
                    },
                    holidays,
                    exogenous,
                    forecast: ForecastSpec {
                        horizon,
                        season_lengths,
                        input_size: input_size.flatten(),
                    },
                    backtest: BacktestSpec { windows, step },
                })
            }
            _ => Err(report),
        }
    }

    /// The fewest observations a series needs: enough history before the first backtest cutoff
    /// for two full cycles of the longest season (what seasonal decomposition and seasonal ETS
    /// need to estimate a season), plus the backtest's span of cutoffs and the horizon.
    pub fn min_series_length(&self) -> usize {
        let longest_season = self
            .forecast
            .season_lengths
            .iter()
            .copied()
            .max()
            .unwrap_or(1);
        MIN_SEASON_CYCLES * longest_season
            + (self.backtest.windows - 1) * self.backtest.step
            + self.forecast.horizon
    }
}

/// Full cycles of the longest season a series needs before its first backtest cutoff.
pub const MIN_SEASON_CYCLES: usize = 2;

/// Removes `.` and `name/..` pairs from a path without touching the file system, so that paths in
/// messages read `datasets/calendars/x.csv` rather than `datasets/a/../calendars/x.csv`.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut parts: Vec<Component> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        PathBuf::from(".")
    } else {
        parts.iter().collect()
    }
}

fn bad_value(report: &mut Report, path: &Path, key: &str, message: String) {
    report.push(
        Problem::new(ProblemKind::BadValue, path, message).at(Location::Key {
            key: key.to_owned(),
            line: None,
        }),
    );
}

fn positive(value: i64) -> Option<usize> {
    usize::try_from(value).ok().filter(|&v| v >= 1)
}

/// Turns a TOML or schema error into a problem that names the key and line.
fn toml_problem(path: &Path, text: &str, error: &toml::de::Error) -> Problem {
    let message = error.message().trim().to_owned();
    let line = error
        .span()
        .map(|span| text[..span.start.min(text.len())].matches('\n').count() as u64 + 1);
    let quoted = message
        .split('`')
        .nth(1)
        .map(str::to_owned)
        .filter(|k| !k.is_empty());
    let (kind, key) = if message.starts_with("unknown field") {
        (ProblemKind::UnknownKey, quoted)
    } else if message.starts_with("missing field") || message.starts_with("unknown variant") {
        (ProblemKind::BadValue, quoted)
    } else if message.starts_with("invalid type") {
        (ProblemKind::BadValue, None)
    } else {
        (ProblemKind::ManifestSyntax, None)
    };
    let location = match (key, line) {
        (Some(key), line) if kind == ProblemKind::UnknownKey || line.is_none() => {
            Location::Key { key, line }
        }
        (_, Some(line)) => Location::Line(line),
        (_, None) => return Problem::new(kind, path, message),
    };
    let message = if kind == ProblemKind::UnknownKey {
        format!("{message} (the manifest schema is in datasets/README.md)")
    } else {
        message
    };
    Problem::new(kind, path, message).at(location)
}
