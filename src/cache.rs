//! The store: the cookbooks and universes larder keeps under `$LARDER_HOME`
//! (default `~/.larder`), shared by every project and every larder process.
//!
//! Layout:
//!
//! ```text
//! cookbooks/<name>-<version>/         a registry cookbook, exactly as unpacked
//! cookbooks/<name>-<40-hex>/          a git cookbook at one revision
//! cookbooks/<name>-<version>.sha256   the entry's install record (see below)
//! universes/<sha256 of URL>.json      a source's cached universe
//! universes/<sha256 of URL>.meta.toml its URL, ETag and Last-Modified
//! locks/<name>-<version>.lock         per-entry file locks
//! tmp/                                staging, on the same filesystem; what
//!                                     killed processes left is removed by
//!                                     the next run
//! tmp/<scratch>.lock                  the lock of a scratch directory
//!                                     ([`Store::scratch_dir`])
//! ```
//!
//! An entry is staged in `tmp/`, checked against the digest the lockfile
//! expects, flushed to disk and renamed into place, so an entry that exists
//! is complete, even after a power loss. An entry that exists is still
//! checked against the lockfile's digest before it is used, whoever put it
//! there.
//! The install record beside it holds the artifact's sha256 and the
//! [`tree_digest`] of the files as installed, so that [`Store::verify_entry`]
//! can later tell whether the entry was modified. The record sits outside
//! the entry so that vendoring copies only the cookbook.
//!
//! Two processes installing the same entry take the same file lock: the
//! second waits, then finds the entry present and does nothing.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::version::Version;

/// The environment variable naming the store's directory.
pub const HOME_ENV: &str = "LARDER_HOME";

/// An error from the store.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Berkshelf's `InsufficientPrivledges` (exit 119).
    #[error(
        "cannot use {} as the larder store: {source}. Make it writable, or set {HOME_ENV} to a \
         directory you can write to.",
        path.display()
    )]
    NotWritable { path: PathBuf, source: io::Error },
    /// No `$LARDER_HOME` and no home directory (exit 119).
    #[error("cannot find a home directory for the larder store; set {HOME_ENV} to a directory")]
    NoHome,
    #[error(
        "'{name}' ({version}) cannot be stored: names and versions must be non-empty and contain \
         no path separators or leading dots"
    )]
    InvalidEntry { name: String, version: String },
    #[error("cannot fetch {name} ({version}): {source}")]
    Fill {
        name: String,
        version: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The artifact is not the one the lockfile recorded.
    #[error(
        "the artifact of {name} ({version}) has sha256 {actual}, but the lockfile expects \
         {expected}; nothing was installed. If the cookbook was republished on purpose, run \
         `larder update {name}`."
    )]
    DigestMismatch {
        name: String,
        version: String,
        expected: String,
        actual: String,
    },
    /// Berkshelf's `CookbookNotFound` (exit 103).
    #[error("Cookbook '{name}' ({version}) not found in the cookbook store!")]
    NotInstalled { name: String, version: String },
    #[error(
        "{name} ({version}) in the store has no readable install record at {}; remove it with \
         `larder shelf uninstall {name}` and install again",
        path.display()
    )]
    NoRecord {
        name: String,
        version: String,
        path: PathBuf,
    },
    #[error(
        "{name} ({version}) in the store was installed from an artifact with sha256 {recorded}, \
         but the lockfile expects {expected}; remove it with `larder shelf uninstall {name}` and \
         install again"
    )]
    RecordMismatch {
        name: String,
        version: String,
        expected: String,
        recorded: String,
    },
    #[error(
        "{name} ({version}) at {} was modified after it was installed (its files hash to \
         {actual}, {recorded} when installed); remove it with `larder shelf uninstall {name}` \
         and install again",
        path.display()
    )]
    Tampered {
        name: String,
        version: String,
        path: PathBuf,
        recorded: String,
        actual: String,
    },
    /// A link (or device, FIFO, socket) inside a store entry: entries
    /// hold only files and directories, so it was planted there.
    #[error(
        "{} in the store is a {kind}, but store entries hold only regular files and directories; \
         the entry was tampered with: remove it with `larder shelf uninstall NAME` and install \
         again",
        path.display()
    )]
    NotAFile { path: PathBuf, kind: &'static str },
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

impl CacheError {
    /// The exit code Berkshelf uses for the nearest condition: integrity
    /// failures count as a failed cookbook validation (124).
    pub fn exit_code(&self) -> i32 {
        match self {
            CacheError::NotWritable { .. } | CacheError::NoHome => 119,
            CacheError::NotInstalled { .. } => 103,
            CacheError::DigestMismatch { .. }
            | CacheError::NoRecord { .. }
            | CacheError::RecordMismatch { .. }
            | CacheError::Tampered { .. }
            | CacheError::NotAFile { .. } => 124,
            CacheError::InvalidEntry { .. } | CacheError::Fill { .. } | CacheError::Io { .. } => 47,
        }
    }
}

/// Wraps an I/O error with what was being done to which path.
fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CacheError {
    let path = path.to_path_buf();
    move |source| CacheError::Io {
        action,
        path,
        source,
    }
}

/// What an entry's install record holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The sha256 of the artifact the entry was installed from.
    pub artifact: String,
    /// The [`tree_digest`] of the entry as installed.
    pub tree: String,
}

