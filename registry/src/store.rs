//! The registry on disk: publishing versions, aliases and their history, verification.
//!
//! ```text
//! <root>/versions/<version>/manifest.json   immutable once published
//! <root>/versions/<version>/models.json
//! <root>/aliases/<dataset>/production.json  {"version": ...}, replaced by atomic rename
//! <root>/history.jsonl                      append-only log of alias changes
//! <root>/staging/                           versions being written
//! ```
//!
//! A version is written completely into `staging/`, every file flushed, and then renamed into
//! `versions/` in one step, so readers see either no version or a whole one; a crash leaves at
//! most an orphan folder in `staging/`, which nothing reads. An alias change is logged in the
//! history first and then made by renaming a new alias file over the old one, so the alias always
//! names a complete version. Rollback follows the history back from the current version.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::RegistryError;
use crate::format::{
    FORMAT_VERSION, MANIFEST_FILE, MODELS_FILE, ModelsFile, OLDEST_FORMAT, VersionManifest,
};
use crate::fsio::{sync_folder, write_atomic, write_durable};
use crate::risk::{RISK_FILE, RiskFile};

/// The alias the inference service serves.
pub const PRODUCTION: &str = "production";

/// Environment variable naming a step at which to abort the process, so tests can crash a
/// publication between any two steps and check what a real `kill -9` would leave behind.
pub const FAULT_INJECTION_VAR: &str = "CIVICAST_FAULT_INJECT";

/// A registry rooted at a folder.
#[derive(Clone, Debug)]
pub struct Registry {
    root: PathBuf,
}

/// The content of an alias file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    /// The version the alias names.
    pub version: String,
    /// When it was set (RFC 3339, UTC).
    pub changed: String,
}

/// One line of `history.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// The dataset whose alias changed.
    pub dataset: String,
    /// The alias.
    pub alias: String,
    /// What happened: `publish`, `promote` or `rollback`.
    pub action: String,
    /// The version it named before, if any.
    pub from: Option<String>,
    /// The version it names now.
    pub to: String,
}

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `name` can be a version id or dataset name: it becomes a folder name, so only
/// letters, digits, `.`, `_` and `-`, not starting with a dot.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn check_name(name: &str) -> Result<(), RegistryError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(RegistryError::BadName(name.to_owned()))
    }
}

