//! `package`: packs a folder of vendored cookbooks into a reproducible
//! `.tar.gz` bundle with a manifest inside and a `sha256sum` file beside.
//!
//! The archive holds one top-level folder, `cookbooks/`, with one folder per
//! cookbook and the manifest `cookbooks/.larder-manifest.json`. It is the
//! same bytes for the same cookbooks on any machine and from any working
//! directory: entries sorted by path bytes, GNU headers with uid/gid 0,
//! empty owner names and the caller's mtime, modes reduced to 0644/0755,
//! directories 0755, and the deterministic parallel gzip of [`super::gzip`].
//!
//! Files are hashed first (for the manifest, which sorts near the start of
//! the archive) and hashed again while they are written; a file that changes
//! in between aborts the run. The archive and sidecar are written through
//! [`crate::atomic_file`], so an error leaves nothing half-written.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use walkdir::WalkDir;

use super::cookbook_ranges::{self, CookbookRange};
use super::gzip::{Finished, ParallelGz};
use super::manifest::{self, CookbookManifest, Manifest};
use super::sha256_states::Checkpointed;
use super::vendor::{relative_name, walk_error};
use super::verify::hash_file;
use super::{ARCHIVE_ROOT, BundleError, HashingWriter};
use crate::archive;

/// The mtime of every entry when `SOURCE_DATE_EPOCH` is not set:
/// 2000-01-01T00:00:00Z (an mtime of 0 makes some tools warn).
pub const DEFAULT_EPOCH: u64 = 946_684_800;

/// One cookbook to pack, as the lockfile describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookbookInfo {
    /// Also the name of its folder.
    pub name: String,
    pub version: String,
    /// Where it came from, as the lockfile records it.
    pub source: String,
}

/// Where to write the bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Into this directory, named `cookbooks-<first 12 hex of digest>.tar.gz`.
    Dir(PathBuf),
    /// At exactly this path.
    File(PathBuf),
}

/// Everything [`package`] needs.
#[derive(Clone, Debug)]
pub struct PackageRequest<'a> {
    /// A folder holding exactly one folder per cookbook (vendor's output).
    pub cookbooks_dir: &'a Path,
    pub cookbooks: &'a [CookbookInfo],
    pub lock_digest: &'a str,
    pub destination: Destination,
    /// Modification time of every entry, in seconds since 1970.
    pub mtime: u64,
    /// Threads for hashing and compression; the output does not depend on it.
    pub threads: usize,
}

/// A written bundle.
#[derive(Clone, Debug)]
pub struct Packaged {
    pub archive: PathBuf,
    pub sidecar: PathBuf,
    /// sha256 of the archive, lower-case hex.
    pub sha256: String,
    pub manifest: Manifest,
    /// Each cookbook's byte range in the archive, in manifest order: where
    /// the stream was cut, the same ranges [`super::cookbook_ranges::scan`]
    /// finds by reading it.
    pub ranges: Vec<CookbookRange>,
    /// The SHA-256 pass over the archive, with its kept states.
    pub hashed: Checkpointed,
    /// Number of cookbook files and their total size.
    pub files: usize,
    pub bytes: u64,
}

/// The mtime for bundle entries: `SOURCE_DATE_EPOCH` when set and
/// non-empty, otherwise [`DEFAULT_EPOCH`].
pub fn epoch_from_env() -> Result<u64, BundleError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse()
            .map_err(|_| BundleError::InvalidEpoch { value }),
        _ => Ok(DEFAULT_EPOCH),
    }
}

/// `cookbooks-<first 12 hex digits>.tar.gz`.
pub fn default_file_name(sha256: &str) -> String {
    format!("cookbooks-{}.tar.gz", &sha256[..sha256.len().min(12)])
}

/// The threads worth using on this machine.
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

struct PlannedFile {
    /// Path inside the archive.
    archive_path: String,
    disk_path: PathBuf,
    executable: bool,
    size: u64,
    sha256: String,
}

