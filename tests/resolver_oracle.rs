//! The resolver against a brute-force oracle, in the style of cargo's
//! `resolver-tests`: on random small universes, larder finds a solution
//! exactly when exhaustive search finds one, and every solution it returns
//! satisfies every demand and every dependency. The oracle reads each
//! constraint itself, from Semverse's rules, not through larder's parser or
//! matcher, so a wrong `~>` ceiling in larder shows up as a disagreement.
//! Preferences are checked the same way: a locked version wins whenever a
//! valid solution contains it.

use std::collections::HashMap;

use larder::index::{Index, Origin, Release, Requirement};
use larder::resolve::{Demand, Resolution, resolve};
use larder::version::{Constraint, Version};
use proptest::prelude::*;

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];
const OPERATORS: [&str; 7] = ["=", "!=", ">", "<", ">=", "<=", "~>"];

/// A random constraint: its operator and the numbers it was written with
/// (one to three), with larder's reading of the same text beside it.
#[derive(Debug, Clone)]
struct Written {
    operator: &'static str,
    parts: Vec<u64>,
    parsed: Constraint,
}

impl Written {
    /// Semverse's reading, independent of larder: missing parts are zero;
    /// `~>` with three parts stays below the next minor, with one or two
    /// below the next major.
    fn admits(&self, version: &Version) -> bool {
        let v = (version.major(), version.minor(), version.patch());
        let part = |i: usize| self.parts.get(i).copied().unwrap_or(0);
        let c = (part(0), part(1), part(2));
        match self.operator {
            "=" => v == c,
            "!=" => v != c,
            ">" => v > c,
            "<" => v < c,
            ">=" => v >= c,
            "<=" => v <= c,
            "~>" => {
                let ceiling = if self.parts.len() == 3 {
                    (c.0, c.1 + 1, 0)
                } else {
                    (c.0 + 1, 0, 0)
                };
                v >= c && v < ceiling
            }
            other => unreachable!("no operator {other}"),
        }
    }
}

/// One random release: its version and its dependencies by cookbook number.
type RandomRelease = (Version, Vec<(usize, Written)>);

/// A random universe: per cookbook, a few versions, each with a few
/// dependencies on later-or-earlier cookbooks (cycles allowed).
#[derive(Debug, Clone)]
struct Universe {
    cookbooks: Vec<Vec<RandomRelease>>,
    demands: Vec<(usize, Written)>,
}

fn constraint() -> impl Strategy<Value = Written> {
    (
        0..OPERATORS.len(),
        prop::collection::vec(0u64..3, 1..=3),
        prop::bool::ANY,
    )
        .prop_map(|(op, parts, spaced)| {
            let operator = OPERATORS[op];
            let version: Vec<String> = parts.iter().map(u64::to_string).collect();
            let gap = if spaced { " " } else { "" };
            let text = format!("{operator}{gap}{}", version.join("."));
            let parsed = Constraint::parse(&text).unwrap();
            Written {
                operator,
                parts,
                parsed,
            }
        })
}

fn universe() -> impl Strategy<Value = Universe> {
    let release = (
        0u64..3,
        0u64..3,
        0u64..2,
        prop::collection::vec((0..NAMES.len(), constraint()), 0..3),
    )
        .prop_map(|(major, minor, patch, deps)| (Version::new(major, minor, patch), deps));
    let cookbook = prop::collection::vec(release, 0..4);
    (
        prop::collection::vec(cookbook, NAMES.len()),
        prop::collection::vec((0..NAMES.len(), constraint()), 1..3),
    )
        .prop_map(|(mut cookbooks, demands)| {
            for releases in &mut cookbooks {
                releases.sort_by_key(|(v, _)| *v);
                releases.dedup_by_key(|(v, _)| *v);
                for (_, deps) in releases.iter_mut() {
                    deps.sort_by_key(|(d, _)| *d);
                    deps.dedup_by_key(|(d, _)| *d);
                }
            }
            Universe { cookbooks, demands }
        })
}

fn index_of(universe: &Universe) -> Index {
    let mut index = Index::new();
    let ids: Vec<_> = NAMES.iter().map(|n| index.intern(n)).collect();
    for (i, releases) in universe.cookbooks.iter().enumerate() {
        for (version, deps) in releases {
            let requirements = deps
                .iter()
                .filter(|(d, _)| *d != i)
                .map(|(d, c)| Requirement {
                    cookbook: ids[*d],
                    constraint: c.parsed.clone(),
                })
                .collect();
            index.add(
                ids[i],
                Release {
                    version: *version,
                    raw_version: version.to_string(),
                    dependencies: Ok(requirements),
                    origin: Origin::Listed,
                },
            );
        }
    }
    index
}

/// Whether `choice` (a version or nothing per cookbook) satisfies everything.
fn is_valid(universe: &Universe, choice: &[Option<Version>]) -> bool {
    let meets = |cookbook: usize, constraint: &Written| {
        choice[cookbook].is_some_and(|v| constraint.admits(&v))
    };
    universe
        .demands
        .iter()
        .all(|(c, constraint)| meets(*c, constraint))
        && choice.iter().enumerate().all(|(i, picked)| {
            let Some(version) = picked else { return true };
            let Some((_, deps)) = universe.cookbooks[i].iter().find(|(v, _)| v == version) else {
                return false;
            };
            deps.iter()
                .filter(|(d, _)| *d != i)
                .all(|(d, constraint)| meets(*d, constraint))
        })
}

