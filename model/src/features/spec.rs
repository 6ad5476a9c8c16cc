//! [`FeatureSpec`]: which features a global model sees, and the defaults per frequency.
//!
//! The spec is plain configuration (serialisable, so a fitted model can record it). It is checked
//! once, when a [`Featurizer`](super::Featurizer) is built from it, so row building never re-checks.
//!
//! The defaults mirror the reference MLForecast + LightGBM configuration in
//! `eval/run_anchors.py` (its lags per dataset are reproduced exactly, see the tests) and add what
//! that configuration lacks: a few rolling statistics, cyclical calendar encodings for the linear
//! and neural models, and holiday features.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::time::Frequency;

/// Dense lags cover at least this many steps when the shortest season is shorter (two weeks of a
/// daily series with a weekly season), as the reference LightGBM config for daily data does.
const MIN_DENSE_LAGS: usize = 14;

/// Seasonal lags (multiples of the shortest season) reach at most this many seasons back: eight
/// weeks for daily data, as in the reference config (21, 28, ..., 56).
const MAX_SEASONAL_MULTIPLE: usize = 8;

/// The long rolling window, in short seasons, when the long season is too long to average over.
const LONG_WINDOW_SEASONS: usize = 4;

/// Lags when no season is known: a week of daily data, a short memory otherwise.
const NON_SEASONAL_LAGS: usize = 7;

/// Holiday distances are capped here (in days): farther than a week away, a holiday no longer
/// shapes demand in the city data we know, and a cap keeps the column bounded for linear models.
pub const DEFAULT_HOLIDAY_DISTANCE_CAP: u32 = 7;

/// A statistic over a window of lagged target values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollingStat {
    /// Arithmetic mean.
    Mean,
    /// Sample standard deviation (divisor `window - 1`, as pandas and MLForecast compute it).
    Std,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
}

impl RollingStat {
    /// Short name used in column names.
    pub fn name(self) -> &'static str {
        match self {
            RollingStat::Mean => "mean",
            RollingStat::Std => "std",
            RollingStat::Min => "min",
            RollingStat::Max => "max",
        }
    }
}

/// A rolling statistic of `y[t-lag-window+1 ..= t-lag]`: only values at or before `t - lag`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RollingFeature {
    /// The statistic.
    pub stat: RollingStat,
    /// Steps between `t` and the newest value in the window (at least 1).
    pub lag: usize,
    /// Number of values in the window (at least 1; at least 2 for [`RollingStat::Std`]).
    pub window: usize,
}

/// A calendar feature of the time point of a row. Features that need a clock or a date are
/// rejected for `index` data; the hour of a daily series is constant, which is harmless but
/// useless, so [`FeatureSpec::default_for`] never picks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalendarFeature {
    /// Hour of the day, 0..=23.
    Hour,
    /// Minute of the day, 0..=1439 (distinguishes half-hour slots; the reference's "minute").
    MinuteOfDay,
    /// Two columns: sine and cosine of the time of day on a 24-hour circle, so that 23:30 and
    /// 00:00 are neighbours for linear and neural models.
    TimeOfDayCyclic,
    /// Day of the week, Monday = 0 .. Sunday = 6 (pandas' `dayofweek`).
    DayOfWeek,
    /// 1 on Saturday and Sunday, else 0.
    Weekend,
    /// Day of the month, 1..=31.
    DayOfMonth,
    /// Month, 1..=12.
    Month,
    /// Day of the year, 1..=366 (pandas' `dayofyear`: 2024-02-29 is day 60).
    DayOfYear,
    /// ISO 8601 week of the year, 1..=53 (pandas' `isocalendar().week`).
    WeekOfYear,
    /// Two columns: sine and cosine of the day of the year on a circle of that year's length.
    YearCyclic,
}

