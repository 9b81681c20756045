//! The lock: which version of every cookbook an install chose, and where it
//! came from, in a typed model independent of any file format.
//!
//! A [`Lock`] holds the top-level dependencies as the Berksfile declared
//! them and the resolved graph: one [`LockedCookbook`] per cookbook with its
//! exact version, its source, its own dependencies and, when known, the
//! sha256 of its artifact. Two file formats map onto it: larder's own
//! `larder.lock` ([`larder`]) and Berkshelf's `Berksfile.lock`
//! ([`berkshelf`]).
//!
//! The helpers here are what install and update need: the pins to prefer
//! while resolving, unlocking named cookbooks for `update NAME`, pruning
//! orphans, and deciding whether the lock still satisfies what is asked of
//! it.

pub mod berkshelf;
pub mod larder;

use std::collections::{BTreeMap, BTreeSet};

use crate::version::{Constraint, Version};

/// The result of a resolution, as recorded in a lockfile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lock {
    /// The Berksfile's own dependencies, sorted by name when written.
    pub dependencies: Vec<LockedDependency>,
    /// Every resolved cookbook, by name.
    pub cookbooks: BTreeMap<String, LockedCookbook>,
}

/// A top-level dependency as the Berksfile declared it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedDependency {
    pub name: String,
    pub constraint: Constraint,
    pub location: LockedLocation,
    /// The Berksfile groups the dependency belongs to; empty means only the
    /// default group. `Berksfile.lock` does not record groups.
    pub groups: Vec<String>,
}

/// Where a top-level dependency is declared to come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockedLocation {
    /// From the Berksfile's sources.
    Default,
    /// A directory, relative to the Berksfile's directory, as written.
    /// `metadata` is set for the `metadata` directive (the Berksfile's own
    /// cookbook).
    Path { path: String, metadata: bool },
    /// A git repository, locked at a full 40-hex `revision`.
    Git {
        url: String,
        revision: String,
        branch: Option<String>,
        tag: Option<String>,
        reference: Option<String>,
        rel: Option<String>,
    },
}

impl LockedLocation {
    /// Whether two locations name the same place the way Berkshelf decides
    /// trust: git locations compare URL, branch, tag, the first 7 characters
    /// of the ref and rel, but not the revision (a Berksfile has none).
    pub fn same_place(&self, other: &LockedLocation) -> bool {
        match (self, other) {
            (
                LockedLocation::Git {
                    url,
                    branch,
                    tag,
                    reference,
                    rel,
                    ..
                },
                LockedLocation::Git {
                    url: other_url,
                    branch: other_branch,
                    tag: other_tag,
                    reference: other_reference,
                    rel: other_rel,
                    ..
                },
            ) => {
                url == other_url
                    && branch == other_branch
                    && tag == other_tag
                    && rel == other_rel
                    && reference.as_deref().map(short_ref)
                        == other_reference.as_deref().map(short_ref)
            }
            _ => self == other,
        }
    }
}

/// The first 7 characters of a git ref, as Berkshelf records it.
pub fn short_ref(reference: &str) -> &str {
    reference
        .char_indices()
        .nth(7)
        .map_or(reference, |(end, _)| &reference[..end])
}

/// Whether `text` is a full git revision: 40 lowercase hex digits.
pub fn is_full_revision(text: &str) -> bool {
    text.len() == 40
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One resolved cookbook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedCookbook {
    pub version: Version,
    /// The version as its source spells it (URLs and stores use this).
    pub raw_version: String,
    pub source: LockedSource,
    /// The cookbook's own dependencies, sorted by name.
    pub dependencies: Vec<(String, Constraint)>,
    /// The sha256 of the artifact (a registry tarball), or the tree digest
    /// of a path cookbook; unknown for locks imported from Berksfile.lock.
    pub sha256: Option<String>,
}

impl LockedCookbook {
    /// The key of its entry in the store: the revision of a git cookbook,
    /// the version of a registry one; a path cookbook has none.
    pub fn store_key(&self) -> Option<&str> {
        match &self.source {
            LockedSource::Path { .. } => None,
            LockedSource::Git { revision, .. } => Some(revision),
            LockedSource::Registry { .. } | LockedSource::Default => Some(&self.raw_version),
        }
    }
}

/// Where a resolved cookbook is fetched from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockedSource {
    /// Not recorded (a lock imported from Berksfile.lock): the first source
    /// in Berksfile order that lists this version supplies it.
    Default,
    /// A registry (Supermarket, Artifactory, a universe file), by its URL.
    Registry { url: String },
    /// A directory relative to the Berksfile's directory.
    Path { path: String },
    /// A git repository at a full 40-hex revision, optionally a
    /// subdirectory `rel` of it.
    Git {
        url: String,
        revision: String,
        rel: Option<String>,
    },
}

