//! Durability through the binary, watched with strace: every rename that
//! puts something in place (a store entry, its record, a cached universe, a
//! lockfile, a new git mirror, a vendored cookbook and the vendor marker, a
//! pulled set, the DIR link, `previous`) comes after the flush
//! of what it moves and is followed by the flush of its directory, so that
//! a power loss leaves the old state or the new one, never an empty file or
//! a partial tree under the new name.

mod common;

use std::path::{Path, PathBuf};

use common::bundles::{bundle, publish};
use common::git::{Repo, git_available};
use common::project::fixtures;
use common::server::Server;
use common::strace::{self, Call, assert_durable};

fn canonical_tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().canonicalize().unwrap();
    (dir, path)
}

fn renamed_to(calls: &[Call], target: &Path) -> bool {
    calls
        .iter()
        .any(|c| matches!(c, Call::Rename { to, .. } if to == target))
}

/// Checks that a rename of `calls` put each of `targets` in place.
fn assert_renamed_into_place(calls: &[Call], targets: &[PathBuf]) {
    for target in targets {
        assert!(
            renamed_to(calls, target),
            "no rename put {} in place: {calls:#?}",
            target.display()
        );
    }
}

#[test]
fn install_flushes_store_entries_records_and_the_lock_around_every_rename() {
    if !strace::available() {
        return;
    }
    let server = Server::start(fixtures());
    let (_dir, root) = canonical_tempdir();
    let (project, home) = (root.join("project"), root.join("home"));
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("Berksfile"),
        format!("source '{}'\ncookbook 'packages', '= 1.0.0'\n", server.url),
    )
    .unwrap();

    let (output, calls) = strace::trace(&project, &[("LARDER_HOME", &home)], &["install"]);
    assert!(output.status.success(), "{output:?}");
    let checked = assert_durable(&calls, &[&home.join("tmp")]);
    assert_renamed_into_place(
        &calls,
        &[
            home.join("cookbooks/packages-1.0.0"),
            home.join("cookbooks/packages-1.0.0.sha256"),
            home.join("cookbooks/base-1.1.0"),
            home.join("cookbooks/base-1.1.0.sha256"),
            project.join("larder.lock"),
        ],
    );
    assert!(checked >= 5, "{checked} renames checked");
}

#[test]
fn vendor_flushes_every_cookbook_and_its_marker_around_their_renames() {
    if !strace::available() {
        return;
    }
    let server = Server::start(fixtures());
    let (_dir, root) = canonical_tempdir();
    let (project, home) = (root.join("my project"), root.join("home"));
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("Berksfile"),
        format!("source '{}'\ncookbook 'packages', '>= 1.0'\n", server.url),
    )
    .unwrap();
    let vendored = project.join("vendor dir/cookbooks");

    let (output, calls) = strace::trace(
        &project,
        &[("LARDER_HOME", &home)],
        &["vendor", vendored.to_str().unwrap()],
    );
    assert!(output.status.success(), "{output:?}");
    let checked = assert_durable(&calls, &[&home.join("tmp")]);
    assert_renamed_into_place(
        &calls,
        &[
            vendored.join("packages"),
            vendored.join("base"),
            vendored.join(".larder-vendored"),
        ],
    );
    assert!(
        calls
            .iter()
            .any(|c| *c == Call::Sync(root.join("my project/vendor dir"))),
        "the new vendor directory's parent was not flushed: {calls:#?}"
    );
    assert!(checked >= 3, "{checked} renames checked");
}

#[test]
fn a_new_git_mirror_is_flushed_before_it_is_renamed_into_place() {
    if !strace::available() || !git_available() {
        return;
    }
    let (_dir, root) = canonical_tempdir();
    let remote = Repo::init(&root.join("remote widget"), "main");
    remote
        .write("metadata.rb", "name 'widget'\nversion '1.0.0'\n")
        .write("recipes/default.rb", "log 'widget'\n");
    let revision = remote.commit("widget 1.0.0");
    let (project, home) = (root.join("project"), root.join("home"));
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("Berksfile"),
        format!("cookbook 'widget', git: '{}'\n", remote.file_url()),
    )
    .unwrap();

    let (output, calls) = strace::trace(&project, &[("LARDER_HOME", &home)], &["install"]);
    assert!(output.status.success(), "{output:?}");
    let checked = assert_durable(&calls, &[&home.join("tmp")]);
    let mirrors: Vec<PathBuf> = std::fs::read_dir(home.join("git"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    assert_eq!(mirrors.len(), 1, "{mirrors:?}");
    assert_renamed_into_place(
        &calls,
        &[
            mirrors[0].clone(),
            home.join(format!("cookbooks/widget-{revision}")),
            project.join("larder.lock"),
        ],
    );
    assert!(checked >= 3, "{checked} renames checked");

    // A later fetch goes into the mirror in place: libgit2 flushes the new
    // pack and its directory, and the refs around their renames.
    remote.write("recipes/default.rb", "log 'widget, again'\n");
    let second = remote.commit("widget, again");
    let (output, calls) = strace::trace(&project, &[("LARDER_HOME", &home)], &["update"]);
    assert!(output.status.success(), "{output:?}");
    let checked = assert_durable(&calls, &[&home.join("tmp")]);
    let in_mirror = calls
        .iter()
        .filter(|c| matches!(c, Call::Rename { to, .. } if to.starts_with(&mirrors[0])))
        .count();
    assert!(
        in_mirror >= 1,
        "{in_mirror} renames in the mirror: {calls:#?}"
    );
    assert!(
        calls
            .iter()
            .any(|c| *c == Call::Sync(mirrors[0].join("objects/pack"))),
        "the new pack's directory was not flushed: {calls:#?}"
    );
    assert_renamed_into_place(&calls, &[home.join(format!("cookbooks/widget-{second}"))]);
    assert!(checked >= in_mirror + 2, "{checked} renames checked");
}

#[test]
fn pull_and_rollback_flush_the_set_the_link_and_previous_around_every_rename() {
    if !strace::available() {
        return;
    }
    let (_dir, root) = canonical_tempdir();
    let site = root.join("site");
    let first = publish(&site, "first.tar.gz", &bundle(&root, "a"));
    let second = publish(&site, "second.tar.gz", &bundle(&root, "b"));
    let into = root.join("cookbooks");
    std::fs::create_dir_all(into.join("old")).unwrap();
    std::fs::write(into.join("old/metadata.json"), "{}").unwrap();
    let staging = root.join("cookbooks.larder/tmp");
    let into_arg = into.to_str().unwrap();

    for args in [
        vec!["pull", first.to_str().unwrap(), "--into", into_arg],
        vec!["pull", second.to_str().unwrap(), "--into", into_arg],
        vec!["pull", "--rollback", "--into", into_arg],
    ] {
        let (output, calls) = strace::trace(&root, &[], &args);
        assert!(output.status.success(), "{args:?}: {output:?}");
        let checked = assert_durable(&calls, &[&staging]);
        assert!(
            renamed_to(&calls, &into),
            "{args:?} did not switch: {calls:#?}"
        );
        assert!(checked >= 2, "{args:?}: {checked} renames checked");
    }
    assert!(root.join("cookbooks.larder/previous").is_file());
}
