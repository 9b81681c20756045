//! The resolver against a brute-force oracle, in the style of cargo's
//! `resolver-tests`: on random small universes, larder finds a solution
//! exactly when exhaustive search finds one, and every solution it returns
//! satisfies every demand and every dependency.

use std::collections::HashMap;

use larder::index::{Index, Origin, Release, Requirement};
use larder::resolve::{Demand, Resolution, resolve};
use larder::version::{Constraint, Version};
use proptest::prelude::*;

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];
const OPERATORS: [&str; 7] = ["=", "!=", ">", "<", ">=", "<=", "~>"];

/// One random release: its version and its dependencies by cookbook number.
type RandomRelease = (Version, Vec<(usize, Constraint)>);

/// A random universe: per cookbook, a few versions, each with a few
/// dependencies on later-or-earlier cookbooks (cycles allowed).
#[derive(Debug, Clone)]
struct Universe {
    cookbooks: Vec<Vec<RandomRelease>>,
    demands: Vec<(usize, Constraint)>,
}

fn constraint() -> impl Strategy<Value = Constraint> {
    (0..OPERATORS.len(), 0u64..3, 0u64..3, prop::bool::ANY).prop_map(|(op, major, minor, long)| {
        let version = if long {
            format!("{major}.{minor}.0")
        } else {
            format!("{major}.{minor}")
        };
        Constraint::parse(&format!("{} {version}", OPERATORS[op])).unwrap()
    })
}

fn universe() -> impl Strategy<Value = Universe> {
    let release = (
        0u64..3,
        0u64..3,
        prop::collection::vec((0..NAMES.len(), constraint()), 0..3),
    )
        .prop_map(|(major, minor, deps)| (Version::new(major, minor, 0), deps));
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
                    constraint: c.clone(),
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
    let meets = |cookbook: usize, constraint: &Constraint| {
        choice[cookbook].is_some_and(|v| constraint.matches(&v))
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

/// Exhaustive search over every combination.
fn brute_force(universe: &Universe) -> bool {
    fn search(universe: &Universe, choice: &mut Vec<Option<Version>>) -> bool {
        let i = choice.len();
        if i == universe.cookbooks.len() {
            return is_valid(universe, choice);
        }
        let options: Vec<Option<Version>> = std::iter::once(None)
            .chain(universe.cookbooks[i].iter().map(|(v, _)| Some(*v)))
            .collect();
        for option in options {
            choice.push(option);
            let found = search(universe, choice);
            choice.pop();
            if found {
                return true;
            }
        }
        false
    }
    search(universe, &mut Vec::new())
}

fn choice_of(resolution: &Resolution) -> Vec<Option<Version>> {
    NAMES
        .iter()
        .map(|n| resolution.picks.get(*n).map(|p| p.version))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn agrees_with_exhaustive_search(universe in universe()) {
        let index = index_of(&universe);
        let demands: Vec<Demand> = universe
            .demands
            .iter()
            .map(|(c, constraint)| Demand::new(NAMES[*c], constraint.clone()))
            .collect();
        let expected = brute_force(&universe);
        match resolve(&index, &demands, &HashMap::new()) {
            Ok(resolution) => {
                prop_assert!(expected, "larder found a solution the oracle says cannot exist");
                prop_assert!(is_valid(&universe, &choice_of(&resolution)), "invalid solution {:?}", resolution.picks);
            }
            Err(err) => prop_assert!(!expected, "larder found no solution but one exists: {err}"),
        }
    }

    #[test]
    fn preferred_versions_win_when_allowed(universe in universe(), pin in 0..NAMES.len()) {
        let index = index_of(&universe);
        let demands: Vec<Demand> = universe
            .demands
            .iter()
            .map(|(c, constraint)| Demand::new(NAMES[*c], constraint.clone()))
            .collect();
        let Ok(first) = resolve(&index, &demands, &HashMap::new()) else { return Ok(()) };
        // Pinning every cookbook to the first solution must reproduce it.
        let preferences: HashMap<String, Version> =
            first.picks.iter().map(|(n, p)| (n.clone(), p.version)).collect();
        let again = resolve(&index, &demands, &preferences).unwrap();
        prop_assert_eq!(&again.picks, &first.picks);
        // Pinning one cookbook to its oldest version keeps the result valid.
        if let Some((oldest, _)) = universe.cookbooks[pin].first() {
            let preferences = HashMap::from([(NAMES[pin].to_string(), *oldest)]);
            let resolution = resolve(&index, &demands, &preferences).unwrap();
            prop_assert!(is_valid(&universe, &choice_of(&resolution)));
        }
    }
}
