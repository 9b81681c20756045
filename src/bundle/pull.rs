//! `pull`: what a machine of the stack runs to get its cookbooks. Fetches a
//! bundle, proves it is the expected one, unpacks it safely beside the live
//! set and switches to it atomically, keeping the previous set for
//! [`rollback`].
//!
//! On disk, for `--into /srv/cookbooks`:
//!
//! ```text
//! /srv/cookbooks -> cookbooks.larder/sets/<sha256>/cookbooks   (symlink)
//! /srv/cookbooks.larder/sets/<sha256>/      the live set and the previous one
//! /srv/cookbooks.larder/previous            link target of the previous set
//! /srv/cookbooks.larder/switching           the switch under way (see below)
//! /srv/cookbooks.larder/tmp/                downloads and unpacking; emptied by every run
//! /srv/cookbooks.larder/lock                held while a pull or rollback runs
//! /srv/cookbooks.larder/store/              `pull --stack`'s local content store
//! ```
//!
//! [`pull_built`] is the common frame: lock, recovery, the in-place check,
//! a staging folder for a builder to fill, then the switch. `pull` fills it
//! from a whole bundle ([`unpack_download`]); `pull --stack` may assemble
//! it from cookbook ranges instead (`crate::delivery::pull`).
//!
//! The order of work guarantees that a crash at any point, a power loss
//! included, leaves the old or the new set complete at DIR: the bundle is
//! downloaded into `tmp/` while being hashed, refused on a digest mismatch
//! before anything is unpacked, unpacked with the defensive
//! [`crate::archive`] rules (gzip checksums included), checked file by file
//! against its manifest, flushed to disk, renamed into `sets/`, and only
//! then DIR (a symlink) is replaced by renaming a new symlink over it, each
//! rename followed by a flush of its directory. The new value of `previous`
//! is recorded in `switching` before DIR switches and written once it has,
//! so that `previous` never names the live set. A DIR that is still a plain
//! directory exchanges names with a link to the new set in one step
//! (`renameat2(RENAME_EXCHANGE)`) and becomes the previous set; where the
//! kernel cannot exchange names, it is moved into `sets/` first (recorded in
//! `moving-aside`, so that a crash between that move and the switch is
//! undone by the next run).
//!
//! A pull of the bundle DIR already has looks at every file of the live set
//! first: a damaged set is pulled again into a new set beside it.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

use super::manifest::Manifest;
use super::verify::check_unpacked;
use super::{ARCHIVE_ROOT, BundleError, HashingWriter, parse_sha256, parse_sidecar, remove_path};
use crate::archive::{self, Limits};
use crate::http;

/// Where a bundle comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A local path (also what a `file://` URL names).
    Path(PathBuf),
    /// An `http://` or `https://` URL.
    Http(Url),
}

impl Source {
    /// Parses a path, `file://` URL or `http(s)://` URL.
    pub fn parse(text: &str) -> Result<Source, BundleError> {
        let invalid = |reason: String| BundleError::InvalidSource {
            source_str: http::redact(text),
            reason,
        };
        if !text.contains("://") {
            if text.is_empty() {
                return Err(invalid("it is empty".into()));
            }
            return Ok(Source::Path(PathBuf::from(text)));
        }
        let url = Url::parse(text).map_err(|e| invalid(e.to_string()))?;
        match url.scheme() {
            "http" | "https" => Ok(Source::Http(url)),
            "file" => crate::file_url::to_path(&url)
                .map(Source::Path)
                .ok_or_else(|| {
                    invalid("the file:// URL does not name a local absolute path".into())
                }),
            other => Err(invalid(format!("scheme '{other}' is not supported"))),
        }
    }

    /// The sidecar `<source>.sha256` beside it.
    fn sidecar(&self) -> Source {
        match self {
            Source::Path(path) => Source::Path(super::verify::sidecar_path(path)),
            Source::Http(url) => {
                let mut sidecar = url.clone();
                sidecar.set_path(&format!("{}.sha256", url.path()));
                Source::Http(sidecar)
            }
        }
    }
}

