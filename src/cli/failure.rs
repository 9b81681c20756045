//! A failed command as the user sees it: a message, a machine-readable kind
//! for `--format json`, and the exit code Berkshelf uses for the same
//! condition.

use crate::bundle::ErrorKind;
use crate::resolve::ResolveError;
use crate::universe::UniverseError;
use crate::version::ConstraintError;

/// What went wrong, ready to print.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub kind: &'static str,
    pub message: String,
    /// The command already printed its JSON result (which says what
    /// failed), so no error document follows it.
    pub reported: bool,
}

impl Failure {
    pub fn new(code: u8, kind: &'static str, message: impl Into<String>) -> Self {
        Failure {
            code,
            kind,
            message: message.into(),
            reported: false,
        }
    }

    /// The same failure, for a command whose JSON result already tells it.
    pub fn after_result(self) -> Self {
        Failure {
            reported: true,
            ..self
        }
    }

    /// A mistake on the command line (Berkshelf's ArgumentError, 99).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(99, "usage", message)
    }
}

impl From<ResolveError> for Failure {
    fn from(err: ResolveError) -> Self {
        match err {
            ResolveError::NoSolution { .. } => Failure::new(106, "no_solution", err.to_string()),
        }
    }
}

impl From<UniverseError> for Failure {
    fn from(err: UniverseError) -> Self {
        Failure::new(99, "bad_universe", err.to_string())
    }
}

impl From<ConstraintError> for Failure {
    fn from(err: ConstraintError) -> Self {
        Failure::usage(err.to_string())
    }
}

impl From<crate::bundle::BundleError> for Failure {
    fn from(err: crate::bundle::BundleError) -> Self {
        let kind = match err.kind() {
            ErrorKind::Package => "package",
            ErrorKind::InvalidSource => "invalid_source",
            ErrorKind::Fetch => "fetch",
            ErrorKind::MissingDigest => "missing_digest",
            ErrorKind::DigestMismatch => "digest_mismatch",
            ErrorKind::UnsafeArchive => "unsafe_archive",
            ErrorKind::BadContents => "bad_contents",
            ErrorKind::Busy => "busy",
            ErrorKind::NoPrevious => "no_previous",
            ErrorKind::Io => "io",
        };
        Failure::new(code_of(err.kind().exit_code()), kind, err.to_string())
    }
}

/// Exit codes above 255 cannot leave a process; they become Berkshelf's
/// catch-all 47.
pub fn code_of(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(47)
}

impl From<crate::berksfile::BerksfileError> for Failure {
    fn from(err: crate::berksfile::BerksfileError) -> Self {
        Failure::new(code_of(err.exit_code()), "berksfile", err.to_string())
    }
}

impl From<crate::metadata::MetadataError> for Failure {
    fn from(err: crate::metadata::MetadataError) -> Self {
        Failure::new(code_of(err.exit_code()), "metadata", err.to_string())
    }
}

impl From<crate::config::ConfigError> for Failure {
    fn from(err: crate::config::ConfigError) -> Self {
        Failure::new(code_of(err.exit_code()), "config", err.to_string())
    }
}

impl From<crate::source::supermarket::SupermarketError> for Failure {
    fn from(err: crate::source::supermarket::SupermarketError) -> Self {
        Failure::new(err.exit_code(), "source", err.to_string())
    }
}

impl From<crate::chef_server::ChefServerError> for Failure {
    fn from(err: crate::chef_server::ChefServerError) -> Self {
        Failure::new(err.exit_code(), err.kind(), err.to_string())
    }
}

impl From<crate::http::HttpError> for Failure {
    fn from(err: crate::http::HttpError) -> Self {
        Failure::new(err.exit_code(), "http", err.to_string())
    }
}

impl From<crate::lock::LockError> for Failure {
    fn from(err: crate::lock::LockError) -> Self {
        Failure::new(
            code_of(err.exit_code()),
            "unknown_cookbook",
            err.to_string(),
        )
    }
}

impl From<crate::cache::CacheError> for Failure {
    fn from(err: crate::cache::CacheError) -> Self {
        Failure::new(code_of(err.exit_code()), "cache", err.to_string())
    }
}

/// Berkshelf reports every git failure as 400, which no process can exit
/// with; larder keeps the Berkshelf codes that fit and 47 for the rest.
fn git_code(kind: &str) -> u8 {
    match kind {
        "name-mismatch" => 114,
        "no-metadata" | "invalid-metadata" => 141,
        "offline-missing" | "offline-no-mirror" => 103,
        _ => 47,
    }
}

impl From<crate::install::InstallError> for Failure {
    fn from(err: crate::install::InstallError) -> Self {
        use crate::install::InstallError as E;
        let message = err.to_string();
        let (code, kind) = match &err {
            E::Berksfile(e) => (code_of(e.exit_code()), "berksfile"),
            E::Metadata { source, .. } => (code_of(source.exit_code()), "metadata"),
            E::MismatchedName { .. } => (114, "mismatched_name"),
            E::Git(e) => (git_code(e.kind()), "git"),
            E::NoSources { .. } => (146, "no_sources"),
            E::Resolve(ResolveError::NoSolution { .. }) => (106, "no_solution"),
            E::LockFile(e) => (code_of(e.exit_code()), "lockfile"),
            E::BerksfileLock(e) => (code_of(e.exit_code()), "lockfile"),
            E::Lock(e) => (code_of(e.exit_code()), "lockfile"),
            E::OutOfSync { .. } => (144, "lockfile_out_of_sync"),
            E::NoLock { .. } => (140, "no_lockfile"),
            E::LockStale { .. } => (144, "lockfile_out_of_sync"),
            E::LockedVersionMissing { .. } => (149, "locked_version_missing"),
            E::OfflineMissing { .. } => (103, "offline_missing"),
            E::Source(e) => (e.exit_code(), "source"),
            E::Http(e) => (e.exit_code(), "http"),
            E::Download { .. } => (123, "download"),
            E::DownloadRefused { .. } => (123, "download_refused"),
            E::Universe(_) => (123, "source"),
            E::Cache(e) => (code_of(e.exit_code()), "cache"),
            E::RefusedArchive { .. } => (154, "unsafe_archive"),
            E::LockPathOutside { .. } => (136, "lockfile"),
            E::Bundle(e) => (code_of(e.kind().exit_code()), "cookbook_files"),
            E::ChefServer(e) => (e.exit_code(), e.kind()),
            E::Io { .. } => (47, "io"),
        };
        Failure::new(code, kind, message)
    }
}

impl From<crate::delivery::DeliveryError> for Failure {
    fn from(err: crate::delivery::DeliveryError) -> Self {
        match err {
            crate::delivery::DeliveryError::Bundle(e) => Failure::from(e),
            err => Failure::new(
                code_of(err.kind().exit_code()),
                err.kind().name(),
                err.to_string(),
            ),
        }
    }
}