impl LockedSource {
    /// Where the cookbook comes from, in Berkshelf's words ("source at
    /// PATH"), credentials redacted: for messages, listings and bundle
    /// manifests.
    pub fn describe(&self) -> String {
        match self {
            LockedSource::Registry { url } => crate::http::redact(url),
            LockedSource::Path { path } => format!("source at {path}"),
            LockedSource::Git { url, revision, .. } => {
                format!("{} (at {})", crate::http::redact(url), short_ref(revision))
            }
            LockedSource::Default => "the first source that lists it".to_string(),
        }
    }
}

/// Errors from operations on a [`Lock`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// `update NAME` with names the lock does not know (Berkshelf exit 120).
    #[error(
        "Dependency {} was not found. Please make sure it is in your Berksfile, and then run \
         `larder install` to download and install the missing dependencies.",
        quoted_list(names)
    )]
    UnknownCookbooks { names: Vec<String> },
}

impl LockError {
    /// The exit code Berkshelf uses for the same condition.
    pub fn exit_code(&self) -> i32 {
        match self {
            LockError::UnknownCookbooks { .. } => 120,
        }
    }
}

/// Why a lock cannot be installed as it stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsatisfied {
    /// A demanded cookbook has no locked version: resolve again.
    #[error("cookbook '{name}' is not in the lockfile; run `larder install` to resolve it")]
    NotLocked { name: String },
    /// A demand rejects the locked version (Berkshelf exit 128 at install).
    #[error(
        "Berkshelf could not find compatible versions for cookbook '{name}':\n  In Berksfile:\n    \
         {name} ({constraint})\n\n  In Berksfile.lock:\n    {name} ({locked})\n\nTry running \
         `larder update {name}`, which will try to find '{name}' matching '{constraint}'."
    )]
    Outdated {
        name: String,
        constraint: Constraint,
        locked: Version,
    },
    /// A locked cookbook depends on a version the lock does not hold.
    #[error(
        "the lockfile is out of sync: '{cookbook}' needs {dependency} ({constraint}) but the \
         lockfile has {}; run `larder install` to resolve again",
        locked.map_or_else(|| "no version of it".to_string(), |v| v.to_string())
    )]
    Transitive {
        cookbook: String,
        dependency: String,
        constraint: Constraint,
        locked: Option<Version>,
    },
}

impl Unsatisfied {
    /// The exit code Berkshelf uses when install stops for this reason
    /// (only [`Unsatisfied::Outdated`] stops an install; the others make the
    /// lock untrusted, and `upload` reports them as out of sync, 144).
    pub fn exit_code(&self) -> i32 {
        match self {
            Unsatisfied::Outdated { .. } => 128,
            Unsatisfied::NotLocked { .. } | Unsatisfied::Transitive { .. } => 144,
        }
    }
}

impl Lock {
    /// Every locked cookbook and its version, by name: the preferences the
    /// resolver starts from.
    pub fn pins(&self) -> impl Iterator<Item = (&str, Version)> {
        self.cookbooks
            .iter()
            .map(|(name, cookbook)| (name.as_str(), cookbook.version))
    }

    /// The dependency called `name`, if the Berksfile declared it.
    pub fn dependency(&self, name: &str) -> Option<&LockedDependency> {
        self.dependencies.iter().find(|d| d.name == name)
    }

    /// The lock `update NAMES` resolves against: the named cookbooks are
    /// removed, and so is every cookbook that is no longer reachable from
    /// the dependencies once they are gone. Every other lock stays pinned.
    /// Names not in the graph are an error listing all of them.
    pub fn unlock<S: AsRef<str>>(&self, names: &[S]) -> Result<Lock, LockError> {
        let unknown: Vec<String> = names
            .iter()
            .map(AsRef::as_ref)
            .filter(|name| !self.cookbooks.contains_key(*name))
            .map(str::to_string)
            .collect();
        if !unknown.is_empty() {
            return Err(LockError::UnknownCookbooks { names: unknown });
        }
        let mut unlocked = self.clone();
        for name in names {
            unlocked.cookbooks.remove(name.as_ref());
        }
        unlocked.prune_orphans();
        Ok(unlocked)
    }

