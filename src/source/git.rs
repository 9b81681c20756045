//! Git cookbooks: bare mirrors of remote repositories, revisions chosen by
//! `ref:`, `branch:`, `tag:` or the remote's default branch, and exports of
//! one revision's tree (or its `rel:` subdirectory) into the store.
//!
//! Layout under the store (see [`crate::cache`]):
//!
//! ```text
//! git/<sha256 of URL>/        a bare mirror: refs/heads/* and refs/tags/*
//!                             exactly as on the remote, HEAD as the remote's
//! git/<sha256 of URL>.lock    held while the mirror is created or fetched
//! cookbooks/<name>-<40-hex>/  an exported revision, without `.git`
//! ```
//!
//! A mirror is created in a staging directory, flushed to disk and renamed
//! into place after its first successful fetch; later fetches go into the
//! existing mirror (libgit2 flushing what they write), so a failed fetch
//! leaves the previous state usable offline. Exports write
//! regular files only (modes 0644, or 0755 for executables); a symbolic link
//! becomes a copy of the file it points to when that file lies inside the
//! exported directory, and is refused otherwise, as vendoring does.
//! Submodules are not fetched: a revision with a `.gitmodules` yields a
//! warning and its submodule entries are left out.
//!
//! Credentials are tried in order: user and password from the URL, the ssh
//! agent, `~/.ssh/id_ed25519` and `~/.ssh/id_rsa`, then git's credential
//! helper. URLs in errors and warnings never show their user information.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use git2::{
    AutotagOption, Cred, CredentialType, ErrorCode, FetchOptions, FetchPrune, ObjectType, Oid,
    ProxyOptions, RemoteCallbacks, Repository, Tree,
};
use sha2::{Digest, Sha256};

use crate::cache::{self, CacheError, Store};
use crate::http::{percent_decode, redact, redact_message};
use crate::metadata::{Metadata, MetadataError};

/// What the mirror fetches: every branch and tag, under the same names.
const REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

/// How many times one fetch may ask for credentials before giving up.
const MAX_CREDENTIAL_ATTEMPTS: usize = 8;

/// How many symbolic links an export follows from one link.
const MAX_LINK_HOPS: usize = 8;

/// The ssh keys tried after the agent, under `~/.ssh`.
const SSH_KEYS: [&str; 2] = ["id_ed25519", "id_rsa"];

/// A Berksfile's git location (`github:` already expanded to `url`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GitSpec {
    pub url: String,
    pub branch: Option<String>,
    pub tag: Option<String>,
    /// `ref:`: a full or abbreviated commit, or any revision git can parse.
    pub reference: Option<String>,
    /// The cookbook's directory inside the repository.
    pub rel: Option<String>,
}

/// A full commit id: 40 lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision(String);

