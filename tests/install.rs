//! `larder install` and `larder update` through the real binary, against
//! `larder serve registry-fixtures` on loopback and a `file://` registry.
//! The fixture cookbooks are described in registry-fixtures/README.md.

mod common;

use common::project::{Project, fixtures};
use common::server::Server;

/// `name version` pairs of the lock, in order.
fn locked_versions(project: &Project) -> Vec<(String, String)> {
    let lock: toml::Table = project
        .read("larder.lock")
        .parse()
        .expect("larder.lock is TOML");
    let cookbooks = lock["cookbook"].as_table().expect("a cookbook table");
    cookbooks
        .iter()
        .map(|(name, entry)| {
            (
                name.clone(),
                entry["version"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Runs `larder ARGS` in the project, which must exit with `code`;
/// returns what it printed on stderr.
fn fails_with(project: &Project, args: &[&str], code: i32) -> String {
    let output = project.larder(args).output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(
        output.status.code(),
        Some(code),
        "larder {args:?}: {stderr}"
    );
    stderr
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn installs_from_a_served_registry_then_again_without_any_network() {
    let mut server = Server::start(fixtures());
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!("source '{}'\n\ncookbook 'app', '~> 1.0'\n", server.url),
    );

    project.larder(&["install"]).assert().success();
    assert_eq!(
        locked_versions(&project),
        pairs(&[
            ("app", "1.0.0"),
            ("base", "1.1.0"),
            ("database", "1.1.0"),
            ("nginx", "2.0.0"),
            ("packages", "1.2.0")
        ])
    );
    let lock = project.read("larder.lock");
    assert_eq!(lock.matches("sha256 = ").count(), 5, "{lock}");
    assert!(
        project
            .stored("nginx", "2.0.0")
            .join("metadata.json")
            .is_file()
    );
    assert!(
        project
            .stored("database", "1.1.0")
            .join("VERSION")
            .is_file()
    );

    // Warm store, trusted lock: no request at all, so a stopped server is
    // fine. Without a command larder installs, as `berks` does.
    server.stop();
    let output = project.larder(&[]).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("Using nginx (2.0.0)"), "{stdout}");
    assert_eq!(
        project.read("larder.lock"),
        lock,
        "a no-op install leaves the lock alone"
    );
}

#[test]
fn installs_from_a_file_registry() {
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!(
            "source 'file://{}'\ncookbook 'nginx', '~> 1.0'\n",
            fixtures().display()
        ),
    );
    project.larder(&["install"]).assert().success();
    assert_eq!(
        locked_versions(&project),
        pairs(&[("base", "1.1.0"), ("nginx", "1.0.0"), ("packages", "1.2.0")])
    );
    assert!(
        project
            .stored("packages", "1.2.0")
            .join("recipes/default.rb")
            .is_file()
    );
}

#[test]
fn json_output_lists_every_cookbook_with_its_digest() {
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!(
            "source 'file://{}'\ncookbook 'legacy'\n",
            fixtures().display()
        ),
    );
    let output = project
        .larder(&["install", "--format", "json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let cookbooks = json["cookbooks"].as_array().unwrap();
    let names: Vec<&str> = cookbooks
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["base", "legacy"]);
    assert_eq!(cookbooks[0]["version"], "1.0.0");
    assert_eq!(cookbooks[0]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(json["lockfile_written"], true);
}

#[test]
fn locked_fails_instead_of_changing_the_lock() {
    let server = Server::start(fixtures());
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!("source '{}'\ncookbook 'legacy'\n", server.url),
    );

    let stderr = fails_with(&project, &["install", "--locked"], 144);
    assert!(stderr.contains("out of sync"));
    assert!(!project.path("larder.lock").exists(), "nothing is written");

    project.larder(&["install"]).assert().success();
    project.larder(&["install", "--locked"]).assert().success();

    let lock = project.read("larder.lock");
    project.write(
        "Berksfile",
        &format!(
            "source '{}'\ncookbook 'legacy'\ncookbook 'database'\n",
            server.url
        ),
    );
    let stderr = fails_with(&project, &["install", "--locked"], 144);
    assert!(
        stderr.contains("database 1.0.0 would be added"),
        "{}",
        stderr
    );
    assert_eq!(project.read("larder.lock"), lock);
}

#[test]
fn a_berksfile_lock_is_honoured_then_update_moves_only_what_it_names() {
    let server = Server::start(fixtures());
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!("source '{}'\ncookbook 'packages'\n", server.url),
    );
    project.write(
        "Berksfile.lock",
        "DEPENDENCIES\n  packages\n\nGRAPH\n  base (1.0.0)\n  packages (1.0.0)\n    base (~> 1.0)\n",
    );

    project.larder(&["install"]).assert().success();
    assert_eq!(
        locked_versions(&project),
        pairs(&[("base", "1.0.0"), ("packages", "1.0.0")])
    );

    project.larder(&["update", "base"]).assert().success();
    assert_eq!(
        locked_versions(&project),
        pairs(&[("base", "1.1.0"), ("packages", "1.0.0")])
    );
    assert_eq!(
        project.read("Berksfile.lock"),
        "DEPENDENCIES\n  packages\n\nGRAPH\n  base (1.1.0)\n  packages (1.0.0)\n    base (~> 1.0)\n",
        "Berksfile.lock is kept in Berkshelf's format"
    );

    project.larder(&["update"]).assert().success();
    assert_eq!(
        locked_versions(&project),
        pairs(&[("base", "2.0.0"), ("packages", "2.0.0")])
    );

    let stderr = fails_with(&project, &["update", "nosuch"], 120);
    assert!(stderr.contains("nosuch"));
}

#[test]
fn a_conflict_is_explained_and_writes_nothing() {
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!(
            "source 'file://{}'\ncookbook 'app'\ncookbook 'legacy'\n",
            fixtures().display()
        ),
    );
    let stderr = fails_with(&project, &["install"], 106);
    assert!(
        stderr.contains("you asked for legacy")
            && stderr.contains("legacy 1.0.0 requires base < 1.1.0"),
        "{stderr}"
    );
    assert!(!project.path("larder.lock").exists());
}

#[test]
fn a_tampered_store_entry_is_caught() {
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!(
            "source 'file://{}'\ncookbook 'legacy'\n",
            fixtures().display()
        ),
    );
    project.larder(&["install"]).assert().success();
    let readme = project.stored("base", "1.0.0").join("README.md");
    std::fs::write(&readme, "# base\n\nsomething else\n").unwrap();
    let stderr = fails_with(&project, &["install"], 124);
    assert!(
        stderr.contains("base") && stderr.contains("1.0.0"),
        "{stderr}"
    );
}

