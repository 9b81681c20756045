//! Deciding what an install must do: the dependencies the Berksfile wants,
//! whether the current lock can be trusted as it is, and the new lock that
//! a resolution produces.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::local::LocalCookbook;
use super::{InstallError, relative_path};
use crate::berksfile::{DEFAULT_GROUP, GroupFilter, Location, Manifest, SourceSpec};
use crate::index::{Index, Origin};
use crate::lock::{
    Lock, LockedCookbook, LockedDependency, LockedLocation, LockedSource, Unsatisfied,
};
use crate::resolve::Resolution;
use crate::source::git::{GitCache, GitCookbook, GitSpec};
use crate::version::Constraint;

/// One dependency of the Berksfile, with its cookbook read from disk when
/// it has a `path:` or git location.
#[derive(Clone, Debug)]
pub struct Wanted {
    pub name: String,
    pub constraint: Constraint,
    pub location: LockedLocation,
    pub groups: Vec<String>,
    pub local: Option<LocalCookbook>,
    /// What the user should know about how it was fetched (a git
    /// repository's submodules left out, say).
    pub warnings: Vec<String>,
}

impl Wanted {
    /// Whether the dependency passes a group filter (no group means
    /// `default`).
    pub fn passes(&self, filter: &GroupFilter) -> bool {
        if self.groups.is_empty() {
            filter.allows(&[DEFAULT_GROUP.to_string()])
        } else {
            filter.allows(&self.groups)
        }
    }
}

/// How git locations are looked up while planning.
pub struct GitContext<'a> {
    pub cache: &'a GitCache,
    pub offline: bool,
    /// The lock after `update` released what it names: a git dependency
    /// still locked here stays at its locked revision.
    pub lock: &'a Lock,
}

/// The Berksfile's dependencies that pass the group filter.
pub fn wanted(
    manifest: &Manifest,
    filter: &GroupFilter,
    git: &GitContext<'_>,
) -> Result<Vec<Wanted>, InstallError> {
    let base = manifest.path.parent().unwrap_or(Path::new("."));
    let mut wanted = Vec::new();
    for spec in manifest.dependencies_for(filter) {
        let groups: Vec<String> = spec
            .groups
            .iter()
            .filter(|g| g.as_str() != DEFAULT_GROUP)
            .cloned()
            .collect();
        let mut warnings = Vec::new();
        let (name, location, local) = match &spec.location {
            Location::Default => (
                spec.name.clone().unwrap_or_default(),
                LockedLocation::Default,
                None,
            ),
            Location::Path { path, metadata } => {
                let cookbook = LocalCookbook::load(path, spec.name.as_deref())?;
                let location = LockedLocation::Path {
                    path: relative_path(path, base),
                    metadata: *metadata,
                };
                (cookbook.metadata.name.clone(), location, Some(cookbook))
            }
            Location::Git {
                url,
                branch,
                tag,
                reference,
                rel,
            } => {
                let name = spec.name.clone().unwrap_or_default();
                let rel = rel.as_ref().map(|r| r.to_string_lossy().into_owned());
                let git_spec = GitSpec {
                    url: url.clone(),
                    branch: branch.clone(),
                    tag: tag.clone(),
                    reference: reference.clone(),
                    rel: rel.clone(),
                };
                // The lock never holds a token from the URL.
                let recorded = GitSpec {
                    url: crate::http::without_credentials(url),
                    ..git_spec.clone()
                };
                let requested = git_location(&recorded, String::new());
                let cookbook = git_cookbook(&name, &git_spec, &requested, git)?;
                if cookbook.metadata.name != name {
                    return Err(InstallError::MismatchedName {
                        path: PathBuf::from(crate::http::redact(url)),
                        expected: name,
                        actual: crate::shown::shown(&cookbook.metadata.name),
                    });
                }
                let location = git_location(&recorded, cookbook.revision.to_string());
                warnings = cookbook.warnings;
                let local = LocalCookbook {
                    path: cookbook.path,
                    metadata: cookbook.metadata,
                    origin: Origin::Git {
                        url: recorded.url.clone(),
                        revision: cookbook.revision.to_string(),
                        rel,
                    },
                };
                (name, location, Some(local))
            }
        };
        wanted.push(Wanted {
            name,
            constraint: spec.constraint.clone(),
            location,
            groups,
            local,
            warnings,
        });
    }
    wanted.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(wanted)
}

