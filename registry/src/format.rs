//! The registry's file formats: what a version's `manifest.json` and `models.json` hold.
//!
//! Everything is plain JSON read into plain structs, so loading a version runs no code from the
//! file (no pickles, no plugins). `format` is bumped whenever a reader would misread a file.

use std::collections::BTreeMap;

use civicast_model::learned::published::PublishedGlobal;
use civicast_model::metrics::Scores;
use civicast_model::{ExogenousSpec, Fitted, FittedForecaster, ModelId};
use serde::{Deserialize, Serialize};

/// The version of these file formats. Format 2 added learned global models and recent history to
/// `models.json`; a format-1 version reads as a format-2 one without them. Format 3 lets a learned
/// series store its calibration errors divided by a level scaling (`level_scaling`), which a
/// format-2 reader would ignore and so serve as absolute errors; a format-2 version reads as a
/// format-3 one without level scalings. Format 4 adds windows over future-known columns to a
/// learned model's features (`known_windows`; a format-3 reader would build rows without those
/// columns) and per-phase error sizes (`phase_scale`, by which the stored errors are divided); a
/// format-3 version reads as a format-4 one with neither. Format 5 stores every model as one
/// forecaster (`forecasters`, by model id, each holding the series that chose it) instead of
/// statistical models by series and learned ones apart, and is the first format whose readers
/// know condition profiles (`condition`, by whose scale a learned series' stored errors are
/// divided; a reader without them would serve wrongly scaled intervals). A format-1 to -4
/// version reads as a format-5 one, its models regrouped by the model each series asked for.
/// Format 6 gives a learned series seasonal naive's error scale (`naive`) for intervals when no
/// series has calibration errors, where a format-5 reader would serve bands of zero width; a
/// format-5 version reads as a format-6 one without it. Format 7 lets a learned model hold
/// statistical members fitted per series (`statistical`, whose weights follow the learned
/// members'), which a format-6 reader would drop, serving a combination without them; a format-6
/// version reads as a format-7 one without them.
pub const FORMAT_VERSION: u32 = 7;

/// The oldest format this release reads.
pub const OLDEST_FORMAT: u32 = 1;

/// The file that describes a version.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The file that holds a version's fitted models.
pub const MODELS_FILE: &str = "models.json";

/// Everything about one published version except its models.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionManifest {
    /// File format version ([`FORMAT_VERSION`]).
    pub format: u32,
    /// The version id (also its folder name).
    pub version: String,
    /// When it was published (RFC 3339, UTC).
    pub created: String,
    /// The civicast release that wrote it.
    pub civicast_version: String,
    /// The data it was fitted on.
    pub dataset: DatasetInfo,
    /// How the models were chosen.
    pub selection: Selection,
    /// What the models read, for callers that must supply inputs.
    pub features: FeatureSchema,
    /// One entry per series.
    pub series: Vec<SeriesEntry>,
    /// SHA-256 of every other file of the version, by file name.
    pub files: BTreeMap<String, String>,
}

/// The dataset a version was fitted on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// Dataset name (from its manifest).
    pub name: String,
    /// One-line description.
    pub title: Option<String>,
    /// Unit of the target.
    pub unit: Option<String>,
    /// Frequency, as in manifests (`1d`, `30m`, ...).
    pub frequency: String,
    /// Default forecast horizon.
    pub horizon: usize,
    /// Season lengths in steps.
    pub season_lengths: Vec<usize>,
    /// The data file's name.
    pub data_file: String,
    /// SHA-256 of the data file's bytes.
    pub data_sha256: String,
    /// First observation over all series.
    pub start: String,
    /// Last observation over all series.
    pub end: String,
    /// Number of series.
    pub series: usize,
    /// Number of observations.
    pub rows: usize,
}

/// How each series' model was chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// The metric minimised (`MASE`, `sMAPE`, `RMSE` or `sCRPS`).
    pub metric: String,
    /// Candidate models.
    pub candidates: Vec<String>,
    /// Backtest windows used for the choice.
    pub windows: usize,
    /// Steps between backtest cutoffs.
    pub step: usize,
    /// Observations the models were fitted on at most (`None`: all).
    pub input_size: Option<usize>,
}

