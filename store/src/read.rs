//! Reading: what a series' forecast starts from, which series changed, and how fresh a dataset
//! is.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row as _;

use crate::ingest::SHARED;
use crate::{Store, StoreError};

/// One stored time step of a series: its target, if it arrived, and its exogenous values, the
/// dataset's shared values overlaid by the series' own.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// Time, as stored.
    pub t: i64,
    /// The target (`None`: only exogenous values arrived for this step so far).
    pub target: Option<f64>,
    /// Exogenous values by column.
    pub exogenous: BTreeMap<String, f64>,
}

/// A dataset as the store knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetRecord {
    /// Name.
    pub name: String,
    /// Frequency, as in manifests.
    pub frequency: String,
    /// Exogenous columns.
    pub exogenous: Vec<String>,
    /// Its series.
    pub series: Vec<String>,
}

/// How fresh a dataset's data are.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Freshness {
    /// Time of the latest stored observation of any series (as stored), if any.
    pub last_observation: Option<i64>,
    /// When the last ingest was (milliseconds since 1970), if any.
    pub last_ingest_ms: Option<i64>,
    /// Observations stored.
    pub observations: i64,
}

impl Store {
    /// The dataset, with its series; `None` when it is not in the store.
    pub async fn dataset(&self, name: &str) -> Result<Option<DatasetRecord>, StoreError> {
        let Some(row) = sqlx::query("SELECT frequency, exogenous FROM datasets WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(None);
        };
        let exogenous: String = row.try_get(1)?;
        let exogenous = serde_json::from_str(&exogenous).map_err(|e| StoreError::Corrupt {
            what: "dataset columns",
            reason: e.to_string(),
        })?;
        let series = sqlx::query("SELECT id FROM series WHERE dataset = $1 ORDER BY id")
            .bind(name)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        Ok(Some(DatasetRecord {
            name: name.into(),
            frequency: row.try_get(0)?,
            exogenous,
            series,
        }))
    }

    /// Every stored step of `series` after time `after`, in time order, with the shared values.
    pub async fn observations_after(
        &self,
        dataset: &str,
        series: &str,
        after: i64,
    ) -> Result<Vec<Observation>, StoreError> {
        let rows = sqlx::query(
            "SELECT series, t, target, exogenous FROM observations
             WHERE dataset = $1 AND (series = $2 OR series = $3) AND t > $4
             ORDER BY t, series",
        )
        .bind(dataset)
        .bind(series)
        .bind(SHARED)
        .bind(after)
        .fetch_all(self.pool())
        .await?;
        let mut steps: Vec<Observation> = Vec::new();
        // Shared rows sort before the series' own at the same time ('' is the smallest id), so
        // the series' values overlay them.
        for row in rows {
            let owner: String = row.try_get(0)?;
            let t: i64 = row.try_get(1)?;
            let target: Option<f64> = row.try_get(2)?;
            let text: String = row.try_get(3)?;
            let values: BTreeMap<String, f64> =
                serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                    what: "exogenous values",
                    reason: e.to_string(),
                })?;
            match steps.last_mut() {
                Some(step) if step.t == t => {
                    step.exogenous.extend(values);
                    if owner != SHARED {
                        step.target = target;
                    }
                }
                _ => steps.push(Observation {
                    t,
                    target: if owner == SHARED { None } else { target },
                    exogenous: values,
                }),
            }
        }
        Ok(steps)
    }

    /// The series of `dataset` that changed after change number `since`, with the number of
    /// their last change.
    pub async fn changed_since(
        &self,
        dataset: &str,
        since: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query(
            "SELECT id, changed FROM series WHERE dataset = $1 AND changed > $2 ORDER BY id",
        )
        .bind(dataset)
        .bind(since)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()?)
    }

    /// The latest change number of the whole store (0 before any write).
    pub async fn last_change(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("SELECT value FROM counters WHERE name = 'change'")
                .fetch_one(self.pool())
                .await?
                .try_get(0)?,
        )
    }

    /// How fresh `dataset`'s data are.
    pub async fn freshness(&self, dataset: &str) -> Result<Freshness, StoreError> {
        let row = sqlx::query(
            "SELECT MAX(t), COUNT(*) FROM observations WHERE dataset = $1 AND series <> $2",
        )
        .bind(dataset)
        .bind(SHARED)
        .fetch_one(self.pool())
        .await?;
        let last_ingest: Option<i64> =
            sqlx::query("SELECT last_ingest FROM datasets WHERE name = $1")
                .bind(dataset)
                .fetch_optional(self.pool())
                .await?
                .map(|r| r.try_get(0))
                .transpose()?
                .flatten();
        Ok(Freshness {
            last_observation: row.try_get(0)?,
            observations: row.try_get(1)?,
            last_ingest_ms: last_ingest,
        })
    }

    /// How many stored values of `series` were ever replaced by a revision: a number that grows
    /// with every revision, so that scores computed from earlier values know to start over.
    pub async fn revision_count(&self, dataset: &str, series: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("SELECT COUNT(*) FROM revisions WHERE dataset = $1 AND series = $2")
                .bind(dataset)
                .bind(series)
                .fetch_one(self.pool())
                .await?
                .try_get(0)?,
        )
    }

    /// The revisions of `series` at time `t`, oldest first: (target, exogenous JSON, arrived ms,
    /// replaced ms).
    pub async fn revisions(
        &self,
        dataset: &str,
        series: &str,
        t: i64,
    ) -> Result<Vec<(Option<f64>, String, i64, i64)>, StoreError> {
        Ok(sqlx::query(
            "SELECT target, exogenous, arrived, replaced FROM revisions
             WHERE dataset = $1 AND series = $2 AND t = $3 ORDER BY replaced, arrived",
        )
        .bind(dataset)
        .bind(series)
        .bind(t)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect::<Result<_, sqlx::Error>>()?)
    }
}