/// The source as messages name it: a URL's credentials are redacted.
impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Path(path) => write!(f, "{}", path.display()),
            Source::Http(url) => write!(f, "{}", http::redact(url.as_str())),
        }
    }
}

/// Settings of one pull.
#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    /// The sha256 the bundle must have; when `None`, read from the
    /// `.sha256` file beside the source.
    pub expected_sha256: Option<String>,
    pub limits: Limits,
}

/// What a pull did.
#[derive(Clone, Debug)]
pub enum PullOutcome {
    /// DIR now points at the new set.
    Switched {
        sha256: String,
        /// The directory DIR now links to.
        set: PathBuf,
        manifest: Manifest,
        /// The link target of the set kept for rollback, if any.
        previous: Option<String>,
    },
    /// DIR already points at this bundle; nothing was fetched or changed.
    AlreadyInPlace { sha256: String },
}

/// What a rollback did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolledBack {
    /// The link target DIR now has.
    pub now: String,
    /// The link target it had, kept as the new previous set.
    pub replaced: Option<String>,
}

/// Fetches the bundle at `source` and switches `into` to it.
pub fn pull(source: &str, into: &Path, options: &PullOptions) -> Result<PullOutcome, BundleError> {
    let source = Source::parse(source)?;
    let expected = match &options.expected_sha256 {
        Some(value) => parse_sha256(value, "--sha256")?,
        None => fetch_sidecar(&source)?,
    };
    pull_with(
        into,
        &expected,
        &source.to_string(),
        &options.limits,
        |out| fetch_into(&source, out),
    )
}

/// Switches `into` to the bundle with sha256 `expected`, which `fetch`
/// writes into the writer it is given and whose sha256 it returns. When
/// `into` already holds that bundle, `fetch` is not called. `origin` names
/// the bundle in errors.
pub fn pull_with(
    into: &Path,
    expected: &str,
    origin: &str,
    limits: &Limits,
    fetch: impl FnOnce(&mut dyn Write) -> Result<String, BundleError>,
) -> Result<PullOutcome, BundleError> {
    pull_built(
        into,
        expected,
        origin,
        2,
        |staging| unpack_download(staging, expected, origin, limits, fetch),
        |_, _| Ok(()),
    )
}

/// Where a set is being built: the pull's state directory (for builders
/// that keep state of their own there), its `tmp/` (emptied by every run)
/// and `work`, the empty directory the set must be built in (the bundle's
/// `cookbooks/` folder goes inside it).
pub struct Staging<'a> {
    pub state: &'a Path,
    pub tmp: &'a Path,
    pub work: &'a Path,
}