impl Revision {
    /// A revision from 40 hex digits (either case), or `None`.
    pub fn parse(text: &str) -> Option<Revision> {
        let lower = text.to_ascii_lowercase();
        crate::lock::is_full_revision(&lower).then_some(Revision(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn from_oid(oid: Oid) -> Revision {
        Revision(oid.to_string())
    }

    fn oid(&self) -> Oid {
        // 40 hex digits always make an object id; the zero id matches nothing.
        Oid::from_str(&self.0).unwrap_or_else(|_| Oid::zero())
    }
}

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A git cookbook in the store.
#[derive(Clone, Debug)]
pub struct GitCookbook {
    pub revision: Revision,
    /// `cookbooks/<name>-<revision>/` in the store.
    pub path: PathBuf,
    pub metadata: Metadata,
    /// True when the store already held it and nothing was written.
    pub already_present: bool,
    /// Things the user should know, such as submodules left out.
    pub warnings: Vec<String>,
}

/// An error from a git location. Every URL in it is redacted.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{url} has no branch '{branch}'; check the `branch:` option in the Berksfile")]
    UnknownBranch { url: String, branch: String },
    #[error("{url} has no tag '{tag}'; check the `tag:` option in the Berksfile")]
    UnknownTag { url: String, tag: String },
    #[error(
        "{url} has no commit or ref '{reference}'; check the `ref:` option in the Berksfile (only \
         commits reachable from the remote's branches and tags can be found)"
    )]
    UnknownRef { url: String, reference: String },
    #[error(
        "'{reference}' matches several commits in {url}; give more digits in the `ref:` option"
    )]
    AmbiguousRef { url: String, reference: String },
    #[error(
        "{url} has no default branch (its HEAD names no commit); give a `branch:`, `tag:` or \
         `ref:` in the Berksfile"
    )]
    NoDefaultBranch { url: String },
    #[error(
        "revision {revision} is not in {url} (it may have been force-pushed away); run `larder \
         update` for this cookbook to lock a revision that exists"
    )]
    RevisionNotFound { url: String, revision: String },
    #[error(
        "'{revision}' (for {url}) is not a full 40-hex git revision; fix the lockfile or run \
         `larder update` for this cookbook"
    )]
    InvalidRevision { url: String, revision: String },
    #[error(
        "{url} at {revision} has no directory '{rel}'; check the `rel:` option in the Berksfile"
    )]
    RelMissing {
        url: String,
        revision: String,
        rel: String,
    },
    #[error("`rel: {rel}` (for {url}) must be a relative path inside the repository, without `..`")]
    InvalidRel { url: String, rel: String },
    #[error(
        "{url} at {revision} has no metadata.json or metadata.rb in {}; point `rel:` at the \
         cookbook's directory",
        place(rel)
    )]
    NoMetadata {
        url: String,
        revision: String,
        rel: Option<String>,
    },
    #[error("the metadata of {url} at {revision} cannot be read: {source}")]
    InvalidMetadata {
        url: String,
        revision: String,
        #[source]
        source: Box<MetadataError>,
    },
    /// Berkshelf's `MismatchedCookbookName`.
    #[error(
        "{url} at {revision} holds the cookbook '{found}', not '{expected}'; fix the name in the \
         Berksfile"
    )]
    NameMismatch {
        url: String,
        revision: String,
        expected: String,
        found: String,
    },
    #[error(
        "cannot fetch {url}: {message}. Check the URL, the network and the credentials (a token \
         in the URL, ssh-agent, ~/.ssh keys or a git credential helper)"
    )]
    Unreachable { url: String, message: String },
    #[error(
        "{url} has never been fetched, so it cannot be used offline; run once without --offline"
    )]
    OfflineNoMirror { url: String },
    #[error("{wanted} of {url} is not in the local mirror; run without --offline to fetch it")]
    OfflineMissing { url: String, wanted: String },
    #[error(
        "{url} at {revision}: the symbolic link {path} -> {target} {reason}; only links to files \
         inside the cookbook can be installed"
    )]
    UnsafeSymlink {
        url: String,
        revision: String,
        path: String,
        target: String,
        reason: &'static str,
    },
    #[error("{url} at {revision} has an entry {path} that cannot be written as a file")]
    UnsafePath {
        url: String,
        revision: String,
        path: String,
    },
    #[error(
        "the local mirror of {url} at {} is unusable: {message}; remove that directory and run \
         again",
        path.display()
    )]
    Mirror {
        url: String,
        path: PathBuf,
        message: String,
    },
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] CacheError),
}

impl GitError {
    /// A stable name for the kind of error, for mapping to exit codes.
    pub fn kind(&self) -> &'static str {
        match self {
            GitError::UnknownBranch { .. } => "unknown-branch",
            GitError::UnknownTag { .. } => "unknown-tag",
            GitError::UnknownRef { .. } => "unknown-ref",
            GitError::AmbiguousRef { .. } => "ambiguous-ref",
            GitError::NoDefaultBranch { .. } => "no-default-branch",
            GitError::RevisionNotFound { .. } => "revision-not-found",
            GitError::InvalidRevision { .. } => "invalid-revision",
            GitError::RelMissing { .. } => "rel-missing",
            GitError::InvalidRel { .. } => "invalid-rel",
            GitError::NoMetadata { .. } => "no-metadata",
            GitError::InvalidMetadata { .. } => "invalid-metadata",
            GitError::NameMismatch { .. } => "name-mismatch",
            GitError::Unreachable { .. } => "unreachable",
            GitError::OfflineNoMirror { .. } => "offline-no-mirror",
            GitError::OfflineMissing { .. } => "offline-missing",
            GitError::UnsafeSymlink { .. } => "unsafe-symlink",
            GitError::UnsafePath { .. } => "unsafe-path",
            GitError::Mirror { .. } => "mirror",
            GitError::Io { .. } => "io",
            GitError::Store(_) => "store",
        }
    }
}

