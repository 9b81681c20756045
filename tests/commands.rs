//! The everyday commands through the real binary against `larder serve
//! registry-fixtures` on loopback: human and JSON outputs as snapshots
//! (temporary paths and the server's port redacted), and their errors.
//! The fixture cookbooks are described in registry-fixtures/README.md.

mod common;

use std::process::Output;

use common::project::{Project, fixtures};
use common::server::Server;

/// A project depending on `app ~> 1.0`, installed from a served registry:
/// app 1.0.0, base 1.1.0, database 1.1.0, nginx 2.0.0, packages 1.2.0.
fn installed() -> (Server, Project) {
    let server = Server::start(fixtures());
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!("source '{}'\n\ncookbook 'app', '~> 1.0'\n", server.url),
    );
    let output = project.larder(&["install", "-q"]).output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    (server, project)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs larder and returns (exit code, stdout, stderr), with the project's
/// and the store's paths and the registry's URL redacted.
fn run(server: Option<&Server>, project: &Project, args: &[&str]) -> (i32, String, String) {
    let output: Output = project.larder(args).output().unwrap();
    let redact = |s: String| {
        let mut s = s
            .replace(&project.home.path().display().to_string(), "[HOME]")
            .replace(&project.dir.path().display().to_string(), "[PROJECT]");
        if let Some(server) = server {
            s = s.replace(&server.url, "[REGISTRY]");
        }
        s
    };
    (
        output.status.code().unwrap_or(-1),
        redact(text(&output.stdout)),
        redact(text(&output.stderr)),
    )
}

/// Runs a command that must succeed and returns its stdout.
fn ok(server: &Server, project: &Project, args: &[&str]) -> String {
    let (code, stdout, stderr) = run(Some(server), project, args);
    assert_eq!(code, 0, "larder {args:?} failed: {stderr}");
    stdout
}

/// Runs a command that must fail with `code` and returns its stdout and
/// stderr.
fn fails(server: &Server, project: &Project, args: &[&str], code: i32) -> (String, String) {
    let (actual, stdout, stderr) = run(Some(server), project, args);
    assert_eq!(actual, code, "larder {args:?}: {stdout}{stderr}");
    (stdout, stderr)
}

#[test]
fn list_show_and_info() {
    let (server, project) = installed();
    insta::assert_snapshot!("list", ok(&server, &project, &["list"]));
    insta::assert_snapshot!("list_json", ok(&server, &project, &["list", "-F", "json"]));
    insta::assert_snapshot!("show", ok(&server, &project, &["show", "nginx"]));
    insta::assert_snapshot!(
        "show_json",
        ok(&server, &project, &["show", "nginx", "--format", "json"])
    );
    insta::assert_snapshot!("info", ok(&server, &project, &["info", "database"]));
    insta::assert_snapshot!(
        "info_json",
        ok(&server, &project, &["info", "nginx", "--format", "json"])
    );
}

#[test]
fn graph_questions_contingent_why_and_tree() {
    let (server, project) = installed();
    insta::assert_snapshot!("contingent", ok(&server, &project, &["contingent", "base"]));
    insta::assert_snapshot!(
        "contingent_json",
        ok(&server, &project, &["contingent", "packages", "-F", "json"])
    );
    insta::assert_snapshot!(
        "contingent_none",
        ok(&server, &project, &["contingent", "app"])
    );
    insta::assert_snapshot!("why", ok(&server, &project, &["why", "base"]));
    insta::assert_snapshot!(
        "why_json",
        ok(&server, &project, &["why", "packages", "-F", "json"])
    );
    insta::assert_snapshot!("tree", ok(&server, &project, &["tree"]));
    insta::assert_snapshot!("tree_json", ok(&server, &project, &["tree", "-F", "json"]));
}

#[test]
fn unknown_names_and_missing_store_entries() {
    let (server, project) = installed();
    for command in ["show", "info", "contingent", "why"] {
        let (_, stderr) = fails(&server, &project, &[command, "nope"], 120);
        assert!(
            stderr.contains("Dependency 'nope' was not found"),
            "{stderr}"
        );
    }
    let (stdout, _) = fails(&server, &project, &["outdated", "nope", "-F", "json"], 120);
    insta::assert_snapshot!("unknown_json", stdout);

    ok(
        &server,
        &project,
        &["shelf", "uninstall", "nginx", "--force"],
    );
    let (_, stderr) = fails(&server, &project, &["show", "nginx"], 103);
    insta::assert_snapshot!("not_installed", stderr);
    fails(&server, &project, &["info", "nginx"], 103);
}

