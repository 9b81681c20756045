//! Hardening through the binary: `install --locked` checks before it
//! writes anything, a crash (SIGKILL) at a seeded random point of `install`
//! or `pull` leaves a store and a live set that the next run and `verify`
//! accept, and concurrent runs on one store or one pull directory either
//! succeed or fail clearly.

mod common;

use common::project::{Project, fixtures};
use common::server::Server;

#[test]
fn locked_without_digests_fails_before_downloading_anything() {
    let server = Server::start(fixtures());
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!("source '{}'\ncookbook 'packages'\n", server.url),
    );
    project.larder(&["install"]).assert().success();
    let undigested: String = project
        .read("larder.lock")
        .lines()
        .filter(|line| !line.starts_with("sha256"))
        .map(|line| format!("{line}\n"))
        .collect();
    project.write("larder.lock", &undigested);
    std::fs::remove_dir_all(project.home.path().join("cookbooks")).unwrap();

    let output = project.larder(&["install", "--locked"]).output().unwrap();
    assert_eq!(output.status.code(), Some(144), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the lock records no digest for base, packages"),
        "{stderr}"
    );
    let stored = std::fs::read_dir(project.home.path().join("cookbooks"))
        .map(|dir| dir.count())
        .unwrap_or(0);
    assert_eq!(
        stored, 0,
        "--locked put cookbooks in the store before refusing"
    );
    assert_eq!(project.read("larder.lock"), undigested);
}
