//! Delivery: getting bundles from CI to the machines of each stack through
//! a bundle store (S3, GCS, Azure Blob, a local directory, or a read-only
//! HTTP prefix).
//!
//! - [`store`] opens a store URL through `object_store` and offers the few
//!   operations delivery needs (create-only writes, compare-and-swap,
//!   streamed downloads, multipart uploads), over the HTTP client that
//!   [`store_client`] builds;
//! - [`record`] is what the store holds besides bundles: bundle records,
//!   stack pointers and their history;
//! - [`publish`] uploads a bundle, content-addressed and idempotent, and
//!   records where each of its cookbooks lies in it
//!   ([`crate::bundle::cookbook_ranges`]);
//! - [`stack`] reads and changes stack pointers (pin, promote, rollback,
//!   history, diff), every change a compare-and-swap;
//! - [`pull`] switches a directory to the bundle a stack points at,
//!   fetching only the cookbook ranges the instance's [`local_store`]
//!   lacks when it can, the whole bundle otherwise.
//!
//! Store layout (below the store URL):
//!
//! ```text
//! bundles/<sha256>.tar.gz           the bundle, immutable
//! bundles/<sha256>.tar.gz.sha256    its digest, sha256sum format
//! bundles/<sha256>.json             what it holds (with each cookbook's range) and its provenance
//! stacks/<name>.json                the stack's pointer
//! stacks/<name>/history/<seq>.json  every pointer change, append-only
//! stacks/<name>/cookbooks.tar.gz    optional fixed-URL copy (+ .sha256)
//! ```

pub mod local_store;
pub mod publish;
pub mod pull;
pub mod record;
pub mod stack;
pub mod store;
mod store_client;

use std::path::PathBuf;

use crate::bundle::BundleError;

/// Broad classes of delivery failure, one exit code each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The store URL cannot be used, or no store was named.
    InvalidStore,
    /// The store refused or failed a request.
    Store,
    /// The store's credentials were refused.
    Denied,
    /// Someone else changed the stack first.
    Conflict,
    /// No such stack, bundle or digest in the store.
    NotFound,
    /// An object in the store does not match its digest or cannot be read.
    Corrupt,
    /// A write to a read-only (http) store.
    ReadOnly,
    /// The bundle itself, or the local pull, failed.
    Bundle(crate::bundle::ErrorKind),
    /// A malformed stack name or digest on the command line.
    Usage,
    /// A local disk operation failed.
    Io,
}

impl ErrorKind {
    /// The process exit code. 137 is Berkshelf's InvalidSourceURI; 170-175
    /// are larder's own.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::InvalidStore => 137,
            ErrorKind::Store => 170,
            ErrorKind::Conflict => 171,
            ErrorKind::NotFound => 172,
            ErrorKind::Corrupt => 173,
            ErrorKind::ReadOnly => 174,
            ErrorKind::Denied => 175,
            ErrorKind::Bundle(kind) => kind.exit_code(),
            ErrorKind::Usage => 99,
            ErrorKind::Io => 158,
        }
    }

    /// The `kind` of a `--format json` error document.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidStore => "invalid_store",
            ErrorKind::Store => "store",
            ErrorKind::Conflict => "stack_conflict",
            ErrorKind::NotFound => "not_in_store",
            ErrorKind::Corrupt => "store_object_corrupt",
            ErrorKind::ReadOnly => "read_only_store",
            ErrorKind::Denied => "store_access_denied",
            ErrorKind::Bundle(_) => "bundle",
            ErrorKind::Usage => "usage",
            ErrorKind::Io => "io",
        }
    }
}