#[test]
fn a_download_that_does_not_match_the_lock_is_refused() {
    let server = Server::start(fixtures());
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!("source '{}'\ncookbook 'legacy'\n", server.url),
    );
    project.larder(&["install"]).assert().success();
    let lock = project.read("larder.lock");
    let start = lock.find("[cookbook.base]").unwrap();
    let sha_at = start + lock[start..].find("sha256 = \"").unwrap() + "sha256 = \"".len();
    let mut tampered = lock.clone();
    tampered.replace_range(sha_at..sha_at + 64, &"0".repeat(64));
    project.write("larder.lock", &tampered);

    let fresh = Project::new();
    std::fs::copy(project.path("Berksfile"), fresh.path("Berksfile")).unwrap();
    std::fs::copy(project.path("larder.lock"), fresh.path("larder.lock")).unwrap();
    let output = fresh.larder(&["install"]).output().unwrap();
    assert_eq!(output.status.code(), Some(124), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains(&"0".repeat(64)));
    assert!(
        !fresh.stored("base", "1.0.0").exists(),
        "nothing from the bad download is installed"
    );
}

#[test]
fn path_and_metadata_cookbooks_need_no_source_of_their_own() {
    let project = Project::new();
    project.write(
        "metadata.rb",
        "name 'site'\nversion '0.3.0'\ndepends 'helpers'\n",
    );
    project.write("recipes/default.rb", "include_recipe 'helpers'\n");
    project.write(
        "vendor/helpers/metadata.rb",
        "name 'helpers'\nversion '1.2.3'\n",
    );
    project.write(
        "Berksfile",
        "metadata\ncookbook 'helpers', path: 'vendor/helpers'\n",
    );
    project.larder(&["install"]).assert().success();
    let lock = project.read("larder.lock");
    assert!(
        lock.contains("[cookbook.site]\nversion = \"0.3.0\"\npath = \".\""),
        "{lock}"
    );
    assert!(lock.contains("path = \"vendor/helpers\""), "{lock}");
    assert!(
        !project.path("Berksfile.lock").exists(),
        "no Berksfile.lock unless the project has one"
    );

    project.write(
        "metadata.rb",
        "name 'site'\nversion '0.3.0'\ndepends 'helpers'\ndepends 'base'\n",
    );
    let stderr = fails_with(&project, &["install"], 146);
    assert!(stderr.contains("base must come from one"), "{}", stderr);
}

