//! Forecasts from the latest stored data: each served series moves on from its version's fitted
//! end through every step the store holds since, by the forecaster's absorb step (no refit).
//!
//! The store stamps every series a write changed with a change number, in commit order. Each
//! served version remembers the number its series reflect; [`refresh_version`] asks the store
//! which series changed after it and rebuilds those from their state as fitted, so revisions and
//! late values are taken in exactly as on-time ones. It runs after this service's own ingests
//! (before the ingest is acknowledged, so the next forecast starts after it), before a newly
//! loaded version is swapped in, and every `store_poll_ms` for writes made elsewhere (another
//! replica, `civicast-train import`).
//!
//! # Gaps
//!
//! A step with no stored target between the fitted end and the latest observation is a gap: the
//! forecaster fills it with its own one-step forecast (see `civicast_model::forecaster::live`)
//! and the series' answers say which steps were filled. Steps after the latest observation are
//! not guessed at: the forecast starts right after it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use civicast_model::metrics::PROTOCOL_QUANTILES;
use civicast_model::{Frequency, Step, TimePoint};
use civicast_store::{IssuedForecast, Observation, Store, encode_time};

use crate::AppState;
use crate::catalog::LoadedVersion;

/// Most steps a series takes in after its version's fitted end. Each change re-absorbs them all
/// (a revision may touch the first), so this bounds one refresh's work; a version this far behind
/// its data wants a refit, and the answer says so.
pub const MAX_ABSORBED_STEPS: usize = 20_000;

/// Brings every series of `loaded` that changed in the store since its last refresh up to date.
/// Returns the number of series moved.
pub async fn refresh_version(store: &Store, loaded: &Arc<LoadedVersion>) -> Result<usize, String> {
    let dataset = loaded.dataset().to_owned();
    let since = loaded.applied_change();
    let changed = store
        .changed_since(&dataset, since)
        .await
        .map_err(|e| e.to_string())?;
    let mut latest = since;
    let mut moved = 0;
    let mut positions = Vec::new();
    for (id, change) in changed {
        latest = latest.max(change);
        let Some(&position) = loaded.index.get(&id) else {
            // A series the version was not fitted on: stored, forecast after a refit.
            continue;
        };
        let end = loaded.fitted_ends[position];
        let stored = store
            .observations_after(&dataset, &id, encode_time(end))
            .await
            .map_err(|e| e.to_string())?;
        let (steps, notes) = steps_after(loaded.frequency, end, &stored);
        let version = loaded.clone();
        let result =
            tokio::task::spawn_blocking(move || version.update_series(position, &steps, notes))
                .await
                .map_err(|e| e.to_string())?;
        if let Err(e) = result {
            // The series keeps its previous state; the next change tries again.
            tracing::warn!(%dataset, series = %id, error = %e, "cannot take in stored observations");
        } else {
            moved += 1;
        }
        let future = stored_future(store, loaded, position)
            .await
            .map_err(|e| e.to_string())?;
        loaded.set_future(position, future);
        positions.push(position);
    }
    issue_and_score(store, loaded, &positions)
        .await
        .map_err(|e| e.to_string())?;
    loaded.set_applied_change(latest);
    Ok(moved)
}

/// The future-known values stored for the steps after the series' current end, per column
/// from step 1 up to the first step without a value, at most `MAX_FUTURE_STEPS` steps.
async fn stored_future(
    store: &Store,
    loaded: &LoadedVersion,
    position: usize,
) -> Result<civicast_model::learned::published::FutureValues, civicast_store::StoreError> {
    let end = loaded.end(position);
    let frequency = loaded.frequency;
    let until = frequency
        .advance(end, MAX_FUTURE_STEPS as i64)
        .map_or(i64::MAX, encode_time);
    let by_time = store
        .future_values(
            loaded.dataset(),
            &loaded.manifest.series[position].id,
            encode_time(end),
            until,
        )
        .await?;
    let mut future = civicast_model::learned::published::FutureValues::new();
    if by_time.is_empty() {
        return Ok(future);
    }
    let columns: std::collections::BTreeSet<&String> =
        by_time.values().flat_map(|v| v.keys()).collect();
    for column in columns {
        let mut values = Vec::new();
        for step in 1..=MAX_FUTURE_STEPS {
            let Some(t) = frequency.advance(end, step as i64) else {
                break;
            };
            match by_time.get(&encode_time(t)).and_then(|v| v.get(column)) {
                Some(v) => values.push(*v),
                None => break,
            }
        }
        if !values.is_empty() {
            future.insert(column.clone(), values);
        }
    }
    Ok(future)
}

