//! Sharded fitting: one `fit` spread over processes or machines, in three steps that share
//! nothing but the registry.
//!
//! 1. `civicast-train fit --stage shared` fits, once per dataset, what learns across series: the
//!    learned models' member regressors for every backtest window and for production
//!    ([`civicast_model::Forecaster::fit_shared`]), and writes them to the registry's
//!    `shards/<dataset>/shared.json`.
//! 2. `civicast-train fit --shard I/N`, N times (any order, any machines), fits the series whose
//!    id hashes to shard `I` ([`shard_of`]): per-series models, the statistical members, the
//!    learned members' calibration forecasts from the shared regressors, each series'
//!    combination and intervals ([`civicast_model::Forecaster::fit_part`]). It writes
//!    `part-I-of-N.json`.
//! 3. `civicast-train registry assemble` checks that the shared stage and all N parts are there
//!    and were built from the same data (a fingerprint of the panel) and settings, joins them
//!    ([`civicast_model::Forecaster::assemble`]), backtests, selects and publishes one version
//!    exactly as an unsharded `fit` does, and removes the parts it used. The shared stage stays
//!    for another set of shards until the next `--stage shared` replaces it.
//!
//! Every stage does the same arithmetic on the same values as an unsharded fit, so the version
//! published is the same whatever N is (tested with N = 1, 2 and 4).

use std::collections::BTreeMap;

use civicast_model::{FittedForecaster, Forecaster, ModelError, ModelId, PartFit, SharedFit};
use civicast_registry::Registry;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::backtest::window_cutoffs;
use crate::dataset::Dataset;
use crate::error::Error;
use crate::fit::{FitOptions, FitOutcome, Fits, fit_with};

/// Layout version of the shard files.
const FORMAT: u32 = 1;
/// The shared stage's file.
const SHARED_FILE: &str = "shared.json";

/// Shard `index` of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// From 0.
    pub index: usize,
    /// At least 1.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let expected =
            || format!("{text:?} is not a shard: expected I/N with 0 <= I < N, e.g. 0/4");
        let (index, count) = text.split_once('/').ok_or_else(expected)?;
        let index: usize = index.trim().parse().map_err(|_| expected())?;
        let count: usize = count.trim().parse().map_err(|_| expected())?;
        if count == 0 || index >= count {
            return Err(expected());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    fn file(&self) -> String {
        format!("part-{}-of-{}.json", self.index, self.count)
    }
}

/// The shard of `count` that series `id` belongs to: the first eight bytes of its id's SHA-256,
/// modulo `count` — the same on every machine and in every release, unlike std's hasher.
pub fn shard_of(id: &str, count: usize) -> usize {
    let digest = Sha256::digest(id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % count.max(1) as u64) as usize
}

/// What every stage of one sharded fit must agree on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The dataset.
    pub dataset: String,
    /// SHA-256 of the panel the stages fit: ids, times, targets and exogenous values.
    pub data: String,
    /// The civicast release (stages of different releases may fit differently).
    pub civicast_version: String,
    /// The candidate models.
    pub candidates: Vec<String>,
    /// The selection metric.
    pub metric: String,
    /// The input-size cap of per-series models.
    pub input_size: Option<usize>,
}

impl Settings {
    fn of(dataset: &Dataset, options: &FitOptions) -> Settings {
        Settings {
            dataset: dataset.manifest.name.clone(),
            data: panel_fingerprint(dataset),
            civicast_version: env!("CARGO_PKG_VERSION").to_owned(),
            candidates: options.candidates.iter().map(ToString::to_string).collect(),
            metric: options.metric.to_string(),
            input_size: options.input_size,
        }
    }

