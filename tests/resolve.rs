//! `larder resolve` through the real binary, on the real universes in
//! `../shared/data/universe`: solutions are checked against every constraint
//! the universe states, and failures must explain themselves in sentences.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use assert_cmd::Command;
use larder::universe;
use larder::version::Constraint;

fn larder() -> Command {
    Command::cargo_bin("larder").unwrap()
}

/// Runs `larder resolve --format json` and returns the solution.
fn solve(universe: &Path, demands: &[&str]) -> BTreeMap<String, String> {
    let output = larder()
        .args(["resolve", "--format", "json", "--universe"])
        .arg(universe)
        .args(demands)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "resolve failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    serde_json::from_value(json["solution"].clone()).unwrap()
}

/// Checks a solution against the universe: every demand holds, every chosen
/// version exists and is usable, and each of its dependencies is chosen at
/// a version its constraint accepts.
fn assert_valid(
    universe_path: &Path,
    demands: &[(String, Constraint)],
    solution: &BTreeMap<String, String>,
) {
    let file = universe::load_file(universe_path).unwrap();
    let index = &file.index;
    for (name, constraint) in demands {
        let raw = solution
            .get(name)
            .unwrap_or_else(|| panic!("demand {name} not in solution"));
        let version = index
            .by_name(name)
            .unwrap()
            .releases
            .iter()
            .find(|r| &r.raw_version == raw)
            .unwrap()
            .version;
        assert!(
            constraint.matches(&version),
            "{name} {raw} breaks demand {constraint}"
        );
    }
    for (name, raw) in solution {
        let cookbook = index
            .by_name(name)
            .unwrap_or_else(|| panic!("{name} not in universe"));
        let release = cookbook
            .releases
            .iter()
            .find(|r| &r.raw_version == raw)
            .unwrap_or_else(|| panic!("{name} {raw} not in universe (versions print as spelled)"));
        let requirements = release
            .dependencies
            .as_ref()
            .expect("an unusable version was chosen");
        for requirement in requirements {
            let dep = index.name(requirement.cookbook);
            let dep_raw = solution.get(dep).unwrap_or_else(|| {
                panic!("{name} {raw} needs {dep}, which is not in the solution")
            });
            let dep_version = index
                .by_name(dep)
                .unwrap()
                .releases
                .iter()
                .find(|r| &r.raw_version == dep_raw)
                .unwrap()
                .version;
            assert!(
                requirement.constraint.matches(&dep_version),
                "{name} {raw} requires {dep} {}, but {dep_raw} was chosen",
                requirement.constraint
            );
        }
    }
}

/// A universe file with `json` in a temporary directory (kept alive by
/// the returned guard).
fn universe_file(json: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u.json");
    std::fs::write(&path, json).unwrap();
    (dir, path)
}

fn demands_of(list: &[&str]) -> Vec<(String, Constraint)> {
    list.iter()
        .map(|d| {
            let (name, c) = d.split_once(' ').unwrap_or((d, ""));
            (name.to_string(), Constraint::parse(c).unwrap())
        })
        .collect()
}

#[test]
fn every_solution_on_the_2014_supermarket_meets_every_constraint() {
    let Some(path) = common::shared_data("universe/supermarket-2014-07.json") else {
        return;
    };
    let cases: &[&[&str]] = &[
        &["apache2"],
        &["nginx ~> 2.7", "mysql", "database", "php"],
        &["jenkins ~> 2.0", "java", "runit"],
        &["postgresql ~> 3.4", "apt >= 2.0", "build-essential"],
        &[
            "application_ruby",
            "application_python",
            "memcached",
            "redisio",
        ],
        &[
            "chef-client",
            "chef-server",
            "openssh",
            "sudo",
            "users",
            "ntp",
            "git",
            "ark",
        ],
    ];
    for demands in cases {
        let solution = solve(&path, demands);
        assert_valid(&path, &demands_of(demands), &solution);
    }
}

#[test]
fn every_cookbook_of_the_small_universe_resolves_validly() {
    let Some(path) = common::shared_data("universe/supermarket-2014-07-small.json") else {
        return;
    };
    // application and database need cookbooks outside this capture.
    for name in ["apache2", "apt", "mysql", "nginx", "postgresql", "yum"] {
        let solution = solve(&path, &[name]);
        assert_valid(&path, &demands_of(&[name]), &solution);
    }
}

#[test]
fn berkshelf_api_universe_with_empty_and_bare_constraints_resolves() {
    let Some(path) = common::shared_data("universe/berkshelf-api-2014-04.json") else {
        return;
    };
    let demands = ["nginx", "mysql", "java", "chef-client"];
    let solution = solve(&path, &demands);
    assert_valid(&path, &demands_of(&demands), &solution);
}

#[test]
fn the_solvable_acceptance_case_resolves_with_its_own_demands() {
    let Some(path) = common::shared_data("universe/solve-acceptance-opscode-ci.json") else {
        return;
    };
    let solution = solve(&path, &[]);
    let file = universe::load_file(&path).unwrap();
    let demands: Vec<(String, Constraint)> = file
        .demands
        .iter()
        .map(|d| (d.name.clone(), Constraint::parse(&d.constraint).unwrap()))
        .collect();
    assert_eq!(demands.len(), 27);
    assert_valid(&path, &demands, &solution);
}

