//! The models being served: each dataset's production version, verified and warmed.
//!
//! A [`Catalog`] is immutable; a reload builds a new one and swaps it in atomically (`ArcSwap`),
//! so a request sees one consistent set of versions from start to end and never waits for a
//! reload. A dataset whose new version fails to load (bad checksum, unreadable, a model that
//! cannot forecast) keeps its old version, and the failure is reported in health and metrics.
//!
//! The registry is the truth about what is served: a version whose manifest names another
//! dataset than the alias that points at it is refused, and a dataset whose production alias was
//! removed stops being served at the next reload (a replica restarted afterwards would not serve
//! it, and replicas must agree). A registry that cannot be listed at all (a lost mount) changes
//! nothing: that is a failure, not a removal.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::body::Bytes;
use civicast_model::learned::published::{FutureInputError, FutureValues};
use civicast_model::rollup::Period;
use civicast_model::{
    FittedForecaster, Forecast, Frequency, ModelError, SamplePaths, SeriesState, Step, TimePoint,
};
use civicast_registry::{ModelsFile, Registry, RiskFile, VersionManifest};
use civicast_store::accuracy::LiveScorer;

/// One dataset's served version.
#[derive(Debug)]
pub struct LoadedVersion {
    /// Its manifest.
    pub manifest: VersionManifest,
    /// Its frequency, parsed once.
    pub frequency: Frequency,
    /// The version's forecasters, by model id, each series moved on to its latest stored
    /// observation ([`Self::update_series`]); the fitted parameters never change.
    forecasters: RwLock<BTreeMap<String, FittedForecaster>>,
    /// Which forecaster serves each series (by position in `manifest.series`) and the series'
    /// index in it.
    served: Vec<(String, usize)>,
    /// Each series' moving parts as fitted, by position: every update starts from them, so a
    /// revised or late value is taken in as if it had come on time.
    as_fitted: Vec<SeriesState>,
    /// Recent observations of each series as fitted, by series id.
    history: BTreeMap<String, Vec<f64>>,
    /// Position of each series in `manifest.series`.
    pub index: HashMap<String, usize>,
    /// Time of each series' last observation in the fitted data.
    pub fitted_ends: Vec<TimePoint>,
    /// What each series took in since, by position.
    live: RwLock<Vec<LiveSeries>>,
    /// The store's change number the live state reflects.
    applied: AtomicI64,
    /// Per series, how many times its live state changed (see [`AnswerKey::generation`]).
    generations: Vec<std::sync::atomic::AtomicU64>,
    /// Per series, its live accuracy's running scores (kept apart from [`LiveSeries`], which
    /// readers copy).
    scorers: Mutex<Vec<LiveScorer>>,
    /// The version's waste-risk classifier (`risk.json`), when it has one this code can apply.
    pub risk: Option<RiskFile>,
    /// Answers already rendered, by key.
    answers: Mutex<AnswerCache>,
    /// Sample paths already drawn, by key.
    paths: Mutex<PathCache>,
}

/// What a series took in after its version was fitted.
#[derive(Clone, Debug, Default)]
pub struct LiveSeries {
    /// Its last absorbed step (`None`: none since the fit).
    pub end: Option<TimePoint>,
    /// Targets absorbed since the fit, oldest first (filled gaps included).
    pub absorbed: Vec<f64>,
    /// What the answer should say about it (gaps filled, inputs filled, steps left out).
    pub notes: Vec<String>,
    /// The origin of the last forecast issued to the store.
    pub issued: Option<TimePoint>,
    /// Live accuracy as last scored.
    pub accuracy: Option<Arc<civicast_store::accuracy::LiveAccuracy>>,
    /// Future-known values sent through `POST /v1/future` for the steps after its end: per
    /// column, the values of steps 1, 2, ... up to the first step without one.
    pub future: FutureValues,
}

/// A forecast and the notes that go with it.
#[derive(Clone, Debug)]
pub struct ServedForecast {
    /// The forecast.
    pub forecast: Forecast,
    /// What the caller should know: fallbacks, inputs ignored or taken from the climatology.
    pub notes: Vec<String>,
}