impl CalendarFeature {
    /// Column names this feature produces.
    pub fn column_names(self) -> &'static [&'static str] {
        match self {
            CalendarFeature::Hour => &["hour"],
            CalendarFeature::MinuteOfDay => &["minute_of_day"],
            CalendarFeature::TimeOfDayCyclic => &["time_of_day_sin", "time_of_day_cos"],
            CalendarFeature::DayOfWeek => &["day_of_week"],
            CalendarFeature::Weekend => &["weekend"],
            CalendarFeature::DayOfMonth => &["day_of_month"],
            CalendarFeature::Month => &["month"],
            CalendarFeature::DayOfYear => &["day_of_year"],
            CalendarFeature::WeekOfYear => &["week_of_year"],
            CalendarFeature::YearCyclic => &["year_sin", "year_cos"],
        }
    }
}

/// Holiday features, computed from the featurizer's [`HolidayCalendar`](crate::HolidayCalendar).
///
/// For daily and sub-daily data (by the date of the row) the columns are: the day is a holiday;
/// days until the next holiday and since the previous one (strictly after / before the day, capped
/// at `distance_cap`); and whether the day is a bridge day (a working day whose neighbours are both
/// days off, at least one of them a holiday: the Friday after a Thursday holiday). For longer
/// steps (weeks, months) there is one column instead: the number of holidays in the period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HolidayFeatures {
    /// Cap, in days, on the distance columns (at least 1).
    pub distance_cap: u32,
}

impl Default for HolidayFeatures {
    fn default() -> Self {
        HolidayFeatures {
            distance_cap: DEFAULT_HOLIDAY_DISTANCE_CAP,
        }
    }
}

/// Which features a global model sees. Lags count steps of the series' frequency; every lag is at
/// least 1, so a row for time `t` never reads the target at `t` or later.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Target lags, in steps (each at least 1).
    pub lags: Vec<usize>,
    /// Rolling statistics of lagged targets.
    pub rolling: Vec<RollingFeature>,
    /// Calendar features of the row's time point.
    pub calendar: Vec<CalendarFeature>,
    /// Holiday features; produced only when the featurizer is given a calendar.
    pub holidays: Option<HolidayFeatures>,
    /// Whether the panel's exogenous columns are features (future-known ones at `t`, historic ones
    /// through `historic_lags`). Off gives the reference's "no exogenous" variant.
    pub exogenous: bool,
    /// Lags (each at least 1) at which historic exogenous columns enter.
    pub historic_lags: Vec<usize>,
    /// Windows (in steps, each at least 2) over which each future-known column is also averaged,
    /// ending at `t` itself: the mean temperature of the last six hours, day and week, which drive
    /// heating and cooling demand beyond the temperature of the hour (buildings store heat, and a
    /// warm week says summer is coming where one year of data has no day-of-year to say so).
    /// Every value averaged is known at the forecast time, so these are as valid as the column
    /// itself. The defaults use them for sub-daily data only: there they helped `auto` on both
    /// bundled sub-daily datasets over many windows, while on daily data, where a day's weather
    /// is already one value, they did not pay for their cost (`docs/accuracy-history.md`, "Calibration
    /// choices", has the figures). Empty for models stored before they existed.
    #[serde(default)]
    pub known_windows: Vec<usize>,
    /// Whether targets are scaled per series by the mean and standard deviation of the series'
    /// training part, so that one model learns across series of different sizes.
    pub scale: bool,
    /// When set, only the last `input_size` time points before a cutoff become training rows
    /// (their lags may reach further back), like the reference's `input_size`.
    pub input_size: Option<usize>,
    /// Whether the model sees the series as its changes from step to step (`z[t] - z[t-1]` of
    /// the scaled target): lags and windows are of the changes, the model predicts the next
    /// change, and a forecast adds each predicted change to the step before — MLForecast's
    /// `Differences([1])` target transform. A model of changes carries a trend past the range
    /// of levels it was trained on, which a tree ensemble of levels cannot. The defaults use it
    /// for weekly and coarser data, where series are short and trends dominate. Off for models
    /// stored before it existed.
    #[serde(default)]
    pub difference: bool,
}

