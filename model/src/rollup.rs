//! Rolling step forecasts up to calendar periods: weeks, months, quarters, years and fiscal years.
//!
//! A planner's question is "how many riders in March", not "how many on each of the next 60 days".
//! The answer must come from joint sample paths: each path is summed over the steps that fall in
//! the period and the quantiles are taken over those sums. Summing the daily quantiles instead
//! would overstate the spread (it assumes every day is at its 90th percentile at once).
//!
//! A period is *complete* when the forecast covers all of its steps; a partial period's total
//! covers only the forecast steps inside it, and says so.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::forecast::{SamplePaths, empirical_quantile};
use crate::time::{Frequency, TimePoint};

/// A calendar period to roll up to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Calendar day.
    Day,
    /// ISO week (Monday to Sunday).
    Week,
    /// Calendar month.
    Month,
    /// Calendar quarter.
    Quarter,
    /// Calendar year.
    Year,
    /// Fiscal year starting on the first day of month `first_month` (1-12). It is named after the
    /// calendar year in which it ends, as most governments do (Korea's fiscal year is the calendar
    /// year, `first_month = 1`).
    FiscalYear {
        /// First month of the fiscal year.
        first_month: u32,
    },
}

impl FromStr for Period {
    type Err = ModelError;

    /// Parses `day`, `week`, `month`, `quarter`, `year`, or `fiscal_year` (which starts in January;
    /// callers set another first month with [`Period::FiscalYear`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "day" => Ok(Period::Day),
            "week" => Ok(Period::Week),
            "month" => Ok(Period::Month),
            "quarter" => Ok(Period::Quarter),
            "year" => Ok(Period::Year),
            "fiscal_year" => Ok(Period::FiscalYear { first_month: 1 }),
            _ => Err(ModelError::BadParameter {
                name: "period",
                value: format!("{s:?}"),
                expected: "day, week, month, quarter, year or fiscal_year",
            }),
        }
    }
}

/// One period of a roll-up.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PeriodKey {
    /// A readable label: `2016-08-15` (day), `2016-W33`, `2016-08`, `2016-Q3`, `2016`, `FY2017`.
    pub label: String,
    /// First day of the period.
    pub start: NaiveDate,
    /// Last day of the period.
    pub end: NaiveDate,
}

fn month_start(year: i32, month: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, 1)
}

/// The last day before the first day `months` months after `start`.
fn end_after_months(start: NaiveDate, months: u32) -> Option<NaiveDate> {
    start
        .checked_add_months(chrono::Months::new(months))?
        .pred_opt()
}

impl Period {
    /// The period containing the day `date`.
    pub fn key(&self, date: NaiveDate) -> Option<PeriodKey> {
        let (year, month) = (date.year(), date.month());
        let (label, start, end) = match *self {
            Period::Day => (date.to_string(), date, date),
            Period::Week => {
                let week = date.iso_week();
                let start = date
                    - chrono::TimeDelta::days(i64::from(date.weekday().num_days_from_monday()));
                let end = start + chrono::TimeDelta::days(6);
                (format!("{}-W{:02}", week.year(), week.week()), start, end)
            }
            Period::Month => {
                let start = month_start(year, month)?;
                (
                    format!("{year}-{month:02}"),
                    start,
                    end_after_months(start, 1)?,
                )
            }
            Period::Quarter => {
                let quarter = (month - 1) / 3 + 1;
                let start = month_start(year, (quarter - 1) * 3 + 1)?;
                (
                    format!("{year}-Q{quarter}"),
                    start,
                    end_after_months(start, 3)?,
                )
            }
            Period::Year => {
                let start = month_start(year, 1)?;
                (year.to_string(), start, end_after_months(start, 12)?)
            }
            Period::FiscalYear { first_month } => {
                if !(1..=12).contains(&first_month) {
                    return None;
                }
                let start_year = if month >= first_month { year } else { year - 1 };
                let start = month_start(start_year, first_month)?;
                let end = end_after_months(start, 12)?;
                (format!("FY{}", end.year()), start, end)
            }
        };
        Some(PeriodKey { label, start, end })
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Day => f.write_str("day"),
            Period::Week => f.write_str("week"),
            Period::Month => f.write_str("month"),
            Period::Quarter => f.write_str("quarter"),
            Period::Year => f.write_str("year"),
            Period::FiscalYear { first_month } => {
                write!(f, "fiscal_year (from month {first_month})")
            }
        }
    }
}

