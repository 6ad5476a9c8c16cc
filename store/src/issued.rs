//! Issued forecasts: what the service said, kept to be scored when the actuals arrive.
//!
//! Stored compactly (f32 is far finer than any forecast's accuracy, and half the size); a
//! forecast is scored from the values as stored, so live accuracy and an export of the same rows
//! scored by `eval/score.py` see the same numbers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use civicast_model::Forecast;
use civicast_model::metrics::{PROTOCOL_QUANTILES, PairScales};
use sqlx::Row as _;

use crate::time::now_millis;
use crate::{Store, StoreError};

/// One issued forecast.
#[derive(Clone, Debug, PartialEq)]
pub struct IssuedForecast {
    /// Series id.
    pub series: String,
    /// Time of the last observation it starts after (as stored).
    pub origin: i64,
    /// The model version that made it.
    pub version: String,
    /// The model that made it.
    pub model: String,
    /// When it was issued (milliseconds since 1970).
    pub issued_ms: i64,
    /// The forecast: means and the protocol's 21 quantiles.
    pub forecast: Forecast,
    /// The history's scales at the origin.
    pub scales: PairScales,
}

fn encode(forecast: &Forecast) -> Option<String> {
    let h = forecast.point.len();
    let mut bytes = Vec::with_capacity(h * (1 + PROTOCOL_QUANTILES.len()) * 4);
    let mut push = |values: &[f64]| {
        for &v in values {
            bytes.extend_from_slice(&(v as f32).to_le_bytes());
        }
    };
    push(&forecast.point);
    for tau in PROTOCOL_QUANTILES {
        let q = forecast.quantile(tau)?;
        if q.len() != h {
            return None;
        }
        push(q);
    }
    Some(STANDARD.encode(bytes))
}

fn decode(text: &str, horizon: usize) -> Result<Forecast, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        what: "issued forecast",
        reason,
    };
    let bytes = STANDARD.decode(text).map_err(|e| corrupt(e.to_string()))?;
    let rows = 1 + PROTOCOL_QUANTILES.len();
    if bytes.len() != horizon * rows * 4 {
        return Err(corrupt(format!(
            "{} bytes for a horizon of {horizon}",
            bytes.len()
        )));
    }
    let values: Vec<f64> = bytes
        .chunks_exact(4)
        .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    let mut rows = values.chunks_exact(horizon.max(1));
    let point = rows.next().map(<[f64]>::to_vec).unwrap_or_default();
    let quantiles = PROTOCOL_QUANTILES
        .iter()
        .zip(rows)
        .map(|(&tau, row)| (tau, row.to_vec()))
        .collect();
    Ok(Forecast { point, quantiles })
}

