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
    /// A file larger than the registry reads: see [`crate::RegistryLimits`].
    #[error(
        "{}: {size} bytes or more, over the registry's limit of {limit} bytes for this file \
         (RegistryLimits)",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit it is over, in bytes.
        limit: u64,
        /// Its size in bytes, or what was read of it before the limit stopped the read.
        size: u64,
    },
    /// A symbolic link where the registry expects a file or folder of its own.
    #[error("{}: is a symbolic link; the registry does not follow links", path.display())]
    SymbolicLink {
        /// The link.
        path: PathBuf,
    },
    /// Something other than a regular file (a folder, a FIFO, a device) where a file should be.
    #[error("{}: is not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// A version asked for as a version of one dataset whose manifest names another: an alias or a
    /// history entry that names the wrong dataset's version.
    #[error(
        "version {version} is a version of dataset {names:?}, not of dataset {dataset:?}; refused"
    )]
    WrongDataset {
        /// The dataset the version was asked for.
        dataset: String,
        /// The version.
        version: String,
        /// The dataset its manifest names.
        names: String,
    },
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
