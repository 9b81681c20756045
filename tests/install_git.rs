//! Git locations through `larder install` and `update`: a repository served
//! by a real `git daemon` on loopback, its cookbook depending on one from
//! `larder serve`, locked revisions that stay put until `update`, installs
//! with both servers stopped, and Berkshelf's lockfile format for git.

mod common;

use common::git::{Daemon, Repo, git_available};
use common::project::{Project, fixtures};
use common::server::Server;

/// The remote `widget` (default branch `main`): the cookbook `widget` at the
/// top, depending on `base ~> 1.0` from the registry, and the cookbook
/// `tool` in `cookbooks/tool`; annotated tag `v1.0.0` on the first commit.
fn remote(base: &std::path::Path) -> (Repo, String) {
    let repo = Repo::init(&base.join("widget"), "main");
    repo.write(
        "metadata.rb",
        "name 'widget'\nversion '1.0.0'\ndepends 'base', '~> 1.0'\n",
    )
    .write("recipes/default.rb", "log 'widget'\n")
    .write(
        "cookbooks/tool/metadata.json",
        r#"{"name": "tool", "version": "0.1.0"}"#,
    )
    .write("cookbooks/tool/recipes/default.rb", "log 'tool'\n")
    .write(
        ".gitmodules",
        "[submodule \"vendor/lib\"]\n\tpath = vendor/lib\n\turl = https://example.com/lib.git\n",
    );
    let first = repo.commit("widget 1.0.0");
    repo.git(&["tag", "--annotate", "v1.0.0", "--message", "first"]);
    (repo, first)
}

#[test]
fn git_cookbooks_lock_their_revision_until_updated_and_install_offline() {
    if !git_available() {
        return;
    }
    let remotes = tempfile::tempdir().unwrap();
    let (repo, first) = remote(remotes.path());
    let mut daemon = Daemon::start(remotes.path());
    let mut server = Server::start(fixtures());
    let url = daemon.url("widget");
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!(
            "source '{}'\n\ncookbook 'widget', git: '{url}'\ncookbook 'tool', git: '{url}', tag: 'v1.0.0', rel: 'cookbooks/tool'\n",
            server.url
        ),
    );
    project.write("Berksfile.lock", "");

    let output = project.larder(&["install"]).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("submodules in") && stderr.contains("are not fetched"),
        "{stderr}"
    );
    let expected = format!(
        "DEPENDENCIES\n  tool\n    git: {url}\n    revision: {first}\n    tag: v1.0.0\n    rel: cookbooks/tool\n  \
         widget\n    git: {url}\n    revision: {first}\n\nGRAPH\n  base (1.1.0)\n  tool (0.1.0)\n  widget (1.0.0)\n    base (~> 1.0)\n"
    );
    assert_eq!(project.read("Berksfile.lock"), expected);
    assert!(
        project
            .stored("widget", &first)
            .join("recipes/default.rb")
            .is_file()
    );
    assert!(!project.stored("widget", &first).join(".git").exists());
    assert!(
        project
            .stored("tool", &first)
            .join("metadata.json")
            .is_file()
    );

    // The branch moves on; a trusted lock stays where it was.
    repo.write(
        "metadata.rb",
        "name 'widget'\nversion '1.1.0'\ndepends 'base', '~> 1.0'\n",
    );
    let second = repo.commit("widget 1.1.0");
    project.larder(&["install"]).assert().success();
    assert!(
        project
            .read("larder.lock")
            .contains(&format!("revision = \"{first}\""))
    );
    assert!(!project.read("larder.lock").contains(&second));

    // `update widget` follows the branch; tool stays at its tag.
    project.larder(&["update", "widget"]).assert().success();
    let lock = project.read("larder.lock");
    assert!(lock.contains(&format!("revision = \"{second}\"")), "{lock}");
    assert!(
        lock.contains("[cookbook.widget]\nversion = \"1.1.0\""),
        "{lock}"
    );
    assert!(
        project
            .read("Berksfile.lock")
            .contains(&format!("tool\n    git: {url}\n    revision: {first}"))
    );

    // Both servers gone: everything is in the store and the mirror.
    daemon.stop();
    server.stop();
    project.larder(&["install", "--offline"]).assert().success();
    project.larder(&["install"]).assert().success();
    project.larder(&["vendor", "out"]).assert().success();
    assert!(project.path("out/widget/metadata.json").is_file());
}

#[test]
fn git_errors_name_the_url_and_what_was_asked() {
    if !git_available() {
        return;
    }
    let remotes = tempfile::tempdir().unwrap();
    let (repo, _) = remote(remotes.path());
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!(
            "cookbook 'widget', git: '{}', branch: 'nope'\n",
            repo.file_url()
        ),
    );
    let output = project.larder(&["install"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nope") && stderr.contains("widget"),
        "{stderr}"
    );

    project.write(
        "Berksfile",
        &format!("cookbook 'gadget', git: '{}'\n", repo.file_url()),
    );
    let output = project.larder(&["install"]).output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(114),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn credentials_in_a_git_url_reach_neither_the_lock_nor_the_output() {
    if !git_available() {
        return;
    }
    let remotes = tempfile::tempdir().unwrap();
    remote(remotes.path());
    let daemon = Daemon::start(remotes.path());
    let url = daemon
        .url("widget")
        .replace("git://", "git://deploy:s3cret-token@");
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!("cookbook 'tool', git: '{url}', rel: 'cookbooks/tool'\n"),
    );
    project.write("Berksfile.lock", "");
    let output = project.larder(&["install"]).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for text in [
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        project.read("larder.lock"),
        project.read("Berksfile.lock"),
    ] {
        assert!(!text.contains("s3cret-token"), "{text}");
    }
    assert!(
        project
            .read("Berksfile.lock")
            .contains(&format!("git: {}", daemon.url("widget")))
    );
    // The lock is still trusted: a second install changes nothing.
    let lock = project.read("larder.lock");
    project.larder(&["install", "--locked"]).assert().success();
    assert_eq!(project.read("larder.lock"), lock);
}