/// The forecast total of one period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeriodTotal {
    /// The period.
    pub period: PeriodKey,
    /// Forecast steps inside it.
    pub steps: usize,
    /// Steps the whole period has at this frequency.
    pub period_steps: usize,
    /// Whether the forecast covers the whole period.
    pub complete: bool,
    /// Mean of the path sums.
    pub mean: f64,
    /// `(probability, quantile of the path sums)`, in the order asked.
    pub quantiles: Vec<(f64, f64)>,
}

/// Rolls sample paths up to `period`. `first` is the time of the first forecast step; steps follow
/// at `frequency`. Integer-indexed data have no calendar and cannot be rolled up.
pub fn roll_up(
    paths: &SamplePaths,
    first: TimePoint,
    frequency: Frequency,
    period: Period,
    probabilities: &[f64],
) -> Result<Vec<PeriodTotal>, ModelError> {
    if frequency.is_index() {
        return Err(ModelError::NoCalendar {
            purpose: "roll forecasts up to",
        });
    }
    let horizon = paths.horizon();
    let date_of = |step: usize| -> Option<NaiveDateTime> {
        frequency.advance(first, step as i64)?.as_datetime()
    };
    let mut groups: Vec<(PeriodKey, std::ops::Range<usize>)> = Vec::new();
    for step in 0..horizon {
        let date = date_of(step)
            .ok_or(ModelError::OutOfTimeRange {
                what: "a forecast step",
            })?
            .date();
        let key = period.key(date).ok_or(ModelError::OutOfTimeRange {
            what: "the period of a forecast step",
        })?;
        match groups.last_mut() {
            Some((last, range)) if *last == key => range.end = step + 1,
            _ => groups.push((key, step..step + 1)),
        }
    }
    groups
        .into_iter()
        .map(|(key, range)| {
            let at = |step: usize| frequency.advance(first, step as i64).unwrap_or(first);
            let period_steps = grid_steps_in(&key, frequency, at(range.start), at(range.end - 1));
            let mut sums = paths.sums(range.clone());
            let mean = sums.iter().sum::<f64>() / sums.len().max(1) as f64;
            let quantiles = probabilities
                .iter()
                .map(|&p| (p, empirical_quantile(&mut sums, p)))
                .collect();
            Ok(PeriodTotal {
                steps: range.len(),
                complete: range.len() == period_steps,
                period_steps,
                period: key,
                mean,
                quantiles,
            })
        })
        .collect()
}

/// How many steps of the forecast's grid fall in the period: the group's own steps plus the grid
/// points before and after it that are still inside the period. Walking the grid works for every
/// frequency, including weekly series whose weekday is not the period's first day.
fn grid_steps_in(
    key: &PeriodKey,
    frequency: Frequency,
    first: TimePoint,
    last: TimePoint,
) -> usize {
    let inside = |t: Option<TimePoint>| {
        t.and_then(|t| t.as_datetime())
            .is_some_and(|d| d.date() >= key.start && d.date() <= key.end)
    };
    let mut count = steps_between_inclusive(frequency, first, last);
    let mut k = 1;
    while inside(frequency.advance(first, -k)) {
        count += 1;
        k += 1;
    }
    let mut k = 1;
    while inside(frequency.advance(last, k)) {
        count += 1;
        k += 1;
    }
    count
}

