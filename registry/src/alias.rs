//! Aliases: which version of a dataset is served, and how that changes.
//!
//! `aliases/<dataset>/production.json` names the version the inference service serves. An alias
//! change is logged in the history ([`crate::history`]) first and then made by renaming a new
//! alias file over the old one, so the alias always names a complete version. Rollback follows
//! the history back from the current version.
//!
//! Every change is a read-modify-write (read the alias, log the change from it, replace it), so
//! it runs under an exclusive lock on `aliases/.lock`, taken with [`std::fs::File::lock`]: without
//! it, two concurrent promotions could both log a change from the same version and one of them
//! would be lost from the history's chain. The lock is advisory and held by an open file, so a
//! process that dies holding it releases it. The file's name starts with a dot, which no dataset
//! name may, so it is never listed as a dataset.
//!
//! An alias only ever names a version of its own dataset: a change checks the version's manifest
//! ([`RegistryError::WrongDataset`] otherwise), and [`Registry::load_production`] checks it again
//! on the way out, since an alias file may have been written by hand.
//!
//! A dataset is listed by [`Registry::datasets`] only while its production alias file exists: a
//! dataset whose production alias is removed is no longer listed; the service stops serving it at
//! its next reload.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;
use crate::format::{ModelsFile, VersionManifest};
use crate::fsio::{
    create_dir_durable, open_no_follow, read_dir_or_empty, sync_folder, write_atomic,
};
use crate::history::HistoryEntry;
use crate::store::{
    Registry, check_name, fault_point, is_valid_name, now, read_json_if_exists, to_json,
};

/// The alias the inference service serves.
pub const PRODUCTION: &str = "production";

/// The lock file alias changes hold, in `aliases/`.
const LOCK_FILE: &str = ".lock";

/// The content of an alias file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    /// The version the alias names.
    pub version: String,
    /// When it was set (RFC 3339, UTC).
    pub changed: String,
}

impl Registry {
    fn alias_path(&self, dataset: &str, alias: &str) -> Result<std::path::PathBuf, RegistryError> {
        check_name(dataset)?;
        check_name(alias)?;
        Ok(self
            .inside(&["aliases", dataset])?
            .join(format!("{alias}.json")))
    }

    /// The alias file of a dataset, if the alias is set.
    pub fn alias(&self, dataset: &str, alias: &str) -> Result<Option<Alias>, RegistryError> {
        if let Some(objects) = &self.objects {
            check_name(dataset)?;
            check_name(alias)?;
            return self.objects_alias(objects, dataset, alias);
        }
        read_json_if_exists(&self.alias_path(dataset, alias)?, self.limits.alias_bytes)
    }

    /// Datasets with a production alias, sorted. A dataset whose production alias file was
    /// removed is not listed; a linked alias folder is skipped. (An alias file that is itself a
    /// link is listed, so that reading it reports the refusal instead of the dataset silently
    /// disappearing.)
    pub fn datasets(&self) -> Result<Vec<String>, RegistryError> {
        if let Some(objects) = &self.objects {
            return self.objects_datasets(objects, PRODUCTION);
        }
        let dir = self.inside(&["aliases"])?;
        let production = format!("{PRODUCTION}.json");
        let mut names: Vec<String> = read_dir_or_empty(&dir)?
            .into_iter()
            // `file_type` does not follow links: a linked folder is a link, not a folder.
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|e| e.path().join(&production).symlink_metadata().is_ok())
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

    /// Loads and verifies the version `dataset`'s production alias names, as
    /// [`Registry::load_for`] does: `None` when the dataset has no production alias,
    /// [`RegistryError::WrongDataset`] when the alias names a version of another dataset. This is
    /// what a server should load; one that first compares the alias with the version it already
    /// serves can call [`Registry::production`] and then [`Registry::load_for`] for the same
    /// check.
    pub fn load_production(
        &self,
        dataset: &str,
    ) -> Result<Option<(VersionManifest, ModelsFile)>, RegistryError> {
        match self.production(dataset)? {
            Some(version) => self.load_for(dataset, &version).map(Some),
            None => Ok(None),
        }
    }

