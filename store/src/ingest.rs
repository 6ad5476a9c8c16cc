//! Writing: datasets, series and observations, one transaction per request.
//!
//! Re-sending a row that is stored changes nothing; a row whose value differs is a revision: the
//! stored row moves to `revisions` with its arrival time and the new value takes its place. Every
//! write takes the next number of one change counter, inside its transaction, and stamps the
//! series it changed with it: a reader that remembers the last number it saw learns which series
//! changed since, in commit order (the counter's row lock orders writers on PostgreSQL).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sqlx::{Any, Row as _, Transaction};

use crate::time::now_millis;
use crate::{Store, StoreError};

/// An observation of one series, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Series id.
    pub series: String,
    /// Time, as stored ([`crate::encode_time`]).
    pub t: i64,
    /// Target value (finite).
    pub target: f64,
    /// Exogenous values by column (finite).
    pub exogenous: BTreeMap<String, f64>,
}

/// Exogenous values every series of a dataset shares at one time, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct SharedRow {
    /// Time, as stored.
    pub t: i64,
    /// Values by column.
    pub exogenous: BTreeMap<String, f64>,
}

/// What an ingest did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IngestSummary {
    /// Rows stored that were not there.
    pub inserted: usize,
    /// Rows that replaced a different stored value (the old one is kept as a revision).
    pub revised: usize,
    /// Rows equal to what was stored: nothing changed.
    pub unchanged: usize,
    /// Series that changed (every series of the dataset when a shared row changed).
    pub changed_series: Vec<String>,
    /// The change number of this ingest (0 when nothing changed).
    pub change: i64,
}

/// A row to write: time, target (none on shared rows), exogenous values.
type Incoming<'a> = (i64, Option<f64>, &'a BTreeMap<String, f64>);

/// The series id of shared rows.
pub(crate) const SHARED: &str = "";

/// Whether statements that bind a float that may be NULL are kept prepared. They are not:
/// sqlx 0.8's `Any` driver binds a NULL `f64` as a PostgreSQL `float4`, and a statement prepared
/// with that NULL then refuses a later non-NULL `f64` ("incorrect binary data format"). An
/// unnamed statement takes each execution's own parameter types.
pub(crate) const NULLABLE_FLOATS_PERSIST: bool = false;

/// Rows per multi-row INSERT: 6 parameters each, far below both engines' limits.
const INSERT_CHUNK: usize = 400;

impl Store {
    /// Adds `dataset` with its frequency and exogenous columns, or checks that the stored one
    /// has the same.
    pub async fn register_dataset(
        &self,
        dataset: &str,
        frequency: &str,
        exogenous: &[String],
    ) -> Result<(), StoreError> {
        let columns = serde_json::to_string(exogenous).unwrap_or_default();
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO datasets (name, frequency, exogenous, last_change) VALUES ($1, $2, $3, 0)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(dataset)
        .bind(frequency)
        .bind(&columns)
        .execute(&mut *tx)
        .await?;
        let stored = sqlx::query("SELECT frequency, exogenous FROM datasets WHERE name = $1")
            .bind(dataset)
            .fetch_one(&mut *tx)
            .await?;
        let (f, c): (String, String) = (stored.try_get(0)?, stored.try_get(1)?);
        if f != frequency || c != columns {
            return Err(StoreError::DatasetMismatch {
                name: dataset.into(),
                stored: format!("frequency {f} and exogenous columns {c}"),
                given: format!("frequency {frequency} and exogenous columns {columns}"),
            });
        }
        tx.commit().await?;
        Ok(())
    }

