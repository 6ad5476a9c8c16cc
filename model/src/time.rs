//! Time axes: the [`Frequency`] of a dataset and the [`TimePoint`]s on it.
//!
//! A series in civicast is *regular*: its observations sit at `start + k * frequency` for
//! `k = 0, 1, ...`. Frequencies come in three kinds, and each kind has its own notion of which
//! time points are on the grid:
//!
//! - fixed durations (`5m`, `30m`, `1h`, `1d`, `1w`): a sub-daily step must divide the day so that
//!   every day has the same slots, and a time point is on the grid when its time of day is a
//!   multiple of the step; daily and weekly points are at midnight (a weekly series keeps its
//!   weekday, which [`Frequency::steps_between`] checks);
//! - calendar months (`1mo`, `3mo`, `1y` = 12 months): points are at midnight on the first day of a
//!   month, as in the Nixtla convention for monthly data; a month is not a fixed duration, so
//!   arithmetic goes through the calendar;
//! - `index`: integer steps with no calendar at all.
//!
//! Time is naive local wall-clock time: the datasets record what a city's clock said, and holiday
//! and day-of-week effects follow that clock, not UTC.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Months, NaiveDate, NaiveDateTime, TimeDelta, Timelike};
use serde::{Deserialize, Serialize};

use crate::error::ModelError;

const SECONDS_PER_MINUTE: i64 = 60;
const SECONDS_PER_HOUR: i64 = 3_600;
const SECONDS_PER_DAY: i64 = 86_400;
const SECONDS_PER_WEEK: i64 = 7 * SECONDS_PER_DAY;

/// One point on a time axis: a naive wall-clock date-time, or an integer step for `index` data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TimePoint {
    /// An integer step of an `index` frequency.
    Step(i64),
    /// A naive local date-time (a date is midnight of that day).
    At(NaiveDateTime),
}

impl TimePoint {
    /// Midnight at the start of `date`.
    pub fn date(date: NaiveDate) -> Self {
        TimePoint::At(date.and_time(chrono::NaiveTime::MIN))
    }

    /// The date-time, if this is a calendar time point.
    pub fn as_datetime(&self) -> Option<NaiveDateTime> {
        match self {
            TimePoint::At(t) => Some(*t),
            TimePoint::Step(_) => None,
        }
    }
}

impl fmt::Display for TimePoint {
    /// Dates at midnight print as `YYYY-MM-DD`, other times as `YYYY-MM-DDTHH:MM:SS` (the
    /// formats of the evaluation protocol), steps as integers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimePoint::Step(s) => write!(f, "{s}"),
            TimePoint::At(t) if t.time() == chrono::NaiveTime::MIN => {
                write!(f, "{}", t.format("%Y-%m-%d"))
            }
            TimePoint::At(t) => write!(f, "{}", t.format("%Y-%m-%dT%H:%M:%S")),
        }
    }
}

/// The regular spacing of a dataset's observations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Frequency {
    /// Every `n` minutes; `n` divides a day.
    Minutes(u32),
    /// Every `n` hours; `n` divides a day.
    Hours(u32),
    /// Every `n` days, at midnight.
    Days(u32),
    /// Every `n` weeks, at midnight.
    Weeks(u32),
    /// Every `n` calendar months, at midnight on the first of the month.
    Months(u32),
    /// Every `n` years, at midnight on the first of a month (1y = 12 months).
    Years(u32),
    /// Integer steps without a calendar.
    Index,
}

impl Frequency {
    /// The forms [`Frequency::from_str`] accepts, for error messages and docs.
    pub const ACCEPTED_FORMS: &'static str = "<n>m (minutes), <n>h, <n>d, <n>w, <n>mo (months), <n>y, or \"index\"; e.g. 5m, 30m, 1h, 1d, 1w, 1mo, 3mo, 1y";

    /// Whether time points are integer steps rather than calendar times.
    pub fn is_index(&self) -> bool {
        matches!(self, Frequency::Index)
    }

    /// The step as a fixed number of seconds, for frequencies that have one.
    fn fixed_seconds(&self) -> Option<i64> {
        match *self {
            Frequency::Minutes(n) => Some(i64::from(n) * SECONDS_PER_MINUTE),
            Frequency::Hours(n) => Some(i64::from(n) * SECONDS_PER_HOUR),
            Frequency::Days(n) => Some(i64::from(n) * SECONDS_PER_DAY),
            Frequency::Weeks(n) => Some(i64::from(n) * SECONDS_PER_WEEK),
            Frequency::Months(_) | Frequency::Years(_) | Frequency::Index => None,
        }
    }

    /// The step in calendar months, for month-based frequencies.
    fn months(&self) -> Option<u32> {
        match *self {
            Frequency::Months(n) => Some(n),
            Frequency::Years(n) => n.checked_mul(12),
            _ => None,
        }
    }