    /// Makes a verified `version` its dataset's production version.
    pub fn promote(&self, version: &str) -> Result<(), RegistryError> {
        let (manifest, _) = self.load(version)?;
        if let Some(objects) = &self.objects {
            return self.objects_change_alias(
                objects,
                &manifest.dataset.name,
                PRODUCTION,
                "promote",
                |_| Ok(Some(version.to_owned())),
            );
        }
        let _lock = self.lock_aliases()?;
        self.set_alias_locked(&manifest.dataset.name, PRODUCTION, version, "promote")
    }

    /// Points `dataset`'s production alias back at the version it named before the current one,
    /// after verifying it, and returns that version. Rolling back twice goes back two versions:
    /// the history is replayed as a stack where publish and promote push and rollback pops.
    /// A history entry that names another dataset's version is refused
    /// ([`RegistryError::WrongDataset`]) and the alias left as it was.
    pub fn rollback(&self, dataset: &str) -> Result<String, RegistryError> {
        check_name(dataset)?;
        if let Some(objects) = &self.objects {
            let mut chosen = String::new();
            self.objects_change_alias(objects, dataset, PRODUCTION, "rollback", |current| {
                let current =
                    current.ok_or_else(|| RegistryError::NoProduction(dataset.to_owned()))?;
                chosen = self.previous_production(dataset, current)?;
                self.load_for(dataset, &chosen)?;
                Ok(Some(chosen.clone()))
            })?;
            return Ok(chosen);
        }
        // The whole decision is made under the lock: two rollbacks at once must go back two
        // versions, not both to the same one.
        let _lock = self.lock_aliases()?;
        let current = self
            .production(dataset)?
            .ok_or_else(|| RegistryError::NoProduction(dataset.to_owned()))?;
        let previous = self.previous_production(dataset, &current)?;
        self.load_for(dataset, &previous)?;
        self.set_alias_locked(dataset, PRODUCTION, &previous, "rollback")?;
        Ok(previous)
    }

    /// The version `dataset`'s production alias named before `current`, from the history.
    fn previous_production(&self, dataset: &str, current: &str) -> Result<String, RegistryError> {
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
        while stack.last().is_some_and(|top| top != current) {
            stack.pop();
        }
        stack.pop();
        stack
            .pop()
            .ok_or_else(|| RegistryError::NothingToRollBack(dataset.to_owned()))
    }

    /// Takes the exclusive alias lock, creating `aliases/.lock` (and syncing its folder) the
    /// first time; it is released when the returned file is dropped.
    pub(crate) fn lock_aliases(&self) -> Result<File, RegistryError> {
        let folder = self.inside(&["aliases"])?;
        create_dir_durable(&folder).map_err(RegistryError::io(&folder))?;
        let path = folder.join(LOCK_FILE);
        let file = match open_no_follow(OpenOptions::new().write(true), &path) {
            Err(RegistryError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                let file = open_no_follow(
                    OpenOptions::new().write(true).create(true).truncate(false),
                    &path,
                )?;
                sync_folder(&folder).map_err(RegistryError::io(&folder))?;
                file
            }
            opened => opened?,
        };
        file.lock().map_err(RegistryError::io(&path))?;
        Ok(file)
    }

    /// Points `alias` of `dataset` at `version`, which must be a version of `dataset`: logged in
    /// the history first, then an atomic rename of the alias file. The caller holds the alias
    /// lock ([`Registry::lock_aliases`]).
    pub(crate) fn set_alias_locked(
        &self,
        dataset: &str,
        alias: &str,
        version: &str,
        action: &str,
    ) -> Result<(), RegistryError> {
        let path = self.alias_path(dataset, alias)?;
        let names = self.show(version)?.dataset.name;
        if names != dataset {
            return Err(RegistryError::WrongDataset {
                dataset: dataset.to_owned(),
                version: version.to_owned(),
                names,
            });
        }
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
            create_dir_durable(folder).map_err(RegistryError::io(folder))?;
        }
        let alias_file = Alias {
            version: version.to_owned(),
            changed: entry.at,
        };
        write_atomic(&path, &to_json(&alias_file)).map_err(RegistryError::io(&path))?;
        fault_point("alias-set");
        Ok(())
    }
}