    /// Where `self` (a stage's) and `other` (this run's) differ, in words.
    fn differences(&self, other: &Settings) -> Vec<String> {
        let mut out = Vec::new();
        let mut compare = |what: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{what}: {a} there, {b} here"));
            }
        };
        compare("dataset", self.dataset.clone(), other.dataset.clone());
        compare(
            "data (panel SHA-256)",
            self.data.clone(),
            other.data.clone(),
        );
        compare(
            "civicast version",
            self.civicast_version.clone(),
            other.civicast_version.clone(),
        );
        compare(
            "models",
            self.candidates.join(","),
            other.candidates.join(","),
        );
        compare("metric", self.metric.clone(), other.metric.clone());
        compare(
            "input size",
            format!("{:?}", self.input_size),
            format!("{:?}", other.input_size),
        );
        out
    }
}

/// SHA-256 over every series' id, start, targets and exogenous values (as bits): the data a fit
/// sees, whether it came from the data file or the observation store.
fn panel_fingerprint(dataset: &Dataset) -> String {
    let panel = &dataset.panel;
    let mut hash = Sha256::new();
    hash.update(panel.frequency().to_string().as_bytes());
    for series in panel.series() {
        hash.update((series.id.len() as u64).to_le_bytes());
        hash.update(series.id.as_bytes());
        hash.update(panel.frequency().format_time(series.start).as_bytes());
        hash.update((series.target.len() as u64).to_le_bytes());
        for v in &series.target {
            hash.update(v.to_bits().to_le_bytes());
        }
        for column in &series.exogenous {
            for v in column {
                hash.update(v.to_bits().to_le_bytes());
            }
        }
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// One model's stages: one per backtest window (for candidates) and production.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ModelStages<T> {
    model: ModelId,
    windows: Vec<T>,
    production: T,
}

#[derive(Debug, Serialize, Deserialize)]
struct SharedFile {
    format: u32,
    settings: Settings,
    models: Vec<ModelStages<SharedFit>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PartFile {
    format: u32,
    settings: Settings,
    /// SHA-256 of the shared file the part was fitted with.
    shared: String,
    index: usize,
    count: usize,
    /// The ids of its series.
    series: Vec<String>,
    models: Vec<ModelStages<PartFit>>,
}

/// The models a sharded fit prepares: the candidates, and seasonal naive, which production
/// falls back to for a series no candidate can forecast.
fn staged_models(options: &FitOptions) -> Vec<ModelId> {
    let mut models = options.candidates.clone();
    if !models.contains(&ModelId::Snaive) {
        models.push(ModelId::Snaive);
    }
    models
}

fn in_model(model: ModelId, what: &str) -> impl FnOnce(ModelError) -> Error + '_ {
    move |source| Error::InModel {
        context: format!("{what} of {model}"),
        source,
    }
}

/// Step 1: fits the shared stage of every model and window and writes it to the registry.
pub fn write_shared(
    dataset: &Dataset,
    options: &FitOptions,
    registry: &Registry,
) -> Result<(), Error> {
    let panel = &dataset.panel;
    let windows = window_cutoffs(dataset)?;
    let ends: Vec<usize> = panel.series().iter().map(|s| s.len()).collect();
    let mut models = Vec::new();
    for model in staged_models(options) {
        let forecaster = dataset.forecaster(model, options.input_size)?;
        let backtested = if options.candidates.contains(&model) {
            windows.as_slice()
        } else {
            &[]
        };
        let windows = backtested
            .par_iter()
            .map(|cutoffs| forecaster.fit_shared(panel, cutoffs))
            .collect::<Result<Vec<_>, _>>()
            .map_err(in_model(model, "the shared stage of a backtest window"))?;
        let production = forecaster
            .fit_shared(panel, &ends)
            .map_err(in_model(model, "the shared stage"))?;
        models.push(ModelStages {
            model,
            windows,
            production,
        });
    }
    let file = SharedFile {
        format: FORMAT,
        settings: Settings::of(dataset, options),
        models,
    };
    registry.put_shard_file(&dataset.manifest.name, SHARED_FILE, to_json(&file)?)?;
    Ok(())
}

/// Step 2: fits shard `shard`'s series with the shared stage in the registry and writes its part.
/// Returns how many series it fitted.
pub fn write_part(
    dataset: &Dataset,
    options: &FitOptions,
    registry: &Registry,
    shard: Shard,
) -> Result<usize, Error> {
    let panel = &dataset.panel;
    let name = &dataset.manifest.name;
    let (shared, shared_sha) = read_shared(registry, name)?;
    let here = Settings::of(dataset, options);
    let differences = shared.settings.differences(&here);
    if !differences.is_empty() {
        return Err(shard_error(format!(
            "the shared stage in {} was fitted differently from this shard ({}); run `fit \
             --stage shared` again with this shard's data and options",
            registry.root().display(),
            differences.join("; ")
        )));
    }
    let wanted: Vec<bool> = panel
        .series()
        .iter()
        .map(|s| shard_of(&s.id, shard.count) == shard.index)
        .collect();
    let windows = window_cutoffs(dataset)?;
    let ends: Vec<usize> = panel.series().iter().map(|s| s.len()).collect();
    let mut models = Vec::new();
    for stages in &shared.models {
        let model = stages.model;
        let forecaster = dataset.forecaster(model, options.input_size)?;
        if stages.windows.len() > windows.len() {
            return Err(shard_error(format!(
                "the shared stage of {model} has {} windows, the dataset {}",
                stages.windows.len(),
                windows.len()
            )));
        }
        let parts = stages
            .windows
            .par_iter()
            .zip(&windows)
            .map(|(shared, cutoffs)| forecaster.fit_part(panel, cutoffs, shared, &wanted))
            .collect::<Result<Vec<_>, _>>()
            .map_err(in_model(model, "a backtest window"))?;
        let production = forecaster
            .fit_part(panel, &ends, &stages.production, &wanted)
            .map_err(in_model(model, "the production fit"))?;
        models.push(ModelStages {
            model,
            windows: parts,
            production,
        });
    }
    let series: Vec<String> = panel
        .series()
        .iter()
        .zip(&wanted)
        .filter(|(_, w)| **w)
        .map(|(s, _)| s.id.clone())
        .collect();
    let fitted = series.len();
    let file = PartFile {
        format: FORMAT,
        settings: here,
        shared: shared_sha,
        index: shard.index,
        count: shard.count,
        series,
        models,
    };
    registry.put_shard_file(name, &shard.file(), to_json(&file)?)?;
    Ok(fitted)
}

/// Step 3: checks and joins the shared stage and every part, then backtests, selects and
/// publishes as `fit` does. The settings are the shared stage's; `promote` and `progress` come
/// from `options`.
pub fn assemble(
    dataset: &Dataset,
    promote: bool,
    progress: bool,
    registry: &Registry,
) -> Result<(FitOutcome, usize), Error> {
    let name = &dataset.manifest.name;
    let (shared, shared_sha) = read_shared(registry, name)?;
    let options = FitOptions {
        candidates: shared
            .settings
            .candidates
            .iter()
            .map(|m| m.parse::<ModelId>())
            .collect::<Result<_, _>>()
            .map_err(|e| shard_error(format!("the shared stage's models: {e}")))?,
        metric: shared
            .settings
            .metric
            .parse()
            .map_err(|e: String| shard_error(format!("the shared stage's metric: {e}")))?,
        input_size: shared.settings.input_size,
        promote,
        progress,
    };
    let here = Settings::of(dataset, &options);
    let differences = shared.settings.differences(&here);
    if !differences.is_empty() {
        return Err(shard_error(format!(
            "the shared stage does not match the data given here ({})",
            differences.join("; ")
        )));
    }
    let files: Vec<String> = registry
        .shard_files(name)?
        .into_iter()
        .filter(|f| f.starts_with("part-"))
        .collect();
    let count = part_count(&files, registry, name)?;
    let mut parts = Vec::with_capacity(count);
    for index in 0..count {
        let file = Shard { index, count }.file();
        let bytes = registry.read_shard_file(name, &file)?.ok_or_else(|| {
            shard_error(format!(
                "{file} is missing: run `fit --shard {index}/{count}`"
            ))
        })?;
        let part: PartFile = serde_json::from_slice(&bytes)
            .map_err(|e| shard_error(format!("{file} is not a part of a fit: {e}")))?;
        check_part(&part, &file, &shared.settings, &shared_sha, dataset)?;
        parts.push(part);
    }
    // Per model: each window's and production's shared stage with every part's piece.
    let mut staged: BTreeMap<ModelId, Staged> = BTreeMap::new();
    for stages in shared.models {
        let mut windows: Vec<(SharedFit, Vec<PartFit>)> = stages
            .windows
            .into_iter()
            .map(|s| (s, Vec::with_capacity(count)))
            .collect();
        let mut production = (stages.production, Vec::with_capacity(count));
        for part in &mut parts {
            let Some(pos) = part.models.iter().position(|m| m.model == stages.model) else {
                return Err(shard_error(format!(
                    "part {} of {count} has no fit of {}",
                    part.index, stages.model
                )));
            };
            let mine = part.models.swap_remove(pos);
            if mine.windows.len() != windows.len() {
                return Err(shard_error(format!(
                    "part {} of {count} has {} windows of {}, the shared stage {}",
                    part.index,
                    mine.windows.len(),
                    stages.model,
                    windows.len()
                )));
            }
            for (window, piece) in windows.iter_mut().zip(mine.windows) {
                window.1.push(piece);
            }
            production.1.push(mine.production);
        }
        staged.insert(
            stages.model,
            Staged {
                windows,
                production,
            },
        );
    }
    let assembly = Assembly { staged };
    let outcome = fit_with(dataset, &options, registry, &Fits::Assembled(&assembly))?;
    for index in 0..count {
        registry.remove_shard_file(name, &Shard { index, count }.file())?;
    }
    Ok((outcome, count))
}

/// The number of parts the part files name, all of which must agree.
fn part_count(files: &[String], registry: &Registry, dataset: &str) -> Result<usize, Error> {
    let mut counts: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for file in files {
        let count = file
            .strip_suffix(".json")
            .and_then(|f| f.rsplit_once("-of-"))
            .and_then(|(_, n)| n.parse::<usize>().ok())
            .ok_or_else(|| shard_error(format!("{file} is not named part-I-of-N.json")))?;
        counts.entry(count).or_default().push(file);
    }
    match counts.len() {
        0 => Err(shard_error(format!(
            "no parts of {dataset} in {}: run `fit --shard I/N` for every I first",
            registry.root().display()
        ))),
        1 => Ok(counts.into_keys().next().unwrap_or(1)),
        _ => Err(shard_error(format!(
            "parts of runs with different shard counts are in {}: {}; remove the stale ones",
            registry.root().display(),
            counts
                .values()
                .map(|f| f.join(", "))
                .collect::<Vec<_>>()
                .join(" / ")
        ))),
    }
}

fn check_part(
    part: &PartFile,
    file: &str,
    settings: &Settings,
    shared_sha: &str,
    dataset: &Dataset,
) -> Result<(), Error> {
    if part.format != FORMAT {
        return Err(shard_error(format!(
            "{file} has format {}, expected {FORMAT}",
            part.format
        )));
    }
    let differences = part.settings.differences(settings);
    if !differences.is_empty() {
        return Err(shard_error(format!(
            "{file} was fitted differently from the shared stage ({})",
            differences.join("; ")
        )));
    }
    if part.shared != shared_sha {
        return Err(shard_error(format!(
            "{file} was fitted with an earlier shared stage: run its shard again"
        )));
    }
    let expected: Vec<&str> = dataset
        .panel
        .series()
        .iter()
        .filter(|s| shard_of(&s.id, part.count) == part.index)
        .map(|s| s.id.as_str())
        .collect();
    if part.series != expected {
        return Err(shard_error(format!(
            "{file} holds other series than shard {} of {} should",
            part.index, part.count
        )));
    }
    Ok(())
}

fn read_shared(registry: &Registry, dataset: &str) -> Result<(SharedFile, String), Error> {
    let bytes = registry
        .read_shard_file(dataset, SHARED_FILE)?
        .ok_or_else(|| {
            shard_error(format!(
                "no shared stage of {dataset} in {}: run `civicast-train fit <manifest> --stage \
             shared` first",
                registry.root().display()
            ))
        })?;
    let sha = civicast_registry::sha256_hex(&bytes);
    let file: SharedFile = serde_json::from_slice(&bytes)
        .map_err(|e| shard_error(format!("{SHARED_FILE} is not a shared stage: {e}")))?;
    if file.format != FORMAT {
        return Err(shard_error(format!(
            "{SHARED_FILE} has format {}, expected {FORMAT}",
            file.format
        )));
    }
    Ok((file, sha))
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| shard_error(format!("cannot encode a stage: {e}")))
}