/// Where in the repository a cookbook was looked for, for messages.
fn place(rel: &Option<String>) -> String {
    match rel {
        Some(rel) => format!("'{rel}'"),
        None => "its root directory".to_string(),
    }
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> GitError {
    let path = path.to_path_buf();
    move |source| GitError::Io {
        action,
        path,
        source,
    }
}

/// The mirrors of one store.
#[derive(Clone, Debug)]
pub struct GitCache {
    /// The store: its `git/` holds the mirrors, its scratch directories
    /// stage new mirrors and exports, and its entries the cookbooks.
    store: Store,
}

impl GitCache {
    /// The mirrors of `store`.
    pub fn new(store: &Store) -> GitCache {
        GitCache {
            store: store.clone(),
        }
    }

    /// `<store>/git`
    fn mirrors(&self) -> PathBuf {
        self.store.root().join("git")
    }

    /// The bare mirror of `url`: `<store>/git/<sha256 of url>`.
    pub fn mirror_path(&self, url: &str) -> PathBuf {
        self.mirrors()
            .join(hex::encode(Sha256::digest(url.as_bytes())))
    }

    /// The commit `spec` names: `ref:`, else `branch:`, else `tag:` (peeled
    /// to its commit), else the remote's default branch. Fetches the mirror
    /// first unless `offline` (or `ref:` is a full revision it already has).
    pub fn resolve(&self, spec: &GitSpec, offline: bool) -> Result<Revision, GitError> {
        let url = &spec.url;
        let pinned = spec.reference.as_deref().and_then(Revision::parse);
        let repo = match (self.open_mirror(url)?, pinned) {
            (Some(repo), Some(revision)) if has_commit(&repo, &revision) => return Ok(revision),
            (Some(repo), _) if offline => repo,
            (None, _) if offline => {
                return Err(GitError::OfflineNoMirror { url: redact(url) });
            }
            _ => self.update_mirror(url)?,
        };
        find_revision(&repo, spec)
    }

    /// Resolves `spec`, then installs that revision into the store under
    /// the name its metadata gives (unless the store has it already).
    pub fn fetch_cookbook(&self, spec: &GitSpec, offline: bool) -> Result<GitCookbook, GitError> {
        let url = &spec.url;
        let rel = normalize_rel(url, spec.rel.as_deref())?;
        let revision = self.resolve(spec, offline)?;
        let repo = self.mirror_with(url, &revision, true)?;
        let export = self.export(&repo, url, &revision, rel.as_deref())?;
        let metadata = load_metadata(export.dir.path(), url, &revision, &rel)?;
        let installed = install(&self.store, &metadata.name, &revision, export.dir)?;
        Ok(GitCookbook {
            revision,
            path: installed.path,
            metadata,
            already_present: installed.already_present,
            warnings: export.warnings,
        })
    }

    /// Installs cookbook `name` at the locked `revision` of `url`. When the
    /// store has it, nothing else is touched (no network, no mirror needed);
    /// otherwise the mirror is fetched only if it lacks the revision.
    pub fn fetch_locked(
        &self,
        name: &str,
        url: &str,
        revision: &str,
        rel: Option<&str>,
        offline: bool,
    ) -> Result<GitCookbook, GitError> {
        let revision = Revision::parse(revision).ok_or_else(|| GitError::InvalidRevision {
            url: redact(url),
            revision: revision.to_string(),
        })?;
        let rel = normalize_rel(url, rel)?;
        if self.store.contains(name, revision.as_str()) {
            let path = self.store.entry_path(name, revision.as_str());
            let metadata = load_metadata(&path, url, &revision, &rel)?;
            return Ok(GitCookbook {
                warnings: self.cached_warnings(url, &revision),
                revision,
                path,
                metadata,
                already_present: true,
            });
        }
        let repo = self.mirror_with(url, &revision, offline)?;
        let export = self.export(&repo, url, &revision, rel.as_deref())?;
        let metadata = load_metadata(export.dir.path(), url, &revision, &rel)?;
        if metadata.name != name {
            return Err(GitError::NameMismatch {
                url: redact(url),
                revision: revision.to_string(),
                expected: name.to_string(),
                found: metadata.name,
            });
        }
        let installed = install(&self.store, name, &revision, export.dir)?;
        Ok(GitCookbook {
            revision,
            path: installed.path,
            metadata,
            already_present: installed.already_present,
            warnings: export.warnings,
        })
    }

    /// The mirror of `url`, if it was ever fetched.
    fn open_mirror(&self, url: &str) -> Result<Option<Repository>, GitError> {
        let path = self.mirror_path(url);
        if !path.is_dir() {
            return Ok(None);
        }
        Repository::open_bare(&path)
            .map(Some)
            .map_err(|e| mirror_error(url, &path, &e))
    }

    /// The mirror of `url` holding `revision`, fetched if it lacks it.
    fn mirror_with(
        &self,
        url: &str,
        revision: &Revision,
        offline: bool,
    ) -> Result<Repository, GitError> {
        match self.open_mirror(url)? {
            Some(repo) if has_commit(&repo, revision) => return Ok(repo),
            Some(_) if offline => {
                return Err(GitError::OfflineMissing {
                    url: redact(url),
                    wanted: format!("revision {revision}"),
                });
            }
            None if offline => return Err(GitError::OfflineNoMirror { url: redact(url) }),
            _ => {}
        }
        let repo = self.update_mirror(url)?;
        if has_commit(&repo, revision) {
            Ok(repo)
        } else {
            Err(GitError::RevisionNotFound {
                url: redact(url),
                revision: revision.to_string(),
            })
        }
    }

    /// Fetches `url` into its mirror, creating the mirror on first use.
    fn update_mirror(&self, url: &str) -> Result<Repository, GitError> {
        flush_git_writes();
        let mirrors = self.mirrors();
        fs::create_dir_all(&mirrors).map_err(io_error("create", &mirrors))?;
        let path = self.mirror_path(url);
        let lock_path = path.with_extension("lock");
        let lock =
            File::create(&lock_path).map_err(io_error("create the lock file", &lock_path))?;
        lock.lock().map_err(io_error("lock", &lock_path))?;
        if path.is_dir() {
            let repo = Repository::open_bare(&path).map_err(|e| mirror_error(url, &path, &e))?;
            fetch_into(&repo, url, &path)?;
            return Ok(repo);
        }
        // Staged in a scratch directory of the store (same filesystem), so
        // that what a killed process leaves is removed by the next run.
        let staging = self.store.scratch_dir(".git-mirror-")?;
        {
            let repo = Repository::init_bare(staging.path())
                .map_err(|e| mirror_error(url, staging.path(), &e))?;
            fetch_into(&repo, url, staging.path())?;
        }
        // Flushed before it gets its name, and its directory after, so that
        // a power loss never leaves a mirror with missing objects in place.
        crate::atomic_file::sync_tree(staging.path(), crate::atomic_file::LinkedFiles::Flush)
            .map_err(io_error("flush the new mirror in", staging.path()))?;
        crate::atomic_file::rename(staging.path(), &path).map_err(|source| GitError::Io {
            action: "move the new mirror to",
            path: path.clone(),
            source,
        })?;
        Repository::open_bare(&path).map_err(|e| mirror_error(url, &path, &e))
    }

    /// Warnings about `revision` known without the network: submodules, if
    /// the mirror is here to tell.
    fn cached_warnings(&self, url: &str, revision: &Revision) -> Vec<String> {
        let Ok(Some(repo)) = self.open_mirror(url) else {
            return Vec::new();
        };
        match repo.find_commit(revision.oid()).and_then(|c| c.tree()) {
            Ok(tree) => submodule_warnings(&tree, url),
            Err(_) => Vec::new(),
        }
    }

    /// Writes the tree of `revision` (or its `rel` subdirectory) into a new
    /// scratch directory of the store ([`Store::scratch_dir`]).
    fn export(
        &self,
        repo: &Repository,
        url: &str,
        revision: &Revision,
        rel: Option<&str>,
    ) -> Result<Export, GitError> {
        let mirror = repo.path();
        let root = repo
            .find_commit(revision.oid())
            .and_then(|commit| commit.tree())
            .map_err(|e| mirror_error(url, mirror, &e))?;
        let tree = match rel {
            None => root.clone(),
            Some(rel) => {
                let missing = || GitError::RelMissing {
                    url: redact(url),
                    revision: revision.to_string(),
                    rel: rel.to_string(),
                };
                let entry = root.get_path(Path::new(rel)).map_err(|_| missing())?;
                if entry.kind() != Some(ObjectType::Tree) {
                    return Err(missing());
                }
                entry
                    .to_object(repo)
                    .and_then(|object| object.peel_to_tree())
                    .map_err(|e| mirror_error(url, mirror, &e))?
            }
        };
        let dir = self.store.scratch_dir(".git-export-")?;
        let exporter = Exporter {
            repo,
            top: &tree,
            url,
            revision,
        };
        exporter.write_tree(&tree, &mut Vec::new(), dir.path())?;
        Ok(Export {
            dir,
            warnings: submodule_warnings(&root, url),
        })
    }
}

/// One exported revision, waiting to be moved into the store.
struct Export {
    dir: cache::ScratchDir,
    warnings: Vec<String>,
}

/// Writes the blobs of one tree as files.
struct Exporter<'a> {
    repo: &'a Repository,
    /// The exported tree: links must resolve inside it.
    top: &'a Tree<'a>,
    url: &'a str,
    revision: &'a Revision,
}