    /// Adds `series` to `dataset` where missing (a fitted version's series, before any data
    /// arrive for them).
    pub async fn add_series(&self, dataset: &str, series: &[String]) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        for id in series {
            sqlx::query(
                "INSERT INTO series (dataset, id, changed) VALUES ($1, $2, 0)
                 ON CONFLICT (dataset, id) DO NOTHING",
            )
            .bind(dataset)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stores `rows` and `shared` rows of `dataset` in one transaction, creating series that are
    /// not there yet: all of them or, on error, none. `source` says who sent them (logged with
    /// the ingest).
    pub async fn ingest(
        &self,
        dataset: &str,
        rows: &[Row],
        shared: &[SharedRow],
        source: &str,
    ) -> Result<IngestSummary, StoreError> {
        let now = now_millis();
        let mut tx = self.pool().begin().await?;
        let change = begin_change(&mut tx, dataset).await?;

        let mut summary = IngestSummary::default();
        let mut by_series: BTreeMap<&str, Vec<Incoming>> = BTreeMap::new();
        for row in rows {
            by_series.entry(&row.series).or_default().push((
                row.t,
                Some(row.target),
                &row.exogenous,
            ));
        }
        for row in shared {
            by_series
                .entry(SHARED)
                .or_default()
                .push((row.t, None, &row.exogenous));
        }
        let mut shared_changed = false;
        for (series, values) in &by_series {
            let changed = write_series(&mut tx, dataset, series, values, now, &mut summary).await?;
            if changed {
                if *series == SHARED {
                    shared_changed = true;
                } else {
                    summary.changed_series.push((*series).to_owned());
                }
            }
        }
        for series in by_series.keys().filter(|s| **s != SHARED) {
            sqlx::query(
                "INSERT INTO series (dataset, id, changed) VALUES ($1, $2, 0)
                 ON CONFLICT (dataset, id) DO NOTHING",
            )
            .bind(dataset)
            .bind(*series)
            .execute(&mut *tx)
            .await?;
        }
        if shared_changed {
            mark_changed(&mut tx, dataset, None, change).await?;
            summary.changed_series = sqlx::query("SELECT id FROM series WHERE dataset = $1")
                .bind(dataset)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            summary.changed_series.sort();
        } else {
            let ids: Vec<&str> = summary.changed_series.iter().map(String::as_str).collect();
            mark_changed(&mut tx, dataset, Some(&ids), change).await?;
        }
        let changed_anything = summary.inserted + summary.revised > 0;
        sqlx::query(
            "UPDATE datasets SET last_ingest = $1,
                 last_change = CASE WHEN $2 THEN $3 ELSE last_change END
             WHERE name = $4",
        )
        .bind(now)
        .bind(changed_anything)
        .bind(change)
        .bind(dataset)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO ingests (dataset, change, at, source, rows_sent, inserted, revised,
                 unchanged) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(dataset)
        .bind(change)
        .bind(now)
        .bind(source)
        .bind((rows.len() + shared.len()) as i64)
        .bind(summary.inserted as i64)
        .bind(summary.revised as i64)
        .bind(summary.unchanged as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if changed_anything {
            summary.change = change;
        }
        Ok(summary)
    }
}

/// Takes the next change number inside `tx` and checks that `dataset` is in the store. The
/// counter's update comes first: a write takes the write lock before the transaction reads
/// anything, so on SQLite a concurrent writer makes it wait (busy_timeout) instead of failing on
/// a stale read snapshot; on PostgreSQL the counter's row lock orders writers.
pub(crate) async fn begin_change(
    tx: &mut Transaction<'static, Any>,
    dataset: &str,
) -> Result<i64, StoreError> {
    let change: i64 =
        sqlx::query("UPDATE counters SET value = value + 1 WHERE name = 'change' RETURNING value")
            .fetch_one(&mut **tx)
            .await?
            .try_get(0)?;
    let known = sqlx::query("SELECT 1 FROM datasets WHERE name = $1")
        .bind(dataset)
        .fetch_optional(&mut **tx)
        .await?;
    if known.is_none() {
        return Err(StoreError::UnknownDataset(dataset.into()));
    }
    Ok(change)
}

/// Stamps `series` of `dataset` (every series when `None`) with change number `change`.
pub(crate) async fn mark_changed(
    tx: &mut Transaction<'static, Any>,
    dataset: &str,
    series: Option<&[&str]>,
    change: i64,
) -> Result<(), StoreError> {
    match series {
        None => {
            sqlx::query("UPDATE series SET changed = $1 WHERE dataset = $2")
                .bind(change)
                .bind(dataset)
                .execute(&mut **tx)
                .await?;
        }
        Some(ids) => {
            for id in ids {
                sqlx::query("UPDATE series SET changed = $1 WHERE dataset = $2 AND id = $3")
                    .bind(change)
                    .bind(dataset)
                    .bind(*id)
                    .execute(&mut **tx)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Stores one series' rows (or the shared rows) and says whether anything changed.
async fn write_series(
    tx: &mut Transaction<'static, Any>,
    dataset: &str,
    series: &str,
    values: &[Incoming<'_>],
    now: i64,
    summary: &mut IngestSummary,
) -> Result<bool, StoreError> {
    let (first, last) = values.iter().fold((i64::MAX, i64::MIN), |(lo, hi), v| {
        (lo.min(v.0), hi.max(v.0))
    });
    let stored: HashMap<i64, (Option<f64>, String, i64)> = sqlx::query(
        "SELECT t, target, exogenous, arrived FROM observations
         WHERE dataset = $1 AND series = $2 AND t >= $3 AND t <= $4",
    )
    .bind(dataset)
    .bind(series)
    .bind(first)
    .bind(last)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))))
    .collect::<Result<_, sqlx::Error>>()?;

    let mut new: Vec<(i64, Option<f64>, String)> = Vec::new();
    let mut changed = false;
    for &(t, target, exogenous) in values {
        match stored.get(&t) {
            None => new.push((t, target, json(exogenous))),
            Some((old_target, old_exogenous, old_arrived)) => {
                let mut merged: BTreeMap<String, f64> = serde_json::from_str(old_exogenous)
                    .map_err(|e| StoreError::Corrupt {
                        what: "exogenous values",
                        reason: e.to_string(),
                    })?;
                let before = merged.clone();
                merged.extend(exogenous.iter().map(|(k, v)| (k.clone(), *v)));
                let target_same = match (old_target, target) {
                    (_, None) => true,
                    (Some(a), Some(b)) => a.to_bits() == b.to_bits(),
                    (None, Some(_)) => false,
                };
                if target_same && merged == before {
                    summary.unchanged += 1;
                    continue;
                }
                summary.revised += 1;
                changed = true;
                sqlx::query(
                    "INSERT INTO revisions (dataset, series, t, target, exogenous, arrived,
                         replaced) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(dataset)
                .bind(series)
                .bind(t)
                .bind(*old_target)
                .bind(old_exogenous)
                .bind(*old_arrived)
                .bind(now)
                .persistent(NULLABLE_FLOATS_PERSIST)
                .execute(&mut **tx)
                .await?;
                sqlx::query(
                    "UPDATE observations SET target = $1, exogenous = $2, arrived = $3
                     WHERE dataset = $4 AND series = $5 AND t = $6",
                )
                .bind(target.or(*old_target))
                .bind(json(&merged))
                .bind(now)
                .bind(dataset)
                .bind(series)
                .bind(t)
                .persistent(NULLABLE_FLOATS_PERSIST)
                .execute(&mut **tx)
                .await?;
            }
        }
    }
    summary.inserted += new.len();
    changed |= !new.is_empty();
    for chunk in new.chunks(INSERT_CHUNK) {
        let mut sql = String::from(
            "INSERT INTO observations (dataset, series, t, target, exogenous, arrived) VALUES ",
        );
        for i in 0..chunk.len() {
            let p = 6 * i;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6
            ));
        }
        let mut query = sqlx::query(&sql).persistent(NULLABLE_FLOATS_PERSIST);
        for (t, target, exogenous) in chunk {
            query = query
                .bind(dataset)
                .bind(series)
                .bind(*t)
                .bind(*target)
                .bind(exogenous.as_str())
                .bind(now);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(changed)
}

fn json(values: &BTreeMap<String, f64>) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "{}".into())
}
