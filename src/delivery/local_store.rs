//! The content store `pull --stack` keeps beside the live set, in
//! `<DIR>.larder/store/`: one entry per cookbook file list
//! (`<tree-digest>/files/...`, the cookbook folder's contents, and
//! `<tree-digest>/entry.json`, each file's sha256 and the inode, size and
//! modification time it had when it was checked). Sets are assembled from
//! entries by hard links, so a cookbook that did not change between two
//! bundles is neither fetched nor copied again.
//!
//! Entries are made read-only (0444, 0555 for executables) so that an edit
//! through a link in the live set is unlikely; one that happens anyway is
//! caught before the entry is used again: [`LocalStore::verified`] hashes
//! every file whose inode, size or modification time differs from what
//! `entry.json` recorded, and an entry with a changed file is removed (the
//! cookbook is then fetched again), never linked into a new set. Entries
//! appear by renaming a complete folder into place, so a crash leaves
//! either no entry or a whole one.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use walkdir::WalkDir;

use super::record::tree_digest;
use crate::archive::Unpacked;
use crate::bundle::manifest::{self, Manifest};
use crate::bundle::vendor::{relative_name, walk_error};
use crate::bundle::verify::hash_file;
use crate::bundle::{ARCHIVE_ROOT, BundleError, remove_path};

/// One file of an entry, as it was when last checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    pub sha256: String,
    pub size: u64,
    pub executable: bool,
    pub inode: u64,
    pub mtime_ns: i128,
}

/// `entry.json`: the files and folders of one cookbook entry.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Entry {
    pub files: BTreeMap<String, StoredFile>,
    pub dirs: Vec<String>,
}

impl Entry {
    /// path → sha256, whose [`tree_digest`] names the entry.
    pub fn file_list(&self) -> BTreeMap<String, String> {
        self.files
            .iter()
            .map(|(path, file)| (path.clone(), file.sha256.clone()))
            .collect()
    }

    /// Total bytes of its files.
    pub fn bytes(&self) -> u64 {
        self.files.values().map(|f| f.size).sum()
    }
}

/// The store under a pull's state directory.
pub struct LocalStore {
    root: PathBuf,
}

/// Which file a path of an assembled set came from, to check the set
/// without reading linked files again.
pub type Stamps = BTreeMap<u64, StoredFile>;

impl LocalStore {
    /// Opens (creating) `<state>/store`.
    pub fn open(state: &Path) -> Result<LocalStore, BundleError> {
        let root = state.join("store");
        fs::create_dir_all(&root).map_err(|e| BundleError::io("create", &root, e))?;
        Ok(LocalStore { root })
    }

    /// Whether it holds no entry at all (a cold instance).
    pub fn is_empty(&self) -> Result<bool, BundleError> {
        let mut listing =
            fs::read_dir(&self.root).map_err(|e| BundleError::io("list", &self.root, e))?;
        Ok(listing.next().is_none())
    }

    fn files_dir(&self, tree: &str) -> PathBuf {
        self.root.join(tree).join("files")
    }

