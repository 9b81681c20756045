//! Turning pubgrub's derivation tree into a few plain sentences.
//!
//! The tree proves that the demands cannot all hold by combining facts of
//! three kinds: what the user asked for, what a cookbook version requires,
//! and which versions exist. The proof's steps are noise to a user; the
//! facts are what they can act on. So the report lists exactly the facts the
//! proof used, ordered along the dependency chains from the demands
//! outwards, as one sentence: "you asked for web ~> 1.0, web 1.0.0 requires
//! nginx ~> 2.7, every nginx version from 2.7.0 to 2.7.4 requires yum >= 3.0,
//! and you asked for yum < 3.0."

use std::collections::HashSet;

use pubgrub::{DerivationTree, External};

use super::provider::Package;
use crate::index::Index;
use crate::version::{VersionSet, describe_set};

type Tree = DerivationTree<Package, VersionSet, String>;

/// One fact the proof rests on.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Fact {
    Demand(Package, VersionSet),
    Requires(Package, VersionSet, Package, VersionSet),
    NoVersions(Package, VersionSet),
    Unusable(Package, VersionSet, String),
}

impl Fact {
    /// The package the fact is about (the dependent, for a requirement).
    fn subject(&self) -> Package {
        match self {
            Fact::Demand(_, _) => Package::Root,
            Fact::Requires(p, _, _, _) | Fact::NoVersions(p, _) | Fact::Unusable(p, _, _) => *p,
        }
    }

    /// The package the fact leads to, if any.
    fn target(&self) -> Option<Package> {
        match self {
            Fact::Demand(p, _) | Fact::Requires(_, _, p, _) => Some(*p),
            _ => None,
        }
    }
}

