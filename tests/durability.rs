//! Durability through the binary, watched with strace: every rename that
//! puts something in place (a store entry, its record, a cached universe, a
//! lockfile, a pulled set, the DIR link, `previous`) comes after the flush
//! of what it moves and is followed by the flush of its directory, so that
//! a power loss leaves the old state or the new one, never an empty file or
//! a partial tree under the new name.

mod common;

use std::path::{Path, PathBuf};

use common::bundles::{bundle, publish};
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
    for target in [
        home.join("cookbooks/packages-1.0.0"),
        home.join("cookbooks/packages-1.0.0.sha256"),
        home.join("cookbooks/base-1.1.0"),
        home.join("cookbooks/base-1.1.0.sha256"),
        project.join("larder.lock"),
    ] {
        assert!(
            renamed_to(&calls, &target),
            "no rename put {} in place: {calls:#?}",
            target.display()
        );
    }
    assert!(checked >= 5, "{checked} renames checked");
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