/// The outcome of [`Store::install`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    pub path: PathBuf,
    /// True when the entry was already in the store and nothing was done.
    pub already_present: bool,
}

/// What follows the name in an entry's directory name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryVersion {
    /// A registry release: its value, and its version as spelled.
    Release { version: Version, raw: String },
    /// A git checkout at a full revision.
    Git { revision: String },
}

/// One cookbook in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub version: EntryVersion,
    pub path: PathBuf,
}

/// The store's directory: `$LARDER_HOME`, or `~/.larder`.
pub fn home() -> Result<PathBuf, CacheError> {
    match std::env::var_os(HOME_ENV) {
        Some(home) if !home.is_empty() => Ok(PathBuf::from(home)),
        _ => Ok(std::env::home_dir()
            .ok_or(CacheError::NoHome)?
            .join(".larder")),
    }
}

/// The store at one directory.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store at `$LARDER_HOME`, or `~/.larder`, created if needed.
    pub fn open() -> Result<Store, CacheError> {
        Store::at(home()?)
    }

    /// The store at `root`, created if needed; an error names the directory
    /// that cannot be written.
    pub fn at(root: impl Into<PathBuf>) -> Result<Store, CacheError> {
        let store = Store { root: root.into() };
        for dir in ["cookbooks", "universes", "locks", "tmp"] {
            let path = store.root.join(dir);
            std::fs::create_dir_all(&path)
                .map_err(|source| CacheError::NotWritable { path, source })?;
        }
        tempfile::tempfile_in(store.tmp()).map_err(|source| CacheError::NotWritable {
            path: store.root.clone(),
            source,
        })?;
        store.sweep_staging();
        Ok(store)
    }

    /// Removes the staging, removal and scratch directories that killed
    /// processes left in `tmp/`. Such a directory is made and used only
    /// under a lock (its entry's, or a scratch directory's own), so one
    /// whose lock is free belongs to no running process; one whose lock is
    /// held is left alone. Directories older larder versions left without
    /// a lock go once they are a day old ([`sweep_if_lockless_and_stale`]).
    /// Best effort: what cannot be removed now is tried again next time.
    fn sweep_staging(&self) {
        let Ok(listing) = std::fs::read_dir(self.tmp()) else {
            return;
        };
        for item in listing.flatten() {
            let file_name = item.file_name();
            let scratch_lock = scratch_lock_path(&item.path());
            if scratch_lock.is_file() {
                if let Ok(lock) = File::open(&scratch_lock)
                    && lock.try_lock().is_ok()
                {
                    let _ = std::fs::remove_dir_all(item.path());
                    let _ = std::fs::remove_file(&scratch_lock);
                }
                continue;
            }
            let Some(entry) = file_name.to_str().and_then(staging_entry) else {
                sweep_if_lockless_and_stale(&item, LEGACY_GIT_EXPORT_PREFIX);
                continue;
            };
            let lock = self.root.join("locks").join(format!("{entry}.lock"));
            if let Ok(lock) = File::open(&lock)
                && lock.try_lock().is_ok()
            {
                let _ = std::fs::remove_dir_all(item.path());
            }
        }
        if let Ok(listing) = std::fs::read_dir(self.root.join("git")) {
            for item in listing.flatten() {
                sweep_if_lockless_and_stale(&item, LEGACY_MIRROR_STAGING_PREFIX);
            }
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A new directory `tmp/<prefix><random>` for work done outside any
    /// entry's lock (a git revision exported before its cookbook's name is
    /// known). Its lock, `tmp/<prefix><random>.lock`, is taken before the
    /// directory is made and given up after it is removed, so that the
    /// next run removes the directory if this process is killed.
    pub fn scratch_dir(&self, prefix: &str) -> Result<ScratchDir, CacheError> {
        let tmp = self.tmp();
        let (lock, lock_path) = tempfile::Builder::new()
            .prefix(prefix)
            .suffix(SCRATCH_LOCK_SUFFIX)
            .tempfile_in(&tmp)
            .and_then(|file| file.keep().map_err(|e| e.error))
            .map_err(io_error("create a lock file in", &tmp))?;
        let scratch = ScratchDir {
            path: lock_path.with_file_name(
                lock_path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .and_then(|name| name.strip_suffix(SCRATCH_LOCK_SUFFIX))
                    .unwrap_or_default(),
            ),
            lock_path,
            lock,
        };
        scratch
            .lock
            .lock()
            .map_err(io_error("lock", &scratch.lock_path))?;
        std::fs::create_dir(&scratch.path).map_err(io_error("create", &scratch.path))?;
        Ok(scratch)
    }

    fn cookbooks(&self) -> PathBuf {
        self.root.join("cookbooks")
    }

    fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The directory of `name` at `version`: a registry version as spelled,
    /// or a git checkout's 40-hex revision.
    pub fn entry_path(&self, name: &str, version: &str) -> PathBuf {
        self.cookbooks().join(format!("{name}-{version}"))
    }

    fn record_path(&self, name: &str, version: &str) -> PathBuf {
        self.cookbooks().join(format!("{name}-{version}.sha256"))
    }

    /// Whether the store holds `name` at `version`.
    pub fn contains(&self, name: &str, version: &str) -> bool {
        valid_component(name) && valid_component(version) && self.entry_path(name, version).is_dir()
    }

    /// Takes the entry's file lock, waiting for another process holding it.
    fn lock_entry(&self, name: &str, version: &str) -> Result<File, CacheError> {
        let path = self
            .root
            .join("locks")
            .join(format!("{name}-{version}.lock"));
        let file = File::create(&path).map_err(io_error("create the lock file", &path))?;
        file.lock().map_err(io_error("lock", &path))?;
        Ok(file)
    }

    /// Installs `name` at `version` (a version as spelled, or a git
    /// revision) unless the store has it already. `fill` populates the
    /// staging directory it is given and returns the sha256 of the artifact
    /// it used; when `expected_sha256` is given and differs, nothing is
    /// installed.
    pub fn install<E>(
        &self,
        name: &str,
        version: &str,
        expected_sha256: Option<&str>,
        fill: impl FnOnce(&Path) -> Result<String, E>,
    ) -> Result<Installed, CacheError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        check_entry(name, version)?;
        let path = self.entry_path(name, version);
        // An entry already there, whoever put it there (another process may
        // have installed it while this one waited for the lock), is used
        // only if it is the artifact expected and unmodified.
        let present = || -> Result<Installed, CacheError> {
            self.verify_entry(name, version, expected_sha256)?;
            Ok(Installed {
                path: path.clone(),
                already_present: true,
            })
        };
        if path.is_dir() {
            return present();
        }
        let _lock = self.lock_entry(name, version)?;
        if path.is_dir() {
            return present();
        }
        let tmp = self.tmp();
        let stage = tempfile::Builder::new()
            .prefix(&format!("{name}-{version}."))
            .tempdir_in(&tmp)
            .map_err(io_error("create a staging directory in", &tmp))?;
        let actual = fill(stage.path())
            .map_err(|e| CacheError::Fill {
                name: name.to_string(),
                version: version.to_string(),
                source: e.into(),
            })?
            .to_ascii_lowercase();
        if let Some(expected) = expected_sha256
            && !expected.eq_ignore_ascii_case(&actual)
        {
            return Err(CacheError::DigestMismatch {
                name: name.to_string(),
                version: version.to_string(),
                expected: expected.to_ascii_lowercase(),
                actual,
            });
        }
        let record = Record {
            artifact: actual,
            tree: tree_digest(stage.path())?,
        };
        let record_path = self.record_path(name, version);
        let text = toml::to_string(&record).map_err(|e| CacheError::Io {
            action: "encode the install record",
            path: record_path.clone(),
            source: io::Error::other(e),
        })?;
        write_atomically(&record_path, text.as_bytes())?;
        crate::atomic_file::sync_tree(stage.path(), crate::atomic_file::LinkedFiles::Flush)
            .map_err(io_error("flush", stage.path()))?;
        let staged = stage.keep();
        if let Err(source) = crate::atomic_file::rename(&staged, &path) {
            // Best effort: the staging directory is garbage either way.
            let _ = std::fs::remove_dir_all(&staged);
            return Err(CacheError::Io {
                action: "move the staged cookbook to",
                path,
                source,
            });
        }
        Ok(Installed {
            path,
            already_present: false,
        })
    }

    /// The install record of an entry.
    pub fn record(&self, name: &str, version: &str) -> Result<Record, CacheError> {
        check_entry(name, version)?;
        let path = self.record_path(name, version);
        let no_record = || CacheError::NoRecord {
            name: name.to_string(),
            version: version.to_string(),
            path: path.clone(),
        };
        let text = std::fs::read_to_string(&path).map_err(|_| no_record())?;
        toml::from_str(&text).map_err(|_| no_record())
    }

    /// Checks an entry against its install record: that it was installed
    /// from the artifact `expected_sha256` names (when given), and that its
    /// files still hash to what they did then. Returns the record.
    pub fn verify_entry(
        &self,
        name: &str,
        version: &str,
        expected_sha256: Option<&str>,
    ) -> Result<Record, CacheError> {
        check_entry(name, version)?;
        let path = self.entry_path(name, version);
        if !path.is_dir() {
            return Err(CacheError::NotInstalled {
                name: name.to_string(),
                version: version.to_string(),
            });
        }
        let record = self.record(name, version)?;
        if let Some(expected) = expected_sha256
            && !expected.eq_ignore_ascii_case(&record.artifact)
        {
            return Err(CacheError::RecordMismatch {
                name: name.to_string(),
                version: version.to_string(),
                expected: expected.to_ascii_lowercase(),
                recorded: record.artifact,
            });
        }
        let actual = tree_digest(&path)?;
        if actual != record.tree {
            return Err(CacheError::Tampered {
                name: name.to_string(),
                version: version.to_string(),
                path,
                recorded: record.tree,
                actual,
            });
        }
        Ok(record)
    }

    /// Every cookbook in the store, sorted by name, then version (releases
    /// before git checkouts). Directories that are not entries are skipped.
    pub fn entries(&self) -> Result<Vec<Entry>, CacheError> {
        let dir = self.cookbooks();
        let mut entries = Vec::new();
        for item in std::fs::read_dir(&dir).map_err(io_error("list", &dir))? {
            let item = item.map_err(io_error("list", &dir))?;
            let is_dir = item
                .file_type()
                .map_err(io_error("inspect", &item.path()))?
                .is_dir();
            let file_name = item.file_name();
            let Some((name, suffix)) = file_name.to_str().and_then(|n| n.rsplit_once('-')) else {
                continue;
            };
            let version = if crate::lock::is_full_revision(suffix) {
                EntryVersion::Git {
                    revision: suffix.to_string(),
                }
            } else if let Ok(version) = suffix.parse() {
                EntryVersion::Release {
                    raw: suffix.to_string(),
                    version,
                }
            } else {
                continue;
            };
            if is_dir && !name.is_empty() {
                entries.push(Entry {
                    name: name.to_string(),
                    version,
                    path: item.path(),
                });
            }
        }
        entries.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
        Ok(entries)
    }

    /// Removes an entry and its record; false if it was not there.
    pub fn remove(&self, name: &str, version: &str) -> Result<bool, CacheError> {
        check_entry(name, version)?;
        let _lock = self.lock_entry(name, version)?;
        let path = self.entry_path(name, version);
        if !path.is_dir() {
            return Ok(false);
        }
        // Move it out of sight first, so that no one sees half an entry.
        let tmp = self.tmp();
        let doomed = tempfile::Builder::new()
            .prefix(&format!("{name}-{version}.removed."))
            .tempdir_in(&tmp)
            .map_err(io_error("create a directory in", &tmp))?;
        let target = doomed.path().join("entry");
        std::fs::rename(&path, &target).map_err(io_error("move out of the store", &path))?;
        doomed.close().map_err(io_error("delete", &target))?;
        let record = self.record_path(name, version);
        match std::fs::remove_file(&record) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error("delete", &record)(e)),
            _ => Ok(true),
        }
    }

    /// The cache slot for the universe of the source at `url`.
    pub fn universe_cache(&self, url: &str) -> UniverseCache {
        let key = hex::encode(Sha256::digest(url.as_bytes()));
        let dir = self.root.join("universes");
        UniverseCache {
            url: url.to_string(),
            body: dir.join(format!("{key}.json")),
            meta: dir.join(format!("{key}.meta.toml")),
        }
    }
}

