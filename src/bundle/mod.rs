//! Bundles: the reproducible, checksummed archive of a resolved cookbook set
//! that the machines of a stack pull (the OpsWorks "one archive URL per
//! stack" model).
//!
//! - [`chefignore`] decides which cookbook files Chef would leave out;
//! - [`vendor`] copies one cookbook into a clean folder, and [`vendor_set`]
//!   a whole resolved set into a target directory;
//! - [`package`] packs a folder of cookbooks into `cookbooks-<digest>.tar.gz`
//!   with a manifest inside and a `.sha256` file beside, byte-for-byte
//!   reproducible, compressed by [`gzip`] on every core;
//! - [`manifest`] describes and checks a bundle's contents;
//! - [`verify`] checks a bundle file against its sidecar and manifest;
//! - [`pull`] fetches, verifies and atomically switches a directory to a
//!   bundle on the machine that uses it, with rollback.
//!
//! All of them report failures as [`BundleError`], whose [`ErrorKind`] maps
//! to a process exit code.

pub mod chefignore;
pub mod cookbook_ranges;
pub mod gzip;
pub mod manifest;
pub mod package;
pub mod package_memo;
pub mod pull;
pub mod sha256_states;
pub mod vendor;
pub mod vendor_set;
pub mod verify;

use std::io;
use std::path::{Path, PathBuf};

use crate::archive::ArchiveError;
use manifest::Difference;

/// The single top-level folder of every bundle.
pub const ARCHIVE_ROOT: &str = "cookbooks";

/// Broad classes of failure, one exit code each, so that scripts and
/// deployment logs can tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The cookbooks handed to `vendor`/`package` cannot be bundled.
    Package,
    /// The pull source is not a path, `file://` or `http(s)://` URL.
    InvalidSource,
    /// The source or its sidecar could not be fetched.
    Fetch,
    /// No usable expected digest (no sidecar and no `--sha256`, or a
    /// malformed one).
    MissingDigest,
    /// The archive's sha256 is not the expected one.
    DigestMismatch,
    /// The archive holds something unsafe or exceeds the limits.
    UnsafeArchive,
    /// The archive's contents disagree with its manifest or layout.
    BadContents,
    /// Another pull holds the lock on the directory.
    Busy,
    /// Rollback asked for, but there is no earlier set.
    NoPrevious,
    /// A local disk operation failed.
    Io,
}

impl ErrorKind {
    /// The process exit code for this kind. 137 and 143 are Berkshelf's
    /// InvalidSourceURI and PackageError; the others are new and unused by
    /// Berkshelf.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Package => 143,
            ErrorKind::InvalidSource => 137,
            ErrorKind::Fetch => 151,
            ErrorKind::MissingDigest => 152,
            ErrorKind::DigestMismatch => 153,
            ErrorKind::UnsafeArchive => 154,
            ErrorKind::BadContents => 155,
            ErrorKind::Busy => 156,
            ErrorKind::NoPrevious => 157,
            ErrorKind::Io => 158,
        }
    }
}

/// Everything that can go wrong while vendoring, packaging, verifying or
/// pulling a bundle. Each message names the file, URL or entry involved and
/// says what to do.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} is a symbolic link to '{}', which is {reason}; replace it with a regular file or list it in chefignore",
        link.display(), target.display()
    )]
    UnsupportedLink {
        link: PathBuf,
        target: PathBuf,
        reason: &'static str,
    },
    #[error("{} is not a regular file or directory; remove it or list it in chefignore", path.display())]
    SpecialFile { path: PathBuf },
    #[error("{} is not empty; vendor each cookbook into a fresh folder", path.display())]
    DestinationNotEmpty { path: PathBuf },
    #[error(
        "{} holds other things than the cookbooks being vendored ({}); choose an empty \
         directory, or pass --delete to remove them",
        path.display(),
        entries.join(", ")
    )]
    VendorTargetInUse { path: PathBuf, entries: Vec<String> },
    #[error("extra file path '{path}' must be relative and stay inside the cookbook")]
    InvalidExtraPath { path: String },
    #[error("file name {} is not valid UTF-8; rename it or list it in chefignore", path.display())]
    NonUtf8Path { path: PathBuf },
    #[error(
        "'{name}' is not a usable cookbook name (it must be one plain folder name not starting with '.')"
    )]
    InvalidCookbookName { name: String },
    #[error("cookbook '{name}' is listed twice")]
    DuplicateCookbook { name: String },
    #[error("cookbook '{name}' has no folder at {}; vendor it first", path.display())]
    MissingCookbookDir { name: String, path: PathBuf },
    #[error("{} is not one of the cookbooks being packaged; remove it from the folder", path.display())]
    UnexpectedEntry { path: PathBuf },
    #[error("{} changed while it was being packaged; run package again", path.display())]
    ChangedDuringPackage { path: PathBuf },
    #[error("{} changed while it was being published; publish it again", path.display())]
    ChangedDuringPublish { path: PathBuf },
    #[error("folder {} for the bundle does not exist; create it first or package to another path", path.display())]
    NoOutputFolder { path: PathBuf },
    #[error("could not read the version from {}: {detail}; fix the file", path.display())]
    InvalidMetadata { path: PathBuf, detail: String },
    #[error("SOURCE_DATE_EPOCH='{value}' is not a number of seconds since 1970; fix or unset it")]
    InvalidEpoch { value: String },
    #[error(
        "'{source_str}' is not a bundle source: {reason}; use a path, file:// or http(s):// URL"
    )]
    InvalidSource { source_str: String, reason: String },
    #[error("could not fetch {url}: {detail}")]
    Fetch { url: String, detail: String },
    #[error(
        "no expected sha256 for {source_str}: {detail}; publish {source_str}.sha256 beside it or pass --sha256"
    )]
    MissingDigest { source_str: String, detail: String },
    #[error("'{value}' from {origin} is not a sha256 (64 hex digits)")]
    BadDigest { value: String, origin: String },
    #[error(
        "{source_str} has sha256 {actual} but {expected} was expected; the download is corrupt or the bundle was replaced. Nothing was changed"
    )]
    DigestMismatch {
        source_str: String,
        expected: String,
        actual: String,
    },
    #[error("refusing {origin}: {source}")]
    UnsafeArchive {
        origin: String,
        #[source]
        source: ArchiveError,
    },
    #[error("{origin} is not a larder bundle: {detail}")]
    BadLayout { origin: String, detail: String },
    #[error("manifest in {origin} is invalid: {detail}")]
    InvalidManifest { origin: String, detail: String },
    #[error(
        "{origin} uses bundle format {found}; this larder reads format {supported}, upgrade larder"
    )]
    UnsupportedFormat {
        origin: String,
        found: u32,
        supported: u32,
    },
    #[error("{origin} does not match its manifest ({} difference(s)): {}", differences.len(), summarize(differences))]
    ContentMismatch {
        origin: String,
        differences: Vec<Difference>,
    },
    #[error("another larder pull is working on {}; wait for it to finish (lock: {})", dir.display(), lock.display())]
    Busy { dir: PathBuf, lock: PathBuf },
    #[error("{} has no previous cookbook set to roll back to", dir.display())]
    NoPrevious { dir: PathBuf },
    #[error("{} exists and is not a directory or a link to one; move it away", path.display())]
    NotADirectory { path: PathBuf },
}

