//! The crash and concurrency harness shared by `benches/crash.rs` (many
//! trials, with figures) and `tests/hardening.rs` (a handful in CI): runs
//! the real binary against a registry on loopback, kills `install` and
//! `pull` with SIGKILL at seeded random points or runs several at once,
//! and checks that the next run succeeds and that the store and the live
//! set verify.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use larder::bundle::ARCHIVE_ROOT;
use larder::bundle::manifest::{FILE_NAME, Manifest};
use larder::bundle::verify::{hash_file, read_manifest};
use tempfile::TempDir;

/// The Berksfiles of the fixture registry the scenarios install: they
/// overlap (every one needs some `base`, several the same `packages`) and
/// differ (three versions of `base` end up in the store).
const COOKBOOK_SETS: [&[&str]; 4] = [
    &["cookbook 'app'"],
    &["cookbook 'nginx', '~> 1.0'", "cookbook 'database'"],
    &["cookbook 'packages', '~> 2.0'"],
    &["cookbook 'base', '~> 1.0'", "cookbook 'database', '~> 1.0'"],
];

/// A small seeded pseudo-random generator (splitmix64): the same seed
/// gives the same kill points.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A duration in `[0, window)`.
    pub fn below(&mut self, window: Duration) -> Duration {
        let nanos = window.as_nanos().max(1) as u64;
        Duration::from_nanos(self.next() % nanos)
    }
}

/// `larder ARGS` in `dir` with the store at `home`, output captured.
pub fn larder(dir: &Path, home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_larder"));
    command
        .args(args)
        .current_dir(dir)
        .env("LARDER_HOME", home)
        .env_remove("ARTIFACTORY_API_KEY")
        .stdin(Stdio::null());
    for proxy in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        command.env_remove(proxy);
    }
    command
}

/// Runs `command` to the end; an error describing it unless it succeeded.
pub fn succeeds(mut command: Command, what: &str) -> Result<Output, String> {
    let output = command
        .output()
        .map_err(|e| format!("{what}: cannot start larder: {e}"))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Whether a finished run succeeded or failed clearly: it exited by
/// itself, not with Rust's panic code 101, and a failure says `error:`
/// without a panic message.
pub fn clear_outcome(output: &Output, what: &str) -> Result<(), String> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let clear = match output.status.code() {
        Some(0) => !stderr.contains("panicked"),
        Some(101) | None => false,
        Some(_) => stderr.contains("error") && !stderr.contains("panicked"),
    };
    if clear {
        Ok(())
    } else {
        Err(format!(
            "{what} did not end clearly ({}):\n{stderr}",
            output.status
        ))
    }
}

/// Starts `command` and SIGKILLs it after `delay`. True if it was killed,
/// false if it had already finished.
pub fn kill_after(mut command: Command, delay: Duration) -> Result<bool, String> {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start larder: {e}"))?;
    thread::sleep(delay);
    let finished = child
        .try_wait()
        .map_err(|e| format!("cannot wait for larder: {e}"))?
        .is_some();
    if !finished {
        child
            .kill()
            .map_err(|e| format!("cannot kill larder: {e}"))?;
    }
    child
        .wait()
        .map_err(|e| format!("cannot wait for larder: {e}"))?;
    Ok(!finished)
}

/// The wall time of a run that must succeed.
fn timed(command: Command, what: &str) -> Result<Duration, String> {
    let started = Instant::now();
    succeeds(command, what)?;
    Ok(started.elapsed())
}

/// A project and its store for `install` trials.
pub struct InstallScenario {
    root: TempDir,
    pub project: PathBuf,
    pub home: PathBuf,
}

impl InstallScenario {
    /// A project installing every cookbook set from `registry_url`, with
    /// its store at `home` (a fresh folder when `None`).
    pub fn new(registry_url: &str, home: Option<&Path>) -> Result<InstallScenario, String> {
        let root = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let project = root.path().join("project");
        let home = home.map_or_else(|| root.path().join("home"), Path::to_path_buf);
        std::fs::create_dir_all(&project).map_err(|e| format!("project dir: {e}"))?;
        let demands = ["cookbook 'app'", "cookbook 'packages', '~> 1.0'"].join("\n");
        std::fs::write(
            project.join("Berksfile"),
            format!("source '{registry_url}'\n{demands}\n"),
        )
        .map_err(|e| format!("write the Berksfile: {e}"))?;
        Ok(InstallScenario {
            root,
            project,
            home,
        })
    }

    pub fn command(&self, args: &[&str]) -> Command {
        larder(&self.project, &self.home, args)
    }