/// The HTTP validators of a cached universe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniverseMeta {
    /// The URL the universe was fetched from.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

/// Where one source's universe is cached: its body and its metadata.
#[derive(Clone, Debug)]
pub struct UniverseCache {
    url: String,
    body: PathBuf,
    meta: PathBuf,
}

impl UniverseCache {
    /// The cached body (it may not exist yet).
    pub fn body_path(&self) -> &Path {
        &self.body
    }

    /// The validators of the cached copy, or `None` when there is no usable
    /// copy (no body, or metadata missing, unreadable or for another URL):
    /// a cache miss, never an error.
    pub fn meta(&self) -> Option<UniverseMeta> {
        if !self.body.is_file() {
            return None;
        }
        let text = std::fs::read_to_string(&self.meta).ok()?;
        let meta: UniverseMeta = toml::from_str(&text).ok()?;
        (meta.url == self.url).then_some(meta)
    }

    /// Replaces the cached copy: the body, then its metadata, each written
    /// atomically.
    pub fn store(
        &self,
        body: &[u8],
        etag: Option<&str>,
        last_modified: Option<&str>,
    ) -> Result<(), CacheError> {
        let meta = UniverseMeta {
            url: self.url.clone(),
            etag: etag.map(str::to_string),
            last_modified: last_modified.map(str::to_string),
        };
        let text = toml::to_string(&meta).map_err(|e| CacheError::Io {
            action: "encode the universe metadata",
            path: self.meta.clone(),
            source: io::Error::other(e),
        })?;
        write_atomically(&self.body, body)?;
        write_atomically(&self.meta, text.as_bytes())
    }
}

