//! Future values of the exogenous columns a caller gives with a forecast request, and why they
//! can be refused.

use std::collections::BTreeMap;
use std::fmt;

/// Future values of exogenous columns given by a caller, by column name; step `j` of the
/// forecast is index `j`. Columns or steps not given come from the climatology.
pub type FutureValues = BTreeMap<String, Vec<f64>>;

/// Why given future values cannot be used.
#[derive(Clone, Debug, PartialEq)]
pub enum FutureInputError {
    /// The model has no future-known column of that name.
    UnknownColumn {
        /// The name given.
        column: String,
        /// The columns the model reads.
        expected: Vec<String>,
    },
    /// More values than forecast steps.
    TooLong {
        /// The column.
        column: String,
        /// Values given.
        given: usize,
        /// Steps forecast.
        horizon: usize,
    },
    /// A value that is not a finite number.
    NotFinite {
        /// The column.
        column: String,
        /// Its 0-based position.
        index: usize,
    },
}

impl FutureInputError {
    /// The column the error is about.
    pub fn column(&self) -> &str {
        match self {
            FutureInputError::UnknownColumn { column, .. }
            | FutureInputError::TooLong { column, .. }
            | FutureInputError::NotFinite { column, .. } => column,
        }
    }
}

impl fmt::Display for FutureInputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FutureInputError::UnknownColumn { column, expected } if expected.is_empty() => write!(
                f,
                "the model reads no future exogenous values, but {column:?} was given"
            ),
            FutureInputError::UnknownColumn { column, expected } => write!(
                f,
                "the model reads no future values of {column:?}; it reads {}",
                expected.join(", ")
            ),
            FutureInputError::TooLong { given, horizon, .. } => write!(
                f,
                "{given} values given for a forecast of {horizon} steps; give at most one per step"
            ),
            FutureInputError::NotFinite { index, .. } => {
                write!(f, "value {index} is not a finite number")
            }
        }
    }
}