    /// Whether `t` can be an observation time at this frequency, judged on its own: the right kind
    /// of time point, and for calendar frequencies the right time of day and day of month.
    pub fn is_aligned(&self, t: TimePoint) -> bool {
        match (self, t) {
            (Frequency::Index, TimePoint::Step(_)) => true,
            (Frequency::Index, TimePoint::At(_)) | (_, TimePoint::Step(_)) => false,
            (Frequency::Minutes(_) | Frequency::Hours(_), TimePoint::At(t)) => {
                let second_of_day = i64::from(t.num_seconds_from_midnight());
                t.nanosecond() == 0
                    && self
                        .fixed_seconds()
                        .is_some_and(|step| second_of_day % step == 0)
            }
            (Frequency::Days(_) | Frequency::Weeks(_), TimePoint::At(t)) => {
                t.time() == chrono::NaiveTime::MIN
            }
            (Frequency::Months(_) | Frequency::Years(_), TimePoint::At(t)) => {
                t.time() == chrono::NaiveTime::MIN && t.day() == 1
            }
        }
    }

    /// Steps per day: 24 for hourly data, 1 for daily, 1/7 for weekly; 1 for integer-indexed data
    /// and calendar months and years, whose steps have no fixed length in days.
    pub fn steps_per_day(&self) -> f64 {
        let day = TimePoint::date(chrono::NaiveDate::MIN);
        self.advance(day, 1)
            .and_then(|t| t.as_datetime())
            .zip(day.as_datetime())
            .map_or(1.0, |(next, start)| {
                86_400.0 / (next - start).num_seconds().max(1) as f64
            })
    }

    /// Whether steps are shorter than a day, so that time points need their time of day.
    pub fn is_sub_daily(&self) -> bool {
        matches!(self, Frequency::Minutes(_) | Frequency::Hours(_))
    }

    /// Whether steps are weeks or longer (not `index`, whose step has no calendar): series of
    /// them are short, tens to hundreds of steps, and trends dominate.
    pub fn is_coarser_than_daily(&self) -> bool {
        matches!(
            self,
            Frequency::Weeks(_) | Frequency::Months(_) | Frequency::Years(_)
        )
    }

    /// `t` as the evaluation protocol writes it at this frequency: `YYYY-MM-DDTHH:MM:SS` for
    /// sub-daily data (midnight included), `YYYY-MM-DD` for daily and longer steps, an integer for
    /// `index`.
    pub fn format_time(&self, t: TimePoint) -> String {
        match t {
            TimePoint::At(at) if self.is_sub_daily() => at.format("%Y-%m-%dT%H:%M:%S").to_string(),
            _ => t.to_string(),
        }
    }

