//! A readable account of a validated dataset: what `civicast-train check` prints.

use std::fmt;
use std::path::PathBuf;

use chrono::NaiveDate;
use civicast_model::ExogenousRole;
use serde::Serialize;

use crate::dataset::Dataset;
use crate::manifest::FillGaps;
use crate::table::Format;

/// How many series the text summary lists one by one; larger panels get a digest.
const MAX_LISTED_SERIES: usize = 25;

/// Facts about a dataset, for people (Display) and scripts (Serialize).
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Dataset name.
    pub name: String,
    /// One-line description.
    pub title: Option<String>,
    /// Unit of the target.
    pub unit: Option<String>,
    /// The manifest file.
    pub manifest: PathBuf,
    /// The data file.
    pub file: PathBuf,
    /// Its format.
    pub format: Format,
    /// Frequency, as written in manifests.
    pub frequency: String,
    /// Number of series.
    pub series: usize,
    /// Observations over all series, after filling gaps.
    pub rows: usize,
    /// Data rows read from the file.
    pub rows_read: usize,
    /// Earliest observation.
    pub start: String,
    /// Latest observation.
    pub end: String,
    /// Shortest series.
    pub min_length: usize,
    /// Longest series.
    pub max_length: usize,
    /// Gap handling from the manifest.
    pub fill_gaps: FillGaps,
    /// Time points filled over all series.
    pub filled_points: usize,
    /// Exogenous columns known over the horizon.
    pub future_known: Vec<String>,
    /// Exogenous columns known only up to the origin.
    pub historic: Vec<String>,
    /// File columns the manifest does not use.
    pub ignored_columns: Vec<String>,
    /// The holiday table, if any.
    pub calendar: Option<CalendarSummary>,
    /// Forecast horizon in steps.
    pub horizon: usize,
    /// Season lengths in steps.
    pub season_lengths: Vec<usize>,
    /// Backtest windows.
    pub backtest_windows: usize,
    /// Steps between backtest origins.
    pub backtest_step: usize,
    /// Each series.
    pub series_detail: Vec<SeriesSummary>,
    /// Things that are allowed but worth a look.
    pub warnings: Vec<String>,
}

/// Facts about a holiday table.
#[derive(Clone, Debug, Serialize)]
pub struct CalendarSummary {
    /// The file.
    pub file: PathBuf,
    /// Number of holidays.
    pub holidays: usize,
    /// First holiday.
    pub first: Option<NaiveDate>,
    /// Last holiday.
    pub last: Option<NaiveDate>,
}

/// Facts about one series.
#[derive(Clone, Debug, Serialize)]
pub struct SeriesSummary {
    /// Series id.
    pub id: String,
    /// First observation.
    pub start: String,
    /// Last observation.
    pub end: String,
    /// Observations (after filling).
    pub length: usize,
    /// Time points filled.
    pub filled: usize,
}

