//! kill -9 during ingest, on the real binary: every batch the service acknowledged is stored
//! whole, and no batch is stored in part. On SQLite, and on PostgreSQL when
//! `CIVICAST_TEST_POSTGRES` is set.
//!
//! Clients send batches of rows, each batch the whole history of a series of its own, and note
//! which batches were answered 200. Once some have been, the process is killed with SIGKILL (no
//! chance to flush or finish anything). The store is then opened again: each batch's series
//! must hold all its rows or none, and all of them if the batch was acknowledged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use civicast_model::ModelId;
use civicast_registry::Registry;
use civicast_service::auth::hash_key;
use civicast_store::Store;
use common::http::{Connection, post_json};
use common::publish;

const WRITE_KEY: &str = "write-key-for-the-crash-test";
/// Rows per batch.
const ROWS: usize = 200;
/// Clients sending at once.
const CLIENTS: usize = 3;
/// Acknowledged batches (together) before the kill.
const BEFORE_KILL: usize = 30;
/// A bound on each client's batches, so a server that never dies cannot hang the test.
const MAX_BATCHES: usize = 2_000;

fn batch(series: &str) -> String {
    let start = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
    let rows: Vec<serde_json::Value> = (0..ROWS)
        .map(|d| {
            serde_json::json!({
                "id": series,
                "time": (start + chrono::TimeDelta::days(d as i64)).to_string(),
                "value": d as f64,
            })
        })
        .collect();
    serde_json::json!({"dataset": "rides", "observations": rows}).to_string()
}

/// Sends batches until the connection fails; returns how many were sent and which were
/// acknowledged.
async fn client(
    address: SocketAddr,
    prefix: String,
    acknowledged_total: Arc<AtomicUsize>,
) -> (usize, Vec<bool>) {
    let mut acknowledged = Vec::new();
    let Ok(mut connection) = Connection::open(address).await else {
        return (0, acknowledged);
    };
    for k in 0..MAX_BATCHES {
        let request = post_json(
            "/v1/observations",
            WRITE_KEY,
            &batch(&format!("{prefix}-{k}")),
        );
        acknowledged.push(false);
        match connection.request(&request).await {
            Ok(response) if response.status == 200 => {
                acknowledged[k] = true;
                acknowledged_total.fetch_add(1, Ordering::SeqCst);
            }
            Ok(response) => panic!("batch {k} answered {}", response.status),
            Err(_) => break,
        }
    }
    (acknowledged.len(), acknowledged)
}

async fn kill_during_ingest(location: &str, dir: &std::path::Path) {
    let registry = Registry::new(dir.join("registry"));
    publish(&registry, ModelId::Snaive, 1.0, true);
    let config = dir.join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "registry = '{}'\nstore = '{location}'\nlisten = \"127.0.0.1:0\"\n\
             reload_poll_seconds = 0\nstore_poll_ms = 0\naccept_new_series = true\n\n\
             [[api_keys]]\nname = \"feed\"\nrole = \"write\"\nsha256 = \"{}\"\n",
            registry.root().display(),
            hash_key(WRITE_KEY)
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_civicast-serve"))
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "info,civicast::access=warn")
        .env("NO_COLOR", "1")
        .env_remove("CIVICAST_CONFIG")
        .env_remove("CIVICAST_STORE")
        .env_remove("CIVICAST_API_KEYS")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let address: SocketAddr = loop {
        let line = lines
            .next()
            .expect("the server's log ended before it listened")
            .unwrap();
        if let Some(at) = line.find("listen=") {
            break line[at + 7..]
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});

    let run = format!(
        "crash-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| tokio::spawn(client(address, format!("{run}-{c}"), acknowledged.clone())))
        .collect();
    let waited = tokio::time::timeout(Duration::from_secs(120), async {
        while acknowledged.load(Ordering::SeqCst) < BEFORE_KILL {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    let status = Command::new("kill")
        .arg("-KILL")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap();
    waited.expect("the clients were not answered");

    let store = Store::open(location).await.unwrap();
    let mut whole = 0;
    for (c, handle) in clients.into_iter().enumerate() {
        let (_, acknowledged) = handle.await.unwrap();
        for (k, &was_acknowledged) in acknowledged.iter().enumerate() {
            let series = format!("{run}-{c}-{k}");
            let stored = store
                .observations_after("rides", &series, i64::MIN)
                .await
                .unwrap();
            assert!(
                stored.is_empty() || stored.len() == ROWS,
                "batch {series} is stored in part: {} of {ROWS} rows",
                stored.len()
            );
            if was_acknowledged {
                assert_eq!(stored.len(), ROWS, "acknowledged batch {series} was lost");
            }
            whole += usize::from(!stored.is_empty());
        }
    }
    assert!(whole >= BEFORE_KILL);
}

#[tokio::test]
async fn a_killed_service_loses_no_acknowledged_batch_and_stores_none_in_part() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("store.db");
    kill_during_ingest(sqlite.to_str().unwrap(), dir.path()).await;
    if let Ok(url) = std::env::var("CIVICAST_TEST_POSTGRES") {
        let dir = tempfile::tempdir().unwrap();
        kill_during_ingest(&url, dir.path()).await;
    }
}
