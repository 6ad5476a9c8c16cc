//! Calendar and holiday columns of one time point.
//!
//! Everything here is a pure function of the row's wall-clock time and the holiday table, so it is
//! as valid at any step of the horizon as in training. Holidays are judged by the date of the row:
//! an hourly row at 08:00 on Chuseok is a holiday row. The weekend is Saturday and Sunday, which
//! holds for every bundled calendar (Korea, the US, Victoria); a city with another weekend would
//! make this a calendar property.
//!
//! The bundled tables list every day off as its own row, including the days around a lunar
//! holiday (the day before and after Seollal and Chuseok) and substitute holidays, so multi-day
//! breaks need no special handling: each day is a holiday, and the distance columns count to the
//! nearest *other* holiday (strictly after or before), so the first day of Chuseok already sees the
//! next holiday one day ahead.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike, Weekday};

use super::spec::{CalendarFeature, HolidayFeatures};
use crate::calendar::HolidayCalendar;
use crate::time::{Frequency, TimePoint};

/// Column names of the day-level holiday features, in the order they are written.
pub(crate) const DAY_HOLIDAY_COLUMNS: [&str; 4] = [
    "is_holiday",
    "days_to_holiday",
    "days_since_holiday",
    "is_bridge_day",
];

/// Column name of the holiday count for steps longer than a day.
pub(crate) const PERIOD_HOLIDAY_COLUMN: &str = "holidays_in_period";

const SECONDS_PER_DAY: f64 = 86_400.0;

/// Whether holiday features are judged per day (steps of a day or less) rather than per period.
pub(crate) fn holidays_by_day(frequency: Frequency) -> bool {
    matches!(
        frequency,
        Frequency::Minutes(_) | Frequency::Hours(_) | Frequency::Days(1)
    )
}

/// Appends the columns of `features` for time `t` (a no-op for `index` time points, which the
/// spec check keeps from having calendar features).
pub(crate) fn push_calendar(features: &[CalendarFeature], t: TimePoint, out: &mut Vec<f64>) {
    let Some(t) = t.as_datetime() else {
        return;
    };
    let date = t.date();
    for feature in features {
        match feature {
            CalendarFeature::Hour => out.push(f64::from(t.hour())),
            CalendarFeature::MinuteOfDay => out.push(f64::from(t.hour() * 60 + t.minute())),
            CalendarFeature::TimeOfDayCyclic => {
                let angle = std::f64::consts::TAU * f64::from(t.num_seconds_from_midnight())
                    / SECONDS_PER_DAY;
                out.push(angle.sin());
                out.push(angle.cos());
            }
            CalendarFeature::DayOfWeek => {
                out.push(f64::from(date.weekday().num_days_from_monday()));
            }
            CalendarFeature::Weekend => out.push(f64::from(u8::from(is_weekend(date)))),
            CalendarFeature::DayOfMonth => out.push(f64::from(date.day())),
            CalendarFeature::Month => out.push(f64::from(date.month())),
            CalendarFeature::DayOfYear => out.push(f64::from(date.ordinal())),
            CalendarFeature::WeekOfYear => out.push(f64::from(date.iso_week().week())),
            CalendarFeature::YearCyclic => {
                let days = if date.leap_year() { 366.0 } else { 365.0 };
                let angle = std::f64::consts::TAU * f64::from(date.ordinal0()) / days;
                out.push(angle.sin());
                out.push(angle.cos());
            }
        }
    }
}

/// Appends the holiday columns for the row at `t` (see [`HolidayFeatures`]); nothing for `index`
/// time points.
pub(crate) fn push_holidays(
    calendar: &HolidayCalendar,
    config: HolidayFeatures,
    frequency: Frequency,
    t: TimePoint,
    out: &mut Vec<f64>,
) {
    let Some(t) = t.as_datetime() else {
        return;
    };
    if holidays_by_day(frequency) {
        push_day_holidays(calendar, config, t.date(), out);
    } else {
        out.push(holidays_in_period(calendar, frequency, t) as f64);
    }
}