    /// Reads back what [`Frequency::format_time`] wrote: an integer for `index`, otherwise
    /// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS`. `None` for anything else.
    pub fn parse_time(&self, text: &str) -> Option<TimePoint> {
        if self.is_index() {
            return text.parse().ok().map(TimePoint::Step);
        }
        if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Some(TimePoint::date(date));
        }
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
            .ok()
            .map(TimePoint::At)
    }

    /// What an aligned time point looks like, for error messages.
    pub fn alignment_rule(&self) -> &'static str {
        match self {
            Frequency::Index => "an integer step",
            Frequency::Minutes(_) | Frequency::Hours(_) => {
                "a date-time whose time of day is a whole multiple of the step"
            }
            Frequency::Days(_) | Frequency::Weeks(_) => "a date (midnight)",
            Frequency::Months(_) | Frequency::Years(_) => "the first day of a month (midnight)",
        }
    }

    /// The time point `steps` steps after `t` (before, if negative); `None` when `t` is the wrong
    /// kind of time point or the result is out of range.
    pub fn advance(&self, t: TimePoint, steps: i64) -> Option<TimePoint> {
        match (self, t) {
            (Frequency::Index, TimePoint::Step(s)) => s.checked_add(steps).map(TimePoint::Step),
            (Frequency::Index, TimePoint::At(_)) | (_, TimePoint::Step(_)) => None,
            (_, TimePoint::At(at)) => {
                if let Some(step) = self.fixed_seconds() {
                    let delta = TimeDelta::try_seconds(step.checked_mul(steps)?)?;
                    at.checked_add_signed(delta).map(TimePoint::At)
                } else {
                    let total = i64::from(self.months()?).checked_mul(steps)?;
                    let months = Months::new(u32::try_from(total.unsigned_abs()).ok()?);
                    let moved = if total >= 0 {
                        at.checked_add_months(months)
                    } else {
                        at.checked_sub_months(months)
                    };
                    moved.map(TimePoint::At)
                }
            }
        }
    }

    /// The position of `t` in a cycle of `period` steps, counted from a fixed epoch (1970-01-01 at
    /// midnight, or step 0 of `index` data), so that series starting at different times agree:
    /// with 30-minute steps and a period of 48 it is the half-hour of the day (0 at midnight), with
    /// daily steps and a period of 7 the weekday (0 on Thursday, the epoch's). `None` for a period
    /// of 0 or a time point of the wrong kind.
    pub fn phase(&self, t: TimePoint, period: usize) -> Option<usize> {
        let period = i64::try_from(period).ok().filter(|&p| p > 0)?;
        let steps = match (self, t) {
            (Frequency::Index, TimePoint::Step(s)) => s,
            (Frequency::Index, TimePoint::At(_)) | (_, TimePoint::Step(_)) => return None,
            (_, TimePoint::At(at)) => {
                if let Some(step) = self.fixed_seconds() {
                    at.and_utc().timestamp().div_euclid(step)
                } else {
                    let months = (i64::from(at.year()) - 1970) * 12 + i64::from(at.month0());
                    months.div_euclid(i64::from(self.months()?))
                }
            }
        };
        usize::try_from(steps.rem_euclid(period)).ok()
    }

    /// The number of steps from `from` to `to` when `to` lies on the grid that starts at `from`;
    /// `None` when it does not (or the two are different kinds of time point).
    pub fn steps_between(&self, from: TimePoint, to: TimePoint) -> Option<i64> {
        match (self, from, to) {
            (Frequency::Index, TimePoint::Step(a), TimePoint::Step(b)) => b.checked_sub(a),
            (_, TimePoint::At(a), TimePoint::At(b)) if !self.is_index() => {
                if let Some(step) = self.fixed_seconds() {
                    let diff = (b - a).num_seconds();
                    let exact = (b - a).subsec_nanos() == 0 && diff % step == 0;
                    exact.then_some(diff / step)
                } else {
                    let n = i64::from(self.months()?);
                    let same_day_and_time = a.day() == b.day() && a.time() == b.time();
                    let months = (i64::from(b.year()) - i64::from(a.year())) * 12
                        + (i64::from(b.month()) - i64::from(a.month()));
                    (same_day_and_time && months % n == 0).then_some(months / n)
                }
            }
            _ => None,
        }
    }
}

impl fmt::Display for Frequency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Frequency::Minutes(n) => write!(f, "{n}m"),
            Frequency::Hours(n) => write!(f, "{n}h"),
            Frequency::Days(n) => write!(f, "{n}d"),
            Frequency::Weeks(n) => write!(f, "{n}w"),
            Frequency::Months(n) => write!(f, "{n}mo"),
            Frequency::Years(n) => write!(f, "{n}y"),
            Frequency::Index => write!(f, "index"),
        }
    }
}

impl FromStr for Frequency {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| ModelError::BadFrequency {
            value: s.to_owned(),
            reason: why.to_owned(),
        };
        let text = s.trim();
        if text == "index" {
            return Ok(Frequency::Index);
        }
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| bad("it has no unit"))?;
        let (digits, unit) = text.split_at(split);
        let n: u32 = if digits.is_empty() {
            1
        } else {
            digits
                .parse()
                .map_err(|_| bad("the count is not a whole number"))?
        };
        if n == 0 {
            return Err(bad("the count must be at least 1"));
        }
        let divides_day = |seconds: i64| SECONDS_PER_DAY % seconds == 0;
        match unit {
            "m" | "min" if divides_day(i64::from(n) * SECONDS_PER_MINUTE) => {
                Ok(Frequency::Minutes(n))
            }
            "h" if divides_day(i64::from(n) * SECONDS_PER_HOUR) => Ok(Frequency::Hours(n)),
            "m" | "min" | "h" => Err(bad(
                "a sub-daily step must divide a day evenly (e.g. 5m, 15m, 30m, 1h, 6h)",
            )),
            "d" => Ok(Frequency::Days(n)),
            "w" => Ok(Frequency::Weeks(n)),
            "mo" => Ok(Frequency::Months(n)),
            "y" => Ok(Frequency::Years(n)),
            _ => Err(bad("unknown unit")),
        }
    }
}