impl FeatureSpec {
    /// Sensible defaults for `frequency` and the dataset's `season_lengths` (in steps).
    ///
    /// With `m` the shortest and `M` the longest season (seasons of 1 are ignored):
    /// - dense lags `1..=max(m, min(2m, 14))`;
    /// - multiples of `m` after those, up to `min(M, 8m)`;
    /// - one long lag: `2M` when `M <= 8m` (two weeks back for hourly data), otherwise the multiple
    ///   of `m` nearest `M` (364 for daily data: the same weekday a year ago); a single season adds
    ///   `2m` when the dense lags stop short of it;
    /// - with no season, lags `1..=7`.
    ///
    /// This reproduces the reference LightGBM lags for the bundled datasets (daily `[7, 365]`:
    /// 1..=14, 21, ..., 56, 364; hourly `[24, 168]`: 1..=24, 48, ..., 168, 336; half-hourly
    /// `[48, 336]`: 1..=48, 96, ..., 336, 672). Rolling statistics: mean, std, min and max over the
    /// last `m` values, and mean and std over the last `M` when `M <= 8m`, else over the last `4m`.
    /// Calendar features by frequency (none for
    /// `index`), holiday features, exogenous columns, historic exogenous at lag 1, scaling on.
    /// For sub-daily data, future-known columns are also averaged over the last `max(2, m / 4)`,
    /// `m` and long-window steps (six hours, a day and a week of hourly data); see
    /// [`FeatureSpec::known_windows`] for why only there.
    pub fn default_for(frequency: Frequency, season_lengths: &[usize]) -> Self {
        let mut seasons: Vec<usize> = season_lengths.iter().copied().filter(|&s| s > 1).collect();
        seasons.sort_unstable();
        seasons.dedup();
        let known_windows = match (seasons.first(), seasons.last()) {
            (Some(&m), Some(&big)) if frequency.is_sub_daily() => {
                let long = if big <= MAX_SEASONAL_MULTIPLE * m {
                    big
                } else {
                    LONG_WINDOW_SEASONS * m
                };
                let mut windows = vec![(m / 4).max(2), m, long];
                windows.dedup();
                windows
            }
            _ => Vec::new(),
        };
        let (lags, windows) = match (seasons.first(), seasons.last()) {
            // The long window is the long season when it is a few short ones (a week of hourly
            // data), otherwise four short seasons (28 days of daily data): a year-long window
            // costs a year of additions per row and adds little once the target is scaled.
            (Some(&m), Some(&big)) => (
                seasonal_lags(m, big),
                vec![
                    m,
                    if big <= MAX_SEASONAL_MULTIPLE * m {
                        big
                    } else {
                        LONG_WINDOW_SEASONS * m
                    },
                ],
            ),
            _ => ((1..=NON_SEASONAL_LAGS).collect(), vec![NON_SEASONAL_LAGS]),
        };
        let mut rolling = Vec::new();
        for (i, &window) in windows.iter().enumerate() {
            if i > 0 && window == windows[0] {
                continue;
            }
            let stats: &[RollingStat] = if i == 0 {
                &[
                    RollingStat::Mean,
                    RollingStat::Std,
                    RollingStat::Min,
                    RollingStat::Max,
                ]
            } else {
                &[RollingStat::Mean, RollingStat::Std]
            };
            for &stat in stats {
                // A window of 1 has no spread; std needs two values.
                if stat == RollingStat::Std && window < 2 {
                    continue;
                }
                rolling.push(RollingFeature {
                    stat,
                    lag: 1,
                    window,
                });
            }
        }
        FeatureSpec {
            lags,
            rolling,
            calendar: default_calendar(frequency),
            holidays: (!frequency.is_index()).then(HolidayFeatures::default),
            exogenous: true,
            historic_lags: vec![1],
            known_windows,
            scale: true,
            input_size: None,
            difference: frequency.is_coarser_than_daily(),
        }
    }