    /// The entry `tree`, checked: `None` when there is none, or when it was
    /// damaged (a file changed, missing or not matching the name), in which
    /// case it is removed.
    pub fn verified(&self, tree: &str) -> Result<Option<Entry>, BundleError> {
        let path = self.root.join(tree).join("entry.json");
        let mut entry: Entry = match fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(entry) => entry,
                Err(_) => return self.discard(tree),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // A folder without its entry.json is not an entry.
                return self.discard(tree);
            }
            Err(e) => return Err(BundleError::io("read", &path, e)),
        };
        if tree_digest(&entry.file_list()) != tree {
            return self.discard(tree);
        }
        let files = self.files_dir(tree);
        let mut restamped = false;
        for (rel, stored) in &mut entry.files {
            let file = files.join(rel);
            let meta = match fs::symlink_metadata(&file) {
                Ok(meta) if meta.is_file() => meta,
                _ => return self.discard(tree),
            };
            if stamp_matches(stored, &meta) {
                continue;
            }
            let (sha256, size) = hash_file(&file)?;
            if sha256 != stored.sha256 || size != stored.size {
                return self.discard(tree);
            }
            *stored = stamp(&sha256, stored.executable, &meta);
            restamped = true;
        }
        if restamped {
            write_entry(&self.root.join(tree), &entry)?;
        }
        Ok(Some(entry))
    }

    /// Removes entry `tree` (whatever state it is in); `Ok(None)`.
    fn discard(&self, tree: &str) -> Result<Option<Entry>, BundleError> {
        remove_path(&self.root.join(tree))?;
        Ok(None)
    }

    /// Makes the cookbook unpacked at `staged/files` (whose contents are
    /// `unpacked`, already checked against `tree`) entry `tree`: read-only,
    /// stamped, renamed into place. `staged` must be on the store's file
    /// system (the pull's `tmp/`).
    pub fn insert(
        &self,
        tree: &str,
        staged: &Path,
        unpacked: &Unpacked,
    ) -> Result<Entry, BundleError> {
        let files_dir = staged.join("files");
        let mut entry = Entry {
            files: BTreeMap::new(),
            dirs: unpacked.dirs.clone(),
        };
        for (rel, file) in &unpacked.files {
            let path = files_dir.join(rel);
            let meta = make_read_only(&path, file.executable)?;
            entry
                .files
                .insert(rel.clone(), stamp(&file.sha256, file.executable, &meta));
        }
        self.place(tree, staged, &entry)?;
        Ok(entry)
    }

    /// Makes the cookbook folder `dir` of a set that was just checked
    /// against its manifest (file list `files`) entry `tree`, by hard links
    /// (copies where links are impossible); its files in the set become
    /// read-only too. `staging` is an empty folder on the store's file
    /// system.
    pub fn adopt(
        &self,
        tree: &str,
        dir: &Path,
        files: &BTreeMap<String, String>,
        staging: &Path,
    ) -> Result<(), BundleError> {
        if self.root.join(tree).join("entry.json").is_file() {
            return Ok(());
        }
        let mut entry = Entry::default();
        for item in WalkDir::new(dir).min_depth(1).follow_links(false) {
            let item = item.map_err(|e| walk_error(dir, e))?;
            let rel = relative_name(item.path(), dir)?;
            if item.file_type().is_dir() {
                entry.dirs.push(rel.clone());
                let made = staging.join("files").join(&rel);
                fs::create_dir_all(&made).map_err(|e| BundleError::io("create", &made, e))?;
            }
        }
        for (rel, sha256) in files {
            let from = dir.join(rel);
            let meta = fs::metadata(&from).map_err(|e| BundleError::io("inspect", &from, e))?;
            let executable = meta.permissions().mode() & 0o111 != 0;
            make_read_only(&from, executable)?;
            let to = staging.join("files").join(rel);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent).map_err(|e| BundleError::io("create", parent, e))?;
            }
            let meta = link_or_copy(&from, &to, executable)?;
            entry
                .files
                .insert(rel.clone(), stamp(sha256, executable, &meta));
        }
        self.place(tree, staging, &entry)
    }

    /// Writes `entry.json` into `staged`, flushes it (files included, so
    /// that sets linking them need not) and renames it to entry `tree`.
    fn place(&self, tree: &str, staged: &Path, entry: &Entry) -> Result<(), BundleError> {
        fs::create_dir_all(staged.join("files"))
            .map_err(|e| BundleError::io("create", staged, e))?;
        write_entry(staged, entry)?;
        let target = self.root.join(tree);
        remove_path(&target)?;
        crate::atomic_file::sync_tree(staged, crate::atomic_file::LinkedFiles::Flush)
            .map_err(|e| BundleError::io("flush", staged, e))?;
        crate::atomic_file::rename(staged, &target)
            .map_err(|e| BundleError::io("move into", &target, e))
    }

    /// Links the files of entry `tree` into `dest` (the cookbook's folder
    /// of a set being assembled) and records in `stamps` which inode holds
    /// which checked file.
    pub fn link_into(
        &self,
        tree: &str,
        entry: &Entry,
        dest: &Path,
        stamps: &mut Stamps,
    ) -> Result<(), BundleError> {
        let files = self.files_dir(tree);
        fs::create_dir_all(dest).map_err(|e| BundleError::io("create", dest, e))?;
        for dir in &entry.dirs {
            let made = dest.join(dir);
            fs::create_dir_all(&made).map_err(|e| BundleError::io("create", &made, e))?;
        }
        for (rel, stored) in &entry.files {
            let to = dest.join(rel);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent).map_err(|e| BundleError::io("create", parent, e))?;
            }
            let meta = link_or_copy(&files.join(rel), &to, stored.executable)?;
            if meta.ino() == stored.inode {
                stamps.insert(stored.inode, stored.clone());
            }
        }
        Ok(())
    }

    /// Removes every entry no kept set uses. `sets` are the kept sets'
    /// `cookbooks/` folders; the cookbooks each uses are read from its
    /// manifest.
    pub fn prune(&self, sets: &[PathBuf]) -> Result<(), BundleError> {
        let mut used = BTreeSet::new();
        for set in sets {
            let path = set.join(manifest::FILE_NAME);
            let Ok(bytes) = fs::read(&path) else {
                continue;
            };
            let Ok(manifest) = Manifest::from_json(&bytes, &path.display().to_string()) else {
                continue;
            };
            used.extend(manifest.cookbooks.iter().map(|c| tree_digest(&c.files)));
        }
        let listing =
            fs::read_dir(&self.root).map_err(|e| BundleError::io("list", &self.root, e))?;
        for item in listing {
            let item = item.map_err(|e| BundleError::io("list", &self.root, e))?;
            if !item.file_name().to_str().is_some_and(|n| used.contains(n)) {
                remove_path(&item.path())?;
            }
        }
        Ok(())
    }
}

