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
    #[error("unknown model {0:?}; expected one of {names}", names = crate::models::ModelId::names())]
    UnknownModel(String),
    /// Too few observations for the model.
    #[error("the series has {got} observations; the model needs at least {needed}")]
    TooShort {
        /// Observations needed.
        needed: usize,
        /// Observations given.
        got: usize,
    },
    /// A negative observation where the model counts things.
    #[error("observation {index} is negative; the model counts demand, which is never below 0")]
    Negative {
        /// Its position.
        index: usize,
    },
    /// An exogenous column the model does not have.
    #[error("unknown column {column:?}; expected one of {}", expected.join(", "))]
    UnknownColumn {
        /// The column given.
        column: String,
        /// The columns the model has.
        expected: Vec<String>,
    },
    /// An exogenous column the model reads but was not given.
    #[error("column {column:?} is missing: the model reads it")]
    MissingColumn {
        /// The column's name.
        column: String,
    },
    /// A time point outside what the calendar can represent.
    #[error("{what} is outside the representable time range")]
    OutOfTimeRange {
        /// Which time point.
        what: &'static str,
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
    /// Two parts that must agree in size do not.
    #[error("{what}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// What was counted.
        what: &'static str,
        /// The size required.
        expected: usize,
        /// The size given.
        got: usize,
    },
    /// A series the model or panel does not have.
    #[error("unknown series {id:?}")]
    UnknownSeries {
        /// The series id.
        id: String,
    },
    /// A series index past the end of a fitted forecaster's series.
    #[error("no series at index {index}: the forecaster has {len}")]
    NoSeriesAt {
        /// The index asked for.
        index: usize,
        /// How many series there are.
        len: usize,
    },
    /// What went wrong with one series of a panel.
    #[error("series {id:?}: {source}")]
    InSeries {
        /// The series id.
        id: String,
        /// What went wrong.
        source: Box<ModelError>,
    },
    /// A parameter outside its valid range.
    #[error("parameter {name} = {value} is not valid: expected {expected}")]
    BadParameter {
        /// The parameter's name.
        name: &'static str,
        /// Its value, as given.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A model asked to do what its family does not: fit one series at a time when it is learned
    /// across a panel, or be learned when it is per series.
    #[error("{model} is not {expected}")]
    WrongFamily {
        /// The model.
        model: crate::models::ModelId,
        /// What it was asked to be.
        expected: &'static str,
    },
    /// A model that needs strictly positive values was given others.
    #[error("{model} needs strictly positive values")]
    NotPositive {
        /// The model.
        model: &'static str,
    },
    /// A fit whose numbers did not stay finite, or that found no model to choose.
    #[error("the {model} fit failed: {reason}")]
    Diverged {
        /// The model or step.
        model: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A stored model (loaded from a file) whose parts do not fit together.
    #[error("the stored {what} is not valid: {reason}")]
    Corrupt {
        /// What was loaded.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Something structurally wrong with an input: a feature specification, a training set.
    #[error("{what} is not valid: {reason}")]
    Invalid {
        /// What was given.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A series indexed by step number where a calendar is needed.
    #[error("integer-indexed series have no calendar to {purpose}")]
    NoCalendar {
        /// What the calendar was needed for.
        purpose: &'static str,
    },
    /// A numerical step (neural training, weight encoding) failed: not the input's fault.
    #[error("{what} failed: {reason}")]
    Backend {
        /// What was being done.
        what: &'static str,
        /// The backend's message.
        reason: String,
    },
}