#[test]
fn no_lockfile_is_140_and_out_of_sync_is_144() {
    let server = Server::start(fixtures());
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!("source '{}'\ncookbook 'app', '~> 1.0'\n", server.url),
    );
    let commands: [&[&str]; 9] = [
        &["list"],
        &["tree"],
        &["why", "base"],
        &["contingent", "base"],
        &["outdated"],
        &["verify"],
        &["viz", "--graph-format", "dot"],
        &["apply", "env.json"],
        &["show", "base"],
    ];
    for args in commands {
        let (_, stderr) = fails(&server, &project, args, 140);
        assert!(stderr.contains("Lockfile not found"), "{args:?}: {stderr}");
    }
    let (stdout, _) = fails(&server, &project, &["list", "--format", "json"], 140);
    insta::assert_snapshot!("no_lockfile_json", stdout);

    ok(&server, &project, &["install", "-q"]);
    project.write(
        "Berksfile",
        &format!(
            "source '{}'\ncookbook 'app', '~> 1.0'\ncookbook 'legacy'\n",
            server.url
        ),
    );
    for args in commands {
        let (_, stderr) = fails(&server, &project, args, 144);
        assert!(stderr.contains("out of sync"), "{args:?}: {stderr}");
    }
    let (_, stderr) = fails(&server, &project, &["tree"], 144);
    insta::assert_snapshot!("out_of_sync", stderr);

    // A dependency dropped from the Berksfile leaves the lock out of sync too.
    project.write("Berksfile", &format!("source '{}'\n", server.url));
    let (_, stderr) = fails(&server, &project, &["list"], 144);
    assert!(stderr.contains("'app' is locked but"), "{stderr}");
}

#[test]
fn outdated_respects_constraints_unless_all() {
    let (server, project) = installed();
    insta::assert_snapshot!("outdated", ok(&server, &project, &["outdated"]));
    insta::assert_snapshot!(
        "outdated_json",
        ok(&server, &project, &["outdated", "-F", "json"])
    );
    // packages 2.0.0 is within nginx's `>= 1.2`, base 2.0.0 is not within
    // database's `~> 1.1`.
    let (stdout, _) = fails(
        &server,
        &project,
        &["outdated", "--exit-code", "-F", "json"],
        1,
    );
    assert!(!stdout.contains("\"error\""), "one JSON document: {stdout}");
    insta::assert_snapshot!(
        "outdated_all",
        ok(&server, &project, &["outdated", "--all"])
    );
    insta::assert_snapshot!(
        "outdated_all_json",
        ok(
            &server,
            &project,
            &["outdated", "--all", "base", "-F", "json"]
        )
    );
    let (stdout, _) = fails(&server, &project, &["outdated", "--all", "--exit-code"], 1);
    assert!(stdout.contains("base"), "{stdout}");
    ok(&server, &project, &["outdated", "database", "--exit-code"]);
}

#[test]
fn outdated_sees_newer_versions_a_constraint_allows() {
    let server = Server::start(fixtures());
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!("source '{}'\ncookbook 'database', '= 1.0.0'\n", server.url),
    );
    ok(&server, &project, &["install", "-q"]);
    project.write(
        "Berksfile",
        &format!("source '{}'\ncookbook 'database', '~> 1.0'\n", server.url),
    );
    insta::assert_snapshot!("outdated_allowed", ok(&server, &project, &["outdated"]));
    fails(&server, &project, &["outdated", "--exit-code"], 1);
}

#[test]
fn search_asks_the_registry() {
    let server = Server::start(fixtures());
    let project = Project::new();
    let source = server.url.clone();
    insta::assert_snapshot!(
        "search",
        ok(&server, &project, &["search", "base", "--source", &source])
    );
    insta::assert_snapshot!(
        "search_json",
        ok(
            &server,
            &project,
            &["search", "nginx", "--source", &source, "-F", "json"]
        )
    );
    // Without --source, the Berksfile's first source is asked.
    project.write("Berksfile", &format!("source '{source}'\n"));
    let stdout = ok(&server, &project, &["search", "nothing-matches"]);
    assert_eq!(stdout, "No cookbooks match 'nothing-matches'.\n");
}

#[test]
fn verify_checks_files_metadata_and_dependencies() {
    let (server, project) = installed();
    assert_eq!(ok(&server, &project, &["verify"]), "Verified.\n");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&server, &project, &["verify", "-F", "json"])).unwrap();
    assert_eq!(json["verified"], true);
    assert_eq!(json["cookbooks"].as_array().map(Vec::len), Some(5));

    std::fs::write(
        project.stored("base", "1.1.0").join("recipes/default.rb"),
        "# changed\n",
    )
    .unwrap();
    let (stdout, stderr) = fails(&server, &project, &["verify", "-F", "json"], 124);
    assert!(stderr.contains("base (1.1.0)"), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["verified"], false);
    let base = &json["cookbooks"][1];
    assert_eq!(base["name"], "base");
    assert!(
        base["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("was modified after it was installed")),
        "{base}"
    );
}