    /// Starts the next trial from one of three states: nothing installed,
    /// a lock with an empty store, or a full store without a lock.
    fn reset(&self, rng: &mut Rng) -> Result<(), String> {
        let remove = |path: PathBuf| match std::fs::remove_dir_all(&path)
            .or_else(|_| std::fs::remove_file(&path))
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("remove {}: {e}", path.display())),
        };
        match rng.next() % 3 {
            0 => {
                remove(self.home.join("cookbooks"))?;
                remove(self.project.join("larder.lock"))
            }
            1 => remove(self.home.join("cookbooks")),
            _ => remove(self.project.join("larder.lock")),
        }
    }

    /// How long a cold install takes: the window kill points fall in.
    pub fn calibrate(&self) -> Result<Duration, String> {
        self.reset(&mut Rng::new(0))?;
        let cold = timed(self.command(&["install"]), "a cold install")?;
        succeeds(self.command(&["verify"]), "verify after a cold install")?;
        Ok(cold)
    }

    /// One trial: SIGKILL an install after a random part of `window`, then
    /// the next install must succeed and `verify` be clean. True if the
    /// kill landed before the install finished.
    pub fn trial(&self, rng: &mut Rng, window: Duration) -> Result<bool, String> {
        self.reset(rng)?;
        let delay = rng.below(window);
        let killed = kill_after(self.command(&["install"]), delay)?;
        let what = format!("after a kill at {delay:?}");
        succeeds(self.command(&["install"]), &format!("install {what}"))?;
        succeeds(self.command(&["verify"]), &format!("verify {what}"))?;
        Ok(killed)
    }
}

/// Two bundles of the fixture registry and a directory to pull them into.
pub struct PullScenario {
    root: TempDir,
    pub bundles: [PathBuf; 2],
    pub into: PathBuf,
}

impl PullScenario {
    /// Packs two different bundles from `registry_url`; pulls go into
    /// `into` (`<temp>/live` when `None`).
    pub fn new(registry_url: &str, into: Option<&Path>) -> Result<PullScenario, String> {
        let root = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let home = root.path().join("home");
        let mut bundles = Vec::new();
        for (i, set) in [COOKBOOK_SETS[0], COOKBOOK_SETS[1]].iter().enumerate() {
            let project = root.path().join(format!("project-{i}"));
            let out = root.path().join(format!("bundle-{i}"));
            std::fs::create_dir_all(&project).map_err(|e| format!("project dir: {e}"))?;
            std::fs::create_dir_all(&out).map_err(|e| format!("bundle dir: {e}"))?;
            std::fs::write(
                project.join("Berksfile"),
                format!("source '{registry_url}'\n{}\n", set.join("\n")),
            )
            .map_err(|e| format!("write the Berksfile: {e}"))?;
            let mut package = larder(&project, &home, &["package", "-q"]);
            package.arg(&out);
            succeeds(package, "package")?;
            let bundle = std::fs::read_dir(&out)
                .map_err(|e| format!("read {}: {e}", out.display()))?
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .find(|path| path.to_string_lossy().ends_with(".tar.gz"))
                .ok_or_else(|| format!("package wrote no bundle into {}", out.display()))?;
            bundles.push(bundle);
        }
        let into = into.map_or_else(|| root.path().join("live"), Path::to_path_buf);
        let [first, second] = <[PathBuf; 2]>::try_from(bundles).expect("two bundles");
        Ok(PullScenario {
            root,
            bundles: [first, second],
            into,
        })
    }

    /// `larder pull BUNDLE --into INTO`.
    pub fn pull(&self, bundle: &Path) -> Command {
        let mut command = larder(self.root.path(), &self.root.path().join("home"), &["pull"]);
        command.arg(bundle).arg("--into").arg(&self.into);
        command
    }

    /// How long pulling a bundle over the other takes.
    pub fn calibrate(&self) -> Result<Duration, String> {
        succeeds(self.pull(&self.bundles[0]), "the first pull")?;
        let switch = timed(self.pull(&self.bundles[1]), "a switching pull")?;
        self.check_live(Some(&self.bundles[1]))?;
        Ok(switch)
    }

    /// One trial: SIGKILL a pull of a random one of the two bundles after
    /// a random part of `window`; the live set must still verify, the next
    /// pull of that bundle succeed, `verify-bundle` be clean and the live
    /// set be that bundle. True if the kill landed before the pull
    /// finished.
    pub fn trial(&self, rng: &mut Rng, window: Duration) -> Result<bool, String> {
        let bundle = &self.bundles[(rng.next() % 2) as usize];
        let delay = rng.below(window);
        let killed = kill_after(self.pull(bundle), delay)?;
        let what = format!("after a kill at {delay:?}");
        self.check_live(None)
            .map_err(|e| format!("live set {what}: {e}"))?;
        succeeds(self.pull(bundle), &format!("pull {what}"))?;
        let mut verify = larder(self.root.path(), self.root.path(), &["verify-bundle"]);
        verify.arg(bundle);
        succeeds(verify, &format!("verify-bundle {what}"))?;
        self.check_live(Some(bundle))
            .map_err(|e| format!("live set {what}: {e}"))?;
        Ok(killed)
    }

