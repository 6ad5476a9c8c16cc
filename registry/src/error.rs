//! The registry's error type.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong with a registry. Messages name the file or version.
#[derive(Debug, Error)]
pub enum RegistryError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not the JSON it should be.
    #[error("{}: not a valid registry file: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A version id or dataset name that could not name a registry folder.
    #[error("{0:?} is not a valid name: use letters, digits, '.', '_' and '-'")]
    BadName(String),
    /// No such version.
    #[error("version {0:?} does not exist in the registry")]
    UnknownVersion(String),
    /// No production version for a dataset.
    #[error("dataset {0:?} has no production version")]
    NoProduction(String),
    /// Rollback without an earlier version.
    #[error("dataset {0:?} has no earlier production version to roll back to")]
    NothingToRollBack(String),
    /// A version whose files do not match their checksums.
    #[error("version {version} failed verification:\n  - {}", problems.join("\n  - "))]
    Tampered {
        /// The version.
        version: String,
        /// What does not match.
        problems: Vec<String>,
    },
}

impl RegistryError {
    /// An I/O error on `path`, for `map_err`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> RegistryError {
        let path = path.into();
        move |source| RegistryError::Io { path, source }
    }
}
