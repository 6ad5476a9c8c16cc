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
//! two different training sets with one SHA-256 digest. The statistical members' fits on each
//! series' part before a fold are kept the same way, under the model and the values fitted.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use super::{Bounds, FittedLearner, GlobalParams};
use crate::features::{Featurizer, SeriesScale};
use crate::models::FittedModel;
use crate::panel::Series;

/// How many calibration fits a memo keeps: a backtest's windows need a handful, and each fit
/// holds its members (a few megabytes for a boosted model of 300 trees).
const CAPACITY: usize = 32;

/// How many statistical members' calibration fits (one series, one model, one fold) it keeps:
/// a few per series and model of a panel of hundreds of series.
const STATISTICAL_CAPACITY: usize = 16_384;

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
    learned: Kept<Arc<FoldFit>>,
    /// A statistical member on one series' training part; `None` where it could not be fitted.
    statistical: Kept<Option<FittedModel>>,
}

/// Values by key, the oldest dropped beyond a capacity.
#[derive(Debug)]
struct Kept<T> {
    by_key: HashMap<[u8; 32], T>,
    /// Keys in the order they came in, oldest first.
    order: VecDeque<[u8; 32]>,
}

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Kept {
            by_key: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<T: Clone> Kept<T> {
    fn get(&self, key: &[u8; 32]) -> Option<T> {
        self.by_key.get(key).cloned()
    }

    fn insert(&mut self, key: [u8; 32], value: T, capacity: usize) {
        if self.by_key.insert(key, value).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > capacity {
            if let Some(old) = self.order.pop_front() {
                self.by_key.remove(&old);
            }
        }
    }
}

impl FitMemo {
    /// An empty memo.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many learned calibration fits (all members of one fold) it holds.
    pub fn len(&self) -> usize {
        self.lock().learned.by_key.len()
    }

    /// How many statistical calibration fits (one model on one series' fold) it holds.
    pub fn statistical_len(&self) -> usize {
        self.lock().statistical.by_key.len()
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
        self.lock().learned.get(key)
    }

    pub(super) fn insert(&self, key: [u8; 32], fit: Arc<FoldFit>) {
        self.lock().learned.insert(key, fit, CAPACITY);
    }

    pub(super) fn get_statistical(&self, key: &[u8; 32]) -> Option<Option<FittedModel>> {
        self.lock().statistical.get(key)
    }

    pub(super) fn insert_statistical(&self, key: [u8; 32], fit: Option<FittedModel>) {
        self.lock()
            .statistical
            .insert(key, fit, STATISTICAL_CAPACITY);
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

/// The digest a statistical member's fit on `training` (the part it is fitted on) is kept
/// under, with `context` the model and everything else its fit reads.
pub(super) fn statistical_key(
    context: &impl serde::Serialize,
    training: &[f64],
) -> Option<[u8; 32]> {
    let mut hash = Sha256::new();
    let context = serde_json::to_vec(context).ok()?;
    hash.update((context.len() as u64).to_le_bytes());
    hash.update(&context);
    let values: Vec<u8> = training
        .iter()
        .flat_map(|x| x.to_bits().to_le_bytes())
        .collect();
    hash.update((training.len() as u64).to_le_bytes());
    hash.update(&values);
    Some(hash.finalize().into())
}