/// Switches `into` to the set with id `expected` that `build` makes in
/// the staging directory it is given, and returns the manifest it checked
/// the set against. When `into` already holds that set, `build` is not
/// called. Afterwards, besides the live set and the previous one, the
/// `keep - 2` most recently built other sets stay, and `after_switch` is
/// given the state directory and the `cookbooks/` folders of the sets
/// that stay (still under the pull's lock).
pub fn pull_built<E: From<BundleError>>(
    into: &Path,
    expected: &str,
    origin: &str,
    keep: usize,
    build: impl FnOnce(&Staging<'_>) -> Result<Manifest, E>,
    after_switch: impl FnOnce(&Path, &[PathBuf]) -> Result<(), E>,
) -> Result<PullOutcome, E> {
    let expected = parse_sha256(expected, origin)?;
    let layout = Layout::new(into)?;
    let _lock = layout.lock()?;
    layout.recover()?;

    // The live set is trusted only after a look at every file: a set
    // damaged since (a folder removed, a file edited) is pulled again.
    let live = layout.live_set_id()?;
    if let Some(live) = &live
        && holds_bundle(live, &expected)
        && layout.is_intact(live, origin)
    {
        return Ok(PullOutcome::AlreadyInPlace { sha256: expected });
    }

    let work = tempfile::Builder::new()
        .prefix("set-")
        .tempdir_in(&layout.tmp)
        .map_err(|e| BundleError::io("create a directory in", &layout.tmp, e))?;
    let manifest = build(&Staging {
        state: &layout.state,
        tmp: &layout.tmp,
        work: work.path(),
    })?;

    // A damaged live set is replaced by a new one beside it, never in
    // place, so that DIR switches from one complete set to the other.
    let id = match &live {
        Some(live) if holds_bundle(live, &expected) => format!("{expected}-{}", unique_suffix()),
        _ => expected.clone(),
    };
    let set = layout.set_dir(&id);
    remove_path(&set)?;
    crate::atomic_file::sync_tree(work.path(), crate::atomic_file::LinkedFiles::AlreadyFlushed)
        .map_err(|e| BundleError::io("flush", work.path(), e))?;
    let work = work.keep();
    crate::atomic_file::rename(&work, &set)
        .map_err(|e| BundleError::io("move the new set to", &set, e))?;

    let target = layout.target_for(&id);
    let previous = layout.switch_to(&target)?;
    let kept = layout.collect_garbage(&[Some(target.as_str()), previous.as_deref()], keep)?;
    after_switch(&layout.state, &kept)?;
    Ok(PullOutcome::Switched {
        sha256: expected,
        set: set.join(ARCHIVE_ROOT),
        manifest,
        previous,
    })
}

/// Builds a set from a whole bundle: `fetch` writes it into a file in
/// `tmp/` while it is hashed, a digest other than `expected` is refused
/// before anything is unpacked, and the bundle is unpacked into the
/// staging directory with the defensive [`crate::archive`] rules and
/// checked file by file against its manifest.
pub fn unpack_download(
    staging: &Staging<'_>,
    expected: &str,
    origin: &str,
    limits: &Limits,
    fetch: impl FnOnce(&mut dyn Write) -> Result<String, BundleError>,
) -> Result<Manifest, BundleError> {
    let origin = origin.to_string();
    let download = tempfile::Builder::new()
        .prefix("download-")
        .suffix(".tar.gz")
        .tempfile_in(staging.tmp)
        .map_err(|e| BundleError::io("create a file in", staging.tmp, e))?;
    let cap = limits.max_archive_bytes();
    let mut out = CappedWriter {
        inner: io::BufWriter::with_capacity(1 << 20, download.as_file()),
        written: 0,
        cap,
    };
    let fetched = fetch(&mut out).and_then(|digest| {
        out.flush()
            .map_err(|e| BundleError::io("write", download.path(), e))?;
        Ok(digest)
    });
    if out.written > cap {
        return Err(BundleError::UnsafeArchive {
            origin,
            source: archive::ArchiveError::TooLarge {
                entry: "(download)".into(),
                limit: cap,
            },
        });
    }
    let actual = fetched?;
    drop(out);
    if actual != expected {
        return Err(BundleError::DigestMismatch {
            source_str: origin,
            expected: expected.to_string(),
            actual,
        });
    }

    let reader =
        File::open(download.path()).map_err(|e| BundleError::io("read", download.path(), e))?;
    let unpacked =
        archive::unpack(io::BufReader::new(reader), staging.work, limits).map_err(|source| {
            BundleError::UnsafeArchive {
                origin: origin.clone(),
                source,
            }
        })?;
    let (manifest, differences) = check_unpacked(staging.work, &unpacked, &origin)?;
    if !differences.is_empty() {
        return Err(BundleError::ContentMismatch {
            origin,
            differences,
        });
    }
    Ok(manifest)
}

/// Switches `into` back to the previous set; the set it replaces becomes the
/// previous one, so a second rollback undoes the first.
pub fn rollback(into: &Path) -> Result<RolledBack, BundleError> {
    let layout = Layout::new(into)?;
    let _lock = layout.lock()?;
    layout.recover()?;
    let previous = match fs::read_to_string(&layout.previous) {
        Ok(text) => text.trim_end_matches('\n').to_string(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(BundleError::NoPrevious {
                dir: layout.dir.clone(),
            });
        }
        Err(e) => return Err(BundleError::io("read", &layout.previous, e)),
    };
    if previous.is_empty() || !layout.parent.join(&previous).is_dir() {
        return Err(BundleError::NoPrevious {
            dir: layout.dir.clone(),
        });
    }
    let replaced = layout.switch_to(&previous)?;
    Ok(RolledBack {
        now: previous,
        replaced,
    })
}

/// The paths of one pull target and its state directory.
struct Layout {
    /// DIR, absolute.
    dir: PathBuf,
    parent: PathBuf,
    /// `<DIR name>.larder`, the name of the state directory.
    state_name: OsString,
    state: PathBuf,
    sets: PathBuf,
    tmp: PathBuf,
    previous: PathBuf,
    /// Names a plain DIR moved into `sets/` while it is replaced by a link,
    /// where the kernel cannot exchange the two names at once.
    journal: PathBuf,
    /// The switch under way: the link target DIR is getting, then the one
    /// that becomes `previous` once DIR has it.
    switching: PathBuf,
}

/// The held lock; released when dropped or when the process dies.
struct Lock(File);

impl Drop for Lock {
    fn drop(&mut self) {
        // Closing the file releases the lock as well; this only makes the
        // release immediate.
        let _ = self.0.unlock();
    }
}

impl Layout {
    fn new(into: &Path) -> Result<Layout, BundleError> {
        let dir = std::path::absolute(into).map_err(|e| BundleError::io("resolve", into, e))?;
        let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
            return Err(BundleError::NotADirectory { path: dir.clone() });
        };
        let parent = parent.to_path_buf();
        let mut state_name = name.to_os_string();
        state_name.push(".larder");
        let state = parent.join(&state_name);
        let layout = Layout {
            sets: state.join("sets"),
            tmp: state.join("tmp"),
            previous: state.join("previous"),
            journal: state.join("moving-aside"),
            switching: state.join("switching"),
            state,
            state_name,
            parent,
            dir,
        };
        for path in [&layout.sets, &layout.tmp] {
            fs::create_dir_all(path).map_err(|e| BundleError::io("create", path, e))?;
        }
        Ok(layout)
    }

    fn lock(&self) -> Result<Lock, BundleError> {
        let path = self.state.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| BundleError::io("open", &path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(Lock(file)),
            Err(fs::TryLockError::WouldBlock) => Err(BundleError::Busy {
                dir: self.dir.clone(),
                lock: path,
            }),
            Err(fs::TryLockError::Error(e)) => Err(BundleError::io("lock", &path, e)),
        }
    }

    /// Finishes or undoes an interrupted switch, undoes an interrupted
    /// move-aside and empties `tmp/`.
    fn recover(&self) -> Result<(), BundleError> {
        self.settle_switch()?;
        match fs::read_to_string(&self.journal) {
            Ok(set_name) => {
                let moved = self.sets.join(set_name.trim()).join(ARCHIVE_ROOT);
                if fs::symlink_metadata(&self.dir).is_err() && moved.is_dir() {
                    fs::rename(&moved, &self.dir)
                        .map_err(|e| BundleError::io("restore", &self.dir, e))?;
                }
                remove_path(&self.journal)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(BundleError::io("read", &self.journal, e)),
        }
        let listing = fs::read_dir(&self.tmp).map_err(|e| BundleError::io("list", &self.tmp, e))?;
        for entry in listing {
            let entry = entry.map_err(|e| BundleError::io("list", &self.tmp, e))?;
            remove_path(&entry.path())?;
        }
        Ok(())
    }

    fn set_dir(&self, id: &str) -> PathBuf {
        self.sets.join(id)
    }

    /// The symlink target (relative to DIR's parent) for a set.
    fn target_for(&self, id: &str) -> String {
        format!(
            "{}/sets/{id}/{ARCHIVE_ROOT}",
            self.state_name.to_string_lossy()
        )
    }

    /// The set id a link target names, if it is one of ours.
    fn set_id_of<'a>(&self, target: &'a str) -> Option<&'a str> {
        let prefix = format!("{}/sets/", self.state_name.to_string_lossy());
        target
            .strip_prefix(&prefix)?
            .strip_suffix(&format!("/{ARCHIVE_ROOT}"))
    }

    /// DIR's link target, or `None` when DIR does not exist or is no link.
    fn current_target(&self) -> Result<Option<String>, BundleError> {
        match fs::read_link(&self.dir) {
            Ok(target) => Ok(Some(target.to_string_lossy().into_owned())),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::InvalidInput
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(BundleError::io("read the link", &self.dir, e)),
        }
    }

    /// The id of the set DIR links to, if DIR is one of our links.
    fn live_set_id(&self) -> Result<Option<String>, BundleError> {
        Ok(self
            .current_target()?
            .and_then(|target| self.set_id_of(&target).map(str::to_string)))
    }

    /// Whether every file of the set `id` is there, unchanged, as its
    /// manifest lists it, and nothing else is: no extra file, no link.
    fn is_intact(&self, id: &str, origin: &str) -> bool {
        let root = self.set_dir(id);
        let mut found = archive::Unpacked::default();
        for item in walkdir::WalkDir::new(root.join(ARCHIVE_ROOT)) {
            let Ok(item) = item else { return false };
            if item.file_type().is_dir() {
                continue;
            }
            if !item.file_type().is_file() {
                return false;
            }
            let Ok((sha256, size)) = super::verify::hash_file(item.path()) else {
                return false;
            };
            let Ok(relative) = item.path().strip_prefix(&root) else {
                return false;
            };
            let Some(relative) = relative.to_str() else {
                return false;
            };
            found.files.insert(
                relative.to_string(),
                archive::UnpackedFile {
                    sha256,
                    size,
                    executable: false,
                },
            );
        }
        matches!(check_unpacked(&root, &found, origin), Ok((_, differences)) if differences.is_empty())
    }

    /// Points DIR at `target` and returns the link target it replaces (a
    /// plain DIR is first kept as a set of its own), which becomes the
    /// previous set. The new previous set is written to a journal first and
    /// takes effect once DIR has switched, so that a crash at any point
    /// leaves DIR and `previous` as they were, or both switched.
    fn switch_to(&self, target: &str) -> Result<Option<String>, BundleError> {
        let meta = match fs::symlink_metadata(&self.dir) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.point_at(target)?;
                // Nothing was replaced; a `previous` that names the set now
                // live would make the next rollback a no-op.
                let previous = fs::read_to_string(&self.previous).unwrap_or_default();
                if previous.trim_end() == target {
                    remove_path(&self.previous)?;
                }
                return Ok(None);
            }
            Err(e) => return Err(BundleError::io("inspect", &self.dir, e)),
        };
        if meta.file_type().is_symlink() {
            let replaced = self.current_target()?;
            if let Some(replaced) = &replaced {
                self.begin_switch(target, replaced)?;
            }
            self.point_at(target)?;
            self.settle_switch()?;
            return Ok(replaced);
        }
        if !meta.is_dir() {
            return Err(BundleError::NotADirectory {
                path: self.dir.clone(),
            });
        }
        // A plain directory: it becomes the set `preexisting-...`, by
        // exchanging its name with a link to `target` made in that set, so
        // that DIR never ceases to exist.
        let id = format!("preexisting-{}", unique_suffix());
        let holder = self.set_dir(&id);
        fs::create_dir_all(&holder).map_err(|e| BundleError::io("create", &holder, e))?;
        let kept = holder.join(ARCHIVE_ROOT);
        let replaced = self.target_for(&id);
        self.begin_switch(target, &replaced)?;
        symlink(target, &kept).map_err(|e| BundleError::io("create the link", &kept, e))?;
        sync_dir(&holder)?;
        if exchange(&kept, &self.dir).map_err(|e| BundleError::io("switch", &self.dir, e))? {
            sync_dir(&self.parent)?;
            sync_dir(&holder)?;
        } else {
            remove_path(&kept)?;
            write_atomically(&self.journal, id.as_bytes())?;
            fs::rename(&self.dir, &kept)
                .map_err(|e| BundleError::io("move aside", &self.dir, e))?;
            sync_dir(&holder)?;
            self.point_at(target)?;
        }
        self.settle_switch()?;
        Ok(Some(replaced))
    }

    /// Records the switch of DIR to `target`, after which `replaced` is the
    /// previous set.
    fn begin_switch(&self, target: &str, replaced: &str) -> Result<(), BundleError> {
        write_atomically(
            &self.switching,
            format!("{target}\n{replaced}\n").as_bytes(),
        )
    }

    /// Completes a recorded switch: `previous` is updated if DIR has the
    /// new target, and the record is dropped either way.
    fn settle_switch(&self) -> Result<(), BundleError> {
        let text = match fs::read_to_string(&self.switching) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(BundleError::io("read", &self.switching, e)),
        };
        let mut lines = text.lines();
        if let (Some(target), Some(replaced)) = (lines.next(), lines.next())
            && self.current_target()?.as_deref() == Some(target)
        {
            write_atomically(&self.previous, format!("{replaced}\n").as_bytes())?;
        }
        remove_path(&self.switching)?;
        sync_dir(&self.state)
    }

    /// Atomically replaces DIR by a symlink to `target`.
    fn point_at(&self, target: &str) -> Result<(), BundleError> {
        let link = self.tmp.join(format!("link-{}", unique_suffix()));
        symlink(target, &link).map_err(|e| BundleError::io("create the link", &link, e))?;
        sync_dir(&self.tmp)?;
        crate::atomic_file::rename(&link, &self.dir)
            .map_err(|e| BundleError::io("switch", &self.dir, e))?;
        remove_path(&self.journal)
    }

    /// Removes every set except those the given link targets name and the
    /// `keep - 2` newest others (by modification time); returns the
    /// `cookbooks/` folders of the sets that stay.
    fn collect_garbage(
        &self,
        keep: &[Option<&str>],
        keep_sets: usize,
    ) -> Result<Vec<PathBuf>, BundleError> {
        let keep: Vec<&str> = keep
            .iter()
            .flatten()
            .filter_map(|target| self.set_id_of(target))
            .collect();
        let listing =
            fs::read_dir(&self.sets).map_err(|e| BundleError::io("list", &self.sets, e))?;
        let mut others = Vec::new();
        let mut kept = Vec::new();
        for entry in listing {
            let entry = entry.map_err(|e| BundleError::io("list", &self.sets, e))?;
            let name = entry.file_name();
            if keep.iter().any(|k| name.to_str() == Some(*k)) {
                kept.push(entry.path().join(ARCHIVE_ROOT));
            } else {
                let modified = entry.metadata().and_then(|m| m.modified()).ok();
                others.push((modified, entry.path()));
            }
        }
        others.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
        let extra = keep_sets.saturating_sub(2);
        for (i, (_, path)) in others.into_iter().enumerate() {
            if i < extra {
                kept.push(path.join(ARCHIVE_ROOT));
            } else {
                remove_path(&path)?;
            }
        }
        Ok(kept)
    }
}