/// Packs the cookbooks and writes the archive and its `.sha256` sidecar.
pub fn package(request: &PackageRequest<'_>) -> Result<Packaged, BundleError> {
    check_cookbooks(request)?;
    let mut files = Vec::new();
    let mut dirs = BTreeSet::new();
    dirs.insert(format!("{ARCHIVE_ROOT}/"));
    for cookbook in request.cookbooks {
        let dir = request.cookbooks_dir.join(&cookbook.name);
        list_files(&dir, &cookbook.name, &mut files, &mut dirs)?;
    }
    hash_all(&mut files, request.threads)?;
    let manifest = build_manifest(request, &files);
    let manifest_json = manifest.to_json();

    let (out_dir, final_path) = match &request.destination {
        Destination::Dir(dir) => (dir.as_path(), None),
        Destination::File(path) => (crate::atomic_file::parent_or_dot(path), Some(path)),
    };
    let mut staged = crate::atomic_file::Staged::new_in(out_dir).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            BundleError::NoOutputFolder {
                path: out_dir.to_path_buf(),
            }
        } else {
            BundleError::io("create a file in", out_dir, e)
        }
    })?;
    let io_err = |e: io::Error| BundleError::io("write the bundle into", out_dir, e);
    let hashing = HashingWriter::new(BufWriter::with_capacity(1 << 20, staged.file()));
    let gz = ParallelGz::new(hashing, request.threads).map_err(io_err)?;
    let mut tar = tar::Builder::new(gz);
    let cut_names = write_entries(&mut tar, request.mtime, &dirs, &files, &manifest_json)?;
    let gz = tar.into_inner().map_err(io_err)?;
    let Finished { out, cuts } = gz.finish().map_err(io_err)?;
    let (buffered, hashed) = out.finish();
    buffered.into_inner().map_err(|e| io_err(e.into_error()))?;
    let ranges = ranges_at_cuts(&manifest, &cut_names, &cuts);
    let sha256 = hashed.digest.clone();

    let archive = final_path.map_or_else(|| out_dir.join(default_file_name(&sha256)), Clone::clone);
    staged
        .persist(&archive)
        .map_err(|e| BundleError::io("move the bundle to", &archive, e))?;
    let sidecar = write_sidecar(&archive, &sha256)?;
    Ok(Packaged {
        archive,
        sidecar,
        sha256,
        manifest,
        ranges,
        hashed,
        files: files.len(),
        bytes: files.iter().map(|f| f.size).sum(),
    })
}

/// Names are single plain folder names, listed once, matching the folders.
fn check_cookbooks(request: &PackageRequest<'_>) -> Result<(), BundleError> {
    let mut names = BTreeSet::new();
    for cookbook in request.cookbooks {
        let name = &cookbook.name;
        let plain = !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0']);
        if !plain {
            return Err(BundleError::InvalidCookbookName { name: name.clone() });
        }
        if !names.insert(name.as_str()) {
            return Err(BundleError::DuplicateCookbook { name: name.clone() });
        }
        let dir = request.cookbooks_dir.join(name);
        if !dir.is_dir() {
            return Err(BundleError::MissingCookbookDir {
                name: name.clone(),
                path: dir,
            });
        }
    }
    let listing = fs::read_dir(request.cookbooks_dir)
        .map_err(|e| BundleError::io("list", request.cookbooks_dir, e))?;
    for entry in listing {
        let entry = entry.map_err(|e| BundleError::io("list", request.cookbooks_dir, e))?;
        let known = entry
            .file_name()
            .to_str()
            .is_some_and(|n| names.contains(n) || n == super::vendor::VENDOR_MARKER);
        if !known {
            return Err(BundleError::UnexpectedEntry { path: entry.path() });
        }
    }
    Ok(())
}

