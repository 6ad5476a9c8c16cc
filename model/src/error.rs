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
}
