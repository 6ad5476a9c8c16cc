//! A version's optional waste-risk classifier: `risk.json`.
//!
//! `civicast-train risk --registry` backtests budget plans, fits a logistic classifier that
//! calibrates the forecast's waste probability, and stores it beside the models of a new version
//! with its evaluation. The file is optional, so versions without it (every version published
//! before it existed) load as before; when present it is listed in `manifest.files` with its
//! SHA-256 like every other file, so [`crate::Registry::load`] verifies it.
//!
//! It is a file of its own rather than a field of `models.json` so the models' format is left
//! alone, and so a service that does not use risk never parses it.

use civicast_model::risk::FlagSource;
use civicast_model::risk::classifier::RiskClassifier;
use serde::{Deserialize, Serialize};

/// The file name of a version's risk classifier.
pub const RISK_FILE: &str = "risk.json";

/// The content of `risk.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskFile {
    /// File format version (bump when a reader would misread it).
    pub format: u32,
    /// The classifier, fitted on every backtested period.
    pub classifier: RiskClassifier,
    /// Whether it beat the raw forecast probability on both Brier score and log loss on
    /// held-out periods: the service applies it only then.
    pub beats_raw: bool,
    /// The evaluation report as `civicast-train risk` wrote it (scores, split, planning rule).
    pub evaluation: serde_json::Value,
    /// Which waste probability the flags use, chosen on held-out periods against the base rate.
    /// Absent from files written before it existed: they use the classifier where `beats_raw`,
    /// else the raw probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag_source: Option<FlagSource>,
}

/// The version of the `risk.json` format.
pub const RISK_FORMAT: u32 = 1;