fn summarize(differences: &[Difference]) -> String {
    let shown: Vec<String> = differences.iter().take(5).map(|d| d.to_string()).collect();
    let more = differences.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{}; and {more} more", shown.join("; "))
    } else {
        shown.join("; ")
    }
}

impl BundleError {
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> BundleError {
        BundleError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The class of this error, for exit codes.
    pub fn kind(&self) -> ErrorKind {
        use BundleError as E;
        match self {
            E::Io { .. } => ErrorKind::Io,
            E::UnsupportedLink { .. }
            | E::SpecialFile { .. }
            | E::DestinationNotEmpty { .. }
            | E::VendorTargetInUse { .. }
            | E::InvalidExtraPath { .. }
            | E::NonUtf8Path { .. }
            | E::InvalidCookbookName { .. }
            | E::DuplicateCookbook { .. }
            | E::MissingCookbookDir { .. }
            | E::UnexpectedEntry { .. }
            | E::ChangedDuringPackage { .. }
            | E::NoOutputFolder { .. }
            | E::InvalidMetadata { .. }
            | E::InvalidEpoch { .. } => ErrorKind::Package,
            E::InvalidSource { .. } => ErrorKind::InvalidSource,
            E::Fetch { .. } => ErrorKind::Fetch,
            E::MissingDigest { .. } | E::BadDigest { .. } => ErrorKind::MissingDigest,
            E::DigestMismatch { .. } => ErrorKind::DigestMismatch,
            E::UnsafeArchive { .. } => ErrorKind::UnsafeArchive,
            E::BadLayout { .. }
            | E::InvalidManifest { .. }
            | E::UnsupportedFormat { .. }
            | E::ChangedDuringPublish { .. }
            | E::ContentMismatch { .. } => ErrorKind::BadContents,
            E::Busy { .. } => ErrorKind::Busy,
            E::NoPrevious { .. } => ErrorKind::NoPrevious,
            E::NotADirectory { .. } => ErrorKind::Io,
        }
    }
}

/// Parses a sha256 given as 64 hex digits (either case) into lower case.
pub fn parse_sha256(value: &str, origin: &str) -> Result<String, BundleError> {
    let trimmed = value.trim();
    if trimmed.len() == 64 && trimmed.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(trimmed.to_ascii_lowercase())
    } else {
        Err(BundleError::BadDigest {
            value: value.chars().take(80).collect(),
            origin: origin.to_string(),
        })
    }
}

/// Parses a `sha256sum`-format sidecar (`<hex>  <name>`), returning the
/// digest of its first line.
pub fn parse_sidecar(text: &str, origin: &str) -> Result<String, BundleError> {
    let first = text.split_whitespace().next().unwrap_or("");
    parse_sha256(first, origin)
}

/// Removes a file, link or folder (a link is removed, never followed); a
/// path that is already gone is fine.
pub(crate) fn remove_path(path: &Path) -> Result<(), BundleError> {
    let result = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
    };
    result.map_err(|e| BundleError::io("remove", path, e))
}

/// Passes writes through to `inner` while hashing them with sha256.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hashing: sha256_states::Checkpointing,
}

impl<W> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hashing: sha256_states::Checkpointing::new(),
        }
    }

    /// The inner writer and the SHA-256 pass over what passed.
    pub(crate) fn finish(self) -> (W, sha256_states::Checkpointed) {
        (self.inner, self.hashing.finish())
    }
}

impl<W: io::Write> io::Write for HashingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.hashing.update(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