/// Most future steps of stored future-known values a series keeps in memory.
pub const MAX_FUTURE_STEPS: usize = 1_000;

/// Issues the forecast from every series' current origin that has none issued yet (a version
/// just loaded), and scores each.
pub async fn issue_all(store: &Store, loaded: &Arc<LoadedVersion>) -> Result<(), String> {
    let waiting: Vec<usize> = (0..loaded.manifest.series.len())
        .filter(|&p| loaded.live(p).issued.is_none())
        .collect();
    issue_and_score(store, loaded, &waiting)
        .await
        .map_err(|e| e.to_string())
}

/// Stores the forecasts from the current origins of the series at `positions` that were not
/// issued yet (in one transaction), then scores each series' issued forecasts against the
/// actuals stored so far (see [`crate::accuracy`]).
async fn issue_and_score(
    store: &Store,
    loaded: &Arc<LoadedVersion>,
    positions: &[usize],
) -> Result<(), civicast_store::StoreError> {
    let dataset = loaded.dataset().to_owned();
    let horizon = loaded.manifest.dataset.horizon.max(1);
    let season = loaded
        .manifest
        .dataset
        .season_lengths
        .first()
        .copied()
        .unwrap_or(1);
    let due: Vec<(usize, TimePoint)> = positions
        .iter()
        .map(|&p| (p, loaded.end(p)))
        .filter(|&(p, origin)| loaded.live(p).issued != Some(origin))
        .collect();
    let version = loaded.clone();
    let wanted = due.clone();
    let made = tokio::task::spawn_blocking(move || {
        wanted
            .iter()
            .map(|&(p, _)| version.forecast_with(p, horizon, &PROTOCOL_QUANTILES, None))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let mut issued = Vec::with_capacity(due.len());
    let mut origins = Vec::with_capacity(due.len());
    for (&(position, origin), made) in due.iter().zip(made) {
        let id = &loaded.manifest.series[position].id;
        match made {
            Ok(served) => {
                let scales = store
                    .scales(&dataset, id, encode_time(origin), season)
                    .await?;
                issued.push(IssuedForecast {
                    series: id.clone(),
                    origin: encode_time(origin),
                    version: loaded.manifest.version.clone(),
                    model: loaded.manifest.series[position].model.clone(),
                    issued_ms: 0,
                    forecast: served.forecast,
                    scales,
                });
                origins.push((position, origin));
            }
            Err(e) => {
                tracing::warn!(%dataset, series = %id, error = %e, "cannot issue a forecast");
            }
        }
    }
    if !issued.is_empty() {
        store.issue(&dataset, &issued).await?;
    }
    for (position, origin) in origins {
        loaded.set_issued(position, origin);
    }
    for &position in positions {
        let subject = civicast_store::accuracy::Subject {
            dataset: &dataset,
            series: &loaded.manifest.series[position].id,
            version: &loaded.manifest.version,
            frequency: loaded.frequency,
            horizon,
            promised: loaded.promised_mase(position),
        };
        let mut scorer = loaded.take_scorer(position);
        let accuracy = scorer.score(store, subject, false).await?;
        loaded.put_scorer(position, scorer);
        loaded.set_accuracy(position, accuracy);
    }
    Ok(())
}

/// Brings every served dataset up to the store's latest change, so that what any replica sharing
/// the store acknowledged before a read arrived is in the answer, whichever replica answers. It
/// reads the store's change counter; datasets are refreshed only when the counter moved past what
/// this replica has taken in (by its own ingest, its poller or an earlier request). A store that
/// cannot be read leaves the answer as it stands, with a warning: the poller tries again.
///
/// Concurrent reads share counter reads: a request needs one read that began after it arrived.
/// Reads run one at a time; a request that waited for the one in progress takes the result of
/// the next, which began after it arrived and which only the first of the waiting requests makes.
/// So under load the counter is read back to back, not once per request, and a request waits for
/// at most two reads (and their refreshes), and never longer than two seconds (`CATCH_UP_WAIT`).
///
/// Only a PostgreSQL store is shared by replicas. A SQLite file has one service, whose own ingests
/// are taken in before they are acknowledged; an import by `civicast-train` is picked up by the
/// poller. There the read would only cost: cached forecasts went from about 62,000 to 21,000
/// requests/s with it (`bench/service_load.sh`).
pub async fn catch_up(state: &AppState) {
    let Some(store) = &state.store else {
        return;
    };
    if store.engine() != civicast_store::Engine::Postgres {
        return;
    }
    let arrived = state.catch_up_ticket.fetch_add(1, Ordering::SeqCst) + 1;
    // In a task of its own: a request that times out or whose client leaves must not cancel a
    // refresh half done (the next request would only start it again). A refresh that takes
    // longer than the wait (a large import arrived) leaves this answer as it stands.
    let worker = state.clone();
    let task = tokio::spawn(async move { catch_up_after(&worker, arrived).await });
    if tokio::time::timeout(CATCH_UP_WAIT, task).await.is_err() {
        tracing::warn!(
            "the store's latest changes are still being taken in; answering from the data before them"
        );
    }
}

/// Longest a read waits to catch up with the store before it is answered as things stand.
const CATCH_UP_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// [`catch_up`] for a request that arrived at ticket `arrived`.
async fn catch_up_after(state: &AppState, arrived: u64) {
    let Some(store) = &state.store else {
        return;
    };
    let mut last_began = state.catch_up_read.lock().await;
    if *last_began >= arrived {
        return;
    }
    let began = state.catch_up_ticket.fetch_add(1, Ordering::SeqCst) + 1;
    let latest = match store.last_change().await {
        Ok(latest) => latest,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the store's change counter");
            return;
        }
    };
    if latest > state.seen_change.load(Ordering::Acquire) {
        let datasets: Vec<String> = state.catalog.load().datasets.keys().cloned().collect();
        for dataset in datasets {
            if let Err(e) = refresh_dataset(state, &dataset).await {
                tracing::warn!(%dataset, error = %e, "cannot read the store's observations");
                return;
            }
        }
        state.seen_change.fetch_max(latest, Ordering::AcqRel);
    }
    *last_began = began;
}

/// Refreshes the served version of `dataset` (see [`refresh_version`]), one refresh at a time so
/// that an older read of the store never overwrites a newer one.
pub async fn refresh_dataset(state: &AppState, dataset: &str) -> Result<usize, String> {
    let Some(store) = &state.store else {
        return Ok(0);
    };
    let _one_at_a_time = state.refreshing.lock().await;
    let Some(loaded) = state.catalog.load().datasets.get(dataset).cloned() else {
        return Ok(0);
    };
    refresh_version(store, &loaded).await
}

/// The steps after `end` up to the last stored target, gaps as steps without one, and notes.
pub fn steps_after(
    frequency: Frequency,
    end: TimePoint,
    stored: &[Observation],
) -> (Vec<Step>, Vec<String>) {
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    let Some(last) = stored
        .iter()
        .rev()
        .find(|o| o.target.is_some())
        .map(|o| o.t)
    else {
        return (steps, notes);
    };
    let mut next = stored.iter().peekable();
    let mut t = frequency.advance(end, 1);
    while let Some(time) = t {
        let at = encode_time(time);
        if at > last {
            break;
        }
        if steps.len() == MAX_ABSORBED_STEPS {
            notes.push(format!(
                "the served version was fitted more than {MAX_ABSORBED_STEPS} steps before the \
                 latest observation; forecasts start at {} and leave the rest out until a refit \
                 (civicast-train fit --from-store)",
                frequency.format_time(time)
            ));
            break;
        }
        while next.next_if(|o| o.t < at).is_some() {}
        let step = match next.next_if(|o| o.t == at) {
            Some(o) => Step {
                target: o.target,
                exogenous: o.exogenous.clone(),
            },
            None => Step::default(),
        };
        steps.push(step);
        t = frequency.advance(time, 1);
    }
    (steps, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_run_to_the_last_target_with_gaps_where_none_arrived() {
        let day: Frequency = "1d".parse().unwrap();
        let end = day.parse_time("2020-01-01").unwrap();
        let at = |d: &str| encode_time(day.parse_time(d).unwrap());
        let observation = |d: &str, target: Option<f64>| Observation {
            t: at(d),
            target,
            exogenous: Default::default(),
        };
        let stored = [
            observation("2020-01-02", Some(1.0)),
            observation("2020-01-04", Some(3.0)),
            observation("2020-01-05", None),
        ];
        let (steps, notes) = steps_after(day, end, &stored);
        let targets: Vec<Option<f64>> = steps.iter().map(|s| s.target).collect();
        assert_eq!(targets, [Some(1.0), None, Some(3.0)]);
        assert!(notes.is_empty());
        assert!(steps_after(day, end, &stored[2..]).0.is_empty());
    }
}