/// The inputs models read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureSchema {
    /// Target column.
    pub target: String,
    /// Exogenous columns and their roles (statistical models read none of them).
    pub exogenous: Vec<ExogenousSpec>,
}

/// One series of a version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesEntry {
    /// Series id.
    pub id: String,
    /// The model chosen for it.
    pub model: String,
    /// Why the chosen model fell back to a simpler one when refitted, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Time of its first observation.
    pub start: String,
    /// Time of its last observation (forecasts start one step later).
    pub end: String,
    /// Number of observations.
    pub length: usize,
    /// Backtest metrics of every candidate on this series, by model id.
    pub backtest: BTreeMap<String, Scores>,
}

/// The fitted models of a version (`models.json`).
///
/// A series is forecast by the forecaster its manifest entry names (`model`): the per-series
/// models of the series that chose a statistical model, or a learned model that learned from
/// every series and also holds their recent data and the climatology of future-known inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredModels")]
pub struct ModelsFile {
    /// File format version.
    pub format: u32,
    /// Fitted forecasters, by model id (`ets`, `auto`, ...).
    pub forecasters: BTreeMap<String, FittedForecaster>,
    /// The last observations of each series (ending at its `end`), for charts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub history: BTreeMap<String, Vec<f64>>,
}

/// `models.json` of any format this release reads.
#[derive(Deserialize)]
struct StoredModels {
    format: u32,
    #[serde(default)]
    forecasters: BTreeMap<String, FittedForecaster>,
    /// Formats 1 to 4: each statistical series' model, by series id.
    #[serde(default)]
    series: BTreeMap<String, Fitted>,
    /// Formats 2 to 4: learned models, by model id.
    #[serde(default)]
    global: BTreeMap<String, PublishedGlobal>,
    #[serde(default)]
    history: BTreeMap<String, Vec<f64>>,
}

impl TryFrom<StoredModels> for ModelsFile {
    type Error = String;

    fn try_from(stored: StoredModels) -> Result<Self, String> {
        let StoredModels {
            format,
            mut forecasters,
            series,
            global,
            history,
        } = stored;
        // Before format 5 every statistical series sat in one map; group them by what they
        // were asked to be, which is what their manifest entries name.
        let mut by_model: BTreeMap<ModelId, Vec<(String, Fitted)>> = BTreeMap::new();
        for (id, fitted) in series {
            by_model
                .entry(fitted.requested)
                .or_default()
                .push((id, fitted));
        }
        for (model, series) in by_model {
            forecasters.insert(
                model.to_string(),
                FittedForecaster::from_series_models(model, series),
            );
        }
        for (name, published) in global {
            let model: ModelId = name
                .parse()
                .map_err(|e| format!("learned model {name:?}: {e}"))?;
            let forecaster = FittedForecaster::from_published(model, published)
                .map_err(|e| format!("learned model {name:?}: {e}"))?;
            forecasters.insert(name, forecaster);
        }
        Ok(ModelsFile {
            format,
            forecasters,
            history,
        })
    }
}

impl ModelsFile {
    /// What is wrong with these models as the models of `manifest`: a model whose parts do not
    /// fit together, a series whose model is missing or does not know it.
    pub fn problems(&self, manifest: &VersionManifest) -> Vec<String> {
        let mut problems = Vec::new();
        for (id, forecaster) in &self.forecasters {
            if let Err(e) = forecaster.check() {
                problems.push(format!("{MODELS_FILE}: model {id}: {e}"));
            }
        }
        let indices: BTreeMap<&str, _> = self
            .forecasters
            .iter()
            .map(|(id, forecaster)| (id.as_str(), forecaster.series_indices()))
            .collect();
        for s in &manifest.series {
            match indices.get(s.model.as_str()) {
                Some(series) if !series.contains_key(s.id.as_str()) => problems.push(format!(
                    "{MODELS_FILE}: model {} has no series {:?}",
                    s.model, s.id
                )),
                Some(_) => {}
                None => problems.push(format!(
                    "{MODELS_FILE} has no model {} for series {:?}",
                    s.model, s.id
                )),
            }
        }
        problems
    }
}