    /// Checks the spec against a frequency, once, before any rows are built.
    pub(crate) fn check(&self, frequency: Frequency) -> Result<(), ModelError> {
        let bad = |reason: String| {
            Err(ModelError::Invalid {
                what: "the feature spec",
                reason,
            })
        };
        if self.lags.is_empty() && self.rolling.is_empty() {
            return bad("it has neither lags nor rolling statistics of the target".into());
        }
        if self.lags.contains(&0) {
            return bad("lag 0 would read the value being predicted; lags start at 1".into());
        }
        if self.historic_lags.contains(&0) {
            return bad(
                "historic exogenous columns are only known up to the origin; their lags start at 1"
                    .into(),
            );
        }
        if let Some(w) = self.known_windows.iter().find(|&&w| w < 2) {
            return bad(format!(
                "a future-known window of {w} step(s) is the column itself; windows start at 2"
            ));
        }
        for r in &self.rolling {
            if r.lag == 0 || r.window == 0 {
                return bad(format!(
                    "rolling {} with lag {} and window {}: both must be at least 1",
                    r.stat.name(),
                    r.lag,
                    r.window
                ));
            }
            if r.stat == RollingStat::Std && r.window < 2 {
                return bad("a rolling std needs a window of at least 2".into());
            }
        }
        if frequency.is_index() && !self.calendar.is_empty() {
            return bad("index data has no calendar, so it cannot have calendar features".into());
        }
        if let Some(h) = self.holidays
            && h.distance_cap == 0
        {
            return bad("the holiday distance cap must be at least 1 day".into());
        }
        if self.input_size == Some(0) {
            return bad("input_size must be at least 1".into());
        }
        Ok(())
    }
}

/// The lag rule of [`FeatureSpec::default_for`] for shortest season `m` and longest `big`.
fn seasonal_lags(m: usize, big: usize) -> Vec<usize> {
    let dense = m.max((2 * m).min(MIN_DENSE_LAGS));
    let mut lags: Vec<usize> = (1..=dense).collect();
    let reach = big.min(MAX_SEASONAL_MULTIPLE * m);
    let mut k = dense / m + 1;
    while k * m <= reach {
        lags.push(k * m);
        k += 1;
    }
    let long = if big == m {
        2 * m
    } else if big <= MAX_SEASONAL_MULTIPLE * m {
        2 * big
    } else {
        // Nearest multiple of m: same phase of the short cycle, one long cycle back.
        ((big + m / 2) / m) * m
    };
    if lags.last().is_some_and(|&last| long > last) {
        lags.push(long);
    }
    lags
}