impl Store {
    /// Keeps `issued` forecasts of `dataset`, in one transaction; a forecast of the same series,
    /// version and origin issued before is kept instead (what was said first is what is scored).
    /// Returns how many were stored. A forecast without the protocol's quantiles is refused.
    pub async fn issue(
        &self,
        dataset: &str,
        issued: &[IssuedForecast],
    ) -> Result<usize, StoreError> {
        let mut payloads = Vec::with_capacity(issued.len());
        for forecast in issued {
            payloads.push(
                encode(&forecast.forecast).ok_or_else(|| StoreError::Corrupt {
                    what: "issued forecast",
                    reason: format!(
                        "the forecast of {:?} lacks the protocol's quantiles",
                        forecast.series
                    ),
                })?,
            );
        }
        let now = now_millis();
        let mut tx = self.pool().begin().await?;
        let mut stored = 0;
        for (forecast, payload) in issued.iter().zip(payloads) {
            let done = sqlx::query(
                "INSERT INTO issued_forecasts (dataset, series, origin, version, model, issued,
                     horizon, scale, level, forecast)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (dataset, series, version, origin) DO NOTHING",
            )
            .bind(dataset)
            .bind(&forecast.series)
            .bind(forecast.origin)
            .bind(&forecast.version)
            .bind(&forecast.model)
            .bind(if forecast.issued_ms > 0 {
                forecast.issued_ms
            } else {
                now
            })
            .bind(forecast.forecast.point.len() as i64)
            .bind(forecast.scales.mase)
            .bind(forecast.scales.level)
            .bind(payload)
            .persistent(crate::ingest::NULLABLE_FLOATS_PERSIST)
            .execute(&mut *tx)
            .await?;
            stored += done.rows_affected() as usize;
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// Removes `dataset`'s issued forecasts from origins before `before` (as stored), of every
    /// series and version: the retention that keeps the table at the live window's size rather
    /// than growing with every forecast served (`civicast-train prune-issued`). Returns how many
    /// were removed.
    pub async fn prune_issued(&self, dataset: &str, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM issued_forecasts WHERE dataset = $1 AND origin < $2")
            .bind(dataset)
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// The forecasts issued for `series` by `version` (every version when `None`), the latest
    /// `limit` origins, oldest first.
    pub async fn issued(
        &self,
        dataset: &str,
        series: &str,
        version: Option<&str>,
        limit: usize,
    ) -> Result<Vec<IssuedForecast>, StoreError> {
        let rows = sqlx::query(
            "SELECT origin, version, model, issued, horizon, scale, level, forecast
             FROM issued_forecasts
             WHERE dataset = $1 AND series = $2 AND ($3 = '' OR version = $3)
             ORDER BY origin DESC, version DESC LIMIT $4",
        )
        .bind(dataset)
        .bind(series)
        .bind(version.unwrap_or(""))
        .bind(limit.min(i64::MAX as usize) as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .rev()
            .map(|row| issued_row(series, row))
            .collect()
    }

    /// The origins of forecasts `version` issued for `series` after `after`, the latest `limit`,
    /// newest first.
    pub async fn issued_origins(
        &self,
        dataset: &str,
        series: &str,
        version: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query(
            "SELECT origin FROM issued_forecasts
             WHERE dataset = $1 AND series = $2 AND version = $3 AND origin > $4
             ORDER BY origin DESC LIMIT $5",
        )
        .bind(dataset)
        .bind(series)
        .bind(version)
        .bind(after)
        .bind(limit.min(i64::MAX as usize) as i64)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, sqlx::Error>>()?)
    }

    /// The forecasts `version` issued for `series` from the given `origins`, in their order (read
    /// [`ORIGINS_PER_QUERY`] at a time; the caller bounds how many it asks for at once).
    pub async fn issued_at(
        &self,
        dataset: &str,
        series: &str,
        version: &str,
        origins: &[i64],
    ) -> Result<Vec<IssuedForecast>, StoreError> {
        let mut out = Vec::with_capacity(origins.len());
        for chunk in origins.chunks(ORIGINS_PER_QUERY) {
            let placeholders: Vec<String> =
                (0..chunk.len()).map(|i| format!("${}", i + 4)).collect();
            let text = format!(
                "SELECT origin, version, model, issued, horizon, scale, level, forecast
                 FROM issued_forecasts
                 WHERE dataset = $1 AND series = $2 AND version = $3 AND origin IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&text).bind(dataset).bind(series).bind(version);
            for &origin in chunk {
                query = query.bind(origin);
            }
            let mut found: std::collections::HashMap<i64, IssuedForecast> = query
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(|row| issued_row(series, row).map(|f| (f.origin, f)))
                .collect::<Result<_, _>>()?;
            out.extend(chunk.iter().filter_map(|o| found.remove(o)));
        }
        Ok(out)
    }

    /// MASE's and sCRPS's scales of `series`' stored history up to and including `until`, with
    /// MASE season `m` (the definitions of `eval/score.py`: differences `m` positions apart).
    /// Computed by the database (a window function): the history never crosses the connection.
    pub async fn scales(
        &self,
        dataset: &str,
        series: &str,
        until: i64,
        m: usize,
    ) -> Result<PairScales, StoreError> {
        let row = sqlx::query(
            "SELECT AVG(ABS(target - previous)), AVG(ABS(target)), COUNT(*) FROM (
                 SELECT target, LAG(target, CAST($4 AS INTEGER)) OVER (ORDER BY t) AS previous
                 FROM observations
                 WHERE dataset = $1 AND series = $2 AND t <= $3 AND target IS NOT NULL
             ) AS history",
        )
        .bind(dataset)
        .bind(series)
        .bind(until)
        .bind(m.max(1) as i64)
        .fetch_one(self.pool())
        .await?;
        let count: i64 = row.try_get(2)?;
        Ok(PairScales {
            mase: if m == 0 { None } else { row.try_get(0)? },
            level: if count > 0 { row.try_get(1)? } else { None },
        })
    }

    /// The stored targets of `series` at times after `from` up to `to`, in time order.
    pub async fn targets(
        &self,
        dataset: &str,
        series: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, f64)>, StoreError> {
        Ok(sqlx::query(
            "SELECT t, target FROM observations
             WHERE dataset = $1 AND series = $2 AND t > $3 AND t <= $4 AND target IS NOT NULL
             ORDER BY t",
        )
        .bind(dataset)
        .bind(series)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()?)
    }
}

/// Origins [`Store::issued_at`] asks for in one query (one bind parameter each).
pub const ORIGINS_PER_QUERY: usize = 256;

/// An issued forecast from a row of `origin, version, model, issued, horizon, scale, level,
/// forecast`.
fn issued_row(series: &str, row: &sqlx::any::AnyRow) -> Result<IssuedForecast, StoreError> {
    let horizon: i64 = row.try_get(4)?;
    let text: String = row.try_get(7)?;
    Ok(IssuedForecast {
        series: series.to_owned(),
        origin: row.try_get(0)?,
        version: row.try_get(1)?,
        model: row.try_get(2)?,
        issued_ms: row.try_get(3)?,
        forecast: decode(&text, usize::try_from(horizon).unwrap_or(0))?,
        scales: PairScales {
            mase: row.try_get(5)?,
            level: row.try_get(6)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forecast_reads_back_as_its_f32_values() {
        let point = vec![1.25, 2.5, 1e6 + 0.3];
        let quantiles = PROTOCOL_QUANTILES
            .iter()
            .map(|&t| (t, point.iter().map(|p| p + t).collect()))
            .collect();
        let forecast = Forecast { point, quantiles };
        let back = decode(&encode(&forecast).unwrap(), 3).unwrap();
        assert_eq!(back.point[..2], [1.25, 2.5]);
        assert_eq!(back.point[2], f64::from((1e6_f64 + 0.3) as f32));
        assert_eq!(back.quantiles.len(), 21);
        assert!(decode(&encode(&forecast).unwrap(), 4).is_err());
        let bare = Forecast {
            point: vec![1.0],
            quantiles: vec![],
        };
        assert!(encode(&bare).is_none());
    }
}