fn list_files(
    dir: &Path,
    name: &str,
    files: &mut Vec<PlannedFile>,
    dirs: &mut BTreeSet<String>,
) -> Result<(), BundleError> {
    for entry in WalkDir::new(dir).follow_links(false) {
        let entry = entry.map_err(|e| walk_error(dir, e))?;
        let rel = relative_name(entry.path(), dir)?;
        let archive_path = if rel.is_empty() {
            format!("{ARCHIVE_ROOT}/{name}")
        } else {
            format!("{ARCHIVE_ROOT}/{name}/{rel}")
        };
        let kind = entry.file_type();
        if kind.is_dir() {
            dirs.insert(format!("{archive_path}/"));
        } else if kind.is_file() {
            let meta = entry.metadata().map_err(|e| walk_error(entry.path(), e))?;
            files.push(PlannedFile {
                archive_path,
                disk_path: entry.path().to_path_buf(),
                executable: meta.permissions().mode() & 0o111 != 0,
                size: meta.len(),
                sha256: String::new(),
            });
        } else if kind.is_symlink() {
            let target = fs::read_link(entry.path()).unwrap_or_default();
            return Err(BundleError::UnsupportedLink {
                link: entry.path().to_path_buf(),
                target,
                reason: "not allowed in a bundle (vendor copies linked files as files)",
            });
        } else {
            return Err(BundleError::SpecialFile {
                path: entry.path().to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Fills in every file's sha256, spreading the files over `threads`.
fn hash_all(files: &mut [PlannedFile], threads: usize) -> Result<(), BundleError> {
    let per_thread = files.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks_mut(per_thread)
            .map(|group| {
                scope.spawn(move || {
                    for file in group {
                        let (sha256, size) = hash_file(&file.disk_path)?;
                        if size != file.size {
                            return Err(BundleError::ChangedDuringPackage {
                                path: file.disk_path.clone(),
                            });
                        }
                        file.sha256 = sha256;
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join().unwrap_or_else(|_| {
                Err(BundleError::io(
                    "hash",
                    Path::new("cookbook files"),
                    io::Error::other("hashing thread panicked"),
                ))
            })
        })
    })
}

fn build_manifest(request: &PackageRequest<'_>, files: &[PlannedFile]) -> Manifest {
    let mut by_name: BTreeMap<&str, CookbookManifest> = request
        .cookbooks
        .iter()
        .map(|c| {
            let entry = CookbookManifest {
                files: BTreeMap::new(),
                name: c.name.clone(),
                source: c.source.clone(),
                version: c.version.clone(),
            };
            (c.name.as_str(), entry)
        })
        .collect();
    for file in files {
        let inside = &file.archive_path[ARCHIVE_ROOT.len() + 1..];
        if let Some((name, rel)) = inside.split_once('/')
            && let Some(cookbook) = by_name.get_mut(name)
        {
            cookbook.files.insert(rel.to_string(), file.sha256.clone());
        }
    }
    Manifest {
        cookbooks: by_name.into_values().collect(),
        format: manifest::FORMAT,
        lock_digest: request.lock_digest.to_string(),
    }
}

enum Entry<'a> {
    Dir,
    Manifest(&'a [u8]),
    File(&'a PlannedFile),
}

/// Writes the entries in path order, cutting the compressed stream where
/// each cookbook's entries begin and after the last one, so that every
/// cookbook is a byte range of the bundle of its own
/// ([`super::cookbook_ranges`]). Returns the cookbook that begins at each
/// cut but the last.
fn write_entries<W: Write>(
    tar: &mut tar::Builder<ParallelGz<W>>,
    mtime: u64,
    dirs: &BTreeSet<String>,
    files: &[PlannedFile],
    manifest_json: &[u8],
) -> Result<Vec<String>, BundleError> {
    let manifest_path = format!("{ARCHIVE_ROOT}/{}", manifest::FILE_NAME);
    let mut entries: Vec<(&str, Entry<'_>)> = Vec::with_capacity(dirs.len() + files.len() + 1);
    entries.extend(dirs.iter().map(|d| (d.as_str(), Entry::Dir)));
    entries.push((&manifest_path, Entry::Manifest(manifest_json)));
    entries.extend(
        files
            .iter()
            .map(|f| (f.archive_path.as_str(), Entry::File(f))),
    );
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));

    let archive_err = |e: io::Error| {
        BundleError::io("write the bundle to", Path::new("the temporary archive"), e)
    };
    let mut cookbook = None;
    let mut cut_names = Vec::new();
    for (path, entry) in entries {
        let entry_cookbook = cookbook_of(path);
        if let Some(name) = entry_cookbook
            && entry_cookbook != cookbook
        {
            tar.get_mut().cut().map_err(archive_err)?;
            cut_names.push(name.to_string());
            cookbook = entry_cookbook;
        }
        match entry {
            Entry::Dir => archive::append_dir(tar, path, mtime).map_err(archive_err)?,
            Entry::Manifest(bytes) => {
                archive::append_file(tar, path, mtime, false, bytes.len() as u64, bytes)
                    .map_err(archive_err)?;
            }
            Entry::File(file) => {
                let source = File::open(&file.disk_path)
                    .map_err(|e| BundleError::io("read", &file.disk_path, e))?;
                let mut reader = HashingReader {
                    inner: source.take(file.size),
                    hasher: Sha256::new(),
                    size: 0,
                    path: &file.disk_path,
                };
                archive::append_file(tar, path, mtime, file.executable, file.size, &mut reader)
                    .map_err(|e| reader.classify(e))?;
                if reader.size != file.size || hex::encode(reader.hasher.finalize()) != file.sha256
                {
                    return Err(BundleError::ChangedDuringPackage {
                        path: file.disk_path.clone(),
                    });
                }
            }
        }
    }
    tar.get_mut().cut().map_err(archive_err)?;
    Ok(cut_names)
}

/// Each cookbook's range, in manifest order: from the cut where it begins
/// (`cuts[i]` for `cut_names[i]`) to the next. (Package cuts once per
/// cookbook, so they always match; if they did not, the ranges would be
/// left empty, and publish, finding them short of the manifest, would
/// check the bundle in full.)
fn ranges_at_cuts(manifest: &Manifest, cut_names: &[String], cuts: &[u64]) -> Vec<CookbookRange> {
    let ranges = cut_names
        .iter()
        .zip(cuts.windows(2))
        .map(|(name, pair)| CookbookRange {
            name: name.clone(),
            start: pair[0],
            end: pair[1],
        })
        .collect();
    cookbook_ranges::in_manifest_order(manifest, ranges).unwrap_or_default()
}

/// The cookbook an archive path belongs to: `<name>` of
/// `cookbooks/<name>/...`; `None` for the top folder and the manifest.
fn cookbook_of(path: &str) -> Option<&str> {
    let (name, _) = path
        .strip_prefix(ARCHIVE_ROOT)?
        .strip_prefix('/')?
        .split_once('/')?;
    Some(name)
}

/// Writes `<archive>.sha256` in `sha256sum` format, atomically.
fn write_sidecar(archive: &Path, sha256: &str) -> Result<PathBuf, BundleError> {
    let file_name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut sidecar = archive.as_os_str().to_owned();
    sidecar.push(".sha256");
    let sidecar = PathBuf::from(sidecar);
    crate::atomic_file::write(&sidecar, format!("{sha256}  {file_name}\n").as_bytes())
        .map_err(|e| BundleError::io("write", &sidecar, e))?;
    Ok(sidecar)
}

/// Reads a cookbook file into the archive while hashing it; errors are
/// reported against the cookbook file.
struct HashingReader<'a, R> {
    inner: R,
    hasher: Sha256,
    size: u64,
    path: &'a Path,
}

impl<R> HashingReader<'_, R> {
    fn classify(&self, e: io::Error) -> BundleError {
        BundleError::io("read or pack", self.path, e)
    }
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}
