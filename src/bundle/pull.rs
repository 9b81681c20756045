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
//! /srv/cookbooks.larder/tmp/                downloads and unpacking; emptied by every run
//! /srv/cookbooks.larder/lock                held while a pull or rollback runs
//! /srv/cookbooks.larder/store/              `pull --stack`'s local content store
//! ```
//!
//! [`pull_built`] is the common frame: lock, recovery, the in-place check,
//! a staging folder for a builder to fill, then the switch. `pull` fills it
//! from a whole bundle ([`unpack_download`]); `pull --stack` may assemble
//! it from cookbook objects instead (`crate::delivery::pull`).
//!
//! The order of work guarantees that a crash at any point leaves the old or
//! the new set complete at DIR: the bundle is downloaded into `tmp/` while
//! being hashed, refused on a digest mismatch before anything is unpacked,
//! unpacked with the defensive [`crate::archive`] rules, checked file by
//! file against its manifest, renamed into `sets/`, and only then DIR (a
//! symlink) is replaced by renaming a new symlink over it. A DIR that is
//! still a plain directory is first moved into `sets/` (recorded in a
//! journal, so that a crash between that move and the switch is undone by
//! the next run) and becomes the previous set.

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
            source_str: text.to_string(),
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

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Path(path) => write!(f, "{}", path.display()),
            Source::Http(url) => write!(f, "{url}"),
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

    let target = layout.target_for(&expected);
    if layout.current_target()?.as_deref() == Some(target.as_str())
        && layout.set_dir(&expected).join(ARCHIVE_ROOT).is_dir()
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

    let set = layout.set_dir(&expected);
    remove_path(&set)?;
    let work = work.keep();
    fs::rename(&work, &set).map_err(|e| BundleError::io("move the new set to", &set, e))?;
    sync_dir(&layout.sets)?;

    let previous = layout.prepare_switch()?;
    if let Some(previous) = &previous {
        layout.write_previous(previous)?;
    }
    layout.point_at(&target)?;
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
    let replaced = layout.prepare_switch()?;
    if let Some(replaced) = &replaced {
        layout.write_previous(replaced)?;
    }
    layout.point_at(&previous)?;
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
    journal: PathBuf,
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

    /// Undoes an interrupted move-aside and empties `tmp/`.
    fn recover(&self) -> Result<(), BundleError> {
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

    /// Makes DIR ready to be replaced by a symlink and returns the target
    /// that should become the previous set: DIR's link target, or, for a
    /// plain directory, the set it was moved into.
    fn prepare_switch(&self) -> Result<Option<String>, BundleError> {
        let meta = match fs::symlink_metadata(&self.dir) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(BundleError::io("inspect", &self.dir, e)),
        };
        if meta.file_type().is_symlink() {
            return self.current_target();
        }
        if !meta.is_dir() {
            return Err(BundleError::NotADirectory {
                path: self.dir.clone(),
            });
        }
        let id = format!("preexisting-{}", unique_suffix());
        let holder = self.set_dir(&id);
        fs::create_dir_all(&holder).map_err(|e| BundleError::io("create", &holder, e))?;
        write_atomically(&self.journal, id.as_bytes())?;
        let moved = holder.join(ARCHIVE_ROOT);
        fs::rename(&self.dir, &moved).map_err(|e| BundleError::io("move aside", &self.dir, e))?;
        Ok(Some(self.target_for(&id)))
    }

    fn write_previous(&self, target: &str) -> Result<(), BundleError> {
        write_atomically(&self.previous, format!("{target}\n").as_bytes())
    }

    /// Atomically replaces DIR by a symlink to `target`.
    fn point_at(&self, target: &str) -> Result<(), BundleError> {
        let link = self.tmp.join(format!("link-{}", unique_suffix()));
        symlink(target, &link).map_err(|e| BundleError::io("create the link", &link, e))?;
        fs::rename(&link, &self.dir).map_err(|e| BundleError::io("switch", &self.dir, e))?;
        sync_dir(&self.parent)?;
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
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| BundleError::io("sync", dir, e))
}

/// The HTTP client for pulls: larder's own (retries, proxies,
/// `SSL_CERT_FILE`, credentials redacted), with a total time long enough
/// for a large bundle on a slow link.
fn http_client() -> Result<http::Client, BundleError> {
    http::Client::new(http::HttpSettings {
        timeout: Duration::from_secs(30 * 60),
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
            Ok(hashing.finish().1)
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
        let sidecar = Source::parse("http://h/x/b.tgz?v=1").unwrap().sidecar();
        assert_eq!(sidecar.to_string(), "http://h/x/b.tgz.sha256?v=1");
    }
}