fn shard_error(message: String) -> Error {
    Error::Shard { message }
}

/// A model's shared stages with every part's piece, per backtest window and for production.
struct Staged {
    windows: Vec<(SharedFit, Vec<PartFit>)>,
    production: (SharedFit, Vec<PartFit>),
}

/// Every model's stages, joined on demand into the fits `fit` would have made.
pub(crate) struct Assembly {
    staged: BTreeMap<ModelId, Staged>,
}

impl Assembly {
    fn staged(&self, model: ModelId) -> Result<&Staged, ModelError> {
        self.staged.get(&model).ok_or_else(|| ModelError::Invalid {
            what: "the sharded fit",
            reason: format!("it has no stages of {model}"),
        })
    }

    /// `forecaster`'s model at backtest window `k`, for every series.
    pub(crate) fn window(
        &self,
        forecaster: &Forecaster,
        panel: &civicast_model::Panel,
        k: usize,
        cutoffs: &[usize],
    ) -> Result<FittedForecaster, ModelError> {
        let (shared, parts) = self
            .staged(forecaster.model())?
            .windows
            .get(k)
            .ok_or_else(|| ModelError::Invalid {
                what: "the sharded fit",
                reason: format!("it has no window {k} of {}", forecaster.model()),
            })?;
        let all = vec![true; panel.series().len()];
        forecaster.assemble(panel, cutoffs, shared.clone(), parts.clone(), &all)
    }

