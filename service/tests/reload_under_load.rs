//! Hot reload under load, over a real socket: while clients keep asking for forecasts, a new
//! version is promoted in the registry; every request is answered 200, and the answers switch from
//! the old version to the new one, never back.
//!
//! The assertions are about correctness only (statuses, connection errors, which version answered
//! in which order); nothing depends on how fast the machine is.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use civicast_model::ModelId;
use civicast_registry::Registry;
use civicast_service::AppState;
use common::http::{Connection, post_json};
use common::*;

/// Concurrent clients, each on its own keep-alive connection.
const CLIENTS: usize = 6;
/// Answers from the old version (all clients together) before the new one is promoted.
const BEFORE: usize = 300;
/// Answers each client collects from requests sent after the switch was observed.
const AFTER: usize = 50;
/// A bound on each client's requests, so a bug cannot make the test run forever.
const MAX_PER_CLIENT: usize = 200_000;

/// One answer: whether the request was sent after the switch was known to be complete, and the
/// version that answered.
type Answer = (bool, String);

/// Runs `CLIENTS` clients until each has `AFTER` answers to requests sent after `switched` was
/// set. Any non-200 answer or connection error fails the client.
fn spawn_clients(
    address: SocketAddr,
    answered: &Arc<AtomicUsize>,
    switched: &Arc<AtomicBool>,
) -> Clients {
    (0..CLIENTS)
        .map(|client| {
            let answered = answered.clone();
            let switched = switched.clone();
            tokio::spawn(async move {
                let request = post_json("/v1/forecast", READ_KEY, FORECAST_BODY);
                let mut connection = Connection::open(address)
                    .await
                    .map_err(|e| format!("client {client}: {e:?}"))?;
                let mut answers = Vec::new();
                let mut after = 0;
                while after < AFTER && answers.len() < MAX_PER_CLIENT {
                    let sent_after_switch = switched.load(Ordering::SeqCst);
                    let response = connection.request(&request).await.map_err(|e| {
                        format!("client {client}, request {}: {e:?}", answers.len())
                    })?;
                    if response.status != 200 {
                        return Err(format!(
                            "client {client}: status {} {}",
                            response.status,
                            String::from_utf8_lossy(&response.body)
                        ));
                    }
                    let version = response.json()["forecasts"][0]["version"]
                        .as_str()
                        .ok_or_else(|| format!("client {client}: no version in the answer"))?
                        .to_owned();
                    answered.fetch_add(1, Ordering::SeqCst);
                    after += usize::from(sent_after_switch);
                    answers.push((sent_after_switch, version));
                    if response.closes() {
                        return Err(format!("client {client}: the server closed the connection"));
                    }
                }
                Ok(answers)
            })
        })
        .collect()
}

type Clients = Vec<tokio::task::JoinHandle<Result<Vec<Answer>, String>>>;

/// Waits until `done` holds or a client has stopped (failed, or hit its bound; [`check`] then
/// says which). No deadline: the clients' bound on requests ends the test.
async fn wait_until(clients: &Clients, done: impl Fn() -> bool) {
    while !done() && !clients.iter().any(|c| c.is_finished()) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Checks the clients' answers: all from `old` then all from `new` per client, every request
/// sent after the switch answered by `new`, and both versions seen.
async fn check(clients: Clients, old: &str, new: &str) {
    let (mut from_old, mut from_new) = (0, 0);
    for client in clients {
        let answers = client.await.unwrap().unwrap();
        let first_new = answers
            .iter()
            .position(|(_, v)| v == new)
            .unwrap_or(answers.len());
        for (i, (sent_after_switch, version)) in answers.iter().enumerate() {
            let expected = if i < first_new { old } else { new };
            assert_eq!(version, expected, "answer {i}: versions go old -> new only");
            assert!(
                !sent_after_switch || version == new,
                "answer {i} was asked for after the switch but came from {version}"
            );
        }
        from_old += first_new;
        from_new += answers.len() - first_new;
    }
    assert!(
        from_old >= BEFORE,
        "{from_old} answers from the old version"
    );
    assert!(from_new >= CLIENTS * AFTER, "{from_new} from the new one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_promoted_under_load_replaces_the_old_one_via_admin_reload_without_a_failure() {
    let (dir, state, old) = state_with_models().await;
    let address = serve_in_process(state).await;
    let answered = Arc::new(AtomicUsize::new(0));
    let switched = Arc::new(AtomicBool::new(false));
    let clients = spawn_clients(address, &answered, &switched);

    wait_until(&clients, || answered.load(Ordering::SeqCst) >= BEFORE).await;
    let root = dir.path().to_path_buf();
    let new = tokio::task::spawn_blocking(move || {
        publish(&Registry::new(root), ModelId::Snaive, 2.0, true)
    })
    .await
    .unwrap();
    let mut admin = Connection::open(address).await.unwrap();
    let reload = admin
        .request(&post_json("/v1/admin/reload", ADMIN_KEY, ""))
        .await
        .unwrap();
    assert_eq!(reload.status, 200, "{:?}", reload.json());
    assert_eq!(reload.json()["changed"]["rides"], new.as_str());
    // The reload has answered, so the new catalog is in place: every request from now on must be
    // answered by the new version.
    switched.store(true, Ordering::SeqCst);

    check(clients, &old, &new).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_promoted_under_load_is_picked_up_by_alias_polling_without_a_failure() {
    let (dir, _state, old) = state_with_models().await;
    let mut config = config(dir.path());
    config.reload_poll_seconds = 1;
    let state = AppState::new(config).unwrap();
    state.reload().await;
    state.spawn_reload_poller();
    let address = serve_in_process(state.clone()).await;
    let answered = Arc::new(AtomicUsize::new(0));
    let switched = Arc::new(AtomicBool::new(false));
    let clients = spawn_clients(address, &answered, &switched);

    wait_until(&clients, || answered.load(Ordering::SeqCst) >= BEFORE).await;
    let root = dir.path().to_path_buf();
    let new = tokio::task::spawn_blocking(move || {
        publish(&Registry::new(root), ModelId::Snaive, 2.0, true)
    })
    .await
    .unwrap();
    // The poller swaps the catalog in its own time; once the state serves the new version, every
    // request sent afterwards must be answered by it.
    wait_until(&clients, || {
        (state.catalog.load().datasets.get("rides")).is_some_and(|v| v.manifest.version == new)
    })
    .await;
    switched.store(true, Ordering::SeqCst);

    check(clients, &old, &new).await;
}
