//! The registry on disk: publishing, listing and verifying versions.
//!
//! ```text
//! <root>/versions/<version>/manifest.json   immutable once published
//! <root>/versions/<version>/models.json
//! <root>/aliases/<dataset>/production.json  {"version": ...}, replaced by atomic rename
//! <root>/aliases/.lock                      held while an alias changes (see crate::alias)
//! <root>/history.jsonl                      append-only log of alias changes
//! <root>/staging/                           versions being written
//! ```
//!
//! A version is written completely into `staging/`, every file flushed, and then renamed into
//! `versions/` in one step, so readers see either no version or a whole one; a crash leaves at
//! most an orphan folder in `staging/`, which nothing reads. Aliases and their history are in
//! [`crate::alias`] and [`crate::history`].
//!
//! Reading: every file is read through [`crate::fsio::read_capped`] with its cap from
//! [`RegistryLimits`], and the registry follows no symbolic link below its root: a linked version
//! folder, alias folder or file is refused with [`RegistryError::SymbolicLink`], and listings
//! skip linked entries. A version is its folder's own content, so a link could only make it
//! something other than what was published and verified; the root itself may be a link (a
//! registry moved to another disk).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::alias::PRODUCTION;
use crate::error::RegistryError;
use crate::format::{
    FORMAT_VERSION, MANIFEST_FILE, MODELS_FILE, ModelsFile, OLDEST_FORMAT, VersionManifest,
};
use crate::fsio::{create_dir_durable, read_capped, read_dir_or_empty, sync_folder, write_durable};
use crate::limits::RegistryLimits;
use crate::objects::Objects;
use crate::risk::{RISK_FILE, RiskFile};

/// Environment variable naming a step at which to abort the process, so tests can crash a
/// publication between any two steps and check what a real `kill -9` would leave behind.
pub const FAULT_INJECTION_VAR: &str = "CIVICAST_FAULT_INJECT";

/// A registry in a folder or in S3-compatible object storage ([`crate::objects`]).
#[derive(Clone, Debug)]
pub struct Registry {
    /// The folder, or for object storage its `s3://` URL (for messages only).
    pub(crate) root: PathBuf,
    pub(crate) limits: RegistryLimits,
    pub(crate) objects: Option<Arc<Objects>>,
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

pub(crate) fn check_name(name: &str) -> Result<(), RegistryError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(RegistryError::BadName(name.to_owned()))
    }
}

pub(crate) fn fault_point(step: &str) {
    if std::env::var(FAULT_INJECTION_VAR).is_ok_and(|v| v == step) {
        eprintln!("fault injection: aborting at {step}");
        std::process::abort();
    }
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    limit: u64,
) -> Result<T, RegistryError> {
    let bytes = read_capped(path, limit)?;
    parse_json(path, &bytes)
}