fn steps_between_inclusive(frequency: Frequency, first: TimePoint, last: TimePoint) -> usize {
    frequency
        .steps_between(first, last)
        .map_or(1, |n| n.max(0) as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn labels_periods_like_a_planner_would() {
        let d = day("2016-08-14"); // a Sunday
        assert_eq!(Period::Week.key(d).unwrap().label, "2016-W32");
        assert_eq!(Period::Week.key(d).unwrap().start, day("2016-08-08"));
        assert_eq!(Period::Month.key(d).unwrap().end, day("2016-08-31"));
        assert_eq!(Period::Quarter.key(d).unwrap().label, "2016-Q3");
        assert_eq!(Period::Year.key(d).unwrap().end, day("2016-12-31"));
        let fy = Period::FiscalYear { first_month: 7 }.key(d).unwrap();
        assert_eq!(
            (fy.label.as_str(), fy.start, fy.end),
            ("FY2017", day("2016-07-01"), day("2017-06-30"))
        );
        let korean = Period::FiscalYear { first_month: 1 }.key(d).unwrap();
        assert_eq!(korean.label, "FY2016");
    }

    #[test]
    fn sums_each_path_over_its_period_before_taking_quantiles() {
        // Two paths over 4 days spanning two months: Jan 30, 31 | Feb 1, 2.
        let paths = SamplePaths {
            paths: vec![vec![1.0, 2.0, 3.0, 4.0], vec![3.0, 4.0, 5.0, 6.0]],
        };
        let first = TimePoint::date(day("2024-01-30"));
        let totals = roll_up(&paths, first, Frequency::Days(1), Period::Month, &[0.5]).unwrap();
        assert_eq!(totals.len(), 2);
        assert_eq!(totals[0].period.label, "2024-01");
        assert_eq!(
            (totals[0].steps, totals[0].period_steps, totals[0].complete),
            (2, 31, false)
        );
        assert_eq!(totals[0].mean, 5.0); // (3 + 7) / 2
        assert_eq!(totals[1].quantiles, vec![(0.5, 9.0)]); // median of 7 and 11
    }

    #[test]
    fn counts_the_steps_of_whole_periods_at_each_frequency() {
        let key = Period::Month.key(day("2024-02-10")).unwrap();
        let t = TimePoint::date(day("2024-02-10"));
        assert_eq!(grid_steps_in(&key, Frequency::Days(1), t, t), 29);
        assert_eq!(grid_steps_in(&key, Frequency::Hours(1), t, t), 29 * 24);
        assert_eq!(grid_steps_in(&key, Frequency::Minutes(30), t, t), 29 * 48);
        // Thursdays of February 2024: 1, 8, 15, 22, 29.
        let thursday = TimePoint::date(day("2024-02-15"));
        assert_eq!(
            grid_steps_in(&key, Frequency::Weeks(1), thursday, thursday),
            5
        );
        let year = Period::Year.key(day("2024-02-10")).unwrap();
        let feb = TimePoint::date(day("2024-02-01"));
        assert_eq!(grid_steps_in(&year, Frequency::Months(1), feb, feb), 12);
    }

    #[test]
    fn the_quantile_of_a_sum_is_narrower_than_the_sum_of_quantiles() {
        // Independent steps: the spread of the sum grows like sqrt(n), not n.
        use rand::SeedableRng;
        use rand_distr::{Distribution, Normal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let normal = Normal::new(0.0, 1.0).unwrap();
        let paths = SamplePaths {
            paths: (0..4000)
                .map(|_| (0..7).map(|_| normal.sample(&mut rng)).collect())
                .collect(),
        };
        let first = TimePoint::date(day("2024-01-01")); // a Monday: one whole week
        let week = roll_up(&paths, first, Frequency::Days(1), Period::Week, &[0.9]).unwrap();
        assert!(week[0].complete);
        let q90 = week[0].quantiles[0].1;
        let analytic = 1.281_551_565_545 * 7f64.sqrt();
        assert!((q90 - analytic).abs() < 0.15, "{q90} vs {analytic}");
        let sum_of_quantiles = 7.0 * 1.281_551_565_545;
        assert!(q90 < sum_of_quantiles * 0.5);
    }

    #[test]
    fn integer_indexed_series_cannot_be_rolled_up() {
        let paths = SamplePaths {
            paths: vec![vec![1.0]],
        };
        assert!(
            roll_up(
                &paths,
                TimePoint::Step(0),
                Frequency::Index,
                Period::Month,
                &[]
            )
            .is_err()
        );
    }
}
