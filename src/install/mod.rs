//! `install` and `update`: from a Berksfile to a lockfile and a filled
//! cookbook store.
//!
//! The flow: read the Berksfile and the cookbooks on disk it names; read
//! the lock (`larder.lock`, or a `Berksfile.lock` to migrate from); drop
//! what the Berksfile no longer asks for and whatever `update` unlocks;
//! then either trust the lock (every dependency still locked at the same
//! place, at a version its constraint accepts, every transitive constraint
//! met) or resolve again with the locked versions preferred. A trusted lock
//! whose cookbooks are all in the store needs no network at all. Finally,
//! fetch what the store lacks, verify every artifact against the lock, and
//! write the lockfiles.

mod fetch;
mod local;
mod plan;
mod verify;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::berksfile::{BerksfileError, GroupFilter, Manifest, SourceSpec};
use crate::cache::{CacheError, Store};
use crate::http::{Client, HttpError, HttpSettings};
use crate::index::Index;
use crate::lock::berkshelf::{BerksfileLock, BerksfileLockError};
use crate::lock::larder::{self as larder_lock, LarderLockError};
use crate::lock::{Lock, LockError, LockedCookbook, LockedSource};
use crate::metadata::MetadataError;
use crate::resolve::{self, Demand, ResolveError};
use crate::source::git::{GitCache, GitError};
use crate::source::supermarket::{self, SupermarketError};
use crate::universe::UniverseError;

pub use fetch::Fetched;
pub use local::LocalCookbook;
use plan::Wanted;
pub use verify::Checked;

/// What to install and how.
#[derive(Clone, Debug)]
pub struct Request {
    pub berksfile: PathBuf,
    pub filter: GroupFilter,
    /// Fail instead of changing the lock (for CI).
    pub locked: bool,
    /// Use only what is cached.
    pub offline: bool,
    pub unlock: Unlock,
    pub http: HttpSettings,
    /// How many downloads run at once.
    pub jobs: usize,
    /// Configured Artifactory API keys by source URL, for sources the
    /// Berksfile gives none.
    pub api_keys: BTreeMap<String, String>,
}

/// What `update` releases from the lock before resolving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unlock {
    Nothing,
    Everything,
    Only(Vec<String>),
}

/// The result of an install.
#[derive(Debug)]
pub struct Outcome {
    pub cookbooks: Vec<Fetched>,
    pub lock: Lock,
    pub lock_path: PathBuf,
    /// Whether larder.lock (and Berksfile.lock, if the project has one)
    /// were rewritten.
    pub lock_written: bool,
    /// Whether the versions came from a trusted lock without resolving.
    pub trusted: bool,
    /// Source URLs whose universes were read.
    pub sources_read: Vec<String>,
    /// Details for `--verbose`: data the sources listed that was left out,
    /// Berksfile lines that change nothing.
    pub notes: Vec<String>,
}

