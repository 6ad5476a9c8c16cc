//! # civicast-service
//!
//! The inference service: it will load a model registry written by `civicast-train`, answer
//! forecast and budget-waste-risk requests over HTTP (axum + tokio), and serve the planners'
//! dashboard. It depends only on `civicast-model`, never on the training crate's data-frame
//! stack, so a deployed service stays small.
//!
//! Status: the HTTP service is not built yet (it is the fourth stage of the plan). Until then the
//! `civicast-serve` binary says so and exits with a non-zero status instead of pretending to run.

/// What `civicast-serve` prints until the service exists.
pub const NOT_YET_AVAILABLE: &str = "civicast-serve: the inference service is not implemented yet. \
To validate the bundled datasets now, run: cargo run --bin civicast-train -- check datasets/*/dataset.toml";
