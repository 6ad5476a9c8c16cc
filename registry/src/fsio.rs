//! The registry's file access: durable, atomic writes and capped reads that follow no links.
//!
//! Writes: new content goes to a temporary file in the same folder (so the final rename stays on
//! one file system and is atomic), is flushed to disk, and is renamed over the target; the folder
//! is then synced so the rename itself survives a power cut. A folder the registry creates has
//! its parent synced the same way ([`create_dir_durable`]), or a power cut could lose the folder
//! with everything already flushed inside it.
//!
//! Reads ([`read_capped`]) open the file without following a symbolic link at its name
//! (`O_NOFOLLOW`), accept only a regular file, and read at most a caller-given number of bytes:
//! the size is checked before reading and the read itself stops one byte past the cap, so a file
//! that grows between the two is caught as well. Links in the folders above the file are the
//! caller's to check (`Registry` checks every component below its root); doing that race-free
//! would take `openat` on each component, which needs `unsafe` calls this crate forbids, and
//! someone who can swap registry folders for links between two system calls can rewrite the
//! registry anyway.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::RegistryError;

/// Temporary files of concurrent writers in one process (threads) must not share a name.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let folder = parent_or_dot(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned());
    let temp = folder.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        let mut file = no_follow(&mut options).open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        sync_folder(folder)
    })();
    if result.is_err() {
        // Best effort: the temporary file is garbage either way.
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Writes a new file durably (no rename; for files inside a folder that is itself renamed into
/// place afterwards).
pub fn write_durable(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Flushes a folder's entries (renames, new files) to disk.
pub fn sync_folder(folder: &Path) -> std::io::Result<()> {
    File::open(folder)?.sync_all()
}

/// Creates `path` and whichever of its ancestors are missing, syncing the parent of each folder
/// it creates so the new entries survive a power cut. A folder that exists already (also through
/// a symbolic link, such as a linked registry root) is left as it is.
pub fn create_dir_durable(path: &Path) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut at = path;
    loop {
        match std::fs::metadata(at) {
            Ok(meta) if meta.is_dir() => break,
            Ok(_) => {
                return Err(std::io::Error::new(
                    ErrorKind::NotADirectory,
                    format!("{} exists and is not a folder", at.display()),
                ));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                missing.push(at);
                match at.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => at = parent,
                    _ => break,
                }
            }
            Err(e) => return Err(e),
        }
    }
    for folder in missing.into_iter().rev() {
        match std::fs::create_dir(folder) {
            Ok(()) => {}
            // Another writer created it between our look and our create. It syncs the parent
            // too, but we may go on to write into the folder before it has, so sync anyway.
            Err(e) if e.kind() == ErrorKind::AlreadyExists && folder.is_dir() => {}
            Err(e) => return Err(e),
        }
        sync_folder(parent_or_dot(folder))?;
    }
    Ok(())
}

/// Opens `path` with `options` without following a symbolic link at its name, and only if it is
/// a regular file. A link is [`RegistryError::SymbolicLink`], anything else that is not a file
/// [`RegistryError::NotAFile`].
pub fn open_no_follow(options: &mut OpenOptions, path: &Path) -> Result<File, RegistryError> {
    let is_link =
        || std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink());
    if !cfg!(unix) && is_link() {
        return Err(RegistryError::SymbolicLink {
            path: path.to_path_buf(),
        });
    }
    let file = no_follow(options).open(path).map_err(|source| {
        // O_NOFOLLOW fails with ELOOP on Linux and macOS but EMLINK on FreeBSD: ask the file
        // system what is there instead of decoding the error.
        if is_link() {
            RegistryError::SymbolicLink {
                path: path.to_path_buf(),
            }
        } else {
            RegistryError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    let meta = file.metadata().map_err(RegistryError::io(path))?;
    if !meta.is_file() {
        return Err(RegistryError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    Ok(file)
}

/// The entries of folder `dir` that could be read; a folder that does not exist has none (the
/// registry creates its folders on first write, so a fresh registry lists nothing).
pub fn read_dir_or_empty(dir: &Path) -> Result<Vec<std::fs::DirEntry>, RegistryError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries.filter_map(Result::ok).collect()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(RegistryError::io(dir)(e)),
    }
}

/// The bytes of the regular file `path`, at most `limit` of them: a larger file is
/// [`RegistryError::TooLarge`]. Follows no link at `path` (see [`open_no_follow`]).
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, RegistryError> {
    let file = open_no_follow(OpenOptions::new().read(true), path)?;
    let size = file.metadata().map_err(RegistryError::io(path))?.len();
    read_limited(file, size, limit, path)
}

/// Reads `reader`, which says it holds `size` bytes, refusing it when it holds more than `limit`
/// (whatever it said).
fn read_limited(
    reader: impl Read,
    size: u64,
    limit: u64,
    path: &Path,
) -> Result<Vec<u8>, RegistryError> {
    let too_large = |size| RegistryError::TooLarge {
        path: path.to_path_buf(),
        limit,
        size,
    };
    if size > limit {
        return Err(too_large(size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(RegistryError::io(path))?;
    let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if read > limit {
        return Err(too_large(read));
    }
    Ok(bytes)
}

/// `options` set not to follow a link at the file's name. Also non-blocking, so that opening a
/// FIFO planted where a file should be returns at once (and is then refused as not a file)
/// instead of waiting for a writer; on a regular file the flag changes nothing.
fn no_follow(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    options
}

fn parent_or_dot(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
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
    fn an_unwritable_folder_is_an_error() {
        assert!(write_atomic(Path::new("/nonexistent-folder/x.csv"), b"x").is_err());
    }

    #[test]
    fn writers_on_several_threads_never_share_a_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alias.json");
        std::thread::scope(|scope| {
            for i in 0..16 {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..20 {
                        write_atomic(path, format!("writer {i}").as_bytes()).unwrap();
                    }
                });
            }
        });
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .starts_with("writer ")
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn creates_every_missing_folder_of_a_path_and_accepts_existing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_dir_durable(&deep).unwrap();
        assert!(deep.is_dir());
        create_dir_durable(&deep).unwrap();
        std::fs::write(dir.path().join("file"), b"x").unwrap();
        assert!(create_dir_durable(&dir.path().join("file/sub")).is_err());
    }

    #[test]
    fn a_missing_folder_has_no_entries_and_a_file_is_not_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            read_dir_or_empty(&dir.path().join("missing"))
                .unwrap()
                .is_empty()
        );
        std::fs::write(dir.path().join("a"), b"x").unwrap();
        assert_eq!(read_dir_or_empty(dir.path()).unwrap().len(), 1);
        assert!(read_dir_or_empty(&dir.path().join("a")).is_err());
    }

    #[test]
    fn a_file_at_its_cap_is_read_and_one_byte_more_is_refused_naming_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_capped(&path, 10).unwrap(), b"0123456789");
        match read_capped(&path, 9) {
            Err(RegistryError::TooLarge { limit, size, .. }) => assert_eq!((limit, size), (9, 10)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_file_that_grows_after_its_size_was_checked_is_still_refused() {
        // The reader claims 0 bytes, as a file's metadata would before it grew, then never ends.
        match read_limited(std::io::repeat(b'x'), 0, 1000, Path::new("models.json")) {
            Err(RegistryError::TooLarge { limit, size, .. }) => {
                assert_eq!((limit, size), (1000, 1001))
            }
            other => panic!("{other:?}"),
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_link_a_folder_and_a_fifo_are_not_read_as_files() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target.json");
        std::fs::write(&target, b"{}").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = read_capped(&link, 100).unwrap_err();
        assert!(
            matches!(&err, RegistryError::SymbolicLink { path } if path == &link),
            "{err:?}"
        );
        assert!(err.to_string().contains("does not follow links"), "{err}");
        assert!(matches!(
            read_capped(dir.path(), 100),
            Err(RegistryError::NotAFile { .. })
        ));
        let fifo = dir.path().join("fifo.json");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|status| status.success()) {
            assert!(matches!(
                read_capped(&fifo, 100),
                Err(RegistryError::NotAFile { .. })
            ));
        }
    }
}