/// Everything that can stop an install.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Berksfile(#[from] BerksfileError),
    #[error("cannot read the cookbook in {path}: {source}")]
    Metadata {
        path: PathBuf,
        source: Box<MetadataError>,
    },
    #[error(
        "the cookbook in {path} is named '{actual}' in its metadata, but the Berksfile calls it \
         '{expected}'; use the same name in both"
    )]
    MismatchedName {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(
        "the Berksfile declares no source, but {} must come from one; add \
         `source 'https://supermarket.chef.io'` (or your own registry) to {berksfile}",
        names.join(", ")
    )]
    NoSources {
        names: Vec<String>,
        berksfile: String,
    },
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    LockFile(#[from] LarderLockError),
    #[error(transparent)]
    BerksfileLock(#[from] BerksfileLockError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(
        "the lockfile is out of sync with {berksfile}: {reason}; run `larder install` without \
         --locked and commit the new lock"
    )]
    OutOfSync { berksfile: String, reason: String },
    /// Berkshelf's `LockfileOutOfSync` (exit 144) for commands that only
    /// read the lock.
    #[error("The lockfile is out of sync with {berksfile}: {reason}")]
    LockStale { berksfile: String, reason: String },
    /// Berkshelf's `LockfileNotFound` (exit 140).
    #[error(
        "Lockfile not found at {}! Run `larder install` to create the lockfile.",
        path.display()
    )]
    NoLock { path: PathBuf },
    #[error(
        "cookbook '{name}' ({version}) is locked but no source has it; it may have been \
         removed, or the Berksfile's sources changed. Run `larder update {name}` to pick a \
         version that exists"
    )]
    LockedVersionMissing { name: String, version: String },
    #[error(
        "--offline, but these cookbooks are not in the store: {}; run once without --offline",
        names.join(", ")
    )]
    OfflineMissing { names: Vec<String> },
    #[error(transparent)]
    Source(#[from] SupermarketError),
    #[error(transparent)]
    Universe(#[from] UniverseError),
    #[error(transparent)]
    Http(#[from] HttpError),
    /// Berkshelf's `CommunitySiteError` (exit 123).
    #[error("cannot download {name} ({version}): {source}")]
    Download {
        name: String,
        version: String,
        source: HttpError,
    },
    /// Berkshelf's `CommunitySiteError` (exit 123).
    #[error(
        "refusing to download {name} ({version}) from {url}: {reason}. The registry's universe \
         is wrong; ask its owner to fix it, or remove the source"
    )]
    DownloadRefused {
        name: String,
        version: String,
        url: String,
        reason: String,
    },
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// A lock that points a cookbook at a directory outside the project
    /// that the Berksfile does not declare (exit 136, an unusable lock).
    #[error(
        "{}: cookbook '{name}' has path '{path}', outside the project, which the Berksfile does \
         not declare; a lock's paths must stay inside the project. Remove that cookbook from \
         the lockfile and run `larder install`",
        lock_path.display()
    )]
    LockPathOutside {
        lock_path: PathBuf,
        name: String,
        path: String,
    },
    /// A downloaded cookbook archive that unpacking refused (exit 154, as
    /// `pull` exits for an unsafe bundle).
    #[error(
        "cannot install {name} ({version}): the cookbook archive from {url} is unusable: {reason}"
    )]
    RefusedArchive {
        name: String,
        version: String,
        url: String,
        reason: String,
    },
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    #[error(transparent)]
    ChefServer(#[from] crate::chef_server::ChefServerError),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where the lockfiles of a Berksfile live.
pub fn lock_paths(berksfile: &Path) -> (PathBuf, PathBuf) {
    let dir = berksfile.parent().unwrap_or(Path::new("."));
    let mut berks_lock = berksfile.as_os_str().to_owned();
    berks_lock.push(".lock");
    (dir.join(larder_lock::FILE_NAME), PathBuf::from(berks_lock))
}

/// Reads the current lock: larder.lock, else the GRAPH of a Berksfile.lock.
pub fn read_lock(berksfile: &Path) -> Result<(Option<Lock>, Vec<String>), InstallError> {
    let (larder_path, berks_path) = lock_paths(berksfile);
    if let Some(lock) = larder_lock::read(&larder_path)? {
        return Ok((Some(lock), Vec::new()));
    }
    let mut warnings = Vec::new();
    if berks_path.exists() {
        match BerksfileLock::read(&berks_path)? {
            Some(berks) => return Ok((Some(Lock::from(berks)), warnings)),
            None => warnings.push(crate::lock::berkshelf::empty_lockfile_warning(&berks_path)),
        }
    }
    Ok((None, warnings))
}

/// A project whose lock agrees with its Berksfile: what the commands that
/// only read the lock (list, tree, why, outdated, verify, ...) start from.
#[derive(Debug)]
pub struct Locked {
    pub manifest: Manifest,
    pub lock: Lock,
    /// The lockfile the lock was read from.
    pub lock_path: PathBuf,
    wanted: Vec<Wanted>,
}

impl Locked {
    /// Reads the Berksfile and its lock, and checks that the lock can be
    /// installed as it is: every dependency the Berksfile declares (within
    /// `filter`) locked where it is declared, at a version its constraint
    /// accepts, and nothing locked that the Berksfile no longer declares.
    /// No lock is exit 140, a lock that disagrees exit 144. The lock's
    /// dependencies are taken from the Berksfile (a loosened constraint
    /// leaves the lock trusted), as install would write them.
    ///
    /// Git dependencies are read at their locked revisions from `store`,
    /// never from the network. The Berksfile's warnings go to `on_warning`
    /// as soon as it is read.
    pub fn read(
        berksfile: &Path,
        filter: &GroupFilter,
        store: &Store,
        on_warning: &dyn Fn(&str),
    ) -> Result<Locked, InstallError> {
        let manifest = Manifest::load(berksfile)?;
        manifest.warnings.iter().for_each(|w| on_warning(w));
        let (larder_path, berks_path) = lock_paths(berksfile);
        let (lock, _) = read_lock(berksfile)?;
        let Some(lock) = lock else {
            return Err(InstallError::NoLock { path: larder_path });
        };
        let git_cache = GitCache::new(store);
        let git = plan::GitContext {
            cache: &git_cache,
            offline: true,
            lock: &lock,
        };
        let declared = plan::wanted(&manifest, &GroupFilter::All, &git)?;
        let wanted: Vec<Wanted> = declared
            .iter()
            .filter(|w| w.passes(filter))
            .cloned()
            .collect();
        let lock_path = if larder_path.exists() {
            larder_path
        } else {
            berks_path
        };
        let out_of_sync = |reason: String| InstallError::LockStale {
            berksfile: berksfile.display().to_string(),
            reason,
        };
        check_lock_paths(&lock, &manifest, &declared)?;
        plan::trusts(&lock, &wanted).map_err(|why| out_of_sync(why.to_string()))?;
        if let Some(extra) = lock
            .dependencies
            .iter()
            .find(|d| !declared.iter().any(|w| w.name == d.name))
        {
            return Err(out_of_sync(format!(
                "'{}' is locked but the Berksfile no longer declares it; run `larder install`",
                extra.name
            )));
        }
        Ok(Locked {
            lock: plan::relock(&lock, &wanted),
            manifest,
            lock_path,
            wanted,
        })
    }

    /// The directory the lock's relative paths start from.
    pub fn base(&self) -> &Path {
        self.manifest.path.parent().unwrap_or(Path::new("."))
    }

    /// The index of every source of the Berksfile, as install would see it.
    pub fn index(
        &self,
        client: &Client,
        store: &Store,
        offline: bool,
    ) -> Result<Index, InstallError> {
        build_index(&self.manifest, &self.wanted, client, store, offline)
    }

    /// Where a locked cookbook's files are: its directory for a path
    /// cookbook, its store entry otherwise (which may not exist yet).
    pub fn cookbook_path(&self, store: &Store, name: &str, cookbook: &LockedCookbook) -> PathBuf {
        match (&cookbook.source, cookbook.store_key()) {
            (LockedSource::Path { path }, _) => self.base().join(path),
            (_, key) => store.entry_path(name, key.unwrap_or(&cookbook.raw_version)),
        }
    }

    /// The locked cookbook called `name`; an unknown name is Berkshelf's
    /// `DependencyNotFound` (exit 120).
    pub fn cookbook(&self, name: &str) -> Result<&LockedCookbook, LockError> {
        self.lock
            .cookbooks
            .get(name)
            .ok_or_else(|| LockError::UnknownCookbooks {
                names: vec![name.to_string()],
            })
    }
}

/// Runs an install (or an update, per `request.unlock`) in five phases:
/// [`plan`] (what the Berksfile wants, the lock as far as it still holds),
/// [`resolve_phase`] (the new lock: trusted as it is or resolved again),
/// [`check`] (`--locked`: the lock must not change), [`fetch_phase`]
/// (artifacts into the store) and [`commit`] (the lockfiles). Nothing in
/// the project is written, and no artifact downloaded, before the check;
/// only git locations are read into the store while planning, because
/// their metadata is needed to plan at all.
/// `on_progress` receives one line per download as it starts;
/// `on_warning` each warning as soon as it is known, so that an install
/// that fails later still shows them.
pub fn install(
    request: &Request,
    store: &Store,
    on_progress: &(dyn Fn(&str) + Sync),
    on_warning: &dyn Fn(&str),
) -> Result<Outcome, InstallError> {
    let planned = plan(request, store, on_warning)?;
    let client = Client::new(request.http.clone())?;
    let mut resolved = resolve_phase(request, &planned, store, &client)?;
    let changed = check(request, &planned, &resolved, store)?;
    let (cookbooks, final_lock) = fetch_phase(
        request,
        &planned,
        &mut resolved,
        store,
        &client,
        on_progress,
    )?;
    let mut lock_written = changed || planned.previous.as_ref() != Some(&final_lock);
    // A lock belongs beside a Berksfile that is a file of the project, not
    // beside a device or a pipe (`--berksfile /dev/null` must not write
    // /dev/larder.lock).
    if lock_written && !request.berksfile.is_file() {
        on_warning(&format!(
            "{} is not a regular file, so no lockfile is written beside it",
            request.berksfile.display()
        ));
        lock_written = false;
    }
    commit(request, &final_lock, lock_written)?;
    Ok(Outcome {
        cookbooks,
        lock: final_lock,
        lock_path: lock_paths(&request.berksfile).0,
        lock_written,
        trusted: resolved.trusted,
        sources_read: resolved.sources_read,
        notes: resolved.notes,
    })
}

/// What the Berksfile wants and what of the lock still stands.
struct Planned {
    manifest: Manifest,
    /// The lock as read, before anything was released from it.
    previous: Option<Lock>,
    /// The lock after `update` and the Berksfile's removals.
    lock: Lock,
    wanted: Vec<Wanted>,
    notes: Vec<String>,
}

/// Phase one: reads the Berksfile, the lock and the cookbooks the Berksfile
/// names on disk or in git, and releases what `update` unlocks.
fn plan(
    request: &Request,
    store: &Store,
    on_warning: &dyn Fn(&str),
) -> Result<Planned, InstallError> {
    let mut manifest = Manifest::load(&request.berksfile)?;
    manifest.fill_api_keys(&request.api_keys);
    manifest.warnings.iter().for_each(|w| on_warning(w));
    let mut notes = Vec::new();
    if manifest.solver.is_some() {
        notes.push(
            "the Berksfile's `solver` line is ignored: larder has one solver (PubGrub)".to_string(),
        );
    }
    let (previous, lock_warnings) = read_lock(&request.berksfile)?;
    lock_warnings.iter().for_each(|w| on_warning(w));

    let mut lock = previous.clone().unwrap_or_default();
    match &request.unlock {
        Unlock::Nothing => {}
        Unlock::Everything => lock = Lock::default(),
        Unlock::Only(names) => lock = lock.unlock(names)?,
    }
    let git_cache = GitCache::new(store);
    let git = plan::GitContext {
        cache: &git_cache,
        offline: request.offline,
        lock: &lock,
    };
    // The lock always covers every group (a filtered install must not
    // forget the others' pins); the filter decides what is put in place.
    let wanted = plan::wanted(&manifest, &GroupFilter::All, &git)?;
    wanted
        .iter()
        .flat_map(|w| &w.warnings)
        .for_each(|w| on_warning(w));
    check_lock_paths(&lock, &manifest, &wanted)?;
    plan::reduce(&mut lock, &wanted);
    Ok(Planned {
        manifest,
        previous,
        lock,
        wanted,
        notes,
    })
}

/// The lock an install arrives at, before anything is fetched.
struct Resolved {
    /// Every cookbook with its version and source; path cookbooks carry the
    /// digest of their files as they are now.
    lock: Lock,
    /// The index read to resolve, reused to find downloads.
    index: Option<Index>,
    trusted: bool,
    sources_read: Vec<String>,
    notes: Vec<String>,
}

/// Phase two: trusts the lock as it is, or resolves again with the locked
/// versions preferred; then digests the path cookbooks' files.
fn resolve_phase(
    request: &Request,
    planned: &Planned,
    store: &Store,
    client: &Client,
) -> Result<Resolved, InstallError> {
    let (lock, wanted, manifest) = (&planned.lock, &planned.wanted, &planned.manifest);
    let mut notes = planned.notes.clone();
    let mut sources_read = Vec::new();
    let trusted = request.unlock == Unlock::Nothing && plan::trusts(lock, wanted).is_ok();
    let (mut new_lock, index) = if trusted {
        (plan::relock(lock, wanted), None)
    } else {
        let index = build_index(manifest, wanted, client, store, request.offline)?;
        notes.extend(index.notes().iter().map(|note| note.0.clone()));
        sources_read = registry_urls(manifest);
        let demands: Vec<Demand> = wanted
            .iter()
            .map(|w| Demand::new(w.name.clone(), w.constraint.clone()))
            .collect();
        let preferences: HashMap<String, _> =
            lock.pins().map(|(n, v)| (n.to_string(), v)).collect();
        let resolution = resolve::resolve(&index, &demands, &preferences)?;
        let new_lock = plan::lock_from(&resolution, &index, wanted, manifest, lock);
        (new_lock, Some(index))
    };
    let base = request.berksfile.parent().unwrap_or(Path::new("."));
    for cookbook in new_lock.cookbooks.values_mut() {
        if let LockedSource::Path { path } = &cookbook.source {
            cookbook.sha256 = Some(crate::bundle::vendor::cookbook_digest(&base.join(path))?);
        }
    }
    Ok(Resolved {
        lock: new_lock,
        index,
        trusted,
        sources_read,
        notes,
    })
}

/// The cookbooks to put in place: the closure of the dependencies in the
/// groups the request selects.
fn selected(request: &Request, planned: &Planned, lock: &Lock) -> BTreeSet<String> {
    lock.closure(
        planned
            .wanted
            .iter()
            .filter(|w| w.passes(&request.filter))
            .map(|w| w.name.as_str()),
    )
    .into_iter()
    .map(str::to_string)
    .collect()
}

/// Phase three, the last before anything is written: with `--locked`, the
/// lock must come out of this install unchanged (exit 144 otherwise),
/// including the digests that fetching would fill in. Returns whether the
/// lock already differs from the one on disk.
fn check(
    request: &Request,
    planned: &Planned,
    resolved: &Resolved,
    store: &Store,
) -> Result<bool, InstallError> {
    let previous = planned.previous.as_ref();
    let new_lock = &resolved.lock;
    let changed = previous != Some(new_lock) || !lock_paths(&request.berksfile).0.exists();
    if !request.locked {
        return Ok(changed);
    }
    let out_of_sync = |reason: String| InstallError::OutOfSync {
        berksfile: request.berksfile.display().to_string(),
        reason,
    };
    if changed {
        return Err(out_of_sync(match previous {
            None => "there is no larder.lock yet".to_string(),
            Some(_) => plan::describe_change(previous, new_lock),
        }));
    }
    // Fetching records the digest of every cookbook it puts in place or
    // finds in the store; a lock without it would be rewritten.
    let selected = selected(request, planned, new_lock);
    let undigested: Vec<&str> = new_lock
        .cookbooks
        .iter()
        .filter(|(name, cookbook)| {
            cookbook.sha256.is_none()
                && cookbook
                    .store_key()
                    .is_some_and(|key| selected.contains(*name) || store.record(name, key).is_ok())
        })
        .map(|(name, _)| name.as_str())
        .collect();
    if !undigested.is_empty() {
        return Err(out_of_sync(format!(
            "the lock records no digest for {}",
            undigested.join(", ")
        )));
    }
    Ok(false)
}

/// Phase four: puts every selected cookbook in the store (downloading what
/// it lacks) and verifies each against the lock; returns them with the lock
/// completed by the digests learnt.
fn fetch_phase(
    request: &Request,
    planned: &Planned,
    resolved: &mut Resolved,
    store: &Store,
    client: &Client,
    on_progress: &(dyn Fn(&str) + Sync),
) -> Result<(Vec<Fetched>, Lock), InstallError> {
    let fetcher = fetch::Fetcher {
        store,
        client,
        manifest: &planned.manifest,
        offline: request.offline,
        jobs: request.jobs,
    };
    let selected = selected(request, planned, &resolved.lock);
    fetcher.fetch_all(
        &resolved.lock,
        &selected,
        resolved.index.take(),
        &mut resolved.sources_read,
        &planned.wanted,
        on_progress,
    )
}

/// Phase five: writes larder.lock, and Berksfile.lock where the project
/// keeps one, when the lock changed.
fn commit(request: &Request, lock: &Lock, lock_written: bool) -> Result<(), InstallError> {
    if !lock_written {
        return Ok(());
    }
    let (larder_path, berks_path) = lock_paths(&request.berksfile);
    larder_lock::write(lock, &larder_path)?;
    if berks_path.exists() {
        BerksfileLock::from(lock).write(&berks_path)?;
    }
    Ok(())
}

/// The URLs of the registry sources, in Berksfile order.
fn registry_urls(manifest: &Manifest) -> Vec<String> {
    manifest
        .sources
        .iter()
        .filter_map(|s| match s {
            SourceSpec::Url(url) | SourceSpec::Artifactory { url, .. } => Some(url.clone()),
            SourceSpec::ChefRepo(_) | SourceSpec::ChefServer(None) => None,
            SourceSpec::ChefServer(Some(url)) => Some(url.clone()),
        })
        .collect()
}

/// Builds the index the resolver sees: every source's universe in
/// Berksfile order (the first to list a version supplies it), then the
/// cookbooks on disk, which replace whatever registries list for their name.
pub fn build_index(
    manifest: &Manifest,
    wanted: &[Wanted],
    client: &Client,
    store: &Store,
    offline: bool,
) -> Result<Index, InstallError> {
    let mut index = Index::new();
    let needs_source = plan::needs_source(wanted);
    if manifest.sources.is_empty() && !needs_source.is_empty() {
        return Err(InstallError::NoSources {
            names: needs_source,
            berksfile: manifest.path.display().to_string(),
        });
    }
    for (position, spec) in manifest.sources.iter().enumerate() {
        match spec {
            SourceSpec::Url(url) | SourceSpec::Artifactory { url, .. } => {
                let headers = fetch::source_headers(spec);
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let body = supermarket::fetch_universe(client, store, url, &headers, offline)?;
                supermarket::add_to_index(&body, url, position, &mut index)?;
            }
            SourceSpec::ChefRepo(dir) => local::add_chef_repo(dir, &mut index)?,
            SourceSpec::ChefServer(url) => {
                let server = crate::chef_server::connect(client, url.as_deref())?;
                let body = crate::chef_server::source::fetch_universe(&server, store, offline)?;
                supermarket::add_to_index(&body, server.url(), position, &mut index)?;
            }
        }
    }
    for want in wanted {
        if let Some(cookbook) = &want.local {
            let id = index.intern(&cookbook.metadata.name);
            let release = cookbook.release(&mut index);
            index.pin(id, release);
        }
    }
    Ok(index)
}

/// Refuses a lock whose path cookbooks leave the project, unless the
/// Berksfile declares that very directory: a lockfile alone must not point
/// larder at other directories of the machine.
fn check_lock_paths(
    lock: &Lock,
    manifest: &Manifest,
    wanted: &[Wanted],
) -> Result<(), InstallError> {
    let base = manifest.path.parent().unwrap_or(Path::new("."));
    for (name, cookbook) in &lock.cookbooks {
        let LockedSource::Path { path } = &cookbook.source else {
            continue;
        };
        let declared = wanted.iter().any(|w| {
            w.local
                .as_ref()
                .is_some_and(|local| relative_path(&local.path, base) == *path)
        });
        if !declared && !stays_inside(Path::new(path)) {
            return Err(InstallError::LockPathOutside {
                lock_path: lock_paths(&manifest.path).0,
                name: name.clone(),
                path: path.clone(),
            });
        }
    }
    Ok(())
}

/// Whether a relative path names something inside the directory it is
/// relative to (an absolute path, or one that climbs out with `..`, does
/// not).
fn stays_inside(path: &Path) -> bool {
    let mut depth = 0usize;
    for part in path.components() {
        match part {
            std::path::Component::Normal(_) => depth += 1,
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => match depth.checked_sub(1) {
                Some(up) => depth = up,
                None => return false,
            },
            std::path::Component::RootDir | std::path::Component::Prefix(_) => return false,
        }
    }
    true
}

/// `path` relative to `base` when it lies below it, else `../`-relative
/// when they share a root, as Berkshelf writes locations in lockfiles.
pub fn relative_path(path: &Path, base: &Path) -> String {
    let path_parts: Vec<_> = path.components().collect();
    let base_parts: Vec<_> = base.components().collect();
    let common = path_parts
        .iter()
        .zip(&base_parts)
        .take_while(|(a, b)| a == b)
        .count();
    if common == 0 {
        return path.display().to_string();
    }
    let mut parts: Vec<String> = vec!["..".to_string(); base_parts.len() - common];
    parts.extend(
        path_parts[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_read_like_berkshelf() {
        let base = Path::new("/work/project");
        assert_eq!(relative_path(Path::new("/work/project"), base), ".");
        assert_eq!(relative_path(Path::new("/work/project/fake"), base), "fake");
        assert_eq!(
            relative_path(Path::new("/work/cookbook-path/jenkins-config"), base),
            "../cookbook-path/jenkins-config"
        );
    }

    #[test]
    fn lockfiles_sit_beside_the_berksfile() {
        let (larder, berks) = lock_paths(Path::new("/p/Berksfile"));
        assert_eq!(larder, Path::new("/p/larder.lock"));
        assert_eq!(berks, Path::new("/p/Berksfile.lock"));
    }
}