/// Everything that decides one series' answer within a version; the rest of the answer (ids,
/// version, model, unit, times) comes from the version itself. A version is immutable and roll-ups
/// draw their sample paths from a seed fixed per series, so the answer is a pure function of this
/// key and caching it is exact.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AnswerKey {
    /// Position of the series in the manifest.
    pub position: usize,
    /// Steps ahead.
    pub horizon: usize,
    /// Bit patterns of the probabilities, sorted (exact, and hashable unlike `f64`).
    pub probabilities: Vec<u64>,
    /// The roll-up asked for.
    pub rollup: Option<Period>,
    /// Whether the request gave exogenous values (the answer then carries a note).
    pub exogenous: bool,
    /// The series' generation when the request began ([`LoadedVersion::generation`]): data
    /// arriving moves it, so an answer rendered from older data is never found by a later
    /// request, even when its render finished after the data arrived.
    pub generation: u64,
}

/// Rendered answers kept per version, and their size.
#[derive(Debug, Default)]
struct AnswerCache {
    entries: HashMap<AnswerKey, Bytes>,
    bytes: usize,
}

/// Sample paths kept per version, keyed by (position, generation, horizon, paths, seed), and
/// their size.
#[derive(Debug, Default)]
struct PathCache {
    entries: HashMap<(usize, u64, usize, usize, u64), Arc<SamplePaths>>,
    values: usize,
}

/// Values (f64) of sample paths kept per version before that cache starts over: 64 MB, some
/// five hundred series-horizons of a thousand 14-step paths.
const PATH_CACHE_VALUES: usize = 8 << 20;

/// Bytes of rendered answers kept per version before the cache starts over. A typical answer
/// (horizon 14, four quantiles) is about 2.5 KB, so this holds some ten thousand of them: every
/// series of a dataset at the horizons and quantiles callers use. The bound keeps memory flat under
/// requests with ever new horizons or probabilities; an answer larger than it is not cached.
const ANSWER_CACHE_BYTES: usize = 32 << 20;

impl LoadedVersion {
    /// The dataset's name.
    pub fn dataset(&self) -> &str {
        &self.manifest.dataset.name
    }

    /// The forecast of the series at `position` (computed every time; see [`Self::answer`]),
    /// with learned models reading the climatology for every future input.
    pub fn forecast(
        &self,
        position: usize,
        horizon: usize,
        probabilities: &[f64],
    ) -> Result<Forecast, ModelError> {
        self.forecast_with(position, horizon, probabilities, None)
            .map(|f| f.forecast)
    }

    /// The forecast of the series at `position`, with learned models reading `given` future
    /// exogenous values (checked with [`Self::check_future`]) and the climatology for the rest.
    pub fn forecast_with(
        &self,
        position: usize,
        horizon: usize,
        probabilities: &[f64],
        given: Option<&FutureValues>,
    ) -> Result<ServedForecast, ModelError> {
        let mut notes = Vec::new();
        if let Some(fallback) = &self.manifest.series[position].fallback {
            notes.push(fallback.clone());
        }
        notes.extend(self.live_notes(position));
        let merged = self.with_stored_future(position, horizon, given, &mut notes);
        let given = merged.as_ref().or(given);
        let made = self.with_served(position, |forecaster, index| {
            forecaster.forecast(index, horizon, probabilities, given)
        })??;
        notes.extend(made.notes);
        Ok(ServedForecast {
            forecast: made.forecast,
            notes,
        })
    }

    /// Whether the series at `position` reads future exogenous values (a learned model does).
    pub fn reads_future(&self, position: usize) -> bool {
        self.with_served(position, |forecaster, _| forecaster.reads_future())
            .unwrap_or(false)
    }

    /// Checks a caller's future exogenous values for the series at `position`. A model that
    /// reads none ignores them (and its answer says so).
    pub fn check_future(
        &self,
        position: usize,
        given: &FutureValues,
        horizon: usize,
    ) -> Result<(), FutureInputError> {
        self.with_served(position, |forecaster, _| {
            forecaster.check_future(given, horizon)
        })
        .unwrap_or(Ok(()))
    }

