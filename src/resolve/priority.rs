//! The order in which the solver decides packages.
//!
//! Following uv: the root first, then packages left with at most one
//! candidate (pins, path and git cookbooks, and packages with no candidate
//! at all, so that a dead end is found at once), then packages with a
//! preferred (locked) version, then packages that have caused conflicts,
//! then what the user asked for directly before what it pulls in, and among
//! equals the package with fewer candidates.
//!
//! Deciding locked packages before the rest is what keeps a lock in place:
//! every earlier decision is then itself a locked version, so a locked
//! version is given up only when no solution that keeps the earlier locked
//! versions contains it.

use std::cmp::Reverse;

/// How soon a package should be decided, before conflict counts.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Urgency {
    Transitive,
    Direct,
    Preferred,
    Singleton,
    Root,
}

/// A package's priority; pubgrub decides the greatest first.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Priority {
    before_conflicts: bool,
    conflicts: u32,
    urgency: Urgency,
    fewer_candidates: Reverse<usize>,
}

impl Priority {
    pub fn new(urgency: Urgency, conflicts: u32, candidates: usize) -> Self {
        Priority {
            before_conflicts: urgency >= Urgency::Preferred,
            conflicts,
            urgency,
            fewer_candidates: Reverse(candidates),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_root_singletons_preferred_conflicts_direct_then_size() {
        let root = Priority::new(Urgency::Root, 0, 0);
        let single = Priority::new(Urgency::Singleton, 0, 1);
        let preferred = Priority::new(Urgency::Preferred, 0, 10);
        let conflicted = Priority::new(Urgency::Transitive, 3, 10);
        let direct = Priority::new(Urgency::Direct, 0, 10);
        let transitive_small = Priority::new(Urgency::Transitive, 0, 2);
        let transitive_big = Priority::new(Urgency::Transitive, 0, 20);
        let mut all = vec![
            transitive_big.clone(),
            direct.clone(),
            single.clone(),
            root.clone(),
            transitive_small.clone(),
            conflicted.clone(),
            preferred.clone(),
        ];
        all.sort();
        all.reverse();
        assert_eq!(
            all,
            vec![
                root,
                single,
                preferred,
                conflicted,
                direct,
                transitive_small,
                transitive_big
            ]
        );
    }
}
