//! The locked dependency graph: the Berksfile's dependencies as roots, every
//! locked cookbook as a node, every `depends` as an edge carrying its
//! constraint. `contingent`, `why`, `tree` and `viz` are questions asked of
//! it; nothing here reads files or the network.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use crate::lock::Lock;
use crate::version::Constraint;

/// At most this many chains are listed by [`Graph::chains`]; a dense graph
/// can have exponentially many.
pub const MAX_CHAINS: usize = 200;

/// The graph of one lock.
pub struct Graph<'a> {
    lock: &'a Lock,
}

/// A cookbook that depends on another, directly or through others.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Contingent {
    pub name: String,
    pub version: String,
    /// Whether it names the cookbook in its own `depends`.
    pub direct: bool,
}

/// One step of a chain: a cookbook reached through an edge with a
/// constraint (the first step's edge comes from the Berksfile).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub name: String,
    pub version: String,
    pub constraint: String,
}

/// A node of the dependency tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TreeNode {
    pub name: String,
    /// The locked version, or `None` when the lock lacks the cookbook.
    pub version: Option<String>,
    /// The constraint on the edge leading here.
    pub constraint: String,
    /// True when this cookbook's dependencies were already shown above (or
    /// it depends on itself through a cycle): they are not repeated.
    pub repeated: bool,
    pub dependencies: Vec<TreeNode>,
}

/// Every chain to a cookbook, possibly cut at [`MAX_CHAINS`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chains {
    pub chains: Vec<Vec<Step>>,
    pub truncated: bool,
}

impl<'a> Graph<'a> {
    pub fn new(lock: &'a Lock) -> Self {
        Graph { lock }
    }

    /// The Berksfile's dependencies, by name, with their constraints.
    pub fn roots(&self) -> Vec<(&'a str, &'a Constraint)> {
        let mut roots: Vec<_> = self
            .lock
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), &d.constraint))
            .collect();
        roots.sort_by_key(|(name, _)| *name);
        roots
    }

    /// Whether the Berksfile names `name` itself.
    pub fn is_direct(&self, name: &str) -> bool {
        self.lock.dependency(name).is_some()
    }

    fn version(&self, name: &str) -> Option<&'a str> {
        self.lock
            .cookbooks
            .get(name)
            .map(|c| c.raw_version.as_str())
    }

    /// The locked dependencies of `name` (sorted by name).
    pub fn dependencies(&self, name: &str) -> &'a [(String, Constraint)] {
        self.lock
            .cookbooks
            .get(name)
            .map_or(&[], |c| c.dependencies.as_slice())
    }

    /// Every locked cookbook that depends on `name`, directly or through
    /// others, sorted by name.
    pub fn contingent(&self, name: &str) -> Vec<Contingent> {
        let mut dependents: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (from, cookbook) in &self.lock.cookbooks {
            for (to, _) in &cookbook.dependencies {
                dependents.entry(to).or_default().insert(from);
            }
        }
        let direct = dependents.get(name).cloned().unwrap_or_default();
        let mut seen = BTreeSet::new();
        let mut pending: Vec<&str> = direct.iter().copied().collect();
        while let Some(next) = pending.pop() {
            if next != name && seen.insert(next) {
                pending.extend(dependents.get(next).into_iter().flatten());
            }
        }
        seen.into_iter()
            .map(|dependent| Contingent {
                name: dependent.to_string(),
                version: self.version(dependent).unwrap_or_default().to_string(),
                direct: direct.contains(dependent),
            })
            .collect()
    }

    /// Every chain from a Berksfile dependency to `name` without cycles,
    /// each step with the constraint of the edge into it.
    pub fn chains(&self, name: &str) -> Chains {
        let mut found = Chains {
            chains: Vec::new(),
            truncated: false,
        };
        for (root, constraint) in self.roots() {
            let mut path = vec![self.step(root, constraint)];
            self.walk_chains(name, &mut path, &mut found);
        }
        found
    }

    fn step(&self, name: &str, constraint: &Constraint) -> Step {
        Step {
            name: name.to_string(),
            version: self.version(name).unwrap_or_default().to_string(),
            constraint: constraint.to_string(),
        }
    }

    fn walk_chains(&self, target: &str, path: &mut Vec<Step>, found: &mut Chains) {
        if found.truncated {
            return;
        }
        let Some(last) = path.last().map(|s| s.name.clone()) else {
            return;
        };
        if last == target {
            if found.chains.len() == MAX_CHAINS {
                found.truncated = true;
            } else {
                found.chains.push(path.clone());
            }
            return;
        }
        for (dependency, constraint) in self.dependencies(&last) {
            if path.iter().any(|s| &s.name == dependency) {
                continue;
            }
            path.push(self.step(dependency, constraint));
            self.walk_chains(target, path, found);
            path.pop();
        }
    }

    /// The dependency tree from the Berksfile's dependencies. A cookbook
    /// whose dependencies were shown once is marked `repeated` afterwards
    /// instead of being expanded again.
    pub fn tree(&self) -> Vec<TreeNode> {
        let mut expanded = BTreeSet::new();
        self.roots()
            .into_iter()
            .map(|(name, constraint)| self.node(name, constraint, &mut expanded))
            .collect()
    }

    fn node<'n>(
        &self,
        name: &'n str,
        constraint: &Constraint,
        expanded: &mut BTreeSet<&'n str>,
    ) -> TreeNode
    where
        'a: 'n,
    {
        let dependencies = self.dependencies(name);
        let repeated = !dependencies.is_empty() && !expanded.insert(name);
        let children = if repeated {
            Vec::new()
        } else {
            dependencies
                .iter()
                .map(|(dep, constraint)| self.node(dep.as_str(), constraint, expanded))
                .collect()
        };
        TreeNode {
            name: name.to_string(),
            version: self.version(name).map(str::to_string),
            constraint: constraint.to_string(),
            repeated,
            dependencies: children,
        }
    }

    /// The graph in Graphviz's DOT language: left to right, one box per
    /// cookbook with its version, the Berksfile's own dependencies
    /// highlighted, every edge labelled with its constraint.
    pub fn dot(&self) -> String {
        let mut dot = String::from(
            "digraph larder {\n  graph [rankdir=LR, ranksep=1.0, nodesep=0.25, \
             fontname=\"Helvetica\"];\n  node [shape=box, style=\"rounded,filled\", \
             fillcolor=\"#ffffff\", color=\"#666666\", fontname=\"Helvetica\", \
             fontsize=11];\n  edge [color=\"#888888\", fontname=\"Helvetica\", fontsize=9, \
             fontcolor=\"#444444\"];\n  \"Berksfile\" [shape=folder, fillcolor=\"#eeeeee\"];\n",
        );
        for (name, cookbook) in &self.lock.cookbooks {
            let highlight = if self.is_direct(name) {
                ", fillcolor=\"#cfe3ff\", color=\"#1f5fbf\", penwidth=2"
            } else {
                ""
            };
            let _ = writeln!(
                dot,
                "  {} [label={}{highlight}];",
                quote(name),
                quote(&format!("{name}\n{}", cookbook.raw_version))
            );
        }
        for (name, constraint) in self.roots() {
            let _ = writeln!(
                dot,
                "  \"Berksfile\" -> {} [label={}, color=\"#1f5fbf\"];",
                quote(name),
                quote(&constraint.to_string())
            );
        }
        for (name, cookbook) in &self.lock.cookbooks {
            for (dependency, constraint) in &cookbook.dependencies {
                let _ = writeln!(
                    dot,
                    "  {} -> {} [label={}];",
                    quote(name),
                    quote(dependency),
                    quote(&constraint.to_string())
                );
            }
        }
        dot.push_str("}\n");
        dot
    }
}