#[test]
fn a_path_cookbook_with_registry_dependencies_writes_berkshelf_path_entries() {
    let project = Project::new();
    project.write(
        "site/metadata.rb",
        "name 'site'\nversion '1.0.0'\ndepends 'base', '~> 2.0'\n",
    );
    project.write(
        "Berksfile",
        &format!(
            "source 'file://{}'\ncookbook 'site', path: 'site'\n",
            fixtures().display()
        ),
    );
    project.write("Berksfile.lock", "");
    project.larder(&["install"]).assert().success();
    assert_eq!(
        project.read("Berksfile.lock"),
        "DEPENDENCIES\n  site\n    path: site\n\nGRAPH\n  base (2.0.0)\n  site (1.0.0)\n    base (~> 2.0)\n"
    );
}

#[test]
fn bad_berksfiles_name_the_file_and_line() {
    let project = Project::new();
    let stderr = fails_with(&project, &["install"], 100);
    assert!(stderr.contains("No Berksfile found"));

    project.write(
        "Berksfile",
        "source 'https://supermarket.chef.io'\ncookbook 'apt', '~> two'\n",
    );
    let stderr = fails_with(&project, &["install"], 113);
    assert!(
        stderr.contains("Berksfile:2:") && stderr.contains("~> two"),
        "{stderr}"
    );

    project.write(
        "Berksfile",
        "source 'https://supermarket.chef.io'\nsystem('rm -rf /')\n",
    );
    let stderr = fails_with(&project, &["install"], 113);
    assert!(stderr.contains("Berksfile:2:"), "{}", stderr);

    project.write("Berksfile", "source 'ftp://example.com'\ncookbook 'apt'\n");
    let stderr = fails_with(&project, &["install"], 137);
    assert!(stderr.contains("ftp://example.com"), "{stderr}");
}

