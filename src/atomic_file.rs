//! Writing a file so that readers see either the old contents or the new,
//! never a half-written file: a temporary file in the same directory,
//! flushed to disk, then renamed over the target, and the directory flushed
//! so that the rename survives a power loss. The same for whole trees
//! ([`sync_tree`], then [`rename`]).
//!
//! Modes follow what a user expects of a file they may commit: a new file
//! gets 0666 less the umask (as `touch` would create it), an existing file
//! keeps its mode.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut staged = Staged::new_in(parent_or_dot(path))?;
    staged.file().write_all(bytes)?;
    staged.persist(path)
}

/// A file being written beside its future name, for content that is
/// streamed (and may only be named once written): nothing is visible under
/// the final name until [`Staged::persist`]; dropped, it is deleted.
pub struct Staged {
    file: tempfile::NamedTempFile,
    dir: PathBuf,
}

impl Staged {
    /// A new temporary file in `dir`, which must be the target's directory.
    pub fn new_in(dir: &Path) -> std::io::Result<Staged> {
        // The mode asked for at creation is reduced by the umask.
        let file = tempfile::Builder::new()
            .prefix(".larder-")
            .suffix(".tmp")
            .permissions(fs::Permissions::from_mode(0o666))
            .tempfile_in(dir)?;
        Ok(Staged {
            file,
            dir: dir.to_path_buf(),
        })
    }

    /// The file, to write through.
    pub fn file(&mut self) -> &mut fs::File {
        self.file.as_file_mut()
    }

    /// Flushes the file to disk and renames it over `path` (which keeps its
    /// mode if it exists), then flushes the directory.
    pub fn persist(self, path: &Path) -> std::io::Result<()> {
        if let Ok(existing) = fs::metadata(path) {
            let mode = existing.permissions().mode() & 0o7777;
            self.file
                .as_file()
                .set_permissions(fs::Permissions::from_mode(mode))?;
        }
        self.file.as_file().sync_all()?;
        self.file.persist(path).map_err(|e| e.error)?;
        sync_dir(&self.dir)
    }
}

/// The directory a file named `path` is in.
pub fn parent_or_dot(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Flushes a directory's entries (a rename into it, say) to disk.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Flushes every file and directory of the tree at `dir` to disk, the
/// directories after the files: what a tree needs before it is renamed into
/// place, so that after a power loss the new name never shows a partial
/// tree. Links and other kinds of files have nothing to flush; `linked`
/// says whether files with several names are flushed too. The flushes
/// run on several threads, which lets the filesystem commit them together
/// (one journal commit for many files rather than one each).
pub fn sync_tree(dir: &Path, linked: LinkedFiles) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for item in walkdir::WalkDir::new(dir) {
        let item = item.map_err(std::io::Error::from)?;
        let kind = item.file_type();
        if kind.is_file() {
            if linked == LinkedFiles::AlreadyFlushed && item.metadata()?.nlink() > 1 {
                continue;
            }
            files.push(item.into_path());
        } else if kind.is_dir() {
            dirs.push(item.into_path());
        }
    }
    sync_all_of(&files)?;
    sync_all_of(&dirs)
}

/// What [`sync_tree`] does with files that have more than one name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkedFiles {
    /// Flush them like any other file.
    Flush,
    /// Leave them out: the tree's other names for them are in a store that
    /// flushed them when it stored them (a set `pull --stack` assembled by
    /// hard links from its local content store).
    AlreadyFlushed,
}

/// How many flushes [`sync_tree`] runs at once.
const SYNC_THREADS: usize = 16;

/// Flushes every path of `paths`, [`SYNC_THREADS`] at a time.
fn sync_all_of(paths: &[PathBuf]) -> std::io::Result<()> {
    let chunk = paths.len().div_ceil(SYNC_THREADS).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .try_for_each(|path| fs::File::open(path)?.sync_all())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|worker| {
            worker
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("a flush thread panicked")))
        })
    })
}

/// Renames `from` (already flushed: see [`sync_tree`]) to `to`, then
/// flushes `to`'s directory so that the rename survives a power loss.
pub fn rename(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::rename(from, to)?;
    sync_dir(parent_or_dot(to))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        super::write(&path, b"one").unwrap();
        super::write(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_existing_file_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        std::fs::write(&path, b"one").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        super::write(&path, b"two").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o640);
    }
}
