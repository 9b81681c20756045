//! Our pubgrub `DependencyProvider`: answers the solver's questions from an
//! [`Index`], newest acceptable version first, preferred (locked) versions
//! before anything else while they are still allowed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;

use pubgrub::{
    Dependencies, DependencyConstraints, DependencyProvider, PackageResolutionStatistics,
};

use super::priority::{Priority, Urgency};
use crate::index::{CookbookId, Index};
use crate::version::{Version, VersionSet};

/// A package in the resolution: the synthetic root (what the user asked
/// for) or a cookbook.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Package {
    Root,
    Cookbook(CookbookId),
}

impl fmt::Display for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Package::Root => f.write_str("the demands"),
            Package::Cookbook(id) => write!(f, "cookbook #{}", id.index()),
        }
    }
}

/// Answers pubgrub's questions about the cookbooks in an index.
pub struct Provider<'a> {
    index: &'a Index,
    demands: Vec<(Package, VersionSet)>,
    preferences: &'a HashMap<CookbookId, Version>,
}

impl<'a> Provider<'a> {
    pub fn new(
        index: &'a Index,
        demands: Vec<(Package, VersionSet)>,
        preferences: &'a HashMap<CookbookId, Version>,
    ) -> Self {
        Provider {
            index,
            demands,
            preferences,
        }
    }

    fn is_direct(&self, package: &Package) -> bool {
        self.demands.iter().any(|(p, _)| p == package)
    }
}

/// Adds `(package, range)` to `deps`, intersecting with an earlier
/// requirement on the same package (metadata may repeat a `depends`).
pub(super) fn push_merged(
    deps: &mut Vec<(Package, VersionSet)>,
    package: Package,
    range: VersionSet,
) {
    match deps.iter_mut().find(|(p, _)| *p == package) {
        Some((_, existing)) => *existing = existing.intersection(&range),
        None => deps.push((package, range)),
    }
}

impl DependencyProvider for Provider<'_> {
    type P = Package;
    type V = Version;
    type VS = VersionSet;
    type M = String;
    type Priority = Priority;
    type Err = Infallible;

    fn prioritize(
        &self,
        package: &Package,
        range: &VersionSet,
        statistics: &PackageResolutionStatistics,
    ) -> Priority {
        let id = match package {
            Package::Root => return Priority::new(Urgency::Root, 0, 0),
            Package::Cookbook(id) => *id,
        };
        let candidates = self
            .index
            .cookbook(id)
            .releases
            .iter()
            .filter(|r| range.contains(&r.version))
            .count();
        let urgency = if candidates <= 1 {
            Urgency::Singleton
        } else if self.preferences.contains_key(&id) {
            Urgency::Preferred
        } else if self.is_direct(package) {
            Urgency::Direct
        } else {
            Urgency::Transitive
        };
        Priority::new(urgency, statistics.conflict_count(), candidates)
    }

    fn choose_version(
        &self,
        package: &Package,
        range: &VersionSet,
    ) -> Result<Option<Version>, Infallible> {
        let id = match package {
            Package::Root => return Ok(Some(Version::ZERO)),
            Package::Cookbook(id) => *id,
        };
        let cookbook = self.index.cookbook(id);
        if let Some(preferred) = self.preferences.get(&id)
            && range.contains(preferred)
            && cookbook.release(preferred).is_some()
        {
            return Ok(Some(*preferred));
        }
        Ok(cookbook
            .releases
            .iter()
            .rev()
            .map(|r| r.version)
            .find(|v| range.contains(v)))
    }

    fn get_dependencies(
        &self,
        package: &Package,
        version: &Version,
    ) -> Result<Dependencies<Package, VersionSet, String>, Infallible> {
        let id = match package {
            Package::Root => {
                return Ok(Dependencies::Available(
                    self.demands.iter().cloned().collect(),
                ));
            }
            Package::Cookbook(id) => *id,
        };
        let Some(release) = self.index.cookbook(id).release(version) else {
            return Ok(Dependencies::Unavailable(
                "no source lists this version".to_string(),
            ));
        };
        let requirements = match &release.dependencies {
            Ok(requirements) => requirements,
            Err(reason) => return Ok(Dependencies::Unavailable(reason.clone())),
        };
        let mut deps = Vec::with_capacity(requirements.len());
        for requirement in requirements {
            if self
                .index
                .cookbook(requirement.cookbook)
                .releases
                .is_empty()
            {
                return Ok(Dependencies::Unavailable(format!(
                    "it depends on {}, which no source has",
                    self.index.name(requirement.cookbook)
                )));
            }
            push_merged(
                &mut deps,
                Package::Cookbook(requirement.cookbook),
                requirement.constraint.to_ranges(),
            );
        }
        Ok(Dependencies::Available(
            deps.into_iter().collect::<DependencyConstraints<_, _>>(),
        ))
    }
}