/// A DOT string literal.
fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::tests::{cookbook, dependency};

    /// app -> nginx -> packages -> base, app -> database -> base.
    fn lock() -> Lock {
        Lock {
            dependencies: vec![dependency("app", "~> 1.0")],
            cookbooks: [
                (
                    "app",
                    cookbook("1.0.0", &[("database", "~> 1.0"), ("nginx", "~> 2.0")]),
                ),
                ("base", cookbook("1.1.0", &[])),
                ("database", cookbook("1.1.0", &[("base", "~> 1.1")])),
                (
                    "nginx",
                    cookbook("2.0.0", &[("base", ">= 1.1"), ("packages", ">= 1.2")]),
                ),
                ("packages", cookbook("1.2.0", &[("base", "~> 1.0")])),
            ]
            .into_iter()
            .map(|(n, c)| (n.to_string(), c))
            .collect(),
        }
    }

    #[test]
    fn contingent_follows_dependents_transitively() {
        let lock = lock();
        let names: Vec<(String, bool)> = Graph::new(&lock)
            .contingent("packages")
            .into_iter()
            .map(|c| (c.name, c.direct))
            .collect();
        assert_eq!(
            names,
            [("app".to_string(), false), ("nginx".to_string(), true)]
        );
        assert!(Graph::new(&lock).contingent("app").is_empty());
    }

    #[test]
    fn chains_list_every_path_with_constraints() {
        let lock = lock();
        let chains = Graph::new(&lock).chains("base");
        let rendered: Vec<String> = chains
            .chains
            .iter()
            .map(|chain| {
                chain
                    .iter()
                    .map(|s| format!("{} ({})", s.name, s.constraint))
                    .collect::<Vec<_>>()
                    .join(" > ")
            })
            .collect();
        assert_eq!(
            rendered,
            [
                "app (~> 1.0) > database (~> 1.0) > base (~> 1.1)",
                "app (~> 1.0) > nginx (~> 2.0) > base (>= 1.1.0)",
                "app (~> 1.0) > nginx (~> 2.0) > packages (>= 1.2.0) > base (~> 1.0)",
            ]
        );
        assert!(!chains.truncated);
    }

    #[test]
    fn tree_marks_repeated_subtrees() {
        let mut lock = lock();
        lock.cookbooks
            .get_mut("base")
            .unwrap()
            .dependencies
            .push(("app".into(), crate::lock::tests::c(">= 0.0.0")));
        let tree = Graph::new(&lock).tree();
        assert_eq!(tree.len(), 1);
        let database = &tree[0].dependencies[0];
        assert_eq!(database.dependencies[0].name, "base");
        // base -> app closes a cycle: app is shown but not expanded again.
        assert!(database.dependencies[0].dependencies[0].repeated);
        let nginx = &tree[0].dependencies[1];
        assert!(
            nginx.dependencies[0].repeated,
            "base was shown under database"
        );
    }

    #[test]
    fn dot_labels_versions_and_constraints() {
        let lock = lock();
        let dot = Graph::new(&lock).dot();
        assert!(dot.contains("\"app\" [label=\"app\\n1.0.0\", fillcolor=\"#cfe3ff\""));
        assert!(dot.contains("\"Berksfile\" -> \"app\" [label=\"~> 1.0\""));
        assert!(dot.contains("\"nginx\" -> \"packages\" [label=\">= 1.2.0\"];"));
        assert_eq!(quote("a\"b\\"), "\"a\\\"b\\\\\"");
    }
}