impl Exporter<'_> {
    /// Writes `tree`, which sits at `prefix` in the exported tree, to `dest`.
    fn write_tree(
        &self,
        tree: &Tree<'_>,
        prefix: &mut Vec<Vec<u8>>,
        dest: &Path,
    ) -> Result<(), GitError> {
        for entry in tree.iter() {
            let name = entry.name_bytes();
            prefix.push(name.to_vec());
            if !safe_name(name) {
                return Err(self.unsafe_path(prefix));
            }
            let target = dest.join(OsStr::from_bytes(name));
            match entry.kind() {
                Some(ObjectType::Tree) => {
                    let sub = entry
                        .to_object(self.repo)
                        .and_then(|object| object.peel_to_tree())
                        .map_err(|e| self.mirror_error(&e))?;
                    self.write_tree(&sub, prefix, &target)?;
                }
                Some(ObjectType::Blob) if entry.filemode() == 0o120000 => {
                    let (id, executable) = self.follow_link(prefix, entry.id())?;
                    self.write_blob(id, executable, &target)?;
                }
                Some(ObjectType::Blob) => {
                    self.write_blob(entry.id(), entry.filemode() & 0o111 != 0, &target)?;
                }
                // A submodule: not fetched (see `submodule_warnings`).
                Some(ObjectType::Commit) => {}
                _ => return Err(self.unsafe_path(prefix)),
            }
            prefix.pop();
        }
        Ok(())
    }

    /// The file the link at `path` (whose blob is `link`) points to, and
    /// whether it is executable; refused unless inside the exported tree.
    fn follow_link(&self, path: &[Vec<u8>], link: Oid) -> Result<(Oid, bool), GitError> {
        let mut dir = path[..path.len().saturating_sub(1)].to_vec();
        let mut link = link;
        let first_target = self.read_blob(link)?;
        for _ in 0..MAX_LINK_HOPS {
            let target = self.read_blob(link)?;
            let refuse = |reason| self.unsafe_symlink(path, &first_target, reason);
            let resolved =
                resolve_link(&dir, &target).ok_or_else(|| refuse("points outside the cookbook"))?;
            if resolved.is_empty() {
                return Err(refuse("points to a directory"));
            }
            let entry = self
                .top
                .get_path(Path::new(OsStr::from_bytes(&resolved.join(&b'/'))))
                .map_err(|_| refuse("dangles"))?;
            match entry.kind() {
                Some(ObjectType::Blob) if entry.filemode() == 0o120000 => {
                    dir = resolved[..resolved.len() - 1].to_vec();
                    link = entry.id();
                }
                Some(ObjectType::Blob) => return Ok((entry.id(), entry.filemode() & 0o111 != 0)),
                _ => return Err(refuse("points to a directory")),
            }
        }
        Err(self.unsafe_symlink(path, &first_target, "goes through too many links"))
    }

    fn read_blob(&self, id: Oid) -> Result<Vec<u8>, GitError> {
        self.repo
            .find_blob(id)
            .map(|blob| blob.content().to_vec())
            .map_err(|e| self.mirror_error(&e))
    }

    fn write_blob(&self, id: Oid, executable: bool, target: &Path) -> Result<(), GitError> {
        let blob = self.repo.find_blob(id).map_err(|e| self.mirror_error(&e))?;
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_error("create", parent))?;
        }
        fs::write(target, blob.content()).map_err(io_error("write", target))?;
        let mode = if executable { 0o755 } else { 0o644 };
        fs::set_permissions(target, fs::Permissions::from_mode(mode))
            .map_err(io_error("set the mode of", target))
    }

    fn mirror_error(&self, error: &git2::Error) -> GitError {
        mirror_error(self.url, self.repo.path(), error)
    }

    fn unsafe_path(&self, path: &[Vec<u8>]) -> GitError {
        GitError::UnsafePath {
            url: redact(self.url),
            revision: self.revision.to_string(),
            path: show_path(path),
        }
    }

    fn unsafe_symlink(&self, path: &[Vec<u8>], target: &[u8], reason: &'static str) -> GitError {
        GitError::UnsafeSymlink {
            url: redact(self.url),
            revision: self.revision.to_string(),
            path: show_path(path),
            target: String::from_utf8_lossy(target).into_owned(),
            reason,
        }
    }
}

