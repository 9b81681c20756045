//! The store shared by processes, through the binary: an entry that another
//! process puts in the store while `install` waits for the entry's lock is
//! checked against the digest the lockfile expects, like any other entry,
//! and never rewrites the lockfile's digest; staging left by a killed
//! install is removed by the next run, unless a running one holds it.

mod common;

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::project::{Project, fixtures};
use common::server::Server;

/// Whether process `pid` waits for a file lock (`/proc/locks` marks a
/// blocked request with `->`).
fn waits_for_a_lock(pid: u32) -> bool {
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    locks.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.get(1) == Some(&"->") && fields.get(5) == Some(&pid.to_string().as_str())
    })
}

#[test]
fn an_entry_installed_by_another_process_while_waiting_is_checked_against_the_lock() {
    let server = Server::start(fixtures());
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!("source '{}'\ncookbook 'base', '= 1.0.0'\n", server.url),
    );
    project.larder(&["install"]).assert().success();
    let lock = project.read("larder.lock");
    let entry = project.stored("base", "1.0.0");
    let record = project.home.path().join("cookbooks/base-1.0.0.sha256");
    assert!(
        record.is_file(),
        "{} is the install record",
        record.display()
    );
    std::fs::remove_dir_all(&entry).unwrap();
    std::fs::remove_file(&record).unwrap();

    // Hold the entry's lock as another installing process would.
    let held = File::create(project.home.path().join("locks/base-1.0.0.lock")).unwrap();
    held.lock().unwrap();
    let mut install = Command::new(env!("CARGO_BIN_EXE_larder"))
        .arg("install")
        .current_dir(project.dir.path())
        .env("LARDER_HOME", project.home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !waits_for_a_lock(install.id()) {
        assert!(
            Instant::now() < deadline,
            "install never waited for the entry's lock"
        );
        assert!(
            install.try_wait().unwrap().is_none(),
            "install ended without waiting for the entry's lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The other process installs a different artifact, then lets go.
    std::fs::create_dir_all(entry.join("recipes")).unwrap();
    std::fs::write(entry.join("metadata.rb"), "name 'base'\nversion '1.0.0'\n").unwrap();
    std::fs::write(entry.join("recipes/default.rb"), "execute 'other'\n").unwrap();
    let planted = "f".repeat(64);
    std::fs::write(
        &record,
        format!("artifact = \"{planted}\"\ntree = \"{}\"\n", "0".repeat(64)),
    )
    .unwrap();
    held.unlock().unwrap();

    let output = install.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(124), "{stderr}");
    assert!(
        stderr.contains("base (1.0.0)") && stderr.contains(&planted),
        "{stderr}"
    );
    assert_eq!(project.read("larder.lock"), lock, "the lock was rewritten");
    assert!(!project.read("larder.lock").contains(&planted));
}

#[test]
fn staging_left_by_a_killed_install_is_removed_unless_its_entry_is_locked() {
    let server = Server::start(fixtures());
    let project = Project::new();
    project.write(
        "Berksfile",
        &format!("source '{}'\ncookbook 'base', '= 1.0.0'\n", server.url),
    );
    project.larder(&["install"]).assert().success();
    let home = project.home.path();
    // What an install and a removal killed halfway leave behind...
    let stale = [
        home.join("tmp/base-1.0.0.x7Yq2Z"),
        home.join("tmp/base-1.0.0.removed.Qw3rTy"),
    ];
    for dir in &stale {
        std::fs::create_dir_all(dir.join("recipes")).unwrap();
        std::fs::write(dir.join("metadata.rb"), "name 'base'\n").unwrap();
    }
    // ...and the staging of an install still running, which holds its lock.
    let running = home.join("tmp/nginx-2.0.0.Ab12Cd");
    std::fs::create_dir_all(&running).unwrap();
    let held = File::create(home.join("locks/nginx-2.0.0.lock")).unwrap();
    held.lock().unwrap();
    // Not staging of an entry: left alone.
    let other = home.join("tmp/.git-export-Zz9Yy8");
    std::fs::create_dir_all(&other).unwrap();

    project.larder(&["install"]).assert().success();
    for dir in &stale {
        assert!(!dir.exists(), "{} was left behind", dir.display());
    }
    assert!(
        running.is_dir(),
        "the staging of a running install was removed"
    );
    assert!(other.is_dir());

    held.unlock().unwrap();
    project.larder(&["list"]).assert().success();
    assert!(
        !running.exists(),
        "staging whose lock is free was left behind"
    );
}