    /// Checks that the live set holds exactly what its manifest lists, and
    /// that it is `expected`'s set (or one of the two bundles' when
    /// `None`).
    pub fn check_live(&self, expected: Option<&Path>) -> Result<(), String> {
        let live = live_set_manifest(&self.into)?;
        let candidates: Vec<&PathBuf> = match expected {
            Some(bundle) => self.bundles.iter().filter(|b| *b == bundle).collect(),
            None => self.bundles.iter().collect(),
        };
        for bundle in candidates {
            let carried = read_manifest(bundle).map_err(|e| e.to_string())?;
            if carried == live {
                return Ok(());
            }
        }
        Err(format!(
            "{} holds a set that is not the expected bundle's",
            self.into.display()
        ))
    }
}

/// The manifest of the live set at `dir`, after checking that the set
/// holds exactly the files it lists, with their digests, and no links.
pub fn live_set_manifest(dir: &Path) -> Result<Manifest, String> {
    let root = dir
        .canonicalize()
        .map_err(|e| format!("{} does not resolve: {e}", dir.display()))?;
    let manifest_path = root.join(FILE_NAME);
    let bytes = std::fs::read(&manifest_path)
        .map_err(|e| format!("cannot read {}: {e}", manifest_path.display()))?;
    let manifest = Manifest::from_json(&bytes, &manifest_path.display().to_string())
        .map_err(|e| e.to_string())?;
    let mut actual = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&root).min_depth(1) {
        let entry = entry.map_err(|e| format!("cannot walk {}: {e}", root.display()))?;
        let relative = entry
            .path()
            .strip_prefix(&root)
            .expect("walkdir stays below its root")
            .to_string_lossy()
            .into_owned();
        if entry.path_is_symlink() {
            return Err(format!("{relative} is a link in the live set"));
        }
        if entry.file_type().is_file() && relative != FILE_NAME {
            let (sha256, _) = hash_file(entry.path()).map_err(|e| e.to_string())?;
            actual.insert(format!("{ARCHIVE_ROOT}/{relative}"), sha256);
        }
    }
    let differences = manifest.compare(&actual);
    if differences.is_empty() {
        Ok(manifest)
    } else {
        let listed: Vec<String> = differences.iter().map(ToString::to_string).collect();
        Err(format!(
            "{} differs from its manifest: {}",
            dir.display(),
            listed.join("; ")
        ))
    }
}

/// Eight installs at once, each its own project with overlapping cookbook
/// sets, on one store at `home`: each must succeed or fail clearly; any
/// that failed must then succeed alone, and every project verify.
pub fn concurrent_installs(registry_url: &str, home: &Path) -> Result<(), String> {
    let root = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let mut projects = Vec::new();
    for i in 0..8 {
        let project = root.path().join(format!("project-{i}"));
        std::fs::create_dir_all(&project).map_err(|e| format!("project dir: {e}"))?;
        let set = COOKBOOK_SETS[i % COOKBOOK_SETS.len()];
        std::fs::write(
            project.join("Berksfile"),
            format!("source '{registry_url}'\n{}\n", set.join("\n")),
        )
        .map_err(|e| format!("write the Berksfile: {e}"))?;
        projects.push(project);
    }
    let outputs = run_at_once(
        projects
            .iter()
            .map(|project| larder(project, home, &["install"]))
            .collect(),
    )?;
    for (project, output) in projects.iter().zip(&outputs) {
        clear_outcome(output, "a concurrent install")?;
        if !output.status.success() {
            succeeds(
                larder(project, home, &["install"]),
                "install after a clear failure",
            )?;
        }
    }
    for project in &projects {
        succeeds(
            larder(project, home, &["verify"]),
            "verify after concurrent installs",
        )?;
    }
    Ok(())
}

/// Two pulls of different bundles into one directory at once: each must
/// succeed or fail clearly, and the live set then be one of the two,
/// intact.
pub fn concurrent_pulls(scenario: &PullScenario) -> Result<(), String> {
    let outputs = run_at_once(
        scenario
            .bundles
            .iter()
            .map(|bundle| scenario.pull(bundle))
            .collect(),
    )?;
    for output in &outputs {
        clear_outcome(output, "a concurrent pull")?;
    }
    if outputs.iter().all(|output| !output.status.success()) {
        return Err("both concurrent pulls failed".into());
    }
    scenario.check_live(None)
}

/// Starts every command, then waits for all of them.
fn run_at_once(commands: Vec<Command>) -> Result<Vec<Output>, String> {
    let children = commands
        .into_iter()
        .map(|mut command| {
            command
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start larder: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    children
        .into_iter()
        .map(|child| {
            child
                .wait_with_output()
                .map_err(|e| format!("cannot wait for larder: {e}"))
        })
        .collect()
}