impl Serialize for Frequency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Frequency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> TimePoint {
        TimePoint::At(NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap())
    }

    #[test]
    fn parses_every_documented_frequency_and_prints_it_back() {
        for text in [
            "5m", "15m", "30m", "1h", "1d", "1w", "1mo", "3mo", "1y", "index",
        ] {
            let freq: Frequency = text.parse().unwrap();
            assert_eq!(freq.to_string(), text);
        }
    }

    #[test]
    fn rejects_frequencies_that_do_not_tile_a_day_or_have_no_unit() {
        for text in ["7m", "5h", "0d", "d1", "12", "1x", "", "1.5h"] {
            assert!(text.parse::<Frequency>().is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn half_hourly_points_are_on_the_half_hour() {
        let freq = Frequency::Minutes(30);
        assert!(freq.is_aligned(at("2014-01-01T23:30:00")));
        assert!(!freq.is_aligned(at("2014-01-01T23:15:00")));
        assert!(!freq.is_aligned(TimePoint::Step(3)));
    }

    #[test]
    fn counts_steps_only_for_points_on_the_grid() {
        let hourly = Frequency::Hours(1);
        let a = at("2011-01-01T00:00:00");
        assert_eq!(hourly.steps_between(a, at("2011-01-02T01:00:00")), Some(25));
        assert_eq!(hourly.steps_between(a, at("2011-01-01T01:30:00")), None);
        let weekly = Frequency::Weeks(1);
        let monday = at("2024-01-01T00:00:00");
        assert_eq!(
            weekly.steps_between(monday, at("2024-01-15T00:00:00")),
            Some(2)
        );
        assert_eq!(
            weekly.steps_between(monday, at("2024-01-16T00:00:00")),
            None
        );
    }

    #[test]
    fn phases_count_from_the_epoch_so_every_series_agrees() {
        let half_hourly = Frequency::Minutes(30);
        assert_eq!(half_hourly.phase(at("2014-10-13T23:30:00"), 48), Some(47));
        assert_eq!(half_hourly.phase(at("2014-10-14T00:00:00"), 48), Some(0));
        assert_eq!(half_hourly.phase(at("1960-01-01T12:00:00"), 48), Some(24));
        // 1970-01-01 was a Thursday: weekday phases count from it.
        let daily = Frequency::Days(1);
        assert_eq!(daily.phase(at("1970-01-01T00:00:00"), 7), Some(0));
        assert_eq!(daily.phase(at("2016-08-15T00:00:00"), 7), Some(4));
        assert_eq!(
            Frequency::Months(1).phase(at("2024-03-01T00:00:00"), 12),
            Some(2)
        );
        assert_eq!(
            Frequency::Months(3).phase(at("2024-04-01T00:00:00"), 4),
            Some(1)
        );
        assert_eq!(Frequency::Index.phase(TimePoint::Step(-1), 5), Some(4));
        assert_eq!(daily.phase(TimePoint::Step(3), 7), None);
        assert_eq!(daily.phase(at("2024-03-01T00:00:00"), 0), None);
    }

    #[test]
    fn months_advance_through_the_calendar() {
        let quarterly = Frequency::Months(3);
        let jan = at("2023-01-01T00:00:00");
        assert_eq!(quarterly.advance(jan, 5), Some(at("2024-04-01T00:00:00")));
        assert_eq!(quarterly.advance(jan, -1), Some(at("2022-10-01T00:00:00")));
        assert_eq!(
            quarterly.steps_between(jan, at("2024-04-01T00:00:00")),
            Some(5)
        );
        assert_eq!(
            quarterly.steps_between(jan, at("2023-02-01T00:00:00")),
            None
        );
        assert!(!quarterly.is_aligned(at("2023-02-15T00:00:00")));
        assert_eq!(
            Frequency::Years(1).advance(jan, 2),
            Some(at("2025-01-01T00:00:00"))
        );
    }

    #[test]
    fn advance_and_steps_between_agree() {
        for freq in [
            Frequency::Minutes(5),
            Frequency::Hours(2),
            Frequency::Days(1),
            Frequency::Weeks(1),
            Frequency::Months(1),
            Frequency::Years(1),
        ] {
            let start = at("2020-02-01T00:00:00");
            for k in [-30, -1, 0, 1, 7, 400] {
                let t = freq.advance(start, k).unwrap();
                assert_eq!(freq.steps_between(start, t), Some(k), "{freq} {k}");
                assert!(freq.is_aligned(t));
            }
        }
        assert_eq!(
            Frequency::Index.advance(TimePoint::Step(4), -6),
            Some(TimePoint::Step(-2))
        );
    }

    #[test]
    fn displays_dates_and_times_in_protocol_formats() {
        assert_eq!(at("2016-04-24T00:00:00").to_string(), "2016-04-24");
        assert_eq!(at("2011-10-13T23:00:00").to_string(), "2011-10-13T23:00:00");
        assert_eq!(TimePoint::Step(-3).to_string(), "-3");
        assert_eq!(
            Frequency::Hours(1).format_time(at("2011-10-14T00:00:00")),
            "2011-10-14T00:00:00"
        );
        assert_eq!(
            Frequency::Days(1).format_time(at("2016-04-24T00:00:00")),
            "2016-04-24"
        );
    }
}