/// Exchanges the names `a` and `b` in one step (Linux `renameat2` with
/// `RENAME_EXCHANGE`); `Ok(false)` where the kernel or the filesystem
/// cannot.
fn exchange(a: &Path, b: &Path) -> io::Result<bool> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    use rustix::io::Errno;
    match renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(true),
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Whether the set `id` was unpacked from the bundle with sha256 `sha256`
/// (a repaired set's id carries a suffix).
fn holds_bundle(id: &str, sha256: &str) -> bool {
    id.strip_prefix(sha256)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

/// A name part unique within this machine for this run.
fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos}-{}", std::process::id())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), BundleError> {
    crate::atomic_file::write(path, bytes).map_err(|e| BundleError::io("write", path, e))
}

fn sync_dir(dir: &Path) -> Result<(), BundleError> {
    crate::atomic_file::sync_dir(dir).map_err(|e| BundleError::io("sync", dir, e))
}

/// The HTTP client for pulls: larder's own (retries, proxies,
/// `SSL_CERT_FILE`, credentials redacted), with a total time long enough
/// for a large bundle on a slow link.
fn http_client() -> Result<http::Client, BundleError> {
    http::Client::new(http::HttpSettings {
        timeout: Duration::from_secs(30 * 60),
        deadline: Duration::from_secs(30 * 60),
        ..http::HttpSettings::default()
    })
    .map_err(|e| BundleError::Fetch {
        url: String::new(),
        detail: e.to_string(),
    })
}

