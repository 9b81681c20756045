//! Hardening through the binary: `install --locked` checks before it
//! writes anything, a crash (SIGKILL) at a seeded random point of `install`
//! or `pull` leaves a store and a live set that the next run and `verify`
//! accept, and concurrent runs on one store or one pull directory either
//! succeed or fail clearly, and a full disk under the store or the pull
//! directory gives a clear error and leaves both intact.

mod common;
#[path = "../benches/support/crash.rs"]
mod crash;

use std::path::PathBuf;
use std::process::Command;

use common::project::{Project, fixtures};
use common::server::Server;
use crash::{
    InstallScenario, PullScenario, Rng, clear_outcome, concurrent_installs, concurrent_pulls,
    succeeds,
};

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

/// Kills per command in CI; `cargo bench --bench crash` runs many more.
const CI_TRIALS: u64 = 5;

#[test]
fn install_killed_at_random_points_recovers_and_verifies() {
    let server = Server::start(fixtures());
    let scenario = InstallScenario::new(&server.url, None).unwrap();
    let window = scenario.calibrate().unwrap();
    let mut rng = Rng::new(13);
    for _ in 0..CI_TRIALS {
        scenario.trial(&mut rng, window).unwrap();
    }
}

#[test]
fn pull_killed_at_random_points_leaves_a_set_that_verifies() {
    let server = Server::start(fixtures());
    let scenario = PullScenario::new(&server.url, None).unwrap();
    let window = scenario.calibrate().unwrap();
    let mut rng = Rng::new(13);
    for _ in 0..CI_TRIALS {
        scenario.trial(&mut rng, window).unwrap();
    }
}

#[test]
fn eight_concurrent_installs_on_one_store_succeed_or_fail_clearly() {
    let server = Server::start(fixtures());
    let home = tempfile::tempdir().unwrap();
    concurrent_installs(&server.url, home.path()).unwrap();
}

#[test]
fn two_concurrent_pulls_into_one_directory_leave_one_intact_set() {
    let server = Server::start(fixtures());
    let scenario = PullScenario::new(&server.url, None).unwrap();
    scenario.calibrate().unwrap();
    for _ in 0..3 {
        concurrent_pulls(&scenario).unwrap();
    }
}

/// A 2 MiB tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts the tmpfs, or `None` after [`common::require`] when this
    /// machine does not allow it (mounting needs root).
    fn mount() -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|status| status.success());
        common::require(mounted, "mounting a tmpfs (root)").then_some(Tmpfs { dir })
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes a file until the file system has no space left.
    fn fill(&self) -> PathBuf {
        use std::io::Write as _;
        let filler = self.path("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Asserts that a run failed clearly, saying the disk is full.
fn assert_fails_for_space(mut command: Command, what: &str) {
    let output = command.output().unwrap();
    assert!(!output.status.success(), "{what} succeeded on a full disk");
    clear_outcome(&output, what).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("No space left on device"),
        "{what}: {stderr}"
    );
}

#[test]
fn install_on_a_full_disk_fails_clearly_and_keeps_the_store() {
    let Some(tmpfs) = Tmpfs::mount() else {
        return;
    };
    let server = Server::start(fixtures());
    let home = tmpfs.path("home");
    let scenario = InstallScenario::new(&server.url, Some(&home)).unwrap();
    let berksfile = scenario.project.join("Berksfile");
    let small = format!("source '{}'\ncookbook 'base', '~> 1.0'\n", server.url);
    std::fs::write(&berksfile, &small).unwrap();
    succeeds(scenario.command(&["install"]), "install").unwrap();
    let lock = std::fs::read(scenario.project.join("larder.lock")).unwrap();

    let filler = tmpfs.fill();
    let larger = format!("{small}cookbook 'app'\n");
    std::fs::write(&berksfile, &larger).unwrap();
    assert_fails_for_space(scenario.command(&["install"]), "install");
    assert_eq!(
        std::fs::read(scenario.project.join("larder.lock")).unwrap(),
        lock
    );
    std::fs::write(&berksfile, &small).unwrap();
    succeeds(scenario.command(&["verify"]), "verify on a full disk").unwrap();

    std::fs::remove_file(filler).unwrap();
    std::fs::write(&berksfile, &larger).unwrap();
    succeeds(scenario.command(&["install"]), "install with space again").unwrap();
    succeeds(scenario.command(&["verify"]), "verify").unwrap();
}

#[test]
fn pull_into_a_full_disk_fails_clearly_and_keeps_the_live_set() {
    let Some(tmpfs) = Tmpfs::mount() else {
        return;
    };
    let server = Server::start(fixtures());
    let scenario = PullScenario::new(&server.url, Some(&tmpfs.path("cookbooks"))).unwrap();
    let [first, second] = &scenario.bundles;
    succeeds(scenario.pull(first), "the first pull").unwrap();

    let filler = tmpfs.fill();
    assert_fails_for_space(scenario.pull(second), "pull");
    scenario.check_live(Some(first)).unwrap();

    std::fs::remove_file(filler).unwrap();
    succeeds(scenario.pull(second), "pull with space again").unwrap();
    scenario.check_live(Some(second)).unwrap();
}