#[test]
fn offline_without_a_cache_says_what_is_missing() {
    let server = Server::start(fixtures());
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!("source '{}'\ncookbook 'legacy'\n", server.url),
    );
    let output = project.larder(&["install", "--offline"]).output().unwrap();
    assert!(!output.status.success());
    assert!(
        stderr_of(&output).contains("run once without --offline"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn a_locked_version_no_source_has_is_149() {
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!(
            "source 'file://{}'\ncookbook 'legacy'\n",
            fixtures().display()
        ),
    );
    project.write(
        "Berksfile.lock",
        "DEPENDENCIES\n  legacy\n\nGRAPH\n  base (0.9.0)\n  legacy (1.0.0)\n    base (< 1.1)\n",
    );
    let stderr = fails_with(&project, &["install"], 149);
    assert!(
        stderr.contains("'base' (0.9.0)") && stderr.contains("larder update base"),
        "{stderr}"
    );
}

#[test]
fn groups_limit_what_is_installed_but_the_lock_keeps_every_group() {
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!(
            "source 'file://{}'\ncookbook 'legacy'\ngroup :web do\n  cookbook 'nginx', '~> 1.0'\nend\n",
            fixtures().display()
        ),
    );
    let everything = pairs(&[
        ("base", "1.0.0"),
        ("legacy", "1.0.0"),
        ("nginx", "1.0.0"),
        ("packages", "1.2.0"),
    ]);
    project
        .larder(&["install", "--except", "web"])
        .assert()
        .success();
    assert_eq!(locked_versions(&project), everything);
    assert!(project.stored("legacy", "1.0.0").is_dir());
    assert!(
        !project.stored("nginx", "1.0.0").exists(),
        "the web group is not installed"
    );

    project
        .larder(&["vendor", "only-web", "--only", "web"])
        .assert()
        .success();
    let mut vendored: Vec<String> = std::fs::read_dir(project.path("only-web"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    vendored.sort();
    assert_eq!(vendored, [".larder-vendored", "base", "nginx", "packages"]);
    assert_eq!(
        locked_versions(&project),
        everything,
        "a filtered run keeps the other pins"
    );

    let output = project
        .larder(&["install", "--only", "web", "--except", "default"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(99));
}

#[test]
fn registry_credentials_stay_out_of_the_lock_and_the_output() {
    let server = Server::start(fixtures());
    let url = server.url.replace("http://", "http://reader:s3cret-token@");
    let project = Project::new();
    project.write("Berksfile", &format!("source '{url}'\ncookbook 'legacy'\n"));
    let output = project.larder(&["install", "-v"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let lock = project.read("larder.lock");
    assert!(
        lock.contains(&format!("source = \"{}\"", server.url)),
        "{lock}"
    );
    for text in [
        String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr_of(&output),
        lock,
    ] {
        assert!(!text.contains("s3cret-token"), "{text}");
    }
}

#[test]
fn several_sources_form_one_index_and_the_first_listing_a_version_supplies_it() {
    let server = Server::start(fixtures());
    let second = tempfile::tempdir().unwrap();
    for version in ["1.1.0", "3.0.0"] {
        let dir = second.path().join(format!("base-{version}"));
        std::fs::create_dir_all(dir.join("recipes")).unwrap();
        std::fs::write(
            dir.join("metadata.rb"),
            format!("name 'base'\nversion '{version}'\n"),
        )
        .unwrap();
        std::fs::write(dir.join("recipes/default.rb"), "log 'second registry'\n").unwrap();
    }
    let second_url = format!("file://{}", second.path().display());
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!(
            "source '{}'\nsource '{second_url}'\ncookbook 'base'\n",
            server.url
        ),
    );
    project.larder(&["install"]).assert().success();
    let lock = project.read("larder.lock");
    assert!(
        lock.contains(&format!(
            "[cookbook.base]\nversion = \"3.0.0\"\nsource = \"{second_url}\""
        )),
        "a newer version in a later source wins: {lock}"
    );

    project.write(
        "Berksfile",
        &format!(
            "source '{}'\nsource '{second_url}'\ncookbook 'base', '~> 1.1.0'\n",
            server.url
        ),
    );
    project.larder(&["install"]).assert().success();
    let lock = project.read("larder.lock");
    assert!(
        lock.contains(&format!(
            "[cookbook.base]\nversion = \"1.1.0\"\nsource = \"{}\"",
            server.url
        )),
        "a version both list comes from the first: {lock}"
    );
    let recipe =
        std::fs::read_to_string(project.stored("base", "1.1.0").join("recipes/default.rb"))
            .unwrap();
    assert!(!recipe.contains("second registry"), "{recipe}");
}

#[test]
fn a_chef_repo_source_supplies_cookbooks_from_a_directory() {
    let project = Project::new();
    project.write(
        "repo/cookbooks/users/metadata.rb",
        "name 'users'\nversion '2.1.0'\ndepends 'sudo'\n",
    );
    project.write(
        "repo/cookbooks/sudo/metadata.json",
        r#"{"name": "sudo", "version": "4.0.0"}"#,
    );
    project.write("repo/cookbooks/sudo/recipes/default.rb", "package 'sudo'\n");
    project.write("Berksfile", "source chef_repo: 'repo'\ncookbook 'users'\n");
    project.larder(&["install"]).assert().success();
    let lock = project.read("larder.lock");
    assert!(
        lock.contains("[cookbook.sudo]\nversion = \"4.0.0\"\npath = \"repo/cookbooks/sudo\""),
        "{lock}"
    );
    assert!(
        lock.contains("[cookbook.users]\nversion = \"2.1.0\"\npath = \"repo/cookbooks/users\""),
        "{lock}"
    );
}

#[test]
fn bad_cookbook_metadata_names_the_cookbook_and_line() {
    let project = Project::new();
    project.write("Berksfile", "cookbook 'site', path: 'site'\n");
    project.write("site/metadata.rb", "version '1.0.0'\n");
    let stderr = fails_with(&project, &["install"], 107);
    assert!(
        stderr.contains("site") && stderr.contains("name"),
        "{stderr}"
    );

    project.write(
        "site/metadata.rb",
        "name 'site'\nversion '1.0.0'\n`curl example.com`\n",
    );
    let stderr = fails_with(&project, &["install"], 107);
    assert!(stderr.contains("metadata.rb:3:"), "{}", stderr);

    std::fs::remove_file(project.path("site/metadata.rb")).unwrap();
    let stderr = fails_with(&project, &["install"], 141);
    assert!(stderr.contains("site"), "{stderr}");
}

#[test]
fn http_proxy_is_used_and_no_proxy_bypasses_it() {
    // The registry the Berksfile names is stopped; a second `larder serve`
    // of the same cookbooks stands in as the proxy, which answers
    // absolute-form requests like any other.
    let mut direct = Server::start(fixtures());
    let proxy = Server::start(fixtures());
    let source = direct.url.clone();
    direct.stop();
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!("source '{source}'\ncookbook 'legacy'\n"),
    );
    let through_proxy = |no_proxy: &str| {
        project
            .larder(&["install"])
            .env("HTTP_PROXY", &proxy.url)
            .env("http_proxy", &proxy.url)
            .env("NO_PROXY", no_proxy)
            .env("no_proxy", no_proxy)
            .output()
            .unwrap()
    };
    let bypassed = through_proxy("127.0.0.1");
    assert!(!bypassed.status.success(), "NO_PROXY must bypass the proxy");
    assert!(
        stderr_of(&bypassed).contains(&source),
        "{}",
        stderr_of(&bypassed)
    );

    let proxied = through_proxy("");
    assert!(proxied.status.success(), "{}", stderr_of(&proxied));
    assert_eq!(
        locked_versions(&project),
        pairs(&[("base", "1.0.0"), ("legacy", "1.0.0")])
    );
}

#[test]
fn the_solver_line_is_accepted_and_explained_in_verbose() {
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!(
            "source 'file://{}'\nsolver :ruby, :required\ncookbook 'legacy'\n",
            fixtures().display()
        ),
    );
    let quiet = project.larder(&["install"]).output().unwrap();
    assert!(quiet.status.success(), "{}", stderr_of(&quiet));
    assert!(!stderr_of(&quiet).contains("solver"));
    std::fs::remove_file(project.path("larder.lock")).unwrap();
    let verbose = project.larder(&["install", "-v"]).output().unwrap();
    assert!(verbose.status.success());
    let stderr = stderr_of(&verbose);
    assert_eq!(
        stderr.matches("larder has one solver").count(),
        1,
        "{stderr}"
    );
}
