//! A throwaway project for install tests: a directory for the Berksfile and
//! its lockfiles, and a private `$LARDER_HOME`, with the real binary run
//! inside it.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

pub struct Project {
    pub dir: TempDir,
    pub home: TempDir,
}

impl Project {
    pub fn new() -> Project {
        Project {
            dir: tempfile::tempdir().expect("a temporary project directory"),
            home: tempfile::tempdir().expect("a temporary LARDER_HOME"),
        }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes a file of the project, creating its directories.
    pub fn write(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create project directories");
        }
        std::fs::write(&path, text).expect("write a project file");
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).unwrap_or_default()
    }

    /// `larder ARGS` run in the project with its own store.
    pub fn larder(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_larder"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("LARDER_HOME", self.home.path())
            .env_remove("ARTIFACTORY_API_KEY");
        // The tests' registries are on loopback: no proxy from the
        // environment may stand in between (a test that wants one sets it).
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

    /// The store entry of a cookbook version.
    pub fn stored(&self, name: &str, version: &str) -> PathBuf {
        self.home
            .path()
            .join("cookbooks")
            .join(format!("{name}-{version}"))
    }
}

/// The repository's own registry of fixture cookbooks.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("registry-fixtures")
}
