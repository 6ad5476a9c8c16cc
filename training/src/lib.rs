//! # civicast-training
//!
//! The data scientists' side of civicast: read a dataset described by a manifest, validate it,
//! and (in later stages) backtest, fit and publish models. The `civicast-train` binary is a thin
//! command-line layer over this library, so notebooks and tests use the same code.
//!
//! The flow is `manifest` -> `table` -> `dataset`:
//!
//! - [`manifest`] parses `dataset.toml`, rejects unknown keys and checks every value;
//! - [`table`] reads the CSV or Parquet file with polars into the columns the manifest names;
//! - [`dataset`] parses and checks every cell and every series, and builds the model crate's
//!   [`civicast_model::Panel`];
//! - [`calendar`] reads the holiday table;
//! - [`problem`] is how all of them report what is wrong: every problem names its file, line or
//!   row, series and column, and a [`problem::Report`] collects them all up to a cap;
//! - [`summary`] turns a valid dataset into what `civicast-train check` prints;
//! - [`backtest`] runs the evaluation protocol's rolling-origin backtest and [`output`] writes
//!   its predictions and metrics, [`report`] a self-contained HTML page with charts;
//! - [`fit`] chooses each series' model by backtest, refits it and publishes a registry version
//!   (see the `civicast-registry` crate).
//! - [`risk`] backtests budget plans made by a documented rule and fits the logistic classifier
//!   that calibrates the waste probability; [`risk_report`] scores it and writes its report;
//! - [`progress`] is the progress bar all three show.
//!
//! Models are reached only through the model crate's forecaster interface
//! ([`civicast_model::Forecaster`], configured for a dataset by [`dataset::Dataset::forecaster`]):
//! a new model goes in `civicast-model`, and nothing here changes for it.
//!
//! Why polars: it is the data frame library of the project's data scientists (and of the Python
//! ecosystem they come from), its CSV reader is multi-threaded, and it reads Parquet. It is kept
//! out of the model crate so that the inference service never links it.

pub mod backtest;
pub mod calendar;
pub mod dataset;
pub mod error;
pub mod fit;
pub mod import;
pub mod manifest;
pub mod output;
pub mod problem;
pub mod progress;
pub mod report;
pub mod risk;
pub mod risk_report;
pub mod shard;
pub mod summary;
pub mod table;

pub use dataset::{Dataset, LoadInfo, load_dataset};
pub use error::Error;
pub use manifest::Manifest;
pub use problem::{Problem, ProblemKind, Report};
pub use summary::Summary;
