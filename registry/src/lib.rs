//! # civicast-registry
//!
//! The model registry: where `civicast-train fit` publishes fitted models and where the inference
//! service finds them. It is its own small crate because both sides need it and neither may
//! depend on the other: the service must not link the training stack (polars), and training must
//! not link the HTTP stack.
//!
//! Versions are immutable folders with a `manifest.json` that records the SHA-256 of every other
//! file; loading verifies them, so a tampered or half-copied version is refused, never served.
//! Writes are atomic and durable (see [`store`] and [`fsio`]) and the formats are plain JSON
//! ([`format`]): loading a model runs no code from the file. Models are stored as the model
//! crate's `FittedForecaster`s, so a new model needs no change here; a change to what a stored
//! model means bumps [`format::FORMAT_VERSION`]. A version may also hold a waste-risk
//! classifier ([`risk`]). Which version of a dataset is served is its production alias
//! ([`alias`]), whose every change is logged ([`history`]); a fit in progress leaves a marker
//! ([`training`]) so the service can say what is coming.
//!
//! The registry lives in a folder or in S3-compatible object storage ([`Registry::open`] with an
//! `s3://` URL): the same versions, checks and aliases, kept by conditional writes there (see
//! the `objects` module).
//!
//! Reading is bounded: every file has a byte cap ([`limits`]), and the registry follows no
//! symbolic link below its root.

pub mod alias;
pub mod error;
pub mod format;
pub mod fsio;
pub mod history;
pub mod limits;
mod objects;
pub mod risk;
mod shards;
pub mod store;
pub mod training;

pub use alias::{Alias, PRODUCTION};
pub use error::RegistryError;
pub use format::{DatasetInfo, FeatureSchema, ModelsFile, Selection, SeriesEntry, VersionManifest};
pub use history::HistoryEntry;
pub use limits::RegistryLimits;
pub use risk::{RISK_FILE, RISK_FORMAT, RiskFile};
pub use store::{Registry, is_valid_name, sha256_hex};
pub use training::{TrainingMarker, TrainingState};
