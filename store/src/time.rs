//! Time points as the store keeps them: one BIGINT that sorts as time does.

use chrono::DateTime;
use civicast_model::{Frequency, TimePoint};

/// `t` as stored: seconds since 1970-01-01T00:00:00 of the naive wall-clock time, or the step
/// of integer-indexed data.
pub fn encode_time(t: TimePoint) -> i64 {
    match t {
        TimePoint::Step(step) => step,
        TimePoint::At(at) => at.and_utc().timestamp(),
    }
}

/// The time point stored as `value` for data at `frequency`; `None` when out of range.
pub fn decode_time(value: i64, frequency: Frequency) -> Option<TimePoint> {
    if frequency.is_index() {
        return Some(TimePoint::Step(value));
    }
    DateTime::from_timestamp(value, 0).map(|at| TimePoint::At(at.naive_utc()))
}

/// Milliseconds since 1970 by the system clock (arrival and ingest times).
pub(crate) fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_read_back_and_sort_as_time() {
        let day: Frequency = "1d".parse().unwrap();
        let a = day.parse_time("2016-08-14").unwrap();
        let b = day.parse_time("2016-08-15").unwrap();
        assert!(encode_time(a) < encode_time(b));
        assert_eq!(decode_time(encode_time(b), day), Some(b));
        let index: Frequency = "index".parse().unwrap();
        assert_eq!(decode_time(-3, index), Some(TimePoint::Step(-3)));
    }
}
