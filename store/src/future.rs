//! Future-known values (weather forecasts, event schedules): kept with the time they were
//! issued, so a forecast reads, for each future step and column, the latest issued value.

use std::collections::BTreeMap;

use sqlx::Row as _;

use crate::ingest::{SHARED, begin_change, mark_changed};
use crate::time::now_millis;
use crate::{Store, StoreError};

/// Future-known values of one series (or of every series: `series` empty) at one time.
#[derive(Clone, Debug, PartialEq)]
pub struct FutureRow {
    /// Series id; empty for values every series shares.
    pub series: String,
    /// Time, as stored.
    pub t: i64,
    /// Values by column.
    pub exogenous: BTreeMap<String, f64>,
}

impl Store {
    /// Stores `rows` of `dataset` as issued at `issued_ms` (milliseconds since 1970), in one
    /// transaction, and marks the series they concern as changed (every series for shared
    /// rows), so that forecasts read them. Re-sending the same issue changes nothing.
    pub async fn put_future(
        &self,
        dataset: &str,
        rows: &[FutureRow],
        issued_ms: i64,
    ) -> Result<i64, StoreError> {
        let now = now_millis();
        let mut tx = self.pool().begin().await?;
        let change = begin_change(&mut tx, dataset).await?;
        for row in rows {
            let values = serde_json::to_string(&row.exogenous).unwrap_or_else(|_| "{}".into());
            sqlx::query(
                "INSERT INTO future_values (dataset, series, t, issued, exogenous, arrived)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (dataset, series, t, issued) DO UPDATE SET exogenous = $5, arrived = $6",
            )
            .bind(dataset)
            .bind(&row.series)
            .bind(row.t)
            .bind(issued_ms)
            .bind(values)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        if rows.iter().any(|r| r.series == SHARED) {
            mark_changed(&mut tx, dataset, None, change).await?;
        } else {
            let mut ids: Vec<&str> = rows.iter().map(|r| r.series.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            mark_changed(&mut tx, dataset, Some(&ids), change).await?;
        }
        tx.commit().await?;
        Ok(change)
    }

    /// The future-known values of `series` at times after `after` up to `until`: per time and
    /// column, the value of the latest issue, the series' own over the shared one.
    pub async fn future_values(
        &self,
        dataset: &str,
        series: &str,
        after: i64,
        until: i64,
    ) -> Result<BTreeMap<i64, BTreeMap<String, f64>>, StoreError> {
        let rows = sqlx::query(
            "SELECT t, exogenous FROM future_values
             WHERE dataset = $1 AND (series = $2 OR series = $3) AND t > $4 AND t <= $5
             ORDER BY t, issued, series",
        )
        .bind(dataset)
        .bind(series)
        .bind(SHARED)
        .bind(after)
        .bind(until)
        .fetch_all(self.pool())
        .await?;
        let mut out: BTreeMap<i64, BTreeMap<String, f64>> = BTreeMap::new();
        // Ordered by issue time, then shared ('') before the series' own: later rows overlay.
        for row in rows {
            let t: i64 = row.try_get(0)?;
            let text: String = row.try_get(1)?;
            let values: BTreeMap<String, f64> =
                serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                    what: "future values",
                    reason: e.to_string(),
                })?;
            out.entry(t).or_default().extend(values);
        }
        Ok(out)
    }
}
