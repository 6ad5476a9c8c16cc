//! SIGTERM under load, on the real binary: every request the server took in is answered in full,
//! and the process exits 0.
//!
//! What "took in" means is decided without looking at the clock:
//!
//! - Requests in flight when the signal arrives are made so deterministically: their head carries
//!   `Expect: 100-continue`, and the server's `100 Continue` proves the handler is reading the body
//!   (past load shedding and the key check). Their bodies are sent only after the server has
//!   stopped accepting connections, and each must be answered 200.
//! - Meanwhile clients hammer the server on keep-alive connections. Once it stops, a client may be
//!   refused at `connect`, or see its connection end before a single byte of answer (an idle
//!   keep-alive connection the server closed, or one the kernel queued that the server never
//!   accepted); both are counted and allowed, and the client stops at the first refusal. A cut-short
//!   answer or any status but 200 fails the test.
//! - The server logs how many requests it answered when it stops; that must equal the 200s the
//!   clients received. A request the server took in but did not answer, or an answer lost on the
//!   way, would make the two differ.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use civicast_model::ModelId;
use civicast_registry::Registry;
use civicast_service::auth::hash_key;
use common::http::{Connection, Failure, post_json, post_json_head_expecting_continue};
use common::*;
use tokio::sync::mpsc;

/// Clients hammering on keep-alive connections.
const HAMMERS: usize = 6;
/// Requests held in flight across the signal.
const HELD: usize = 4;
/// Answers the hammers collect (together) before the signal is sent.
const BEFORE_SIGNAL: usize = 300;
/// A bound on each hammer's requests, so a server that never stops cannot make the test run
/// forever.
const MAX_PER_HAMMER: usize = 500_000;
/// How long the server may take to exit after its last connection closed. Not a measure of
/// anything: a guard so that a server that hangs fails the test instead of hanging CI.
const EXIT_GUARD: Duration = Duration::from_secs(120);