    /// `n_paths` joint sample paths of `horizon` steps for the series at `position`, drawn
    /// reproducibly from `seed`: what roll-ups and budget risk sum over periods.
    pub fn sample_paths(
        &self,
        position: usize,
        horizon: usize,
        n_paths: usize,
        seed: u64,
    ) -> Result<SamplePaths, ModelError> {
        self.sample_paths_with(position, horizon, n_paths, seed, None)
    }

    /// [`Self::sample_paths`], kept: a version is immutable and paths are a pure function of
    /// the key, so a second request for the same series, horizon, count and seed (budget lines
    /// a planner assesses again, the same series in many lines) reuses the draw. Learned models
    /// recompute their recursion for every draw, which makes this worth its memory.
    pub fn cached_sample_paths(
        &self,
        position: usize,
        horizon: usize,
        n_paths: usize,
        seed: u64,
    ) -> Result<Arc<SamplePaths>, ModelError> {
        let key = (position, self.generation(position), horizon, n_paths, seed);
        if let Some(hit) = self
            .paths
            .lock()
            .ok()
            .and_then(|c| c.entries.get(&key).cloned())
        {
            return Ok(hit);
        }
        // Drawn outside the lock, like answers (see `answer`).
        let drawn = Arc::new(self.sample_paths(position, horizon, n_paths, seed)?);
        let size = n_paths.saturating_mul(horizon);
        if size <= PATH_CACHE_VALUES
            && let Ok(mut cache) = self.paths.lock()
        {
            if cache.values + size > PATH_CACHE_VALUES {
                cache.entries.clear();
                cache.values = 0;
            }
            if cache.entries.insert(key, drawn.clone()).is_none() {
                cache.values += size;
            }
        }
        Ok(drawn)
    }

    /// [`Self::sample_paths`] with a caller's future exogenous values.
    pub fn sample_paths_with(
        &self,
        position: usize,
        horizon: usize,
        n_paths: usize,
        seed: u64,
        given: Option<&FutureValues>,
    ) -> Result<SamplePaths, ModelError> {
        let merged = self.with_stored_future(position, horizon, given, &mut Vec::new());
        let given = merged.as_ref().or(given);
        self.with_served(position, |forecaster, index| {
            forecaster.sample_paths(index, horizon, n_paths, seed, given)
        })?
    }

    /// The future values a forecast of `horizon` steps reads: the caller's, and for the columns
    /// it did not give, those sent through `POST /v1/future` (a note says which); `None` when
    /// there are no stored ones to add (use `given` as it is) or the model reads none.
    fn with_stored_future(
        &self,
        position: usize,
        horizon: usize,
        given: Option<&FutureValues>,
        notes: &mut Vec<String>,
    ) -> Option<FutureValues> {
        let stored = {
            let live = self.live.read().unwrap_or_else(|e| e.into_inner());
            live.get(position)?.future.clone()
        };
        if stored.is_empty() || !self.reads_future(position) {
            return None;
        }
        let mut merged = given.cloned().unwrap_or_default();
        let mut used = Vec::new();
        for (column, mut values) in stored {
            if merged.contains_key(&column) {
                continue;
            }
            values.truncate(horizon);
            let one = FutureValues::from([(column.clone(), values.clone())]);
            // A column the served model does not read (another version's) is left out.
            if self.check_future(position, &one, horizon).is_ok() && !values.is_empty() {
                used.push(format!("{column} (steps 1-{})", values.len()));
                merged.insert(column, values);
            }
        }
        if used.is_empty() {
            return None;
        }
        notes.push(format!(
            "future {} from the values sent to POST /v1/future (the latest issue of each)",
            used.join(", ")
        ));
        Some(merged)
    }