/// Every valid combination, by exhaustive search.
fn all_solutions(universe: &Universe) -> Vec<Vec<Option<Version>>> {
    fn search(
        universe: &Universe,
        choice: &mut Vec<Option<Version>>,
        found: &mut Vec<Vec<Option<Version>>>,
    ) {
        let i = choice.len();
        if i == universe.cookbooks.len() {
            if is_valid(universe, choice) {
                found.push(choice.clone());
            }
            return;
        }
        let options: Vec<Option<Version>> = std::iter::once(None)
            .chain(universe.cookbooks[i].iter().map(|(v, _)| Some(*v)))
            .collect();
        for option in options {
            choice.push(option);
            search(universe, choice, found);
            choice.pop();
        }
    }
    let mut found = Vec::new();
    search(universe, &mut Vec::new(), &mut found);
    found
}

fn demands_of(universe: &Universe) -> Vec<Demand> {
    universe
        .demands
        .iter()
        .map(|(c, constraint)| Demand::new(NAMES[*c], constraint.parsed.clone()))
        .collect()
}

fn choice_of(resolution: &Resolution) -> Vec<Option<Version>> {
    NAMES
        .iter()
        .map(|n| resolution.picks.get(*n).map(|p| p.version))
        .collect()
}

proptest! {
    // Most random universes have no solution, and the preference
    // properties skip those: allow enough rejects for 2,000 real cases.
    #![proptest_config(ProptestConfig { cases: 2000, max_global_rejects: 200_000, ..ProptestConfig::default() })]

    #[test]
    fn agrees_with_exhaustive_search(universe in universe()) {
        let index = index_of(&universe);
        let expected = !all_solutions(&universe).is_empty();
        match resolve(&index, &demands_of(&universe), &HashMap::new()) {
            Ok(resolution) => {
                prop_assert!(expected, "larder found a solution the oracle says cannot exist");
                prop_assert!(is_valid(&universe, &choice_of(&resolution)), "invalid solution {:?}", resolution.picks);
            }
            Err(err) => prop_assert!(!expected, "larder found no solution but one exists: {err}"),
        }
    }

    /// A whole lock that is a valid solution (any of them, not only the
    /// one larder would pick unaided) is kept exactly.
    #[test]
    fn a_valid_lock_is_kept(universe in universe(), pick in any::<prop::sample::Index>()) {
        let solutions = all_solutions(&universe);
        prop_assume!(!solutions.is_empty());
        let locked = &solutions[pick.index(solutions.len())];
        let preferences: HashMap<String, Version> = NAMES
            .iter()
            .zip(locked)
            .filter_map(|(name, v)| v.map(|v| (name.to_string(), v)))
            .collect();
        let resolution = resolve(&index_of(&universe), &demands_of(&universe), &preferences).unwrap();
        for (name, pick) in &resolution.picks {
            prop_assert_eq!(Some(&pick.version), preferences.get(name), "{} moved", name);
        }
    }

    /// One locked cookbook the Berksfile asks for keeps its version
    /// whenever some valid solution contains that version.
    #[test]
    fn a_locked_version_wins_when_a_solution_has_it(universe in universe(), pin in 0..NAMES.len(), which in any::<prop::sample::Index>()) {
        prop_assume!(universe.demands.iter().any(|(c, _)| *c == pin));
        prop_assume!(!universe.cookbooks[pin].is_empty());
        let (preferred, _) = universe.cookbooks[pin][which.index(universe.cookbooks[pin].len())];
        let possible = all_solutions(&universe).iter().any(|s| s[pin] == Some(preferred));
        let preferences = HashMap::from([(NAMES[pin].to_string(), preferred)]);
        let Ok(resolution) = resolve(&index_of(&universe), &demands_of(&universe), &preferences) else {
            prop_assert!(!possible, "no solution, but one has {} {}", NAMES[pin], preferred);
            return Ok(());
        };
        prop_assert!(is_valid(&universe, &choice_of(&resolution)));
        if possible {
            prop_assert_eq!(resolution.picks[NAMES[pin]].version, preferred);
        }
    }
}

fn written(operator: &'static str, parts: &[u64]) -> Written {
    let text: Vec<String> = parts.iter().map(u64::to_string).collect();
    Written {
        operator,
        parts: parts.to_vec(),
        parsed: Constraint::parse(&format!("{operator} {}", text.join("."))).unwrap(),
    }
}

/// Both ask for `a` and `b`; the newer of one needs the newer of the other.
/// A lock on the older of the other must hold, whichever of the two the
/// solver would look at first unaided.
#[test]
fn a_lock_holds_against_a_newer_version_of_a_sibling() {
    let any = || written(">=", &[0]);
    for (newer, pinned) in [(0usize, 1usize), (1, 0)] {
        let mut cookbooks = vec![Vec::new(); NAMES.len()];
        cookbooks[newer] = vec![
            (Version::new(1, 0, 0), vec![]),
            (Version::new(2, 0, 0), vec![(pinned, written("=", &[2]))]),
        ];
        cookbooks[pinned] = vec![
            (Version::new(1, 0, 0), vec![]),
            (Version::new(2, 0, 0), vec![]),
        ];
        let universe = Universe {
            cookbooks,
            demands: vec![(0, any()), (1, any())],
        };
        let preferences = HashMap::from([(NAMES[pinned].to_string(), Version::new(1, 0, 0))]);
        let resolution =
            resolve(&index_of(&universe), &demands_of(&universe), &preferences).unwrap();
        assert_eq!(
            resolution.picks[NAMES[pinned]].version,
            Version::new(1, 0, 0)
        );
        assert_eq!(
            resolution.picks[NAMES[newer]].version,
            Version::new(1, 0, 0)
        );
    }
}