/// Explains why no solution exists.
pub fn explain(tree: &Tree, index: &Index) -> String {
    let mut facts = Vec::new();
    let mut seen = HashSet::new();
    collect(tree, &mut facts, &mut seen);
    let facts = order_along_chains(drop_gap_fillers(merge_alike(facts)));
    let names = Names { index };

    let mut asked: Vec<String> = facts
        .iter()
        .filter_map(|f| match f {
            Fact::Demand(p, _) => Some(names.of(*p)),
            _ => None,
        })
        .collect();
    asked.dedup();
    let clauses: Vec<String> = facts.iter().map(|f| names.clause(f)).collect();
    let subject = match asked.as_slice() {
        [] => "the demands".to_string(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    let lead = if asked.len() > 1 {
        format!("No versions of {subject} work together")
    } else {
        format!("No version of {subject} can be used")
    };
    format!("{lead}, because {}.", join_clauses(&clauses))
}

/// Walks the proof, keeping every external fact once, in proof order.
fn collect(tree: &Tree, facts: &mut Vec<Fact>, seen: &mut HashSet<Fact>) {
    match tree {
        DerivationTree::Derived(derived) => {
            collect(&derived.cause1, facts, seen);
            collect(&derived.cause2, facts, seen);
        }
        DerivationTree::External(external) => {
            let fact = match external {
                External::NotRoot(_, _) => return,
                External::NoVersions(p, set) => Fact::NoVersions(*p, set.clone()),
                External::FromDependencyOf(Package::Root, _, p, set) => {
                    Fact::Demand(*p, set.clone())
                }
                External::FromDependencyOf(p, set, q, q_set) => {
                    Fact::Requires(*p, set.clone(), *q, q_set.clone())
                }
                External::Custom(p, set, reason) => Fact::Unusable(*p, set.clone(), reason.clone()),
            };
            if seen.insert(fact.clone()) {
                facts.push(fact);
            }
        }
    }
}

/// Merges facts that say the same thing about different versions of one
/// cookbook ("1.0.0 requires yum ~> 3.0", "1.1.0 requires yum ~> 3.0") into
/// one fact about all those versions.
fn merge_alike(facts: Vec<Fact>) -> Vec<Fact> {
    let mut merged: Vec<Fact> = Vec::with_capacity(facts.len());
    for fact in facts {
        let twin = merged
            .iter_mut()
            .find_map(|earlier| match (earlier, &fact) {
                (Fact::Requires(p, set, q, q_set), Fact::Requires(p2, set2, q2, q_set2))
                    if p == p2 && q == q2 && q_set == q_set2 =>
                {
                    Some((set, set2))
                }
                (Fact::Unusable(p, set, reason), Fact::Unusable(p2, set2, reason2))
                    if p == p2 && reason == reason2 =>
                {
                    Some((set, set2))
                }
                _ => None,
            });
        match twin {
            Some((set, addition)) => *set = set.union(addition),
            None => merged.push(fact),
        }
    }
    merged
}

/// Drops "no version in this range" facts about a package that other facts
/// already describe: the proof uses them to close the gaps between the
/// versions that exist, which a reader takes for granted.
fn drop_gap_fillers(facts: Vec<Fact>) -> Vec<Fact> {
    let described: HashSet<Package> = facts
        .iter()
        .filter(|f| matches!(f, Fact::Requires(..) | Fact::Unusable(..)))
        .map(Fact::subject)
        .collect();
    facts
        .into_iter()
        .filter(|f| !matches!(f, Fact::NoVersions(p, _) if described.contains(p)))
        .collect()
}

/// Orders facts so that each chain reads from what was asked to where it
/// breaks: depth-first from each demand along requirement edges. Demands on
/// cookbooks that other chains also reach come last, closing those chains.
/// Facts not reachable from a demand keep the proof's order at the end.
fn order_along_chains(facts: Vec<Fact>) -> Vec<Fact> {
    let required: HashSet<Package> = facts
        .iter()
        .filter(|f| matches!(f, Fact::Requires(..)))
        .filter_map(Fact::target)
        .collect();
    let mut demands: Vec<usize> = (0..facts.len())
        .filter(|&i| matches!(facts[i], Fact::Demand(..)))
        .collect();
    demands.sort_by_key(|&i| facts[i].target().is_some_and(|t| required.contains(&t)));

    let mut emitted = vec![false; facts.len()];
    let mut visited = HashSet::new();
    let mut order = Vec::with_capacity(facts.len());
    for demand in demands {
        emitted[demand] = true;
        order.push(demand);
        if let Some(target) = facts[demand].target() {
            follow(target, &facts, &mut visited, &mut emitted, &mut order);
        }
    }
    order.extend((0..facts.len()).filter(|&i| !emitted[i]));
    let mut slots: Vec<Option<Fact>> = facts.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// Emits the facts about `package`, then follows its requirements.
fn follow(
    package: Package,
    facts: &[Fact],
    visited: &mut HashSet<Package>,
    emitted: &mut [bool],
    order: &mut Vec<usize>,
) {
    if !visited.insert(package) {
        return;
    }
    for i in 0..facts.len() {
        if !emitted[i] && facts[i].subject() == package {
            emitted[i] = true;
            order.push(i);
            if let Some(target) = facts[i].target() {
                follow(target, facts, visited, emitted, order);
            }
        }
    }
}

/// "a, b, and c"; one clause per line once there are more than three.
fn join_clauses(clauses: &[String]) -> String {
    match clauses {
        [] => "the demands contradict each other".to_string(),
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [rest @ .., last] if clauses.len() <= 3 => format!("{}, and {last}", rest.join(", ")),
        [rest @ .., last] => {
            let mut text = String::new();
            for clause in rest {
                text.push_str("\n  ");
                text.push_str(clause);
                text.push(',');
            }
            text.push_str("\n  and ");
            text.push_str(last);
            text
        }
    }
}

/// Words for packages and version sets, from the index.
struct Names<'a> {
    index: &'a Index,
}

impl Names<'_> {
    fn of(&self, package: Package) -> String {
        match package {
            Package::Root => "your demands".to_string(),
            Package::Cookbook(id) => self.index.name(id).to_string(),
        }
    }

    fn clause(&self, fact: &Fact) -> String {
        match fact {
            Fact::Demand(p, set) => format!("you asked for {}", self.wanted(*p, set)),
            Fact::Requires(p, set, q, q_set) => {
                let (subject, plural) = self.versions_of(*p, set);
                let verb = if plural { "require" } else { "requires" };
                format!("{subject} {verb} {}", self.wanted(*q, q_set))
            }
            Fact::NoVersions(p, set) => self.no_versions(*p, set),
            Fact::Unusable(p, set, reason) => {
                let (subject, plural) = self.versions_of(*p, set);
                let verb = if plural { "are" } else { "is" };
                format!("{subject} {verb} unusable ({reason})")
            }
        }
    }

    /// "nginx ~> 2.7", "nginx" for any version.
    fn wanted(&self, package: Package, set: &VersionSet) -> String {
        if set == &VersionSet::full() {
            self.of(package)
        } else {
            format!("{} {}", self.of(package), describe_set(set))
        }
    }

    /// Names the existing versions in `set`: "nginx 2.7.1", "every version
    /// of nginx", "nginx 2.7.0 to 2.7.4". The flag tells if it is plural.
    fn versions_of(&self, package: Package, set: &VersionSet) -> (String, bool) {
        let name = self.of(package);
        let Package::Cookbook(id) = package else {
            return (name, false);
        };
        let releases = &self.index.cookbook(id).releases;
        let positions: Vec<usize> = (0..releases.len())
            .filter(|&i| set.contains(&releases[i].version))
            .collect();
        let raw = |i: usize| releases[i].raw_version.as_str();
        let contiguous = positions.windows(2).all(|w| w[1] == w[0] + 1);
        match positions.as_slice() {
            [] => (format!("{name} {}", describe_set(set)), false),
            [one] => (format!("{name} {}", raw(*one)), false),
            all if all.len() == releases.len() => (format!("every version of {name}"), false),
            [a, b] => (format!("{name} {} and {}", raw(*a), raw(*b)), true),
            [first, .., last] if contiguous => {
                (format!("{name} {} to {}", raw(*first), raw(*last)), true)
            }
            [rest @ .., last] if positions.len() <= 4 => {
                let listed: Vec<&str> = rest.iter().map(|&i| raw(i)).collect();
                (
                    format!("{name} {} and {}", listed.join(", "), raw(*last)),
                    true,
                )
            }
            [first, .., last] => (
                format!(
                    "{} versions of {name} between {} and {}",
                    positions.len(),
                    raw(*first),
                    raw(*last)
                ),
                true,
            ),
        }
    }

    fn no_versions(&self, package: Package, set: &VersionSet) -> String {
        let name = self.of(package);
        let Package::Cookbook(id) = package else {
            return format!("{name} cannot be met");
        };
        let releases = &self.index.cookbook(id).releases;
        match releases.as_slice() {
            [] => format!("no source has a cookbook named {name}"),
            [.., newest] => {
                let available = if releases.len() == 1 {
                    format!("only {} exists", newest.raw_version)
                } else {
                    format!(
                        "it has {} to {}",
                        releases[0].raw_version, newest.raw_version
                    )
                };
                format!(
                    "no version of {name} matches {} ({available})",
                    describe_set(set)
                )
            }
        }
    }
}