/// A sha256 over a directory's regular files, in hex.
///
/// The digest is that of the lines `<sha256 of the file's content>  <path>\n`,
/// one per regular file, with paths relative to `dir`, separated by `/`,
/// sorted bytewise. Directories themselves (so empty ones) do not count; a
/// symbolic link or any other kind of file is an error. For names without newlines or backslashes it is what
/// `cd DIR && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0
/// sha256sum | sha256sum` prints.
pub fn tree_digest(dir: &Path) -> Result<String, CacheError> {
    let mut files = Vec::new();
    for item in walkdir::WalkDir::new(dir).follow_links(false) {
        let item = item.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_path_buf();
            io_error("read", &path)(e.into())
        })?;
        let kind = item.file_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(CacheError::NotAFile {
                path: item.into_path(),
                kind: if kind.is_symlink() {
                    "symbolic link"
                } else {
                    "special file"
                },
            });
        }
        let relative = item.path().strip_prefix(dir).unwrap_or(item.path());
        let mut key = Vec::new();
        for (i, part) in relative.components().enumerate() {
            if i > 0 {
                key.push(b'/');
            }
            key.extend_from_slice(part.as_os_str().as_encoded_bytes());
        }
        files.push((key, item.into_path()));
    }
    files_digest(files)
}

