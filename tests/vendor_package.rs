//! `larder vendor` and `larder package` on top of a real install: what lands
//! in the vendored folders, how an existing target is treated, and a bundle
//! that is byte-identical from two projects and stores, checks with
//! `sha256sum -c`, and pulls into a directory.

mod common;

use std::path::Path;

use common::project::{Project, fixtures};

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A project using the fixture registry plus a path cookbook of its own
/// with a chefignore, a spec folder and VCS files.
fn project() -> Project {
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!(
            "source 'file://{}'\ncookbook 'app'\ncookbook 'site', path: 'site'\n",
            fixtures().display()
        ),
    );
    project.write(
        "site/metadata.rb",
        "name 'site'\nversion '0.2.0'\ndepends 'base', '~> 1.0'\n",
    );
    project.write("site/recipes/default.rb", "include_recipe 'base'\n");
    project.write("site/chefignore", "# editor files\n*.swp\nspec/*\n");
    project.write("site/spec/default_spec.rb", "describe 'site' do end\n");
    project.write("site/recipes/.default.rb.swp", "junk");
    project.write("site/.git/HEAD", "ref: refs/heads/main\n");
    project
}

#[test]
fn vendor_copies_what_chef_loads_and_compiles_metadata_json() {
    let project = project();
    project.larder(&["vendor"]).assert().success();
    let out = project.path("berks-cookbooks");
    assert_eq!(
        names_in(&out),
        [
            ".larder-vendored",
            "app",
            "base",
            "database",
            "nginx",
            "packages",
            "site"
        ],
        "the cookbooks, and the marker that keeps the folder out of path cookbooks"
    );
    assert_eq!(
        names_in(&out.join("site")),
        ["chefignore", "metadata.json", "metadata.rb", "recipes"]
    );
    assert_eq!(names_in(&out.join("site/recipes")), ["default.rb"]);
    let metadata: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("site/metadata.json")).unwrap())
            .unwrap();
    assert_eq!(metadata["name"], "site");
    assert_eq!(metadata["version"], "0.2.0");
    assert_eq!(metadata["dependencies"]["base"], "~> 1.0");
    assert!(out.join("database/VERSION").is_file());
    assert!(
        out.join("database/metadata.json").is_file(),
        "compiled from metadata.rb"
    );
}

#[test]
fn vendor_refuses_a_target_with_other_content_unless_told_to_delete() {
    let project = project();
    project.write("out/notes.txt", "keep me?\n");
    let output = project.larder(&["vendor", "out"]).output().unwrap();
    assert_eq!(output.status.code(), Some(143));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("notes.txt") && stderr.contains("--delete"),
        "{stderr}"
    );
    assert_eq!(
        names_in(&project.path("out")),
        ["notes.txt"],
        "nothing half-written"
    );

    project
        .larder(&["vendor", "out", "--delete"])
        .assert()
        .success();
    assert!(!project.path("out/notes.txt").exists());
    assert!(
        project.path("out/app/metadata.rb").exists()
            || project.path("out/app/metadata.json").exists()
    );
    // Vendoring the same set again replaces it without --delete.
    project.larder(&["vendor", "out"]).assert().success();
}

#[test]
fn package_into_a_folder_that_does_not_exist_is_refused_by_name() {
    let project = project();
    let output = project
        .larder(&["package", "dist/cookbooks.tar.gz"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(143), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("folder dist for the bundle does not exist; create it first"),
        "{stderr}"
    );
    assert!(!stderr.contains(".tmp"), "{stderr}");
    assert!(!project.path("dist").exists());
}

#[test]
fn package_is_reproducible_across_projects_and_pulls_into_place() {
    let first = project();
    first
        .larder(&["package", "bundle.tar.gz"])
        .assert()
        .success();
    let bundle = std::fs::read(first.path("bundle.tar.gz")).unwrap();

    // Another checkout of the same project, another store, another day.
    let second = project();
    std::fs::copy(first.path("larder.lock"), second.path("larder.lock")).unwrap();
    second
        .larder(&["package", "bundle.tar.gz"])
        .env("TZ", "Pacific/Auckland")
        .assert()
        .success();
    assert!(
        bundle == std::fs::read(second.path("bundle.tar.gz")).unwrap(),
        "bundles differ"
    );

    let sidecar = first.read("bundle.tar.gz.sha256");
    assert!(sidecar.ends_with("  bundle.tar.gz\n"), "{sidecar}");
    if common::require_tool("sha256sum", "--version") {
        let check = std::process::Command::new("sha256sum")
            .args(["-c", "bundle.tar.gz.sha256"])
            .current_dir(first.dir.path())
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
    }

    let target = first.path("stack-cookbooks");
    first
        .larder(&["pull", "bundle.tar.gz", "--into"])
        .arg(&target)
        .assert()
        .success();
    assert!(target.join("site/metadata.json").is_file());
    assert!(target.join("nginx/recipes/default.rb").is_file());
    assert!(!target.join("site/spec").exists());
}
