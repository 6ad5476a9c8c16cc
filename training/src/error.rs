//! The training crate's error type.

use std::path::PathBuf;

use thiserror::Error;

use crate::problem::Report;

/// Everything that can go wrong in training. Each message names the file, series or value.
#[derive(Debug, Error)]
pub enum Error {
    /// The dataset is invalid; the report lists every problem.
    #[error("{0}")]
    Invalid(Report),
    /// A backtest could not run (e.g. a series too short for its windows).
    #[error("backtest: {message}")]
    Backtest {
        /// What went wrong, naming the series and cutoff.
        message: String,
    },
    /// The waste-risk backtest or classifier could not be built.
    #[error("risk: {message}")]
    Risk {
        /// What went wrong.
        message: String,
    },
    /// A model's parameters are not valid for the dataset (the error names the parameter).
    #[error(transparent)]
    Model(#[from] civicast_model::ModelError),
    /// A model could not be fitted or could not forecast; `context` says which model, where.
    #[error("{context}: {source}")]
    InModel {
        /// Which model, at which cutoff or series.
        context: String,
        /// What went wrong.
        source: civicast_model::ModelError,
    },
    /// The stages of a sharded fit are missing or do not belong together.
    #[error("sharded fit: {message}")]
    Shard {
        /// What is wrong, naming the file and what to run.
        message: String,
    },
    /// The model registry refused or failed an operation.
    #[error(transparent)]
    Registry(#[from] civicast_registry::RegistryError),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl From<Report> for Error {
    fn from(report: Report) -> Self {
        Error::Invalid(report)
    }
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
