//! Atomic file writes: a crash leaves either the old file or the new one, never half of one.
//!
//! The new content goes to a temporary file in the same folder (so the final rename stays on one
//! file system and is atomic), is flushed to disk, and is renamed over the target; the folder is
//! then synced so the rename itself survives a power cut.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::error::Error;

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned());
    let temp = folder.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = File::create(&temp).map_err(Error::io(&temp))?;
        file.write_all(bytes).map_err(Error::io(&temp))?;
        file.sync_all().map_err(Error::io(&temp))?;
        std::fs::rename(&temp, path).map_err(Error::io(path))?;
        sync_folder(folder)
    })();
    if result.is_err() {
        // Best effort: the temporary file is garbage either way.
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Flushes a folder's entries (renames, new files) to disk.
pub fn sync_folder(folder: &Path) -> Result<(), Error> {
    File::open(folder)
        .and_then(|f| f.sync_all())
        .map_err(Error::io(folder))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_whole_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new content").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new content");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_unwritable_folder_is_an_error_naming_the_file() {
        let err = write_atomic(Path::new("/nonexistent-folder/x.csv"), b"x").unwrap_err();
        assert!(err.to_string().contains("nonexistent-folder"), "{err}");
    }
}