#[test]
fn viz_writes_dot_always_and_png_with_graphviz() {
    let (server, project) = installed();
    let stdout = ok(&server, &project, &["viz", "-o", "deps.dot"]);
    assert_eq!(stdout, "Dependency graph written to deps.dot\n");
    insta::assert_snapshot!("viz_dot", project.read("deps.dot"));
    insta::assert_snapshot!(
        "viz_json",
        ok(
            &server,
            &project,
            &["viz", "--graph-format", "dot", "-F", "json"]
        )
    );

    let graphviz = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join("dot").is_file()));
    if common::require(graphviz, "Graphviz's `dot`") {
        ok(&server, &project, &["viz", "-o", "deps.png"]);
        let png = std::fs::read(project.path("deps.png")).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    }
    let empty = tempfile::tempdir().unwrap();
    let output = project
        .larder(&["viz", "-o", "deps.svg"])
        .env("PATH", empty.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(147));
    assert!(text(&output.stderr).contains("apt-get install graphviz"));
}

#[test]
fn shelf_lists_shows_and_uninstalls() {
    let (server, project) = installed();
    insta::assert_snapshot!("shelf_list", ok(&server, &project, &["shelf", "list"]));
    insta::assert_snapshot!(
        "shelf_list_json",
        ok(&server, &project, &["shelf", "list", "-F", "json"])
    );
    insta::assert_snapshot!(
        "shelf_show_json",
        ok(&server, &project, &["shelf", "show", "base", "-F", "json"])
    );
    let (_, stderr) = fails(&server, &project, &["shelf", "uninstall", "base"], 99);
    assert!(stderr.contains("--force"), "{stderr}");
    assert!(project.stored("base", "1.1.0").is_dir());
    let stdout = ok(
        &server,
        &project,
        &["shelf", "uninstall", "base", "--force"],
    );
    assert_eq!(stdout, "Successfully uninstalled base (1.1.0)\n");
    assert!(!project.stored("base", "1.1.0").exists());
    fails(&server, &project, &["shelf", "show", "base"], 103);
    fails(&server, &project, &["shelf", "uninstall", "base"], 103);
}

#[test]
fn apply_pins_locked_versions_in_an_environment() {
    let (server, project) = installed();
    insta::assert_snapshot!(
        "apply",
        ok(
            &server,
            &project,
            &["apply", "environments/production.json"]
        )
    );
    insta::assert_snapshot!(
        "apply_new_file",
        project.read("environments/production.json")
    );

    project.write(
        "staging.json",
        r#"{"name": "staging", "default_attributes": {"a": 1}, "cookbook_versions": {"old": "= 0.1.0"}}"#,
    );
    let stdout = ok(&server, &project, &["apply", "staging.json", "-F", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["cookbook_versions"]["nginx"], "= 2.0.0");
    let env: serde_json::Value = serde_json::from_str(&project.read("staging.json")).unwrap();
    assert_eq!(env["default_attributes"]["a"], 1);
    assert_eq!(env["name"], "staging");
    assert_eq!(
        env["cookbook_versions"].as_object().map(|o| o.len()),
        Some(5)
    );
    assert!(env["cookbook_versions"].get("old").is_none());

    project.write("broken.json", "[1, 2]");
    fails(&server, &project, &["apply", "broken.json"], 150);
}

#[test]
fn config_shows_values_and_their_origins() {
    let server = Server::start(fixtures());
    let project = Project::new();
    std::fs::write(
        project.home.path().join("config.toml"),
        "[api]\ntimeout = 60\nretries = 1\n[install]\njobs = 2\n",
    )
    .unwrap();
    project.write(
        ".larder/config.toml",
        "[api]\ntimeout = 5\n[sources.\"https://artifactory.example/api/chef/chef\"]\napi_key = \"AKCp5secretsecret1234\"\n",
    );
    insta::assert_snapshot!("config", ok(&server, &project, &["config", "--insecure"]));
    insta::assert_snapshot!(
        "config_json",
        ok(&server, &project, &["config", "--jobs", "3", "-F", "json"])
    );
    project.write(".larder/config.toml", "[ssl]\nverfy = false\n");
    let (_, stderr) = fails(&server, &project, &["config"], 115);
    assert!(stderr.contains("verfy"), "{stderr}");
    // install reads the same files.
    fails(&server, &project, &["install"], 115);
}

#[test]
fn version_and_completions() {
    let server = Server::start(fixtures());
    let project = Project::new();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        ok(&server, &project, &["version"]),
        format!("larder {version}\n")
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&server, &project, &["version", "-F", "json"])).unwrap();
    assert_eq!(json["version"], version);
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(&server, &project, &["completions", shell]);
        assert!(
            script.contains("larder") && script.contains("outdated"),
            "{shell}"
        );
    }
}