/// How the lock records a git location at `revision`.
fn git_location(spec: &GitSpec, revision: String) -> LockedLocation {
    LockedLocation::Git {
        url: spec.url.clone(),
        revision,
        branch: spec.branch.clone(),
        tag: spec.tag.clone(),
        reference: spec.reference.clone(),
        rel: spec.rel.clone(),
    }
}

/// A git dependency's cookbook: at its locked revision while the lock
/// still holds it at the same place, else at what the branch, tag or ref
/// names now.
fn git_cookbook(
    name: &str,
    spec: &GitSpec,
    requested: &LockedLocation,
    git: &GitContext<'_>,
) -> Result<GitCookbook, InstallError> {
    let locked = git
        .lock
        .dependency(name)
        .filter(|d| d.location.same_place(requested) && git.lock.cookbooks.contains_key(name))
        .and_then(|d| match &d.location {
            LockedLocation::Git { revision, .. } if !revision.is_empty() => Some(revision.clone()),
            _ => None,
        });
    let cookbook = match locked {
        Some(revision) => {
            git.cache
                .fetch_locked(name, &spec.url, &revision, spec.rel.as_deref(), git.offline)?
        }
        None => git.cache.fetch_cookbook(spec, git.offline)?,
    };
    Ok(cookbook)
}

/// Cookbooks that must come from a registry: dependencies without a path,
/// and what the cookbooks on disk depend on that is not on disk itself.
pub fn needs_source(wanted: &[Wanted]) -> Vec<String> {
    let on_disk: BTreeSet<&str> = wanted
        .iter()
        .filter_map(|w| w.local.as_ref().map(|l| l.metadata.name.as_str()))
        .collect();
    let mut names: BTreeSet<String> = BTreeSet::new();
    for want in wanted {
        match &want.local {
            None => {
                names.insert(want.name.clone());
            }
            Some(local) => names.extend(
                local
                    .metadata
                    .dependencies
                    .iter()
                    .map(|(dep, _)| dep)
                    .filter(|dep| !on_disk.contains(dep.as_str()))
                    .cloned(),
            ),
        }
    }
    names.into_iter().collect()
}

/// Drops from the lock what the Berksfile no longer asks for.
pub fn reduce(lock: &mut Lock, wanted: &[Wanted]) {
    lock.dependencies
        .retain(|d| wanted.iter().any(|w| w.name == d.name));
    lock.prune_orphans();
}

/// Whether the lock can be installed as it is: every dependency locked at
/// the same place, cookbooks on disk unchanged, and every constraint met.
pub fn trusts(lock: &Lock, wanted: &[Wanted]) -> Result<(), Box<Unsatisfied>> {
    let not_locked = |name: &str| {
        Box::new(Unsatisfied::NotLocked {
            name: name.to_string(),
        })
    };
    for want in wanted {
        let Some(dependency) = lock.dependency(&want.name) else {
            return Err(not_locked(&want.name));
        };
        if !dependency.location.same_place(&want.location) {
            return Err(not_locked(&want.name));
        }
        if let (Some(local), Some(locked)) = (&want.local, lock.cookbooks.get(&want.name))
            && (locked.version != local.metadata.version
                || locked.dependencies != sorted_dependencies(&local.metadata.dependencies))
        {
            return Err(not_locked(&want.name));
        }
    }
    lock.check(wanted.iter().map(|w| (w.name.as_str(), &w.constraint)))
}

fn sorted_dependencies(dependencies: &[(String, Constraint)]) -> Vec<(String, Constraint)> {
    let mut sorted = dependencies.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted
}

/// The lock's dependency section for what the Berksfile wants.
fn locked_dependencies(wanted: &[Wanted]) -> Vec<LockedDependency> {
    wanted
        .iter()
        .map(|w| LockedDependency {
            name: w.name.clone(),
            constraint: w.constraint.clone(),
            location: w.location.clone(),
            groups: w.groups.clone(),
        })
        .collect()
}

