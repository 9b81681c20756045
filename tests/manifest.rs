//! `larder manifest` through the binary: how larder reads real Berksfiles
//! and metadata.rb files (helper methods, constants, `Dir.glob` over a
//! project whose path has a space, `defined?`), what it refuses with
//! file:line:col, and warnings that print even when a command fails.

mod common;

use common::project::Project;
use predicates::prelude::*;
use serde_json::Value;

/// A project in a directory whose name has a space and a non-ASCII letter.
fn spaced_project() -> (Project, std::path::PathBuf) {
    let project = Project::new();
    let root = project.path("chef repo é");
    std::fs::create_dir_all(&root).expect("create the project directory");
    (project, root)
}

fn write(root: &std::path::Path, relative: &str, text: &str) {
    let path = root.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create directories");
    }
    std::fs::write(path, text).expect("write a file");
}

fn json_of(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[test]
fn manifest_prints_the_evaluated_berksfile() {
    let (project, root) = spaced_project();
    for cookbook in ["site-cookbooks/web", "site-cookbooks/db"] {
        write(&root, &format!("{cookbook}/metadata.rb"), "name 'x'\n");
    }
    write(
        &root,
        "Berksfile",
        r##"source 'https://supermarket.chef.io'
extension 'halite'
Encoding.default_external = Encoding::UTF_8
GIT_BASE = 'https://git.example.com/cookbooks'.freeze

def fixture(name)
  cookbook "x_#{name}", path: "test/fixtures/cookbooks/#{name}"
end

def from_git(name, extra = {}, branch: 'main')
  { git: "#{GIT_BASE}/#{name}.git", branch: branch }.merge(extra)
end

metadata unless defined?(NO_METADATA)
Dir.glob('site-cookbooks/*').each { |p| cookbook File.basename(p), path: p }
cookbook 'db2', '>= 1.0', from_git('db2', { rel: 'cb' }, branch: 'stable')
group :integration do
  %w(a b).each { |f| fixture f }
end
"##,
    );
    let output = project
        .larder(&["manifest", "--format", "json", "--berksfile"])
        .arg(root.join("Berksfile"))
        .output()
        .expect("run larder");
    assert!(output.status.success(), "{output:?}");
    let doc = json_of(&output);
    assert_eq!(
        doc["sources"],
        serde_json::json!([{"type": "url", "url": "https://supermarket.chef.io"}])
    );
    let deps = doc["dependencies"].as_array().expect("dependencies");
    let summary: Vec<String> = deps
        .iter()
        .map(|d| {
            format!(
                "{} {} {} {}",
                d["name"].as_str().unwrap_or("(metadata)"),
                d["constraint"].as_str().unwrap_or(""),
                d["location"]["path"]
                    .as_str()
                    .or(d["location"]["url"].as_str())
                    .unwrap_or("default")
                    .replace(root.to_str().unwrap_or("?"), "ROOT"),
                d["groups"]
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            r#"(metadata) >= 0.0.0 ROOT ["default"]"#,
            r#"db >= 0.0.0 ROOT/site-cookbooks/db ["default"]"#,
            r#"web >= 0.0.0 ROOT/site-cookbooks/web ["default"]"#,
            r#"db2 >= 1.0.0 https://git.example.com/cookbooks/db2.git ["default"]"#,
            r#"x_a >= 0.0.0 ROOT/test/fixtures/cookbooks/a ["integration"]"#,
            r#"x_b >= 0.0.0 ROOT/test/fixtures/cookbooks/b ["integration"]"#,
        ]
    );
    assert_eq!(deps[3]["location"]["branch"], "stable");
    assert_eq!(deps[3]["location"]["rel"], "cb");
    assert_eq!(deps[0]["location"]["metadata"], true);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`extension 'halite'` ignored: larder needs no Berkshelf extensions"),
        "{stderr}"
    );
}

#[test]
fn chef_server_sources_are_listed_with_their_url_and_no_secret() {
    let (project, root) = spaced_project();
    write(
        &root,
        "Berksfile",
        "source :chef_server\n\
         source chef_server: 'https://admin:hunter2@chef.example/organizations/ops'\n\
         cookbook 'web'\n",
    );
    let output = project
        .larder(&["manifest", "--format", "json", "--berksfile"])
        .arg(root.join("Berksfile"))
        .output()
        .expect("run larder");
    assert!(output.status.success(), "{output:?}");
    let doc = json_of(&output);
    assert_eq!(
        doc["sources"][0],
        serde_json::json!({"type": "chef_server", "url": null})
    );
    assert_eq!(doc["sources"][1]["type"], "chef_server");
    let url = doc["sources"][1]["url"].as_str().expect("a url");
    assert!(url.contains("chef.example/organizations/ops"), "{url}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("hunter2"));
}

#[test]
fn manifest_reads_metadata_as_chef_would() {
    let (project, root) = spaced_project();
    write(&root, "VERSION", "2.1.0\n");
    write(
        &root,
        "metadata.rb",
        r#"name 'app'
version IO.read(File.join(File.dirname(__FILE__), 'VERSION')).chomp
unless defined?(Ridley::Chef::Cookbook::Metadata)
  source_url 'https://example.com/app'
end
%w(apt yum).each { |d| depends d }
depends 'ntp', '~> 3.0'
"#,
    );
    let output = project
        .larder(&["manifest", "-F", "json", "--metadata"])
        .arg(&root)
        .output()
        .expect("run larder");
    assert!(output.status.success(), "{output:?}");
    let doc = json_of(&output);
    assert_eq!(doc["name"], "app");
    assert_eq!(doc["version"], "2.1.0");
    assert_eq!(
        doc["dependencies"],
        serde_json::json!([
            {"name": "apt", "constraint": ">= 0.0.0"},
            {"name": "yum", "constraint": ">= 0.0.0"},
            {"name": "ntp", "constraint": "~> 3.0"},
        ])
    );
}

#[test]
fn metadata_with_no_value_reads_the_cookbook_in_the_current_directory() {
    let project = Project::new();
    project.write(
        "metadata.rb",
        "name 'here'\nversion '1.2.3'\ndepends 'apt'\n",
    );
    project
        .larder(&["manifest", "--metadata"])
        .assert()
        .success()
        .stdout(predicate::str::contains("here (1.2.3)").and(predicate::str::contains("apt")));
    let output = project
        .larder(&["manifest", "--metadata", "-F", "json"])
        .output()
        .expect("run larder");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(json_of(&output)["name"], "here");
}

#[test]
fn undecidable_conditions_and_unknown_calls_are_refused_at_their_place() {
    let project = Project::new();
    project.write(
        "cb/metadata.rb",
        "name 'cb'\ndepends 'apt'\ndepends 'windows' if platform?('windows')\n",
    );
    project
        .larder(&["manifest", "--metadata", "cb"])
        .assert()
        .code(107)
        .stderr(
            predicate::str::contains("cb/metadata.rb:3:22: `platform?` has no answer here").and(
                predicate::str::contains("write the `depends` line unconditionally"),
            ),
        );
    project.write(
        "Berksfile",
        "source 'https://supermarket.chef.io'\n\ncookbooks 'apt'\n",
    );
    project
        .larder(&["manifest"])
        .assert()
        .code(113)
        .stderr(predicate::str::contains(
            "Berksfile:3:1: `cookbooks` is not a Berksfile method; a Berksfile may call source",
        ));
    project.write("Berksfile", "site :opscode\nmetadata\n");
    project
        .larder(&["manifest"])
        .assert()
        .code(113)
        .stderr(predicate::str::contains(
            "write `source 'https://supermarket.chef.io'` instead",
        ));
    project.write("nameless/metadata.rb", "version '1.0.0'\ndepends 'apt'\n");
    project
        .larder(&["manifest", "--metadata", "nameless"])
        .assert()
        .code(107)
        .stderr(predicate::str::contains(
            "add a line such as `name 'my_cookbook'`",
        ));
}

#[test]
fn files_outside_the_project_are_never_read() {
    let project = Project::new();
    project.write("secret.txt", "s3cret\n");
    project.write(
        "cb/metadata.rb",
        "name 'cb'\nlong_description IO.read(File.expand_path('../secret.txt', __dir__))\n",
    );
    project
        .larder(&["manifest", "--metadata", "cb"])
        .assert()
        .code(107)
        .stderr(
            predicate::str::contains("cb/metadata.rb:2:")
                .and(predicate::str::contains("may only look inside"))
                .and(predicate::str::contains("s3cret").not()),
        );
}

#[test]
fn warnings_print_when_the_install_then_fails() {
    let project = Project::new();
    project.write(
        "Berksfile",
        "extension 'halite'\ncookbook 'poise', gem: 'poise'\n",
    );
    project.larder(&["install"]).assert().code(146).stderr(
        predicate::str::contains("`extension 'halite'` ignored")
            .and(predicate::str::contains(
                "cookbook 'poise': unknown option `gem` ignored",
            ))
            .and(predicate::str::contains("declares no source")),
    );
}