/// A tree entry name that is an ordinary file or directory name.
fn safe_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name != b"."
        && name != b".."
        && !name.eq_ignore_ascii_case(b".git")
        && !name.contains(&b'/')
        && !name.contains(&0)
}

fn show_path(path: &[Vec<u8>]) -> String {
    String::from_utf8_lossy(&path.join(&b'/')).into_owned()
}

/// The components of link `target` read from directory `dir`, resolved
/// lexically; `None` when it is absolute or climbs above the top.
fn resolve_link(dir: &[Vec<u8>], target: &[u8]) -> Option<Vec<Vec<u8>>> {
    if target.starts_with(b"/") {
        return None;
    }
    let mut resolved = dir.to_vec();
    for part in target.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                resolved.pop()?;
            }
            part => resolved.push(part.to_vec()),
        }
    }
    Some(resolved)
}

/// The warning for a revision with submodules, which are not fetched.
fn submodule_warnings(root: &Tree<'_>, url: &str) -> Vec<String> {
    if root.get_name(".gitmodules").is_some() {
        vec![format!("submodules in {} are not fetched", redact(url))]
    } else {
        Vec::new()
    }
}

/// `rel` as `a/b` (no `.`, empty or trailing parts), `None` for the root.
fn normalize_rel(url: &str, rel: Option<&str>) -> Result<Option<String>, GitError> {
    let Some(rel) = rel else {
        return Ok(None);
    };
    let invalid = || GitError::InvalidRel {
        url: redact(url),
        rel: rel.to_string(),
    };
    if rel.starts_with('/') {
        return Err(invalid());
    }
    let mut parts = Vec::new();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(invalid()),
            part => parts.push(part),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

fn has_commit(repo: &Repository, revision: &Revision) -> bool {
    repo.find_commit(revision.oid()).is_ok()
}

/// The commit `spec` names in the mirror (see [`GitCache::resolve`]).
fn find_revision(repo: &Repository, spec: &GitSpec) -> Result<Revision, GitError> {
    let url = redact(&spec.url);
    let commit = if let Some(reference) = &spec.reference {
        let unknown = |e: git2::Error| match e.code() {
            ErrorCode::Ambiguous => GitError::AmbiguousRef {
                url: url.clone(),
                reference: reference.clone(),
            },
            _ => GitError::UnknownRef {
                url: url.clone(),
                reference: reference.clone(),
            },
        };
        repo.revparse_single(reference)
            .and_then(|object| object.peel_to_commit())
            .map_err(unknown)?
    } else if let Some(branch) = &spec.branch {
        repo.find_reference(&format!("refs/heads/{branch}"))
            .and_then(|reference| reference.peel_to_commit())
            .map_err(|_| GitError::UnknownBranch {
                url: url.clone(),
                branch: branch.clone(),
            })?
    } else if let Some(tag) = &spec.tag {
        repo.find_reference(&format!("refs/tags/{tag}"))
            .and_then(|reference| reference.peel_to_commit())
            .map_err(|_| GitError::UnknownTag {
                url: url.clone(),
                tag: tag.clone(),
            })?
    } else {
        repo.head()
            .and_then(|head| head.peel_to_commit())
            .map_err(|_| GitError::NoDefaultBranch { url: url.clone() })?
    };
    Ok(Revision::from_oid(commit.id()))
}

/// Fetches every branch and tag of `url` into the bare `repo` (pruning
/// what the remote deleted) and points its HEAD where the remote's does.
fn fetch_into(repo: &Repository, url: &str, path: &Path) -> Result<(), GitError> {
    let unreachable = |e: git2::Error| GitError::Unreachable {
        url: redact(url),
        message: redact_message(e.message(), url),
    };
    let mut remote = repo.remote_anonymous(url).map_err(unreachable)?;
    let mut proxy = ProxyOptions::new();
    proxy.auto();
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(credentials(url))
        .proxy_options(proxy)
        .prune(FetchPrune::On)
        .download_tags(AutotagOption::None)
        // Nothing reads FETCH_HEAD, which libgit2 would write unflushed.
        .update_fetchhead(false);
    remote
        .fetch(&REFSPECS, Some(&mut options), None)
        .map_err(unreachable)?;
    // The symref HEAD the remote advertised; kept as it was when the remote
    // does not tell.
    if let Ok(head) = remote.default_branch()
        && let Some(head) = head.as_str()
        && head.starts_with("refs/heads/")
    {
        repo.set_head(head)
            .map_err(|e| mirror_error(url, path, &e))?;
    }
    Ok(())
}

/// Makes libgit2 flush to disk every object, pack and ref it writes, and
/// the directories it renames them into, so that a power loss during or
/// after a fetch into an existing mirror never leaves a ref naming an
/// object that is not there. Set once per process.
fn flush_git_writes() {
    static SET: std::sync::Once = std::sync::Once::new();
    SET.call_once(|| {
        let on: std::ffi::c_int = 1;
        // SAFETY: this option takes one int and only sets a flag; it is set
        // once, before this process's first fetch.
        unsafe {
            libgit2_sys::git_libgit2_opts(
                libgit2_sys::GIT_OPT_ENABLE_FSYNC_GITDIR as std::ffi::c_int,
                on,
            );
        }
    });
}

/// Callbacks that answer credential requests, each way at most once.
fn credentials(url: &str) -> RemoteCallbacks<'static> {
    let from_url = url_userinfo(url).and_then(|info| {
        let (user, password) = info.split_once(':')?;
        Some((percent_decode(user), percent_decode(password)))
    });
    let keys: Vec<PathBuf> = std::env::home_dir()
        .map(|home| SSH_KEYS.iter().map(|k| home.join(".ssh").join(k)).collect())
        .unwrap_or_default();
    let mut attempts = 0;
    let mut tried_url = false;
    let mut tried_agent = false;
    let mut tried_helper = false;
    let mut next_key = 0;
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(move |request_url, username, allowed| {
        attempts += 1;
        let user = username.unwrap_or("git");
        if attempts <= MAX_CREDENTIAL_ATTEMPTS {
            if allowed.contains(CredentialType::USERNAME) {
                return Cred::username(user);
            }
            if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) && !tried_url {
                tried_url = true;
                if let Some((user, password)) = &from_url {
                    return Cred::userpass_plaintext(user, password);
                }
            }
            if allowed.contains(CredentialType::SSH_KEY) {
                if !tried_agent {
                    tried_agent = true;
                    return Cred::ssh_key_from_agent(user);
                }
                while let Some(key) = keys.get(next_key) {
                    next_key += 1;
                    if key.is_file() {
                        return Cred::ssh_key(user, None, key, None);
                    }
                }
            }
            if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) && !tried_helper {
                tried_helper = true;
                if let Ok(config) = git2::Config::open_default()
                    && let Ok(cred) = Cred::credential_helper(&config, request_url, username)
                {
                    return Ok(cred);
                }
            }
        }
        Err(git2::Error::from_str(
            "authentication failed after trying the URL's user and password, ssh-agent, \
             ~/.ssh/id_ed25519, ~/.ssh/id_rsa and the git credential helper",
        ))
    });
    callbacks
}

