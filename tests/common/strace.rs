//! The binary under `strace`: which flushes (`fsync`, `fdatasync`) and
//! renames it made, in order, with the path behind each flushed file
//! descriptor, to check what would survive a power loss. Also kills the
//! binary at a chosen system call (strace's fault injection), to crash it at
//! an exact point.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One successful system call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// A file or directory flushed to disk.
    Sync(PathBuf),
    /// `from` renamed to `to`; `exchange` when the two names were swapped.
    Rename {
        from: PathBuf,
        to: PathBuf,
        exchange: bool,
    },
}

/// Whether `strace` runs here ([`super::require`] under `.ci/run`).
pub fn available() -> bool {
    super::require_tool("strace", "-V")
}

/// Runs `larder ARGS` in `cwd` with `envs` under strace and returns its
/// output and its flushes and renames. Relative paths are taken from `cwd`.
pub fn trace(cwd: &Path, envs: &[(&str, &Path)], args: &[&str]) -> (Output, Vec<Call>) {
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut command = Command::new("strace");
    command
        .args(["-f", "-y", "-qq", "-s", "4096", "-o"])
        .arg(log.path())
        .args([
            "-e",
            "trace=fsync,fdatasync,rename,renameat,renameat2",
            "--",
            env!("CARGO_BIN_EXE_larder"),
        ])
        .args(args)
        .current_dir(cwd);
    for (name, value) in envs {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let text = std::fs::read_to_string(log.path()).unwrap();
    (output, parse(&text, cwd))
}

/// Runs `larder ARGS` in `cwd` with `envs`, killed (SIGKILL) when it first
/// enters one of `syscalls` (comma-separated), and returns its output.
pub fn kill_at(cwd: &Path, envs: &[(&str, &Path)], syscalls: &str, args: &[&str]) -> Output {
    let mut command = Command::new("strace");
    command
        .args(["-f", "-qq", "-o", "/dev/null", "-e"])
        .arg(format!("trace={syscalls}"))
        .arg("-e")
        .arg(format!("inject={syscalls}:signal=SIGKILL"))
        .args(["--", env!("CARGO_BIN_EXE_larder")])
        .args(args)
        .current_dir(cwd);
    for (name, value) in envs {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// The successful calls in a log written with `-f -y`, in the order they
/// returned (a call another thread interrupted is completed by its
/// `resumed` line).
fn parse(log: &str, cwd: &Path) -> Vec<Call> {
    let mut pending: std::collections::HashMap<String, String> = Default::default();
    let mut calls = Vec::new();
    for line in log.lines() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        let whole = if let Some(start) = rest.strip_suffix(" <unfinished ...>") {
            pending.insert(pid.to_string(), start.to_string());
            continue;
        } else if let Some(resumed) = rest.strip_prefix("<... ") {
            let Some(start) = pending.remove(pid) else {
                continue;
            };
            let tail = resumed.split_once(" resumed>").map_or("", |(_, tail)| tail);
            format!("{start}{tail}")
        } else {
            rest.to_string()
        };
        // strace pads the result of a resumed call: `)      = 0`.
        let Some((call, result)) = whole.rsplit_once(" = ") else {
            continue;
        };
        let Some(call) = call.trim_end().strip_suffix(')') else {
            continue;
        };
        if !result.starts_with('0') {
            continue;
        }
        let Some((name, args)) = call.split_once('(') else {
            continue;
        };
        let absolute = |path: &str| cwd.join(path);
        match name {
            "fsync" | "fdatasync" => {
                if let Some(path) = args.split_once('<').and_then(|(_, p)| p.strip_suffix('>')) {
                    calls.push(Call::Sync(absolute(path)));
                }
            }
            "rename" | "renameat" | "renameat2" => {
                let quoted: Vec<&str> = args.split('"').skip(1).step_by(2).collect();
                if let [from, to, ..] = quoted.as_slice() {
                    calls.push(Call::Rename {
                        from: absolute(from),
                        to: absolute(to),
                        exchange: args.contains("RENAME_EXCHANGE"),
                    });
                }
            }
            _ => {}
        }
    }
    calls
}

/// Checks that every rename of `calls` that puts something in place (its
/// target outside the `staging` directories) would survive a power loss:
/// what it moves was flushed before (a file itself; a tree's every file and
/// directory, as found at the target afterwards; a link's directory), and
/// the target's directory is flushed after it (both directories for an
/// exchange). Returns the renames checked.
pub fn assert_durable(calls: &[Call], staging: &[&Path]) -> usize {
    let synced_before = |index: usize, path: &Path| {
        calls[..index]
            .iter()
            .any(|c| matches!(c, Call::Sync(p) if p == path))
    };
    let synced_after = |index: usize, path: &Path| {
        calls[index + 1..]
            .iter()
            .any(|c| matches!(c, Call::Sync(p) if p == path))
    };
    let mut checked = 0;
    for (index, call) in calls.iter().enumerate() {
        let Call::Rename { from, to, exchange } = call else {
            continue;
        };
        if staging.iter().any(|dir| to.starts_with(dir)) {
            continue;
        }
        checked += 1;
        let parent = |path: &Path| path.parent().unwrap().to_path_buf();
        assert!(
            synced_after(index, &parent(to)),
            "{} was not flushed after the rename to {}: {calls:#?}",
            parent(to).display(),
            to.display()
        );
        if *exchange {
            assert!(synced_before(index, &parent(from)), "{call:?}: {calls:#?}");
            assert!(synced_after(index, &parent(from)), "{call:?}: {calls:#?}");
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(to) else {
            // Gone since (a journal): it was a file.
            assert!(
                synced_before(index, from),
                "{} was renamed before it was flushed: {calls:#?}",
                from.display()
            );
            continue;
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            assert!(
                synced_before(index, &parent(from)),
                "the link {} was renamed before its directory was flushed: {calls:#?}",
                from.display()
            );
        } else if kind.is_file() {
            assert!(
                synced_before(index, from),
                "{} was renamed before it was flushed: {calls:#?}",
                from.display()
            );
        } else {
            for item in walkdir::WalkDir::new(to) {
                let item = item.unwrap();
                let relative = item.path().strip_prefix(to).unwrap();
                let staged = if relative.as_os_str().is_empty() {
                    from.clone()
                } else {
                    from.join(relative)
                };
                assert!(
                    synced_before(index, &staged),
                    "{} was not flushed before {} was renamed into place: {calls:#?}",
                    staged.display(),
                    from.display()
                );
            }
        }
    }
    checked
}