/// [`read_json`], or `None` when the file does not exist.
pub(crate) fn read_json_if_exists<T: serde::de::DeserializeOwned>(
    path: &Path,
    limit: u64,
) -> Result<Option<T>, RegistryError> {
    match read_capped(path, limit) {
        Ok(bytes) => parse_json(path, &bytes).map(Some),
        Err(RegistryError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own plain structs to JSON cannot fail (no maps with non-string keys).
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

fn to_json_compact<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Refuses to write `bytes` as `path` when a reader under `limit` would refuse to read them.
fn check_size(path: &Path, bytes: &[u8], limit: u64) -> Result<(), RegistryError> {
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > limit {
        return Err(RegistryError::TooLarge {
            path: path.to_path_buf(),
            limit,
            size,
        });
    }
    Ok(())
}

impl Registry {
    /// The registry at `root`, read under the default [`RegistryLimits`] (nothing is read or
    /// created until used).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Registry::with_limits(root, RegistryLimits::default())
    }

    /// The registry at `root`, reading no file over its cap in `limits` (and publishing none).
    pub fn with_limits(root: impl Into<PathBuf>, limits: RegistryLimits) -> Self {
        Registry {
            root: root.into(),
            limits,
            objects: None,
        }
    }

    /// The registry at `location`: `s3://bucket/prefix` for S3-compatible object storage (the
    /// endpoint, region and credentials from the environment, as the AWS tools read them), or
    /// a folder.
    pub fn open(location: &str, limits: RegistryLimits) -> Result<Self, RegistryError> {
        if location.starts_with("s3://") {
            Ok(Registry {
                root: PathBuf::from(location),
                limits,
                objects: Some(Arc::new(Objects::open(location)?)),
            })
        } else {
            Ok(Registry::with_limits(location, limits))
        }
    }

    /// The root folder, or the `s3://` URL of a registry in object storage.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The caps this registry reads files under.
    pub fn limits(&self) -> &RegistryLimits {
        &self.limits
    }

    /// `<root>/<parts...>`, refused if any of those components below the root is a symbolic
    /// link. Components that do not exist are not checked (nothing can be read through them), so
    /// the caller's own open or create reports a missing one.
    pub(crate) fn inside(&self, parts: &[&str]) -> Result<PathBuf, RegistryError> {
        let mut path = self.root.clone();
        let mut checking = true;
        for part in parts {
            path.push(part);
            if !checking {
                continue;
            }
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(RegistryError::SymbolicLink { path });
                }
                Ok(_) => {}
                Err(_) => checking = false,
            }
        }
        Ok(path)
    }

    fn version_dir(&self, version: &str) -> Result<PathBuf, RegistryError> {
        check_name(version)?;
        self.inside(&["versions", version])
    }

    /// The cap for a file of a version, by name.
    fn file_limit(&self, name: &str) -> u64 {
        match name {
            MODELS_FILE => self.limits.models_bytes,
            RISK_FILE => self.limits.risk_bytes,
            _ => self.limits.manifest_bytes,
        }
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
    /// A file over its cap in [`RegistryLimits`] is refused before anything is written.
    pub fn publish_with_risk(
        &self,
        mut manifest: VersionManifest,
        models: &ModelsFile,
        risk: Option<&RiskFile>,
        promote: bool,
    ) -> Result<String, RegistryError> {
        let dataset = manifest.dataset.name.clone();
        check_name(&dataset)?;
        let staging = self.inside(&["staging"])?;
        let versions = self.inside(&["versions"])?;
        if self.objects.is_none() {
            for dir in [&staging, &versions] {
                create_dir_durable(dir).map_err(RegistryError::io(dir))?;
            }
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
        check_size(&models_path, &models_bytes, self.limits.models_bytes)?;
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
        let risk_bytes = risk.map(to_json);
        let risk_path = work.join(RISK_FILE);
        if let Some(bytes) = &risk_bytes {
            check_size(&risk_path, bytes, self.limits.risk_bytes)?;
        }

        if let Some(objects) = &self.objects {
            manifest.files = BTreeMap::from([(MODELS_FILE.to_owned(), sha256_hex(&models_bytes))]);
            let mut files = vec![(MODELS_FILE, models_bytes)];
            if let Some(bytes) = risk_bytes {
                manifest
                    .files
                    .insert(RISK_FILE.to_owned(), sha256_hex(&bytes));
                files.push((RISK_FILE, bytes));
            }
            let manifest_bytes = to_json(&manifest);
            check_size(
                &risk_path.with_file_name(MANIFEST_FILE),
                &manifest_bytes,
                self.limits.manifest_bytes,
            )?;
            let id = self.objects_publish(objects, &base_id, manifest, &files)?;
            self.publish_alias(&dataset, &id, promote)?;
            return Ok(id);
        }

        std::fs::create_dir(&work).map_err(RegistryError::io(&work))?;
        write_durable(&models_path, &models_bytes).map_err(RegistryError::io(&models_path))?;
        fault_point("models-written");
        manifest.files = BTreeMap::from([(MODELS_FILE.to_owned(), sha256_hex(&models_bytes))]);
        if let Some(bytes) = &risk_bytes {
            write_durable(&risk_path, bytes).map_err(RegistryError::io(&risk_path))?;
            manifest
                .files
                .insert(RISK_FILE.to_owned(), sha256_hex(bytes));
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
            let manifest_bytes = to_json(&manifest);
            check_size(&manifest_path, &manifest_bytes, self.limits.manifest_bytes)?;
            write_durable(&manifest_path, &manifest_bytes)
                .map_err(RegistryError::io(&manifest_path))?;
            sync_folder(&work).map_err(RegistryError::io(&work))?;
            fault_point("staged");
            let target = versions.join(&id);
            if target.symlink_metadata().is_ok() {
                attempt += 1;
                continue;
            }
            match std::fs::rename(&work, &target) {
                Ok(()) => {}
                Err(_) if target.symlink_metadata().is_ok() => {
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(RegistryError::io(&target)(e)),
            }
            sync_folder(&versions).map_err(RegistryError::io(&versions))?;
            fault_point("published");
            self.publish_alias(&dataset, &id, promote)?;
            return Ok(id);
        }
    }

    /// Every published version's manifest, oldest first, with an error for unreadable ones.
    /// Symbolic links in `versions/` are skipped.
    pub fn list(&self) -> Result<Vec<Result<VersionManifest, RegistryError>>, RegistryError> {
        if let Some(objects) = &self.objects {
            let names = self.objects_versions(objects)?;
            return Ok(names.iter().map(|n| self.show(n)).collect());
        }
        let dir = self.inside(&["versions"])?;
        let mut names: Vec<String> = read_dir_or_empty(&dir)?
            .into_iter()
            .filter(|e| !e.file_type().is_ok_and(|t| t.is_symlink()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| is_valid_name(n))
            .collect();
        names.sort();
        Ok(names.iter().map(|n| self.show(n)).collect())
    }

    /// The manifest of `version`.
    pub fn show(&self, version: &str) -> Result<VersionManifest, RegistryError> {
        if let Some(objects) = &self.objects {
            check_name(version)?;
            return self.objects_show(objects, version);
        }
        let dir = self.version_dir(version)?;
        if !dir.symlink_metadata().is_ok_and(|meta| meta.is_dir()) {
            return Err(RegistryError::UnknownVersion(version.to_owned()));
        }
        read_json(&dir.join(MANIFEST_FILE), self.limits.manifest_bytes)
    }

    /// Checks every file of `version` against its checksum and that the models cover every
    /// series, then returns its manifest and models. The bytes checked are the bytes parsed.
    /// A file over its cap, a linked file and anything but a regular file are refused with
    /// their own errors; other problems are listed together in [`RegistryError::Tampered`].
    pub fn load(&self, version: &str) -> Result<(VersionManifest, ModelsFile), RegistryError> {
        self.load_checked(version, None)
    }

    /// [`Registry::load`] of `version` as a version of `dataset`: a version whose manifest names
    /// another dataset is [`RegistryError::WrongDataset`], found before its models are read.
    pub fn load_for(
        &self,
        dataset: &str,
        version: &str,
    ) -> Result<(VersionManifest, ModelsFile), RegistryError> {
        check_name(dataset)?;
        self.load_checked(version, Some(dataset))
    }

    fn load_checked(
        &self,
        version: &str,
        dataset: Option<&str>,
    ) -> Result<(VersionManifest, ModelsFile), RegistryError> {
        let manifest = self.show(version)?;
        if let Some(dataset) = dataset
            && manifest.dataset.name != dataset
        {
            return Err(RegistryError::WrongDataset {
                dataset: dataset.to_owned(),
                version: version.to_owned(),
                names: manifest.dataset.name,
            });
        }
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
            match self.read_version_file(version, name) {
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
                Err(RegistryError::Io { source, .. }) => {
                    problems.push(format!("{name}: cannot be read: {source}"))
                }
                Err(refused) => return Err(refused),
            }
        }
        for name in self.version_files(version)? {
            if name != MANIFEST_FILE && !manifest.files.contains_key(&name) {
                problems.push(format!("{name}: not listed in manifest.json"));
            }
        }
        let models: Option<ModelsFile> = match models_bytes {
            Some(bytes) => match parse_json(&self.version_file_path(version, MODELS_FILE)?, &bytes)
            {
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
        let path = self.version_file_path(version, RISK_FILE)?;
        let bytes = self.read_version_file(version, RISK_FILE)?;
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

    /// Where `name` of `version` is stored, for messages.
    fn version_file_path(&self, version: &str, name: &str) -> Result<PathBuf, RegistryError> {
        check_name(version)?;
        match &self.objects {
            Some(objects) => Ok(objects.url(&["versions", version, name])),
            None => Ok(self.version_dir(version)?.join(name)),
        }
    }

    /// The bytes of `name` of `version`, under the file's cap.
    fn read_version_file(&self, version: &str, name: &str) -> Result<Vec<u8>, RegistryError> {
        check_name(version)?;
        let limit = self.file_limit(name);
        match &self.objects {
            Some(objects) => objects.read(&["versions", version, name], limit),
            None => read_capped(&self.version_dir(version)?.join(name), limit),
        }
    }

    /// The names of the files stored in `version` (an unreadable folder lists none; loading
    /// then reports each missing file).
    fn version_files(&self, version: &str) -> Result<Vec<String>, RegistryError> {
        match &self.objects {
            Some(objects) => self.objects_version_files(objects, version),
            None => Ok(std::fs::read_dir(self.version_dir(version)?)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default()),
        }
    }

    /// Verifies `version` (see [`Registry::load`]).
    pub fn verify(&self, version: &str) -> Result<(), RegistryError> {
        self.load(version).map(|_| ())
    }

    /// After publishing `version` of `dataset`: makes it the production version when `promote`
    /// or when the dataset has none yet, deciding under the alias lock so two first publications
    /// cannot both take the empty alias.
    fn publish_alias(
        &self,
        dataset: &str,
        version: &str,
        promote: bool,
    ) -> Result<(), RegistryError> {
        if let Some(objects) = &self.objects {
            return self.objects_change_alias(objects, dataset, PRODUCTION, "publish", |current| {
                Ok((promote || current.is_none()).then(|| version.to_owned()))
            });
        }
        let _lock = self.lock_aliases()?;
        if promote || self.alias(dataset, PRODUCTION)?.is_none() {
            self.set_alias_locked(dataset, PRODUCTION, version, "publish")?;
        }
        Ok(())
    }
}