/// A trusted lock with its dependency section brought up to date (a
/// constraint may have been loosened without changing any version).
pub fn relock(lock: &Lock, wanted: &[Wanted]) -> Lock {
    Lock {
        dependencies: locked_dependencies(wanted),
        cookbooks: lock.cookbooks.clone(),
    }
}

/// The lock for a resolution. A cookbook keeps its recorded sha256 when it
/// is locked again at the same version from the same place.
pub fn lock_from(
    resolution: &Resolution,
    index: &Index,
    wanted: &[Wanted],
    manifest: &Manifest,
    previous: &Lock,
) -> Lock {
    let base = manifest.path.parent().unwrap_or(Path::new("."));
    let mut lock = Lock {
        dependencies: locked_dependencies(wanted),
        cookbooks: Default::default(),
    };
    for (name, pick) in &resolution.picks {
        let cookbook = index.cookbook(pick.cookbook);
        let Some(release) = cookbook.release(&pick.version) else {
            continue;
        };
        let source = match &release.origin {
            Origin::Registry { source, .. } => match manifest.sources.get(*source) {
                Some(SourceSpec::Url(url) | SourceSpec::Artifactory { url, .. }) => {
                    LockedSource::Registry {
                        url: crate::http::without_credentials(url),
                    }
                }
                _ => LockedSource::Default,
            },
            Origin::Directory { path } => LockedSource::Path {
                path: relative_path(path, base),
            },
            Origin::Git { url, revision, rel } => LockedSource::Git {
                url: url.clone(),
                revision: revision.clone(),
                rel: rel.clone(),
            },
            Origin::Listed => LockedSource::Default,
        };
        let mut dependencies: Vec<(String, Constraint)> = release
            .dependencies
            .as_ref()
            .map(|deps| {
                deps.iter()
                    .map(|r| (index.name(r.cookbook).to_string(), r.constraint.clone()))
                    .collect()
            })
            .unwrap_or_default();
        dependencies.sort_by(|a, b| a.0.cmp(&b.0));
        let sha256 = previous
            .cookbooks
            .get(name)
            .filter(|old| old.version == pick.version && same_source(&old.source, &source))
            .and_then(|old| old.sha256.clone());
        lock.cookbooks.insert(
            name.clone(),
            LockedCookbook {
                version: pick.version,
                raw_version: pick.raw_version.clone(),
                source,
                dependencies,
                sha256,
            },
        );
    }
    lock
}

/// A lock imported from Berksfile.lock does not know its sources: any
/// registry matches it.
fn same_source(old: &LockedSource, new: &LockedSource) -> bool {
    old == new || (*old == LockedSource::Default && matches!(new, LockedSource::Registry { .. }))
}

/// A short account of how `new` differs from `old`, for `--locked`.
pub fn describe_change(old: Option<&Lock>, new: &Lock) -> String {
    let Some(old) = old else {
        return "there is no lock yet".to_string();
    };
    let mut changes = Vec::new();
    for (name, cookbook) in &new.cookbooks {
        match old.cookbooks.get(name) {
            None => changes.push(format!("{name} {} would be added", cookbook.raw_version)),
            Some(was) if was.version != cookbook.version => changes.push(format!(
                "{name} would move from {} to {}",
                was.raw_version, cookbook.raw_version
            )),
            Some(was) if was.sha256.is_some() && was.sha256 != cookbook.sha256 => changes.push(
                format!("the files of {name} changed since the lock recorded their digest"),
            ),
            Some(_) => {}
        }
    }
    for name in old.cookbooks.keys() {
        if !new.cookbooks.contains_key(name) {
            changes.push(format!("{name} would be removed"));
        }
    }
    if changes.is_empty() {
        changes.push("the Berksfile's dependencies differ from the lock's".to_string());
    }
    if changes.len() > 5 {
        let more = changes.len() - 5;
        changes.truncate(5);
        changes.push(format!("{more} more"));
    }
    changes.join(", ")
}