#[test]
fn the_unsolvable_acceptance_case_names_the_chain_in_one_sentence() {
    let Some(path) = common::shared_data("universe/solve-acceptance-no-solution.json") else {
        return;
    };
    let output = larder()
        .args(["resolve", "--universe"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(106));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr.trim_end(),
        "error: No versions of jenkins and yum work together, because you asked for \
         jenkins = 2.0.3, jenkins 2.0.3 requires yum ~> 3.0, and you asked for yum = 2.4.5."
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn conflicts_on_the_real_supermarket_read_as_chains() {
    let Some(path) = common::shared_data("universe/supermarket-2014-07.json") else {
        return;
    };
    let cases: &[(&[&str], &str)] = &[
        (
            &["jenkins ~> 2.0", "yum < 3.0"],
            "No versions of jenkins and yum work together, because you asked for jenkins ~> 2.0, \
             jenkins 2.0.0 to 2.1.2 require yum ~> 3.0.0, and you asked for yum < 3.0.0.",
        ),
        (
            &["nginx ~> 2.7", "build-essential = 1.0.0"],
            "No versions of nginx and build-essential work together, because you asked for \
             nginx ~> 2.7, nginx 2.7.0 to 2.7.4 require build-essential ~> 2.0.0, and you asked \
             for build-essential = 1.0.0.",
        ),
        (
            &["apt = 9.0"],
            "No version of apt can be used, because you asked for apt = 9.0.0 and no version of \
             apt matches = 9.0.0 (it has 0.8.0 to 2.4.0).",
        ),
        (
            &["nosuch-cookbook"],
            "No version of nosuch-cookbook can be used, because you asked for nosuch-cookbook \
             and no source has a cookbook named nosuch-cookbook.",
        ),
    ];
    for (demands, expected) in cases {
        let output = larder()
            .args(["resolve", "--universe"])
            .arg(&path)
            .args(*demands)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(106), "{demands:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(
            stderr.trim_end(),
            format!("error: {expected}"),
            "{demands:?}"
        );
    }
}

#[test]
fn json_failures_carry_the_kind_and_message() {
    let Some(path) = common::shared_data("universe/supermarket-2014-07.json") else {
        return;
    };
    let output = larder()
        .args(["resolve", "--format", "json", "--universe"])
        .arg(&path)
        .args(["jenkins ~> 2.0", "yum < 3.0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(106));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["error"]["kind"], "no_solution");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("jenkins 2.0.0 to 2.1.2 require yum ~> 3.0.0")
    );
}

#[test]
fn versions_print_as_the_universe_spells_them() {
    let (_dir, path) = universe_file(
        r#"{"web": {"1.1": {"db": "~> 2.0"}, "20140110": {"db": "~> 9.0"}},
            "db": {"2.01.0": {}, "1.0.0.1": {}}}"#,
    );
    larder()
        .args(["resolve", "--universe"])
        .arg(&path)
        .arg("web")
        .assert()
        .success()
        .stdout("db 2.01.0\nweb 1.1\n");
}

#[test]
fn bad_data_spoils_only_the_versions_it_touches() {
    let (_dir, path) = universe_file(
        r#"{"web": {"3.0.0": {"db": "~> banana"}, "2.0.0": {"ghost": ">= 1.0"}, "1.0.0": {"db": ">= 1.0"}},
            "db": {"1.0.0": {}, "2.0.0-rc1": {}}}"#,
    );
    larder()
        .args(["resolve", "--universe"])
        .arg(&path)
        .arg("web")
        .assert()
        .success()
        .stdout("db 1.0.0\nweb 1.0.0\n");
    let verbose = larder()
        .args(["resolve", "-v", "--universe"])
        .arg(&path)
        .arg("web")
        .output()
        .unwrap();
    let stderr = String::from_utf8(verbose.stderr).unwrap();
    assert!(stderr.contains("web 3.0.0 is unusable"), "{stderr}");
    assert!(stderr.contains("db 2.0.0-rc1 left out"), "{stderr}");
    let failed = larder()
        .args(["resolve", "--universe"])
        .arg(&path)
        .arg("web >= 2.0")
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(106));
    let stderr = String::from_utf8(failed.stderr).unwrap();
    assert!(
        stderr.contains("web 2.0.0 is unusable (it depends on ghost, which no source has)"),
        "{stderr}"
    );
    assert!(stderr.contains("web 3.0.0 is unusable"), "{stderr}");
}

#[test]
fn malformed_demands_are_usage_errors_naming_the_text() {
    let (_dir, path) = universe_file(r#"{"web": {"1.0.0": {}}}"#);
    let output = larder()
        .args(["resolve", "--universe"])
        .arg(&path)
        .arg("web ~> one")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(99));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("in demand 'web ~> one'")
            && stderr.contains("'~> one' is not a version constraint"),
        "{stderr}"
    );
}