    /// Records the future-known values stored for the steps after the series' end (see
    /// [`LiveSeries::future`]) and drops its cached answers.
    pub fn set_future(&self, position: usize, future: FutureValues) {
        {
            let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
            if let Some(slot) = live.get_mut(position) {
                slot.future = future;
            }
        }
        self.forget(position);
    }

    /// `f` of the forecaster serving the series at `position` and its index there.
    fn with_served<R>(
        &self,
        position: usize,
        f: impl FnOnce(&FittedForecaster, usize) -> R,
    ) -> Result<R, ModelError> {
        let (model, index) = self.served.get(position).ok_or(ModelError::NoSeriesAt {
            index: position,
            len: self.served.len(),
        })?;
        let forecasters = self.forecasters.read().unwrap_or_else(|e| e.into_inner());
        let forecaster = forecasters
            .get(model)
            .ok_or_else(|| ModelError::UnknownModel(model.clone()))?;
        Ok(f(forecaster, *index))
    }

    /// Time of the last observation the series at `position` is forecast from.
    pub fn end(&self, position: usize) -> TimePoint {
        let live = self.live.read().unwrap_or_else(|e| e.into_inner());
        live.get(position)
            .and_then(|l| l.end)
            .unwrap_or(self.fitted_ends[position])
    }

    /// The notes the live data give the series at `position`.
    pub fn live_notes(&self, position: usize) -> Vec<String> {
        let live = self.live.read().unwrap_or_else(|e| e.into_inner());
        live.get(position)
            .map(|l| l.notes.clone())
            .unwrap_or_default()
    }

    /// The recent observations of series `id` (as fitted, then as taken in since) and the time
    /// of the last; `None` for a series the version does not have.
    pub fn history(&self, id: &str) -> Option<(Vec<f64>, TimePoint)> {
        let position = *self.index.get(id)?;
        let fitted = self.history.get(id)?;
        let live = self.live.read().unwrap_or_else(|e| e.into_inner());
        let mut values = fitted.clone();
        if let Some(l) = live.get(position) {
            values.extend_from_slice(&l.absorbed);
            let surplus = values.len().saturating_sub(fitted.len());
            values.drain(..surplus);
        }
        drop(live);
        Some((values, self.end(position)))
    }

    /// The series at `position`'s live record: end, issued origin, accuracy.
    pub fn live(&self, position: usize) -> LiveSeries {
        let live = self.live.read().unwrap_or_else(|e| e.into_inner());
        live.get(position).cloned().unwrap_or_default()
    }

    /// Records the origin of the forecast last issued for the series at `position`.
    pub fn set_issued(&self, position: usize, origin: TimePoint) {
        let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = live.get_mut(position) {
            slot.issued = Some(origin);
        }
    }

