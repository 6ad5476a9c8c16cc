//! Calibration fits kept for later fits on the same data.
//!
//! The calibration fits of a global model sit on a grid fixed in time
//! ([`fold_cutoffs`](super::calibrate::fold_cutoffs)), so fits at nearby cutoffs — the windows of
//! a backtest, or a service refitting as observations arrive — ask for the same fit of the same
//! rows again and again. A member's fit is a pure function of its training rows, its parameters
//! and the seed, so a fit made once can stand for every later one: [`FitMemo`] keeps them under a
//! digest of everything the rows are built from, and a fit with a memo is the fit without it,
//! value for value.
//!
//! The digest is SHA-256 (the `sha2` crate, already the workspace's digest for artifacts) over
//! the parameters, the featurizer, and each series' target up to the fold's cutoff and its whole
//! exogenous columns (a future-known column may be read past the cutoff). A collision would need
//! two different training sets with one SHA-256 digest.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use super::{Bounds, FittedLearner, GlobalParams};
use crate::features::{Featurizer, SeriesScale};
use crate::panel::Series;

/// How many calibration fits a memo keeps: a backtest's windows need a handful, and each fit
/// holds its members (a few megabytes for a boosted model of 300 trees).
const CAPACITY: usize = 32;

/// One calibration fit: the members fitted on a fold's rows, and what those rows say about the
/// series.
#[derive(Debug)]
pub(super) struct FoldFit {
    pub members: Vec<FittedLearner>,
    pub bounds: Bounds,
    pub scales: Vec<SeriesScale>,
}

/// Calibration fits kept for later fits (see the module documentation). Cloning shares the
/// memo; it is safe to use from many threads.
#[derive(Clone, Debug, Default)]
pub struct FitMemo {
    inner: Arc<Mutex<Fits>>,
}

#[derive(Debug, Default)]
struct Fits {
    by_key: HashMap<[u8; 32], Arc<FoldFit>>,
    /// Keys in the order they came in, oldest first, for eviction.
    order: VecDeque<[u8; 32]>,
}

impl FitMemo {
    /// An empty memo.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many fits it holds.
    pub fn len(&self) -> usize {
        self.lock().by_key.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Fits> {
        // The map is consistent after every statement, so a panic elsewhere leaves it usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn get(&self, key: &[u8; 32]) -> Option<Arc<FoldFit>> {
        self.lock().by_key.get(key).cloned()
    }

    pub(super) fn insert(&self, key: [u8; 32], fit: Arc<FoldFit>) {
        let mut fits = self.lock();
        if fits.by_key.insert(key, fit).is_none() {
            fits.order.push_back(key);
        }
        while fits.order.len() > CAPACITY {
            if let Some(old) = fits.order.pop_front() {
                fits.by_key.remove(&old);
            }
        }
    }
}

/// The digest a fold's fit is kept under; `None` (no memo) if a value cannot be serialised.
pub(super) fn fold_key(
    params: &GlobalParams,
    featurizer: &Featurizer,
    series: &[Series],
    fold: &[usize],
) -> Option<[u8; 32]> {
    let mut hash = Sha256::new();
    let mut add = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    add(&serde_json::to_vec(&params.members).ok()?);
    add(&params.seed.to_le_bytes());
    add(&serde_json::to_vec(featurizer).ok()?);
    let values =
        |v: &[f64]| -> Vec<u8> { v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect() };
    for (s, &cut) in series.iter().zip(fold) {
        add(s.id.as_bytes());
        add(&serde_json::to_vec(&s.start).ok()?);
        add(&values(&s.target[..cut.min(s.len())]));
        for column in &s.exogenous {
            add(&values(column));
        }
    }
    Some(hash.finalize().into())
}