/// Checks an assembled set (its `cookbooks/` folder) file by file against
/// `manifest`: files whose inode, size and modification time are those of
/// a checked store file in `stamps` count with that file's sha256, any
/// other file is hashed.
pub fn check_set(
    cookbooks: &Path,
    manifest: &Manifest,
    stamps: &Stamps,
) -> Result<Vec<manifest::Difference>, BundleError> {
    let mut actual = BTreeMap::new();
    for item in WalkDir::new(cookbooks).min_depth(1).follow_links(false) {
        let item = item.map_err(|e| walk_error(cookbooks, e))?;
        let rel = relative_name(item.path(), cookbooks)?;
        if rel == manifest::FILE_NAME || item.file_type().is_dir() {
            continue;
        }
        let meta = item.metadata().map_err(|e| walk_error(cookbooks, e))?;
        let known = stamps
            .get(&meta.ino())
            .filter(|stored| meta.is_file() && stamp_matches(stored, &meta));
        let sha256 = match known {
            Some(stored) => stored.sha256.clone(),
            None => hash_file(item.path())?.0,
        };
        actual.insert(format!("{ARCHIVE_ROOT}/{rel}"), sha256);
    }
    Ok(manifest.compare(&actual))
}

fn stamp(sha256: &str, executable: bool, meta: &fs::Metadata) -> StoredFile {
    StoredFile {
        sha256: sha256.to_string(),
        size: meta.size(),
        executable,
        inode: meta.ino(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
    }
}

fn stamp_matches(stored: &StoredFile, meta: &fs::Metadata) -> bool {
    let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
    stored.inode == meta.ino() && stored.size == meta.size() && stored.mtime_ns == mtime_ns
}

/// Sets mode 0444 (0555 when `executable`) and returns the metadata.
fn make_read_only(path: &Path, executable: bool) -> Result<fs::Metadata, BundleError> {
    let mode = if executable { 0o555 } else { 0o444 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .and_then(|()| fs::metadata(path))
        .map_err(|e| BundleError::io("make read-only", path, e))
}

/// Hard-links `from` to `to`, or copies it (read-only) where a link is
/// impossible; returns the metadata of `to`.
fn link_or_copy(from: &Path, to: &Path, executable: bool) -> Result<fs::Metadata, BundleError> {
    if fs::hard_link(from, to).is_err() {
        fs::copy(from, to).map_err(|e| BundleError::io("copy", from, e))?;
        make_read_only(to, executable)?;
    }
    fs::metadata(to).map_err(|e| BundleError::io("inspect", to, e))
}

fn write_entry(dir: &Path, entry: &Entry) -> Result<(), BundleError> {
    let path = dir.join("entry.json");
    let bytes = serde_json::to_vec(entry).unwrap_or_default();
    crate::atomic_file::write(&path, &bytes).map_err(|e| BundleError::io("write", &path, e))
}