    /// Cookbooks no dependency reaches through the locked graph, by name.
    pub fn orphans(&self) -> Vec<&str> {
        let reachable = self.reachable();
        self.cookbooks
            .keys()
            .map(String::as_str)
            .filter(|name| !reachable.contains(name))
            .collect()
    }

    /// Removes the orphans and returns their names.
    pub fn prune_orphans(&mut self) -> Vec<String> {
        let orphans: Vec<String> = self.orphans().into_iter().map(str::to_string).collect();
        for name in &orphans {
            self.cookbooks.remove(name);
        }
        orphans
    }

    /// Names reachable from the dependencies through locked cookbooks.
    fn reachable(&self) -> BTreeSet<&str> {
        self.closure(self.dependencies.iter().map(|d| d.name.as_str()))
    }

    /// `roots` and every name reachable from them through locked cookbooks.
    pub fn closure<'a>(&'a self, roots: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
        let mut seen = BTreeSet::new();
        let mut pending: Vec<&str> = roots.into_iter().collect();
        while let Some(name) = pending.pop() {
            if !seen.insert(name) {
                continue;
            }
            if let Some(cookbook) = self.cookbooks.get(name) {
                pending.extend(cookbook.dependencies.iter().map(|(dep, _)| dep.as_str()));
            }
        }
        seen
    }

    /// Checks that the lock satisfies `demands` (name and constraint, as the
    /// Berksfile asks): every demanded cookbook is locked at a version its
    /// constraint accepts, then every locked cookbook's own constraints hold
    /// within the lock. Returns the first problem found, demands first.
    pub fn check<'a>(
        &self,
        demands: impl IntoIterator<Item = (&'a str, &'a Constraint)>,
    ) -> Result<(), Box<Unsatisfied>> {
        for (name, constraint) in demands {
            let Some(locked) = self.cookbooks.get(name) else {
                return Err(Box::new(Unsatisfied::NotLocked {
                    name: name.to_string(),
                }));
            };
            if !constraint.matches(&locked.version) {
                return Err(Box::new(Unsatisfied::Outdated {
                    name: name.to_string(),
                    constraint: constraint.clone(),
                    locked: locked.version,
                }));
            }
        }
        for (name, cookbook) in &self.cookbooks {
            for (dependency, constraint) in &cookbook.dependencies {
                let locked = self.cookbooks.get(dependency).map(|c| c.version);
                if !locked.is_some_and(|v| constraint.matches(&v)) {
                    return Err(Box::new(Unsatisfied::Transitive {
                        cookbook: name.clone(),
                        dependency: dependency.clone(),
                        constraint: constraint.clone(),
                        locked,
                    }));
                }
            }
        }
        Ok(())
    }
}