/// The digest [`tree_digest`] computes, over a given list of files: each
/// is a `/`-separated relative name and the path to read it from.
pub fn files_digest(mut files: Vec<(Vec<u8>, PathBuf)>) -> Result<String, CacheError> {
    files.sort();
    let mut listed = Vec::with_capacity(files.len());
    for (key, path) in files {
        let mut file = File::open(&path).map_err(io_error("read", &path))?;
        let mut hasher = Sha256::new();
        io::copy(&mut file, &mut hasher).map_err(io_error("read", &path))?;
        listed.push((key, hex::encode(hasher.finalize())));
    }
    Ok(file_list_digest(
        listed
            .iter()
            .map(|(key, sha256)| (key.as_slice(), sha256.as_str())),
    ))
}

/// The digest [`tree_digest`] computes, over a file list already hashed:
/// `(relative name, sha256 in hex)` pairs sorted by name.
pub fn file_list_digest<'a>(files: impl IntoIterator<Item = (&'a [u8], &'a str)>) -> String {
    let mut tree = Sha256::new();
    for (name, sha256) in files {
        tree.update(sha256.as_bytes());
        tree.update(b"  ");
        tree.update(name);
        tree.update(b"\n");
    }
    hex::encode(tree.finalize())
}

/// The end of a scratch directory's lock file name.
const SCRATCH_LOCK_SUFFIX: &str = ".lock";

/// The lock file of the scratch directory at `dir`.
fn scratch_lock_path(dir: &Path) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(SCRATCH_LOCK_SUFFIX);
    PathBuf::from(name)
}

/// Where larder versions without scratch directories exported git
/// revisions (`tmp/.git-export-*`) and staged new mirrors
/// (`git/.new-*`), with no lock to tell whether a process still uses them.
const LEGACY_GIT_EXPORT_PREFIX: &str = ".git-export-";
const LEGACY_MIRROR_STAGING_PREFIX: &str = ".new-";

