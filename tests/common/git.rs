//! Git fixtures for the integration tests: repositories built with the `git`
//! command line, and a `git daemon` on a free loopback port, stopped on drop.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `git-daemon` program, run directly: `git daemon` would run it as a
/// child that outlives a killed `git`.
fn daemon_program() -> Option<PathBuf> {
    Command::new("git")
        .arg("--exec-path")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("git-daemon"))
        .filter(|path| path.is_file())
}

/// Whether `git` and its `git daemon` are here (see [`super::require`];
/// `.ci/run` installs git).
pub fn git_available() -> bool {
    super::require(daemon_program().is_some(), "`git` with `git daemon`")
}

/// A `git` command that ignores the user's and the system's configuration.
fn git(dir: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Larder Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Larder Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"]);
    command
}

/// Runs `git ARGS` in `dir`, panicking with its output on failure; returns
/// its standard output, trimmed.
pub fn run_git(dir: &Path, args: &[&str]) -> String {
    let out = git(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run git {args:?}: {e}"));
    assert!(
        out.status.success(),
        "git {args:?} failed in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A working repository used as a remote.
pub struct Repo {
    pub path: PathBuf,
}

impl Repo {
    /// A new repository at `path` whose first branch is `branch`.
    pub fn init(path: &Path, branch: &str) -> Repo {
        std::fs::create_dir_all(path).unwrap();
        run_git(path, &["init", "--quiet", "--initial-branch", branch]);
        Repo {
            path: path.to_path_buf(),
        }
    }

    /// `file://` URL of the repository.
    pub fn file_url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    /// Writes a file (creating directories), to be committed.
    pub fn write(&self, relative: &str, contents: &str) -> &Repo {
        let path = self.path.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    /// Sets or clears the executable bit of a written file.
    pub fn chmod(&self, relative: &str, mode: u32) -> &Repo {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            self.path.join(relative),
            std::fs::Permissions::from_mode(mode),
        )
        .unwrap();
        self
    }

    /// Makes a symbolic link `relative` -> `target`.
    pub fn symlink(&self, relative: &str, target: &str) -> &Repo {
        let path = self.path.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, path).unwrap();
        self
    }

    /// Commits everything; returns the new commit's id.
    pub fn commit(&self, message: &str) -> String {
        run_git(&self.path, &["add", "--all"]);
        run_git(&self.path, &["commit", "--quiet", "--message", message]);
        self.rev("HEAD")
    }

    /// The commit `name` points to.
    pub fn rev(&self, name: &str) -> String {
        run_git(&self.path, &["rev-parse", &format!("{name}^{{commit}}")])
    }

    pub fn git(&self, args: &[&str]) -> String {
        run_git(&self.path, args)
    }
}

/// A port on 127.0.0.1 that nothing listens on (just released by the OS).
pub fn unused_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `git daemon` serving every repository under a directory.
pub struct Daemon {
    child: Option<Child>,
    port: u16,
}

impl Daemon {
    /// Serves the repositories under `base` as `git://127.0.0.1:PORT/NAME`.
    pub fn start(base: &Path) -> Daemon {
        let port = unused_port();
        let program = daemon_program().expect("git daemon is installed");
        let child = Command::new(program)
            .current_dir(base)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args([
                "--export-all",
                "--reuseaddr",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.display()),
                &base.display().to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon starts");
        let daemon = Daemon {
            child: Some(child),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "git daemon did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        daemon
    }

    /// The URL of repository `name` (a directory under the base).
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }

    /// Stops the daemon; its port then refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}