    /// The series at `position`'s live scorer, taken out while it scores (see
    /// [`LoadedVersion::put_scorer`]); a scorer lost to a cancelled refresh starts over.
    pub fn take_scorer(&self, position: usize) -> LiveScorer {
        let mut scorers = self.scorers.lock().unwrap_or_else(|e| e.into_inner());
        scorers
            .get_mut(position)
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Puts back the series at `position`'s scorer.
    pub fn put_scorer(&self, position: usize, scorer: LiveScorer) {
        let mut scorers = self.scorers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = scorers.get_mut(position) {
            *slot = scorer;
        }
    }

    /// Records the series at `position`'s live accuracy.
    pub fn set_accuracy(&self, position: usize, accuracy: civicast_store::accuracy::LiveAccuracy) {
        let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = live.get_mut(position) {
            slot.accuracy = Some(Arc::new(accuracy));
        }
    }

    /// The backtest MASE of the model serving the series at `position` (what it promised).
    pub fn promised_mase(&self, position: usize) -> Option<f64> {
        let entry = self.manifest.series.get(position)?;
        entry
            .backtest
            .get(&entry.model)
            .map(|s| s.mase)
            .filter(|m| m.is_finite())
    }

    /// The store's change number the live state reflects.
    pub fn applied_change(&self) -> i64 {
        self.applied.load(Ordering::Acquire)
    }

    /// Records that the live state reflects the store up to change `change`.
    pub fn set_applied_change(&self, change: i64) {
        self.applied.fetch_max(change, Ordering::AcqRel);
    }

    /// Moves the series at `position` to `steps`, the steps after its fitted end (gaps as steps
    /// without a target), starting again from its state as fitted; `notes` go with its answers.
    /// Its cached answers and paths are dropped. On error it keeps its previous state.
    pub fn update_series(
        &self,
        position: usize,
        steps: &[Step],
        mut notes: Vec<String>,
    ) -> Result<civicast_model::Filled, ModelError> {
        let (model, index) = self.served.get(position).ok_or(ModelError::NoSeriesAt {
            index: position,
            len: self.served.len(),
        })?;
        let filled = {
            let mut forecasters = self.forecasters.write().unwrap_or_else(|e| e.into_inner());
            let forecaster = forecasters
                .get_mut(model)
                .ok_or_else(|| ModelError::UnknownModel(model.clone()))?;
            let now = forecaster.series_state(*index)?;
            forecaster.restore(*index, &self.as_fitted[position])?;
            match forecaster.absorb_steps(*index, steps) {
                Ok(filled) => filled,
                Err(e) => {
                    forecaster.restore(*index, &now)?;
                    return Err(e);
                }
            }
        };
        let end = (!steps.is_empty())
            .then(|| {
                self.frequency
                    .advance(self.fitted_ends[position], steps.len() as i64)
            })
            .flatten();
        // A gap shows as NaN (no observation) in the history, not as the forecast that filled it.
        let absorbed: Vec<f64> = steps.iter().map(|s| s.target.unwrap_or(f64::NAN)).collect();
        if !filled.targets.is_empty() {
            let times: Vec<String> = filled
                .targets
                .iter()
                .take(5)
                .filter_map(|&i| {
                    self.frequency
                        .advance(self.fitted_ends[position], i as i64 + 1)
                        .map(|t| self.frequency.format_time(t))
                })
                .collect();
            notes.push(format!(
                "{} step(s) had no observation ({}{}): each was filled with the model's one-step \
                 forecast, as a missing value is in the state-space models' filter",
                filled.targets.len(),
                times.join(", "),
                if filled.targets.len() > 5 {
                    ", ..."
                } else {
                    ""
                }
            ));
        }
        for (column, count) in &filled.exogenous {
            notes.push(format!(
                "{column} did not arrive for {count} observed step(s): taken from the \
                 climatology (the last value for an observed-only column)"
            ));
        }
        {
            let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
            if let Some(slot) = live.get_mut(position) {
                slot.end = end;
                slot.absorbed = absorbed;
                slot.notes = notes;
            }
        }
        self.forget(position);
        Ok(filled)
    }

    /// How many times the live state of the series at `position` changed.
    pub fn generation(&self, position: usize) -> u64 {
        self.generations
            .get(position)
            .map_or(0, |g| g.load(Ordering::Acquire))
    }

    /// Marks the series at `position` as changed (after its state changed) and drops its cached
    /// answers and sample paths, which later requests could no longer find anyway.
    fn forget(&self, position: usize) {
        if let Some(g) = self.generations.get(position) {
            g.fetch_add(1, Ordering::AcqRel);
        }
        if let Ok(mut cache) = self.answers.lock() {
            let cache = &mut *cache;
            cache.entries.retain(|key, bytes| {
                let keep = key.position != position;
                if !keep {
                    cache.bytes -= bytes.len();
                }
                keep
            });
        }
        if let Ok(mut cache) = self.paths.lock() {
            let cache = &mut *cache;
            cache.entries.retain(|key, _| {
                let keep = key.0 != position;
                if !keep {
                    cache.values -= key.2.saturating_mul(key.3);
                }
                keep
            });
        }
    }

    /// The rendered answer for `key`, if the cache has it.
    pub fn cached_answer(&self, key: &AnswerKey) -> Option<Bytes> {
        self.answers
            .lock()
            .ok()
            .and_then(|c| c.entries.get(key).cloned())
    }

    /// The rendered answer for `key`: from the cache, or made by `render` and kept. Caching the
    /// answer's bytes rather than the forecast is what makes a repeated request cheap: some
    /// models' quantiles come from simulation (Theta draws 2000 paths), and formatting the
    /// steps' times and numbers as JSON costs more than the rest of the request together.
    pub fn answer<E>(
        &self,
        key: &AnswerKey,
        render: impl FnOnce(&Self) -> Result<Vec<u8>, E>,
    ) -> Result<Bytes, E> {
        if let Some(hit) = self.cached_answer(key) {
            return Ok(hit);
        }
        // Rendered outside the lock: two requests missing the same key at once both render it,
        // which is cheaper than making every request wait behind a slow render.
        let answer = Bytes::from(render(self)?);
        if answer.len() <= ANSWER_CACHE_BYTES
            && let Ok(mut cache) = self.answers.lock()
        {
            if cache.bytes + answer.len() > ANSWER_CACHE_BYTES {
                cache.entries.clear();
                cache.bytes = 0;
            }
            cache.bytes += answer.len();
            if let Some(replaced) = cache.entries.insert(key.clone(), answer.clone()) {
                cache.bytes -= replaced.len();
            }
        }
        Ok(answer)
    }
}

/// All datasets' served versions.
#[derive(Debug, Default)]
pub struct Catalog {
    /// By dataset name.
    pub datasets: BTreeMap<String, Arc<LoadedVersion>>,
    /// Versions that failed to load, by dataset: alias polling does not retry them (an explicit
    /// reload does), so a broken version is reported once, not every poll.
    pub refused: BTreeMap<String, String>,
}

/// What happened during a load.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Datasets whose version changed, with the new version.
    pub changed: Vec<(String, String)>,
    /// Failures: `(dataset, message)`. The dataset keeps its previous version, if any.
    pub failures: Vec<(String, String)>,
    /// Datasets no longer served because their production alias was removed.
    pub removed: Vec<String>,
}

