//! Training in progress: which datasets a running `civicast-train fit` will publish new versions
//! of, so the service and its dashboard can say what is coming while an older or quicker version
//! serves.
//!
//! A marker is `training/<dataset>.json`, written atomically by the fitting process and removed by
//! it when the dataset's version is published or the fit fails. A process killed outright cannot
//! remove its marker, so a marker names its process and host: a reader on the same host skips a
//! marker whose process no longer runs (on Linux, by `/proc/<pid>`), and the next fit of the
//! dataset replaces it. Markers are advisory: nothing in the registry's consistency depends on
//! them.

use std::io::ErrorKind;

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;
use crate::fsio::{create_dir_durable, read_dir_or_empty, write_atomic};
use crate::store::{
    Registry, check_name, is_valid_name, now, parse_json, read_json_if_exists, to_json,
};

/// Where a dataset's fit stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainingState {
    /// Waiting behind other datasets of the same run.
    Queued,
    /// Being backtested and fitted.
    Fitting,
}

/// A fit in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingMarker {
    /// The dataset.
    pub dataset: String,
    /// The models the fit chooses among (`["auto"]` by default).
    pub models: Vec<String>,
    /// Queued or fitting.
    pub state: TrainingState,
    /// When the marker was written (RFC 3339, UTC).
    pub since: String,
    /// Whether the version will be promoted when published (the first version always is).
    pub promote: bool,
    /// The fitting process.
    pub pid: u32,
    /// The host it runs on.
    pub host: String,
}

impl TrainingMarker {
    /// A marker for this process, dated now.
    pub fn new(dataset: &str, models: Vec<String>, state: TrainingState, promote: bool) -> Self {
        TrainingMarker {
            dataset: dataset.to_owned(),
            models,
            state,
            since: now(),
            promote,
            pid: std::process::id(),
            host: host_name(),
        }
    }

    /// Whether the process that wrote the marker is known to have ended: it ran on this host and
    /// no longer does. Elsewhere, or without `/proc`, a marker is believed.
    pub fn is_orphaned(&self) -> bool {
        let proc = std::path::Path::new("/proc");
        self.host == host_name()
            && proc.join("self").exists()
            && !proc.join(self.pid.to_string()).exists()
    }
}

/// This host's name (empty when it cannot be read).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

impl Registry {
    fn training_path(&self, dataset: &str) -> Result<std::path::PathBuf, RegistryError> {
        check_name(dataset)?;
        Ok(self.inside(&["training"])?.join(format!("{dataset}.json")))
    }

    /// Writes (or replaces) the marker of `marker.dataset`.
    pub fn mark_training(&self, marker: &TrainingMarker) -> Result<(), RegistryError> {
        let path = self.training_path(&marker.dataset)?;
        if let Some(objects) = &self.objects {
            return self.objects_write_marker(objects, &marker.dataset, to_json(marker));
        }
        if let Some(folder) = path.parent() {
            create_dir_durable(folder).map_err(RegistryError::io(folder))?;
        }
        write_atomic(&path, &to_json(marker)).map_err(RegistryError::io(&path))
    }

    /// Removes `dataset`'s marker if this process wrote it (a later fit's marker stays).
    pub fn clear_training(&self, dataset: &str) -> Result<(), RegistryError> {
        let path = self.training_path(dataset)?;
        match self.training_marker(dataset)? {
            Some(marker) if marker.pid == std::process::id() && marker.host == host_name() => {
                if let Some(objects) = &self.objects {
                    return self.objects_delete_marker(objects, dataset);
                }
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != ErrorKind::NotFound => Err(RegistryError::io(&path)(e)),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// `dataset`'s marker as written, orphaned or not.
    pub fn training_marker(&self, dataset: &str) -> Result<Option<TrainingMarker>, RegistryError> {
        if let Some(objects) = &self.objects {
            check_name(dataset)?;
            return match self.objects_read_marker(objects, dataset)? {
                Some((path, bytes)) => parse_json(&path, &bytes).map(Some),
                None => Ok(None),
            };
        }
        read_json_if_exists(&self.training_path(dataset)?, self.limits.alias_bytes)
    }

    /// The markers of fits that may still be running, by dataset. An unreadable marker is
    /// skipped: it only ever adds a note.
    pub fn training(&self) -> Result<Vec<TrainingMarker>, RegistryError> {
        let datasets: Vec<String> = match &self.objects {
            Some(objects) => self.objects_markers(objects)?,
            None => read_dir_or_empty(&self.inside(&["training"])?)?
                .into_iter()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let dataset = name.strip_suffix(".json")?.to_owned();
                    is_valid_name(&dataset).then_some(dataset)
                })
                .collect(),
        };
        let mut markers: Vec<TrainingMarker> = datasets
            .into_iter()
            .filter_map(|dataset| self.training_marker(&dataset).ok().flatten())
            .filter(|m| !m.is_orphaned())
            .collect();
        markers.sort_by(|a, b| a.dataset.cmp(&b.dataset));
        Ok(markers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_is_listed_until_its_process_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(dir.path());
        assert!(registry.training().unwrap().is_empty());
        let marker =
            TrainingMarker::new("chicago", vec!["auto".into()], TrainingState::Queued, true);
        registry.mark_training(&marker).unwrap();
        let fitting = TrainingMarker {
            state: TrainingState::Fitting,
            ..marker.clone()
        };
        registry.mark_training(&fitting).unwrap();
        assert_eq!(registry.training().unwrap(), vec![fitting]);
        registry.clear_training("chicago").unwrap();
        assert!(registry.training().unwrap().is_empty());
        // Clearing what is not there is not an error.
        registry.clear_training("chicago").unwrap();
    }

    #[test]
    fn another_process_marker_stays_and_an_ended_one_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(dir.path());
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let ended = child.id();
        child.wait().unwrap();
        let orphan = TrainingMarker {
            pid: ended,
            ..TrainingMarker::new("ended", vec!["auto".into()], TrainingState::Fitting, false)
        };
        // PID 1 runs as long as the machine does.
        let running = TrainingMarker {
            pid: 1,
            ..TrainingMarker::new(
                "running",
                vec!["auto".into()],
                TrainingState::Fitting,
                false,
            )
        };
        registry.mark_training(&orphan).unwrap();
        registry.mark_training(&running).unwrap();
        registry.clear_training("running").unwrap();
        let listed = registry.training().unwrap();
        if std::path::Path::new("/proc/self").exists() {
            assert_eq!(listed, vec![running]);
        } else {
            assert_eq!(listed.len(), 2);
        }
    }

    #[test]
    fn a_bad_dataset_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(dir.path());
        let marker = TrainingMarker::new("../x", vec![], TrainingState::Queued, false);
        assert!(matches!(
            registry.mark_training(&marker),
            Err(RegistryError::BadName(_))
        ));
    }
}