/// The user information of a `scheme://user[:password]@host/…` URL.
fn url_userinfo(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    authority.rfind('@').map(|at| &authority[..at])
}

fn mirror_error(url: &str, path: &Path, error: &git2::Error) -> GitError {
    GitError::Mirror {
        url: redact(url),
        path: path.to_path_buf(),
        message: redact_message(error.message(), url),
    }
}

/// Reads the metadata of the cookbook exported to `dir`.
fn load_metadata(
    dir: &Path,
    url: &str,
    revision: &Revision,
    rel: &Option<String>,
) -> Result<Metadata, GitError> {
    Metadata::load(dir).map_err(|source| match source {
        MetadataError::NotACookbook { .. } => GitError::NoMetadata {
            url: redact(url),
            revision: revision.to_string(),
            rel: rel.clone(),
        },
        source => GitError::InvalidMetadata {
            url: redact(url),
            revision: revision.to_string(),
            source: Box::new(source),
        },
    })
}

/// Moves an export into the store as `name` at `revision`.
fn install(
    store: &Store,
    name: &str,
    revision: &Revision,
    export: cache::ScratchDir,
) -> Result<cache::Installed, GitError> {
    let installed = store.install(name, revision.as_str(), None, |stage: &Path| {
        let from = export.path();
        for item in fs::read_dir(from).map_err(io_error("list", from))? {
            let item = item.map_err(io_error("list", from))?;
            let to = stage.join(item.file_name());
            fs::rename(item.path(), &to).map_err(io_error("move the export to", &to))?;
        }
        cache::tree_digest(stage).map_err(GitError::Store)
    })?;
    Ok(installed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libgit2_has_the_https_and_ssh_transports() {
        let version = git2::Version::get();
        assert!(version.https() && version.ssh(), "{version:?}");
    }

    #[test]
    fn normalizes_rel() {
        let rel = |text| normalize_rel("u", Some(text));
        assert_eq!(
            rel("./cookbooks//a/").unwrap().as_deref(),
            Some("cookbooks/a")
        );
        assert_eq!(rel(".").unwrap(), None);
        assert_eq!(normalize_rel("u", None).unwrap(), None);
        for bad in ["/etc", "a/../../b", ".."] {
            assert_eq!(rel(bad).unwrap_err().kind(), "invalid-rel");
        }
    }

    #[test]
    fn resolves_links_lexically() {
        let dir = [b"a".to_vec(), b"b".to_vec()];
        let parts = |p: Vec<Vec<u8>>| show_path(&p);
        assert_eq!(
            resolve_link(&dir, b"../c").map(parts).as_deref(),
            Some("a/c")
        );
        assert_eq!(
            resolve_link(&dir, b"./x/./y").map(parts).as_deref(),
            Some("a/b/x/y")
        );
        assert_eq!(
            resolve_link(&dir, b"../../c").map(parts).as_deref(),
            Some("c")
        );
        assert_eq!(resolve_link(&dir, b"../../../c"), None);
        assert_eq!(resolve_link(&dir, b"/etc/passwd"), None);
    }

    #[test]
    fn parses_revisions() {
        let full = "93F5768B7D14DF45E10D16C8BF6FE98BA3FF809A";
        assert_eq!(
            Revision::parse(full).map(|r| r.to_string()),
            Some(full.to_ascii_lowercase())
        );
        assert_eq!(Revision::parse("93f5768"), None);
        assert_eq!(Revision::parse(&"g".repeat(40)), None);
    }

    #[test]
    fn refuses_unsafe_names() {
        for name in [&b""[..], b".", b"..", b".git", b".GIT", b"a/b"] {
            assert!(!safe_name(name), "{name:?}");
        }
        assert!(safe_name(b".gitignore") && safe_name(b"recipes"));
    }
}
