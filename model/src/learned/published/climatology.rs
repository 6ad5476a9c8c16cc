//! The climatology that stands in for future-known inputs a caller did not give: per series, the
//! mean of each such column over the training data, by month, weekday and time of day as the
//! frequency allows (see the module docs of [`super`]).

use chrono::{Datelike, Timelike};
use serde::{Deserialize, Serialize};

use crate::panel::{ExogenousRole, Panel};
use crate::time::{Frequency, TimePoint};

/// How time points are grouped into climatology cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum ClimateKey {
    /// Month, weekday and slot of the day (`slots` steps per day).
    MonthWeekdaySlot {
        /// Steps per day.
        slots: u32,
    },
    /// Month and weekday.
    MonthWeekday,
    /// Month.
    Month,
    /// One cell.
    Overall,
}

impl ClimateKey {
    /// The grouping for data at `frequency`.
    pub fn for_frequency(frequency: Frequency) -> ClimateKey {
        const DAY: u32 = 24 * 60;
        match frequency {
            Frequency::Minutes(n) if n > 0 && DAY.is_multiple_of(n) => {
                ClimateKey::MonthWeekdaySlot { slots: DAY / n }
            }
            Frequency::Hours(n) if n > 0 && 24 % n == 0 => {
                ClimateKey::MonthWeekdaySlot { slots: 24 / n }
            }
            Frequency::Minutes(_) | Frequency::Hours(_) | Frequency::Days(_) => {
                ClimateKey::MonthWeekday
            }
            Frequency::Weeks(_) | Frequency::Months(_) | Frequency::Years(_) => ClimateKey::Month,
            Frequency::Index => ClimateKey::Overall,
        }
    }

    pub(super) fn cells(self) -> usize {
        match self {
            ClimateKey::MonthWeekdaySlot { slots } => 12 * 7 * slots as usize,
            ClimateKey::MonthWeekday => 12 * 7,
            ClimateKey::Month => 12,
            ClimateKey::Overall => 1,
        }
    }

    fn cell(self, t: TimePoint) -> Option<usize> {
        if self == ClimateKey::Overall {
            return Some(0);
        }
        let t = t.as_datetime()?;
        let month = t.month0() as usize;
        let weekday = t.weekday().num_days_from_monday() as usize;
        Some(match self {
            ClimateKey::MonthWeekdaySlot { slots } => {
                let slot = (t.num_seconds_from_midnight() as usize * slots as usize) / 86_400;
                (month * 7 + weekday) * slots as usize + slot.min(slots as usize - 1)
            }
            ClimateKey::MonthWeekday => month * 7 + weekday,
            ClimateKey::Month => month,
            ClimateKey::Overall => 0,
        })
    }

    /// What a cell groups, in words.
    pub fn describe(self) -> &'static str {
        match self {
            ClimateKey::MonthWeekdaySlot { .. } => "the same month, weekday and time of day",
            ClimateKey::MonthWeekday => "the same month and weekday",
            ClimateKey::Month => "the same month",
            ClimateKey::Overall => "all time points",
        }
    }
}

/// Per series, the mean of each future-known column per [`ClimateKey`] cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Climatology {
    /// The grouping.
    pub key: ClimateKey,
    /// Future-known columns, in the panel's order.
    pub columns: Vec<String>,
    /// Per series: column-major cell means (`means[s][c * cells + cell]`), NaN for empty cells.
    #[serde(with = "crate::serde_nan::nested")]
    pub means: Vec<Vec<f64>>,
    /// Per series: each column's overall mean (NaN when it has no values).
    #[serde(with = "crate::serde_nan::nested")]
    pub overall: Vec<Vec<f64>>,
}

impl Climatology {
    /// The climatology of `panel`'s future-known columns, each series over `target[..cutoff]`.
    pub fn of(panel: &Panel, cutoffs: &[usize]) -> Climatology {
        let key = ClimateKey::for_frequency(panel.frequency());
        let frequency = panel.frequency();
        let known: Vec<usize> = future_known(panel);
        let cells = key.cells();
        let mut means = Vec::with_capacity(panel.series().len());
        let mut overall = Vec::with_capacity(panel.series().len());
        for (series, &cutoff) in panel.series().iter().zip(cutoffs) {
            let mut sums = vec![0.0; known.len() * cells];
            let mut counts = vec![0u32; known.len() * cells];
            let mut totals = vec![(0.0, 0u32); known.len()];
            let mut t = Some(series.start);
            for i in 0..cutoff.min(series.len()) {
                let cell = t.and_then(|t| key.cell(t));
                for (c, &j) in known.iter().enumerate() {
                    let v = series.exogenous[j][i];
                    if !v.is_finite() {
                        continue;
                    }
                    totals[c].0 += v;
                    totals[c].1 += 1;
                    if let Some(cell) = cell {
                        sums[c * cells + cell] += v;
                        counts[c * cells + cell] += 1;
                    }
                }
                t = t.and_then(|t| frequency.advance(t, 1));
            }
            means.push(
                sums.iter()
                    .zip(&counts)
                    .map(|(&s, &n)| if n > 0 { s / f64::from(n) } else { f64::NAN })
                    .collect(),
            );
            overall.push(
                totals
                    .iter()
                    .map(|&(s, n)| if n > 0 { s / f64::from(n) } else { f64::NAN })
                    .collect(),
            );
        }
        Climatology {
            key,
            columns: known
                .iter()
                .map(|&j| panel.exogenous()[j].name.clone())
                .collect(),
            means,
            overall,
        }
    }

    /// The climatological value of column `c` for series `s` at `t` (NaN when unknown).
    pub fn value(&self, s: usize, c: usize, t: Option<TimePoint>) -> f64 {
        let cells = self.key.cells();
        let cell = t
            .and_then(|t| self.key.cell(t))
            .and_then(|cell| self.means.get(s)?.get(c * cells + cell).copied())
            .filter(|v| v.is_finite());
        cell.or_else(|| self.overall.get(s)?.get(c).copied())
            .unwrap_or(f64::NAN)
    }
}

pub(super) fn future_known(panel: &Panel) -> Vec<usize> {
    panel
        .exogenous()
        .iter()
        .enumerate()
        .filter(|(_, e)| e.role == ExogenousRole::FutureKnown)
        .map(|(j, _)| j)
        .collect()
}
