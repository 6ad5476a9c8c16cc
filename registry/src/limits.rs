//! How many bytes the registry reads from each of its files.
//!
//! Every file is read whole into memory and parsed, so without a cap a registry file that a bug, a
//! full disk or a hostile writer made huge (or a file that keeps growing) would take the reader's
//! memory with it. Each kind of file has its own cap, because their sizes differ by orders of
//! magnitude: an alias is a hundred bytes, a learned `models.json` hundreds of megabytes. A file
//! over its cap is refused with [`crate::RegistryError::TooLarge`], naming the file and the cap;
//! [`crate::Registry::publish`] refuses to write one, so a version it publishes can always be read
//! back under the same limits.

/// A learned `models.json` holds the global model's weights (gradient-boosted trees, a neural
/// net), every series' calibration errors and its recent history, as JSON numbers: estimated at a
/// few hundred megabytes for the bundled hourly and half-hourly datasets. Not measured yet (a
/// `civicast-train fit --models auto` of the half-hourly dataset did not finish within 25 minutes
/// on a shared 2-core build machine); `ls -l <registry>/versions/*/models.json` after a real fit
/// is the check. 2 GiB leaves room for a dataset several times that size while still stopping a
/// runaway file before it takes the machine.
pub const DEFAULT_MODELS_BYTES: u64 = 2 << 30;

/// A manifest holds one entry per series with the backtest scores of every candidate, roughly a
/// kilobyte per series (an estimate from its fields), so 16 MiB allows for over ten thousand.
pub const DEFAULT_MANIFEST_BYTES: u64 = 16 << 20;

/// `risk.json` holds a logistic classifier (a handful of coefficients) and its evaluation report
/// (scores and the planning rule): kilobytes by its fields, so 16 MiB, as for the manifest, only
/// stops a file that is not what `civicast-train risk` writes.
pub const DEFAULT_RISK_BYTES: u64 = 16 << 20;

/// An alias file is one version id and a time, about a hundred bytes; the cap only has to stop
/// something that is not an alias file at all.
pub const DEFAULT_ALIAS_BYTES: u64 = 16 << 20;

/// `history.jsonl` grows by one line of about 150 bytes per alias change, so 256 MiB is well over
/// a million publications, promotions and rollbacks.
pub const DEFAULT_HISTORY_BYTES: u64 = 256 << 20;

/// The most bytes the registry reads from each kind of file. [`Default`] is the `DEFAULT_*`
/// constants of this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegistryLimits {
    /// A version's `manifest.json`; also any other file a manifest lists besides `models.json`
    /// and `risk.json` (none in this release's format).
    pub manifest_bytes: u64,
    /// A version's `models.json`.
    pub models_bytes: u64,
    /// A version's `risk.json`.
    pub risk_bytes: u64,
    /// An alias file, such as `aliases/<dataset>/production.json`.
    pub alias_bytes: u64,
    /// The alias history, `history.jsonl`.
    pub history_bytes: u64,
}

impl Default for RegistryLimits {
    fn default() -> Self {
        RegistryLimits {
            manifest_bytes: DEFAULT_MANIFEST_BYTES,
            models_bytes: DEFAULT_MODELS_BYTES,
            risk_bytes: DEFAULT_RISK_BYTES,
            alias_bytes: DEFAULT_ALIAS_BYTES,
            history_bytes: DEFAULT_HISTORY_BYTES,
        }
    }
}