/// A failed request as a pull error naming the URL.
fn fetch_error(url: &Url, error: http::HttpError) -> BundleError {
    BundleError::Fetch {
        url: http::redact(url.as_str()),
        detail: error.to_string(),
    }
}

/// Reads the expected digest from the `.sha256` file beside the source.
fn fetch_sidecar(source: &Source) -> Result<String, BundleError> {
    let sidecar = source.sidecar();
    let missing = |detail: String| BundleError::MissingDigest {
        source_str: source.to_string(),
        detail,
    };
    let text = match &sidecar {
        Source::Path(path) => match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(missing(format!("{} does not exist", path.display())));
            }
            Err(e) => return Err(BundleError::io("read", path, e)),
        },
        Source::Http(url) => match http_client()?.get(url.as_str(), &[]) {
            Ok(response) => response.body,
            Err(e) if e.status().is_some_and(|status| status < 500) => {
                return Err(missing(e.to_string()));
            }
            Err(e) => return Err(fetch_error(url, e)),
        },
    };
    parse_sidecar(&String::from_utf8_lossy(&text), &sidecar.to_string())
}

/// Copies the bundle into `out` and returns its sha256.
fn fetch_into(source: &Source, mut out: &mut dyn Write) -> Result<String, BundleError> {
    match source {
        Source::Path(p) => {
            let mut reader = File::open(p).map_err(|e| BundleError::Fetch {
                url: p.display().to_string(),
                detail: e.to_string(),
            })?;
            let mut hashing = HashingWriter::new(out);
            io::copy(&mut reader, &mut hashing)
                .and_then(|_| hashing.flush())
                .map_err(|e| BundleError::io("copy", p, e))?;
            Ok(hashing.finish().1.digest)
        }
        Source::Http(url) => http_client()?
            .download(url.as_str(), &[], &mut out)
            .map_err(|e| fetch_error(url, e)),
    }
}

/// Writes through to `inner` until `cap` bytes, then refuses: a download
/// larger than any bundle may be stops as soon as it is.
struct CappedWriter<W> {
    inner: W,
    written: u64,
    cap: u64,
}

impl<W: Write> Write for CappedWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.written += bytes.len() as u64;
        if self.written > self.cap {
            return Err(io::Error::other("the download exceeds the size limit"));
        }
        self.inner.write_all(bytes)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse() {
        assert_eq!(
            Source::parse("b.tgz").unwrap(),
            Source::Path("b.tgz".into())
        );
        assert_eq!(
            Source::parse("file:///srv/b%20x.tgz").unwrap(),
            Source::Path("/srv/b x.tgz".into())
        );
        assert!(matches!(
            Source::parse("https://h/b.tgz").unwrap(),
            Source::Http(_)
        ));
        let err = Source::parse("ftp://h/b.tgz").unwrap_err();
        assert!(err.to_string().contains("scheme 'ftp'"), "{err}");
        let Source::Http(sidecar) = Source::parse("http://h/x/b.tgz?v=1").unwrap().sidecar() else {
            panic!("an http bundle has an http sidecar");
        };
        assert_eq!(sidecar.as_str(), "http://h/x/b.tgz.sha256?v=1");
    }
}
