//! Install benchmark: a cold `larder install` of 50 cookbooks from
//! `larder serve` on loopback (empty store, no lock), and a warm no-op
//! install (trusted lock, every cookbook in the store: no network at all).
//!
//! Run: `cargo bench --bench install`.

#[path = "support/timing.rs"]
mod timing;

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use timing::{ms, time_command};

const COOKBOOKS: usize = 50;
const VERSIONS: usize = 4;

/// Writes a registry of `COOKBOOKS` cookbooks with `VERSIONS` versions
/// each; cookbook `i` depends on one or two cookbooks below it, so
/// resolving the last ten pulls in all fifty.
fn write_registry(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    for i in 0..COOKBOOKS {
        for v in 0..VERSIONS {
            let folder = dir.join(format!("cb{i:02}-1.{v}.0"));
            std::fs::create_dir_all(folder.join("recipes")).unwrap();
            let mut deps = String::new();
            if i > 0 {
                write!(deps, "\"cb{:02}\": \"~> 1.0\"", i - 1).unwrap();
            }
            if i > 1 && i % 3 == 0 {
                write!(deps, ", \"cb{:02}\": \">= 1.1\"", i / 2).unwrap();
            }
            std::fs::write(
                folder.join("metadata.json"),
                format!(
                    "{{\"name\": \"cb{i:02}\", \"version\": \"1.{v}.0\", \"dependencies\": {{{deps}}}}}"
                ),
            )
            .unwrap();
            let recipe: String = (0..200)
                .map(|n| format!("package 'pkg-{i}-{n}'\n"))
                .collect();
            std::fs::write(folder.join("recipes/default.rb"), recipe).unwrap();
            std::fs::write(folder.join("README.md"), format!("# cb{i:02}\n")).unwrap();
        }
    }
}

fn main() {
    let larder = env!("CARGO_BIN_EXE_larder");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/install");
    let registry = data.join("registry");
    write_registry(&registry);

    let mut server = Command::new(larder)
        .args(["serve"])
        .arg(&registry)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit_once(" at ").unwrap().1.to_string();

    let project = data.join("project");
    let home = data.join("home");
    std::fs::create_dir_all(&project).unwrap();
    let demands: String = (COOKBOOKS - 10..COOKBOOKS)
        .map(|i| format!("cookbook 'cb{i:02}'\n"))
        .collect();
    std::fs::write(
        project.join("Berksfile"),
        format!("source '{url}'\n{demands}"),
    )
    .unwrap();

    let install = |home: &Path| {
        let mut command = Command::new(larder);
        command
            .args(["install", "-q"])
            .current_dir(&project)
            .env("LARDER_HOME", home);
        command
    };
    let cold = time_command(5, || {
        let _ = std::fs::remove_dir_all(&home);
        let _ = std::fs::remove_file(project.join("larder.lock"));
        install(&home)
    });
    let lock = std::fs::read_to_string(project.join("larder.lock")).unwrap();
    let installed = lock.matches("[cookbook.").count();
    let warm = time_command(20, || install(&home));
    let _ = server.kill();
    let _ = server.wait();
    let warm_offline = time_command(20, || install(&home));

    let git_warm = warm_git_install(&data, larder);

    println!("| install | cookbooks | median |");
    println!("|---|---|---|");
    println!(
        "| cold (empty store, no lock, from `larder serve` on loopback) | {installed} | {} |",
        ms(cold)
    );
    println!(
        "| warm no-op (trusted lock, store filled) | {installed} | {} |",
        ms(warm)
    );
    println!(
        "| warm no-op, registry stopped | {installed} | {} |",
        ms(warm_offline)
    );
    println!(
        "| warm, five git cookbooks locked, repositories gone | 5 | {} |",
        ms(git_warm)
    );
}

/// Five git repositories, each a cookbook; after one install locks them,
/// the repositories are moved away so that a warm install provably uses
/// nothing but the lock and the store. Returns its median time.
fn warm_git_install(data: &Path, larder: &str) -> std::time::Duration {
    let remotes = data.join("git-remotes");
    let moved = data.join("git-remotes-gone");
    let project = data.join("git-project");
    let home = data.join("git-home");
    for dir in [&remotes, &moved, &project, &home] {
        let _ = std::fs::remove_dir_all(dir);
    }
    std::fs::create_dir_all(&project).unwrap();
    let mut berksfile = String::new();
    for i in 0..5 {
        let repo = remotes.join(format!("repo{i}"));
        std::fs::create_dir_all(repo.join("recipes")).unwrap();
        std::fs::write(
            repo.join("metadata.rb"),
            format!("name 'gitbook{i}'\nversion '1.0.{i}'\n"),
        )
        .unwrap();
        std::fs::write(repo.join("recipes/default.rb"), "log 'hello'\n").unwrap();
        let commit = [
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
            "commit",
            "--quiet",
            "-m",
            "one",
        ];
        for args in [
            &["init", "--quiet", "--initial-branch", "main"][..],
            &["add", "--all"],
            &commit,
        ] {
            let status = Command::new("git")
                .args(args)
                .current_dir(&repo)
                .status()
                .unwrap();
            assert!(status.success(), "git {args:?} failed");
        }
        writeln!(
            berksfile,
            "cookbook 'gitbook{i}', git: 'file://{}', branch: 'main'",
            repo.display()
        )
        .unwrap();
    }
    std::fs::write(project.join("Berksfile"), berksfile).unwrap();
    let install = || {
        let mut command = Command::new(larder);
        command
            .args(["install", "-q"])
            .current_dir(&project)
            .env("LARDER_HOME", &home);
        command
    };
    let first = install().output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    std::fs::rename(&remotes, &moved).unwrap();
    time_command(20, install)
}
