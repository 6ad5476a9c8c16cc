//! # civicast-registry
//!
//! The model registry: where `civicast-train fit` publishes fitted models and where the inference
//! service finds them. It is its own small crate because both sides need it and neither may
//! depend on the other: the service must not link the training stack (polars), and training must
//! not link the HTTP stack.
//!
//! Versions are immutable folders with a `manifest.json` that records the SHA-256 of every other
//! file; loading verifies them, so a tampered or half-copied version is refused, never served.
//! Writes are atomic (see [`store`]) and the formats are plain JSON ([`format`]): loading a model
//! runs no code from the file. A version may also hold a waste-risk classifier ([`risk`]).

pub mod error;
pub mod format;
pub mod fsio;
pub mod risk;
pub mod store;

pub use error::RegistryError;
pub use format::{DatasetInfo, FeatureSchema, ModelsFile, Selection, SeriesEntry, VersionManifest};
pub use risk::{RISK_FILE, RISK_FORMAT, RiskFile};
pub use store::{Alias, HistoryEntry, PRODUCTION, Registry, is_valid_name, sha256_hex};