/// How long such a lockless directory must have been left unchanged before
/// the sweep takes it for a killed process's: far longer than any export
/// or first fetch runs.
const LEGACY_SCRATCH_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// Removes `item` if it is a directory named `prefix...` that has no
/// scratch lock (so an older larder made it) and has not changed for
/// [`LEGACY_SCRATCH_AGE`]. Best effort, like the rest of the sweep.
fn sweep_if_lockless_and_stale(item: &std::fs::DirEntry, prefix: &str) {
    // The name first: every store open passes each mirror and staging
    // entry through here, and only legacy names are worth a stat.
    if !item
        .file_name()
        .as_encoded_bytes()
        .starts_with(prefix.as_bytes())
        || !item.file_type().is_ok_and(|kind| kind.is_dir())
    {
        return;
    }
    let path = item.path();
    let stale = || {
        item.metadata()
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age >= LEGACY_SCRATCH_AGE)
    };
    if !scratch_lock_path(&path).exists() && stale() {
        let _ = std::fs::remove_dir_all(&path);
    }
}

/// A directory made by [`Store::scratch_dir`], removed (and then its lock
/// given up) when dropped.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
    lock_path: PathBuf,
    /// Held (locked) until the directory is gone.
    lock: File,
}

impl ScratchDir {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// The entry (`<name>-<version>`) a directory in `tmp/` stages or
/// removes: [`Store::install`] names it `<entry>.<random>`,
/// [`Store::remove`] `<entry>.removed.<random>`.
fn staging_entry(dir_name: &str) -> Option<&str> {
    let (prefix, _) = dir_name.rsplit_once('.')?;
    let entry = prefix.strip_suffix(".removed").unwrap_or(prefix);
    let (name, version) = entry.rsplit_once('-')?;
    (valid_component(name) && valid_component(version)).then_some(entry)
}

/// A name or version that is safe as part of a directory name.
fn valid_component(text: &str) -> bool {
    !text.is_empty() && !text.starts_with('.') && !text.contains(['/', '\\', '\0'])
}

fn check_entry(name: &str, version: &str) -> Result<(), CacheError> {
    if valid_component(name) && valid_component(version) {
        Ok(())
    } else {
        Err(CacheError::InvalidEntry {
            name: name.to_string(),
            version: version.to_string(),
        })
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    crate::atomic_file::write(path, bytes).map_err(io_error("write", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("home")).unwrap();
        (dir, store)
    }

    /// A fill that writes a tiny cookbook and reports `digest`.
    fn cookbook(digest: &str) -> impl FnOnce(&Path) -> Result<String, io::Error> + '_ {
        move |dir: &Path| {
            std::fs::create_dir_all(dir.join("recipes"))?;
            std::fs::write(dir.join("metadata.json"), "{\"name\":\"apt\"}")?;
            std::fs::write(dir.join("recipes/default.rb"), "package 'apt'\n")?;
            Ok(digest.to_string())
        }
    }

    fn staging_is_empty(store: &Store) -> bool {
        std::fs::read_dir(store.tmp()).unwrap().next().is_none()
    }

    #[test]
    fn creates_the_layout_and_names_unwritable_homes() {
        let (dir, store) = store();
        for sub in ["cookbooks", "universes", "locks", "tmp"] {
            assert!(store.root().join(sub).is_dir());
        }
        let file = dir.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        let err = Store::at(file.join("store")).unwrap_err();
        assert_eq!(err.exit_code(), 119);
        assert!(err.to_string().contains("a-file/store"), "{err}");
    }

    #[test]
    fn installs_once_then_does_nothing() {
        let (_dir, store) = store();
        let digest = "AB".repeat(32);
        let installed = store
            .install("apt", "2.3.6", Some(&"ab".repeat(32)), cookbook(&digest))
            .unwrap();
        assert!(!installed.already_present);
        assert_eq!(installed.path, store.entry_path("apt", "2.3.6"));
        assert!(installed.path.join("recipes/default.rb").is_file());
        assert!(store.contains("apt", "2.3.6"));
        assert!(staging_is_empty(&store));

        let again = store
            .install(
                "apt",
                "2.3.6",
                None,
                |_: &Path| -> Result<String, io::Error> {
                    panic!("an installed entry is not fetched again")
                },
            )
            .unwrap();
        assert!(again.already_present);

        let record = store.verify_entry("apt", "2.3.6", Some(&digest)).unwrap();
        assert_eq!(record.artifact, "ab".repeat(32));
        assert_eq!(record.tree, tree_digest(&installed.path).unwrap());
    }

    #[test]
    fn a_digest_mismatch_installs_nothing() {
        let (_dir, store) = store();
        let err = store
            .install(
                "apt",
                "2.3.6",
                Some(&"00".repeat(32)),
                cookbook(&"11".repeat(32)),
            )
            .unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains("apt (2.3.6)"), "{shown}");
        assert!(
            shown.contains(&"00".repeat(32)) && shown.contains(&"11".repeat(32)),
            "{shown}"
        );
        assert!(!store.contains("apt", "2.3.6"));
        assert!(!store.record_path("apt", "2.3.6").exists());
        assert!(staging_is_empty(&store));
        assert!(store.entries().unwrap().is_empty());
    }

