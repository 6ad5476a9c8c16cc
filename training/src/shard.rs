//! Sharded fitting: one `fit` spread over processes or machines, in three steps that share
//! nothing but the registry.
//!
//! 1. `civicast-train fit --stage shared [--shard I/N]` fits what learns across series: the
//!    learned models' member regressors ([`civicast_model::Forecaster::fit_shared`]), for every
//!    backtest window and for production. These fits are independent of each other, so the stage
//!    comes in N pieces too (piece I takes every N-th fit), each written to the registry's
//!    `shards/<dataset>/shared-I-of-N.json`: for `auto` this stage is most of the CPU.
//! 2. `civicast-train fit --shard I/N`, N times (any order, any machines), fits the series whose
//!    id hashes to shard `I` ([`shard_of`]) with every piece of the shared stage: per-series
//!    models, the statistical members, the learned members' calibration forecasts from the shared
//!    regressors, each series' combination and intervals
//!    ([`civicast_model::Forecaster::fit_part`]). It writes `part-I-of-N.json`.
//! 3. `civicast-train registry assemble` checks that every piece and part is there and was built
//!    from the same data (a fingerprint of the panel), recipe and settings, and each part with
//!    these very pieces; joins them ([`civicast_model::Forecaster::assemble`]); backtests,
//!    selects and publishes one version exactly as an unsharded `fit` does; and removes the run's
//!    files, so the next run starts clean.
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
/// More shards than this is a mistake (a shard per series of a city is some hundreds).
pub const MAX_SHARDS: usize = 100_000;

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
        if count == 0 || index >= count || count > MAX_SHARDS {
            return Err(expected());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// The file of this part.
    fn file(&self) -> String {
        format!("part-{}-of-{}.json", self.index, self.count)
    }

    /// The file of this piece of the shared stage.
    fn shared_file(&self) -> String {
        format!("shared-{}-of-{}.json", self.index, self.count)
    }

    /// The shard a file named `<prefix>I-of-N.json` holds.
    fn of_file(name: &str, prefix: &str) -> Option<Shard> {
        let (i, n) = name
            .strip_prefix(prefix)?
            .strip_suffix(".json")?
            .split_once("-of-")?;
        format!("{i}/{n}").parse().ok()
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
    /// SHA-256 of the recipe the manifest gives: horizon, seasons, backtest windows and step,
    /// the exogenous columns and the holiday calendar.
    pub recipe: String,
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
            recipe: recipe_fingerprint(dataset),
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
        compare(
            "recipe (the manifest's forecast, backtest, exogenous and calendar; SHA-256)",
            self.recipe.clone(),
            other.recipe.clone(),
        );
        out
    }
}

/// SHA-256 of everything in the manifest besides the data that changes what a fit makes.
fn recipe_fingerprint(dataset: &Dataset) -> String {
    let manifest = &dataset.manifest;
    let text = format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        manifest.forecast.horizon,
        manifest.forecast.season_lengths,
        manifest.backtest.windows,
        manifest.backtest.step,
        dataset.panel.exogenous(),
        dataset.calendar,
    );
    civicast_registry::sha256_hex(text.as_bytes())
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

/// The shared stage, joined from its pieces.
#[derive(Debug)]
struct SharedFile {
    settings: Settings,
    models: Vec<ModelStages<SharedFit>>,
}

/// One piece of the shared stage: the fits (a model at a backtest window, or for production)
/// whose place in the list of every fit is `index` modulo `count`.
#[derive(Debug, Serialize, Deserialize)]
struct SharedPiece {
    format: u32,
    settings: Settings,
    index: usize,
    count: usize,
    fits: Vec<SharedUnit>,
}

