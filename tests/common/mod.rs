//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod azurite;
pub mod bundles;
pub mod files;
pub mod git;
pub mod hostile;
pub mod project;
pub mod s3;
pub mod server;
pub mod strace;

use std::path::PathBuf;

/// The switch `.ci/run` sets: with it, everything a test would otherwise
/// skip for (a missing tool, the missing shared data folder) is a failure.
pub const REQUIRE_SWITCH: &str = "LARDER_REQUIRE_TOOLS";

/// Whether a test that needs `what` may run: `true` when `present`;
/// otherwise a failure under [`REQUIRE_SWITCH`], or a skip message.
pub fn require(present: bool, what: &str) -> bool {
    if present {
        return true;
    }
    if std::env::var_os(REQUIRE_SWITCH).is_some() {
        panic!("{what} is required ({REQUIRE_SWITCH} is set; .ci/run installs it)");
    }
    eprintln!("skipped: {what} is not available");
    false
}

/// Whether `program` runs here, checked with `program ARG`.
pub fn tool_runs(program: &str, arg: &str) -> bool {
    std::process::Command::new(program)
        .arg(arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// [`require`] for a program on the PATH.
pub fn require_tool(program: &str, arg: &str) -> bool {
    require(tool_runs(program, arg), &format!("`{program}`"))
}

/// A file under `../shared/data` (the shared data folder sits beside the
/// repository), or `None` after [`require`] when it is not present.
pub fn shared_data(relative: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(relative);
    require(path.exists(), &path.display().to_string()).then_some(path)
}