fn fault_point(step: &str) {
    if std::env::var(FAULT_INJECTION_VAR).is_ok_and(|v| v == step) {
        eprintln!("fault injection: aborting at {step}");
        std::process::abort();
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RegistryError> {
    let bytes = std::fs::read(path).map_err(RegistryError::io(path))?;
    parse_json(path, &bytes)
}

fn parse_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own plain structs to JSON cannot fail (no maps with non-string keys).
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

fn to_json_compact<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

impl Registry {
    /// The registry at `root` (nothing is read or created until used).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Registry { root: root.into() }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn versions_dir(&self) -> PathBuf {
        self.root.join("versions")
    }

    fn version_dir(&self, version: &str) -> Result<PathBuf, RegistryError> {
        check_name(version)?;
        Ok(self.versions_dir().join(version))
    }

    fn alias_path(&self, dataset: &str, alias: &str) -> Result<PathBuf, RegistryError> {
        check_name(dataset)?;
        check_name(alias)?;
        Ok(self
            .root
            .join("aliases")
            .join(dataset)
            .join(format!("{alias}.json")))
    }

    fn history_path(&self) -> PathBuf {
        self.root.join("history.jsonl")
    }

    /// Publishes a new version: `manifest` (its `version`, `created` and `files` are filled in
    /// here) and `models`. Makes it the dataset's production version when `promote` is true or
    /// when the dataset has none yet. Returns the new version id.
    pub fn publish(
        &self,
        manifest: VersionManifest,
        models: &ModelsFile,
        promote: bool,
    ) -> Result<String, RegistryError> {
        self.publish_with_risk(manifest, models, None, promote)
    }

    /// [`Registry::publish`], with a waste-risk classifier stored as `risk.json` when given.
    pub fn publish_with_risk(
        &self,
        mut manifest: VersionManifest,
        models: &ModelsFile,
        risk: Option<&RiskFile>,
        promote: bool,
    ) -> Result<String, RegistryError> {
        let dataset = manifest.dataset.name.clone();
        check_name(&dataset)?;
        let staging = self.root.join("staging");
        let versions = self.versions_dir();
        for dir in [&staging, &versions] {
            std::fs::create_dir_all(dir).map_err(RegistryError::io(dir))?;
        }
        let created = chrono::Utc::now();
        manifest.created = created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        manifest.format = FORMAT_VERSION;
        let base_id = format!("{dataset}-{}", created.format("%Y%m%dT%H%M%SZ"));
        let work = staging.join(format!(
            "{base_id}.{}.{}",
            std::process::id(),
            created.timestamp_subsec_nanos()
        ));
        std::fs::create_dir(&work).map_err(RegistryError::io(&work))?;

        // Compact: a learned model holds hundreds of thousands of numbers, and pretty-printing
        // puts each on its own indented line.
        let models_bytes = to_json_compact(models);
        let models_path = work.join(MODELS_FILE);
        let problems = models.problems(&manifest);
        if !problems.is_empty() {
            return Err(RegistryError::Corrupt {
                path: models_path,
                message: problems.join("; "),
            });
        }
        // Refuse to publish what could not be read back: a model whose JSON does not round-trip
        // would be refused by every reader, so it must not become a version at all. (Compared as
        // JSON, not as values: a model may hold NaN, which is never equal to itself.)
        let reparsed: ModelsFile = parse_json(&models_path, &models_bytes)?;
        if to_json_compact(&reparsed) != models_bytes {
            return Err(RegistryError::Corrupt {
                path: models_path,
                message: "the fitted models do not read back as written".into(),
            });
        }
        write_durable(&models_path, &models_bytes).map_err(RegistryError::io(&models_path))?;
        fault_point("models-written");
        manifest.files = BTreeMap::from([(MODELS_FILE.to_owned(), sha256_hex(&models_bytes))]);
        if let Some(risk) = risk {
            let risk_bytes = to_json(risk);
            let risk_path = work.join(RISK_FILE);
            write_durable(&risk_path, &risk_bytes).map_err(RegistryError::io(&risk_path))?;
            manifest
                .files
                .insert(RISK_FILE.to_owned(), sha256_hex(&risk_bytes));
        }

        // Claim a version id by renaming the finished folder into place; a concurrent publisher
        // that took the same second makes the rename fail, and we take the next suffix.
        let mut attempt = 1;
        loop {
            let id = if attempt == 1 {
                base_id.clone()
            } else {
                format!("{base_id}-{attempt}")
            };
            manifest.version = id.clone();
            let manifest_path = work.join(MANIFEST_FILE);
            write_durable(&manifest_path, &to_json(&manifest))
                .map_err(RegistryError::io(&manifest_path))?;
            sync_folder(&work).map_err(RegistryError::io(&work))?;
            fault_point("staged");
            let target = versions.join(&id);
            if target.exists() {
                attempt += 1;
                continue;
            }
            match std::fs::rename(&work, &target) {
                Ok(()) => {}
                Err(_) if target.exists() => {
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(RegistryError::io(&target)(e)),
            }
            sync_folder(&versions).map_err(RegistryError::io(&versions))?;
            fault_point("published");
            if promote || self.alias(&dataset, PRODUCTION)?.is_none() {
                self.set_alias(&dataset, PRODUCTION, &id, "publish")?;
            }
            return Ok(id);
        }
    }

    /// The alias file of a dataset, if the alias is set.
    pub fn alias(&self, dataset: &str, alias: &str) -> Result<Option<Alias>, RegistryError> {
        let path = self.alias_path(dataset, alias)?;
        if !path.exists() {
            return Ok(None);
        }
        read_json(&path).map(Some)
    }

    /// Datasets that have at least one alias, sorted.
    pub fn datasets(&self) -> Result<Vec<String>, RegistryError> {
        let dir = self.root.join("aliases");
        if !dir.exists() {
            return Ok(Vec::new());
        }
        let entries = std::fs::read_dir(&dir).map_err(RegistryError::io(&dir))?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| is_valid_name(n))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The version a dataset's production alias names.
    pub fn production(&self, dataset: &str) -> Result<Option<String>, RegistryError> {
        Ok(self.alias(dataset, PRODUCTION)?.map(|a| a.version))
    }

    /// Points `alias` of `dataset` at `version`: logged in the history first, then an atomic
    /// rename of the alias file.
    fn set_alias(
        &self,
        dataset: &str,
        alias: &str,
        version: &str,
        action: &str,
    ) -> Result<(), RegistryError> {
        let path = self.alias_path(dataset, alias)?;
        let previous = self.alias(dataset, alias)?.map(|a| a.version);
        let entry = HistoryEntry {
            at: now(),
            dataset: dataset.to_owned(),
            alias: alias.to_owned(),
            action: action.to_owned(),
            from: previous,
            to: version.to_owned(),
        };
        self.append_history(&entry)?;
        fault_point("history-appended");
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(RegistryError::io(folder))?;
        }
        let alias_file = Alias {
            version: version.to_owned(),
            changed: entry.at,
        };
        write_atomic(&path, &to_json(&alias_file)).map_err(RegistryError::io(&path))?;
        fault_point("alias-set");
        Ok(())
    }

    fn append_history(&self, entry: &HistoryEntry) -> Result<(), RegistryError> {
        let path = self.history_path();
        std::fs::create_dir_all(&self.root).map_err(RegistryError::io(&self.root))?;
        let mut line = serde_json::to_string(entry).unwrap_or_default();
        line.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(RegistryError::io(&path))?;
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(RegistryError::io(&path))
    }

    /// The alias history, oldest first. A torn last line (a crash mid-append) is skipped.
    pub fn history(&self) -> Result<Vec<HistoryEntry>, RegistryError> {
        let path = self.history_path();
        if !path.exists() {
            return Ok(Vec::new());
        }
        let text = std::fs::read_to_string(&path).map_err(RegistryError::io(&path))?;
        Ok(text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect())
    }

    /// Every published version's manifest, oldest first, with an error for unreadable ones.
    pub fn list(&self) -> Result<Vec<Result<VersionManifest, RegistryError>>, RegistryError> {
        let dir = self.versions_dir();
        if !dir.exists() {
            return Ok(Vec::new());
        }
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map_err(RegistryError::io(&dir))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| is_valid_name(n))
            .collect();
        names.sort();
        Ok(names.iter().map(|n| self.show(n)).collect())
    }

    /// The manifest of `version`.
    pub fn show(&self, version: &str) -> Result<VersionManifest, RegistryError> {
        let dir = self.version_dir(version)?;
        if !dir.is_dir() {
            return Err(RegistryError::UnknownVersion(version.to_owned()));
        }
        read_json(&dir.join(MANIFEST_FILE))
    }

    /// Checks every file of `version` against its checksum and that the models cover every
    /// series, then returns its manifest and models. The bytes checked are the bytes parsed.
    pub fn load(&self, version: &str) -> Result<(VersionManifest, ModelsFile), RegistryError> {
        let manifest = self.show(version)?;
        let dir = self.version_dir(version)?;
        let mut problems = Vec::new();
        if !(OLDEST_FORMAT..=FORMAT_VERSION).contains(&manifest.format) {
            problems.push(format!(
                "format {} is not a supported format ({OLDEST_FORMAT} to {FORMAT_VERSION})",
                manifest.format
            ));
        }
        if manifest.version != version {
            problems.push(format!(
                "manifest.json names version {:?}, but its folder is {version:?}",
                manifest.version
            ));
        }
        if !manifest.files.contains_key(MODELS_FILE) {
            problems.push(format!("manifest.json lists no checksum for {MODELS_FILE}"));
        }
        let mut models_bytes = None;
        for (name, expected) in &manifest.files {
            if !is_valid_name(name) {
                problems.push(format!("manifest.json lists a bad file name {name:?}"));
                continue;
            }
            match std::fs::read(dir.join(name)) {
                Ok(bytes) => {
                    let actual = sha256_hex(&bytes);
                    if &actual != expected {
                        problems.push(format!(
                            "{name}: SHA-256 is {actual}, but manifest.json records {expected}; the file was changed after publication"
                        ));
                    } else if name == MODELS_FILE {
                        models_bytes = Some(bytes);
                    }
                }
                Err(e) => problems.push(format!("{name}: cannot be read: {e}")),
            }
        }
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name != MANIFEST_FILE && !manifest.files.contains_key(&name) {
                    problems.push(format!("{name}: not listed in manifest.json"));
                }
            }
        }
        let models: Option<ModelsFile> = match models_bytes {
            Some(bytes) => match parse_json(&dir.join(MODELS_FILE), &bytes) {
                Ok(models) => Some(models),
                Err(e) => {
                    problems.push(e.to_string());
                    None
                }
            },
            None => None,
        };
        if let Some(models) = &models {
            problems.extend(models.problems(&manifest));
        }
        match models {
            Some(models) if problems.is_empty() => Ok((manifest, models)),
            _ => Err(RegistryError::Tampered {
                version: version.to_owned(),
                problems,
            }),
        }
    }

    /// The waste-risk classifier of `version`, if it has one: `risk.json`, checked against the
    /// checksum its manifest records (a version that lists none has no classifier).
    pub fn load_risk(&self, version: &str) -> Result<Option<RiskFile>, RegistryError> {
        let manifest = self.show(version)?;
        let Some(expected) = manifest.files.get(RISK_FILE) else {
            return Ok(None);
        };
        let path = self.version_dir(version)?.join(RISK_FILE);
        let bytes = std::fs::read(&path).map_err(RegistryError::io(&path))?;
        let actual = sha256_hex(&bytes);
        if &actual != expected {
            return Err(RegistryError::Tampered {
                version: version.to_owned(),
                problems: vec![format!(
                    "{RISK_FILE}: SHA-256 is {actual}, but manifest.json records {expected}"
                )],
            });
        }
        parse_json(&path, &bytes).map(Some)
    }

    /// Verifies `version` (see [`Registry::load`]).
    pub fn verify(&self, version: &str) -> Result<(), RegistryError> {
        self.load(version).map(|_| ())
    }

    /// Makes a verified `version` its dataset's production version.
    pub fn promote(&self, version: &str) -> Result<(), RegistryError> {
        let (manifest, _) = self.load(version)?;
        self.set_alias(&manifest.dataset.name, PRODUCTION, version, "promote")
    }

    /// Points `dataset`'s production alias back at the version it named before the current one,
    /// after verifying it, and returns that version. Rolling back twice goes back two versions:
    /// the history is replayed as a stack where publish and promote push and rollback pops.
    pub fn rollback(&self, dataset: &str) -> Result<String, RegistryError> {
        let current = self
            .production(dataset)?
            .ok_or_else(|| RegistryError::NoProduction(dataset.to_owned()))?;
        let mut stack: Vec<String> = Vec::new();
        for entry in self.history()? {
            if entry.dataset != dataset || entry.alias != PRODUCTION {
                continue;
            }
            if entry.action == "rollback" {
                stack.pop();
                if stack.last() != Some(&entry.to) {
                    stack.push(entry.to);
                }
            } else {
                stack.push(entry.to);
            }
        }
        // A crash between logging a change and making it leaves the log one step ahead of the
        // alias: the alias is the truth.
        while stack.last().is_some_and(|top| top != &current) {
            stack.pop();
        }
        stack.pop();
        let previous = stack
            .pop()
            .ok_or_else(|| RegistryError::NothingToRollBack(dataset.to_owned()))?;
        self.verify(&previous)?;
        self.set_alias(dataset, PRODUCTION, &previous, "rollback")?;
        Ok(previous)
    }
}