    /// `forecaster`'s model fitted to the series' ends, for the series where `wanted` is true.
    pub(crate) fn production(
        &self,
        forecaster: &Forecaster,
        panel: &civicast_model::Panel,
        ends: &[usize],
        wanted: &[bool],
    ) -> Result<FittedForecaster, ModelError> {
        let (shared, parts) = &self.staged(forecaster.model())?.production;
        forecaster.assemble(panel, ends, shared.clone(), parts.clone(), wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_refuse_what_is_not_one() {
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        for bad in ["4/4", "0/0", "1", "a/2", "-1/2", ""] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(err.contains("I/N"), "{bad}: {err}");
        }
    }

    #[test]
    fn every_series_is_in_one_shard_and_the_hash_is_stable() {
        // Pinned: a change of hash would move series between shards of a run in progress.
        // (Python: int.from_bytes(hashlib.sha256(b"Addison").digest()[:8], "big") % 4 == 3.)
        assert_eq!(shard_of("Addison", 4), 3);
        assert_eq!(shard_of("Austin", 7), 6);
        let ids: Vec<String> = (0..200).map(|i| format!("s{i}")).collect();
        for count in [1, 2, 3, 4] {
            let mut sizes = vec![0; count];
            for id in &ids {
                sizes[shard_of(id, count)] += 1;
            }
            assert_eq!(sizes.iter().sum::<usize>(), 200);
            assert!(sizes.iter().all(|&n| n > 200 / count / 2), "{sizes:?}");
        }
    }
}
