//! Crash matrix: SIGKILLs `larder install` and `larder pull` at seeded
//! random points, and after every kill checks that the next run succeeds
//! and that `verify` / `verify-bundle` and the live set are clean; then
//! runs eight concurrent installs on one store and two concurrent pulls
//! into one directory, round after round. Prints trials and failures.
//!
//! Run: `cargo bench --bench crash` (`CRASH_TRIALS`, `CRASH_ROUNDS` and
//! `CRASH_SEED` change the defaults of 50 trials, 10 rounds, seed 1).

#[path = "support/crash.rs"]
mod crash;
#[path = "../tests/common/server.rs"]
mod server;

use std::path::Path;
use std::time::Instant;

use crash::{InstallScenario, PullScenario, Rng, concurrent_installs, concurrent_pulls};
use server::Server;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Runs `trials` trials; prints and returns the number of failures.
fn matrix(name: &str, trials: u64, mut trial: impl FnMut() -> Result<bool, String>) -> u64 {
    let started = Instant::now();
    let (mut killed, mut failures) = (0, 0);
    for _ in 0..trials {
        match trial() {
            Ok(true) => killed += 1,
            Ok(false) => {}
            Err(e) => {
                failures += 1;
                eprintln!("{name}: FAILED: {e}");
            }
        }
    }
    let kills = if killed > 0 {
        format!(" ({killed} killed mid-run, the rest had finished)")
    } else {
        String::new()
    };
    println!(
        "{name}: {trials} trials{kills}, {failures} failures, {:.1?}",
        started.elapsed()
    );
    failures
}

fn main() {
    let trials = setting("CRASH_TRIALS", 50);
    let rounds = setting("CRASH_ROUNDS", 10);
    let seed = setting("CRASH_SEED", 1);
    let registry = Path::new(env!("CARGO_MANIFEST_DIR")).join("registry-fixtures");
    let server = Server::start(&registry);
    let mut rng = Rng::new(seed);
    println!("crash matrix, seed {seed}");

    let install = InstallScenario::new(&server.url, None).expect("install scenario");
    let window = install.calibrate().expect("a cold install succeeds");
    println!("install: kill points in the first {window:.1?} (a cold install)");
    let mut failures = matrix("install killed", trials, || install.trial(&mut rng, window));

    let pull = PullScenario::new(&server.url, None).expect("pull scenario");
    let window = pull.calibrate().expect("pulls succeed");
    println!("pull: kill points in the first {window:.1?} (a switching pull)");
    failures += matrix("pull killed", trials, || pull.trial(&mut rng, window));

    failures += matrix("8 concurrent installs on an empty store", rounds, || {
        let home = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        concurrent_installs(&server.url, home.path()).map(|()| false)
    });
    failures += matrix("2 concurrent pulls into one directory", rounds, || {
        concurrent_pulls(&pull).map(|()| false)
    });
    if failures > 0 {
        eprintln!("{failures} failures");
        std::process::exit(1);
    }
}