/// `'a'`, `'a' and 'b'`, `'a', 'b' and 'c'`.
fn quoted_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The lock checked against its own dependency section.
    fn own_check(lock: &Lock) -> Result<(), Box<Unsatisfied>> {
        lock.check(
            lock.dependencies
                .iter()
                .map(|d| (d.name.as_str(), &d.constraint)),
        )
    }

    pub(crate) fn c(text: &str) -> Constraint {
        Constraint::parse(text).unwrap()
    }

    pub(crate) fn cookbook(version: &str, deps: &[(&str, &str)]) -> LockedCookbook {
        LockedCookbook {
            version: version.parse().unwrap(),
            raw_version: version.to_string(),
            source: LockedSource::Default,
            dependencies: deps.iter().map(|(n, k)| (n.to_string(), c(k))).collect(),
            sha256: None,
        }
    }

    pub(crate) fn dependency(name: &str, constraint: &str) -> LockedDependency {
        LockedDependency {
            name: name.to_string(),
            constraint: c(constraint),
            location: LockedLocation::Default,
            groups: Vec::new(),
        }
    }

    /// The graph of Berkshelf's `orphans` fixture.
    fn jenkins() -> Lock {
        Lock {
            dependencies: vec![dependency("apt", "~> 2.0"), dependency("jenkins", "~> 2.0")],
            cookbooks: [
                ("apt", cookbook("2.3.6", &[])),
                ("build-essential", cookbook("1.4.2", &[])),
                (
                    "jenkins",
                    cookbook("2.0.3", &[("apt", "~> 2.0"), ("runit", "~> 1.5")]),
                ),
                (
                    "runit",
                    cookbook("1.5.8", &[("build-essential", ">= 0.0.0")]),
                ),
                ("yum", cookbook("3.0.6", &[])),
                ("zum-foo", cookbook("0.1.0", &[("yum", "~> 3.0")])),
            ]
            .into_iter()
            .map(|(n, c)| (n.to_string(), c))
            .collect(),
        }
    }

    fn names(lock: &Lock) -> Vec<&str> {
        lock.cookbooks.keys().map(String::as_str).collect()
    }

    #[test]
    fn pins_list_every_locked_version() {
        let lock = jenkins();
        let pins: Vec<(&str, Version)> = lock.pins().collect();
        assert_eq!(pins.len(), 6);
        assert_eq!(pins[0], ("apt", Version::new(2, 3, 6)));
    }

    #[test]
    fn orphans_are_unreachable_cookbooks() {
        let mut lock = jenkins();
        assert_eq!(lock.orphans(), vec!["yum", "zum-foo"]);
        assert_eq!(lock.prune_orphans(), vec!["yum", "zum-foo"]);
        assert_eq!(names(&lock), ["apt", "build-essential", "jenkins", "runit"]);
        assert!(lock.orphans().is_empty());
    }

    #[test]
    fn unlock_removes_the_name_and_what_only_it_needed() {
        let lock = jenkins();
        let unlocked = lock.unlock(&["jenkins"]).unwrap();
        // apt is still a dependency; runit and build-essential were only
        // reached through jenkins.
        assert_eq!(names(&unlocked), ["apt"]);
        assert_eq!(unlocked.dependencies, lock.dependencies);

        let unlocked = lock.unlock(&["runit"]).unwrap();
        assert_eq!(names(&unlocked), ["apt", "jenkins"]);

        // A dependency still reached elsewhere stays out only itself.
        let unlocked = lock.unlock(&["apt"]).unwrap();
        assert_eq!(names(&unlocked), ["build-essential", "jenkins", "runit"]);
    }

    #[test]
    fn unlock_names_every_unknown_cookbook() {
        let err = jenkins().unlock(&["nope", "apt", "gone"]).unwrap_err();
        assert_eq!(
            err,
            LockError::UnknownCookbooks {
                names: vec!["nope".into(), "gone".into()]
            }
        );
        assert_eq!(err.exit_code(), 120);
        assert!(
            err.to_string()
                .starts_with("Dependency 'nope' and 'gone' was not found.")
        );
    }

    #[test]
    fn check_reports_outdated_and_broken_locks() {
        let mut lock = jenkins();
        lock.prune_orphans();
        assert!(own_check(&lock).is_ok());

        let newer = c("~> 2.4");
        let err = lock.check([("apt", &newer)]).unwrap_err();
        assert_eq!(err.exit_code(), 128);
        assert!(
            err.to_string()
                .contains("    apt (~> 2.4)\n\n  In Berksfile.lock:\n    apt (2.3.6)")
        );

        let any = c(">= 0.0.0");
        assert_eq!(
            lock.check([("missing", &any)]).unwrap_err().exit_code(),
            144
        );

        lock.cookbooks
            .get_mut("runit")
            .unwrap()
            .dependencies
            .push(("yum".into(), c("~> 3.0")));
        assert_eq!(
            *lock.check([]).unwrap_err(),
            Unsatisfied::Transitive {
                cookbook: "runit".into(),
                dependency: "yum".into(),
                constraint: c("~> 3.0"),
                locked: None,
            }
        );
        assert!(own_check(&lock).is_err());
    }

    #[test]
    fn git_locations_compare_without_revision() {
        let git = |revision: &str, reference: &str| LockedLocation::Git {
            url: "https://example.com/x.git".into(),
            revision: revision.into(),
            branch: None,
            tag: None,
            reference: Some(reference.into()),
            rel: None,
        };
        assert!(git(&"a".repeat(40), "919afa0c40").same_place(&git(&"b".repeat(40), "919afa0")));
        assert!(!git(&"a".repeat(40), "919afa1").same_place(&git(&"a".repeat(40), "919afa0")));
        assert!(!git(&"a".repeat(40), "x").same_place(&LockedLocation::Default));
        assert!(LockedLocation::Default.same_place(&LockedLocation::Default));
    }

    #[test]
    fn revisions_and_refs() {
        assert!(is_full_revision("93f5768b7d14df45e10d16c8bf6fe98ba3ff809a"));
        assert!(!is_full_revision("93f5768"));
        assert!(!is_full_revision(&"G".repeat(40)));
        assert_eq!(short_ref("919afa0c402089df"), "919afa0");
        assert_eq!(short_ref("v1"), "v1");
    }
}