/// One fit's shared stage.
#[derive(Debug, Serialize, Deserialize)]
struct SharedUnit {
    model: ModelId,
    /// The backtest window; `None` for production.
    window: Option<usize>,
    fit: SharedFit,
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

/// Step 1: fits piece `piece` of the shared stage (every fit of every model, at each backtest
/// window and for production, whose place in that list is `piece.index` modulo `piece.count`)
/// and writes it to the registry. The pieces are independent, so the shared stage, most of a
/// learned model's cost, spreads over machines too. Returns how many fits it made.
pub fn write_shared(
    dataset: &Dataset,
    options: &FitOptions,
    registry: &Registry,
    piece: Shard,
) -> Result<usize, Error> {
    let panel = &dataset.panel;
    let windows = window_cutoffs(dataset)?;
    let ends: Vec<usize> = panel.series().iter().map(|s| s.len()).collect();
    let mut units: Vec<(ModelId, Option<usize>)> = Vec::new();
    for model in staged_models(options) {
        if options.candidates.contains(&model) {
            units.extend((0..windows.len()).map(|k| (model, Some(k))));
        }
        units.push((model, None));
    }
    let mine: Vec<(ModelId, Option<usize>)> = units
        .into_iter()
        .enumerate()
        .filter(|(u, _)| u % piece.count == piece.index)
        .map(|(_, unit)| unit)
        .collect();
    let fits = mine
        .par_iter()
        .map(|&(model, window)| {
            let forecaster = dataset.forecaster(model, options.input_size)?;
            let (cutoffs, what) = match window {
                Some(k) => (&windows[k], "the shared stage of a backtest window"),
                None => (&ends, "the shared stage"),
            };
            let fit = forecaster
                .fit_shared(panel, cutoffs)
                .map_err(in_model(model, what))?;
            Ok(SharedUnit { model, window, fit })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let made = fits.len();
    let file = SharedPiece {
        format: FORMAT,
        settings: Settings::of(dataset, options),
        index: piece.index,
        count: piece.count,
        fits,
    };
    registry.put_shard_file(
        &dataset.manifest.name,
        &piece.shared_file(),
        to_json(&file)?,
    )?;
    Ok(made)
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
    let (shared, shared_sha, _) = read_shared(registry, name)?;
    let here = Settings::of(dataset, options);
    let differences = shared.settings.differences(&here);
    if !differences.is_empty() {
        return Err(shard_error(format!(
            "the shared stage in {} was fitted differently from this shard ({}); give the shard \
             the shared stage's data and options (--models, --metric, --input-size, --until, \
             --from-store), or run `fit --stage shared` again, which makes every part already \
             written stale",
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
        let backtested = options.candidates.contains(&model);
        if stages.windows.len() != if backtested { windows.len() } else { 0 } {
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
    let (shared, shared_sha, shared_files) = read_shared(registry, name)?;
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
            "the shared stage does not match the data given here ({}); give `registry assemble` \
             the --until, --from-store and --store the stages were given",
            differences.join("; ")
        )));
    }
    let files: Vec<String> = registry
        .shard_files(name)?
        .into_iter()
        .filter(|f| f.starts_with("part-"))
        .collect();
    let count = file_count(&files, "part-", registry, name)?;
    let part_files: Vec<String> = (0..count)
        .map(|index| Shard { index, count }.file())
        .collect();
    let mut parts = Vec::with_capacity(count);
    for index in 0..count {
        let file = Shard { index, count }.file();
        let bytes = registry.read_shard_file(name, &file)?.ok_or_else(|| {
            shard_error(format!(
                "{file} is missing: run `fit --shard {index}/{count}`"
            ))
        })?;
        let part: PartFile = serde_json::from_slice(&bytes).map_err(|e| {
            shard_error(format!(
                "{file} is not a part of a fit ({e}): run `fit --shard {index}/{count}` again"
            ))
        })?;
        check_part(
            &part,
            &file,
            index,
            count,
            &shared.settings,
            &shared_sha,
            dataset,
        )?;
        parts.push(part);
    }
    // Per model: each window's and production's shared stage with every part's piece.
    let mut staged: BTreeMap<ModelId, Staged> = BTreeMap::new();
    for stages in shared.models {
        let mut windows: Vec<Stages> = stages
            .windows
            .into_iter()
            .map(|s| (s, Vec::with_capacity(count)))
            .collect();
        let mut production = (stages.production, Vec::with_capacity(count));
        for part in &mut parts {
            let rerun = format!("run `fit --shard {}/{count}` again", part.index);
            let Some(pos) = part.models.iter().position(|m| m.model == stages.model) else {
                return Err(shard_error(format!(
                    "part {} of {count} has no fit of {}: {rerun}",
                    part.index, stages.model
                )));
            };
            let mine = part.models.swap_remove(pos);
            if mine.windows.len() != windows.len() {
                return Err(shard_error(format!(
                    "part {} of {count} has {} windows of {}, the shared stage {}: {rerun}",
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
                windows: windows.into_iter().map(Some).collect::<Vec<_>>().into(),
                production,
            },
        );
    }
    let assembly = Assembly { staged };
    let outcome = fit_with(dataset, &options, registry, &Fits::Assembled(&assembly))?;
    // Published: the run's files are used up, and removed so that the next run starts clean. A
    // file left behind makes a later run refuse to mix (`registry clear-shards` removes it), so
    // failing to remove one is a warning.
    for file in shared_files.iter().chain(&part_files) {
        if let Err(e) = registry.remove_shard_file(name, file) {
            eprintln!("warning: {file} was used but cannot be removed: {e}");
        }
    }
    Ok((outcome, count))
}

/// The number N that the files `<prefix>I-of-N.json` name, all of which must agree.
fn file_count(
    files: &[String],
    prefix: &str,
    registry: &Registry,
    dataset: &str,
) -> Result<usize, Error> {
    let mut counts: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for file in files {
        let shard = Shard::of_file(file, prefix).ok_or_else(|| {
            shard_error(format!(
                "{file} in the registry is not named {prefix}I-of-N.json with I < N <= \
                 {MAX_SHARDS}: remove it (`registry clear-shards {dataset}` removes every shard \
                 file)"
            ))
        })?;
        counts.entry(shard.count).or_default().push(file);
    }
    let command = if prefix == "part-" {
        "fit --shard I/N"
    } else {
        "fit --stage shared --shard I/N"
    };
    match counts.len() {
        0 => Err(shard_error(format!(
            "no {prefix}I-of-N.json of {dataset} in {}: run `{command}` for every I first",
            registry.root().display()
        ))),
        1 => Ok(counts.into_keys().next().unwrap_or(1)),
        _ => Err(shard_error(format!(
            "files of runs with different counts are in {}: {}; the stale ones can only be run \
             again or all removed (`registry clear-shards {dataset}`)",
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
    index: usize,
    count: usize,
    settings: &Settings,
    shared_sha: &str,
    dataset: &Dataset,
) -> Result<(), Error> {
    if (part.index, part.count) != (index, count) {
        return Err(shard_error(format!(
            "{file} holds shard {}/{}: run `fit --shard {index}/{count}` again",
            part.index, part.count
        )));
    }
    if part.format != FORMAT {
        return Err(shard_error(format!(
            "{file} has format {}, expected {FORMAT}: run `fit --shard {index}/{count}` again \
             with this release",
            part.format
        )));
    }
    let differences = part.settings.differences(settings);
    if !differences.is_empty() {
        return Err(shard_error(format!(
            "{file} was fitted differently from the shared stage ({}): run `fit --shard \
             {index}/{count}` again with the shared stage's options",
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
            "{file} holds other series than shard {index}/{count} of these data: run it again"
        )));
    }
    Ok(())
}

/// The shared stage from all its pieces, the SHA-256 that names it (of the pieces' SHA-256s in
/// order), and the pieces' files.
fn read_shared(
    registry: &Registry,
    dataset: &str,
) -> Result<(SharedFile, String, Vec<String>), Error> {
    let files: Vec<String> = registry
        .shard_files(dataset)?
        .into_iter()
        .filter(|f| f.starts_with("shared-"))
        .collect();
    let count = file_count(&files, "shared-", registry, dataset)?;
    let mut settings: Option<Settings> = None;
    let mut shas = String::new();
    let mut units = Vec::new();
    let mut names = Vec::with_capacity(count);
    for index in 0..count {
        let piece = Shard { index, count };
        let file = piece.shared_file();
        let rerun = format!("run `fit --stage shared --shard {index}/{count}` again");
        let bytes = registry
            .read_shard_file(dataset, &file)?
            .ok_or_else(|| shard_error(format!("{file} is missing: {rerun}")))?;
        shas.push_str(&civicast_registry::sha256_hex(&bytes));
        let read: SharedPiece = serde_json::from_slice(&bytes).map_err(|e| {
            shard_error(format!(
                "{file} is not a piece of a shared stage ({e}): {rerun}"
            ))
        })?;
        if read.format != FORMAT || (read.index, read.count) != (index, count) {
            return Err(shard_error(format!(
                "{file} is not piece {index}/{count} of format {FORMAT}: {rerun} with this release"
            )));
        }
        match &settings {
            None => settings = Some(read.settings),
            Some(first) => {
                let differences = first.differences(&read.settings);
                if !differences.is_empty() {
                    return Err(shard_error(format!(
                        "{file} was fitted differently from piece 0 ({}): {rerun} with piece \
                         0's options",
                        differences.join("; ")
                    )));
                }
            }
        }
        units.extend(read.fits);
        names.push(file);
    }
    let settings = settings.ok_or_else(|| shard_error("the shared stage has no pieces".into()))?;
    // Every model's windows 0..W and production, each once.
    let mut by_model: BTreeMap<ModelId, (BTreeMap<usize, SharedFit>, Option<SharedFit>)> =
        BTreeMap::new();
    for unit in units {
        let entry = by_model.entry(unit.model).or_default();
        let taken = match unit.window {
            Some(k) => entry.0.insert(k, unit.fit).is_some(),
            None => entry.1.replace(unit.fit).is_some(),
        };
        if taken {
            return Err(shard_error(format!(
                "two pieces of the shared stage hold the same fit of {}: run `registry \
                 clear-shards {dataset}` and the shared stage again",
                unit.model
            )));
        }
    }
    let mut models = Vec::new();
    for (model, (windows, production)) in by_model {
        let complete = windows.keys().copied().eq(0..windows.len());
        let (Some(production), true) = (production, complete) else {
            return Err(shard_error(format!(
                "the shared stage's fits of {model} are incomplete: run every piece of `fit \
                 --stage shared --shard I/{count}`"
            )));
        };
        models.push(ModelStages {
            model,
            windows: windows.into_values().collect(),
            production,
        });
    }
    let sha = civicast_registry::sha256_hex(shas.as_bytes());
    Ok((SharedFile { settings, models }, sha, names))
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| shard_error(format!("cannot encode a stage: {e}")))
}

fn shard_error(message: String) -> Error {
    Error::Shard { message }
}

/// A model's shared stages with every part's piece, per backtest window (each taken by the one
/// fit of its window, so that no copy is held) and for production (copied, since a series that
/// falls back asks for the model again).
struct Staged {
    windows: std::sync::Mutex<Vec<Option<Stages>>>,
    production: Stages,
}

/// One fit's shared stage and every part's piece of it.
type Stages = (SharedFit, Vec<PartFit>);

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
        let taken = self
            .staged(forecaster.model())?
            .windows
            .lock()
            .map_err(|_| ModelError::Invalid {
                what: "the sharded fit",
                reason: "a window's assembly failed".into(),
            })?
            .get_mut(k)
            .and_then(Option::take);
        let (shared, parts) = taken.ok_or_else(|| ModelError::Invalid {
            what: "the sharded fit",
            reason: format!("it has no window {k} of {} left", forecaster.model()),
        })?;
        let all = vec![true; panel.series().len()];
        forecaster.assemble(panel, cutoffs, shared, parts, &all)
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