/// Calendar features that vary at `frequency` and that the reference uses, plus cyclical forms.
fn default_calendar(frequency: Frequency) -> Vec<CalendarFeature> {
    use CalendarFeature as C;
    match frequency {
        Frequency::Minutes(_) => vec![C::Hour, C::MinuteOfDay, C::TimeOfDayCyclic, C::DayOfWeek],
        Frequency::Hours(_) => vec![C::Hour, C::TimeOfDayCyclic, C::DayOfWeek],
        Frequency::Days(_) => vec![
            C::DayOfWeek,
            C::Month,
            C::DayOfYear,
            C::WeekOfYear,
            C::YearCyclic,
        ],
        Frequency::Weeks(_) => vec![C::WeekOfYear, C::Month, C::YearCyclic],
        Frequency::Months(n) if n < 12 => vec![C::Month, C::YearCyclic],
        // Yearly steps (or 12-month ones) land on the same month every time.
        Frequency::Months(_) | Frequency::Years(_) | Frequency::Index => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_lags_match_the_reference_lightgbm_config_for_each_bundled_dataset() {
        let daily = FeatureSpec::default_for(Frequency::Days(1), &[7, 365]);
        let expected: Vec<usize> = (1..=14).chain([21, 28, 35, 42, 49, 56, 364]).collect();
        assert_eq!(daily.lags, expected);

        let hourly = FeatureSpec::default_for(Frequency::Hours(1), &[24, 168]);
        let expected: Vec<usize> = (1..=24).chain([48, 72, 96, 120, 144, 168, 336]).collect();
        assert_eq!(hourly.lags, expected);

        let half_hourly = FeatureSpec::default_for(Frequency::Minutes(30), &[48, 336]);
        let expected: Vec<usize> = (1..=48).chain([96, 144, 192, 240, 288, 336, 672]).collect();
        assert_eq!(half_hourly.lags, expected);
    }

    #[test]
    fn default_lags_stay_short_for_monthly_and_non_seasonal_data() {
        let monthly = FeatureSpec::default_for(Frequency::Months(1), &[12]);
        let expected: Vec<usize> = (1..=14).chain([24]).collect();
        assert_eq!(monthly.lags, expected);
        let quarterly = FeatureSpec::default_for(Frequency::Months(3), &[4]);
        assert_eq!(quarterly.lags, (1..=8).collect::<Vec<_>>());
        let index = FeatureSpec::default_for(Frequency::Index, &[]);
        assert_eq!(index.lags, (1..=7).collect::<Vec<_>>());
        assert!(index.calendar.is_empty());
        assert!(index.holidays.is_none());
        assert!(index.check(Frequency::Index).is_ok());
    }

    #[test]
    fn defaults_pass_their_own_check_for_every_frequency() {
        for (freq, seasons) in [
            (Frequency::Minutes(5), vec![288, 2016]),
            (Frequency::Hours(1), vec![24, 168]),
            (Frequency::Days(1), vec![7, 365]),
            (Frequency::Weeks(1), vec![52]),
            (Frequency::Months(1), vec![12]),
            (Frequency::Years(1), vec![1]),
            (Frequency::Index, vec![1]),
        ] {
            let spec = FeatureSpec::default_for(freq, &seasons);
            assert!(spec.check(freq).is_ok(), "{freq}");
        }
    }

    #[test]
    fn check_rejects_lag_zero_and_calendar_features_on_index_data() {
        let mut spec = FeatureSpec::default_for(Frequency::Days(1), &[7]);
        spec.lags.push(0);
        assert!(spec.check(Frequency::Days(1)).is_err());
        let mut spec = FeatureSpec::default_for(Frequency::Days(1), &[7]);
        spec.historic_lags = vec![0];
        assert!(spec.check(Frequency::Days(1)).is_err());
        let spec = FeatureSpec::default_for(Frequency::Days(1), &[7]);
        assert!(spec.check(Frequency::Index).is_err());
        let mut spec = FeatureSpec::default_for(Frequency::Days(1), &[7]);
        spec.rolling.push(RollingFeature {
            stat: RollingStat::Std,
            lag: 1,
            window: 1,
        });
        assert!(spec.check(Frequency::Days(1)).is_err());
        let mut spec = FeatureSpec::default_for(Frequency::Days(1), &[7]);
        spec.known_windows = vec![1];
        assert!(spec.check(Frequency::Days(1)).is_err());
    }

    #[test]
    fn sub_daily_future_known_windows_are_a_quarter_season_a_season_and_the_long_window() {
        let windows =
            |freq, seasons: &[usize]| FeatureSpec::default_for(freq, seasons).known_windows;
        assert_eq!(
            windows(Frequency::Minutes(30), &[48, 336]),
            vec![12, 48, 336]
        );
        assert_eq!(windows(Frequency::Hours(1), &[24, 168]), vec![6, 24, 168]);
        assert_eq!(windows(Frequency::Minutes(5), &[288]), vec![72, 288]);
        // A day's value already aggregates its weather.
        assert!(windows(Frequency::Days(1), &[7, 365]).is_empty());
        assert!(windows(Frequency::Months(1), &[12]).is_empty());
        assert!(windows(Frequency::Index, &[]).is_empty());
    }
}