/// Loads, verifies and warms one version.
pub fn load_version(registry: &Registry, version: &str) -> Result<LoadedVersion, String> {
    let loaded = registry.load(version).map_err(|e| e.to_string())?;
    warm(registry, version, loaded)
}

/// Loads, verifies and warms `version` as a version of `dataset`: a version of another dataset is
/// refused before its models are read.
pub fn load_dataset_version(
    registry: &Registry,
    dataset: &str,
    version: &str,
) -> Result<LoadedVersion, String> {
    let loaded = registry
        .load_for(dataset, version)
        .map_err(|e| e.to_string())?;
    warm(registry, version, loaded)
}

fn warm(
    registry: &Registry,
    version: &str,
    (manifest, models): (VersionManifest, ModelsFile),
) -> Result<LoadedVersion, String> {
    let frequency: Frequency = manifest
        .dataset
        .frequency
        .parse()
        .map_err(|e| format!("version {version}: {e}"))?;
    let ModelsFile {
        forecasters,
        history,
        ..
    } = models;
    let mut fitted_ends = Vec::with_capacity(manifest.series.len());
    let mut index = HashMap::with_capacity(manifest.series.len());
    let mut served = Vec::with_capacity(manifest.series.len());
    let mut as_fitted = Vec::with_capacity(manifest.series.len());
    let indices: HashMap<&str, HashMap<&str, usize>> = forecasters
        .iter()
        .map(|(id, forecaster)| (id.as_str(), forecaster.series_indices()))
        .collect();
    for (i, s) in manifest.series.iter().enumerate() {
        let end = frequency.parse_time(&s.end).ok_or_else(|| {
            format!(
                "version {version}: series {:?} has a bad end time {:?}",
                s.id, s.end
            )
        })?;
        fitted_ends.push(end);
        index.insert(s.id.clone(), i);
        let at = indices
            .get(s.model.as_str())
            .and_then(|series| series.get(s.id.as_str()))
            .copied()
            .ok_or_else(|| {
                format!(
                    "version {version}: model {} has no series {:?}",
                    s.model, s.id
                )
            })?;
        // Warm-up: every model must forecast before the version is served.
        let forecaster = &forecasters[&s.model];
        forecaster
            .forecast(at, 1, &[0.5], None)
            .map_err(|e| format!("version {version}: series {:?} cannot forecast: {e}", s.id))?;
        as_fitted.push(
            forecaster
                .series_state(at)
                .map_err(|e| format!("version {version}: series {:?}: {e}", s.id))?,
        );
        served.push((s.model.clone(), at));
    }
    // Verified with the rest of the version by `load`; a classifier for other features (an older
    // or newer format) is left unused rather than refusing the whole version.
    let risk = registry
        .load_risk(version)
        .map_err(|e| e.to_string())?
        .filter(|r| r.classifier.is_compatible());
    let live = RwLock::new(vec![LiveSeries::default(); manifest.series.len()]);
    let manifest_len = manifest.series.len();
    Ok(LoadedVersion {
        manifest,
        frequency,
        forecasters: RwLock::new(forecasters),
        served,
        as_fitted,
        history,
        index,
        fitted_ends,
        live,
        applied: AtomicI64::new(0),
        generations: (0..manifest_len)
            .map(|_| std::sync::atomic::AtomicU64::new(0))
            .collect(),
        scorers: Mutex::new(vec![LiveScorer::default(); manifest_len]),
        risk,
        answers: Mutex::new(AnswerCache::default()),
        paths: Mutex::new(PathCache::default()),
    })
}

