//! The alias history: `history.jsonl`, one JSON line per alias change, oldest first.
//!
//! Appending is the only write. A crash mid-append leaves a torn last line without its newline;
//! readers skip lines that do not parse, and the next append first ends the torn line, so the
//! fragment stays a line of its own and the new entry is not glued onto it (and lost with it).
//! Appends happen under the alias lock ([`crate::alias`]), so they never interleave.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;
use crate::fsio::{create_dir_durable, open_no_follow, read_capped, sync_folder};
use crate::store::Registry;

/// The history's file name, in the registry's root.
const HISTORY_FILE: &str = "history.jsonl";

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

impl Registry {
    fn history_path(&self) -> Result<PathBuf, RegistryError> {
        self.inside(&[HISTORY_FILE])
    }

    /// Appends `entry` durably, ending a torn last line first. The caller holds the alias lock.
    pub(crate) fn append_history(&self, entry: &HistoryEntry) -> Result<(), RegistryError> {
        create_dir_durable(&self.root).map_err(RegistryError::io(&self.root))?;
        let path = self.history_path()?;
        let mut line = serde_json::to_vec(entry).unwrap_or_default();
        line.push(b'\n');
        let mut options = OpenOptions::new();
        options.read(true).append(true);
        let mut file = match open_no_follow(&mut options, &path) {
            Err(RegistryError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                let file = open_no_follow(options.create(true), &path)?;
                sync_folder(&self.root).map_err(RegistryError::io(&self.root))?;
                file
            }
            opened => opened?,
        };
        let size = file.metadata().map_err(RegistryError::io(&path))?.len();
        if size > 0 {
            let mut last = [0u8];
            file.seek(SeekFrom::Start(size - 1))
                .and_then(|_| file.read_exact(&mut last))
                .map_err(RegistryError::io(&path))?;
            if last[0] != b'\n' {
                line.insert(0, b'\n');
            }
        }
        // One write: the entry reaches the file whole or, after a crash, as a torn last line.
        file.write_all(&line)
            .and_then(|()| file.sync_all())
            .map_err(RegistryError::io(&path))
    }

    /// The alias history, oldest first. Lines that do not parse (a torn line from a crash
    /// mid-append) are skipped.
    pub fn history(&self) -> Result<Vec<HistoryEntry>, RegistryError> {
        if let Some(objects) = &self.objects {
            return self.objects_history(objects);
        }
        let path = self.history_path()?;
        let bytes = match read_capped(&path, self.limits.history_bytes) {
            Ok(bytes) => bytes,
            Err(RegistryError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        // Line by line from bytes: a torn line may end inside a UTF-8 character, which must not
        // make the whole file unreadable.
        Ok(bytes
            .split(|&b| b == b'\n')
            .filter_map(|line| serde_json::from_slice(line).ok())
            .collect())
    }
}
