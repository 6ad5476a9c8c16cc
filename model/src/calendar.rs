//! Public-holiday calendars.
//!
//! A calendar is a sorted list of dated holidays with an English name and, where the source has
//! one, a local name (Korean for Korea). Days with several holidays carry one entry whose names
//! are joined by "; ", as in the bundled tables. Lookups are binary searches: calendars hold a
//! few hundred to a few thousand days.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One holiday.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holiday {
    /// The day.
    pub date: NaiveDate,
    /// English name.
    pub name: String,
    /// Name in the local language, if the table has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_local: Option<String>,
}

/// A holiday table, sorted by date.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolidayCalendar {
    holidays: Vec<Holiday>,
}

impl HolidayCalendar {
    /// A calendar of these holidays (sorted here; the input order does not matter).
    pub fn new(mut holidays: Vec<Holiday>) -> Self {
        holidays.sort_by_key(|h| h.date);
        HolidayCalendar { holidays }
    }

    /// All holidays, by date.
    pub fn holidays(&self) -> &[Holiday] {
        &self.holidays
    }

    /// Number of holidays.
    pub fn len(&self) -> usize {
        self.holidays.len()
    }

    /// Whether the calendar has no holidays.
    pub fn is_empty(&self) -> bool {
        self.holidays.is_empty()
    }

    /// The holiday on `date`, if any.
    pub fn on(&self, date: NaiveDate) -> Option<&Holiday> {
        self.holidays
            .binary_search_by_key(&date, |h| h.date)
            .ok()
            .map(|i| &self.holidays[i])
    }

    /// First and last date covered by the table.
    pub fn range(&self) -> Option<(NaiveDate, NaiveDate)> {
        Some((self.holidays.first()?.date, self.holidays.last()?.date))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn finds_holidays_regardless_of_input_order() {
        let calendar = HolidayCalendar::new(vec![
            Holiday {
                date: day("2025-10-06"),
                name: "Chuseok".into(),
                name_local: Some("추석".into()),
            },
            Holiday {
                date: day("2025-01-01"),
                name: "New Year's Day".into(),
                name_local: None,
            },
        ]);
        assert_eq!(
            calendar
                .on(day("2025-10-06"))
                .unwrap()
                .name_local
                .as_deref(),
            Some("추석")
        );
        assert!(calendar.on(day("2025-10-07")).is_none());
        assert_eq!(
            calendar.range(),
            Some((day("2025-01-01"), day("2025-10-06")))
        );
    }
}