impl Summary {
    /// Summarises a loaded dataset.
    pub fn of(dataset: &Dataset) -> Summary {
        let manifest = &dataset.manifest;
        let panel = &dataset.panel;
        let (start, end) = panel.span();
        let frequency = panel.frequency();
        let series_detail: Vec<SeriesSummary> = panel
            .series()
            .iter()
            .zip(&dataset.info.filled)
            .map(|(s, &filled)| SeriesSummary {
                id: s.id.clone(),
                start: frequency.format_time(s.start),
                end: frequency.format_time(panel.end_of(s)),
                length: s.len(),
                filled,
            })
            .collect();
        let names = |role| {
            panel
                .exogenous()
                .iter()
                .filter(|e| e.role == role)
                .map(|e| e.name.clone())
                .collect()
        };
        let mut warnings = Vec::new();
        let ends_differ = panel.series().iter().any(|s| panel.end_of(s) != end);
        let (start_text, end_text) = (frequency.format_time(start), frequency.format_time(end));
        if ends_differ {
            warnings.push(format!(
                "series end at different times (latest {end_text}); backtest cutoffs are set per series"
            ));
        }
        let calendar = dataset.calendar.as_ref().zip(manifest.holidays.as_ref()).map(|(c, file)| {
            let range = c.range();
            if let (Some((first, last)), Some(s), Some(e)) =
                (range, start.as_datetime(), end.as_datetime())
                && (s.date() < first || e.date() > last)
            {
                warnings.push(format!(
                    "the holiday table covers {first} .. {last}, but the data run {start_text} .. {end_text}"
                ));
            }
            CalendarSummary {
                file: file.clone(),
                holidays: c.len(),
                first: range.map(|r| r.0),
                last: range.map(|r| r.1),
            }
        });
        Summary {
            name: manifest.name.clone(),
            title: manifest.title.clone(),
            unit: manifest.unit.clone(),
            manifest: manifest.file.clone(),
            file: manifest.data.path.clone(),
            format: dataset.info.format,
            frequency: panel.frequency().to_string(),
            series: panel.series().len(),
            rows: panel.rows(),
            rows_read: dataset.info.rows_read,
            start: start_text,
            end: end_text,
            min_length: series_detail.iter().map(|s| s.length).min().unwrap_or(0),
            max_length: series_detail.iter().map(|s| s.length).max().unwrap_or(0),
            fill_gaps: manifest.data.fill_gaps,
            filled_points: dataset.info.filled.iter().sum(),
            future_known: names(ExogenousRole::FutureKnown),
            historic: names(ExogenousRole::Historic),
            ignored_columns: dataset.info.ignored_columns.clone(),
            calendar,
            horizon: manifest.forecast.horizon,
            season_lengths: manifest.forecast.season_lengths.clone(),
            backtest_windows: manifest.backtest.windows,
            backtest_step: manifest.backtest.step,
            series_detail,
            warnings,
        }
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} — valid", self.name)?;
        if let Some(title) = &self.title {
            writeln!(f, "  {title}")?;
        }
        let format = match self.format {
            Format::Csv => "CSV",
            Format::Parquet => "Parquet",
        };
        writeln!(
            f,
            "  file        {} ({format}, {} data rows)",
            self.file.display(),
            self.rows_read
        )?;
        writeln!(
            f,
            "  unit        {}",
            self.unit.as_deref().unwrap_or("(not given)")
        )?;
        writeln!(f, "  frequency   {}", self.frequency)?;
        writeln!(f, "  series      {}", self.series)?;
        writeln!(f, "  rows        {}", self.rows)?;
        writeln!(f, "  span        {} .. {}", self.start, self.end)?;
        writeln!(
            f,
            "  length      {} .. {} per series",
            self.min_length, self.max_length
        )?;
        match self.fill_gaps {
            FillGaps::None => writeln!(
                f,
                "  gaps        none (fill_gaps = \"none\": gaps are errors)"
            )?,
            FillGaps::Zero | FillGaps::Forward => writeln!(
                f,
                "  gaps        {} time points filled (fill_gaps = {:?})",
                self.filled_points,
                if self.fill_gaps == FillGaps::Zero {
                    "zero"
                } else {
                    "forward"
                }
            )?,
        }
        writeln!(
            f,
            "  exogenous   future-known: {}",
            list(&self.future_known)
        )?;
        writeln!(f, "              historic: {}", list(&self.historic))?;
        if !self.ignored_columns.is_empty() {
            writeln!(f, "  ignored     {}", list(&self.ignored_columns))?;
        }
        match &self.calendar {
            Some(c) => writeln!(
                f,
                "  calendar    {} ({} holidays, {} .. {})",
                c.file.display(),
                c.holidays,
                c.first.map_or("-".to_owned(), |d| d.to_string()),
                c.last.map_or("-".to_owned(), |d| d.to_string()),
            )?,
            None => writeln!(f, "  calendar    none")?,
        }
        let seasons: Vec<String> = self
            .season_lengths
            .iter()
            .map(ToString::to_string)
            .collect();
        writeln!(
            f,
            "  forecast    horizon {}, seasons [{}]",
            self.horizon,
            seasons.join(", ")
        )?;
        writeln!(
            f,
            "  backtest    {} windows, {} steps apart",
            self.backtest_windows, self.backtest_step
        )?;
        if self.series_detail.len() <= MAX_LISTED_SERIES {
            writeln!(f, "  series detail:")?;
            for s in &self.series_detail {
                write!(
                    f,
                    "    {:<24} {} .. {}  {} obs",
                    s.id, s.start, s.end, s.length
                )?;
                if s.filled > 0 {
                    write!(f, " ({} filled)", s.filled)?;
                }
                writeln!(f)?;
            }
        } else {
            let ids: Vec<&str> = self
                .series_detail
                .iter()
                .take(5)
                .map(|s| s.id.as_str())
                .collect();
            writeln!(
                f,
                "  series ids  {}, ... ({} in all; --json lists every one)",
                ids.join(", "),
                self.series
            )?;
        }
        for warning in &self.warnings {
            writeln!(f, "  warning: {warning}")?;
        }
        Ok(())
    }
}
