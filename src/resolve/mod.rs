//! Version resolution with PubGrub: given an [`Index`] and the demands of a
//! Berksfile (or a command line), pick one version of every cookbook needed,
//! or explain in plain words why no such choice exists.

mod priority;
mod provider;
mod report;

use std::collections::{BTreeMap, HashMap};

use pubgrub::PubGrubError;

use crate::index::{CookbookId, Index};
use crate::version::{Constraint, Version};
pub use provider::Package;
use provider::{Provider, push_merged};

/// A cookbook the caller requires, with the versions it accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Demand {
    pub name: String,
    pub constraint: Constraint,
}

impl Demand {
    pub fn new(name: impl Into<String>, constraint: Constraint) -> Self {
        Demand {
            name: name.into(),
            constraint,
        }
    }
}

/// The version chosen for one cookbook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pick {
    pub cookbook: CookbookId,
    pub version: Version,
    /// The version as the source spells it.
    pub raw_version: String,
}

/// A successful resolution: one pick per cookbook, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    pub picks: BTreeMap<String, Pick>,
}

/// Why a resolution failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No set of versions satisfies the demands; the message explains why.
    #[error("{explanation}")]
    NoSolution { explanation: String },
}

/// Resolves `demands` against `index`. `preferences` (usually the versions
/// of a lockfile) are chosen whenever the constraints still allow them.
pub fn resolve(
    index: &Index,
    demands: &[Demand],
    preferences: &HashMap<String, Version>,
) -> Result<Resolution, ResolveError> {
    // Names nobody lists still get an id, so the solver can say so.
    let mut extended;
    let mut index = index;
    if demands.iter().any(|d| index.id(&d.name).is_none()) {
        extended = index.clone();
        for demand in demands {
            extended.intern(&demand.name);
        }
        index = &extended;
    }
    let mut root_demands = Vec::with_capacity(demands.len());
    for demand in demands {
        if let Some(id) = index.id(&demand.name) {
            push_merged(
                &mut root_demands,
                Package::Cookbook(id),
                demand.constraint.to_ranges(),
            );
        }
    }
    let preferred: HashMap<CookbookId, Version> = preferences
        .iter()
        .filter_map(|(name, version)| index.id(name).map(|id| (id, *version)))
        .collect();
    let provider = Provider::new(index, root_demands, &preferred);
    match pubgrub::resolve(&provider, Package::Root, Version::ZERO) {
        Ok(selected) => {
            let mut picks = BTreeMap::new();
            for (package, version) in selected {
                let Package::Cookbook(id) = package else {
                    continue;
                };
                let cookbook = index.cookbook(id);
                let raw_version = cookbook
                    .release(&version)
                    .map(|r| r.raw_version.clone())
                    .unwrap_or_else(|| version.to_string());
                picks.insert(
                    cookbook.name.clone(),
                    Pick {
                        cookbook: id,
                        version,
                        raw_version,
                    },
                );
            }
            Ok(Resolution { picks })
        }
        Err(PubGrubError::NoSolution(tree)) => Err(ResolveError::NoSolution {
            explanation: report::explain(&tree, index),
        }),
        Err(
            PubGrubError::ErrorRetrievingDependencies { source, .. }
            | PubGrubError::ErrorChoosingVersion { source, .. }
            | PubGrubError::ErrorInShouldCancel(source),
        ) => match source {},
    }
}