impl Catalog {
    /// The next catalog: every dataset's production version, reusing `current`'s loaded versions
    /// that have not changed and keeping them where the new one fails.
    pub fn reload(registry: &Registry, current: &Catalog) -> (Catalog, LoadReport) {
        let mut report = LoadReport::default();
        let mut datasets = current.datasets.clone();
        let mut refused = current.refused.clone();
        let names = match dataset_names(registry) {
            Ok(names) => names,
            Err(e) => {
                report.failures.push(("(registry)".into(), e));
                return (Catalog { datasets, refused }, report);
            }
        };
        let mut named = std::collections::BTreeSet::new();
        for name in names {
            let version = match registry.production(&name) {
                Ok(Some(version)) => version,
                Ok(None) => continue,
                Err(e) => {
                    named.insert(name.clone());
                    report.failures.push((name, e.to_string()));
                    continue;
                }
            };
            named.insert(name.clone());
            if datasets
                .get(&name)
                .is_some_and(|loaded| loaded.manifest.version == version)
            {
                continue;
            }
            let loaded = load_dataset_version(registry, &name, &version);
            match loaded {
                Ok(loaded) => {
                    refused.remove(&name);
                    report.changed.push((name.clone(), version));
                    datasets.insert(name, Arc::new(loaded));
                }
                Err(e) => {
                    refused.insert(name.clone(), version);
                    report.failures.push((name, e));
                }
            }
        }
        let gone: Vec<String> = datasets
            .keys()
            .filter(|d| !named.contains(*d))
            .cloned()
            .collect();
        for dataset in gone {
            datasets.remove(&dataset);
            refused.remove(&dataset);
            report.removed.push(dataset);
        }
        (Catalog { datasets, refused }, report)
    }

    /// Whether any dataset's production alias names a version that is neither served nor
    /// already refused.
    pub fn is_stale(&self, registry: &Registry) -> bool {
        let Ok(names) = dataset_names(registry) else {
            return false;
        };
        let removed = self.datasets.keys().any(|served| {
            matches!(registry.production(served), Ok(None)) || !names.contains(served)
        });
        removed
            || names.iter().any(|name| match registry.production(name) {
                Ok(Some(version)) => {
                    let served = self
                        .datasets
                        .get(name)
                        .is_some_and(|loaded| loaded.manifest.version == version);
                    !served && self.refused.get(name) != Some(&version)
                }
                _ => false,
            })
    }
}

fn dataset_names(registry: &Registry) -> Result<Vec<String>, String> {
    registry.datasets().map_err(|e| e.to_string())
}