/// The server process; killed if the test fails before it exits.
struct Server {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `text` without terminal colour codes (in case the log is coloured after all).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Server {
    /// Starts `civicast-serve` on a port the system picks, serving `registry` to one read key.
    fn start(dir: &std::path::Path) -> Server {
        let config = dir.join("serve.toml");
        std::fs::write(
            &config,
            format!(
                "registry = '{}'\nstore = '{}'\nlisten = \"127.0.0.1:0\"\nreload_poll_seconds = 0\n\
                 # Far beyond anything the test waits for: held requests must not time out.\n\
                 request_timeout_ms = 600000\nidle_timeout_ms = 1200000\n\n\
                 [[api_keys]]\nname = \"reader\"\nrole = \"read\"\nsha256 = \"{}\"\n",
                dir.join("registry").display(),
                dir.join("store.db").display(),
                hash_key(READ_KEY)
            ),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_civicast-serve"))
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("CIVICAST_CONFIG")
            .env_remove("CIVICAST_LISTEN")
            .env_remove("CIVICAST_REGISTRY")
            .env_remove("CIVICAST_STORE")
            .env_remove("CIVICAST_API_KEYS")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // The log is read on a thread of its own, always, so the server never blocks on a full
        // pipe.
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(plain(&line)).is_err() {
                    break;
                }
            }
        });
        Server {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next log line containing `needle`; fails if the log ends first.
    async fn line_containing(&mut self, needle: &str) -> String {
        while let Some(line) = self.lines.recv().await {
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
        panic!(
            "the server's log ended without {needle:?}:\n{}",
            self.seen.join("\n")
        );
    }

    /// Sends SIGTERM with the system's `kill`.
    fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit; its exit code.
    async fn exit_code(&mut self) -> Option<i32> {
        let waited = tokio::time::timeout(EXIT_GUARD, async {
            loop {
                if let Some(status) = self.child.try_wait().unwrap() {
                    return status.code();
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        waited.expect("the server did not exit after its connections closed")
    }
}

/// The value of `key=` in a log line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line
        .find(&format!("{key}="))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
        + key.len()
        + 1;
    line[start..].split_whitespace().next().unwrap()
}

/// What one hammer saw.
#[derive(Debug, Default)]
struct Tally {
    answered: usize,
    refused: usize,
    closed_before_response: usize,
}

/// Sends forecast requests until the server refuses a connection.
async fn hammer(address: SocketAddr, answered: Arc<AtomicUsize>) -> Result<Tally, String> {
    let request = post_json("/v1/forecast", READ_KEY, FORECAST_BODY);
    let mut tally = Tally::default();
    'connections: while tally.answered < MAX_PER_HAMMER {
        let mut connection = match Connection::open(address).await {
            Ok(connection) => connection,
            Err(Failure::Refused) => {
                tally.refused += 1;
                return Ok(tally);
            }
            Err(e) => return Err(format!("connect: {e:?}")),
        };
        while tally.answered < MAX_PER_HAMMER {
            match connection.request(&request).await {
                Ok(response) if response.status == 200 => {
                    tally.answered += 1;
                    answered.fetch_add(1, Ordering::SeqCst);
                    if response.closes() {
                        continue 'connections;
                    }
                }
                Ok(response) => {
                    return Err(format!(
                        "status {}: {}",
                        response.status,
                        String::from_utf8_lossy(&response.body)
                    ));
                }
                Err(Failure::ClosedBeforeResponse) => {
                    tally.closed_before_response += 1;
                    continue 'connections;
                }
                Err(e) => return Err(format!("request {}: {e:?}", tally.answered)),
            }
        }
    }
    Ok(tally)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_answers_every_request_taken_in_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let version = publish(
        &Registry::new(dir.path().join("registry")),
        ModelId::Snaive,
        1.0,
        false,
    );
    let mut server = Server::start(dir.path());
    let listening = server.line_containing("civicast-serve listening").await;
    let address: SocketAddr = field(&listening, "listen").parse().unwrap();

    let answered = Arc::new(AtomicUsize::new(0));
    let hammers: Vec<_> = (0..HAMMERS)
        .map(|_| tokio::spawn(hammer(address, answered.clone())))
        .collect();
    while answered.load(Ordering::SeqCst) < BEFORE_SIGNAL {
        assert!(
            !hammers.iter().any(|h| h.is_finished()),
            "a hammer stopped before the signal"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }

    // Requests in flight across the signal: each connection has had one answer (the server
    // accepted it) and now waits inside the handler for its second request's body.
    let forecast = post_json("/v1/forecast", READ_KEY, FORECAST_BODY);
    let mut held = Vec::new();
    for _ in 0..HELD {
        let mut connection = Connection::open(address).await.unwrap();
        assert_eq!(connection.request(&forecast).await.unwrap().status, 200);
        connection
            .write(&post_json_head_expecting_continue(
                "/v1/forecast",
                READ_KEY,
                FORECAST_BODY.len(),
            ))
            .await
            .unwrap();
        assert_eq!(connection.read_response().await.unwrap().status, 100);
        held.push(connection);
    }

    server.terminate();
    server.line_containing("shutdown signal received").await;
    // Wait until the server has stopped accepting: from then on it is shutting down for sure.
    loop {
        match Connection::open(address).await {
            Err(Failure::Refused) => break,
            Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(e) => panic!("probing the listener: {e:?}"),
        }
    }
    for (i, connection) in held.iter_mut().enumerate() {
        connection.write(FORECAST_BODY.as_bytes()).await.unwrap();
        let response = connection.read_final_response().await.unwrap();
        assert_eq!(response.status, 200, "held request {i}");
        assert_eq!(response.json()["forecasts"][0]["version"], version.as_str());
        assert_eq!(
            response.json()["forecasts"][0]["steps"]
                .as_array()
                .map(Vec::len),
            Some(14),
            "held request {i} is answered in full"
        );
    }
    drop(held);

    let mut total = Tally::default();
    for hammer in hammers {
        let tally = hammer.await.unwrap().unwrap();
        total.answered += tally.answered;
        total.refused += tally.refused;
        total.closed_before_response += tally.closed_before_response;
    }
    assert_eq!(total.refused, HAMMERS, "every hammer ended at a refusal");
    let exit = server.exit_code().await;
    assert_eq!(exit, Some(0), "exit code");

    let stopped = server.line_containing("stopped: in-flight").await;
    let server_answered: usize = field(&stopped, "requests").parse().unwrap();
    let client_answered = total.answered + 2 * HELD;
    eprintln!(
        "hammers: {total:?}; held requests answered after the signal: {HELD}; \
         server answered {server_answered}"
    );
    assert_eq!(
        server_answered, client_answered,
        "requests the server answered vs answers the clients received"
    );
}