/// Everything that can go wrong while publishing, changing stacks or
/// pulling by stack. Messages name the store object or file and say what
/// to do; they never carry credentials.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("'{url}' is not a usable bundle store: {reason}")]
    InvalidStore { url: String, reason: String },
    #[error(
        "no bundle store given; pass --store (or --to) URL, set LARDER_STORE, or set [store] url \
         in the configuration"
    )]
    NoStore,
    #[error(
        "{url} is a read-only store (plain HTTP); publish and change stacks through s3://, gs://, az:// or file://"
    )]
    ReadOnly { url: String },
    #[error("{}", store_message(action, object, detail, *denied))]
    Store {
        action: &'static str,
        object: String,
        detail: String,
        /// Set when the credentials were refused: what to check.
        denied: Option<&'static str>,
    },
    #[error("could not download {object}: {detail}; run the command again")]
    Download { object: String, detail: String },
    #[error(
        "{object} was changed by someone else while this command ran; nothing was overwritten. \
         Look at the stack again (larder stack show) and retry if the change still makes sense"
    )]
    Conflict { object: String },
    #[error(
        "stack '{stack}' does not point at {expected} any more (it points at {actual}); \
         nothing was changed"
    )]
    Moved {
        stack: String,
        expected: String,
        actual: String,
    },
    #[error("stack '{stack}' is not in {store}; pin it first (larder stack pin {stack} DIGEST)")]
    NoStack { stack: String, store: String },
    #[error("no bundle {digest} in {store}; publish it first (larder publish)")]
    NoBundle { digest: String, store: String },
    #[error(
        "stack '{stack}' points at bundle {digest}, which is not in {store} (it was deleted?); \
         pin the stack to a published bundle"
    )]
    DanglingPointer {
        stack: String,
        digest: String,
        store: String,
    },
    #[error("'{prefix}' names {count} bundles in {store}; give more digits")]
    AmbiguousDigest {
        prefix: String,
        count: usize,
        store: String,
    },
    #[error("'{text}' is not a bundle digest (7 to 64 hex digits) or a stack name")]
    BadDigest { text: String },
    #[error("stack '{stack}' has no previous bundle to roll back to; use --to DIGEST")]
    NoPrevious { stack: String },
    #[error(
        "{object} does not match its digest (it has sha256 {actual}); the store object is \
         corrupt or was replaced. Delete it and publish again"
    )]
    Corrupt { object: String, actual: String },
    #[error(
        "{object} does not hold the files its name says (their file-list digest is {actual}, \
         {expected} was expected); the store object is corrupt or was replaced. Delete it and \
         publish the bundle again; nothing was changed"
    )]
    CorruptCookbook {
        object: String,
        expected: String,
        actual: String,
    },
    #[error("{object} cannot be read: {detail}")]
    BadObject { object: String, detail: String },
    #[error(
        "'{name}' is not a usable stack name (letters, digits, '.', '_', '-'; not starting with '.' or '-')"
    )]
    InvalidStackName { name: String },
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

fn store_message(action: &str, object: &str, detail: &str, denied: Option<&str>) -> String {
    match denied {
        Some(credentials) => format!(
            "the store refused to {action} {object}: the credentials were not accepted ({detail}); \
             {credentials}"
        ),
        None => format!("could not {action} {object}: {detail}"),
    }
}

impl DeliveryError {
    /// The class of this error, for exit codes.
    pub fn kind(&self) -> ErrorKind {
        use DeliveryError as E;
        match self {
            E::InvalidStore { .. } | E::NoStore => ErrorKind::InvalidStore,
            E::ReadOnly { .. } => ErrorKind::ReadOnly,
            E::Store {
                denied: Some(_), ..
            } => ErrorKind::Denied,
            E::Store { .. } | E::Download { .. } => ErrorKind::Store,
            E::Conflict { .. } | E::Moved { .. } => ErrorKind::Conflict,
            E::NoStack { .. }
            | E::NoBundle { .. }
            | E::DanglingPointer { .. }
            | E::AmbiguousDigest { .. }
            | E::NoPrevious { .. } => ErrorKind::NotFound,
            E::BadDigest { .. } | E::InvalidStackName { .. } => ErrorKind::Usage,
            E::Corrupt { .. } | E::CorruptCookbook { .. } | E::BadObject { .. } => {
                ErrorKind::Corrupt
            }
            E::Io { .. } => ErrorKind::Io,
            E::Bundle(e) => ErrorKind::Bundle(e.kind()),
        }
    }
}