fn push_day_holidays(
    calendar: &HolidayCalendar,
    config: HolidayFeatures,
    date: NaiveDate,
    out: &mut Vec<f64>,
) {
    let days = calendar.holidays();
    let cap = i64::from(config.distance_cap);
    let after = days.partition_point(|h| h.date <= date);
    let to_next = days
        .get(after)
        .map_or(cap, |h| (h.date - date).num_days().min(cap));
    let before = days.partition_point(|h| h.date < date);
    let since_previous = before
        .checked_sub(1)
        .and_then(|i| days.get(i))
        .map_or(cap, |h| (date - h.date).num_days().min(cap));
    let holiday = |d: Option<NaiveDate>| d.is_some_and(|d| calendar.on(d).is_some());
    let off = |d: Option<NaiveDate>| d.is_some_and(is_weekend) || holiday(d);
    let (yesterday, tomorrow) = (date.pred_opt(), date.succ_opt());
    let bridge = !off(Some(date))
        && off(yesterday)
        && off(tomorrow)
        && (holiday(yesterday) || holiday(tomorrow));
    out.push(f64::from(u8::from(holiday(Some(date)))));
    out.push(to_next as f64);
    out.push(since_previous as f64);
    out.push(f64::from(u8::from(bridge)));
}

/// Holidays dated in `[t, t + one step)`.
fn holidays_in_period(calendar: &HolidayCalendar, frequency: Frequency, t: NaiveDateTime) -> usize {
    let start = t.date();
    let end = frequency
        .advance(TimePoint::At(t), 1)
        .and_then(|next| next.as_datetime())
        .map_or(start, |next| next.date());
    let days = calendar.holidays();
    let lo = days.partition_point(|h| h.date < start);
    let hi = days.partition_point(|h| h.date < end);
    hi.saturating_sub(lo)
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Holiday;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn at(s: &str) -> TimePoint {
        TimePoint::At(NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap())
    }

    /// Rows of datasets/calendars/holidays_kr.csv for autumn 2025, typed in by hand (the model
    /// crate reads no files).
    fn korea_autumn_2025() -> HolidayCalendar {
        let rows = [
            ("2025-08-15", "Liberation Day", "광복절"),
            ("2025-10-03", "National Foundation Day", "개천절"),
            ("2025-10-05", "The day preceding Chuseok", "추석 전날"),
            ("2025-10-06", "Chuseok", "추석"),
            ("2025-10-07", "The second day of Chuseok", "추석 다음날"),
            (
                "2025-10-08",
                "Alternative holiday for Chuseok",
                "추석 대체 휴일",
            ),
            ("2025-10-09", "Hangul Day", "한글날"),
            ("2025-12-25", "Christmas Day", "기독탄신일"),
        ];
        HolidayCalendar::new(
            rows.iter()
                .map(|(date, name, local)| Holiday {
                    date: day(date),
                    name: (*name).into(),
                    name_local: Some((*local).into()),
                })
                .collect(),
        )
    }

    fn day_columns(calendar: &HolidayCalendar, date: &str) -> Vec<f64> {
        let mut out = Vec::new();
        push_holidays(
            calendar,
            HolidayFeatures::default(),
            Frequency::Days(1),
            TimePoint::date(day(date)),
            &mut out,
        );
        out
    }

    #[test]
    fn leap_day_2024_is_day_60_a_thursday_in_iso_week_9() {
        use CalendarFeature as C;
        let features = [
            C::DayOfWeek,
            C::Weekend,
            C::DayOfMonth,
            C::Month,
            C::DayOfYear,
            C::WeekOfYear,
        ];
        let mut out = Vec::new();
        push_calendar(&features, TimePoint::date(day("2024-02-29")), &mut out);
        assert_eq!(out, vec![3.0, 0.0, 29.0, 2.0, 60.0, 9.0]);
    }

    #[test]
    fn a_monday_is_day_zero_and_new_years_eve_of_a_leap_year_is_day_366() {
        use CalendarFeature as C;
        let mut out = Vec::new();
        push_calendar(
            &[C::DayOfWeek, C::DayOfYear, C::WeekOfYear],
            TimePoint::date(day("2024-12-30")),
            &mut out,
        );
        // 2024-12-30 is a Monday in ISO week 1 of 2025.
        assert_eq!(out, vec![0.0, 365.0, 1.0]);
        out.clear();
        push_calendar(
            &[C::DayOfYear],
            TimePoint::date(day("2024-12-31")),
            &mut out,
        );
        assert_eq!(out, vec![366.0]);
    }

    #[test]
    fn time_of_day_features_distinguish_half_hours_and_wrap_at_midnight() {
        use CalendarFeature as C;
        let mut out = Vec::new();
        push_calendar(
            &[C::Hour, C::MinuteOfDay, C::TimeOfDayCyclic],
            at("2014-01-01T18:30:00"),
            &mut out,
        );
        assert_eq!(out[..2], [18.0, 1110.0]);
        let angle = std::f64::consts::TAU * 1110.0 / 1440.0;
        assert!((out[2] - angle.sin()).abs() < 1e-12 && (out[3] - angle.cos()).abs() < 1e-12);
        let mut midnight = Vec::new();
        push_calendar(
            &[C::TimeOfDayCyclic],
            at("2014-01-02T00:00:00"),
            &mut midnight,
        );
        assert_eq!(midnight, vec![0.0, 1.0]);
    }

    #[test]
    fn year_circle_starts_at_angle_zero_on_new_years_day() {
        let mut out = Vec::new();
        push_calendar(
            &[CalendarFeature::YearCyclic],
            TimePoint::date(day("2023-01-01")),
            &mut out,
        );
        assert_eq!(out, vec![0.0, 1.0]);
    }

    #[test]
    fn chuseok_days_are_holidays_that_see_the_next_holiday_one_day_ahead() {
        let calendar = korea_autumn_2025();
        // Sunday 10-05, the day before Chuseok: previous holiday 10-03, next 10-06.
        assert_eq!(
            day_columns(&calendar, "2025-10-05"),
            vec![1.0, 1.0, 2.0, 0.0]
        );
        // The substitute holiday on Wednesday 10-08 sits between Chuseok and Hangul Day.
        assert_eq!(
            day_columns(&calendar, "2025-10-08"),
            vec![1.0, 1.0, 1.0, 0.0]
        );
        // Hangul Day, Thursday 10-09: the next holiday is Christmas, beyond the cap.
        assert_eq!(
            day_columns(&calendar, "2025-10-09"),
            vec![1.0, 7.0, 1.0, 0.0]
        );
    }

    #[test]
    fn the_friday_after_hangul_day_is_a_bridge_day_and_the_saturday_is_not() {
        let calendar = korea_autumn_2025();
        // Friday 10-10: a working day between Hangul Day and the weekend.
        assert_eq!(
            day_columns(&calendar, "2025-10-10"),
            vec![0.0, 7.0, 1.0, 1.0]
        );
        // Saturday 10-11 is a weekend day, not a bridge.
        assert_eq!(
            day_columns(&calendar, "2025-10-11"),
            vec![0.0, 7.0, 2.0, 0.0]
        );
        // Thursday 10-02: working days on both sides, so no bridge; National Foundation Day is
        // tomorrow.
        assert_eq!(
            day_columns(&calendar, "2025-10-02"),
            vec![0.0, 1.0, 7.0, 0.0]
        );
        // Monday 10-13 after the long break: last holiday four days ago, no bridge.
        assert_eq!(
            day_columns(&calendar, "2025-10-13"),
            vec![0.0, 7.0, 4.0, 0.0]
        );
    }

    #[test]
    fn sub_daily_rows_take_the_holiday_features_of_their_date() {
        let calendar = korea_autumn_2025();
        let mut out = Vec::new();
        push_holidays(
            &calendar,
            HolidayFeatures::default(),
            Frequency::Hours(1),
            at("2025-10-06T08:00:00"),
            &mut out,
        );
        assert_eq!(out, day_columns(&calendar, "2025-10-06"));
    }

    #[test]
    fn weekly_and_monthly_rows_count_the_holidays_in_their_period() {
        let calendar = korea_autumn_2025();
        let mut out = Vec::new();
        // The week starting Monday 2025-10-06 holds Chuseok, its second day, the substitute
        // holiday and Hangul Day.
        push_holidays(
            &calendar,
            HolidayFeatures::default(),
            Frequency::Weeks(1),
            TimePoint::date(day("2025-10-06")),
            &mut out,
        );
        push_holidays(
            &calendar,
            HolidayFeatures::default(),
            Frequency::Months(1),
            TimePoint::date(day("2025-10-01")),
            &mut out,
        );
        assert_eq!(out, vec![4.0, 6.0]);
    }

    #[test]
    fn an_empty_calendar_gives_capped_distances_and_no_holidays() {
        let calendar = HolidayCalendar::default();
        assert_eq!(
            day_columns(&calendar, "2025-10-10"),
            vec![0.0, 7.0, 7.0, 0.0]
        );
    }
}
