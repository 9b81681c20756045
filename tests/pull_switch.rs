//! How `pull` switches DIR, through the binary: a re-pull of the live bundle
//! checks the live set and repairs it, a rollback killed at any point never
//! leaves `previous` naming the live set, and the first pull over a plain
//! directory never leaves a moment without DIR.

mod common;

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use common::bundles::{bundle, publish};
use common::strace::{self, Call};

fn pull(source: &Path, into: &Path) -> String {
    let output = Command::cargo_bin("larder")
        .unwrap()
        .arg("pull")
        .arg(source)
        .arg("--into")
        .arg(into)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn rollback(into: &Path) {
    Command::cargo_bin("larder")
        .unwrap()
        .args(["pull", "--rollback", "--into"])
        .arg(into)
        .assert()
        .success();
}

#[test]
fn a_re_pull_checks_the_live_set_and_repairs_it() {
    let tmp = tempfile::tempdir().unwrap();
    let first = publish(
        &tmp.path().join("site"),
        "first.tar.gz",
        &bundle(tmp.path(), "a"),
    );
    let into = tmp.path().join("cookbooks");
    assert!(pull(&first, &into).starts_with("Pulled"));
    let recipe = into.join("app/recipes/default.rb");
    let original = fs::read(&recipe).unwrap();

    fs::remove_dir_all(into.join("app")).unwrap();
    assert!(pull(&first, &into).starts_with("Pulled"));
    assert_eq!(fs::read(&recipe).unwrap(), original);

    fs::write(&recipe, "execute 'rm -rf /'\n").unwrap();
    assert!(pull(&first, &into).starts_with("Pulled"));
    assert_eq!(fs::read(&recipe).unwrap(), original);

    fs::write(into.join("app/recipes/extra.rb"), "log 'extra'\n").unwrap();
    assert!(pull(&first, &into).starts_with("Pulled"));
    assert!(!into.join("app/recipes/extra.rb").exists());

    assert!(pull(&first, &into).contains("already in place"));
}

/// DIR's link target and what `previous` names.
fn state(into: &Path) -> (String, String) {
    let live = fs::read_link(into).unwrap().display().to_string();
    let mut previous = into.as_os_str().to_owned();
    previous.push(".larder/previous");
    let previous = fs::read_to_string(previous).unwrap();
    (live, previous.trim_end().to_string())
}

#[test]
fn a_rollback_killed_before_the_switch_never_leaves_previous_naming_the_live_set() {
    if !strace::available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    let first = publish(&site, "first.tar.gz", &bundle(tmp.path(), "a"));
    let second = publish(&site, "second.tar.gz", &bundle(tmp.path(), "b"));
    let into = tmp.path().join("cookbooks");
    pull(&first, &into);
    pull(&second, &into);
    let before = state(&into);
    assert_ne!(before.0, before.1);

    // The link that would replace DIR is the rollback's last step but one.
    let into_arg = into.to_str().unwrap();
    let killed = strace::kill_at(
        tmp.path(),
        &[],
        "symlink,symlinkat",
        &["pull", "--rollback", "--into", into_arg],
    );
    assert!(!killed.status.success(), "{killed:?}");
    let after = state(&into);
    assert_ne!(after.0, after.1, "previous names the live set");

    rollback(&into);
    let rolled = state(&into);
    assert_eq!(
        rolled.0, before.1,
        "the rollback after the crash did nothing"
    );
    assert_eq!(rolled.1, before.0);
}

#[test]
fn the_first_pull_over_a_plain_directory_never_leaves_dir_missing() {
    if !strace::available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let first = publish(&root.join("site"), "first.tar.gz", &bundle(&root, "a"));
    let into = root.join("cookbooks");
    fs::create_dir_all(into.join("old")).unwrap();
    fs::write(into.join("old/metadata.json"), "{}").unwrap();

    let (output, calls) = strace::trace(
        &root,
        &[],
        &[
            "pull",
            first.to_str().unwrap(),
            "--into",
            into.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{output:?}");
    for call in &calls {
        if let Call::Rename { from, exchange, .. } = call {
            assert!(
                *exchange || from != &into,
                "DIR was moved away before its replacement was in place: {calls:#?}"
            );
        }
    }
    assert!(
        calls
            .iter()
            .any(|c| matches!(c, Call::Rename { to, exchange: true, .. } if to == &into)),
        "DIR was not exchanged with its replacement: {calls:#?}"
    );
    rollback(&into);
    assert_eq!(
        fs::read_to_string(into.join("old/metadata.json")).unwrap(),
        "{}"
    );
}

#[test]
fn a_pull_into_a_removed_dir_never_leaves_previous_naming_the_live_set() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    let first = publish(&site, "first.tar.gz", &bundle(tmp.path(), "a"));
    let second = publish(&site, "second.tar.gz", &bundle(tmp.path(), "b"));
    let into = tmp.path().join("cookbooks");
    pull(&first, &into);
    pull(&second, &into);
    fs::remove_file(&into).unwrap();
    pull(&first, &into);

    let live = fs::read_link(&into).unwrap().display().to_string();
    let previous =
        fs::read_to_string(tmp.path().join("cookbooks.larder/previous")).unwrap_or_default();
    assert_ne!(previous.trim_end(), live, "previous names the live set");
}
