//! The model crate's error type.

use thiserror::Error;

/// Everything that can go wrong in the model crate. Messages name the offending value.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    /// A frequency string that is not one of [`crate::Frequency::ACCEPTED_FORMS`].
    #[error(
        "frequency {value:?} is not valid: {reason}; expected {}",
        crate::Frequency::ACCEPTED_FORMS
    )]
    BadFrequency {
        /// The text given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A panel needs at least one series.
    #[error("the panel has no series")]
    EmptyPanel,
    /// A series breaks a panel invariant.
    #[error("series {id:?} is invalid: {reason}")]
    InvalidSeries {
        /// The series id.
        id: String,
        /// Which invariant it breaks.
        reason: String,
    },
    /// A probability outside (0, 1).
    #[error("probability {0} is not in the open interval (0, 1)")]
    BadProbability(f64),
    /// A model id that is not one of ours.
    #[error(
        "unknown model {0:?}; expected one of snaive, ets, mstl, theta, linear, gbm, neural, auto"
    )]
    UnknownModel(String),
    /// Too few observations for the model.
    #[error("the series has {got} observations; the model needs at least {needed}")]
    TooShort {
        /// Observations needed.
        needed: usize,
        /// Observations given.
        got: usize,
    },
    /// A non-finite observation.
    #[error("observation {0} is not finite")]
    NonFinite(usize),
    /// A budget line with a missing, negative or non-finite value.
    #[error("{detail}")]
    BadBudgetLine {
        /// The offending field (`planned`, `unit_cost`, `tolerance`, `waste_cost`, `shortage_cost`).
        field: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The model cannot be fitted to this series (e.g. a constant series for a multiplicative
    /// model), or a feature it needs is missing.
    #[error("{0}")]
    Unsupported(String),
}