    #[test]
    fn a_failed_fill_installs_nothing() {
        let (_dir, store) = store();
        let err = store
            .install("apt", "2.3.6", None, |dir: &Path| {
                std::fs::write(dir.join("partial"), "x")?;
                Err(io::Error::other("connection reset"))
            })
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot fetch apt (2.3.6): connection reset")
        );
        assert!(!store.contains("apt", "2.3.6") && staging_is_empty(&store));
    }

    #[test]
    fn verify_detects_tampering() {
        let (_dir, store) = store();
        let digest = "ab".repeat(32);
        let installed = store
            .install("apt", "2.3.6", None, cookbook(&digest))
            .unwrap();
        assert!(matches!(
            store.verify_entry("apt", "2.3.6", Some(&"cd".repeat(32))),
            Err(CacheError::RecordMismatch { .. })
        ));
        std::fs::write(installed.path.join("recipes/default.rb"), "evil\n").unwrap();
        let err = store
            .verify_entry("apt", "2.3.6", Some(&digest))
            .unwrap_err();
        assert!(matches!(err, CacheError::Tampered { .. }), "{err}");
        assert_eq!(err.exit_code(), 124);

        let err = store.verify_entry("apt", "9.9.9", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Cookbook 'apt' (9.9.9) not found in the cookbook store!"
        );
        std::fs::remove_file(store.record_path("apt", "2.3.6")).unwrap();
        assert!(matches!(
            store.verify_entry("apt", "2.3.6", None),
            Err(CacheError::NoRecord { .. })
        ));
    }

    #[test]
    fn entries_list_and_remove() {
        let (_dir, store) = store();
        let digest = "ab".repeat(32);
        let revision = "93f5768b7d14df45e10d16c8bf6fe98ba3ff809a";
        for (name, version) in [
            ("build-essential", "1.4.2"),
            ("apt", "2.3.6"),
            ("apt", "10.0"),
            ("fixture", revision),
        ] {
            store
                .install(name, version, None, cookbook(&digest))
                .unwrap();
        }
        std::fs::create_dir(store.cookbooks().join("not-an-entry")).unwrap();
        let listed: Vec<(String, String)> = store
            .entries()
            .unwrap()
            .into_iter()
            .map(|e| {
                let version = match e.version {
                    EntryVersion::Release { raw, .. } => raw,
                    EntryVersion::Git { revision } => revision,
                };
                (e.name, version)
            })
            .collect();
        let expected: Vec<(String, String)> = [
            ("apt", "2.3.6"),
            ("apt", "10.0"),
            ("build-essential", "1.4.2"),
            ("fixture", revision),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        assert_eq!(listed, expected);

        assert!(store.remove("apt", "2.3.6").unwrap());
        assert!(!store.remove("apt", "2.3.6").unwrap());
        assert!(!store.contains("apt", "2.3.6"));
        assert!(!store.record_path("apt", "2.3.6").exists());
        assert!(staging_is_empty(&store));
        assert_eq!(store.entries().unwrap().len(), 3);
    }

    #[test]
    fn rejects_names_that_escape_the_store() {
        let (_dir, store) = store();
        for (name, version) in [
            ("../evil", "1.0"),
            ("apt", "../../x"),
            ("", "1.0"),
            (".hidden", "1"),
        ] {
            let err = store
                .install(name, version, None, cookbook("x"))
                .unwrap_err();
            assert!(matches!(err, CacheError::InvalidEntry { .. }), "{err}");
        }
    }

    #[test]
    fn concurrent_installs_fill_once() {
        let (_dir, store) = store();
        let fills = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (store, fills, barrier) = (store.clone(), fills.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    store
                        .install("apt", "2.3.6", None, |dir: &Path| {
                            fills.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            cookbook(&"ab".repeat(32))(dir)
                        })
                        .unwrap()
                })
            })
            .collect();
        let results: Vec<Installed> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(fills.load(Ordering::SeqCst), 1);
        assert_eq!(results.iter().filter(|r| !r.already_present).count(), 1);
        store.verify_entry("apt", "2.3.6", None).unwrap();
    }

    #[test]
    fn scratch_directories_go_when_dropped_and_after_a_killed_process() {
        let (_dir, store) = store();
        let held = store.scratch_dir(".git-export-").unwrap();
        std::fs::write(held.path().join("metadata.rb"), "name 'x'\n").unwrap();
        let held_lock = scratch_lock_path(held.path());
        assert!(held_lock.is_file());
        // What a killed process leaves: the directory and its lock file,
        // the lock free.
        let left = store.tmp().join(".git-export-left");
        std::fs::create_dir_all(left.join("recipes")).unwrap();
        std::fs::write(scratch_lock_path(&left), "").unwrap();
        let reopened = Store::at(store.root()).unwrap();
        assert!(!left.exists() && !scratch_lock_path(&left).exists());
        // One that a live process holds stays.
        assert!(held.path().join("metadata.rb").is_file() && held_lock.is_file());
        let path = held.path().to_path_buf();
        drop(held);
        assert!(!path.exists() && !held_lock.exists());
        assert!(staging_is_empty(&reopened));
    }

    #[test]
    fn lockless_scratch_of_older_versions_goes_once_it_is_a_day_old() {
        let (_dir, store) = store();
        let day_old = std::time::SystemTime::now() - LEGACY_SCRATCH_AGE;
        let make = |path: PathBuf, modified: std::time::SystemTime| {
            std::fs::create_dir_all(path.join("recipes")).unwrap();
            std::fs::write(path.join("recipes/default.rb"), "log 'x'\n").unwrap();
            File::open(&path).unwrap().set_modified(modified).unwrap();
            path
        };
        let old_export = make(store.tmp().join(".git-export-AbC123"), day_old);
        let old_mirror = make(store.root().join("git/.new-XyZ789"), day_old);
        let fresh_export = make(
            store.tmp().join(".git-export-fresh1"),
            std::time::SystemTime::now(),
        );
        // A mirror is never swept, however old.
        let mirror = make(store.root().join("git").join("ab".repeat(32)), day_old);

        Store::at(store.root()).unwrap();
        assert!(!old_export.exists() && !old_mirror.exists());
        assert!(fresh_export.is_dir() && mirror.is_dir());
    }

    #[test]
    fn tree_digest_is_documented_and_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::write(root.join("a/b/c.rb"), "c\n").unwrap();
        std::fs::write(root.join("a-c"), "").unwrap();
        std::fs::write(root.join("metadata.rb"), "name 'x'\n").unwrap();
        // `a-c` sorts before `a/b/c.rb` ('-' < '/'), unlike a per-directory walk.
        let sha = |text: &str| hex::encode(Sha256::digest(text.as_bytes()));
        let listing = format!(
            "{}  a-c\n{}  a/b/c.rb\n{}  metadata.rb\n",
            sha(""),
            sha("c\n"),
            sha("name 'x'\n")
        );
        let digest = tree_digest(root).unwrap();
        assert_eq!(digest, sha(&listing));
        // What the shell pipeline in the documentation prints for this tree.
        assert_eq!(
            digest,
            "6e21da6274f5cf7946256e7491f6349df94db155eedb4811eb7adf59d77f9cc7"
        );
        std::fs::remove_dir(root.join("empty")).unwrap();
        assert_eq!(tree_digest(root).unwrap(), digest);
        std::fs::write(root.join("a/b/c.rb"), "changed\n").unwrap();
        assert_ne!(tree_digest(root).unwrap(), digest);
    }

    #[test]
    fn universe_cache_round_trips_validators() {
        let (_dir, store) = store();
        let url = "https://supermarket.chef.io/universe";
        let cache = store.universe_cache(url);
        assert!(cache.meta().is_none());
        cache.store(b"{}", Some("\"v1\""), None).unwrap();
        assert_eq!(std::fs::read(cache.body_path()).unwrap(), b"{}");
        assert_eq!(
            cache.meta(),
            Some(UniverseMeta {
                url: url.into(),
                etag: Some("\"v1\"".into()),
                last_modified: None
            })
        );
        let other = store.universe_cache("http://127.0.0.1:26310/universe");
        assert_ne!(other.body_path(), cache.body_path());
        assert!(other.meta().is_none());
        std::fs::write(&cache.meta, "not toml [").unwrap();
        assert!(cache.meta().is_none());
    }
}
